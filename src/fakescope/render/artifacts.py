"""Write an analysis's pictures next to its result.json: heatmaps, annotated video, HTML report."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np

from ..media import load_image
from ..schema import AnalysisResult, write_atomic
from .annotate import png_bytes, write_annotated_image, write_annotated_video
from .overlay import overlay
from .report import write_report

log = logging.getLogger(__name__)


def to_display(m: np.ndarray) -> np.ndarray:
    """Map any explanation to [0, 1] for display: the evidence *for* the target (positive part),
    divided by its 99.5th percentile. CAM maps (already in [0, 1]) are unchanged up to that scale."""
    pos = np.clip(np.nan_to_num(m.astype(np.float32)), 0, None)
    q = float(np.percentile(pos, 99.5))
    return np.clip(pos / q, 0, 1) if q > 0 else pos


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def write_artifacts(result: AnalysisResult, folder: str | Path, annotate: bool = True, report: bool = True) -> None:
    """Write heatmaps (PNG overlay + raw .npy per face and method), ``annotated.mp4`` (videos) or
    ``annotated.png`` (images) and ``report.html`` into ``folder``; record their relative paths in
    ``result.explanations`` / ``result.artifacts``."""
    folder = Path(folder)
    explained = result._explained
    by_key = {(e["frame_index"], e["face"]): e for e in explained}
    gallery = {}
    for rec in result.explanations:
        e = by_key.get((rec.frame_index, rec.face))
        if e is None or rec.method not in e["maps"]:
            continue
        raw = e["maps"][rec.method]
        stem = f"heatmaps/f{rec.frame_index:06d}_id{rec.track_id}_face{rec.face}_{_safe(rec.method)}"
        ov = overlay(e["crop"], to_display(raw))
        write_atomic(folder / f"{stem}.png", png_bytes(ov))
        buf = io.BytesIO()
        np.save(buf, raw.astype(np.float32))
        write_atomic(folder / f"{stem}.npy", buf.getvalue())
        rec.overlay, rec.map = f"{stem}.png", f"{stem}.npy"
        g = gallery.setdefault(id(e), {**e, "overlays": {}, "checks": {}})
        g["overlays"][rec.method] = ov
        g["checks"][rec.method] = {"faithfulness": rec.faithfulness, "flags": list(rec.flags)}
    faces = list(gallery.values()) or [{**e, "overlays": {}} for e in explained]
    if annotate:
        first = result.explanations[0].method if result.explanations else None
        heat = {
            (e["frame_index"], e["track_id"]): to_display(e["maps"][first]) for e in explained if first in e["maps"]
        }
        if result.input.kind == "video":
            write_annotated_video(result, folder / "annotated.mp4", heat)
            result.artifacts["annotated"] = "annotated.mp4"
        else:
            write_annotated_image(result, load_image(result.input.path), folder / "annotated.png", heat)
            result.artifacts["annotated"] = "annotated.png"
    if report:
        write_report(result, folder / "report.html", faces, result.artifacts.get("annotated"))
        result.artifacts["report"] = "report.html"
