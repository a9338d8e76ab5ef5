"""EfficientNet-B4 with a learned spatial attention map (Bonettini et al., ICPR 2020: "EfficientNetB4Att").

Paper: N. Bonettini, E. D. Cannas, S. Mandelli, L. Bondi, P. Bestagini, S. Tubaro, "Video Face
Manipulation Detection Through Ensemble of CNNs", ICPR 2020 (arXiv:2004.07676). Reference code
(GPL-3.0): https://github.com/polimi-ispl/icpr2020dfdc, ``architectures/fornet.py``
(``EfficientNetAutoAtt``): after the 10th MBConv block of EfficientNet-B4 (index 9, the end of the
third stage, 56 channels) a 1×1 convolution ``attconv`` (56 → 1) gives a map
``att = sigmoid(attconv(x))``; the features are multiplied by it (``x = x * att``) and the network
continues. This is timm's ``tf_efficientnet_b4`` (the same network as ``efficientnet_pytorch`` B4)
with that multiplication after ``blocks[2]``.

Input N×3×H×W RGB in [0, 1]; ImageNet mean/std inside (as the reference's ``get_normalizer``);
output N logits (log-odds of fake). ``attention(x)`` returns the N×1×h×w map itself (an explanation
the network computes; ``get_attention`` in the reference). Randomly initialised: weights come from a
checkpoint (``fakescope weights pull icpr2020-efficientnetb4att-dfdc``).
"""

from __future__ import annotations

import torch
from torch import nn

from ._layers import IMAGENET_MEAN, IMAGENET_STD, TimmClassifier
from ._registry import ModelInfo, register_model

__all__ = ["EfficientNetAtt"]

_PAPER = (
    "N. Bonettini, E. D. Cannas, S. Mandelli, L. Bondi, P. Bestagini, S. Tubaro. Video Face Manipulation "
    "Detection Through Ensemble of CNNs. ICPR 2020 (arXiv:2004.07676)"
)


class EfficientNetAtt(TimmClassifier):
    """A timm EfficientNet with ``x * sigmoid(attconv(x))`` after stage ``att_stage``."""

    def __init__(self, arch: str = "tf_efficientnet_b4", att_stage: int = 2, **timm_kwargs) -> None:
        super().__init__(arch, IMAGENET_MEAN, IMAGENET_STD, **timm_kwargs)
        self.att_stage = att_stage
        channels = self.backbone.blocks[att_stage][-1].conv_pwl.out_channels
        self.attconv = nn.Conv2d(channels, 1, kernel_size=1)

    def _stem_to_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.backbone
        x = net.bn1(net.conv_stem(self.normalize(x)))
        for stage in net.blocks[: self.att_stage + 1]:
            x = stage(x)
        return x, torch.sigmoid(self.attconv(x))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → the N×1×h×w attention map in [0, 1] (h = H/8)."""
        return self._stem_to_attention(x)[1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone
        x, att = self._stem_to_attention(x)
        x = x * att
        for stage in net.blocks[self.att_stage + 1 :]:
            x = stage(x)
        return net.bn2(net.conv_head(x))


@register_model(
    ModelInfo(
        name="tf_efficientnet_b4_att",
        family="efficientnet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        cam_layer="backbone.bn2",
        licence="Apache-2.0 (code written here; the architecture follows GPL-3.0 reference code); no weights",
        paper=_PAPER,
        source="https://github.com/polimi-ispl/icpr2020dfdc (architectures/fornet.py EfficientNetAutoAttB4)",
    )
)
def tf_efficientnet_b4_att(**kwargs) -> EfficientNetAtt:
    """EfficientNet-B4 + attention after stage 2 (ICPR 2020 EfficientNetB4Att), 224 px, 1 logit."""
    return EfficientNetAtt("tf_efficientnet_b4", 2, **kwargs)
