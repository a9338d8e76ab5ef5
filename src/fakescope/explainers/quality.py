"""Measured quality of each explanation method on each shipped detector (package data).

``quality.json`` next to this module is written by ``bench/xai_quality.py`` (``fakescope xai-eval`` on
manipulated faces with known masks, see :mod:`fakescope.xai_eval`) and read here. Per model it holds:

* ``neutral_baseline``: the perturbation baseline the model scores as most real-like (measured on real
  faces; a blurred face is *not* neutral for these detectors: they call it fake), used by occlusion,
  LIME and KernelSHAP (``baseline="neutral"``) and by the faithfulness checks;
* ``methods``: per method, pointing game (all / off-centre masks), relevance mass accuracy, pixel
  AUROC, deletion gain over a random order, the randomisation-check correlation and whether it passed,
  ms per face, with 95 % bootstrap intervals;
* ``defaults``: the methods chosen by measurement (faithful and sane first, then localising, then fast).

Models not in the table fall back to :data:`FALLBACK_NEUTRAL` and :data:`FALLBACK_DEFAULTS`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "FALLBACK_DEFAULTS",
    "FALLBACK_NEUTRAL",
    "default_methods",
    "failed_sanity",
    "method_quality",
    "model_entry",
    "neutral_baseline",
    "quality_table",
    "real_face_mean",
]

#: baseline for models without a measurement: each face's own mean colour
FALLBACK_NEUTRAL = "mean"
FALLBACK_DEFAULTS = ("gradcam++",)


@lru_cache(maxsize=1)
def quality_table() -> dict[str, Any]:
    """The shipped table (``{"models": {name: {...}}, ...}``); empty models when not shipped."""
    try:
        text = resources.files(__package__).joinpath("quality.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"models": {}}
    return json.loads(text)


def _name(model: Any) -> str | None:
    if model is None or isinstance(model, str):
        return model
    info = getattr(model, "info", None)
    return getattr(info, "name", None)


def model_entry(model: Any) -> dict[str, Any]:
    """The table's entry for ``model``: a model object (its ``info.name`` and ``weights_tag``), a name
    or ``"name:tag"``. Entries are keyed ``name`` (measured with the model's default weights) and
    ``name:tag`` (other weights); a model with other weights never falls back to the default weights'
    entry (its maps were not measured)."""
    if model is None:
        return {}
    if isinstance(model, str):
        name, _, tag = model.partition(":")
    else:
        name, tag = _name(model) or "", str(getattr(model, "weights_tag", "") or "")
    models = quality_table().get("models", {})
    if tag and tag != "default":
        if f"{name}:{tag}" in models:
            return models[f"{name}:{tag}"]
        try:
            from ..models import get_model_info

            if tag != get_model_info(name).default_weights:
                return {}
        except Exception:  # noqa: BLE001 - an unknown name has no entry
            return {}
    return models.get(name, {})


def neutral_baseline(model: Any) -> str:
    """The measured neutral perturbation baseline of ``model`` (a name or a model with ``info``)."""
    return model_entry(model).get("neutral_baseline", {}).get("kind", FALLBACK_NEUTRAL)


def method_quality(model: Any, method: str) -> dict[str, Any] | None:
    """The measured row of ``method`` on ``model``, or None when not measured."""
    return model_entry(model).get("methods", {}).get(method)


def failed_sanity(model: Any, method: str) -> bool:
    """True when the shipped table says ``method`` failed the randomisation check on ``model``."""
    row = method_quality(model, method)
    return bool(row) and row.get("sanity_pass") is False


def default_methods(model: Any) -> tuple[str, ...]:
    """The explanation methods chosen for ``model`` by measurement (fallback: Grad-CAM++)."""
    return tuple(model_entry(model).get("defaults", FALLBACK_DEFAULTS))


@lru_cache(maxsize=1)
def real_face_mean() -> np.ndarray:
    """3×h×w float32 average of real face crops (RGB in [0, 1]), ``assets/real_face_mean.png``."""
    from PIL import Image

    ref = resources.files(__package__).joinpath("assets/real_face_mean.png")
    with resources.as_file(ref) as path, Image.open(path) as img:
        arr = np.asarray(img.convert("RGB"), np.float32) / 255.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1))
