"""Occlusion (Zeiler & Fergus, ECCV 2014, arXiv:1311.2901), captum.

A ``window``×``window`` patch (default 1/8 of the face) slides with ``stride`` (default half a
window) and replaces the face by the baseline; a pixel's value is the mean drop of the target score
over the patches covering it. ``superpixels=True`` occludes each SLIC superpixel instead (captum
``FeatureAblation``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from captum.attr import FeatureAblation
from captum.attr import Occlusion as _Occlusion

from ._base import ExplainerError, register_explainer
from ._perturbation import PerturbationExplainer


@register_explainer
class Occlusion(PerturbationExplainer):
    """Score drop when a region is replaced by the baseline."""

    name = "occlusion"
    paper = "Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014"
    defaults: ClassVar[dict[str, Any]] = {
        **PerturbationExplainer.defaults,
        "window": None,
        "stride": None,
        "superpixels": False,
    }

    def attribute_face(self, fwd, face, baseline):
        ppe = self.ppe(face)
        if self.params["superpixels"]:
            mask = self.segments(face)
            attr = FeatureAblation(fwd).attribute(
                face, baselines=baseline, target=0, feature_mask=mask, perturbations_per_eval=ppe
            )
            return attr, {"segments": mask[:, 0]}
        h, w = face.shape[-2:]
        window = int(self.params["window"] or max(1, max(h, w) // 8))
        stride = int(self.params["stride"] or max(1, window // 2))
        if not (1 <= window <= min(h, w)) or stride < 1:
            raise ExplainerError(f"occlusion: need 1 ≤ window ≤ {min(h, w)} and stride ≥ 1, got {window}, {stride}")
        attr = _Occlusion(fwd).attribute(
            face,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=baseline,
            target=0,
            perturbations_per_eval=ppe,
        )
        return attr, {}
