"""DenseNet-121 (Huang et al., CVPR 2017) with a 1-logit head.

Architecture: timm ``densenet121`` (torchvision-compatible parameter names under ``backbone.``),
randomly initialised. Input 224×224 RGB in [0, 1], ImageNet mean/std inside the model. Output N
logits (log-odds of fake). Default Grad-CAM layer ``backbone.features.norm5``: the final
BatchNorm + ReLU, N×1024×7×7.
"""

from __future__ import annotations

from ._layers import IMAGENET_MEAN, IMAGENET_STD, TimmClassifier
from ._registry import ModelInfo, register_model

__all__ = ["densenet121"]


@register_model(
    ModelInfo(
        name="densenet121",
        family="densenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        cam_layer="backbone.features.norm5",
        licence="Apache-2.0 (timm code); no weights",
        paper="G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger. Densely Connected Convolutional "
        "Networks. CVPR 2017 (arXiv:1608.06993)",
        source="https://github.com/huggingface/pytorch-image-models (timm densenet121)",
    )
)
def densenet121(**kwargs) -> TimmClassifier:
    """DenseNet-121, 224 px, 1 logit. ``kwargs`` go to timm (e.g. ``drop_rate``)."""
    return TimmClassifier("densenet121", IMAGENET_MEAN, IMAGENET_STD, **kwargs)
