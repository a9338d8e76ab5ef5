"""Self-blended images: pseudo-fakes made from one real face (Shiohara & Yamasaki, CVPR 2022).

K. Shiohara, T. Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022
(arXiv:2204.08376). A face is blended back onto *itself* after one copy has been slightly altered, so
the result carries the generic traces of face swapping — a blending boundary, colour and
sharpness mismatch between the inner face and its surroundings, a small misalignment of facial
features — without any identity change. A detector trained on real faces versus their SBIs learns
those traces only, and it needs no fake data at all.

Steps of :func:`self_blend` (image = a face crop, landmarks = its 68 dlib points in crop pixels):

1. **Source–target generator.** Two copies of the face. One of them (the source or the target, with
   probability ½ each) is jittered in colour (per-channel RGB shift with p = 0.3, hue/saturation,
   brightness/contrast) and in frequency (one of: downscale-and-upscale by 2–4×, or sharpening).
   The source is then moved by a small random affine transform (±3 % horizontal, ±1.5 % vertical
   translation, scale 0.95–1.05).
2. **Mask generator.** A convex hull of a random landmark subset (whole face, inner face, lower face,
   or eyes–nose–mouth) is filled, moved with the source's affine transform, deformed elastically
   (random smooth displacement field), then blurred twice: a first Gaussian blur thresholded at its
   maximum (which erodes the hull), then a second Gaussian blur with random kernel and sigma.
3. **Blending.** The mask is scaled by a ratio drawn from {0.25, 0.5, 0.75, 1, 1, 1} and the fake is
   ``mask · source + (1 − mask) · target``.

The returned :class:`SBISample` holds the *target* (the real image as it enters the blend: the
positive/negative pair of the paper), the fake and the blend mask; the fake equals the target
exactly wherever the mask is 0. All randomness comes from the ``numpy.random.Generator`` passed in,
so a seeded generator reproduces a sample bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["HULLS", "SBIConfig", "SBISample", "hull_mask", "self_blend"]

# 68-point iBUG indices
_JAW, _BROWS, _NOSE = list(range(0, 17)), list(range(17, 27)), list(range(27, 36))
_EYES, _MOUTH = list(range(36, 48)), list(range(48, 68))
HULLS = {
    "face": _JAW + _BROWS,  # whole face up to the eyebrows
    "inner": _JAW[2:15] + _BROWS + _NOSE,  # the face without the outer cheeks
    "lower": _JAW[2:15] + [28, 29, 30, 31, 35],  # below the eyes
    "center": _BROWS + _EYES + _NOSE + _MOUTH,  # eyes, nose and mouth
}


@dataclass(frozen=True)
class SBIConfig:
    """Parameters of :func:`self_blend` (defaults follow the paper's released code, scaled to the
    crop: lengths are given for a 256-pixel crop and scaled with its size)."""

    hulls: tuple[str, ...] = ("face", "inner", "lower", "center")
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    p_rgb_shift: float = 0.3
    rgb_shift: int = 20
    hue_shift: float = 5.0  # OpenCV hue units (0–180)
    saturation: float = 0.15  # multiplicative ± range
    brightness: float = 0.1  # ± fraction of 255
    contrast: float = 0.1  # multiplicative ± range
    translate: tuple[float, float] = (0.03, 0.015)  # ± fraction of width, height
    scale: tuple[float, float] = (0.95, 1 / 0.95)
    elastic_alpha: float = 50.0
    elastic_sigma: float = 7.0
    blur_kernels: tuple[int, int] = (5, 25)  # odd kernel sizes drawn in this range (256-px crop)
    blur_sigma: tuple[float, float] = (5.0, 45.0)


@dataclass
class SBISample:
    """``real``/``fake``: H×W×3 uint8 RGB; ``mask``: H×W float32 in [0, 1] (source weight)."""

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray
    hull: str
    ratio: float


def hull_mask(shape: tuple[int, int], landmarks: np.ndarray, hull: str = "face") -> np.ndarray:
    """H×W float32 mask, 1 inside the convex hull of the landmark subset ``hull`` (see :data:`HULLS`)."""
    pts = np.asarray(landmarks, np.float32)[HULLS[hull]]
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 1.0)
    return mask


def _odd(rng: np.random.Generator, lo: int, hi: int) -> int:
    lo, hi = max(1, lo | 1), max(1, hi | 1)
    return int(rng.integers(lo // 2, hi // 2 + 1)) * 2 + 1


def _colour(img: np.ndarray, rng: np.random.Generator, cfg: SBIConfig) -> np.ndarray:
    x = img.astype(np.float32)
    if rng.random() < cfg.p_rgb_shift:
        x += rng.uniform(-cfg.rgb_shift, cfg.rgb_shift, size=3).astype(np.float32)
    x = np.clip(x, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_shift, cfg.hue_shift)) % 180
    hsv[..., 1] *= rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    x += rng.uniform(-cfg.brightness, cfg.brightness) * 255
    return np.clip(x, 0, 255).astype(np.uint8)


def _frequency(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if rng.random() < 0.5:  # downscale and back: removes high frequencies
        f = rng.uniform(2.0, 4.0)
        small = cv2.resize(img, (max(1, round(w / f)), max(1, round(h / f))),
                           interpolation=[cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_NEAREST][int(rng.integers(3))])
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha, light = rng.uniform(0.2, 0.5), rng.uniform(0.5, 1.0)  # sharpen (albumentations' kernel)
    sharp = np.array([[-1, -1, -1], [-1, 8 + light, -1], [-1, -1, -1]], np.float32)
    ident = np.zeros((3, 3), np.float32)
    ident[1, 1] = 1
    kernel = (1 - alpha) * ident + alpha * sharp
    return np.clip(cv2.filter2D(img.astype(np.float32), -1, kernel), 0, 255).astype(np.uint8)


def _jitter(img: np.ndarray, rng: np.random.Generator, cfg: SBIConfig) -> np.ndarray:
    return _frequency(_colour(img, rng, cfg), rng)


def _affine(h: int, w: int, rng: np.random.Generator, cfg: SBIConfig) -> np.ndarray:
    s = rng.uniform(*cfg.scale)
    tx = rng.uniform(-cfg.translate[0], cfg.translate[0]) * w
    ty = rng.uniform(-cfg.translate[1], cfg.translate[1]) * h
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, s)
    m[:, 2] += (tx, ty)
    return m


def _elastic(mask: np.ndarray, rng: np.random.Generator, cfg: SBIConfig, k: float) -> np.ndarray:
    h, w = mask.shape
    sigma = max(1.0, cfg.elastic_sigma * k)
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * cfg.elastic_alpha * k
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * cfg.elastic_alpha * k
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _soften(mask: np.ndarray, rng: np.random.Generator, cfg: SBIConfig, k: float) -> np.ndarray:
    """Erode by a thresholded blur, then blur again (kernel sizes random, scaled by ``k``)."""
    lo, hi = cfg.blur_kernels
    k1 = _odd(rng, round(lo * k), round(hi * k))
    m = cv2.GaussianBlur(mask, (k1, k1), 0)
    if m.max() <= 0:
        return m
    m = m / m.max()
    m[m < 1] = 0
    if m.max() <= 0:  # the hull was thinner than the kernel: keep the unblurred hull
        m = mask.copy()
    k2 = _odd(rng, round(lo * k), round(hi * k))
    m = cv2.GaussianBlur(m, (k2, k2), rng.uniform(*cfg.blur_sigma) * k)
    return m / m.max() if m.max() > 0 else m


def self_blend(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    cfg: SBIConfig = SBIConfig(),
) -> SBISample:
    """One self-blended image from an H×W×3 uint8 RGB face and its 68×2 landmarks (pixels).

    See the module docstring for the steps; the fake differs from ``sample.real`` only where
    ``sample.mask > 0``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("image must be an H×W×3 uint8 RGB array")
    lm = np.asarray(landmarks, np.float32)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be 68×2, got {lm.shape}")
    h, w = image.shape[:2]
    k = min(h, w) / 256.0
    hull = cfg.hulls[int(rng.integers(len(cfg.hulls)))]
    mask = hull_mask((h, w), lm, hull)

    source, target = image.copy(), image.copy()
    if rng.random() < 0.5:
        source = _jitter(source, rng, cfg)
    else:
        target = _jitter(target, rng, cfg)

    m = _affine(h, w, rng, cfg)
    source = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = _elastic(mask, rng, cfg, k)
    mask = _soften(mask, rng, cfg, k)
    ratio = float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))])
    mask = (mask * ratio).astype(np.float32)

    a = mask[..., None]
    fake = a * source.astype(np.float32) + (1.0 - a) * target.astype(np.float32)
    fake = np.clip(np.round(fake), 0, 255).astype(np.uint8)
    fake[mask <= 0] = target[mask <= 0]  # exact outside the mask, whatever the float rounding
    return SBISample(real=target, fake=fake, mask=mask, hull=hull, ratio=ratio)
