"""Metrics of an explanation map against a ground-truth mask and against the model itself.

Written here rather than taken from Quantus: Quantus 0.6 (the current release) requires
``opencv-python``, which installs a second ``cv2`` over fakescope's ``opencv-python-headless<5``
(pip resolves it to OpenCV 5, which drops the Haar cascades fakescope ships a detector for); its
localisation metrics have no tolerance radius and no soft-mask handling; and its faithfulness metrics
perturb single pixels with a fixed value, not with a baseline chosen per model. The definitions
below follow the papers; ``tests/test_xai_eval.py`` checks them against independent implementations
(scikit-learn's ROC-AUC, SciPy's Spearman correlation, plain loops, and Quantus when it is importable).

All maps are H×W float arrays (any sign and scale; larger = more evidence for the target) and all
masks H×W floats in [0, 1] at the same size.

* **Pointing game** (Zhang et al., ECCV 2016, "Top-down neural attention by excitation backprop"):
  a hit when the map's maximum lies within ``tolerance`` × side pixels of the region. Ties (flat maps,
  piecewise-constant LIME maps) count as the share of tied maxima that hit, i.e. the expected hit
  under a random tie-break, so an all-equal map scores what a random point would.
* **Relevance mass accuracy** (Arras, Osman, Samek, Information Fusion 2022, "CLEVR-XAI"): the share
  of the map's positive mass inside the region (0 when the map has no positive value).
* **Relevance rank accuracy** (same paper): the share of the map's top-K pixels that lie in the region,
  K = the region's size. Unlike relevance mass it does not change when the map is sharpened (raised
  to a power, multiplied with another map of the same ranking): it reads only the ranking.
* **Pixel AUROC**: ROC-AUC of the map's values as a detector of the region's pixels (Mann–Whitney,
  ties counted ½).
* **Deletion / insertion** (Petsiuk, Das, Saenko, BMVC 2018, "RISE"): patches are replaced by the
  baseline (deletion) or restored onto it (insertion) in the order of the map's mean per patch; the
  area under P(target) over the fraction changed. Compared per face with a random patch order
  (paired): ``deletion gain = AUC(random) − AUC(map)``, ``insertion gain = AUC(map) − AUC(random)``.
  Two baselines: the one measured as neutral for the model (:mod:`.neutral`), and — where the
  manipulated face's pristine original is known (generated faces; FF++ originals) — the pristine face
  itself ("pristine" gains): deleting a patch then restores the real content, with no artificial edge
  outside the manipulated region.
* **Model-randomisation sanity check** (Adebayo et al., NeurIPS 2018, "Sanity checks for saliency
  maps"): Spearman correlation between the map of the trained model and the map of a copy whose
  weights were re-initialised; a map that stays the same does not depend on what the model learned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

__all__ = [
    "SANITY_MAX_RHO",
    "CurveResult",
    "boundary_region",
    "bootstrap_ci",
    "centre_prior",
    "deletion_insertion",
    "pixel_auroc",
    "pointing_game",
    "randomised_copy",
    "rank_accuracy",
    "region",
    "relevance_mass",
    "spearman",
]

#: a method passes the randomisation check on a model when the mean Spearman correlation of its maps
#: with the randomised model's maps stays below this (Adebayo et al. read ≥ 0.5 as "unchanged")
SANITY_MAX_RHO = 0.4


def region(mask: np.ndarray, level: float = 0.25) -> np.ndarray:
    """Boolean region of a soft mask: at least ``level`` × its peak (empty for an all-zero mask)."""
    peak = float(mask.max())
    return mask >= level * peak if peak > 0 else np.zeros(mask.shape, bool)


def boundary_region(mask: np.ndarray, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    """The blend boundary: where the soft mask is between ``lo`` and ``hi`` × its peak, widened by
    one pixel so that hard (binary) masks get their edge."""
    peak = float(mask.max())
    if peak <= 0:
        return np.zeros(mask.shape, bool)
    band = (mask >= lo * peak) & (mask <= hi * peak)
    # no mutation testing on the dtypes and the 3×3 kernel (OpenCV's default): equivalent
    hard = region(mask, 0.5).astype(np.uint8)  # pragma: no mutate
    edge = cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0  # pragma: no mutate
    return band | edge


def _dilate(reg: np.ndarray, radius: float) -> np.ndarray:
    r = int(round(radius))
    if r <= 0:
        return reg
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(reg.astype(np.uint8), kernel) > 0  # pragma: no mutate (a float image dilates alike)


def pointing_game(amap: np.ndarray, reg: np.ndarray, tolerance: float = 0.05) -> float:
    """Share of the map's maxima within ``tolerance`` × min(H, W) pixels of ``reg`` (see module doc).

    Non-finite values count as −∞; NaN when the region is empty.
    """
    if not reg.any():
        return math.nan
    m = np.where(np.isfinite(amap), amap, -np.inf)
    top = m == m.max()
    hit = _dilate(reg, tolerance * min(reg.shape))
    return float(hit[top].mean())


def relevance_mass(amap: np.ndarray, reg: np.ndarray) -> float:
    """Positive mass of the map inside ``reg`` over its total positive mass (0 if none)."""
    pos = np.clip(np.nan_to_num(amap.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0), 0, None)
    total = float(pos.sum())
    return float(pos[reg].sum() / total) if total > 0 else 0.0


def rank_accuracy(amap: np.ndarray, reg: np.ndarray) -> float:
    """Share of the map's ``K = |reg|`` highest pixels inside ``reg`` (ties broken by position); NaN
    when the region is empty."""
    k = int(reg.sum())
    if k == 0:
        return math.nan
    v = np.nan_to_num(amap.ravel().astype(np.float64), nan=-np.inf)
    top = np.argpartition(-v, k - 1)[:k] if k < v.size else np.arange(v.size)
    return float(reg.ravel()[top].mean())


def pixel_auroc(amap: np.ndarray, reg: np.ndarray) -> float:
    """ROC-AUC of map values separating region from non-region pixels (NaN if one side is empty)."""
    y = reg.ravel()
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    s = np.nan_to_num(amap.ravel().astype(np.float64), nan=-np.inf)
    # average ranks (ties get the mean rank) via sorting; no mutation testing on the sort kind and the dtypes
    # (tied values get their mean rank whatever their order): equivalent
    order = np.argsort(s, kind="mergesort")  # pragma: no mutate
    sorted_s = s[order]
    ranks = np.empty(len(s), np.float64)  # pragma: no mutate
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s) != 0) + 1]
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0  # 1-based mean rank of each tie group
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (0 when one of them is constant)."""
    ra = _ranks(a.ravel())
    rb = _ranks(b.ravel())
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(((ra - ra.mean()) * (rb - rb.mean())).mean() / (sa * sb))


