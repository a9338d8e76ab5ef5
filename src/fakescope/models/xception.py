"""Xception (Chollet, CVPR 2017) with a 1-logit head, as used by FaceForensics++.

Architecture: timm ``legacy_xception`` (the Cadene/pretrainedmodels port of the Keras Xception,
the same layout FaceForensics++ trained on deepfakes), randomly initialised. Input 299×299 RGB in
[0, 1], normalised with mean = std = 0.5 (i.e. to [-1, 1]) inside the model. Output N logits
(log-odds of fake). The default Grad-CAM layer is ``backbone.act4``: the ReLU after the last
separable conv (N×2048×10×10 at 299 px).

No deepfake-trained Xception weights exist offline; checkpoint importers (e.g. FaceForensics++
``xception`` checkpoints) load onto ``model.backbone``.
"""

from __future__ import annotations

from ._layers import TimmClassifier
from ._registry import ModelInfo, register_model

__all__ = ["xception"]

_PAPER = (
    "F. Chollet. Xception: Deep Learning with Depthwise Separable Convolutions. CVPR 2017 "
    "(arXiv:1610.02357); used for deepfakes by Rössler et al., FaceForensics++, ICCV 2019"
)
_SOURCE = "https://github.com/huggingface/pytorch-image-models (timm legacy_xception)"


@register_model(
    ModelInfo(
        name="xception",
        family="xception",
        input_size=299,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        cam_layer="backbone.act4",
        licence="Apache-2.0 (timm code); no weights",
        paper=_PAPER,
        source=_SOURCE,
    )
)
def xception(**kwargs) -> TimmClassifier:
    """Xception, 299 px, 1 logit. ``kwargs`` go to timm (e.g. ``drop_rate``)."""
    return TimmClassifier("legacy_xception", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), **kwargs)
