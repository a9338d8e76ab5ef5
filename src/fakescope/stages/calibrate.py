"""The *calibrate* stage: raw logits → calibrated log-odds per model (fakescope.calibration), combined
into one per face for an ensemble (fakescope.combine). Also where each model's calibration is loaded."""

from __future__ import annotations

import logging

import numpy as np

from ..calibration import Calibration, shipped_calibration
from ..combine import combine
from ..errors import WeightsError
from .score import Member

log = logging.getLogger(__name__)

# the calibration source of published weights with no calibration of ours (the verdict's headline says so)
UNCALIBRATED = ("uncalibrated: published weights without a calibration of ours; fit one on labelled faces with "
                "`fakescope calibrate` and pass it with --calibration")


def load_calibration(name: str, model, source: str | None) -> Calibration:
    """The calibration of ``model`` (registered as ``name``): ``None``/"none" → raw scores, "default" → the
    one shipped with its weights (none shipped → raw, said so), else a file from ``fakescope calibrate``."""
    if source is None or source == "none":  # raw scores, unclipped
        return Calibration(model=name, weights=model.weights_tag, max_logit=1e6,
                           fitted_on={"source": "none (raw scores)"})
    if source == "default":
        cal = shipped_calibration(name, model.weights_tag)
        if cal is None and model.weights_tag == "installed":  # pulled or added published weights
            log.warning("%s: published weights without a calibration of ours: scores are uncalibrated "
                        "(fit one with `fakescope calibrate --model %s`)", name, name)
            return Calibration(model=name, weights=model.weights_tag, max_logit=1e6,
                               fitted_on={"source": UNCALIBRATED})
        if cal is None:
            log.warning("%s/%s has no shipped calibration: scores are the raw model's", name, model.weights_tag)
            return Calibration(model=name, weights=model.weights_tag, max_logit=1e6,
                               fitted_on={"source": "none shipped"})
        return cal
    try:
        cal = Calibration.load(source)
    except ValueError as e:
        raise WeightsError(str(e)) from None
    if cal.model and cal.model != name:
        raise WeightsError(f"{source}: calibration was fitted for model {cal.model!r}, not {name!r}")
    return cal


class CalibrateStage:
    def __init__(self, members: list[Member], combiner: str) -> None:
        self.members = members
        self.combiner = combiner

    def __call__(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """N×M raw logits → (N×M calibrated log-odds, N combined log-odds)."""
        cal = np.stack([m.calibration.apply(raw[:, j]) for j, m in enumerate(self.members)], axis=1)
        return cal, combine(cal, self.combiner)
