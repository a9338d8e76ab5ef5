"""Perturbation family over captum: the model is only *run* (no gradients) on copies of a face
where regions are replaced by a baseline (by default ``"neutral"``: the kind measured as scored
real-like by the model, see :mod:`fakescope.explainers.quality`; a blurred face is scored *fake* by the
shipped detectors, which confounds the sign of the maps), ``perturbations_per_eval``
copies per forward pass (``"auto"``: 8 on a CPU, 32 on a GPU).

These methods need forward passes only, so they can run the model through onnxruntime
(``backend="onnx"``): the same float32 numbers (|Δ logit| ≤ 1e-4, checked at export; maps within
1e-5 here) and 1.0–1.5× faster than channels-last PyTorch on this project's CPU (bench/RESULTS.md,
"Explainers"), after a one-off export cached per set of weights
(:func:`fakescope.models.export.cached_onnx_model`). ``"auto"`` uses onnxruntime when it can and
PyTorch otherwise (models that do not export, faces not at the model's input size, ``bf16=True``, a
GPU model); ``"onnx"`` insists (one-line error otherwise). The default is ``"torch"``: no export
step, and the gain is small next to the export time for a few faces.

Regions are SLIC superpixels of the face (scikit-image; ``n_segments``, ``compactness``) for LIME,
KernelSHAP and superpixel occlusion, or sliding windows for classic occlusion. Every pixel gets the
value of its region, so maps are piecewise constant. Faces are explained one at a time (the methods
fit or ablate per face); ``seed`` makes sampling reproducible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from skimage.segmentation import slic

from ..models.export import cached_onnx_model
from ._base import (
    BinaryLogitTarget,
    Explainer,
    ExplainerError,
    SignedLogit,
    _input_size,
    logits_of,
    make_baseline,
    seeded,
)

log = logging.getLogger(__name__)

__all__ = ["PerturbationExplainer", "grid_segments", "slic_segments"]


def slic_segments(face: torch.Tensor, n_segments: int = 50, compactness: float = 10.0) -> torch.Tensor:
    """SLIC superpixels of one face (3×H×W in [0, 1]) as an H×W int64 label map 0..K−1."""
    img = face.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float64)
    labels = slic(img, n_segments=int(n_segments), compactness=float(compactness), start_label=0,
                  channel_axis=-1)
    _, labels = np.unique(labels, return_inverse=True)  # consecutive labels
    return torch.from_numpy(labels.reshape(img.shape[:2]).astype(np.int64)).to(face.device)


def grid_segments(shape: tuple[int, int], n_segments: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """H×W int64 labels of a regular grid of about ``n_segments`` (at least 4) near-square cells."""
    h, w = shape
    side = max(2, round(n_segments**0.5))
    rows = torch.arange(h, device=device) * min(side, h) // h
    cols = torch.arange(w, device=device) * min(side, w) // w
    return rows[:, None] * min(side, w) + cols[None, :]


class OnnxScore:
    """captum forward function over an onnxruntime session: N×3×H×W → N×1 ``±logit`` (float32)."""

    def __init__(self, session: Any, target: BinaryLogitTarget) -> None:
        self.session = session
        self.target = target

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.target(self.session(x.contiguous()))[:, None]


class PerturbationExplainer(Explainer):
    """Base of the perturbation methods; subclasses implement :meth:`attribute_face`."""

    family = "perturbation"
    defaults: ClassVar[dict[str, Any]] = {
        "baseline": "neutral",
        "blur_sigma": None,
        "perturbations_per_eval": "auto",
        "n_segments": 50,
        "compactness": 10.0,
        "seed": 0,
        "bf16": False,
        "backend": "torch",
        "batch_size": 8,
    }
    sign = "signed: positive = the region supports the target (removing it lowers the target score)"
    value_range = "signed, unnormalised (target-logit units), constant per region"

    def attribute_face(
        self, fwd: SignedLogit, face: torch.Tensor, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Attributions 1×3×H×W for one face (1×3×H×W) and its extras (arrays with leading dim 1)."""
        raise NotImplementedError

    def ppe(self, face: torch.Tensor) -> int:
        """``perturbations_per_eval`` with ``"auto"`` resolved for the face's device."""
        return self.inner_batch("perturbations_per_eval", face.device)

    def sample_superpixels(
        self, attributor: Any, face: torch.Tensor, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Run a captum sampling attributor (``Lime``, ``KernelShap``) over the face's superpixels with
        ``n_samples`` coalitions, ``perturbations_per_eval`` per forward pass."""
        mask = self.segments(face)
        attr = attributor.attribute(
            face,
            baselines=baseline,
            target=0,
            feature_mask=mask,
            n_samples=int(self.params["n_samples"]),
            perturbations_per_eval=self.ppe(face),
        )
        return attr, {"segments": mask[:, 0]}

    def segments(self, face: torch.Tensor) -> torch.Tensor:
        """1×1×H×W superpixel mask of a 1×3×H×W face (captum ``feature_mask``).

        When SLIC finds a single superpixel (a flat or nearly uniform face), there is nothing to
        attribute between and captum's samplers fail with an opaque error; the face is then split into
        a regular grid of about ``n_segments`` cells instead (logged; ``segmentation`` in the params).
        """
        labels = slic_segments(face[0], self.params["n_segments"], self.params["compactness"])
        if int(labels.max()) < 1:
            labels = grid_segments(tuple(face.shape[-2:]), int(self.params["n_segments"]), face.device)
            log.info("%s: SLIC found one superpixel; using a %d-cell grid", self.name, int(labels.max()) + 1)
            self.resolved["segmentation"] = "grid (SLIC found one superpixel)"
        return labels[None, None]

    def forward_fn(self, x: torch.Tensor, target: BinaryLogitTarget) -> Callable[[torch.Tensor], torch.Tensor]:
        """The N×3×H×W → N×1 target score the library perturbs: onnxruntime or PyTorch (see module doc)."""
        backend = self.params["backend"]
        if backend not in ("auto", "torch", "onnx"):
            raise ExplainerError(f"{self.name}: backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
        torch_fwd = SignedLogit(self.model, target, bf16=self.params["bf16"])
        if backend == "torch" or (backend == "auto" and self.params["bf16"]):
            return torch_fwd
        size = _input_size(self.model)
        why = None
        if self.params["bf16"]:
            why = "bf16=True runs PyTorch"
        elif x.device.type != "cpu":
            why = f"the model is on {x.device.type}"
        elif size is None or tuple(x.shape[-2:]) != (size, size):
            why = f"faces are {tuple(x.shape[-2:])}, the model's input size is {size}"
        else:
            try:
                session = cached_onnx_model(self.model)
            except Exception as exc:  # noqa: BLE001 - any export failure means "no ONNX twin"
                why = f"ONNX export failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            else:
                return OnnxScore(session, target)
        if backend == "onnx":
            raise ExplainerError(f"{self.name}: backend='onnx' unavailable: {why}")
        log.debug("%s: PyTorch forward (%s)", self.name, why)
        return torch_fwd

    def _explain(self, x: torch.Tensor, target: BinaryLogitTarget):
        fwd = self.forward_fn(x, target)
        self.resolved["backend"] = "onnxruntime" if isinstance(fwd, OnnxScore) else "torch"
        kind = self.params["baseline"]
        if kind == "neutral":  # the kind measured for this model (explainers/quality.json), recorded
            from .quality import neutral_baseline

            kind = self.resolved["baseline"] = neutral_baseline(self.model)
        base = make_baseline(x, kind, sigma=self.params["blur_sigma"], seed=self.params["seed"], model=self.model)
        maps, extras = [], []
        with torch.no_grad(), seeded(self.params["seed"]):
            logits = logits_of(self.model(x), len(x))
            for face, ref in zip(x.split(1), base.split(1), strict=True):
                attr, ex = self.attribute_face(fwd, face, ref)
                maps.append(attr.float().mean(dim=1))  # equal over channels: regions span all 3
                extras.append(ex)
        merged = {k: torch.cat([e[k] for e in extras]) for k in (extras[0] if extras else {})}
        return torch.cat(maps), logits, merged
