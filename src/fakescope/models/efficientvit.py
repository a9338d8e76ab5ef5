"""Efficient ViT: an EfficientNet-B0 feature extractor followed by a Vision Transformer.

Paper: D. A. Coccomini, N. Messina, C. Gennaro, F. Falchi, "Combining EfficientNet and Vision
Transformers for Video Deepfake Detection", ICIAP 2022 (arXiv:2107.02612). Reference code (MIT):
https://github.com/davide-coccomini/Combining-EfficientNet-and-Vision-Transformers-for-Video-Deepfake-Detection
(``efficient-vit/efficient_vit.py``, ``configs/architecture.yaml``). This is an independent
implementation of the architecture the paper describes, with the paper's hyper-parameters:

1. ``efficient_net``: EfficientNet-B0 in the TensorFlow layout (timm ``tf_efficientnet_b0``, the
   same network as the ``efficientnet_pytorch`` B0 the authors used), without pooling and
   classifier: N×3×224×224 → N×1280×7×7.
2. Patch embedding: every ``patch_size``×``patch_size`` cell of that map (flattened as
   (p1, p2, C)) goes through ``patch_to_embedding`` (Linear → ``dim`` = 1024). With the default
   ``patch_size=1`` each of the 7×7 locations — a 32×32-pixel chunk of the face — is one token, as
   the paper describes.
3. A learned class token is prepended, a learned positional embedding (one per token) added,
   then dropout (0.15).
4. ``transformer``: 6 pre-norm blocks, each
   ``x = x + Attention(LayerNorm(x))`` (8 heads × 64, qkv without bias, output Linear + dropout 0.15)
   and ``x = x + MLP(LayerNorm(x))`` (Linear 1024→2048, GELU, Linear 2048→1024). No final norm.
5. ``mlp_head`` on the class token: Linear 1024→2048, ReLU, Linear 2048→1 = the logit of fake.

Differences from the released code, on purpose: (a) the released config cuts the 7×7 map into a
single 7×7 patch, i.e. one token plus the class token — ``patch_size=7`` reproduces that layout, but
attention over two tokens explains nothing, so the default is the paper's per-location tokens;
(b) the released positional embedding has shape (32, 1, dim) and is indexed by the *batch*
position (a bug); here it is one learned vector per token; (c) the released training code feeds
raw BGR pixels in 0…255 without normalisation; here the input is RGB in [0, 1] with ImageNet
mean/std applied inside (suited to an ImageNet-initialised B0). The authors also froze all but
the last 3 MBConv blocks during training; freezing is left to the training code.

Attention maps: each attention layer ends in an :class:`~fakescope.models._layers.AttentionProbe`
(``transformer.layers.<i>.attn.fn.attend``). Inside
``with fakescope.models.capture_attention(model) as probes:`` each probe holds ``probe.attn``
(softmax probabilities, N×8×50×50; token 0 is the class token, then the 7×7 locations row-major)
after a forward and ``probe.attn_grad`` after a backward — what a relevancy explainer (Chefer et al.
2021) needs. Default Grad-CAM layer: ``efficient_net.bn2``, the B0 feature map N×1280×7×7.
"""

from __future__ import annotations

import torch
from torch import nn

from ._layers import IMAGENET_MEAN, IMAGENET_STD, AttentionProbe, Normalize, disable_inplace
from ._registry import ModelInfo, register_model

__all__ = ["EfficientViT", "efficientvit"]

_PAPER = (
    "D. A. Coccomini, N. Messina, C. Gennaro, F. Falchi. Combining EfficientNet and Vision Transformers "
    "for Video Deepfake Detection. ICIAP 2022 (arXiv:2107.02612)"
)
_SOURCE = (
    "https://github.com/davide-coccomini/"
    "Combining-EfficientNet-and-Vision-Transformers-for-Video-Deepfake-Detection (architecture only; "
    "independent implementation on timm tf_efficientnet_b0)"
)


