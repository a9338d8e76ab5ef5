"""Vision Transformer ViT-S/16 (Dosovitskiy et al., ICLR 2021) with a 1-logit head.

Architecture: timm ``vit_small_patch16_224`` (12 blocks, 6 heads, width 384, class token),
randomly initialised. Input 224×224 RGB in [0, 1], normalised with mean = std = 0.5 inside the
model. Output N logits (log-odds of fake).

Attention maps: every block computes attention explicitly (timm's ``fused_attn`` is switched off)
and its ``attn_drop`` is an :class:`~fakescope.models._layers.AttentionProbe`
(``backbone.blocks.<i>.attn.attn_drop``). Inside
``with fakescope.models.capture_attention(model) as probes:`` each probe holds, after a forward,
``probe.attn`` — softmax probabilities N×6×197×197 (token 0 is the class token, then the 14×14
patches row-major) — and after a backward ``probe.attn_grad``, as a Chefer et al. (2021) relevancy
explainer needs.

Default Grad-CAM layer ``backbone.blocks.11.norm1``: its output is tokens N×197×384, so a CAM
explainer must drop the class token and reshape the rest to N×384×14×14.
"""

from __future__ import annotations

from ._layers import AttentionProbe, TimmClassifier
from ._registry import ModelInfo, register_model

__all__ = ["make_vit_explainable", "vit_small_patch16_224"]


def make_vit_explainable(model: TimmClassifier) -> TimmClassifier:
    """Switch a timm ViT (inside ``model.backbone``) to explicit attention with probes. In place."""
    for block in model.backbone.blocks:
        attn = block.attn
        attn.fused_attn = False
        if not isinstance(attn.attn_drop, AttentionProbe):
            attn.attn_drop = AttentionProbe(attn.attn_drop.p)
    return model


@register_model(
    ModelInfo(
        name="vit_small_patch16_224",
        family="vit",
        input_size=224,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        cam_layer="backbone.blocks.11.norm1",
        licence="Apache-2.0 (timm code); no weights",
        paper="A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image Recognition "
        "at Scale. ICLR 2021 (arXiv:2010.11929)",
        source="https://github.com/huggingface/pytorch-image-models (timm vit_small_patch16_224)",
    )
)
def vit_small_patch16_224(**kwargs) -> TimmClassifier:
    """ViT-S/16, 224 px, 1 logit, attention maps recordable. ``kwargs`` go to timm."""
    return make_vit_explainable(TimmClassifier("vit_small_patch16_224", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), **kwargs))
