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

    def box_at(self, index: int) -> np.ndarray:
        """The box of the sample at frame ``index`` (one of :attr:`idx`)."""
        return self.boxes[bisect.bisect_left(self.idx, index)]

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


def _blend_aligned(out: np.ndarray, hm: np.ndarray, m, shift: np.ndarray, alpha: float) -> bool:
    """Blend map ``hm`` of an aligned crop into ``out`` (in place): ``m`` (2×3) takes frame pixels of the
    explained sample to the map's pixels; ``shift`` is how far the face's box moved since (x1, y1, x2, y2
    difference), so the map follows the face between samples. False when nothing of it lies in the frame."""
    m = np.asarray(m, np.float64)
    d = np.array([(shift[0] + shift[2]) / 2.0, (shift[1] + shift[3]) / 2.0])
    m = np.hstack([m[:, :2], m[:, 2:] - m[:, :2] @ d[:, None]])
    inv = cv2.invertAffineTransform(m)
    hh, ww = hm.shape[:2]
    corners = np.array([[0, 0, 1], [ww, 0, 1], [0, hh, 1], [ww, hh, 1]], np.float64) @ inv.T
    h, w = out.shape[:2]
    x1, y1 = (max(0, int(np.floor(v))) for v in corners.min(0))
    x2, y2 = min(w, int(np.ceil(corners[:, 0].max()))), min(h, int(np.ceil(corners[:, 1].max())))
    if x2 <= x1 or y2 <= y1:
        return False
    roi = np.hstack([m[:, :2], m[:, 2:] + m[:, :2] @ np.array([[x1], [y1]], np.float64)])  # ROI pixel → map
    part = cv2.warpAffine(hm.astype(np.float32), roi, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    _blend(out, y1, y2, x1, x2, np.clip(part, 0, 1), alpha)
    return True


def _blend(out: np.ndarray, y1: int, y2: int, x1: int, x2: int, part: np.ndarray, alpha: float) -> None:
    """Blend the [0, 1] map ``part`` into ``out[y1:y2, x1:x2]`` (in place), per-pixel alpha ∝ the map, so weak
    evidence leaves the face visible."""
    a = (alpha * part)[..., None]
    region = out[y1:y2, x1:x2].astype(np.float32)
    out[y1:y2, x1:x2] = (region * (1 - a) + colorize(part, vmax=1.0) * a + 0.5).astype(np.uint8)


def draw_frame(
    image: np.ndarray,
    index: int,
    result: AnalysisResult,
    paths: dict[int, _TrackPath],
    heatmaps: dict[tuple[int, int], np.ndarray],
    hold: float,
    alpha: float = 0.6,
    caption: str | None = None,
) -> np.ndarray:
    """Annotate one RGB frame (a copy is returned). ``heatmaps[(frame_index, track_id)]`` are maps in
    [0, 1] at the crop's resolution."""
    out = image.copy()
    h, w = out.shape[:2]
    labels = {t.id: t.label for t in result.tracks}
    idents = {t.id: t for t in result.tracks}
    thick = max(2, round(max(h, w) / 400))
    margin = result.settings.margin
    drew_heatmap = False
    for tid, path in paths.items():
        hit = path.at(index, hold)
        if hit is None:
            continue
        box, p, sample = hit
        hm = heatmaps.get((sample, tid))
        if isinstance(hm, tuple):  # (map, frame→map affine): an aligned crop's map, warped back onto the face
            drew_heatmap |= _blend_aligned(out, hm[0], hm[1], box - paths[tid].box_at(sample), alpha)
        elif hm is not None:
            sx1, sy1, sx2, sy2 = square_box(tuple(box), margin)
            cx1, cy1, cx2, cy2 = max(sx1, 0), max(sy1, 0), min(sx2, w), min(sy2, h)
            if cx2 > cx1 and cy2 > cy1:
                full = cv2.resize(hm.astype(np.float32), (sx2 - sx1, sy2 - sy1), interpolation=cv2.INTER_LINEAR)
                part = np.clip(full[cy1 - sy1 : cy2 - sy1, cx1 - sx1 : cx2 - sx1], 0, 1)
                _blend(out, cy1, cy2, cx1, cx2, part, alpha)
                drew_heatmap = True
        colour = COLOURS[labels.get(tid, "inconclusive")]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        t = idents.get(tid)
        ident = ""
        if t is not None and t.score is not None:
            iv = f" [{t.interval[0]:.2f}-{t.interval[1]:.2f}]" if t.interval else ""
            ident = f" {t.label} {t.score:.2f}{iv} |"
        text = f"#{tid}{ident} face {p:.2f}"
        # readable at any resolution (≈ 2.2 % of the frame height at least), never wider than the frame
        scale = max(0.4, h / 1080 * 0.9, min(1.2, (x2 - x1) / 160))
        weight = max(1, round(scale * 1.6))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
        while tw + 4 > w and scale > 0.3:
            scale *= 0.85
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
        tx = min(max(0, x1), max(0, w - tw - 4))  # inside the frame, left and right
        ty = y1 - 4 if y1 - th - 6 >= 0 else min(h - base - 1, y2 + th + 4)
        cv2.rectangle(out, (tx, ty - th - 3), (tx + tw + 4, ty + base - 1), colour, -1)
        cv2.putText(out, text, (tx + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), weight, cv2.LINE_AA)
    if caption and drew_heatmap:  # which explanation the blended heatmaps show, on the frames that carry one
        _caption(out, caption)
    return out


def _caption(img: np.ndarray, text: str) -> None:
    """White text on a dark band in the top-left corner (in place)."""
    h, w = img.shape[:2]
    scale = max(0.4, min(1.4, w / 1400))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = max(3, th // 3)
    x2, y2 = min(w, tw + 2 * pad), min(h, th + base + 2 * pad)
    img[:y2, :x2] = (img[:y2, :x2].astype(np.float32) * 0.35).astype(np.uint8)
    cv2.putText(img, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def write_annotated_video(
    result: AnalysisResult,
    out_path: str | Path,
    heatmaps: dict[tuple[int, int], np.ndarray] | None = None,
    crf: int = 23,
    progress=None,
    caption: str | None = None,
    key_frames: dict[int, np.ndarray] | None = None,
) -> Path:
    """Re-decode the input sequentially and write an H.264 mp4 with the same frame count and size.

    ``progress(done, total, "render")`` is called every 8 frames. ``key_frames``: filled with the annotated
    frames of :func:`key_frame_indices` (at most 640 px wide), for a report that must stand alone."""
    out_path = Path(out_path)
    heatmaps = heatmaps or {}
    paths, hold = _paths(result), _hold(result)
    wanted = set(key_frame_indices(result))
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
            img = draw_frame(frame.image, frame.index, result, paths, heatmaps, hold, caption=caption)
            if key_frames is not None and frame.index in wanted:
                key_frames[frame.index] = _small(img)
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


def key_frame_indices(result: AnalysisResult, most: int = 4) -> list[int]:
    """Frames that show a video's verdict: for each identity (most suspicious first) the sampled frame of its
    highest-P(fake) face; at most ``most``; the first sampled frame when there is no face."""
    best: dict[int, tuple[float, int]] = {}
    for fr in result.frames:
        for face in fr.faces:
            if face.track_id not in best or face.p_fake > best[face.track_id][0]:
                best[face.track_id] = (face.p_fake, fr.index)
    ranked = sorted(best.values(), reverse=True)
    out = list(dict.fromkeys(i for _, i in ranked))[:most]
    return sorted(out) or [fr.index for fr in result.frames[:1]]


def _small(img: np.ndarray, width: int = 640) -> np.ndarray:
    h, w = img.shape[:2]
    if w <= width:
        return img.copy()
    return cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def write_annotated_image(
    result: AnalysisResult, image: np.ndarray, out_path: str | Path, heatmaps: dict | None = None,
    caption: str | None = None,
) -> Path:
    """The image counterpart of :func:`write_annotated_video` (PNG)."""
    img = draw_frame(image, result.frames[0].index if result.frames else 0, result, _paths(result), heatmaps or {}, 1.0,
                     caption=caption)
    return write_atomic(out_path, png_bytes(img))


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
