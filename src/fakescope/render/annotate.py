"""Annotated video: every frame of the input with face boxes coloured by verdict, labels with the
track id and p_fake, and the explanation heatmap blended into each explained face.

Boxes are known at sampled frames only; in between, a track's box is interpolated linearly between
its two neighbouring samples (and held for half a sampling interval past its first and last sample).
A heatmap is shown on the frames whose nearest sample of that track is the explained one.
"""

from __future__ import annotations

import bisect
import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..faces.crop import square_box
from ..media import Sampling, open_media
from ..schema import AnalysisResult, write_atomic
from .overlay import colorize

log = logging.getLogger(__name__)

COLOURS = {
    "fake": (230, 40, 40), "real": (40, 200, 70), "uncertain": (245, 150, 20), "inconclusive": (150, 150, 160)
}  # RGB


class _TrackPath:
    """A track's sampled boxes, for interpolation at any frame index."""

    def __init__(self) -> None:
        self.idx: list[int] = []
        self.boxes: list[np.ndarray] = []
        self.p: list[float] = []

    def add(self, index: int, box: list[float], p: float) -> None:
        self.idx.append(index)
        self.boxes.append(np.asarray(box, np.float64))
        self.p.append(p)

    def at(self, i: int, hold: float) -> tuple[np.ndarray, float, int] | None:
        """(box, p_fake of the nearest sample, nearest sample's frame index) at frame ``i``."""
        k = bisect.bisect_left(self.idx, i)
        if k < len(self.idx) and self.idx[k] == i:
            return self.boxes[k], self.p[k], i
        if k == 0:
            return (self.boxes[0], self.p[0], self.idx[0]) if self.idx[0] - i <= hold else None
        if k == len(self.idx):
            return (self.boxes[-1], self.p[-1], self.idx[-1]) if i - self.idx[-1] <= hold else None
        a, b = self.idx[k - 1], self.idx[k]
        if b - a > 4 * hold:  # the face was lost in between: do not invent a path
            if i - a <= hold:
                return self.boxes[k - 1], self.p[k - 1], a
            if b - i <= hold:
                return self.boxes[k], self.p[k], b
            return None
        w = (i - a) / (b - a)
        near = k - 1 if w < 0.5 else k
        return (1 - w) * self.boxes[k - 1] + w * self.boxes[k], self.p[near], self.idx[near]


def _paths(result: AnalysisResult) -> dict[int, _TrackPath]:
    paths: dict[int, _TrackPath] = {}
    for fr in result.frames:
        for face in fr.faces:
            paths.setdefault(face.track_id, _TrackPath()).add(fr.index, face.box, face.p_fake)
    return paths


def _hold(result: AnalysisResult) -> float:
    idx = [f.index for f in result.frames]
    return max(1.0, float(np.median(np.diff(idx))) / 2) if len(idx) > 1 else 1.0


def draw_frame(
    image: np.ndarray,
    index: int,
    result: AnalysisResult,
    paths: dict[int, _TrackPath],
    heatmaps: dict[tuple[int, int], np.ndarray],
    hold: float,
    alpha: float = 0.6,
) -> np.ndarray:
    """Annotate one RGB frame (a copy is returned). ``heatmaps[(frame_index, track_id)]`` are maps in
    [0, 1] at the crop's resolution."""
    out = image.copy()
    h, w = out.shape[:2]
    labels = {t.id: t.label for t in result.tracks}
    thick = max(2, round(max(h, w) / 400))
    margin = result.settings.margin
    for tid, path in paths.items():
        hit = path.at(index, hold)
        if hit is None:
            continue
        box, p, sample = hit
        hm = heatmaps.get((sample, tid))
        if hm is not None:
            sx1, sy1, sx2, sy2 = square_box(tuple(box), margin)
            cx1, cy1, cx2, cy2 = max(sx1, 0), max(sy1, 0), min(sx2, w), min(sy2, h)
            if cx2 > cx1 and cy2 > cy1:
                full = cv2.resize(hm.astype(np.float32), (sx2 - sx1, sy2 - sy1), interpolation=cv2.INTER_LINEAR)
                part = np.clip(full[cy1 - sy1 : cy2 - sy1, cx1 - sx1 : cx2 - sx1], 0, 1)
                # per-pixel alpha ∝ the map, so weak evidence leaves the face visible
                a = (alpha * part)[..., None]
                region = out[cy1:cy2, cx1:cx2].astype(np.float32)
                out[cy1:cy2, cx1:cx2] = (region * (1 - a) + colorize(part, vmax=1.0) * a + 0.5).astype(np.uint8)
        colour = COLOURS[labels.get(tid, "inconclusive")]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        text = f"#{tid} P(fake)={p:.2f}"
        scale = max(0.4, min(1.2, (x2 - x1) / 160))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 4 if y1 - th - 6 >= 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), colour, -1)
        cv2.putText(out, text, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def write_annotated_video(
    result: AnalysisResult,
    out_path: str | Path,
    heatmaps: dict[tuple[int, int], np.ndarray] | None = None,
    crf: int = 23,
    progress=None,
) -> Path:
    """Re-decode the input sequentially and write an H.264 mp4 with the same frame count and size.

    ``progress(done, total, "render")`` is called every 8 frames."""
    out_path = Path(out_path)
    heatmaps = heatmaps or {}
    paths, hold = _paths(result), _hold(result)
    src = open_media(result.input.path, Sampling("all"))
    fps = Fraction(result.input.fps or 25).limit_denominator(1001)
    tmp = out_path.with_name(f".{out_path.name}.part")
    w, h = result.input.width, result.input.height
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w, h
        # 4:2:0 needs even sizes; odd-sized inputs keep their size with 4:4:4
        stream.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        n = 0
        for frame in src:
            img = draw_frame(frame.image, frame.index, result, paths, heatmaps, hold)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = n
            n += 1
            if progress and n % 8 == 0:
                progress(n, result.input.frame_count, "render")
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(out_path)
    log.info("annotated video: %s (%d frames)", out_path, n)
    return out_path


def write_annotated_image(
    result: AnalysisResult, image: np.ndarray, out_path: str | Path, heatmaps: dict | None = None
) -> Path:
    """The image counterpart of :func:`write_annotated_video` (PNG)."""
    img = draw_frame(image, result.frames[0].index if result.frames else 0, result, _paths(result), heatmaps or {}, 1.0)
    return write_atomic(out_path, png_bytes(img))


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
