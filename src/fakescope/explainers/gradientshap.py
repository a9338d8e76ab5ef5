"""GradientSHAP (Lundberg & Lee, NeurIPS 2017, arXiv:1705.07874; expected gradients), captum.

SHAP values approximated as the expected ``gradient × (x − b)`` over baselines ``b`` drawn from
``baselines`` (per face: black, blurred face, uniform noise by default), random points on the
path, and Gaussian input noise of std ``stdevs``; ``n_samples`` draws per face, one batch each.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from captum.attr import GradientShap as _GradientShap

from ._base import register_explainer
from ._gradient import GradientExplainer


@register_explainer
class GradientShap(GradientExplainer):
    """Expected gradients over a baseline distribution."""

    name = "gradientshap"
    paper = "Lundberg, Lee. A Unified Approach to Interpreting Model Predictions. NeurIPS 2017"
    defaults: ClassVar[dict[str, Any]] = {
        **GradientExplainer.defaults,
        "n_samples": 16,
        "stdevs": 0.09,
        "baselines": ("black", "blurred", "uniform"),
        "blur_sigma": None,
    }
    value_range = "signed, unnormalised; expected sum ≈ score(face) − E[score(baseline)]"

    def attribute(self, fwd, x):
        gs = _GradientShap(fwd)
        out = []
        for face in x.split(1):  # blurred baselines are per face
            refs = torch.cat([self.baseline(face, kind) for kind in self.params["baselines"]])
            out.append(
                gs.attribute(
                    face,
                    baselines=refs,
                    n_samples=int(self.params["n_samples"]),
                    stdevs=float(self.params["stdevs"]),
                    target=0,
                )
            )
        return torch.cat(out), {}
