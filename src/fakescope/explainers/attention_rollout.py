"""Attention rollout (Abnar & Zuidema, ACL 2020, arXiv:2005.00928).

Per layer, heads are fused (``head_fusion``: mean, max or min), optionally the weakest
``discard_ratio`` of the attention weights are dropped (as in jacobgil/vit-explain), the residual
path is added (``0.5 A + 0.5 I``, rows renormalised), and the layers are multiplied:
``R = Â_L ⋯ Â_1``. Uses no gradients: the map does not depend on the target.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ._attention import AttentionExplainer
from ._base import ExplainerError, register_explainer


@register_explainer
class AttentionRollout(AttentionExplainer):
    """Attention flow from the patches to the output token through all layers."""

    name = "attention_rollout"
    paper = "Abnar, Zuidema. Quantifying Attention Flow in Transformers. ACL 2020. arXiv:2005.00928"
    defaults: ClassVar[dict[str, Any]] = {**AttentionExplainer.defaults, "head_fusion": "mean", "discard_ratio": 0.0}
    sign = "non-negative: share of attention flowing from a patch to the output token (not target-specific)"

    def combine(self, attns, grads):
        fusion = self.params["head_fusion"]
        if fusion not in ("mean", "max", "min"):
            raise ExplainerError(f"{self.name}: head_fusion must be mean, max or min, got {fusion!r}")
        ratio = float(self.params["discard_ratio"])
        n, t = attns[0].shape[0], attns[0].shape[-1]
        eye = torch.eye(t, device=attns[0].device).expand(n, t, t)
        rollout = eye.clone()
        for a in attns:
            a = a.mean(dim=1) if fusion == "mean" else getattr(a, fusion)(dim=1).values
            if ratio > 0:  # drop the weakest weights, except the class token's own (index 0)
                flat = a.reshape(n, -1).clone()
                k = int(flat.shape[1] * ratio)
                if k:
                    keep = flat[:, 0].clone()
                    flat.scatter_(1, flat.topk(k, dim=1, largest=False).indices, 0.0)
                    flat[:, 0] = keep
                a = flat.reshape(n, t, t)
            a = 0.5 * a + 0.5 * eye
            a = a / a.sum(dim=-1, keepdim=True)
            rollout = a @ rollout
        return rollout
