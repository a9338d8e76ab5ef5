"""Kernel SHAP (Lundberg & Lee, NeurIPS 2017, arXiv:1705.07874) over SLIC superpixels, captum.

Shapley values of the face's superpixels (absent = baseline) estimated from ``n_samples`` coalitions
weighted by the Shapley kernel, ``perturbations_per_eval`` per forward pass. The values of a face
sum approximately to ``score(face) − score(baseline)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from captum.attr import KernelShap as _KernelShap

from ._base import register_explainer
from ._perturbation import PerturbationExplainer


@register_explainer
class KernelShap(PerturbationExplainer):
    """Shapley values of superpixels by weighted linear regression."""

    name = "kernelshap"
    paper = "Lundberg, Lee. A Unified Approach to Interpreting Model Predictions. NeurIPS 2017"
    defaults: ClassVar[dict[str, Any]] = {**PerturbationExplainer.defaults, "n_samples": 200}

    def attribute_face(self, fwd, face, baseline):
        return self.sample_superpixels(_KernelShap(fwd), face, baseline)
