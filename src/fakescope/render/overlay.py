"""Heatmap overlays of explanation maps on face crops, montages of several methods, PNG output.

Reads arrays (or :class:`fakescope.explainers.Explanation` maps) only; never runs a model.

* Unsigned maps (CAMs, attention, |saliency|): values in [0, 1] are drawn as they are (so a crop of
  a normalised map keeps its colours); other ranges are min-max scaled. Sequential colormap
  (``"jet"`` by default).
* Signed maps (IG, LRP, LIME, ...): a diverging colormap (``"bwr"``) centred at 0 and symmetric:
  ±max|map| (or ``±vmax``) map to the two ends, 0 to white.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["colorize", "montage", "overlay", "save_png"]

DIVERGING = "bwr"


@functools.lru_cache(maxsize=32)
def _lut(name: str) -> np.ndarray:
    """256×3 uint8 RGB lookup table of a matplotlib colormap."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}") from None
    return (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def _as_rgb_uint8(face: np.ndarray) -> np.ndarray:
    face = np.asarray(face)
    if face.ndim == 2:
        face = np.repeat(face[..., None], 3, axis=2)
    if face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(f"face must be H×W×3 RGB, got shape {face.shape}")
    if face.dtype != np.uint8:
        face = np.clip(face.astype(np.float32) * (255.0 if face.max() <= 1.0 else 1.0), 0, 255).round()
        face = face.astype(np.uint8)
    return face


def _as_map(heatmap: Any, size: tuple[int, int]) -> np.ndarray:
    """Float32 H×W map (first map of an Explanation / N×H×W array), resized to ``size`` = (H, W)."""
    m = getattr(heatmap, "maps", heatmap)
    m = np.asarray(m, dtype=np.float32)
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"map must be H×W, got shape {m.shape}")
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    if m.shape != size:
        m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return m


def colorize(
    heatmap: np.ndarray,
    colormap: str | None = None,
    signed: bool = False,
    vmax: float | None = None,
) -> np.ndarray:
    """H×W float map → H×W×3 uint8 RGB colours (see the module docstring for the scaling)."""
    t, name = _normalised(heatmap, colormap, signed, vmax)
    idx = np.clip(t * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return _lut(name)[idx]


def _normalised(heatmap: np.ndarray, colormap: str | None, signed: bool, vmax: float | None) -> tuple[np.ndarray, str]:
    """The map scaled to [0, 1] as the colours are drawn (signed: 0.5 = zero), and the colour map's name."""
    m = np.asarray(heatmap, dtype=np.float32)
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    if signed:
        v = float(vmax) if vmax else float(np.abs(m).max())
        t = 0.5 + 0.5 * m / v if v > 0 else np.full_like(m, 0.5)
        name = colormap or DIVERGING
    else:
        lo, hi = float(m.min()), float(m.max())
        if vmax is not None:
            lo, hi = 0.0, float(vmax)
        elif lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        t = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        name = colormap or "jet"
    return np.clip(t, 0.0, 1.0), name


def overlay(
    face_rgb_uint8: np.ndarray,
    map: np.ndarray,  # noqa: A002 - the name the pipeline uses
    colormap: str | None = None,
    alpha: float = 0.5,
    signed: bool = False,
    vmax: float | None = None,
    weighted: bool = True,
) -> np.ndarray:
    """Blend a heatmap onto a face: ``(1 − a)·face + a·colour``. Returns H×W×3 uint8 RGB.

    ``weighted`` (default): ``a = alpha × strength`` per pixel, where strength is the map's drawn value
    (signed maps: its distance from zero), so the face stays visible where the map says little and weak
    evidence looks weak; otherwise ``a = alpha`` everywhere (the whole face tinted).
    ``face_rgb_uint8``: H×W×3 RGB (uint8, or float in [0, 1]); ``map``: h×w float (resized to the
    face if needed). ``colormap`` defaults to ``"jet"`` (unsigned) or ``"bwr"`` (signed).
    """
    face = _as_rgb_uint8(face_rgb_uint8)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    m = _as_map(map, face.shape[:2])
    t, name = _normalised(m, colormap, signed, vmax)
    colour = _lut(name)[np.clip(t * 255.0 + 0.5, 0, 255).astype(np.uint8)]
    a = alpha * (np.abs(2.0 * t - 1.0) if signed else t)[..., None] if weighted else alpha
    out = face.astype(np.float32) * (1.0 - a) + colour.astype(np.float32) * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _is_signed(heatmap: Any, m: np.ndarray) -> bool:
    value_range = getattr(heatmap, "value_range", None)
    if isinstance(value_range, str):
        return value_range.startswith("signed")
    return bool(m.min() < 0)


def _title_band(text: str, width: int, height: int) -> np.ndarray:
    band = np.full((height, width, 3), 255, np.uint8)
    scale = height / 40.0
    while scale > 0.2:
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if tw <= width - 4:
            break
        scale *= 0.9
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    org = (max(2, (width - tw) // 2), (height + th) // 2)
    cv2.putText(band, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def montage(
    face: np.ndarray,
    maps: Mapping[str, Any],
    colormap: str | None = None,
    alpha: float = 0.5,
    ncols: int | None = None,
    tile: int | None = None,
    signed: bool | None = None,
    show_face: bool = True,
) -> np.ndarray:
    """A grid of the face and one overlay per method, each under its title. Returns uint8 RGB.

    ``maps``: ``{title: H×W map or Explanation}``; ``signed=None`` decides per map (Explanation's
    ``value_range``, else whether the map has negative values); ``tile``: tile side in pixels
    (default: the face's height, at most 256); ``ncols``: tiles per row (default: all in one row,
    at most 6).
    """
    face = _as_rgb_uint8(face)
    side = int(tile or min(face.shape[0], 256))
    small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    tiles: list[tuple[str, np.ndarray]] = [("face", small)] if show_face else []
    for title, heatmap in maps.items():
        m = _as_map(heatmap, face.shape[:2])
        sgn = _is_signed(heatmap, m) if signed is None else signed
        ov = overlay(face, m, colormap=colormap, alpha=alpha, signed=sgn)
        tiles.append((str(title), cv2.resize(ov, (side, side), interpolation=cv2.INTER_AREA)))
    if not tiles:
        raise ValueError("montage needs at least one map (or show_face=True)")
    cols = int(ncols or min(len(tiles), 6))
    rows = -(-len(tiles) // cols)
    band = max(14, side // 10)
    cell_h = side + band
    out = np.full((rows * cell_h, cols * side, 3), 255, np.uint8)
    for i, (title, img) in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * cell_h, c * side
        out[y : y + band, x : x + side] = _title_band(title, side, band)
        out[y + band : y + cell_h, x : x + side] = img
    return out


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an H×W×3 uint8 RGB image as PNG (parent folders are created). Returns the path."""
    path = Path(path)
    img = _as_rgb_uint8(rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(buf.tobytes())
    return path
