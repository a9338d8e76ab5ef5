"""Face-swap pseudo-fakes for training (issue 20): another person's inner face pasted onto a real face.

Self-blended images (:mod:`fakescope.training.sbi`) carry blending traces without an identity change;
a face swap adds what SBI lacks — a second person's skin texture, lighting and geometry inside the
blend. :func:`face_swap` aligns the donor's face on the target's 68 landmarks (similarity transform,
LMedS), matches its colour statistics to the target inside the region (Reinhard-style transfer), and
feathers it in over a convex hull of the inner face (jaw from point 2 to 14, brows, nose), grown and
blurred by random amounts. Written by hand: no maintained library makes landmark-aligned face-swap
training pairs; the steps follow common face-swap pipelines (e.g. DeepFaceLab's merge).
All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["SWAP_HULL", "face_swap"]

SWAP_HULL = list(range(2, 15)) + list(range(17, 27)) + list(range(27, 36))


def face_swap(
    target: np.ndarray,
    target_lm: np.ndarray,
    donor: np.ndarray,
    donor_lm: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``target`` (H×W×3 uint8) with the inner face of ``donor`` blended in; same shape and dtype.

    Raises ValueError when the donor cannot be aligned (degenerate landmarks)."""
    h, w = target.shape[:2]
    if target_lm.shape != (68, 2) or donor_lm.shape != (68, 2):
        raise ValueError("face_swap needs 68 landmarks for both faces")
    m, _ = cv2.estimateAffinePartial2D(donor_lm.astype(np.float32), target_lm.astype(np.float32), method=cv2.LMEDS)
    if m is None or not np.isfinite(m).all():
        raise ValueError("cannot align the donor face")
    warped = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    side = min(h, w)
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(target_lm[SWAP_HULL]).astype(np.int32)), 1.0)
    grow = int(round(side * rng.uniform(-0.03, 0.02)))
    if grow:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(grow) + 1, 2 * abs(grow) + 1))
        mask = cv2.dilate(mask, k) if grow > 0 else cv2.erode(mask, k)
    mask = cv2.GaussianBlur(mask, (0, 0), side * rng.uniform(0.01, 0.04))
    if float(mask.max()) <= 0:
        raise ValueError("empty face region")
    mask = np.clip(mask / float(mask.max()), 0, 1)
    src, dst = warped.astype(np.float32), target.astype(np.float32)
    inside = mask > 0.5
    if inside.sum() > 8:
        mu_s, sd_s = src[inside].mean(0), src[inside].std(0) + 1e-3
        mu_d, sd_d = dst[inside].mean(0), dst[inside].std(0) + 1e-3
        src = (src - mu_s) / sd_s * sd_d + mu_d
    a = mask[..., None]
    return np.clip(np.round(a * src + (1 - a) * dst), 0, 255).astype(np.uint8)
