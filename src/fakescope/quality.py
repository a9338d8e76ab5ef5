"""Face quality: the *quality* stage, between crop and score.

Detectors trained on sharp, well-lit, frontal faces misread soft, small, heavily compressed,
turned-away or cut-off faces — MesoNet in particular calls most blurred real faces fake (measured in
``bench/RESULTS.md``, "Quality"). Every face therefore gets measured properties and flags, and a
weight with which it counts in its identity's score:

* ``face_px``: the longer side of the detector's box, in full-resolution pixels; ``upscale`` = the
  model's input size / the crop square's side (> 1: the crop was enlarged). Flag ``small`` when
  ``upscale > max_upscale``.
* ``sharpness``: variance of the Laplacian of the grey crop at the model's input size, central 60 %
  (the face, not the background), on pixel values 0–255. Flag ``blurry`` below ``min_sharpness``.
* ``jpeg_quality`` (images: estimated from the file's luminance quantisation table, IJG scale 1–100)
  and ``bits_per_pixel`` (videos: container bit rate / (width × height × fps)). Flag ``compressed``
  below ``min_jpeg_quality`` / ``min_bits_per_pixel``.
* ``yaw``: head turn in degrees, estimated from the 5 landmarks (nose offset from the eyes' midpoint
  against the eye distance). Flag ``profile`` above ``max_yaw``.
* ``outside``: the share of the crop square that lies outside the frame. Flag ``partial`` above
  ``max_outside``.

A face's weight is ``flag_weight ** (number of flags)`` (1, 0.5, 0.25, ...). The thresholds are
:class:`QualityConfig`'s defaults, chosen from the measurements in ``bench/RESULTS.md`` ("Quality").
Everything here is pure numpy/OpenCV on arrays already in memory: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .faces.crop import square_box

FLAGS = ("small", "blurry", "compressed", "profile", "partial")


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality flags (see the module docstring)."""

    max_upscale: float = 2.0
    min_sharpness: float = 15.0
    min_jpeg_quality: int = 50
    min_bits_per_pixel: float = 0.02
    max_yaw: float = 50.0
    max_outside: float = 0.25
    flag_weight: float = 0.5


@dataclass(frozen=True)
class MediaQuality:
    """Properties of the whole input that bear on every face (compression)."""

    jpeg_quality: int | None = None
    bits_per_pixel: float | None = None


def sharpness(crop: np.ndarray, central: float = 0.6) -> float:
    """Variance of the Laplacian of the grey central part of an RGB uint8 crop (0–255 scale)."""
    h, w = crop.shape[:2]
    m0, m1 = int(round(h * (1 - central) / 2)), int(round(w * (1 - central) / 2))
    grey = cv2.cvtColor(np.ascontiguousarray(crop[m0 : h - m0, m1 : w - m1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


def estimate_yaw(landmarks: list[list[float]] | np.ndarray | None) -> float | None:
    """Approximate head yaw in degrees from 5 landmarks (eyes, nose, mouth corners); None without them.

    The nose tip of a turned head moves sideways from the eyes' midpoint by about
    ``eye_distance × sin(yaw)``-ish; the ratio is clipped to [-1, 1] before ``asin``. A rough,
    hand-written estimate (no maintained library gives yaw from 5 points); only used for a flag.
    """
    if landmarks is None:
        return None
    p = np.asarray(landmarks, dtype=np.float64)
    if p.shape[0] < 3:
        return None
    eye_a, eye_b, nose = p[0], p[1], p[2]
    mid = (eye_a + eye_b) / 2.0
    axis = eye_b - eye_a
    dist = float(np.hypot(*axis))
    if dist < 1e-6:
        return 90.0
    offset = float(np.dot(nose - mid, axis) / dist)  # signed distance along the eye line
    return float(math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * offset / dist)))))


