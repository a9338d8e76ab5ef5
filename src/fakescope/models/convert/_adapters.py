"""What a converted checkpoint may change on a freshly built fakescope model besides its weights.

* :func:`set_input_normalization` — the source project's mean/std (its own preprocessing).
* Structural adapters, named in the converted file's metadata (``adapter``) and re-applied by the
  loader. Each keeps every parameter name, so the state dict is unchanged:

  ``efficientnet_pytorch_padding`` — ``efficientnet_pytorch`` pads its strided convolutions with a
  *static* "same" padding computed once, at construction, for the network's nominal image size
  (380 for B4), whatever size is fed later; timm computes "same" padding from the actual input.
  Both agree at the nominal size only. A network trained at another size (DeepfakeBench feeds
  256 px) needs the static amounts to be reproduced exactly; DeepfakeBench also replaced the stem
  with a plain, unpadded ``nn.Conv2d``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import WeightsError
from .._layers import Normalize

__all__ = ["StaticPadConv2d", "apply_adapter", "set_input_normalization", "static_same_padding"]


class StaticPadConv2d(nn.Conv2d):
    """``nn.Conv2d`` that zero-pads its input by fixed amounts (left, right, top, bottom) first.

    Same parameters (``weight``, ``bias``) as the convolution it replaces.
    """

    def __init__(self, conv: nn.Conv2d, pads: Sequence[int]) -> None:
        super().__init__(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation, conv.groups,
            conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype,
        )  # fmt: skip
        self.weight = conv.weight
        if conv.bias is not None:
            self.bias = conv.bias
        self.pads = tuple(int(p) for p in pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pads):
            x = F.pad(x, self.pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", static_pad={self.pads}"


def static_same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int, int]:
    """TF "same" padding of a ``size``×``size`` input, split as TF does (the extra pixel right/bottom)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return (total // 2, total - total // 2, total // 2, total - total // 2)


def _efficientnet_pytorch_padding(model: nn.Module, image_size: int, stem_padding: Sequence[int] | None = None) -> None:
    net = getattr(model, "backbone", None)
    if net is None or not hasattr(net, "conv_stem") or not hasattr(net, "blocks"):
        raise WeightsError(f"efficientnet_pytorch_padding needs a timm EfficientNet, not {type(model).__name__}")
    stem = net.conv_stem
    pads = stem_padding if stem_padding is not None else static_same_padding(image_size, stem.kernel_size[0],
                                                                             stem.stride[0])  # fmt: skip
    net.conv_stem = StaticPadConv2d(stem, pads)
    size = math.ceil(image_size / stem.stride[0])  # the sizes efficientnet_pytorch assumed at construction
    for stage in net.blocks:
        for block in stage:
            dw = block.conv_dw
            if dw.stride[0] > 1:
                block.conv_dw = StaticPadConv2d(dw, static_same_padding(size, dw.kernel_size[0], dw.stride[0],
                                                                        dw.dilation[0]))  # fmt: skip
                size = math.ceil(size / dw.stride[0])


_ADAPTERS = {"efficientnet_pytorch_padding": _efficientnet_pytorch_padding}


def apply_adapter(model: nn.Module, adapter: dict | None) -> None:
    """Apply the structural adapter described by ``adapter`` (``{"name": ..., **params}``) in place."""
    if not adapter:
        return
    params = dict(adapter)
    name = params.pop("name", None)
    if name not in _ADAPTERS:
        raise WeightsError(f"unknown model adapter {name!r} in converted checkpoint (newer fakescope?)")
    _ADAPTERS[name](model, **params)


class _NormalizeInput:
    """Forward pre-hook: normalise the first positional input with ``norm`` (a :class:`Normalize`)."""

    def __init__(self, norm: Normalize) -> None:
        self.norm = norm

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        return (self.norm(args[0]), *args[1:])


def set_input_normalization(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
    """Make ``model`` apply ``(x - mean) / std`` to its [0, 1] RGB input, in place.

    Models with a :class:`Normalize` named ``normalize`` get it replaced. MesoNet (its Keras
    original takes [0, 1] input as is) has none: a ``Normalize`` is added as ``input_normalize`` and
    run by a forward pre-hook on ``features``, the first module its ``forward_features`` calls.
    """
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    norm = getattr(model, "normalize", None)
    if isinstance(norm, Normalize):
        model.normalize = Normalize(mean, std)
        return
    if mean == (0.0, 0.0, 0.0) and std == (1.0, 1.0, 1.0):
        return
    features = getattr(model, "features", None)
    if norm is None and isinstance(features, nn.Module):
        model.input_normalize = Normalize(mean, std)
        features.register_forward_pre_hook(_NormalizeInput(model.input_normalize))
        return
    raise WeightsError(f"cannot set the input normalisation of {type(model).__name__}")
