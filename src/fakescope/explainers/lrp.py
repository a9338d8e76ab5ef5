"""Layer-wise relevance propagation (Bach et al., PLoS ONE 2015; Montavon et al., 2019), zennit.

Composites: ``"EpsilonPlusFlat"`` (default: ε-rule on linear layers, z⁺ on convolutions, flat rule
on the first layer) and ``"EpsilonGammaBox"`` (γ-rule on convolutions, z^B box rule on the first
layer with the model's pixel box). Both canonize BatchNorm with ``SequentialMergeBatchNorm`` and
MobileNet-V2 shortcuts with an explicit ``Sum``; ``EpsilonPlusFlat`` ignores merged BatchNorm biases
and keeps depthwise convolutions conserving (see ``_lrp.py``); ``EpsilonGammaBox`` refuses
MobileNet-V2.
"""

from __future__ import annotations

from ._base import register_explainer
from ._lrp import LRPExplainer


@register_explainer
class LRP(LRPExplainer):
    """Relevance of each pixel for the target score."""

    name = "lrp"
    paper = ("Bach et al. On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise "
             "Relevance Propagation. PLoS ONE 2015; Montavon et al. LRP: An Overview. 2019")
