"""Small building blocks shared by the model families.

* :class:`Normalize` — the per-channel ``(x - mean) / std`` every model applies inside ``forward``.
* :class:`TimmClassifier` — wraps a randomly initialised timm network behind the package contract
  (N×3×H×W RGB in [0, 1] → N fake-logits).
* :class:`AttentionProbe` / :func:`capture_attention` — attention maps and their gradients of
  transformer models, for relevancy explainers (Chefer et al. 2021).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = [
    "AttentionProbe",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Normalize",
    "TimmClassifier",
    "attention_layers",
    "capture_attention",
    "disable_inplace",
]


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` on an N×C×H×W tensor (values in the input's own scale).

    ``mean`` and ``std`` are non-persistent buffers: they follow ``.to()`` / dtype changes but are not
    part of ``state_dict()``, because they are metadata (``ModelInfo.mean/std``), not weights.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        mean = ", ".join(f"{v:.4f}" for v in self.mean.flatten().tolist())
        std = ", ".join(f"{v:.4f}" for v in self.std.flatten().tolist())
        return f"mean=({mean}), std=({std})"


def disable_inplace(module: nn.Module) -> nn.Module:
    """Turn off ``inplace`` on every activation/dropout of ``module`` (returned).

    In-place activations overwrite the tensors that CAM hooks and full backward hooks hold on to;
    the memory they save is small at inference batch sizes.
    """
    for m in module.modules():
        if isinstance(getattr(m, "inplace", None), bool):
            m.inplace = False
    return module


class TimmClassifier(nn.Module):
    """A timm architecture with a 1-logit head behind the fakescope model contract.

    ``backbone`` is ``timm.create_model(arch, pretrained=False, num_classes=1, **timm_kwargs)`` —
    never downloads anything. Input N×3×H×W RGB in [0, 1]; ``normalize`` applies ``mean``/``std``;
    output N logits (log-odds of fake). Module names inside are timm's, prefixed with ``backbone.``.
    """

    def __init__(self, arch: str, mean: Sequence[float], std: Sequence[float], **timm_kwargs) -> None:
        super().__init__()
        import timm  # imported lazily: importing fakescope.models stays fast

        self.normalize = Normalize(mean, std)
        self.backbone = disable_inplace(timm.create_model(arch, pretrained=False, num_classes=1, **timm_kwargs))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → the backbone's unpooled features (N×C×h×w, or N×T×C tokens)."""
        return self.backbone.forward_features(self.normalize(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Features → N logits (or N×C pooled features if ``pre_logits``)."""
        x = self.backbone.forward_head(x, pre_logits=pre_logits)
        return x if pre_logits else x.squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


# ------------------------------------------------------------------------------ attention capture


class AttentionProbe(nn.Module):
    """Identity on attention probabilities (N×heads×T×T, after softmax), then attention dropout.

    Transformer models put one probe where the softmax output enters ``attn @ v``. While
    ``record_attn`` is True the probe keeps its input in ``attn`` (still attached to the autograd
    graph) and, after ``backward()``, the gradient of the output w.r.t. it in ``attn_grad`` — the two
    quantities a relevancy explainer (Chefer, Gur, Wolf, CVPR 2021) needs. Use
    :func:`capture_attention` rather than setting the flag by hand. The probe has no parameters.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(p)
        self.record_attn = False
        self.attn: torch.Tensor | None = None
        self.attn_grad: torch.Tensor | None = None

    @property
    def p(self) -> float:  # timm's fused-attention path reads ``attn_drop.p``
        return self.drop.p

    def _save_grad(self, grad: torch.Tensor) -> None:
        self.attn_grad = grad

    def forward(self, attn: torch.Tensor) -> torch.Tensor:
        if self.record_attn:
            self.attn, self.attn_grad = attn, None
            if attn.requires_grad:
                attn.register_hook(self._save_grad)
        return self.drop(attn)


def attention_layers(model: nn.Module) -> list[AttentionProbe]:
    """The attention probes of ``model`` in forward order (first transformer block first)."""
    return [m for m in model.modules() if isinstance(m, AttentionProbe)]


@contextmanager
def capture_attention(model: nn.Module) -> Iterator[list[AttentionProbe]]:
    """Record attention maps (and their gradients) of every attention layer while active.

    Yields the probes in forward order; after a forward, ``probe.attn`` is N×heads×T×T (T tokens,
    class token first); after a backward, ``probe.attn_grad`` has the same shape. On exit recording
    stops and the stored tensors are dropped (they hold the autograd graph), so read them inside the
    ``with`` block::

        with capture_attention(model) as probes:
            model(x).sum().backward()
            maps = [(p.attn, p.attn_grad) for p in probes]
    """
    probes = attention_layers(model)
    if not probes:
        raise ValueError(f"{type(model).__name__} has no attention probes")
    for probe in probes:
        probe.record_attn, probe.attn, probe.attn_grad = True, None, None
    try:
        yield probes
    finally:
        for probe in probes:
            probe.record_attn, probe.attn, probe.attn_grad = False, None, None
