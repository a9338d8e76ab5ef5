"""Several checkpoints of one published detector as one model (e.g. the DFDC winner's 7 EfficientNet-B7s).

:class:`MeanProbabilityEnsemble` runs every member on the same input and returns the log-odds of
the mean of their probabilities: ``logit(mean_i sigmoid(z_i))`` — the averaging the DFDC winner's
``predict_folder.py`` does across its models. Members apply their own normalisation, so they only
need the same input size. This is a published model's own combination, not a user-chosen ensemble
of different detectors.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MeanProbabilityEnsemble"]

_EPS = 1e-7  # probabilities are clamped to [eps, 1 - eps] so that the logit stays finite


class MeanProbabilityEnsemble(nn.Module):
    """N×3×H×W RGB in [0, 1] → N logits of the mean member probability."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.sigmoid(m(x)) for m in self.members]).mean(0)
        probs = probs.clamp(_EPS, 1 - _EPS)
        return torch.log(probs) - torch.log1p(-probs)

    def extra_repr(self) -> str:
        bound = math.log(1 / _EPS - 1)
        return f"members={len(self.members)}, combine=mean-probability (|logit| <= {bound:.1f})"
