"""Versioned result schema (pydantic). ``AnalysisResult`` is what ``result.json`` holds.

Coordinates are pixels of the upright full-resolution frame; ``box`` is [x1, y1, x2, y2];
probabilities are P(fake) in [0, 1]; times are seconds.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

SCHEMA_VERSION = "1.3"  # 1.1: explanations, artifacts; 1.2: explanation params; 1.3: faithfulness, flags

Label = Literal["fake", "real", "inconclusive"]


class InputInfo(BaseModel):
    path: str
    name: str
    sha256: str
    size_bytes: int
    kind: Literal["image", "video"]
    width: int
    height: int
    fps: float | None = None
    duration: float | None = None
    frame_count: int | None = None
    rotation: int = 0
    codec: str | None = None


class Settings(BaseModel):
    model: str
    weights: str | None
    detector: str
    sampling: str
    rule: str
    threshold: float
    min_faces: int
    margin: float
    detect_max_side: int | None
    min_face_size: int
    backend: str = "torch"


class Face(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in frame pixels")
    landmarks: list[list[float]] | None = None
    det_score: float
    p_fake: float
    logit: float
    track_id: int


class FrameResult(BaseModel):
    index: int
    time: float
    faces: list[Face]


class TrackResult(BaseModel):
    id: int
    n_faces: int
    first_time: float
    last_time: float
    mean_p_fake: float
    max_p_fake: float
    label: Label
    score: float | None
    reason: str


class Verdict(BaseModel):
    label: Label
    score: float | None
    reason: str
    fake_tracks: list[int] = []


class ExplanationRecord(BaseModel):
    """One heatmap of one face (the map itself is written to ``map``/``overlay`` files)."""

    frame_index: int
    time: float
    track_id: int
    face: int = Field(description="index of the face in its frame's faces")
    p_fake: float
    method: str
    target: Literal["fake", "real"]
    layer: str | None = None
    sign: str
    value_range: str
    params: dict[str, Any] = Field(
        default_factory=dict, description="every option the method ran with, 'auto' values resolved"
    )
    overlay: str | None = Field(None, description="PNG of the heatmap over the face, relative to result.json")
    map: str | None = Field(None, description=".npy float32 map at the crop's size, relative to result.json")
    faithfulness: float | None = Field(
        None, description="target-logit drop when the map's top patches are replaced by the model's neutral "
        "baseline, minus the drop for random patches (> 0: the map points at evidence the model uses)"
    )
    faithfulness_detail: dict[str, Any] = Field(default_factory=dict, description="how the score was measured")
    flags: list[str] = Field(
        default_factory=list, description="empty_map, no_better_than_random, failed_sanity_check"
    )


class AnalysisResult(BaseModel):
    schema_version: str = SCHEMA_VERSION
    fakescope_version: str
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    input: InputInfo
    settings: Settings
    frames: list[FrameResult]
    tracks: list[TrackResult]
    verdict: Verdict
    timings: dict[str, float] = Field(description="seconds per stage")
    warnings: list[str] = []
    explanations: list[ExplanationRecord] = []
    artifacts: dict[str, str] = Field({}, description="annotated video / report files, relative to result.json")
    # in-memory only: face crops (RGB uint8) and raw maps of the explained faces, for the renderers
    _explained: list[dict] = PrivateAttr(default_factory=list)

    @property
    def label(self) -> Label:
        return self.verdict.label

    @property
    def n_faces(self) -> int:
        return sum(len(f.faces) for f in self.frames)

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write the JSON atomically (temp file in the same folder, then rename)."""
        return write_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> AnalysisResult:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` so readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
