"""Grad-CAM++ (Chattopadhay et al., WACV 2018, arXiv:1710.11063).

Channel weights ``w_k = Σ_ij α_kij ReLU(g_kij)`` with ``α = g² / (2 g² + Σ_ij A_k · g³)`` (eq. 19,
zero where the gradient is zero), as in pytorch-grad-cam; ``cam = ReLU(Σ_k w_k A_k)``.
"""

from __future__ import annotations

import torch
from pytorch_grad_cam import GradCAMPlusPlus as _LibGradCAMPlusPlus

from ._base import register_explainer
from ._cam import CAMExplainer, _Released


class _GradCAMPlusPlus(_Released, _LibGradCAMPlusPlus):
    pass


@register_explainer
class GradCAMPlusPlus(CAMExplainer):
    """Grad-CAM++: pixel-wise weighting of positive gradients."""

    name = "gradcam++"
    aliases = ("gradcampp", "gradcam_plusplus")
    paper = "Chattopadhay et al. Grad-CAM++. WACV 2018. arXiv:1710.11063"
    cam_class = _GradCAMPlusPlus

    def cam_fast(self, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        g2 = grads.pow(2)
        g3 = g2 * grads
        sum_a = acts.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        weights = (grads.clamp_min(0) * alpha).sum(dim=(2, 3), keepdim=True)
        return (weights * acts).sum(dim=1)

