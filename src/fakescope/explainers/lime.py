"""LIME (Ribeiro, Singh, Guestrin, KDD 2016, arXiv:1602.04938) over SLIC superpixels, captum ``Lime``.

``n_samples`` random on/off patterns of the face's superpixels (off = baseline), scored by the model
``perturbations_per_eval`` at a time, weighted by ``sqrt(exp(−d²/w²))`` with ``d`` the cosine
distance of the pattern to all-on and ``w = kernel_width`` (as in the ``lime`` package's image
explainer), fitted with ridge regression (``alpha``); each superpixel's coefficient is its value.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime as _Lime

from ._base import register_explainer
from ._perturbation import PerturbationExplainer


def _lime_kernel(width: float):
    def similarity(original, perturbed, interpretable, **kwargs) -> torch.Tensor:
        z = interpretable.float().flatten()
        norm = z.norm() * math.sqrt(z.numel())
        d = 1.0 - (z.sum() / norm if norm > 0 else torch.tensor(0.0))
        return torch.sqrt(torch.exp(-(d**2) / width**2))

    return similarity


@register_explainer
class Lime(PerturbationExplainer):
    """Local linear surrogate over superpixels."""

    name = "lime"
    paper = "Ribeiro, Singh, Guestrin. 'Why Should I Trust You?'. KDD 2016. arXiv:1602.04938"
    defaults: ClassVar[dict[str, Any]] = {
        **PerturbationExplainer.defaults,
        "n_samples": 200,
        "kernel_width": 0.25,
        "alpha": 1.0,
    }

    def attribute_face(self, fwd, face, baseline):
        lime = _Lime(
            fwd,
            interpretable_model=SkLearnRidge(alpha=float(self.params["alpha"])),
            similarity_func=_lime_kernel(float(self.params["kernel_width"])),
        )
        return self.sample_superpixels(lime, face, baseline)
