"""Score-CAM (Wang et al., CVPR-W 2020, arXiv:1910.01279).

Each channel of the CAM layer, upsampled and min-max scaled to [0, 1], masks the input; the target
score of each masked input, softmaxed over channels, weights the channels: ``cam = ReLU(Σ_k w_k A_k)``.
One forward pass per channel and face, run in batches of ``mask_batch_size`` masked faces;
``max_channels=k`` keeps only the k channels of largest spatial variance (the "Faster Score-CAM"
shortcut; the others get weight 0), which bounds the cost on wide layers (2048 channels on Xception).
``max_channels="auto"`` (the default) keeps :data:`CPU_MAX_CHANNELS` channels on a CPU (all 1280 of
MobileNet-V2's last layer would cost 1280 forward passes per face) and every channel on a GPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pytorch_grad_cam import ScoreCAM as _LibScoreCAM

from ._base import ExplainerError, _device_of, autocast, logits_of, register_explainer
from ._cam import CAMExplainer, _Released

#: channels Score-CAM keeps on a CPU when ``max_channels="auto"``
CPU_MAX_CHANNELS = 64


class _ScoreCAM(_Released, _LibScoreCAM):
    """pytorch-grad-cam's ScoreCAM with a batched, memory-bounded weight computation: masked faces
    are built ``batch_size`` at a time (the library builds all N×K×3×H×W at once) and without tqdm."""

    batch_size = 32
    bf16 = False
    max_channels: int | None = None

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        with torch.no_grad():
            acts = torch.as_tensor(activations, device=self.device).float()
            up = F.interpolate(acts, size=input_tensor.shape[-2:], mode="bilinear", align_corners=True)
            flat = up.flatten(2)
            lo = flat.min(dim=-1).values[..., None, None]
            hi = flat.max(dim=-1).values[..., None, None]
            up = (up - lo) / (hi - lo + 1e-8)
            n, k = acts.shape[:2]
            if self.max_channels and self.max_channels < k:
                chosen = acts.flatten(2).var(dim=-1).topk(self.max_channels, dim=1).indices  # n×m
            else:
                chosen = torch.arange(k, device=acts.device).expand(n, k)
            scores = torch.full((n, k), float("-inf"))
            for i in range(n):
                idx = chosen[i]
                for j in range(0, len(idx), self.batch_size):
                    sel = idx[j : j + self.batch_size]
                    masked = input_tensor[i][None] * up[i, sel, None]
                    with autocast(input_tensor.device, self.bf16):
                        out = self.model(masked)
                    scores[i, sel.cpu()] = targets[i](logits_of(out, len(masked))).cpu()
            return torch.softmax(scores, dim=-1).numpy()  # unselected channels: weight 0


@register_explainer
class ScoreCAM(CAMExplainer):
    """Gradient-free CAM weighted by the target score of channel-masked faces."""

    name = "scorecam"
    paper = "Wang et al. Score-CAM. CVPR Workshops 2020. arXiv:1910.01279"
    cam_class = _ScoreCAM
    uses_gradients = False
    defaults: ClassVar[dict[str, Any]] = {**CAMExplainer.defaults, "batch_size": 4, "mask_batch_size": "auto",
                                                   "max_channels": "auto"}

    def _configure(self, cam: Any) -> None:
        cam.batch_size = self.inner_batch("mask_batch_size", _device_of(self.model))
        cam.bf16 = bool(self.params["bf16"])
        k = self.params["max_channels"]
        if k == "auto":
            k = CPU_MAX_CHANNELS if _device_of(self.model).type == "cpu" else None
        elif k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ExplainerError(f"scorecam: max_channels must be a positive integer, 'auto' or None, got {k!r}")
        cam.max_channels = self.resolved["max_channels"] = k