def outside_share(box: tuple[float, float, float, float], width: int, height: int, margin: float) -> float:
    """Share of the crop square around ``box`` that falls outside a width×height frame."""
    x1, y1, x2, y2 = square_box(box, margin)
    area = max(1, (x2 - x1) * (y2 - y1))
    ix = max(0, min(x2, width) - max(x1, 0))
    iy = max(0, min(y2, height) - max(y1, 0))
    return float(1.0 - ix * iy / area)


def jpeg_quality(quantization: dict | None) -> int | None:
    """IJG quality (1–100) whose scaled standard luminance table best matches the file's table.

    ``quantization`` is PIL's ``Image.quantization`` (table 0 = luminance). Hand-written: the IJG
    scaling formula inverted (what ImageMagick's ``identify -format %Q`` does); None if no table.
    """
    if not quantization or 0 not in quantization:
        return None
    table = np.asarray(quantization[0], dtype=np.float64)
    if table.size != 64:
        return None
    base = _IJG_LUMA.astype(np.float64)
    best, best_err = None, math.inf
    for q in range(1, 101):
        scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
        cand = np.clip(np.floor((base * scale + 50.0) / 100.0), 1, 255)
        err = float(np.abs(np.sort(cand) - np.sort(table)).sum())  # order-free: zigzag vs natural order
        if err < best_err:
            best, best_err = q, err
    return best


def media_quality_for(info, size_bytes: int, quantization: dict | None = None) -> MediaQuality:
    """Compression measures of one input (``info``: :class:`fakescope.media.MediaInfo`)."""
    if info.kind == "image":
        return MediaQuality(jpeg_quality=jpeg_quality(quantization))
    if info.duration and info.fps and info.width and info.height:
        bpp = size_bytes * 8.0 / info.duration / (info.width * info.height * info.fps)
        return MediaQuality(bits_per_pixel=round(float(bpp), 5))
    return MediaQuality()


def assess_face(
    crop: np.ndarray,
    box: tuple[float, float, float, float],
    landmarks,
    frame_size: tuple[int, int],
    margin: float,
    media: MediaQuality,
    config: QualityConfig = QualityConfig(),
) -> dict:
    """Measures, flags and weight of one face (a dict matching :class:`fakescope.schema.FaceQuality`).

    ``crop`` is the model-size RGB crop; ``frame_size`` = (width, height) of the full frame.
    """
    x1, y1, x2, y2 = box
    face_px = max(x2 - x1, y2 - y1)
    side = face_px * (1.0 + margin)
    upscale = crop.shape[0] / max(side, 1.0)
    sharp = sharpness(crop)
    yaw = estimate_yaw(landmarks)
    outside = outside_share(box, frame_size[0], frame_size[1], margin)
    flags = []
    if upscale > config.max_upscale:
        flags.append("small")
    if sharp < config.min_sharpness:
        flags.append("blurry")
    if (media.jpeg_quality is not None and media.jpeg_quality < config.min_jpeg_quality) or (
        media.bits_per_pixel is not None and media.bits_per_pixel < config.min_bits_per_pixel
    ):
        flags.append("compressed")
    if yaw is not None and abs(yaw) > config.max_yaw:
        flags.append("profile")
    if outside > config.max_outside:
        flags.append("partial")
    return {
        "face_px": round(float(face_px), 1),
        "upscale": round(float(upscale), 3),
        "sharpness": round(sharp, 2),
        "jpeg_quality": media.jpeg_quality,
        "bits_per_pixel": media.bits_per_pixel,
        "yaw": None if yaw is None else round(yaw, 1),
        "outside": round(outside, 3),
        "flags": flags,
        "weight": float(config.flag_weight ** len(flags)),
    }


# The IJG (libjpeg) standard luminance quantisation table, quality 50, natural order (JPEG spec Annex K).
_IJG_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61,
        12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77,
        24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101,
        72, 92, 95, 98, 112, 100, 103, 99,
    ]
)  # fmt: skip
