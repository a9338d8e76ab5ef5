"""Layer-wise relevance propagation family over zennit.

Relevance starts at the model's head as the target score (``+logit`` for fake, ``−logit`` for real)
and is redistributed layer by layer with the rules of a zennit composite (canonized first: BatchNorm
layers that directly follow a conv/linear in an ``nn.Sequential`` are merged into it). What this base
adds to zennit:

* the *first layer* (ZBox / flat rules) is the first conv/linear **executed**, not the first one
  registered (zennit's composites use registration order, which differs e.g. in MesoNet);
* relevance is seeded so that the head's output receives exactly the target score, also when the
  model post-processes the head functionally (MesoNet returns ``−fc2(·)``: a plain gradient would
  flip the relevance's sign);
* relevance is read at the first layer's input, so the model's own input normalisation (an affine
  per-pixel map, relevance-conserving) does not rescale it;
* architectures zennit has no rules for raise :class:`UnsupportedModelError` naming the layer:
  attention, LayerNorm/GroupNorm, gating or smooth non-linearities (SiLU, GELU, Sigmoid, ...),
  parameterised layers of unknown type, and conv/linear modules called more than once per forward.

Functional operations are not hooked: concatenations, reshapes and average pooling pass relevance
unchanged, but a residual addition (Xception) passes the full relevance to both branches, so
relevance is only approximately conserved in residual networks whose additions zennit cannot see.

MobileNet-V2 (torchvision's ``InvertedResidual``; issue 13). Measured layer by layer on
``sbi_mobilenetv2`` (relevance sum at each convolution's input, 4 faces), the maps summed to
0.9–4.7 % of the logit (20 faces: median 2.1 %). Suspects and fixes (:mod:`._lrp_mobilenet` holds
what zennit lacks):

* ReLU6 is not the cause: zennit's ``Activation`` type includes it (``Pass`` rule);
  ``SequentialMergeBatchNorm`` merges all 52 conv+BN pairs;
* each of the 10 functional shortcut additions doubled the relevance (2¹⁰ × once biases were
  ignored) → :class:`~._lrp_mobilenet.InvertedResidualCanonizer` puts a zennit ``Sum`` (``Norm``
  rule: split in proportion to the summands) in every block, in both composites;
* the merged BatchNorm shifts absorbed 93 % under z⁺ → in ``EpsilonPlusFlat``, convolutions that had
  no bias of their own ignore the merged one (``zero_params="bias"``), as an unmerged BatchNorm
  (``Pass``) absorbs nothing; convolutions with their own bias (MesoNet) keep absorbing;
* depthwise 3×3 units active through their bias alone (no positive weight meets a non-zero input)
  held 25–75 % of each depthwise layer's relevance, which z⁺ can pass to no input (99 % lost over
  the network; a flat rule there conserves but spreads it evenly: uniform maps) →
  :class:`~._lrp_mobilenet.ConservingDepthwiseZPlus` rescales z⁺'s input relevance to the layer's
  output sum (per face), keeping the shape z⁺ gives.

Result (20 self-blended / spliced faces): Σ map / logit 0.99–1.006 (median 1.000) with the default
weights, 0.999–1.005 with ``corpus``; the map of the favoured target is positive. ``EpsilonGammaBox``
is refused on these blocks: the γ-rule needs the biases for stable denominators and then keeps only
0.10–1.6× the logit (median 0.18, with the depthwise rescaling). Depthwise convolutions of other
networks (Xception, EfficientNet-Lite) get the same ``EpsilonPlusFlat`` rules.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import LayerMapComposite, layer_map_base
from zennit.rules import Epsilon, Flat, Gamma, ZBox, ZPlus
from zennit.types import Convolution

from ._base import (
    BinaryLogitTarget,
    Explainer,
    ExplainerError,
    UnsupportedModelError,
    _model_name,
    logits_of,
    trace_calls,
)
from ._gradient import first_attention
from ._lrp_mobilenet import (
    ConservingDepthwiseZPlus,
    InvertedResidualCanonizer,
    has_inverted_residual,
    is_depthwise,
)

__all__ = ["LRPExplainer", "lrp_unsupported"]

_PASS_THROUGH = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Dropout, nn.Dropout2d, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d,
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
)  # fmt: skip
_RULED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NO_RULE = (
    nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.LocalResponseNorm,
    nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softmax, nn.ELU,
    nn.SELU, nn.CELU, nn.Softplus, nn.GLU, nn.PReLU, nn.Hardtanh,
)  # fmt: skip


def lrp_unsupported(model: nn.Module, x: torch.Tensor | None = None) -> str | None:
    """Why zennit LRP cannot explain ``model`` (naming the layer), or None."""
    name = _model_name(model)
    att = first_attention(model)
    if att is not None:
        kind = type(model.get_submodule(att)).__name__
        return f"cannot handle layer {att!r} ({kind}) of model {name!r}: no LRP rule for attention"
    for lname, m in model.named_modules():
        if not lname or m._modules:
            continue
        if isinstance(m, _NO_RULE) and not isinstance(m, _PASS_THROUGH):  # ReLU6 subclasses Hardtanh
            return f"cannot handle layer {lname!r} ({type(m).__name__}) of model {name!r}: no LRP rule for it"
        has_params = any(True for _ in m.parameters(recurse=False))
        if has_params and not isinstance(m, _RULED + _PASS_THROUGH):
            return f"cannot handle layer {lname!r} ({type(m).__name__}) of model {name!r}: unknown parameterised layer"
    counts: dict[str, int] = {}
    for call in trace_calls(model, x):
        if isinstance(call.module, _RULED + (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            counts[call.name] = counts.get(call.name, 0) + 1
    for lname, n in counts.items():
        if n > 1:
            return (f"cannot handle layer {lname!r} of model {name!r}: called {n} times per forward "
                    "(rules are per module)")
    return None


class _Stop(Exception):
    """Ends a forward pass early (raised by a hook once it has what it needs)."""


class _FirstLayerComposite(LayerMapComposite):
    """A layer-map composite whose first-layer rule goes to the module named ``first`` (if any) and
    whose ``named`` rules (module name → rule) override the layer map."""

    def __init__(self, layer_map, first: str | None, first_rule, canonizers=None, named=None) -> None:
        super().__init__(layer_map=layer_map, canonizers=canonizers)
        self.first = first
        self.first_rule = first_rule
        self.named = dict(named or {})

    def mapping(self, ctx, name, module):
        if self.first_rule is not None and name == self.first:
            return self.first_rule
        if name in self.named:
            return self.named[name]
        return super().mapping(ctx, name, module)


class LRPExplainer(Explainer):
    """Base of the zennit LRP methods: composites ``EpsilonPlusFlat`` and ``EpsilonGammaBox``."""

    family = "lrp"
    composites: ClassVar[tuple[str, ...]] = ("EpsilonPlusFlat", "EpsilonGammaBox")
    defaults: ClassVar[dict[str, Any]] = {
        "composite": "EpsilonPlusFlat",
        "epsilon": 1e-6,
        "gamma": 0.25,
        "stabilizer": 1e-6,
        "canonize": True,
        "batch_size": 16,
    }
    sign = "signed: positive = relevance for the target, negative = against it"
    value_range = "signed, unnormalised; a face's map sums ≈ the target score (less bias absorption)"

    def __init__(self, model: nn.Module, **params: Any) -> None:
        super().__init__(model, **params)
        if self.params["composite"] not in self.composites:
            raise ExplainerError(
                f"{self.name}: unknown composite {self.params['composite']!r} (known: {', '.join(self.composites)})"
            )

    @classmethod
    def unsupported(cls, model: nn.Module, x: torch.Tensor | None = None) -> str | None:
        return lrp_unsupported(model, x)

    def _check(self, x: torch.Tensor) -> None:
        super()._check(x)
        block = has_inverted_residual(self.model) if self.params["composite"] == "EpsilonGammaBox" else None
        if block is not None:
            # measured on sbi_mobilenetv2 (issue 13): with the merged BatchNorm biases the γ-rule keeps
            # 0.10–1.6× the logit; without them its denominators cross zero on the linear bottlenecks
            raise UnsupportedModelError(
                f"{self.name}: composite 'EpsilonGammaBox' cannot handle layer {block!r} (InvertedResidual) of "
                f"model {_model_name(self.model)!r}: the γ-rule does not conserve relevance through linear "
                "bottlenecks; use composite 'EpsilonPlusFlat'"
            )

    def _composite(self, first: str | None, first_module: nn.Module | None, x: torch.Tensor):
        p = self.params
        eps, stab = p["epsilon"], p["stabilizer"]
        # the shortcut canonizer is needed for conservation (it acts on torchvision MobileNet-V2
        # blocks only); ``canonize`` switches the BatchNorm merging
        canonizers = [SequentialMergeBatchNorm()] if p["canonize"] else []
        canonizers.append(InvertedResidualCanonizer())
        if p["composite"] == "EpsilonPlusFlat":
            layer_map = layer_map_base(stab) + [
                (Convolution, ZPlus(stabilizer=stab)),
                (nn.Linear, Epsilon(epsilon=eps)),
            ]
            return _FirstLayerComposite(
                layer_map, first, Flat(stabilizer=stab), canonizers, self._plus_named_rules(stab)
            )
        layer_map = layer_map_base(stab) + [
            (Convolution, Gamma(gamma=p["gamma"], stabilizer=stab)),
            (nn.Linear, Epsilon(epsilon=eps)),
        ]
        first_rule = None
        if isinstance(first_module, Convolution):
            low, high = self._box(first_module, x)
            first_rule = ZBox(low=low, high=high, stabilizer=stab)
        return _FirstLayerComposite(layer_map, first, first_rule, canonizers)

    def _plus_named_rules(self, stab: float) -> dict[str, Any]:
        """EpsilonPlusFlat's rules for convolutions whose bias is a merged BatchNorm shift (the
        conv had none of its own): z⁺ ignoring that bias, as an unmerged BatchNorm (``Pass``)
        absorbs no relevance either; depthwise ones get :class:`ConservingDepthwiseZPlus`."""
        named: dict[str, Any] = {}
        for name, m in self.model.named_modules():
            if is_depthwise(m):
                named[name] = ConservingDepthwiseZPlus(stabilizer=stab)
            elif isinstance(m, Convolution) and getattr(m, "bias", None) is None:
                named[name] = ZPlus(stabilizer=stab, zero_params="bias")
        return named

    def _box(self, first: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Lowest/highest possible input of the first layer (1×C×H×W): the pixel box
        ``info.value_range`` (default [0, 1]) pushed through the model's own preprocessing (which
        must be per-pixel monotone, e.g. normalisation or a channel flip), stopping at that layer."""
        lo, hi = getattr(getattr(self.model, "info", None), "value_range", (0.0, 1.0))
        corners = torch.stack([torch.full_like(x[0], float(lo)), torch.full_like(x[0], float(hi))])
        seen: list[torch.Tensor] = []

        def stop(module: nn.Module, args: Any) -> None:
            seen.append(args[0].detach())
            raise _Stop

        handle = first.register_forward_pre_hook(stop)
        try:
            with torch.no_grad():
                self.model(corners)
        except _Stop:
            pass
        finally:
            handle.remove()
        if not seen:
            raise ExplainerError(f"{self.name}: the first layer was not reached")
        a, b = seen[0][:1], seen[0][1:2]
        return torch.minimum(a, b), torch.maximum(a, b)

    def _explain(self, x: torch.Tensor, target: BinaryLogitTarget):
        calls = [c for c in trace_calls(self.model, x) if isinstance(c.module, _RULED)]
        first = calls[0] if calls else None
        heads = [c for c in calls if c.out_shape and c.out_shape[0] == 1 and _numel(c.out_shape) == 1]
        head = heads[-1].module if heads else None
        composite = self._composite(first.name if first else None, first.module if first else None, x)

        store: dict[str, torch.Tensor] = {}
        handles = []
        if first is not None:  # registered before zennit's hooks, so it sees the raw input
            handles.append(first.module.register_forward_pre_hook(
                lambda m, args: store.setdefault("input", args[0]), prepend=True))
        if head is not None:
            handles.append(head.register_forward_hook(lambda m, args, out: store.setdefault("head", out)))
        try:
            with torch.enable_grad(), composite.context(self.model):
                xg = x.detach().requires_grad_(True)
                out = self.model(xg)
                logits = logits_of(out, len(x))
                score = target(logits)
                # relevance of the output is the target score; the gradient seed s at the logits
                # reaches the head output as s·∂logit/∂head, so s = score / (∂logit/∂head)
                seed = score.detach().clone()
                if "head" in store:
                    (dz,) = torch.autograd.grad(logits.sum(), store["head"], retain_graph=True)
                    dz = dz.reshape(len(x)).float()
                    ok = dz.abs() > 1e-12
                    seed = torch.where(ok, score.detach() / torch.where(ok, dz, torch.ones_like(dz)), seed)
                inp = store.get("input", xg)
                (rel,) = torch.autograd.grad(logits, inp, grad_outputs=seed)
        finally:
            for h in handles:
                h.remove()
        rel = rel.detach().float()
        if rel.ndim != 4 and rel[0].numel() == x[0].numel():  # flattened in front of a linear layer
            rel = rel.reshape(x.shape)
        if rel.ndim != 4:
            raise ExplainerError(f"{self.name}: first layer input has shape {tuple(rel.shape)}, not an image")
        return rel.sum(dim=1), logits.detach(), {}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape[1:]:
        n *= s
    return n
