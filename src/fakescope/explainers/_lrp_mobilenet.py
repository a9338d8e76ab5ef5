"""What zennit lacks for MobileNet-V2-style networks (written here; zennit ships canonizers for
torchvision ResNets and VGGs only, and no conserving rule for depthwise convolutions).

* :class:`InvertedResidualCanonizer` — torchvision's ``InvertedResidual`` adds its shortcut
  functionally (``x + self.conv(x)``); autograd then hands the *full* relevance to both summands,
  so every one of MobileNet-V2's 10 residual blocks doubles it (maps summed to ~2¹⁰ × the logit
  when biases are ignored). The canonizer routes the addition through a zennit ``Sum`` module,
  which zennit's base layer map gives the ``Norm`` rule: each summand receives the relevance in
  proportion to its share of the sum (exactly conserving), as zennit's ResNet canonizer does for
  ``BasicBlock``/``Bottleneck``.
* :class:`ConservingDepthwiseZPlus` — the z⁺ rule (biases ignored) for a depthwise convolution,
  rescaled per face so that the layer's input relevance sums to its output relevance. A depthwise
  3×3 filter sees one channel; after ReLU6 whole channels are zero over much of the face, and a unit
  whose 3×3 patch meets no positive weight is active through its (BatchNorm) bias alone. z⁺ can pass
  that unit's relevance to no input: measured on ``sbi_mobilenetv2`` these units hold 25–75 % of the
  relevance at each depthwise layer (99 % compounded over the network). The rescaling spreads it
  over the layer's other inputs in proportion to their relevance: the layer-level analogue of
  ignoring biases, which leaves the map's shape as z⁺ made it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from zennit.canonizers import AttributeCanonizer
from zennit.layer import Sum
from zennit.rules import ZPlus

__all__ = ["ConservingDepthwiseZPlus", "InvertedResidualCanonizer", "has_inverted_residual", "is_depthwise"]


def _inverted_residual_type() -> type | None:
    try:
        from torchvision.models.mobilenetv2 import InvertedResidual
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return None
    return InvertedResidual


def has_inverted_residual(model: nn.Module) -> str | None:
    """Name of the first torchvision ``InvertedResidual`` with a shortcut in ``model``, or None."""
    kind = _inverted_residual_type()
    if kind is None:
        return None
    return next((n for n, m in model.named_modules() if isinstance(m, kind) and m.use_res_connect), None)


def is_depthwise(module: nn.Module) -> bool:
    """A convolution with one filter group per input channel (and more than one channel)."""
    return isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d) and 1 < module.groups == module.in_channels


def _summed_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``InvertedResidual.forward`` with the shortcut addition done by the ``Sum`` module."""
    return self.canonizer_sum(torch.stack([x, self.conv(x)], dim=-1))


class InvertedResidualCanonizer(AttributeCanonizer):
    """Give every torchvision ``InvertedResidual`` with a shortcut an explicit zennit ``Sum``."""

    def __init__(self) -> None:
        super().__init__(self._attribute_map)

    @staticmethod
    def _attribute_map(name: str, module: nn.Module) -> dict[str, Any] | None:
        kind = _inverted_residual_type()
        if kind is not None and isinstance(module, kind) and module.use_res_connect:
            return {"forward": _summed_forward.__get__(module), "canonizer_sum": Sum()}
        return None


class ConservingDepthwiseZPlus(ZPlus):
    """z⁺ (``zero_params="bias"``), then each face's input relevance rescaled to the sum of its
    output relevance (left as is when the two sums differ in sign or nothing reached the input)."""

    def __init__(self, stabilizer: float = 1e-6) -> None:
        super().__init__(stabilizer=stabilizer, zero_params="bias")

    def backward(self, module, grad_input, grad_output):
        rel = super().backward(module, grad_input, grad_output)
        r = rel[0]
        if r is None:
            return rel
        want = grad_output[0].flatten(1).sum(1)
        got = r.flatten(1).sum(1)
        ok = (want * got > 0) & (got.abs() > 1e-30)
        scale = torch.where(ok, want / torch.where(ok, got, torch.ones_like(got)), torch.ones_like(got))
        return (r * scale.view(-1, *[1] * (r.ndim - 1)).to(r.dtype), *rel[1:])
