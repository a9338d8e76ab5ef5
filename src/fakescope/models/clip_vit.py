"""CLIP ViT-L/14 image encoder with a linear deepfake head: the architecture of GenD (WACV 2026) and Effort
(ICML 2025), whose published weights the ``gend`` / ``effort`` importers map onto it.

Architecture: OpenAI CLIP's vision tower (Radford et al., ICML 2021) as timm builds it,
``vit_large_patch14_clip_quickgelu_224`` — 24 pre-norm blocks of width 1024, 16 heads of 64, QuickGELU,
a LayerNorm before the first block (``norm_pre``, CLIP's ``ln_pre`` / HF ``pre_layrnorm``) and after the
last (``norm``, CLIP's ``ln_post`` / HF ``post_layernorm``), no patch-embedding bias — then the class token
→ (optionally L2-normalised) → ``Linear(1024, 1)``. Input 224×224 RGB in [0, 1], normalised inside with
CLIP's mean/std. Output N logits (log-odds of fake).

``l2_normalize=True`` is GenD's ``LinearNorm`` head (``F.normalize(x, dim=1)`` before the linear layer: the
features live on the unit hypersphere); ``False`` is a plain linear probe (GenD ``linear``, Effort). The
size keywords (``embed_dim``, ``depth``, ``num_heads``, ``patch_size``, ``img_size``, ``mlp_ratio``) exist
so that a checkpoint of another CLIP ViT size (B/16, a small test network) converts exactly; the importer
reads them from the checkpoint's shapes.

Explanations: attention is explicit with probes (:func:`~.vit.make_vit_explainable`: attention rollout
and relevancy), and the token CAM layer is the last block's ``norm1`` — the patch tokens that enter the
last attention, the only place they still reach the class token (after the last block only the class
token is read, so the gradient of the patch tokens there is zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import TimmClassifier
from ._registry import ModelInfo, register_model
from .vit import make_vit_explainable

__all__ = ["CLIP_MEAN", "CLIP_STD", "ClipViTClassifier", "L2Normalize", "clip_vit_large_patch14", "last_block_cam"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_TIMM_ARCH = "vit_large_patch14_clip_quickgelu_224"
DEPTH = 24


class L2Normalize(nn.Module):
    """``x / max(‖x‖₂, eps)`` over dim 1 (``F.normalize``); no parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=1)


class ClipViTClassifier(TimmClassifier):
    """CLIP ViT (timm layout under ``backbone.``) + class token → [L2 norm] → 1 logit."""

    def __init__(self, l2_normalize: bool = True, **timm_kwargs) -> None:
        super().__init__(_TIMM_ARCH, CLIP_MEAN, CLIP_STD, **timm_kwargs)
        self.l2_normalize = bool(l2_normalize)
        if self.l2_normalize:  # timm's forward_head: pool → fc_norm → head; fc_norm is Identity for CLIP
            self.backbone.fc_norm = L2Normalize()
        make_vit_explainable(self)


def last_block_cam(depth: int) -> str:
    """The token CAM layer of a CLIP ViT of ``depth`` blocks (see the module docstring)."""
    return f"backbone.blocks.{depth - 1}.norm1"


@register_model(
    ModelInfo(
        name="clip_vit_large_patch14",
        family="vit",
        input_size=224,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        cam_layer=last_block_cam(DEPTH),
        crop_resize="cubic",  # CLIPProcessor resizes with bicubic interpolation
        licence="Apache-2.0 (timm code); no weights of its own: published ones are pulled with `fakescope weights`",
        paper="A. Radford et al. Learning Transferable Visual Models From Natural Language Supervision. ICML 2021 "
        "(CLIP ViT-L/14); as a deepfake detector: A. Yermakov, J. Cech, J. Matas, M. Fritz. Deepfake Detection "
        "that Generalizes Across Benchmarks (GenD). WACV 2026 (arXiv:2508.06248)",
        source="https://github.com/huggingface/pytorch-image-models (timm vit_large_patch14_clip_quickgelu_224)",
    )
)
def clip_vit_large_patch14(**kwargs) -> ClipViTClassifier:
    """CLIP ViT-L/14, 224 px, class token (L2-normalised by default) → 1 logit. No weights of its own."""
    return ClipViTClassifier(**kwargs)
