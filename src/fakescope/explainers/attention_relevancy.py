"""Transformer relevancy (Chefer, Gur, Wolf, "Generic Attention-model Explainability for Interpreting
Bi-Modal and Encoder-Decoder Transformers", ICCV 2021, arXiv:2103.15679), hook-based form.

With ``A`` a layer's attention and ``∇A = ∂score/∂A``: ``R = I``; for each layer in forward order
``R ← R + mean_heads(max(∇A ⊙ A, 0)) · R``; the map is the output token's row of ``R`` over the
patches. Class-specific: "fake" and "real" give different maps.
"""

from __future__ import annotations

import torch

from ._attention import AttentionExplainer
from ._base import register_explainer


@register_explainer
class AttentionRelevancy(AttentionExplainer):
    """Gradient-weighted attention relevancy propagated through the layers."""

    name = "attention_relevancy"
    aliases = ("chefer",)
    paper = "Chefer, Gur, Wolf. Generic Attention-model Explainability. ICCV 2021. arXiv:2103.15679"
    needs_grad = True
    sign = "non-negative: relevance of a patch for the target (positive gradient-weighted attention)"

    def combine(self, attns, grads):
        n, t = attns[0].shape[0], attns[0].shape[-1]
        r = torch.eye(t, device=attns[0].device).expand(n, t, t).clone()
        for a, g in zip(attns, grads, strict=True):
            cam = (g * a).clamp(min=0).mean(dim=1)
            r = r + cam @ r
        return r
