"""LayerCAM (Jiang et al., IEEE TIP 2021): ``cam = ReLU(Σ_k ReLU(g_k) ⊙ A_k)``.

Positive gradients weight each location separately, which keeps detail at shallow layers.
"""

from __future__ import annotations

import torch
from pytorch_grad_cam import LayerCAM as _LibLayerCAM

from ._base import register_explainer
from ._cam import CAMExplainer, _Released


class _LayerCAM(_Released, _LibLayerCAM):
    pass


@register_explainer
class LayerCAM(CAMExplainer):
    """Location-wise positive-gradient weighting of the CAM layer."""

    name = "layercam"
    paper = "Jiang et al. LayerCAM. IEEE Trans. Image Processing 30, 2021. doi:10.1109/TIP.2021.3089943"
    cam_class = _LayerCAM

    def cam_fast(self, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        return (grads.clamp_min(0) * acts).sum(dim=1)
