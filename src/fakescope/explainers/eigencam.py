"""Eigen-CAM (Muhammad & Yeasin, IJCNN 2020, arXiv:2008.00299).

The projection of the CAM layer's (centred) activations on their first principal component; no
gradients, so the map does not depend on the target (fake and real give the same map), and the
SVD's sign is arbitrary (pytorch-grad-cam keeps the positive part).
"""

from __future__ import annotations

from pytorch_grad_cam import EigenCAM as _LibEigenCAM

from ._base import register_explainer
from ._cam import CAMExplainer, _Released


class _EigenCAM(_Released, _LibEigenCAM):
    pass


@register_explainer
class EigenCAM(CAMExplainer):
    """First principal component of the CAM layer's activations (pytorch-grad-cam)."""

    name = "eigencam"
    paper = "Muhammad, Yeasin. Eigen-CAM. IJCNN 2020. arXiv:2008.00299"
    cam_class = _EigenCAM
    uses_gradients = False
    sign = "non-negative: dominant activation pattern of the layer (not target-specific)"
