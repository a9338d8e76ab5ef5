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

# 1.1: explanations, artifacts; 1.2: explanation params; 1.3: calibrated p_fake (``Face.p_fake`` and
# ``Face.logit`` are now calibrated; the model's own output is ``raw_logit``), "uncertain" verdicts,
# quality flags, per-model scores of ensembles, identity score intervals, explanation selection reason, display_max;
# explanation faithfulness and flags (issue 13); 1.4: ``provenance`` (Content Credentials, metadata,
# container tags) and the verdict's ``basis``, ``flags`` and the detector's own verdict (issue 25)
SCHEMA_VERSION = "1.4"

Label = Literal["fake", "real", "uncertain", "inconclusive"]


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
    alignment: dict[str, str] = Field(
        default_factory=dict, description="models whose faces are aligned on five landmarks as their authors "
        "trained them (fakescope.faces.align), model → 'gend' | 'deepfakebench'; the others see the square crop "
        "with `margin`")
    detect_max_side: int | None
    min_face_size: int
    backend: str = "torch"
    models: list[str] = Field(default_factory=list, description="every model of the ensemble, in order")
    combine: str | None = Field(None, description="ensemble combiner (fakescope rules); None for one model")
    band: list[float] | None = Field(None, description="uncertain band [low, high] of the identity P(fake)")
    calibration: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per model: method, slope, intercept, max_logit, source"
    )
    quality: dict[str, Any] = Field(default_factory=dict, description="quality-flag thresholds")
    rule_params: dict[str, Any] = Field(default_factory=dict)
    mode: str = Field("standard", description="'standard', or 'thorough' (strongest installed published detector)")


class FaceQuality(BaseModel):
    """Measured quality of one face (see fakescope.quality); ``weight`` is how much it counts."""

    face_px: float = Field(description="longer side of the detector box, full-resolution pixels")
    upscale: float = Field(description="model input size / crop side (> 1: enlarged)")
    sharpness: float = Field(description="variance of the Laplacian of the grey crop's centre")
    jpeg_quality: int | None = None
    bits_per_pixel: float | None = None
    yaw: float | None = Field(None, description="estimated head turn, degrees")
    outside: float = Field(description="share of the crop square outside the frame")
    flags: list[str] = Field(default_factory=list, description="small, blurry, compressed, profile, partial")
    weight: float = 1.0


class ModelScore(BaseModel):
    raw_logit: float = Field(description="the model's own output")
    logit: float = Field(description="calibrated log-odds of fake")
    p_fake: float = Field(description="calibrated P(fake)")


