"""Calibration: the *calibrate* stage — a detector's raw logit → a log-odds that means what it says.

Method: **Platt scaling** (``z' = slope · z + intercept``, fitted by logistic regression on the raw
logits, classes weighted equally, i.e. a 50/50 prior). Why Platt and not isotonic regression: the
labelled data that exist offline are a few hundred faces, mostly real; isotonic regression on that
many points gives a step function with exact 0 and 1 probabilities and no extrapolation, while two
parameters are well determined. Why not temperature alone (``intercept = 0``): MesoNet's raw
0.5-crossing is not where real and fake faces separate on today's media (it is biased toward
"fake" on soft faces), so the offset must move too. ``method="temperature"`` is available for a
labelled set that is known to be balanced and unbiased.

Each calibrated face log-odds is clipped to ``±max_logit`` (default 5, P in [0.0067, 0.9933]):
no single face of these detectors, whose measured error rates are in percent, warrants stronger odds.

A calibration also carries the **uncertain band** ``[low, high]`` of the identity score (P(fake)):
identities whose score falls inside it are reported ``uncertain``. The file is small JSON
(:meth:`Calibration.save`); the shipped models carry one fitted on data available offline
(``weights/calibration/``, with its data card). Pure functions, no I/O except load/save.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from .schema import write_atomic

CALIBRATION_DIR = Path(__file__).resolve().parent / "weights" / "calibration"
FORMAT = "fakescope-calibration/1"

Method = Literal["identity", "platt", "temperature"]


@dataclass(frozen=True)
class Calibration:
    """Logit transform + uncertain band of one model's weights (see the module docstring)."""

    model: str = ""
    weights: str | None = None
    method: Method = "identity"
    slope: float = 1.0
    intercept: float = 0.0
    max_logit: float = 5.0
    band: tuple[float, float] = (0.35, 0.65)
    fitted_on: dict = field(default_factory=dict)  # data card: counts, sources, sha256 list file
    metrics: dict = field(default_factory=dict)  # e.g. ECE / NLL before and after, FPR at the threshold

    def __post_init__(self) -> None:
        lo, hi = self.band
        if not (0.0 <= lo <= 0.5 <= hi <= 1.0):
            raise ValueError(f"uncertain band {self.band} must satisfy 0 ≤ low ≤ 0.5 ≤ high ≤ 1")
        if self.slope <= 0 or not math.isfinite(self.slope):
            raise ValueError(f"calibration slope must be positive and finite, not {self.slope}")
        object.__setattr__(self, "band", (float(lo), float(hi)))

    @property
    def temperature(self) -> float:
        return 1.0 / self.slope

    def apply(self, logits: np.ndarray | float) -> np.ndarray:
        """Calibrated, clipped log-odds of fake for raw model logits."""
        z = np.asarray(logits, dtype=np.float64) * self.slope + self.intercept
        return np.clip(z, -self.max_logit, self.max_logit)

    def probability(self, logits: np.ndarray | float) -> np.ndarray:
        return sigmoid(self.apply(logits))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["band"] = list(self.band)
        return {"format": FORMAT, **d}

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a fakescope calibration file (format {d.get('format')!r}, expected {FORMAT!r})")
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "band" in fields:
            fields["band"] = tuple(fields["band"])
        return cls(**fields)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read calibration file ({e.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a fakescope calibration file")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:  # wrong format tag, fields of the wrong type or out of range
            raise ValueError(f"{path}: {e}") from None


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def logit(p: np.ndarray | float, eps: float = 1e-12) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def _balanced_weights(labels: np.ndarray) -> np.ndarray:
    n1 = max(int(labels.sum()), 1)
    n0 = max(int(len(labels) - labels.sum()), 1)
    return np.where(labels == 1, len(labels) / (2.0 * n1), len(labels) / (2.0 * n0))


def _nll(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    # weighted binary cross-entropy of log-odds z, numerically stable
    return float(np.sum(w * (np.logaddexp(0.0, z) - y * z)) / np.sum(w))


def fit(
    logits: np.ndarray,
    labels: np.ndarray,
    method: Method = "platt",
    balanced: bool = True,
    max_logit: float = 5.0,
    sample_weight: np.ndarray | None = None,
) -> tuple[float, float]:
    """Fit ``(slope, intercept)`` on raw logits and 0/1 labels (1 = fake) by weighted maximum likelihood.

    ``balanced``: weight the classes equally (a 50/50 prior) instead of by their counts;
    ``sample_weight``: per-sample weights on top (e.g. 1 / faces of the sample's video).
    Uses scipy's L-BFGS on the exact weighted log-loss (scikit-learn's LogisticRegression would
    regularise the slope toward 0, which is wrong for a calibration).
    """
    from scipy.optimize import minimize

    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(z) != len(y) or len(z) == 0:
        raise ValueError("calibration needs as many labels as logits, and at least one of each")
    if method == "identity":
        return 1.0, 0.0
    if y.min() == y.max():
        raise ValueError("calibration needs both real (0) and fake (1) samples")
    w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if balanced:
        n1, n0 = float(w[y == 1].sum()), float(w[y == 0].sum())
        w = w * np.where(y == 1, 0.5 / max(n1, 1e-12), 0.5 / max(n0, 1e-12)) * len(y)
    if method == "temperature":
        res = minimize(lambda p: _nll(math.exp(p[0]) * z, y, w), x0=[0.0], method="L-BFGS-B", bounds=[(-8, 5)])
        return float(math.exp(res.x[0])), 0.0
    if method == "platt":
        res = minimize(
            lambda p: _nll(math.exp(p[0]) * z + p[1], y, w), x0=[0.0, 0.0], method="L-BFGS-B",
            bounds=[(-8, 5), (-50, 50)],
        )
        return float(math.exp(res.x[0])), float(res.x[1])
    raise ValueError(f"unknown calibration method {method!r}: use platt, temperature or identity")


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins (the usual definition), on probabilities ``p`` and 0/1 labels ``y``."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def fit_calibration(
    logits: np.ndarray,
    labels: np.ndarray,
    model: str = "",
    weights: str | None = None,
    method: Method = "platt",
    band: tuple[float, float] = (0.35, 0.65),
    max_logit: float = 5.0,
    fitted_on: dict | None = None,
) -> Calibration:
    """Fit a :class:`Calibration` and record before/after metrics on the same data."""
    slope, intercept = fit(logits, labels, method=method, max_logit=max_logit)
    cal = Calibration(model=model, weights=weights, method=method, slope=slope, intercept=intercept,
                      max_logit=max_logit, band=band, fitted_on=dict(fitted_on or {}))
    y = np.asarray(labels, dtype=np.float64)
    raw = sigmoid(np.asarray(logits, dtype=np.float64))
    cald = cal.probability(logits)
    w = _balanced_weights(y)
    metrics = {
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "nll_raw": round(_nll(logit(raw), y, w), 4),
        "nll_calibrated": round(_nll(cal.apply(logits), y, w), 4),
        "ece_raw": round(expected_calibration_error(raw, y), 4),
        "ece_calibrated": round(expected_calibration_error(cald, y), 4),
        "fpr_raw_at_0.5": round(float((raw[y == 0] > 0.5).mean()), 4) if (y == 0).any() else None,
        "fpr_calibrated_at_0.5": round(float((cald[y == 0] > 0.5).mean()), 4) if (y == 0).any() else None,
        "tpr_raw_at_0.5": round(float((raw[y == 1] > 0.5).mean()), 4) if (y == 1).any() else None,
        "tpr_calibrated_at_0.5": round(float((cald[y == 1] > 0.5).mean()), 4) if (y == 1).any() else None,
    }
    return replace(cal, metrics=metrics)


def shipped_calibration(model: str, weights: str | None) -> Calibration | None:
    """The calibration that ships for ``model``/``weights`` (None if there is none)."""
    if not weights:
        return None
    path = CALIBRATION_DIR / f"{model}.{weights}.json"
    return Calibration.load(path) if path.is_file() else None
