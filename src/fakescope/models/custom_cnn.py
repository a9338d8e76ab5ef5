"""A small from-scratch CNN baseline, as deepfake "seed" projects train.

Layers (input 224×224 RGB in [0, 1], normalised with mean = std = 0.5 inside):

====================  =========================================  ===================
module                operation                                   output (N = batch)
====================  =========================================  ===================
``features.0``        conv 3×3 (3→32, pad 1) → BN → ReLU → max 2   N×32×112×112
``features.1``        conv 3×3 (32→64)  → BN → ReLU → max 2        N×64×56×56
``features.2``        conv 3×3 (64→128) → BN → ReLU → max 2        N×128×28×28
``features.3``        conv 3×3 (128→256) → BN → ReLU → max 2       N×256×14×14
``pool``              global average pool                          N×256
``drop``              dropout (0.5)                                N×256
``fc``                linear 256→1                                 N (logit of fake)
====================  =========================================  ===================

Convolutions have no bias (BatchNorm follows). 0.39 M parameters, 0.74 G multiply-adds (1.47 GFLOPs)
at 224 px.
Default Grad-CAM layer ``features.3.act``: the last ReLU before pooling, N×256×28×28.
"""

from __future__ import annotations

import torch
from torch import nn

from ._layers import Normalize
from ._registry import ModelInfo, register_model

__all__ = ["CustomCNN", "custom_cnn"]


class _Block(nn.Module):
    """conv 3×3 → BatchNorm → ReLU → max-pool 2: N×Cin×H×W → N×Cout×H/2×W/2."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class CustomCNN(nn.Module):
    """Four conv blocks (32/64/128/256) → GAP → dropout → 1 logit (see module docstring)."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), drop_rate: float = 0.5) -> None:
        super().__init__()
        self.normalize = Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        chans = (3, *widths)
        self.features = nn.Sequential(*[_Block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(widths[-1], 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×224×224 RGB in [0, 1] → N×256×14×14."""
        return self.features(self.normalize(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """N×256×h×w → N logits (or N×256 pooled features if ``pre_logits``)."""
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.fc(self.drop(x)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×224×224 RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


@register_model(
    ModelInfo(
        name="custom_cnn",
        family="custom_cnn",
        input_size=224,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        cam_layer="features.3.act",
        licence="Apache-2.0 (this implementation); no weights",
        paper="baseline: a plain 4-block CNN (no paper)",
        source="fakescope",
    )
)
def custom_cnn(**kwargs) -> CustomCNN:
    """Small 4-block CNN baseline, 224 px, 1 logit."""
    return CustomCNN(**kwargs)
