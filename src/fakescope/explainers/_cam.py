"""Class-activation-map family: one layer's activations A (N×K×h×w), optionally weighted by the
gradient of the target score w.r.t. A, summed over channels, ReLU'd and upsampled.

The target layer is ``layer=`` if given, else ``model.info.cam_layer`` (a dotted module path; token
activations N×T×C of transformers are laid out on their patch grid).

Two back ends:

* ``backend="fast"`` (default for the gradient CAMs): the part of the forward pass before the layer
  runs without autograd, and the gradient is taken w.r.t. the layer's activation only
  (``torch.autograd.grad(score, A)``), so the backward pass stops at the layer instead of running to
  the input. Weights and maps follow the formulas of pytorch-grad-cam (subclasses implement
  :meth:`cam_fast`).
* ``backend="pytorch-grad-cam"``: the library's CAM object (hooks and ``get_cam_image``) in a
  context manager so its hooks are released even after an exception. EigenCAM and ScoreCAM always
  use it.

Both back ends share the post-processing: ReLU, bilinear upsampling to the face's H×W and (if
``normalize``) per-map min-max scaling to [0, 1].
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._base import (
    BinaryLogitTarget,
    Explainer,
    ExplainerError,
    UnsupportedModelError,
    _model_name,
    autocast,
    get_layer,
    logits_of,
    minmax,
    to_grid,
)

__all__ = ["CAMExplainer", "resolve_cam_layer"]


def resolve_cam_layer(model: nn.Module, layer: str | None) -> tuple[str, nn.Module]:
    """``(name, module)`` of the CAM target layer: ``layer`` or ``model.info.cam_layer``."""
    name = layer or getattr(getattr(model, "info", None), "cam_layer", None)
    if not name:
        raise UnsupportedModelError(
            f"model {_model_name(model)!r} names no CAM layer (info.cam_layer); pass layer='...'"
        )
    return name, get_layer(model, name)


class _Released:
    """Mixin for pytorch-grad-cam CAM classes: ``__exit__`` releases the hooks and, unlike the
    library's own, never swallows an exception (it hides IndexError)."""

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.activations_and_grads.release()  # type: ignore[attr-defined]
        return False


