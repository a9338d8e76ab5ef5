"""Gradient-attribution family over captum: input-space attributions N×3×H×W of the target score,
reduced over colour channels to one map per face.

The base wraps the model in :class:`~._base.SignedLogit` (``±logit`` as an N×1 output, captum
``target=0``), seeds torch's RNG for stochastic methods without disturbing the caller's RNG, and
reduces channels: ``"sum"`` keeps the sign and the completeness of path methods (the map sums to the
attribution total); ``"max_abs"`` is the classic saliency map (largest |value| over channels).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ._base import (
    BinaryLogitTarget,
    Explainer,
    ExplainerError,
    SignedLogit,
    logits_of,
    make_baseline,
    seeded,
)

__all__ = ["GradientExplainer", "SIGNED", "reduce_channels"]

SIGNED = "signed: positive pushes the score toward the target, negative away from it"
UNSIGNED = "unsigned magnitude of the target score's sensitivity (no direction)"


def reduce_channels(attr: torch.Tensor, how: str) -> torch.Tensor:
    """N×C×H×W → N×H×W by ``"sum"``, ``"max_abs"`` (max |a| over C) or ``"abs_sum"``."""
    if how == "sum":
        return attr.sum(dim=1)
    if how == "max_abs":
        return attr.abs().amax(dim=1)
    if how == "abs_sum":
        return attr.abs().sum(dim=1)
    raise ExplainerError(f"unknown channel reduction {how!r} (known: sum, max_abs, abs_sum)")


class GradientExplainer(Explainer):
    """Base of the captum gradient methods; subclasses implement :meth:`attribute`."""

    family = "gradient"
    defaults: ClassVar[dict[str, Any]] = {"batch_size": 16, "bf16": False, "reduce": "sum", "seed": 0}
    sign = SIGNED
    value_range = "signed, unnormalised (target-logit units)"
    #: True when the method's only forward pass is on the unperturbed faces (logits come for free)
    forward_is_input: ClassVar[bool] = False

    def attribute(self, fwd: SignedLogit, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """Attributions N×3×H×W of ``fwd`` (target score, captum target 0) and per-face extras."""
        raise NotImplementedError

    def describe(self) -> tuple[str, str]:
        if self.params["reduce"] == "sum":
            return self.sign, self.value_range
        return UNSIGNED, "≥ 0, unnormalised"

    def baseline(self, x: torch.Tensor, kind: Any = None) -> torch.Tensor:
        kind = self.params.get("baseline", "black") if kind is None else kind
        return make_baseline(x, kind, sigma=self.params.get("blur_sigma"), seed=self.params["seed"])

    def _explain(self, x: torch.Tensor, target: BinaryLogitTarget):
        fwd = SignedLogit(self.model, target, bf16=self.params["bf16"])
        x = x.detach().requires_grad_(True)
        self._logits = None  # a method that scores the unperturbed faces anyway may set it
        with seeded(self.params["seed"]):
            attr, extras = self.attribute(fwd, x)
        x = x.detach()
        if self._logits is not None:
            logits = self._logits
        elif self.forward_is_input and fwd.last is not None and len(fwd.last) == len(x):
            logits = fwd.last * target.sign
        else:
            with torch.no_grad():
                logits = logits_of(self.model(x), len(x))
        return reduce_channels(attr.detach().float(), self.params["reduce"]), logits, extras


# -------------------------------------------------------------------------- model-structure checks

ATTENTION_TYPES: tuple[type[nn.Module], ...] = (nn.MultiheadAttention,)


def is_attention(module: nn.Module) -> bool:
    """True for attention blocks (torch MultiheadAttention, timm Attention-like modules, probes)."""
    name = type(module).__name__
    return isinstance(module, ATTENTION_TYPES) or "Attention" in name or name.endswith("MLA")


def first_attention(model: nn.Module) -> str | None:
    for name, m in model.named_modules():
        if name and is_attention(m):
            return name
    return None
