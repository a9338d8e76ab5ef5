"""EfficientNet in the ``efficientnet_pytorch`` layout (lukemelas/EfficientNet-PyTorch) → timm names.

``efficientnet_pytorch`` (used by SelfBlendedImages, DeepfakeBench's EfficientNet-B4 and the
Efficient ViT of Coccomini et al.) and timm's ``tf_efficientnet_b*`` are the same network (TF
"same" padding, BatchNorm eps 1e-3, Swish, squeeze-excitation with biased 1×1 convs), with other
names. Its flat ``_blocks.<i>`` are timm's ``blocks.<stage>.<j>`` in order; inside a block names
depend on the block type: the first stage of every B0–B7 has no expansion (timm
``DepthwiseSeparableConv``), all others do (``InvertedResidual``).

The mapping is written from timm's side (``source_key(timm_key)``) so that a tensor missing from a
checkpoint is reported under its ``efficientnet_pytorch`` name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch

from ...errors import WeightsError

__all__ = ["EffnetNames", "effnet_variant"]

# timm module name → efficientnet_pytorch module name
_TOP = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1", "classifier": "_fc"}
_DS = {  # DepthwiseSeparableConv (no expansion)
    "conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand",
    "conv_pw": "_project_conv", "bn2": "_bn2",
}  # fmt: skip
_IR = {  # InvertedResidual
    "conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
    "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand", "conv_pwl": "_project_conv", "bn3": "_bn2",
}  # fmt: skip
_BLOCK = re.compile(r"^blocks\.(\d+)\.(\d+)\.(.+)\.([a-z_]+)$")

# (1×1 head conv channels, number of MBConv blocks) → B-index; the same for both libraries
_VARIANTS = {(1280, 16): 0, (1280, 23): 1, (1408, 23): 2, (1536, 26): 3, (1792, 32): 4, (2048, 39): 5,
             (2304, 45): 6, (2560, 55): 7}  # fmt: skip


def effnet_variant(sd: Mapping[str, torch.Tensor], prefix: str, fmt: str) -> int:
    """B-index (0–7) of the ``efficientnet_pytorch`` network stored under ``prefix`` in ``sd``."""
    head = sd.get(f"{prefix}_conv_head.weight")
    blocks = {int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"_blocks\.(\d+)\.", k))}
    if head is None or not blocks:
        raise WeightsError(f"{fmt} checkpoint: no EfficientNet under {prefix!r} ({prefix}_conv_head.weight missing)")
    key = (int(head.shape[0]), max(blocks) + 1)
    if key not in _VARIANTS:
        raise WeightsError(
            f"{fmt} checkpoint: an EfficientNet with a {key[0]}-channel head and {key[1]} blocks is none of B0–B7"
        )
    return _VARIANTS[key]


def timm_effnet_variant(sd: Mapping[str, torch.Tensor], prefix: str, fmt: str) -> int:
    """B-index of a timm-layout EfficientNet stored under ``prefix`` (``conv_head``, ``blocks.s.j``)."""
    head = sd.get(f"{prefix}conv_head.weight")
    blocks = {m.group(1, 2) for k in sd if (m := re.match(re.escape(prefix) + r"blocks\.(\d+)\.(\d+)\.", k))}
    if head is None or not blocks:
        raise WeightsError(f"{fmt} checkpoint: no timm EfficientNet under {prefix!r}")
    key = (int(head.shape[0]), len(blocks))
    if key not in _VARIANTS:
        raise WeightsError(
            f"{fmt} checkpoint: an EfficientNet with a {key[0]}-channel head and {key[1]} blocks is none of B0–B7"
        )
    return _VARIANTS[key]


class EffnetNames:
    """timm key → ``efficientnet_pytorch`` key, for the block structure of one timm network.

    ``timm_keys`` are the keys of the timm EfficientNet (without any wrapper prefix).
    """

    def __init__(self, timm_keys: Iterable[str]) -> None:
        keys = list(timm_keys)
        blocks = sorted({(int(m.group(1)), int(m.group(2))) for k in keys if (m := _BLOCK.match(k))})
        self.index = {b: i for i, b in enumerate(blocks)}
        self.inverted = {(int(m.group(1)), int(m.group(2))) for k in keys if (m := _BLOCK.match(k)) and
                         m.group(3) == "conv_pwl"}  # fmt: skip

    def source_key(self, key: str) -> str:
        """``blocks.1.0.conv_dw.weight`` → ``_blocks.2._depthwise_conv.weight`` (for B4)."""
        m = _BLOCK.match(key)
        if m:
            stage, j, module, param = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
            table = _IR if (stage, j) in self.inverted else _DS
            return f"_blocks.{self.index[(stage, j)]}.{table[module]}.{param}"
        module, param = key.rsplit(".", 1)
        return f"{_TOP[module]}.{param}"


def plan_effnet_backbone(plan, target: Iterable[str], source_prefix: str) -> None:
    """Plan the copy of every ``backbone.*`` tensor of a timm EfficientNet except its classifier from
    an efficientnet_pytorch state dict whose keys start with ``source_prefix`` (e.g. ``"net."``)."""
    target = list(target)
    names = EffnetNames(k.removeprefix("backbone.") for k in target)
    for t in target:
        if not t.startswith("backbone.classifier."):
            plan.copy(t, source_prefix + names.source_key(t.removeprefix("backbone.")))