class CAMExplainer(Explainer):
    """Base of the CAM methods. Subclasses set ``cam_class`` (pytorch-grad-cam) and/or implement
    :meth:`cam_fast`; ``uses_gradients`` = False for gradient-free CAMs."""

    family = "cam"
    defaults: ClassVar[dict[str, Any]] = {
        "layer": None,
        "normalize": True,
        "backend": "fast",
        "batch_size": 32,
        "bf16": False,
    }
    uses_gradients: ClassVar[bool] = True
    cam_class: ClassVar[type | None] = None
    sign = "non-negative: higher = more evidence for the target in that region"

    def __init__(self, model: nn.Module, **params: Any) -> None:
        super().__init__(model, **params)
        backend = self.params["backend"]
        if backend not in ("fast", "pytorch-grad-cam"):
            raise ExplainerError(f"{self.name}: backend must be 'fast' or 'pytorch-grad-cam', got {backend!r}")
        if backend == "fast" and type(self).cam_fast is CAMExplainer.cam_fast:
            self.params["backend"] = "pytorch-grad-cam"  # no fast path for this method
        self._layer_name: str | None = None

    @classmethod
    def unsupported(cls, model: nn.Module, x: torch.Tensor | None = None) -> str | None:
        if getattr(getattr(model, "info", None), "cam_layer", None) is None:
            return f"model {_model_name(model)!r} names no CAM layer (info.cam_layer); pass layer='...'"
        return None

    def _check(self, x: torch.Tensor) -> None:
        if self.params["layer"] is None:
            self.check_model(self.model, x)

    @property
    def layer_name(self) -> str | None:
        return self._layer_name

    def describe(self) -> tuple[str, str]:
        if self.params["normalize"]:
            return self.sign, "[0, 1], min-max normalised per map"
        return self.sign, "≥ 0, unnormalised (channel-weighted activation at the layer)"

    def _finish(self, maps: torch.Tensor) -> torch.Tensor:
        return minmax(maps) if self.params["normalize"] else maps

    # -- the method-specific part --------------------------------------------------------------

    def cam_fast(self, acts: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        """Raw map n×h×w (before ReLU) from activations and gradients (n×K×h×w)."""
        raise NotImplementedError

    # -- running -------------------------------------------------------------------------------

    def _explain(self, x: torch.Tensor, target: BinaryLogitTarget):
        name, layer = resolve_cam_layer(self.model, self.params["layer"])
        self._layer_name = name
        if self.params["backend"] == "fast":
            acts, grads, logits = self._acts_and_grads(x, layer, target)
            cam = self.cam_fast(acts, grads)
        else:
            cam, logits = self._with_library(x, layer, target)
        return F.relu(cam.float()), logits, {}

    def _acts_and_grads(self, x: torch.Tensor, layer: nn.Module, target: BinaryLogitTarget):
        """Layer activation (n×K×h×w), gradient of the target score w.r.t. it, and the logits.

        The forward pass runs under ``no_grad`` until the layer; its output is replaced by a fresh
        leaf that requires grad, and autograd is switched on for the rest of the pass, so the graph
        (and the backward pass) covers only layer → logit.
        """
        store: list[torch.Tensor] = []
        need_grad = self.uses_gradients

        def hook(module: nn.Module, args: Any, out: Any) -> Any:
            if store:  # a module called twice: the first call is the CAM layer
                return None
            if not torch.is_tensor(out):
                raise ExplainerError(f"{self.name}: layer {self._layer_name!r} returns {type(out).__name__}")
            a = out.detach().requires_grad_(need_grad)
            store.append(a)
            if need_grad:
                torch.set_grad_enabled(True)  # restored when the enclosing no_grad block exits
                return a.clone()  # a non-leaf, so in-place ops downstream are allowed
            return None

        handle = layer.register_forward_hook(hook)
        try:
            with torch.no_grad(), autocast(x.device, self.params["bf16"]):
                out = self.model(x)
            logits = logits_of(out, len(x))
            if not store:
                raise ExplainerError(f"{self.name}: layer {self._layer_name!r} was not called in forward")
            acts = store[0]
            grads = None
            if need_grad:
                score = target(logits).sum()
                (grads,) = torch.autograd.grad(score, acts, allow_unused=True)
                if grads is None:
                    grads = torch.zeros_like(acts)
        finally:
            handle.remove()
        acts = to_grid(acts.detach().float(), self.model)
        grads = to_grid(grads.float(), self.model) if grads is not None else None
        return acts, grads, logits.detach()

    def _with_library(self, x: torch.Tensor, layer: nn.Module, target: BinaryLogitTarget):
        """Map and logits through pytorch-grad-cam's hooks and ``get_cam_image``."""
        cls = self.cam_class
        if cls is None:  # pragma: no cover - every registered CAM sets one
            raise ExplainerError(f"{self.name}: no pytorch-grad-cam implementation")
        model = self.model

        def reshape(t: torch.Tensor) -> torch.Tensor:
            return to_grid(t, model)

        with cls(model, [layer], reshape_transform=reshape) as cam:
            self._configure(cam)
            targets = [target] * len(x)
            if self.uses_gradients:
                xg = x.detach().requires_grad_(True)
                with autocast(x.device, self.params["bf16"]):
                    out = cam.activations_and_grads(xg)
                logits = logits_of(out, len(x))
                # gradient to the input (the library's full backward) without touching param.grad
                torch.autograd.grad(target(logits).sum(), xg)
                grads = cam.activations_and_grads.gradients[0].float().numpy()
            else:
                with torch.no_grad(), autocast(x.device, self.params["bf16"]):
                    out = cam.activations_and_grads(x)
                logits = logits_of(out, len(x))
                grads = None
            acts = cam.activations_and_grads.activations[0].float().numpy()
            # hooks off before get_cam_image: ScoreCAM's masked forward passes must not be recorded
            cam.activations_and_grads.release()
            raw = cam.get_cam_image(x, layer, targets, acts, grads, eigen_smooth=False)
        return torch.from_numpy(np.asarray(raw, dtype=np.float32)), logits.detach()

    def _configure(self, cam: Any) -> None:
        """Set method options on the library CAM object (ScoreCAM's batch size, ...)."""
