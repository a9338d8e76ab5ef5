"""Aggregation: the *aggregate* stage — one identity's calibrated face scores → one score with an interval.

The identity score is a **shrunken weighted mean of calibrated face log-odds**:

1. *Temporal median filter* (videos): each face's calibrated log-odds is replaced by the median of
   the ``window`` faces centred on it in time order (default 5; 1 = off), so a single-frame spike —
   MesoNet jumps between 0.00 and 1.00 on consecutive frames of real clips — cannot decide alone.
2. *Weighted mean* ``m = Σ wᵢ zᵢ / Σ wᵢ`` with the quality weights of :mod:`fakescope.quality`.
3. *Shrinkage toward 0.5*: ``z = Σ wᵢ zᵢ / (Σ wᵢ + prior_faces)``, the posterior mean of the
   identity's log-odds under a normal prior centred at 0 (P = 0.5) worth ``prior_faces`` faces of
   evidence (default 1). One face can never give a score of exactly 0 or 1, and more faces move the
   score further from 0.5 only if they agree.
4. *Interval*: ``z ± t · s / √(n_eff + prior_faces)`` mapped through the sigmoid, where ``s`` is the
   weighted spread of the filtered face log-odds, floored at ``min_spread`` (a single face has no
   spread of its own), ``n_eff = (Σw)² / Σw²`` and ``t`` the normal quantile of ``level`` (90 %).

The identity's score is ``sigmoid(z)``; the share of its faces above the threshold is kept beside it
as a detail. Hand-written (a few lines of numpy; no library implements this combination).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import sigmoid


@dataclass(frozen=True)
class Aggregate:
    """One identity's combined evidence."""

    logit: float  # shrunken mean calibrated log-odds
    score: float  # sigmoid(logit): P(fake)
    interval: tuple[float, float]  # P(fake) interval at ``level``
    n_faces: int
    n_eff: float  # effective number of faces after quality weights
    spread: float  # weighted SD of the filtered face log-odds (before the floor)
    share_above: float  # share of faces whose calibrated P(fake) exceeds the threshold


def median_filter(z: np.ndarray, window: int = 5) -> np.ndarray:
    """Running median over a 1-D sequence; the window shrinks at both ends (no padding values)."""
    z = np.asarray(z, dtype=np.float64)
    if window <= 1 or len(z) < 3:
        return z.copy()
    half = window // 2
    return np.array([np.median(z[max(0, i - half) : i + half + 1]) for i in range(len(z))])


def _normal_quantile(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def aggregate_track(
    logits: np.ndarray | list[float],
    weights: np.ndarray | list[float] | None = None,
    threshold: float = 0.5,
    window: int = 5,
    prior_faces: float = 1.0,
    min_spread: float = 1.0,
    level: float = 0.9,
) -> Aggregate:
    """Combine calibrated face log-odds (in time order) of one identity; see the module docstring."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if len(z) == 0:
        raise ValueError("an identity needs at least one face")
    w = np.ones_like(z) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(z) or (w < 0).any():
        raise ValueError("one non-negative weight per face is needed")
    share = float(np.mean(sigmoid(z) > threshold))
    if w.sum() <= 0:
        w = np.ones_like(z)
    zf = median_filter(z, window)
    sw = float(w.sum())
    mean = float(np.sum(w * zf) / sw)
    spread = float(np.sqrt(np.sum(w * (zf - mean) ** 2) / sw)) if len(z) > 1 else 0.0
    n_eff = sw**2 / float(np.sum(w**2))
    shrunk = float(np.sum(w * zf) / (sw + prior_faces))
    # faces of low quality (weight < 1) count less against the prior, so they shrink more toward 0.5
    half = _normal_quantile(level) * max(spread, min_spread) / np.sqrt(n_eff + prior_faces)
    lo, hi = sigmoid(shrunk - half), sigmoid(shrunk + half)
    return Aggregate(
        logit=shrunk,
        score=float(sigmoid(shrunk)),
        interval=(float(lo), float(hi)),
        n_faces=len(z),
        n_eff=float(n_eff),
        spread=spread,
        share_above=share,
    )
