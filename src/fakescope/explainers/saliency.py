"""Saliency (Simonyan, Vedaldi, Zisserman, ICLR-W 2014, arXiv:1312.6034): ∂score/∂x.

Default ``abs=True``: the classic map, max over colour channels of |∂score/∂x|. With ``abs=False``
the raw gradient summed over channels (signed: positive = brightening that pixel raises the target
score).
"""

from __future__ import annotations

from typing import Any, ClassVar

from captum.attr import Saliency as _Saliency

from ._base import register_explainer
from ._gradient import GradientExplainer


@register_explainer
class Saliency(GradientExplainer):
    """Gradient of the target score w.r.t. the input pixels (captum ``Saliency``)."""

    name = "saliency"
    paper = "Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks. arXiv:1312.6034"
    defaults: ClassVar[dict[str, Any]] = {**GradientExplainer.defaults, "abs": True, "reduce": None}
    value_range = "signed, unnormalised (target logit per unit of intensity)"
    forward_is_input = True

    def __init__(self, model, **params: Any) -> None:
        super().__init__(model, **params)
        if self.params["reduce"] is None:
            self.params["reduce"] = "max_abs" if self.params["abs"] else "sum"

    def attribute(self, fwd, x):
        return _Saliency(fwd).attribute(x, target=0, abs=bool(self.params["abs"])), {}
