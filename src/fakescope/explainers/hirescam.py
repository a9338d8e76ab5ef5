"""HiResCAM (Draelos & Carin, 2020, arXiv:2011.08891): ``cam = ReLU(Σ_k g_k ⊙ A_k)``.

Element-wise gradient × activation instead of Grad-CAM's spatially averaged gradient; the map is
faithful to the model's computation for CNNs that end in global average pooling + linear.
"""

from __future__ import annotations

import torch
from pytorch_grad_cam import HiResCAM as _LibHiResCAM

from ._base import register_explainer
from ._cam import CAMExplainer, _Released


class _HiResCAM(_Released, _LibHiResCAM):
    pass


@register_explainer
class HiResCAM(CAMExplainer):
    """Element-wise gradient × activation at the CAM layer, summed over channels."""

    name = "hirescam"
    paper = "Draelos, Carin. Use HiResCAM instead of Grad-CAM. arXiv:2011.08891"
    cam_class = _HiResCAM

    def cam_fast(self, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        return (grads * acts).sum(dim=1)
