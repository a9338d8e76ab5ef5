"""Grad-CAM (Selvaraju et al., ICCV 2017, arXiv:1610.02391).

``w_k = mean_{i,j} ∂score/∂A_k[i, j]``; ``cam = ReLU(Σ_k w_k A_k)``.
"""

from __future__ import annotations

import torch
from pytorch_grad_cam import GradCAM as _LibGradCAM

from ._base import register_explainer
from ._cam import CAMExplainer, _Released


class _GradCAM(_Released, _LibGradCAM):
    pass


@register_explainer
class GradCAM(CAMExplainer):
    """Gradient-weighted class activation map of the CAM layer."""

    name = "gradcam"
    paper = "Selvaraju et al. Grad-CAM. ICCV 2017. arXiv:1610.02391"
    cam_class = _GradCAM

    def cam_fast(self, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        weights = grads.mean(dim=(2, 3), keepdim=True)
        return (weights * acts).sum(dim=1)
