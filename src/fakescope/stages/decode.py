"""The *decode* stage: a path → its media info and an iterator over the sampled frames (fakescope.media)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..media import Frame, MediaInfo, Sampling, open_media


@dataclass
class Decoded:
    info: MediaInfo
    frames: Iterator[Frame]
    expected: int | None  # how many frames the sampling should yield (None: unknown)
    source: object  # the media source: its ``warnings`` are read once the frames are consumed

    @property
    def warnings(self) -> list[str]:
        return list(getattr(self.source, "warnings", []))


class DecodeStage:
    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling

    def __call__(self, path: str | Path) -> Decoded:
        source = open_media(Path(path), self.sampling)
        info = source.info
        expected = 1 if info.kind == "image" else expected_samples(self.sampling, info.frame_count)
        return Decoded(info=info, frames=iter(source), expected=expected, source=source)


def expected_samples(sampling: Sampling, frame_count: int | None) -> int | None:
    if sampling.mode == "keyframes":
        return sampling.n or None
    if frame_count is None:
        return sampling.n if sampling.mode == "even" else None
    if sampling.mode == "even":
        return min(sampling.n, frame_count)
    if sampling.mode == "every":
        return (frame_count + sampling.k - 1) // sampling.k
    return frame_count
