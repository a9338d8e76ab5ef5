"""Which perturbation baseline a detector scores as real-like ("neutral").

Occlusion, LIME, KernelSHAP and the deletion/insertion metrics replace parts of a face by a
baseline. If the detector calls the baseline itself fake (it does for a blurred face: the shipped
detectors give it p_fake 0.8–0.95, since blur is one of the traces self-blending leaves), removing
evidence *raises* the fake score and the sign of those maps is confounded. :func:`measure_neutral`
scores every candidate of :data:`CANDIDATES` on real faces and :func:`choose_neutral` picks the one
with the lowest median p_fake.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..explainers import make_baseline
from ..explainers._base import logits_of

__all__ = ["CANDIDATES", "choose_neutral", "measure_neutral"]

CANDIDATES = ("blurred", "mean", "lowpass", "real_mean", "gray", "black", "uniform")


@torch.no_grad()
def measure_neutral(
    model: nn.Module, faces: torch.Tensor, candidates: Sequence[str] = CANDIDATES, batch: int = 16
) -> dict[str, dict[str, float]]:
    """For each candidate: median, mean and 90th percentile of p_fake over the baselines of ``faces``
    (N×3×H×W RGB in [0, 1], real faces at the model's input size); ``"faces"`` holds the same for
    the faces themselves."""
    model.eval()

    def p_fake(x: torch.Tensor) -> np.ndarray:
        out = [torch.sigmoid(logits_of(model(c), len(c))) for c in x.split(batch)]
        return torch.cat(out).numpy()

    def summary(p: np.ndarray) -> dict[str, float]:
        return {"median_p_fake": float(np.median(p)), "mean_p_fake": float(p.mean()),
                "p90_p_fake": float(np.quantile(p, 0.9))}  # fmt: skip

    rows = {"faces": summary(p_fake(faces))}
    for kind in candidates:
        try:
            base = make_baseline(faces, kind, model=model)
        except Exception:  # noqa: BLE001 - e.g. no shipped real-face average: skip the candidate
            continue
        rows[kind] = summary(p_fake(base))
    return rows


def choose_neutral(rows: dict[str, dict[str, float]]) -> str:
    """The candidate with the lowest median p_fake (ties: mean, then the order of :data:`CANDIDATES`)."""
    cands = [k for k in rows if k != "faces"]
    if not cands:
        raise ValueError("no baseline candidate was measured")
    return min(cands, key=lambda k: (round(rows[k]["median_p_fake"], 4), rows[k]["mean_p_fake"]))
