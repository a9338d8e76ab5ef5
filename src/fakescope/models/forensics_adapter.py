"""Forensics Adapter (Cui, Li, Luo, Zhou, Dong, CVPR 2025): a frozen CLIP ViT-L/14 steered by a small ViT.

Paper: X. Cui, Y. Li, A. Luo, J. Zhou, J. Dong. Forensics Adapter: Adapting CLIP for Generalizable Face
Forgery Detection. CVPR 2025 (arXiv:2411.19715). Code read:
OUC-VAS/ForensicsAdapter@a4cc94fa4255d2baa85cb26989fb884b098010e3 (``model/ds.py`` ``DS.forward``,
``model/adapters/adapter.py``, ``model/attn.py`` ``RecAttnClip``, ``model/layer.py``, ``model/clip/model.py``,
``config/test.yaml``).

Test-time forward, as re-implemented here (N faces, 256×256, CLIP mean/std — ``resolution: 256``):

1. CLIP view: the face bilinearly resized to 224 (``F.interpolate``, ``align_corners=False``) → patch
   embedding, class token, positions, ``ln_pre`` → 1 + 16×16 tokens (``clip``, timm layout of OpenAI's tower).
2. Adapter (``adapter``): the 256-px face → 16×16 conv patches (``patch_conv``), ``num_queries`` learned query
   tokens in front, positions (the ViT-Ti/16 table without its class entry, 14×14 → 16×16 bilinear; the query
   table), ``ln_pre``, then 8 ViT-Ti blocks with the positions re-added after every block but the last. A
   mask decoder turns the queries (``query_mlp``) and the patch map (``attn_mlp``, 1×1 convs, one slice per
   CLIP head) into an attention bias per head, query and CLIP patch (``bias_scaling``: a·b + c).
3. CLIP again (``RecAttnClip``): the sequence [queries (copies of the class token), class, patches] through all
   CLIP blocks under one additive mask — nobody attends to a query but the query itself, queries do not see
   the class token, and their attention to the patches gets the adapter's bias — so class and patch tokens
   follow plain CLIP, except that after block 7 (index 6) the patch tokens get ``0.05 · intra(patches)``
   (``intra``: 1×1 conv C → 192, ReLU, 192 → C).
4. The queries → ``ln_post`` → CLIP's projection (``proj``) → L2-normalised (N×Q×768) → ``head_tokens``
   (1-d convs across the query axis Q → Q/2 → Q/4 → 1, BatchNorm, ReLU) → ``head`` (768 → 384 → 192 → 2,
   ReLU) → ``softmax[:, 1]`` = P(fake); here the 2 logits are one, z_fake − z_real.

Left out: the original adds, after adapter blocks 1–3, ``0.01 ×`` a projection of CLIP's block-1/8/15 tokens
through a ``Fusion`` module that ``Adapter.fuse`` creates afresh, randomly initialised, at every forward (it
is never a submodule, so no checkpoint holds it). Its output is zero-mean noise of about 1 % of the adapter
tokens' scale and changes from one call to the next; this deterministic model uses its expectation (no
fusion), which also saves the first 15-block CLIP pass. The x-ray (blending-boundary) decoder is a training
target and is left out too.

The size keywords exist so that the importer can rebuild any configuration of the original code from a
checkpoint's shapes (the tests use a small CLIP). Default Grad-CAM layer: ``adapter.attn_mlp`` — the adapter's
16×16 map that decides where the queries look (N×(heads·mlp_out_dim)×16×16).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import Normalize
from ._registry import ModelInfo, register_model
from .clip_vit import _TIMM_ARCH, CLIP_MEAN, CLIP_STD

__all__ = ["INTRA_AFTER_BLOCK", "ForensicsAdapterClassifier", "forensics_adapter"]

INTRA_AFTER_BLOCK = 6  # RecAttnClip.intra_map {6: 0}: after CLIP block index 6
_INTRA_SCALE = 0.05
_INTRA_WIDTH = 192
_ADAPTER_POS_GRID = 14  # vit_tiny_patch16_224's 14×14 table, interpolated to the 16×16 patch grid
_MASKED = -100.0  # the original's "blocked" attention logit


class _MLP(nn.Module):
    """``layer.MLP``: affine → ReLU → … → affine (Linear, or 1×1 Conv2d on a map)."""

    def __init__(self, dims: list[int], conv: bool) -> None:
        super().__init__()
        make = partial(nn.Conv2d, kernel_size=1) if conv else nn.Linear
        self.layers = nn.ModuleList(make(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class _Adapter(nn.Module):
    """The adapter ViT and its mask decoder: normalised 256-px face → attention bias N×heads×Q×L."""

    def __init__(self, dim: int, depth: int, num_queries: int, mlp_dim: int, mlp_out_dim: int, bias_heads: int,
                 patch_size: int = 16) -> None:  # fmt: skip
        super().__init__()
        from timm.models.vision_transformer import Block

        self.bias_heads, self.mlp_out_dim = bias_heads, mlp_out_dim
        self.patch_conv = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, _ADAPTER_POS_GRID**2, dim))
        self.query_embed = nn.Parameter(torch.zeros(1, num_queries, dim))
        self.query_pos_embed = nn.Parameter(torch.zeros(1, num_queries, dim))
        for p in (self.pos_embed, self.query_embed, self.query_pos_embed):
            nn.init.normal_(p, std=0.02)
        self.ln_pre = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(
            Block(dim, dim // 64, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6)) for _ in range(depth)
        )
        self.query_mlp = _MLP([dim, mlp_dim, mlp_dim, mlp_out_dim], conv=False)
        self.attn_mlp = _MLP([dim, mlp_dim, mlp_dim, mlp_out_dim * bias_heads], conv=True)
        self.bias_scaling = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch_conv(x)
        n, d, gh, gw = t.shape
        t = t.flatten(2).transpose(1, 2)
        table = self.pos_embed.transpose(1, 2).reshape(1, d, _ADAPTER_POS_GRID, _ADAPTER_POS_GRID)
        pos = F.interpolate(table, size=(gh, gw), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
        pos = torch.cat([self.query_pos_embed, pos], dim=1)
        q = self.query_embed.shape[1]
        t = self.ln_pre(torch.cat([self.query_embed.expand(n, -1, -1), t], dim=1) + pos)
        for i, block in enumerate(self.blocks):
            t = block(t)
            if i < len(self.blocks) - 1:
                t = t + pos
        queries = self.query_mlp(t[:, :q])  # N×Q×m
        patch_map = t[:, q:].transpose(1, 2).reshape(n, d, gh, gw)
        attn = self.attn_mlp(patch_map).reshape(n, self.bias_heads, self.mlp_out_dim, gh * gw)
        bias = torch.einsum("nqm,nhml->nhql", queries, attn)
        return self.bias_scaling(bias.unsqueeze(-1)).squeeze(-1)


def _attention_mask(bias: torch.Tensor) -> torch.Tensor:
    """N×heads×Q×L adapter bias → the additive N×heads×T×T mask of [Q queries, class, L patches]."""
    n, h, q, n_patches = bias.shape
    t = q + 1 + n_patches
    mask = bias.new_zeros(t, t)
    mask[:, :q] = _MASKED  # no token attends to a query …
    idx = torch.arange(q, device=bias.device)
    mask[idx, idx] = 0.0  # … except the query itself
    mask[:q, q] = _MASKED  # queries do not see the class token
    mask = mask.expand(n, h, t, t).clone()
    mask[:, :, :q, q + 1 :] = bias
    return mask


class ForensicsAdapterClassifier(nn.Module):
    """CLIP ViT (``clip``, timm layout) + adapter (``adapter``) + query head → 1 logit; see the module docstring."""

    def __init__(self, embed_dim: int = 1024, depth: int = 24, patch_size: int = 14, clip_img_size: int = 224,
                 mlp_ratio: float = 4.0, out_dim: int = 768, num_queries: int = 128, adapter_dim: int = 192,
                 adapter_depth: int = 8, mlp_dim: int = 256, mlp_out_dim: int = 128) -> None:  # fmt: skip
        super().__init__()
        import timm  # lazily: importing fakescope.models stays fast

        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.clip = timm.create_model(_TIMM_ARCH, pretrained=False, num_classes=0, embed_dim=embed_dim, depth=depth,
                                      num_heads=embed_dim // 64, patch_size=patch_size, img_size=clip_img_size,
                                      mlp_ratio=mlp_ratio)  # fmt: skip
        self.proj = nn.Linear(embed_dim, out_dim, bias=False)
        self.adapter = _Adapter(adapter_dim, adapter_depth, num_queries, mlp_dim, mlp_out_dim, embed_dim // 64)
        self.intra = nn.Sequential(nn.Conv1d(embed_dim, _INTRA_WIDTH, 1), nn.ReLU(),
                                   nn.Conv1d(_INTRA_WIDTH, embed_dim, 1))  # fmt: skip
        q = num_queries
        self.head_tokens = nn.Sequential(
            nn.Conv1d(q, q // 2, 3, padding=1), nn.BatchNorm1d(q // 2), nn.ReLU(),
            nn.Conv1d(q // 2, q // 4, 3, padding=1), nn.BatchNorm1d(q // 4), nn.ReLU(),
            nn.Conv1d(q // 4, 1, 3, padding=1),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(out_dim, out_dim // 2), nn.ReLU(), nn.Linear(out_dim // 2, out_dim // 4),
                                  nn.ReLU(), nn.Linear(out_dim // 4, 1))  # fmt: skip
        self.num_queries = q

    def _clip_tokens(self, x: torch.Tensor) -> torch.Tensor:
        side = self.clip.patch_embed.img_size
        x = F.interpolate(x, size=tuple(side), mode="bilinear", align_corners=False)
        t = self.clip.patch_embed(x)
        cls = self.clip.cls_token.expand(t.shape[0], -1, -1)
        return self.clip.norm_pre(torch.cat([cls, t], dim=1) + self.clip.pos_embed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] (256 px) → the L2-normalised query embeddings, N×Q×out_dim."""
        x = self.normalize(x)
        tokens = self._clip_tokens(x)  # N×(1+L)×C
        mask = _attention_mask(self.adapter(x))
        q, n_patches = self.num_queries, tokens.shape[1] - 1
        seq = torch.cat([tokens[:, :1].expand(-1, q, -1), tokens], dim=1)
        for i, block in enumerate(self.clip.blocks):
            seq = block(seq, attn_mask=mask)
            if i == INTRA_AFTER_BLOCK:
                patches = seq[:, -n_patches:]
                patches = patches + _INTRA_SCALE * self.intra(patches.transpose(1, 2)).transpose(1, 2)
                seq = torch.cat([seq[:, :-n_patches], patches], dim=1)
        return F.normalize(self.proj(self.clip.norm(seq[:, :q])), dim=-1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Query embeddings → N logits (or the N×(out_dim/4) features before the last layer if ``pre_logits``)."""
        x = self.head[:4](self.head_tokens(x).squeeze(1))
        return x if pre_logits else self.head[4](x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


def adapter_input_size(clip_img_size: int = 224, patch_size: int = 14, adapter_patch: int = 16) -> int:
    """The face size whose adapter grid matches CLIP's (256 for ViT-L/14 at 224 and 16-px adapter patches)."""
    return (clip_img_size // patch_size) * adapter_patch


@register_model(
    ModelInfo(
        name="forensics_adapter",
        family="vit",
        input_size=adapter_input_size(),
        mean=CLIP_MEAN,
        std=CLIP_STD,
        cam_layer="adapter.attn_mlp",
        licence="Apache-2.0 (fakescope and timm code); no weights of its own: the published ones are pulled with "
        "`fakescope weights pull forensics-adapter-clip-l14` (CC-BY-NC-4.0)",
        paper="X. Cui, Y. Li, A. Luo, J. Zhou, J. Dong. Forensics Adapter: Adapting CLIP for Generalizable Face "
        "Forgery Detection. CVPR 2025 (arXiv:2411.19715)",
        source="https://github.com/OUC-VAS/ForensicsAdapter model/ds.py (inference path; CLIP tower: timm "
        f"{_TIMM_ARCH}; adapter blocks: timm ViT-Ti/16)",
    )
)
def forensics_adapter(**kwargs) -> ForensicsAdapterClassifier:
    """Forensics Adapter on CLIP ViT-L/14, 256 px faces, 1 logit. No weights of its own."""
    return ForensicsAdapterClassifier(**kwargs)

