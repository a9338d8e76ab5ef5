"""SmoothGrad (Smilkov et al., 2017, arXiv:1706.03825): saliency averaged over noisy copies of the
face (captum ``NoiseTunnel`` around ``Saliency``).

``stdevs`` is the noise standard deviation in input units (faces are in [0, 1]; the paper's 10–20 %
of the range); ``nt_samples`` noisy copies per face, evaluated ``nt_samples_batch_size`` at a time
(``"auto"``: 8 on a CPU, 32 on a GPU). ``abs`` and the channel reduction work as for ``saliency``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from captum.attr import NoiseTunnel
from captum.attr import Saliency as _Saliency

from ._base import register_explainer
from ._gradient import GradientExplainer


@register_explainer
class SmoothGrad(GradientExplainer):
    """Noise-averaged gradient of the target score."""

    name = "smoothgrad"
    paper = "Smilkov et al. SmoothGrad: removing noise by adding noise. arXiv:1706.03825"
    defaults: ClassVar[dict[str, Any]] = {
        **GradientExplainer.defaults,
        "nt_samples": 16,
        "stdevs": 0.15,
        "nt_samples_batch_size": "auto",
        "abs": True,
        "reduce": None,
    }
    value_range = "signed, unnormalised (mean target-logit gradient)"

    def __init__(self, model, **params: Any) -> None:
        super().__init__(model, **params)
        if self.params["reduce"] is None:
            self.params["reduce"] = "max_abs" if self.params["abs"] else "sum"

    def attribute(self, fwd, x):
        nt = NoiseTunnel(_Saliency(fwd))
        attr = nt.attribute(
            x,
            nt_type="smoothgrad",
            nt_samples=int(self.params["nt_samples"]),
            nt_samples_batch_size=self.inner_batch("nt_samples_batch_size", x.device),
            stdevs=float(self.params["stdevs"]),
            target=0,
            abs=bool(self.params["abs"]),
        )
        return attr, {}
