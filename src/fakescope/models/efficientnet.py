"""EfficientNet-B0…B7 (Tan & Le, ICML 2019) with a 1-logit head, in timm's two flavours.

* ``efficientnet_b0`` … ``efficientnet_b7``: timm's PyTorch-native layout (symmetric padding,
  BatchNorm eps 1e-5).
* ``tf_efficientnet_b0`` … ``tf_efficientnet_b7``: the TensorFlow-port layout (TF "same"
  padding, BatchNorm eps 1e-3) — the variant deepfake detectors built on TF-trained checkpoints use
  (e.g. the DFDC winner, Seferbekov 2020: ``tf_efficientnet_b7_ns``).

Both are randomly initialised (no deepfake weights exist offline). Input size is the paper's
resolution per variant, which is timm's ``tf_efficientnet_b*`` config: B0 224, B1 240, B2 260,
B3 300, B4 380, B5 456, B6 528, B7 600 — used for both flavours (timm's own ``efficientnet_b*``
configs list the sizes its ImageNet weights were trained at, e.g. 320/384 for B4, which do not
apply to untrained models). RGB in [0, 1], ImageNet mean/std applied inside. Output N logits.
Default Grad-CAM layer ``backbone.bn2``: BatchNorm + SiLU after the 1×1 head conv
(N×1280·width×H/32×W/32).
"""

from __future__ import annotations

from ._layers import IMAGENET_MEAN, IMAGENET_STD, TimmClassifier
from ._registry import ModelInfo, register_model

__all__ = ["EFFICIENTNET_INPUT_SIZE"]

# Paper / TF reference resolution per variant.
EFFICIENTNET_INPUT_SIZE = {0: 224, 1: 240, 2: 260, 3: 300, 4: 380, 5: 456, 6: 528, 7: 600}

_PAPER = (
    "M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. "
    "ICML 2019 (arXiv:1905.11946)"
)
_SOURCE = "https://github.com/huggingface/pytorch-image-models (timm {arch})"


def _register(arch: str, size: int) -> None:
    @register_model(
        ModelInfo(
            name=arch,
            family="efficientnet",
            input_size=size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            cam_layer="backbone.bn2",
            licence="Apache-2.0 (timm code); no weights",
            paper=_PAPER,
            source=_SOURCE.format(arch=arch),
        )
    )
    def _build(**kwargs) -> TimmClassifier:
        return TimmClassifier(arch, IMAGENET_MEAN, IMAGENET_STD, **kwargs)

    _build.__name__ = _build.__qualname__ = arch
    _build.__doc__ = f"{arch}, {size} px, 1 logit. ``kwargs`` go to timm (e.g. ``drop_path_rate``)."


for _b, _size in EFFICIENTNET_INPUT_SIZE.items():
    _register(f"efficientnet_b{_b}", _size)
    _register(f"tf_efficientnet_b{_b}", _size)
