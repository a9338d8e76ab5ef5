"""DeepLIFT (Shrikumar, Greenside, Kundaje, ICML 2017, arXiv:1704.02685), captum, Rescale rule.

Attributions sum to ``score(x) − score(b)``. Captum applies its rules to *modules* it can hook
(ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus, Softmax, MaxPool), so the model must call each such
module once per forward, use no other non-linearity modules (GELU, SiLU, ...), and have no
attention (products of two input-dependent tensors); models that break this get a clear error.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from captum.attr import DeepLift as _DeepLift
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import nn

from ._base import _model_name, register_explainer, trace_calls
from ._gradient import GradientExplainer, first_attention

# non-linear activation modules captum's DeepLift has no rule for (it would silently use gradients)
_UNSUPPORTED = (
    nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.ReLU6, nn.PReLU, nn.SELU, nn.CELU,
    nn.Softsign, nn.LogSigmoid, nn.Hardtanh, nn.GLU,
)  # fmt: skip


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
        counts: dict[str, int] = {}
        for call in trace_calls(model, x):
            if type(call.module) in SUPPORTED_NON_LINEAR:
                counts[call.name] = counts.get(call.name, 0) + 1
        for lname, n in counts.items():
            if n > 1:
                return (f"layer {lname!r} of model {name!r} is called {n} times per forward; "
                        "DeepLIFT needs one module per use of a non-linearity")
        return None

    def attribute(self, fwd, x):
        base = self.baseline(x)
        attr = _DeepLift(fwd).attribute(x, baselines=base, target=0)
        with torch.no_grad():  # summation-to-delta residual, one forward pass on x and b together
            scores = fwd(torch.cat([x.detach(), base]))[:, 0]
        n = len(x)
        self._logits = scores[:n] * fwd.target.sign
        delta = attr.detach().flatten(1).sum(1) - (scores[:n] - scores[n:])
        return attr, {"convergence_delta": delta.float()}
