"""Media types shared by the image and video readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS

# Frames above this many pixels are refused (a decompression-bomb guard); below it, big frames are
# handled by detecting faces on a downscaled copy.
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video to analyse.

    ``even``: ``n`` frames spread evenly over the video (default 32); ``every``: every ``k``-th frame;
    ``all``: every frame; ``keyframes``: the video's keyframes (I/IDR frames, the cheapest to decode),
    all of them or, with ``n``, ``n`` spread evenly among them. Images always yield their single frame.
    """

    mode: Literal["even", "every", "all", "keyframes"] = "even"
    n: int = 32
    k: int = 10

    def describe(self) -> str:
        if self.mode == "keyframes":
            return f"keyframes:{self.n}" if self.n else "keyframes"
        return {"even": f"even:{self.n}", "every": f"every:{self.k}", "all": "all"}[self.mode]

    @classmethod
    def parse(cls, text: str) -> Sampling:
        """Parse ``even:32``, ``every:5``, ``all``, ``keyframes[:N]`` or a bare number (``32`` = even:32)."""
        text = text.strip().lower()
        if text == "all":
            return cls("all")
        if text == "keyframes":
            return cls("keyframes", n=0)
        if text.isdigit() and int(text) > 0:  # "0" would sample nothing
            return cls("even", n=int(text))
        mode, _, num = text.partition(":")
        if mode in ("even", "every", "keyframes") and num.isdigit() and int(num) > 0:
            return cls("every", k=int(num)) if mode == "every" else cls(mode, n=int(num))
        raise ValueError(f"bad sampling {text!r}: use even:N, every:K, all, keyframes[:N] or N")


@dataclass(frozen=True)
class MediaInfo:
    path: str
    kind: Literal["image", "video"]
    width: int  # after rotation / EXIF orientation
    height: int
    fps: float | None = None
    duration: float | None = None  # seconds
    frame_count: int | None = None  # from the container; may be an estimate or None
    rotation: int = 0  # degrees applied to upright the frames
    codec: str | None = None


@dataclass
class Frame:
    index: int  # 0-based decode order index
    time: float  # seconds from the start (presentation time)
    image: np.ndarray  # H×W×3 uint8 RGB, upright