def _ranks(v: np.ndarray) -> np.ndarray:
    # no mutation testing on the dtypes, the sort kind (tied values get their mean rank whatever their order)
    # and the rank formula's constants (Spearman's correlation does not change when every rank is shifted or
    # scaled alike): their mutants are equivalent
    v = np.nan_to_num(v.astype(np.float64), nan=-np.inf)  # pragma: no mutate
    order = np.argsort(v, kind="mergesort")  # pragma: no mutate
    sv = v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sv) != 0) + 1]
    ends = np.r_[starts[1:], len(v)]
    r = np.empty(len(v), np.float64)  # pragma: no mutate
    r[order] = np.repeat((starts + ends - 1) / 2.0, ends - starts)  # pragma: no mutate
    return r


def centre_prior(h: int, w: int, sigma: float = 1 / 6) -> np.ndarray:
    """A centred isotropic Gaussian blob (σ = ``sigma`` × min(H, W)): the "faces are in the middle" map."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)  # pragma: no mutate (float64 then float32: the same map)
    s = sigma * min(h, w)
    return np.exp(-(((ys - (h - 1) / 2) ** 2 + (xs - (w - 1) / 2) ** 2) / (2 * s * s))).astype(np.float32)


def bootstrap_ci(values, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` (NaNs dropped) and its percentile bootstrap
    ``1 − alpha`` interval over ``n_boot`` resamples; NaNs when there is no value."""
    v = np.asarray(values, np.float64)  # pragma: no mutate (numpy's default dtype for numbers is float64 too)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(v.mean()), float(lo), float(hi)