class PreNorm(nn.Module):
    """``fn(LayerNorm(x))`` on N×T×dim tokens."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    """Linear → GELU → Dropout → Linear → Dropout on N×T×dim tokens."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head self-attention, N×T×dim → N×T×dim, with the probabilities passed through
    ``attend`` (an :class:`AttentionProbe`) so they can be recorded."""

    def __init__(self, dim: int, heads: int = 8, dim_head: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dim_head = dim_head
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.attend = AttentionProbe()
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        qkv = self.to_qkv(x).reshape(n, t, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each N×heads×T×dim_head
        attn = self.attend(((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(n, t, self.heads * self.dim_head)
        return self.to_out(out)


class TransformerLayer(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))`` then ``x + ff(norm(x))``."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = PreNorm(dim, Attention(dim, heads, dim_head, dropout))
        self.ff = PreNorm(dim, FeedForward(dim, mlp_dim, 0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(x) + x
        return self.ff(x) + x


class Transformer(nn.Module):
    """``depth`` :class:`TransformerLayer` blocks on N×T×dim tokens."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList([TransformerLayer(dim, heads, dim_head, mlp_dim, dropout) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class EfficientViT(nn.Module):
    """EfficientNet-B0 → tokens → transformer → MLP head on the class token (see module docstring).

    Input N×3×``image_size``×``image_size`` RGB in [0, 1]; output N logits (log-odds of fake).
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 1,
        dim: int = 1024,
        depth: int = 6,
        heads: int = 8,
        dim_head: int = 64,
        mlp_dim: int = 2048,
        dropout: float = 0.15,
        emb_dropout: float = 0.15,
    ) -> None:
        super().__init__()
        import timm  # lazily: importing fakescope.models stays fast

        grid = image_size // 32  # B0 reduces the input 32×
        if image_size % 32 or grid % patch_size:
            raise ValueError(f"image_size {image_size} must be 32·k with k divisible by patch_size {patch_size}")
        self.image_size = image_size
        self.patch_size = patch_size
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.efficient_net = disable_inplace(
            timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=0, global_pool="")
        )
        channels = self.efficient_net.num_features  # 1280
        num_tokens = (grid // patch_size) ** 2 + 1
        self.patch_to_embedding = nn.Linear(channels * patch_size**2, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_tokens, dim))
        self.dropout = nn.Dropout(emb_dropout)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim, dropout)
        self.mlp_head = nn.Sequential(nn.Linear(dim, mlp_dim), nn.ReLU(), nn.Linear(mlp_dim, 1))

    def patchify(self, fmap: torch.Tensor) -> torch.Tensor:
        """N×C×h×w feature map → N×(h/p·w/p)×(p·p·C) patch vectors, patches row-major."""
        n, c, h, w = fmap.shape
        p = self.patch_size
        x = fmap.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(n, (h // p) * (w // p), p * p * c)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → transformer output tokens N×T×dim (class token first)."""
        fmap = self.efficient_net.forward_features(self.normalize(x))
        tokens = self.patch_to_embedding(self.patchify(fmap))
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat((cls, tokens), dim=1) + self.pos_embedding
        return self.transformer(self.dropout(tokens))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens N×T×dim → N logits (or the N×dim class token if ``pre_logits``)."""
        x = x[:, 0]
        return x if pre_logits else self.mlp_head(x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


@register_model(
    ModelInfo(
        name="efficientvit",
        family="efficientvit",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        cam_layer="efficient_net.bn2",
        licence="MIT (reference architecture); Apache-2.0 (timm code); no weights",
        paper=_PAPER,
        source=_SOURCE,
    )
)
def efficientvit(**kwargs) -> EfficientViT:
    """Efficient ViT (Coccomini et al., ICIAP 2022), 224 px, 1 logit, attention maps recordable."""
    return EfficientViT(**kwargs)
