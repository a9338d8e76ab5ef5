"""Integrated Gradients (Sundararajan, Taly, Yan, ICML 2017, arXiv:1703.01365), captum.

``IG_i = (x_i − b_i) ∫₀¹ ∂score/∂x_i (b + α (x − b)) dα`` with ``n_steps`` Gauss–Legendre nodes,
evaluated ``internal_batch_size`` interpolated faces at a time (``"auto"``: 8 on a CPU, 32 on a
GPU). Completeness: the attributions of a face sum to ``score(x) − score(b)``; the per-face
residual is ``extras["convergence_delta"]``.
Baselines: ``"black"``, ``"blurred"`` (Gaussian blur of the face, ``blur_sigma`` px), ``"uniform"``
noise (``seed``), ``"mean"`` colour, a number or a tensor.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from captum.attr import IntegratedGradients as _IG

from ._base import register_explainer
from ._gradient import GradientExplainer


@register_explainer
class IntegratedGradients(GradientExplainer):
    """Path-integrated gradients from a baseline face to the face."""

    name = "integrated_gradients"
    aliases = ("ig",)
    paper = "Sundararajan, Taly, Yan. Axiomatic Attribution for Deep Networks. ICML 2017. arXiv:1703.01365"
    defaults: ClassVar[dict[str, Any]] = {
        **GradientExplainer.defaults,
        "n_steps": 32,
        "integration": "gausslegendre",
        "baseline": "black",
        "blur_sigma": None,
        "internal_batch_size": "auto",
    }
    value_range = "signed, unnormalised; a face's map sums to score(face) − score(baseline)"

    def attribute(self, fwd, x):
        base = self.baseline(x)
        attr = _IG(fwd).attribute(
            x,
            baselines=base,
            target=0,
            n_steps=int(self.params["n_steps"]),
            method=self.params["integration"],
            internal_batch_size=self.inner_batch("internal_batch_size", x.device),
        )
        # completeness residual Σ IG − (score(x) − score(b)); one forward pass on x and b together
        with torch.no_grad():
            scores = fwd(torch.cat([x.detach(), base]))[:, 0]
        n = len(x)
        delta = attr.detach().flatten(1).sum(1) - (scores[:n] - scores[n:])
        self._logits = scores[:n] * fwd.target.sign
        return attr, {"convergence_delta": delta.float()}