# -------------------------------------------------------------------------------- model-based


@dataclass
class CurveResult:
    """Deletion and insertion curves (P(target) at each step) of one face for one order."""

    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return _auc(self.deletion)

    @property
    def insertion_auc(self) -> float:
        return _auc(self.insertion)


def _auc(curve: np.ndarray) -> float:
    # no mutation testing here: dropping the dtype only changes the precision of a float curve
    c = np.asarray(curve, np.float64)  # pragma: no mutate
    return float(((c[1:] + c[:-1]) / 2).mean()) if len(c) > 1 else float(c[0])


def patch_order(amap: np.ndarray, patch: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of the (H/patch)×(W/patch) patches, most relevant first (mean map value per patch;
    ties broken at random with ``rng``, or ``rng`` alone = a random order when ``amap`` is None)."""
    h, w = amap.shape
    gh, gw = h // patch, w // patch
    means = amap[: gh * patch, : gw * patch].reshape(gh, patch, gw, patch).mean(axis=(1, 3)).ravel()
    means = np.nan_to_num(means.astype(np.float64), nan=-np.inf)  # pragma: no mutate (float64 is the default)
    # no mutation testing: the dtype of a tie-break order is immaterial
    jitter = (rng.random(means.size) if rng is not None
              else np.arange(means.size)[::-1].astype(np.float64))  # pragma: no mutate
    return np.lexsort((-jitter, -means))


def _patch_masks(order: np.ndarray, shape: tuple[int, int], patch: int, steps: int) -> torch.Tensor:
    """(steps+1)×H×W float masks: 1 where the first k/steps of ``order``'s patches are."""
    h, w = shape
    gh, gw = h // patch, w // patch
    # no mutation testing on the dtypes of this function's index arrays: numpy's defaults give the same masks
    rank = np.empty(len(order), np.int64)  # pragma: no mutate
    rank[order] = np.arange(len(order))
    rank_map = np.full((h, w), len(order), np.int64)  # leftover border pixels go last  # pragma: no mutate
    block = np.ones((patch, patch), np.int64)  # pragma: no mutate
    rank_map[: gh * patch, : gw * patch] = np.kron(rank.reshape(gh, gw), block)
    ks = np.round(np.linspace(0, len(order), steps + 1)).astype(np.int64)  # pragma: no mutate
    ks[-1] = len(order) + 1  # every pixel, border included (any larger bound is the same)  # pragma: no mutate
    return torch.from_numpy(np.stack([rank_map < k for k in ks]).astype(np.float32))  # pragma: no mutate


@torch.no_grad()
def deletion_insertion(
    score: Callable[[torch.Tensor], torch.Tensor],
    face: torch.Tensor,
    baseline: torch.Tensor,
    order: np.ndarray,
    patch: int,
    steps: int = 16,
) -> CurveResult:
    """Deletion and insertion curves of one face (3×H×W) for a patch ``order``; ``score`` maps
    N×3×H×W to N probabilities of the target (batched: 2 × (steps + 1) faces in one call)."""
    masks = _patch_masks(order, tuple(face.shape[-2:]), patch, steps).to(face)[:, None]
    deleted = face[None] * (1 - masks) + baseline[None] * masks
    inserted = baseline[None] * (1 - masks) + face[None] * masks
    p = score(torch.cat([deleted, inserted])).float().cpu().numpy()
    return CurveResult(p[: steps + 1], p[steps + 1 :])


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with every parameter re-initialised (``reset_parameters``; BatchNorm
    statistics reset too) and the model's own preprocessing and metadata kept: the "fully randomised"
    model of Adebayo et al."""
    rnd = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in rnd.modules():
            if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
                m.reset_parameters()
            # no mutation testing: BatchNorm's reset_parameters resets the statistics too; this is for modules
            # that only have the statistics
            if hasattr(m, "reset_running_stats"):  # pragma: no mutate
                m.reset_running_stats()
    return rnd.eval()
