"""Transformer family: maps from the attention probabilities (N×heads×T×T, after softmax) of every
self-attention layer, in forward order.

Attention is read from the model's :class:`~fakescope.models._layers.AttentionProbe` modules or, for
plain timm blocks, from the input of each attention module's ``attn_drop``; modules with a
``fused_attn`` switch run unfused while explaining (fused kernels never materialise the matrix), and
everything is restored afterwards, also after an exception. The map is the row of the class token
(or, for models that average their tokens, the mean row) over the patch tokens, laid out on the
patch grid, upsampled to the face and (``normalize``) scaled to [0, 1].
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from ..models._layers import AttentionProbe
from ._base import (
    BinaryLogitTarget,
    Explainer,
    ExplainerError,
    UnsupportedModelError,
    _model_name,
    autocast,
    logits_of,
    minmax,
    token_grid,
)

__all__ = ["AttentionExplainer", "attention_sites", "record_attention"]


def attention_sites(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` whose forward *input* is an attention-probability tensor, in module order."""
    sites = []
    for name, m in model.named_modules():
        if isinstance(m, AttentionProbe):
            sites.append((name, m))
        elif hasattr(m, "fused_attn") and isinstance(getattr(m, "attn_drop", None), nn.Module):
            if not isinstance(m.attn_drop, AttentionProbe):
                sites.append((f"{name}.attn_drop" if name else "attn_drop", m.attn_drop))
    return sites


@contextlib.contextmanager
def record_attention(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect attention probabilities of every forward call (in call order) while active."""
    attns: list[torch.Tensor] = []
    fused = [(m, m.fused_attn) for m in model.modules() if isinstance(getattr(m, "fused_attn", None), bool)]
    handles = []
    try:
        for m, _ in fused:
            m.fused_attn = False
        for _, site in attention_sites(model):
            handles.append(site.register_forward_pre_hook(lambda mod, args: attns.append(args[0])))
        yield attns
    finally:
        for h in handles:
            h.remove()
        for m, flag in fused:
            m.fused_attn = flag
        attns.clear()


def _pools_by_class_token(model: nn.Module, prefix: int) -> bool:
    if prefix == 0:
        return False
    for m in model.modules():
        pool = getattr(m, "global_pool", None)
        if isinstance(pool, str):
            return pool == "token"
    return True


class AttentionExplainer(Explainer):
    """Base of the attention methods; subclasses implement :meth:`combine` (and set ``needs_grad``)."""

    family = "attention"
    defaults: ClassVar[dict[str, Any]] = {"normalize": True, "batch_size": 16, "bf16": False}
    needs_grad: ClassVar[bool] = False
    sign = "non-negative: higher = more attention flow / relevance to the output token"

    @classmethod
    def unsupported(cls, model: nn.Module, x: torch.Tensor | None = None) -> str | None:
        if not attention_sites(model):
            return (f"model {_model_name(model)!r} has no self-attention layers; {cls.name} needs a "
                    "transformer (ViT-style) model — use a CAM or gradient method")
        return None

    def describe(self) -> tuple[str, str]:
        rng = "[0, 1], min-max normalised per map" if self.params["normalize"] else "≥ 0, unnormalised"
        return self.sign, rng

    def _finish(self, maps: torch.Tensor) -> torch.Tensor:
        return minmax(maps) if self.params["normalize"] else maps

    def combine(self, attns: list[torch.Tensor], grads: list[torch.Tensor] | None) -> torch.Tensor:
        """N×T×T token-to-token matrix from per-layer N×heads×T×T attentions (and gradients)."""
        raise NotImplementedError

    def _explain(self, x: torch.Tensor, target: BinaryLogitTarget):
        n = len(x)
        with record_attention(self.model) as attns:
            ctx = torch.enable_grad() if self.needs_grad else torch.no_grad()
            with ctx, autocast(x.device, self.params["bf16"]):
                xg = x.detach().requires_grad_(self.needs_grad)
                logits = logits_of(self.model(xg), n)
            if not attns:
                raise UnsupportedModelError(f"{self.name}: no attention was recorded for {_model_name(self.model)!r}")
            bad = [tuple(a.shape) for a in attns if a.ndim != 4 or a.shape[0] != n or a.shape[-1] != a.shape[-2]]
            if bad or len({a.shape[-1] for a in attns}) != 1:
                raise UnsupportedModelError(
                    f"{self.name}: attention of {_model_name(self.model)!r} is not global self-attention over "
                    f"one token set (shapes {sorted({tuple(a.shape) for a in attns})})"
                )
            grads = None
            if self.needs_grad:
                grads = list(torch.autograd.grad(target(logits).sum(), attns, allow_unused=True))
                grads = [torch.zeros_like(a) if g is None else g.float() for a, g in zip(attns, grads, strict=True)]
            with torch.no_grad():
                matrix = self.combine([a.detach().float() for a in attns], grads)
        t = matrix.shape[-1]
        prefix, h, w = token_grid(self.model, t)
        row = matrix[:, 0] if _pools_by_class_token(self.model, prefix) else matrix[:, prefix:].mean(dim=1)
        maps = row[:, prefix:].reshape(n, h, w)
        if not torch.isfinite(maps).all():
            raise ExplainerError(f"{self.name}: non-finite attention map")
        return maps, logits.detach(), {}
