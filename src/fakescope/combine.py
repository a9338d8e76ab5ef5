"""Ensemble combination: several detectors' calibrated log-odds of one face → one log-odds.

Registered like the verdict rules (``fakescope rules`` lists both). Every combiner takes an
N×M array (N faces, M models, calibrated and clipped log-odds) and returns N values. The default is
``mean`` — the mean calibrated log-odds, i.e. the geometric mean of the models' odds, which treats the
models as equally reliable once calibrated. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._registry import Registry

CombineFn = Callable[[np.ndarray], np.ndarray]
_COMBINERS: Registry[CombineFn] = Registry("ensemble combiner")
DEFAULT_COMBINER = "mean"


def register_combiner(name: str) -> Callable[[CombineFn], CombineFn]:
    # no mutation testing here: runs at import time, before mutmut's per-test switch can reach it
    return _COMBINERS.register(name)  # type: ignore[return-value]  # pragma: no mutate


def list_combiners() -> list[str]:
    return _COMBINERS.names()


def get_combiner(name: str) -> CombineFn:
    return _COMBINERS.get(name)


@register_combiner("mean")
def mean_logit(z: np.ndarray) -> np.ndarray:
    """Mean calibrated log-odds of the models (default)."""
    return np.asarray(z, dtype=np.float64).mean(axis=1)


@register_combiner("median")
def median_logit(z: np.ndarray) -> np.ndarray:
    """Median calibrated log-odds of the models (robust to one model going astray; needs ≥ 3)."""
    return np.median(np.asarray(z, dtype=np.float64), axis=1)


@register_combiner("max")
def max_logit(z: np.ndarray) -> np.ndarray:
    """The most suspicious model's calibrated log-odds (high recall, more false alarms)."""
    return np.asarray(z, dtype=np.float64).max(axis=1)


@register_combiner("min")
def min_logit(z: np.ndarray) -> np.ndarray:
    """The least suspicious model's calibrated log-odds (fake only when every model agrees)."""
    return np.asarray(z, dtype=np.float64).min(axis=1)


def combine(z: np.ndarray, name: str = DEFAULT_COMBINER) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[1] == 1:
        return z[:, 0].copy()
    return get_combiner(name)(z)
