"""Write an analysis's pictures next to its result.json: heatmaps, annotated video, HTML report."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import cv2
import numpy as np

from ..media import load_image
from ..schema import AnalysisResult, write_atomic
from .annotate import png_bytes, write_annotated_image, write_annotated_video
from .overlay import overlay
from .report import write_report

log = logging.getLogger(__name__)


HEATMAP_SCALES = ("shared", "face")


def display_max(maps) -> float:
    """The value drawn at full colour: the 99.5th percentile of the positive part of ``maps`` (one map,
    or all the maps of a method for a shared scale); 0 when there is no positive evidence."""
    pos = [np.clip(np.nan_to_num(np.asarray(m, np.float32)), 0, None).ravel() for m in maps]
    return float(np.percentile(np.concatenate(pos), 99.5)) if pos else 0.0


def to_display(m: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Map any explanation to [0, 1] for display: the evidence *for* the target (positive part),
    divided by ``vmax`` (default: the map's own 99.5th percentile, see :func:`display_max`)."""
    pos = np.clip(np.nan_to_num(m.astype(np.float32)), 0, None)
    q = display_max([pos]) if vmax is None else float(vmax)
    return np.clip(pos / q, 0, 1) if q > 0 else np.zeros_like(pos)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def write_artifacts(
    result: AnalysisResult, folder: str | Path, annotate: bool = True, report: bool = True, progress=None,
    pdf: bool = False,
    heatmap_scale: str = "shared",
) -> None:
    """Write heatmaps (PNG overlay + raw .npy per face and method), ``annotated.mp4`` (videos) or
    ``annotated.png`` (images) and ``report.html`` into ``folder``; record their relative paths in
    ``result.explanations`` / ``result.artifacts``. ``progress(done, total, "render")`` follows the
    annotated video's frames. ``pdf``: also ``report.pdf`` (printed by headless Chromium, when one is
    installed). ``heatmap_scale``: ``"shared"`` (default) draws every face of a method on one scale, so
    weak evidence looks weak next to strong; ``"face"`` scales each map on its own. The raw maps are
    written unscaled (``.npy``)."""
    if heatmap_scale not in HEATMAP_SCALES:
        raise ValueError(f"heatmap_scale must be one of {', '.join(HEATMAP_SCALES)}, not {heatmap_scale!r}")
    from ..progress import with_stage

    progress = with_stage(progress)
    if progress:
        progress(0, result.input.frame_count if annotate and result.input.kind == "video" else None, "render")
    folder = Path(folder)
    explained = result._explained
    by_key = {(e["frame_index"], e["face"]): e for e in explained}
    gallery = {}
    scales = {}  # method -> value drawn at full colour, shared by all its faces
    if heatmap_scale == "shared":
        for method in dict.fromkeys(rec.method for rec in result.explanations):
            scales[method] = display_max([e["maps"][method] for e in explained if method in e["maps"]])
    for rec in result.explanations:
        e = by_key.get((rec.frame_index, rec.face))
        if e is None or rec.method not in e["maps"]:
            continue
        raw = e["maps"][rec.method]
        stem = f"heatmaps/f{rec.frame_index:06d}_id{rec.track_id}_face{rec.face}_{_safe(rec.method)}"
        rec.display_max = scales.get(rec.method, display_max([raw]))
        ov = overlay(e["crop"], to_display(raw, rec.display_max))
        write_atomic(folder / f"{stem}.png", png_bytes(ov))
        buf = io.BytesIO()
        np.save(buf, raw.astype(np.float32))
        write_atomic(folder / f"{stem}.npy", buf.getvalue())
        rec.overlay, rec.map = f"{stem}.png", f"{stem}.npy"
        g = gallery.setdefault(id(e), {**e, "overlays": {}, "checks": {}})
        g["overlays"][rec.method] = ov
        g["checks"][rec.method] = {"faithfulness": rec.faithfulness, "flags": list(rec.flags)}
    faces = list(gallery.values()) or [{**e, "overlays": {}} for e in explained]
    key_frames: dict[int, np.ndarray] = {}  # annotated frames the report embeds (it must stand alone)
    if annotate:
        first = result.explanations[0].method if result.explanations else None
        heat = {}  # a map, or (map, frame → map affine) for an aligned crop (render.annotate.draw_frame)
        for e in explained:
            if first in e["maps"]:
                shown = to_display(e["maps"][first], scales.get(first))
                tr = e.get("transform")
                heat[(e["frame_index"], e["track_id"])] = shown if tr is None else (shown, tr)
        caption = f"heatmap: {first} ({'shared scale' if first in scales else 'each face scaled alone'})" if heat \
            else None
        if result.input.kind == "video":
            write_annotated_video(result, folder / "annotated.mp4", heat, progress=progress, caption=caption,
                                  key_frames=key_frames)  # fmt: skip
            result.artifacts["annotated"] = "annotated.mp4"
        else:
            write_annotated_image(result, load_image(result.input.path), folder / "annotated.png", heat,
                                  caption=caption)
            result.artifacts["annotated"] = "annotated.png"
            key_frames[result.frames[0].index if result.frames else 0] = cv2.cvtColor(
                cv2.imread(str(folder / "annotated.png")), cv2.COLOR_BGR2RGB)
    if report:
        write_report(result, folder / "report.html", faces, result.artifacts.get("annotated"), scales=scales,
                     key_frames=key_frames)  # fmt: skip
        result.artifacts["report"] = "report.html"
        if pdf:
            from .share import write_pdf

            if write_pdf(folder / "report.html", folder / "report.pdf"):
                result.artifacts["pdf"] = "report.pdf"
