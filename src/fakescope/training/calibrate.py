"""Fit a detector's calibration on labelled face crops (``fakescope calibrate``).

Reads any layout ``fakescope evaluate`` reads (extract-faces folders, ``real/``/``fake/`` folders, CSV
lists, datasets — raw media are cropped first, exactly as ``analyze`` crops), scores every crop with
the model, fits :func:`fakescope.calibration.fit_calibration` and chooses the uncertain band:

* ``high`` = the larger of 0.65 and the ``1 − target_fpr`` quantile of the calibrated P(fake) of the
  real faces, so at most ``target_fpr`` of single real faces score above the band;
* ``low`` = ``1 − high`` (the band is symmetric around 0.5, where the calibrated odds are even).

The data card written into the file lists the counts and the sha256 of every crop used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..calibration import Calibration, fit_calibration
from .records import FaceRecord

__all__ = ["choose_band", "calibrate_records", "score_records"]


@torch.inference_mode()
def score_records(model: nn.Module, records: list[FaceRecord], batch_size: int = 64, margin: float = 0.3,
                  on_progress=None) -> np.ndarray:
    """Raw logits of ``model`` on the crops of ``records``, in order (crops resized as analyze does)."""
    from .data import FaceDataset

    ds = FaceDataset(records, model.info.input_size, augment=None, sbi=False, margin=margin)
    out, xs = [], []

    def flush():
        if xs:
            out.append(model(torch.cat(xs)).float().reshape(-1).numpy())
            if on_progress:
                on_progress(sum(len(x) for x in xs))
            xs.clear()

    model.eval()
    for i in range(len(ds)):
        xs.append(ds[i][0])
        if len(xs) >= batch_size:
            flush()
    flush()
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def choose_band(real_probs: np.ndarray, target_fpr: float = 0.02, minimum: float = 0.65) -> tuple[float, float]:
    """Uncertain band from the calibrated P(fake) of real faces (see the module docstring)."""
    real_probs = np.asarray(real_probs, dtype=np.float64)
    q = float(np.quantile(real_probs, 1.0 - target_fpr)) if len(real_probs) else minimum
    high = round(min(max(minimum, q), 0.95), 3)
    return (round(1.0 - high, 3), high)


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def calibrate_records(
    model: nn.Module,
    records: list[FaceRecord],
    *,
    name: str,
    weights: str | None,
    method: str = "platt",
    target_fpr: float = 0.02,
    max_logit: float = 5.0,
    source: str = "",
    margin: float = 0.3,
    on_progress=None,
) -> Calibration:
    """Score, fit and choose the band; the returned calibration's ``fitted_on`` is its data card."""
    if not records:
        raise ValueError("no labelled faces to calibrate on")
    labels = np.array([r.label for r in records], dtype=np.int64)
    if labels.min() == labels.max():
        raise ValueError("calibration needs real and fake faces (found only one class)")
    z = score_records(model, records, margin=margin, on_progress=on_progress)
    files = sorted({(r.path, _sha(r.path)) for r in records})
    card = {
        "source": source or "fakescope calibrate",
        "n_real": int((labels == 0).sum()),
        "n_fake": int((labels == 1).sum()),
        "n_identities": len({r.identity or r.video or r.path for r in records}),
        "manipulations": sorted({r.manipulation for r in records if r.label == 1}),
        "target_fpr": target_fpr,
        "files_sha256": {Path(p).name if len(files) > 2000 else p: h for p, h in files},
    }
    cal = fit_calibration(z, labels, model=name, weights=weights, method=method, max_logit=max_logit,
                          fitted_on=card)  # fmt: skip
    band = choose_band(cal.probability(z[labels == 0]), target_fpr)
    return Calibration(**{**cal.__dict__, "band": band})
