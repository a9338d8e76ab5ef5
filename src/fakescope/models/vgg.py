"""VGG-16 in the VGG-Face layout (Parkhi, Vedaldi, Zisserman, BMVC 2015) with a 1-logit head.

Layers (names as in the VGG-Face MatConvNet/Caffe release, so a checkpoint importer can map them
one to one): ``features`` = five blocks of 3×3/stride-1/pad-1 convolutions with ReLU —
conv1_1..1_2 (64), conv2_1..2_2 (128), conv3_1..3_3 (256), conv4_1..4_3 (512), conv5_1..5_3
(512) — each block closed by a 2×2/stride-2 max-pool (pool1..pool5); ``head`` = flatten (C, H, W
order, as Caffe) → fc6 (25088→4096) → ReLU → dropout 0.5 → fc7 (4096→4096) → ReLU → dropout 0.5 →
fc8 (4096→1, the fake logit; VGG-Face's fc8 has 2622 identities). 13 conv + 3 FC; input 224×224.

Preprocessing inside the model, exactly: input RGB in [0, 1] → :class:`Normalize` with
``mean = (129.1863, 104.7624, 93.5940) / 255`` (the VGG-Face mean pixel, which is published in BGR
order as [93.5940, 104.7624, 129.1863], here reordered to RGB) and ``std = 1/255``, i.e.
``255·x − mean_pixel`` in 0…255 units with no scaling → channels reversed to **BGR**
(``to_bgr``), because the original network's conv1_1 filters are ordered B, G, R. VGG-Face weights
can therefore be loaded without touching conv1_1.

ReLUs are not in-place (CAM hooks). Default Grad-CAM layer ``features.relu5_3``: N×512×14×14.
Randomly initialised (VGG-Face weights are not available offline).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._layers import Normalize
from ._registry import ModelInfo, register_model

__all__ = ["VGGFACE_MEAN_BGR", "VGGFace16", "vgg16"]

VGGFACE_MEAN_BGR = (93.5940, 104.7624, 129.1863)  # 0…255, B, G, R (Parkhi et al. 2015)
_MEAN_RGB = tuple(v / 255.0 for v in reversed(VGGFACE_MEAN_BGR))
_STD = (1.0 / 255.0,) * 3
_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


class _ToBGR(nn.Module):
    """Reverse the channel order of an N×3×H×W tensor (RGB ↔ BGR)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1)


class VGGFace16(nn.Module):
    """VGG-16 / VGG-Face (see module docstring). N×3×224×224 RGB in [0, 1] → N fake-logits."""

    def __init__(self, drop_rate: float = 0.5) -> None:
        super().__init__()
        self.normalize = Normalize(_MEAN_RGB, _STD)
        self.to_bgr = _ToBGR()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = 3
        for b, (out_ch, n) in enumerate(_BLOCKS, start=1):
            for i in range(1, n + 1):
                layers[f"conv{b}_{i}"] = nn.Conv2d(in_ch, out_ch, 3, padding=1)
                layers[f"relu{b}_{i}"] = nn.ReLU()
                in_ch = out_ch
            layers[f"pool{b}"] = nn.MaxPool2d(2, 2)
        self.features = nn.Sequential(layers)
        self.head = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(1),
                fc6=nn.Linear(512 * 7 * 7, 4096),
                relu6=nn.ReLU(),
                drop6=nn.Dropout(drop_rate),
                fc7=nn.Linear(4096, 4096),
                relu7=nn.ReLU(),
                drop7=nn.Dropout(drop_rate),
                fc8=nn.Linear(4096, 1),
            )
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×224×224 RGB in [0, 1] → N×512×7×7 (after pool5)."""
        return self.features(self.to_bgr(self.normalize(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """N×512×7×7 → N logits (or the N×4096 fc7 features if ``pre_logits``)."""
        if pre_logits:
            return self.head[:-1](x)
        return self.head(x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×224×224 RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


@register_model(
    ModelInfo(
        name="vgg16",
        family="vgg",
        input_size=224,
        mean=_MEAN_RGB,
        std=_STD,
        cam_layer="features.relu5_3",
        licence="Apache-2.0 (this implementation); no weights",
        paper="O. M. Parkhi, A. Vedaldi, A. Zisserman. Deep Face Recognition. BMVC 2015; "
        "K. Simonyan, A. Zisserman. Very Deep Convolutional Networks for Large-Scale Image "
        "Recognition. ICLR 2015 (arXiv:1409.1556)",
        source="https://www.robots.ox.ac.uk/~vgg/software/vgg_face/ (layout and mean pixel)",
    )
)
def vgg16(**kwargs) -> VGGFace16:
    """VGG-16 in the VGG-Face layout, 224 px, 1 logit."""
    return VGGFace16(**kwargs)
