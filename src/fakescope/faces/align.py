"""Face crops aligned on five landmarks (eyes, nose tip, mouth corners), as published detectors were trained.

Most detectors here see the documented square crop (:mod:`fakescope.faces.crop`). Some published ones were
trained on faces *aligned* by a similarity transform (rotation, uniform scale, shift) that puts the five
landmarks on a fixed template; their own pipeline is reproduced so that their numbers hold:

``"gend"``
    GenD (WACV 2026): ``yermandy/GenD`` ``detector.py`` ``align_face`` (read at 86ba478d). Template in the
    unit square (eyes at (0.34, 0.46) and (0.66, 0.46), nose (0.5, 0.64), mouth corners (0.37, 0.82) and
    (0.63, 0.82)), context scale 1.3, 256 × 256 output, transform fitted by OpenCV's
    ``estimateAffinePartial2D`` with least-median-of-squares; the model's CLIP preprocessing then
    resizes to 224 (bicubic).
``"deepfakebench"``
    DeepfakeBench (and the projects built on it: UCF, Effort, Forensics Adapter): ``preprocessing``
    ``img_align_crop``. The ArcFace 112 × 112 template shifted 8 px right, scale 1.3, 256 × 256 output,
    transform fitted by least squares (``skimage.transform.SimilarityTransform``); the data loader
    then resizes to the model's input (bicubic).

Both warp with bilinear interpolation and fill outside the frame with black, as the originals do. The
landmarks are our detector's (YuNet / CenterFace: eye centres), not RetinaFace's (GenD) or dlib's 68 points
(DeepfakeBench uses the upper-eyelid points 37 / 44 and the lip points 49 / 55), so a face sits a few pixels
off where the original pipeline would put it; a detector without landmarks (``haar``) gets the square crop.

The template fit is the original projects' arithmetic, written here because no maintained library packages
these two templates; the transform estimation itself is OpenCV's and scikit-image's.
"""

from __future__ import annotations

import cv2
import numpy as np

ALIGNS = ("none", "gend", "deepfakebench")
ALIGN_SIZE = 256  # both originals write 256 × 256 aligned faces, then resize to the model's input
ALIGN_SCALE = 1.3

_TEMPLATES = {
    "gend": np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]], np.float64),
    # ArcFace's 112-px template, x + 8, over 112 (DeepfakeBench's img_align_crop)
    "deepfakebench": (np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366], [33.5493, 92.3655],
                                [62.7299, 92.2041]], np.float64) + [8.0, 0.0]) / 112.0,
}


def five_points(landmarks) -> np.ndarray | None:
    """The five landmarks as 5 × 2 float64 in template order — image-left eye, image-right eye, nose tip,
    image-left mouth corner, image-right mouth corner — whatever order the detector gives them in (YuNet
    lists the person's right eye first); None when there are not exactly five finite points."""
    if landmarks is None:
        return None
    pts = np.asarray(landmarks, np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        return None
    eyes = pts[[0, 1]][np.argsort(pts[[0, 1], 0], kind="stable")]
    mouth = pts[[3, 4]][np.argsort(pts[[3, 4], 0], kind="stable")]
    return np.vstack([eyes, pts[2:3], mouth])


def template(mode: str, out: int = ALIGN_SIZE, scale: float = ALIGN_SCALE) -> np.ndarray:
    """Where ``mode`` puts the five landmarks in an ``out`` × ``out`` crop with context ``scale``: the
    template at ``out`` px, shifted by the margin and shrunk back into ``out`` (the originals' "move" and
    "resize" steps, i.e. ``(t·out + out·(scale−1)/2) / scale``)."""
    if mode not in _TEMPLATES:
        raise ValueError(f"unknown alignment {mode!r}: use one of {', '.join(ALIGNS)}")
    dst = _TEMPLATES[mode] * out
    margin = out * (scale - 1.0) / 2.0
    return (dst + margin) * (out / (out + 2.0 * margin))


def align_matrix(landmarks, mode: str, out: int = ALIGN_SIZE, scale: float = ALIGN_SCALE) -> np.ndarray | None:
    """2 × 3 similarity taking frame pixels to the ``out`` × ``out`` aligned crop, fitted as ``mode``'s
    original does; None when the landmarks are unusable (not five, or degenerate)."""
    src = five_points(landmarks)
    if src is None:
        return None
    dst = template(mode, out, scale)
    if mode == "gend":
        m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32), method=cv2.LMEDS)
    else:
        from skimage.transform import SimilarityTransform

        if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image ≥ 0.26
            t = SimilarityTransform.from_estimate(src, dst)
            m = t.params[:2] if t else None
        else:
            t = SimilarityTransform()
            m = t.params[:2] if t.estimate(src, dst) else None
    if m is None or not np.isfinite(m).all() or abs(np.linalg.det(m[:, :2])) < 1e-12:
        return None
    return np.asarray(m, np.float64)


def crop_matrix(landmarks, mode: str, size: int) -> np.ndarray | None:
    """2 × 3 affine from frame pixels to the pixels of the ``size`` × ``size`` crop the model sees (the
    aligned ``ALIGN_SIZE`` crop resized to ``size``, pixel centres kept): what maps an explanation of that
    crop back onto the frame."""
    m = align_matrix(landmarks, mode)
    if m is None:
        return None
    k = size / ALIGN_SIZE
    # resizing ALIGN_SIZE → size with pixel centres kept: x' = k·x + (k − 1)/2
    return np.hstack([k * m[:, :2], k * m[:, 2:] + (k - 1.0) / 2.0])


def align_face(image: np.ndarray, landmarks, mode: str, size: int, resize: str = "cubic") -> np.ndarray | None:
    """The ``size`` × ``size`` × 3 crop of ``mode`` (warped to ``ALIGN_SIZE`` then resized, ``resize``:
    ``"cubic"`` or ``"auto"`` — area when shrinking, bilinear when enlarging); None when the landmarks are
    unusable (the caller falls back to the square crop)."""
    m = align_matrix(landmarks, mode)
    if m is None:
        return None
    face = cv2.warpAffine(image, m, (ALIGN_SIZE, ALIGN_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)
    if size == ALIGN_SIZE:
        return face
    interp = cv2.INTER_CUBIC if resize == "cubic" else (cv2.INTER_AREA if size < ALIGN_SIZE else cv2.INTER_LINEAR)
    return cv2.resize(face, (size, size), interpolation=interp)