class Face(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in frame pixels")
    landmarks: list[list[float]] | None = None
    det_score: float
    p_fake: float = Field(description="calibrated P(fake) (ensemble: combined); sigmoid(logit)")
    logit: float = Field(description="calibrated log-odds of fake (ensemble: combined)")
    track_id: int
    raw_logit: float | None = Field(None, description="the (first) model's own output, uncalibrated")
    scores: dict[str, ModelScore] | None = Field(None, description="per model of an ensemble")
    quality: FaceQuality | None = None


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
    score: float | None = Field(description="identity P(fake) (rule 'calibrated': shrunken mean log-odds)")
    reason: str
    interval: list[float] | None = Field(None, description="P(fake) interval (90 %)")
    share_above: float | None = Field(None, description="share of faces with P(fake) above the threshold")
    n_used: int | None = Field(None, description="faces of usable quality (at most one flag)")
    too_few_faces: bool = Field(False, description="uncertain because fewer usable faces than min_faces")
    flag_counts: dict[str, int] = Field(default_factory=dict, description="faces per quality flag")
    model_scores: dict[str, float] = Field(default_factory=dict, description="identity P(fake) per model")


class Verdict(BaseModel):
    label: Label
    score: float | None
    reason: str
    fake_tracks: list[int] = []
    interval: list[float] | None = None
    basis: Literal["detector", "declaration"] = Field(
        "detector", description="'declaration': fake because valid signed Content Credentials declare AI generation"
    )
    flags: list[str] = Field(
        default_factory=list,
        description="provenance notes beside the verdict: declared_ai, credentials_invalid, declared_capture, "
        "metadata_ai (unsigned generator metadata)",
    )
    headline: str = Field("", description="plain-language sentence: what the verdict means and rests on")
    next_step: str = Field("", description="'What you can do next' line")
    caveat: str | None = Field(None, description="caveat that accompanies the verdict (every 'real')")
    detector_label: Label | None = Field(None, description="the face detector's own verdict when the basis is not it")
    detector_score: float | None = None
    detector_reason: str | None = None


class C2paAction(BaseModel):
    action: str
    digital_source_type: str | None = Field(None, description="IPTC term, e.g. trainedAlgorithmicMedia")
    software_agent: str | None = None
    when: str | None = None
    manifest: str | None = Field(None, description="title of the ingredient whose manifest holds it; None: active")


class C2paIngredient(BaseModel):
    title: str | None = None
    format: str | None = None
    relationship: str | None = None
    has_manifest: bool = False


class C2paStatus(BaseModel):
    code: str
    explanation: str | None = None


class ContentCredentials(BaseModel):
    """The C2PA manifest store as c2pa-python reads and validates it (offline)."""

    state: Literal["trusted", "valid", "invalid"] = Field(
        description="trusted: valid and the signer chains to a given trust anchor; valid: signature and hashes "
        "match; invalid: a check failed (see failures)"
    )
    trust: Literal["trusted", "untrusted", "not_checked"] = Field(
        description="not_checked: no trust anchors given; untrusted: not on the given list"
    )
    signer: str | None = Field(None, description="the signing certificate's common name")
    issuer: str | None = Field(None, description="the certificate's organisation")
    signed_at: str | None = None
    claim_generator: str | None = None
    title: str | None = None
    actions: list[C2paAction] = Field(default_factory=list)
    digital_source_types: list[str] = Field(default_factory=list, description="IPTC terms of every action")
    declares_ai: bool = Field(False, description="an action's digitalSourceType is trained algorithmic media")
    declares_capture: bool = Field(False, description="an action's digitalSourceType is a capture (camera, film)")
    ingredients: list[C2paIngredient] = Field(default_factory=list)
    failures: list[C2paStatus] = Field(default_factory=list, description="failure codes of the active manifest")
    n_manifests: int = 0
    summary: str = Field("", description="the state in plain words")


class GeneratorHint(BaseModel):
    """Unsigned metadata that names an AI generator (easily removed or forged)."""

    generator: str
    source: str = Field(description="where it was found, e.g. PNG text 'parameters', EXIF Software")
    detail: str | None = Field(None, description="a short excerpt (truncated)")


class Provenance(BaseModel):
    """Provenance beside pixels: Content Credentials, EXIF/XMP/IPTC, generator metadata, container tags."""

    content_credentials: ContentCredentials | None = Field(None, description="None: no C2PA manifest found")
    camera: dict[str, str] = Field(default_factory=dict, description="EXIF make, model, lens")
    software: list[str] = Field(default_factory=list, description="EXIF Software, XMP CreatorTool, encoder")
    dates: dict[str, str] = Field(default_factory=dict, description="created / original / modified as written")
    digital_source_type: str | None = Field(None, description="IPTC DigitalSourceType in unsigned XMP metadata")
    generator_hints: list[GeneratorHint] = Field(default_factory=list)
    container: dict[str, str] = Field(default_factory=dict, description="video container/stream tags")
    trust_anchors: str | None = Field(None, description="file name of the PEM bundle signers were checked against")
    summary: list[str] = Field(default_factory=list, description="the findings in plain words, strongest first")
    warnings: list[str] = Field(default_factory=list, description="metadata that could not be read in full")


class ExplanationRecord(BaseModel):
    """One heatmap of one face (the map itself is written to ``map``/``overlay`` files)."""

    frame_index: int
    time: float
    track_id: int
    face: int = Field(description="index of the face in its frame's faces")
    p_fake: float
    method: str
    target: Literal["fake", "real"]
    model: str | None = Field(None, description="the model explained (an ensemble's first)")
    why: str | None = Field(None, description="why this face was chosen: 'most fake' or 'typical'")
    layer: str | None = None
    sign: str
    value_range: str
    params: dict[str, Any] = Field(
        default_factory=dict, description="every option the method ran with, 'auto' values resolved"
    )
    overlay: str | None = Field(None, description="PNG of the heatmap over the face, relative to result.json")
    map: str | None = Field(None, description=".npy float32 map at the crop's size, relative to result.json")
    crop_transform: list[list[float]] | None = Field(
        None, description="2×3 affine from frame pixels to the map's pixels, when the explained model's crop was "
        "aligned on the face's five landmarks (fakescope.faces.align); None: the documented square crop "
        "(settings.margin)")
    display_max: float | None = Field(
        None, description="map value drawn at full colour in the overlay (one per method by default: shared scale)"
    )
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
    provenance: Provenance | None = Field(None, description="None: the provenance stage was switched off")
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


def current_umask() -> int:
    """The process's file-creation mask (read without changing it where the OS allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` so readers see either the old file or the whole new one.

    The file gets the usual mode of a new file (0666 less the umask, e.g. 0644), not the 0600 of a
    temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
