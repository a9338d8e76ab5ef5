"""LayerCAM fused over several layers: the product of per-layer LayerCAMs.

Each layer ``l`` gives ``cam_l = ReLU(Σ_k ReLU(g_k) ⊙ A_k)`` (LayerCAM, Jiang et al. 2021), upsampled
to the face and min-max scaled to [0, 1]; the fused map is their element-wise product. A region is
high only where the deep, coarse layer *and* the shallower, finer layers see evidence for the target:
the coarse map says *what* the detector reacts to, the fine maps sharpen *where* (the same reasoning
as Guided Grad-CAM's product of a CAM with a fine gradient map, Selvaraju et al. 2017). One forward
and one backward pass (down to the shallowest layer) give every layer's gradient.

Written here: pytorch-grad-cam computes one CAM per target layer and *averages* several layers, which
keeps the coarse layer's spill around the region. Layers: ``layers=`` or ``model.info.cam_layers``
(chosen by measurement per architecture), else ``model.info.cam_layer`` alone (= LayerCAM).

What the product does and does not change, measured on ``sbi_mobilenetv2`` (bench/RESULTS.md,
issue 13): the ranking of pixels (pointing game, pixel AUROC, deletion order) differs little from
the per-layer maps', but the map is more concentrated, which is what relevance mass accuracy
rewards; the geometric mean of the same maps (same ranking, less concentrated) does not beat the
centre prior on relevance mass.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ._base import (
    BinaryLogitTarget,
    ExplainerError,
    _model_name,
    autocast,
    get_layer,
    logits_of,
    minmax,
    register_explainer,
    to_grid,
    upsample,
)
from ._cam import CAMExplainer

__all__ = ["LayerCAMFusion", "fusion_layers"]


def fusion_layers(model: nn.Module, layers: Any = None) -> tuple[str, ...]:
    """The layers to fuse: ``layers`` (a list or comma-separated text), ``info.cam_layers`` or
    ``(info.cam_layer,)``."""
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    if layers:
        return tuple(layers)
    info = getattr(model, "info", None)
    named = tuple(getattr(info, "cam_layers", ()) or ())
    if named:
        return named
    one = getattr(info, "cam_layer", None)
    if not one:
        raise ExplainerError(f"model {_model_name(model)!r} names no CAM layer (info.cam_layer); pass layers=...")
    return (one,)


@register_explainer
class LayerCAMFusion(CAMExplainer):
    """Product of LayerCAMs over several layers (see the module docstring)."""

    name = "layercam_fusion"
    paper = ("Jiang et al. LayerCAM. IEEE Trans. Image Processing 30, 2021 (per-layer maps); product "
             "fusion as in Selvaraju et al. Grad-CAM (Guided Grad-CAM), ICCV 2017")  # fmt: skip
    defaults: ClassVar[dict[str, Any]] = {**CAMExplainer.defaults, "layers": None, "fusion": "product"}

    def __init__(self, model: nn.Module, **params: Any) -> None:
        super().__init__(model, **params)
        if self.params["fusion"] not in ("product", "mean"):
            raise ExplainerError(f"{self.name}: fusion must be 'product' or 'mean', got {self.params['fusion']!r}")
        self.params["backend"] = "fast"

    def cam_fast(self, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        return (grads.clamp_min(0) * acts).sum(dim=1)

    def _check(self, x: torch.Tensor) -> None:
        if self.params["layers"] is None and self.params["layer"] is None:
            self.check_model(self.model, x)

    def _explain(self, x: torch.Tensor, target: BinaryLogitTarget):
        names = fusion_layers(self.model, self.params["layers"] or self.params["layer"])
        self._layer_name = ",".join(names)
        store: dict[str, torch.Tensor] = {}
        handles = []

        def hook_for(name: str):
            def hook(module: nn.Module, args: Any, out: Any) -> Any:
                if name in store:  # a module called twice: the first call counts
                    return None
                if not torch.is_tensor(out):
                    raise ExplainerError(f"{self.name}: layer {name!r} returns {type(out).__name__}")
                store[name] = out
                return out.clone()  # later in-place ops must not touch the stored activation

            return hook

        for n in names:
            handles.append(get_layer(self.model, n).register_forward_hook(hook_for(n)))
        try:
            with autocast(x.device, self.params["bf16"]):
                out = self.model(x)
            logits = logits_of(out, len(x))
            missing = [n for n in names if n not in store]
            if missing:
                raise ExplainerError(f"{self.name}: layer {missing[0]!r} was not called in forward")
            acts = [store[n] for n in names]
            grads = torch.autograd.grad(target(logits).sum(), acts, allow_unused=True)
        finally:
            for h in handles:
                h.remove()
        size = tuple(x.shape[-2:])
        fused = None
        for a, g in zip(acts, grads, strict=True):
            a = to_grid(a.detach().float(), self.model)
            g = torch.zeros_like(a) if g is None else to_grid(g.float(), self.model)
            cam = minmax(upsample(F.relu(self.cam_fast(a, g)), size))
            if fused is None:
                fused = cam
            elif self.params["fusion"] == "product":
                fused = fused * cam
            else:
                fused = fused + cam
        if self.params["fusion"] == "mean":
            fused = fused / len(acts)
        return fused, logits.detach(), {}
