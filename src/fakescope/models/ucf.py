"""UCF (Yan et al., ICCV 2023): the inference path of DeepfakeBench's ``UCFDetector``.

Paper: Z. Yan, Y. Zhang, Y. Fan, B. Wu. UCF: Uncovering Common Features for Generalizable Deepfake
Detection. ICCV 2023 (arXiv:2304.13949). Code read: SCLBD/DeepfakeBench@8a4a7bf5e966c5c5618bc27d1719c3683eae9a04,
``training/detectors/ucf_detector.py`` (``forward(..., inference=True)``), ``training/networks/xception.py``
(``mode: adjust_channel``), ``training/config/detector/ucf.yaml``.

UCF trains two Xception encoders (forgery ``encoder_f``, content ``encoder_c``), a conditional generator that
re-synthesises images from swapped features, and a "specific" branch that names the manipulation method; all
of these are training devices. Its test-time score uses only the forgery encoder and the "common" (shared)
branch: ``encoder_f.features`` (Xception up to ``bn4`` — no ReLU after it — then ``adjust_channel`` = 1×1 conv
2048 → 512, BatchNorm, ReLU) → ``block_sha`` (1×1 conv 512 → 256, LeakyReLU, 1×1 conv 256 → 256, LeakyReLU,
1×1 conv 256 → 256) → ``head_sha`` (global average pool, Linear 256 → 512, LeakyReLU, Linear 512 → 2; its
dropout is off in eval) → ``softmax[:, 1]`` = P(fake). Here the 2-logit head is one logit, z_fake − z_real.

Input 256×256 RGB in [0, 1] (``resolution: 256``), normalised inside with mean = std = 0.5. The Xception
trunk is timm ``legacy_xception`` (the Cadene layout DeepfakeBench's ``xception.py`` keeps, module for
module) with its last ReLU (``act4``) removed and no classifier. Default Grad-CAM layer: ``block_sha.4``,
the common-forgery feature map that ``head_sha`` pools (N×256×8×8 at 256 px).
"""

from __future__ import annotations

import torch
from torch import nn

from ._layers import Normalize, disable_inplace
from ._registry import ModelInfo, register_model

__all__ = ["UCFClassifier", "ucf_xception"]

_MEAN = _STD = (0.5, 0.5, 0.5)


class UCFClassifier(nn.Module):
    """Xception (``backbone``, to ``bn4``) → ``adjust_channel`` → ``block_sha`` → mean pool → ``head_sha`` → 1 logit."""

    def __init__(self, feat_dim: int = 512, **timm_kwargs) -> None:
        super().__init__()
        import timm  # lazily: importing fakescope.models stays fast

        half = feat_dim // 2
        self.normalize = Normalize(_MEAN, _STD)
        self.backbone = timm.create_model("legacy_xception", pretrained=False, num_classes=0, **timm_kwargs)
        self.backbone.act4 = nn.Identity()  # UCF's encoder output is bn4 → adjust_channel
        self.adjust_channel = nn.Sequential(nn.Conv2d(2048, feat_dim, 1), nn.BatchNorm2d(feat_dim), nn.ReLU())
        self.block_sha = nn.Sequential(
            nn.Conv2d(feat_dim, half, 1), nn.LeakyReLU(), nn.Conv2d(half, half, 1), nn.LeakyReLU(),
            nn.Conv2d(half, half, 1),
        )  # fmt: skip
        self.head_sha = nn.Sequential(nn.Linear(half, feat_dim), nn.LeakyReLU(), nn.Linear(feat_dim, 1))
        disable_inplace(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → the common-forgery feature map, N×(feat_dim/2)×h×w."""
        return self.block_sha(self.adjust_channel(self.backbone.forward_features(self.normalize(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map → N logits (or the N×(feat_dim/2) pooled features if ``pre_logits``)."""
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head_sha(x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))


@register_model(
    ModelInfo(
        name="ucf_xception",
        family="xception",
        input_size=256,
        mean=_MEAN,
        std=_STD,
        cam_layer="block_sha.4",
        licence="Apache-2.0 (fakescope and timm code); no weights of its own: DeepfakeBench's are pulled with "
        "`fakescope weights pull deepfakebench-ucf` (CC-BY-NC-4.0)",
        paper="Z. Yan, Y. Zhang, Y. Fan, B. Wu. UCF: Uncovering Common Features for Generalizable Deepfake "
        "Detection. ICCV 2023 (arXiv:2304.13949)",
        source="https://github.com/SCLBD/DeepfakeBench training/detectors/ucf_detector.py (inference path; "
        "Xception trunk: timm legacy_xception)",
    )
)
def ucf_xception(**kwargs) -> UCFClassifier:
    """UCF's test-time network: Xception forgery encoder + common-forgery branch, 256 px, 1 logit."""
    return UCFClassifier(**kwargs)
