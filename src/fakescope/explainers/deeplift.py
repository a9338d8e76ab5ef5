"""DeepLIFT (Shrikumar, Greenside, Kundaje, ICML 2017, arXiv:1704.02685), captum, Rescale rule.

Attributions sum to ``score(x) − score(b)``. Captum applies its rules to *modules* it can hook
(ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus, Softmax, MaxPool); this module adds the Rescale rule
for ReLU6 and Hardtanh (monotone and element-wise, so the same rule holds: MobileNet-V2 uses ReLU6).
Captum keeps a module's input on the module, so a module called several times per forward (MesoNet
calls one ReLU per inception branch, 7 times) breaks it: DeepLIFT runs on a copy of the model in
which each such module is replaced by one copy per use (:func:`one_module_per_use`). Models with
other non-linearity modules (GELU, SiLU, ...) or attention (products of two input-dependent tensors)
get a clear error.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from captum.attr import DeepLift as _DeepLift
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR, nonlinear
from torch import nn

from ._base import SignedLogit, _model_name, register_explainer, trace_calls
from ._gradient import GradientExplainer, first_attention

# non-linear activation modules captum's DeepLift has no rule for (it would silently use gradients)
_UNSUPPORTED = (
    nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.PReLU, nn.SELU, nn.CELU,
    nn.Softsign, nn.LogSigmoid, nn.GLU,
)  # fmt: skip
#: monotone element-wise activations that get the Rescale rule here (captum has no entry for them)
_RESCALED = (nn.ReLU6, nn.Hardtanh)


class _RescaleDeepLift(_DeepLift):
    """captum's DeepLift with the Rescale rule also on ReLU6/Hardtanh modules.

    Extends two private hooks of captum (``_is_non_linear``, ``_backward_hook``; captum ≥ 0.7)."""

    def _is_non_linear(self, module: nn.Module) -> bool:
        return type(module) in _RESCALED or super()._is_non_linear(module)

    def _backward_hook(self, module: nn.Module, grad_input, grad_output):
        if type(module) not in _RESCALED:
            return super()._backward_hook(module, grad_input, grad_output)
        if not self.satisfies_attribute_criteria(module):
            raise RuntimeError(f"DeepLIFT: module {module} has no recorded input (used more than once?)")
        out = nonlinear(module, module.input, module.output, grad_input, grad_output, eps=self.eps)
        del module.input
        del module.output
        return out


class _PerUse(nn.Module):
    """Stands for a module the model calls ``n`` times per forward: call ``i`` goes to copy ``i``."""

    def __init__(self, module: nn.Module, n: int) -> None:
        super().__init__()
        self.uses = nn.ModuleList(copy.deepcopy(module) for _ in range(n))
        self.calls = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        m = self.uses[self.calls % len(self.uses)]
        self.calls += 1
        return m(*args, **kwargs)


def _hooked(module: nn.Module) -> bool:
    return type(module) in SUPPORTED_NON_LINEAR or type(module) in _RESCALED


def one_module_per_use(model: nn.Module, x: torch.Tensor | None = None) -> nn.Module:
    """``model`` itself when each activation/pooling module DeepLIFT hooks is called once per forward;
    otherwise a copy (same weights) in which every reused one is replaced by one copy per use."""
    counts: dict[str, int] = {}
    for call in trace_calls(model, x):
        if _hooked(call.module):
            counts[call.name] = counts.get(call.name, 0) + 1
    reused = {name: n for name, n in counts.items() if n > 1}
    if not reused:
        return model
    twin = copy.deepcopy(model)
    per_use: list[_PerUse] = []
    for name, n in reused.items():
        parent_name, _, leaf = name.rpartition(".")
        parent = twin.get_submodule(parent_name) if parent_name else twin
        wrapper = _PerUse(getattr(parent, leaf), n)
        setattr(parent, leaf, wrapper)
        per_use.append(wrapper)

    def reset(module: nn.Module, args: Any) -> None:
        for w in per_use:
            w.calls = 0

    twin.register_forward_pre_hook(reset)
    return twin


@register_explainer
class DeepLift(GradientExplainer):
    """DeepLIFT (Rescale) attributions against a baseline face."""

    name = "deeplift"
    paper = "Shrikumar, Greenside, Kundaje. Learning Important Features Through Propagating Activation Differences"
    defaults: ClassVar[dict[str, Any]] = {
        **GradientExplainer.defaults,
        "baseline": "black",
        "blur_sigma": None,
        "bf16": False,
    }
    value_range = "signed, unnormalised; a face's map sums to score(face) − score(baseline)"

    @classmethod
    def unsupported(cls, model, x=None):
        name = _model_name(model)
        att = first_attention(model)
        if att is not None:
            return f"model {name!r} has attention layer {att!r}; DeepLIFT has no rule for attention"
        for lname, m in model.named_modules():
            if lname and not m._modules and isinstance(m, _UNSUPPORTED):
                return (f"layer {lname!r} of model {name!r} is {type(m).__name__}, a non-linearity "
                        "captum's DeepLIFT has no rule for")
        return None

    def attribute(self, fwd, x):
        base = self.baseline(x)
        twin = one_module_per_use(fwd.model, x)
        if twin is not fwd.model:
            fwd = SignedLogit(twin, fwd.target, bf16=fwd.bf16)
        attr = _RescaleDeepLift(fwd).attribute(x, baselines=base, target=0)
        with torch.no_grad():  # summation-to-delta residual, one forward pass on x and b together
            scores = fwd(torch.cat([x.detach(), base]))[:, 0]
        n = len(x)
        self._logits = scores[:n] * fwd.target.sign
        delta = attr.detach().flatten(1).sum(1) - (scores[:n] - scores[n:])
        return attr, {"convergence_delta": delta.float()}
