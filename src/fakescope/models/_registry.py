"""Model registry: frozen metadata per architecture, ``create_model`` / ``list_models``.

Contract for every registered model (see README, "Model contract"):
input is a float tensor N×3×H×W, RGB, values in [0, 1], at ``info.input_size``; the model applies its
own normalisation (``info.mean`` / ``info.std``) inside ``forward``; output is a tensor of N logits,
the log-odds that the face is **fake**.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from torch import nn

from .._registry import Registry
from ..errors import WeightsError

_log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

# A weight loader copies the parameters in ``path`` onto ``model`` or raises WeightsError.
WeightLoader = Callable[[nn.Module, Path], None]


@dataclass(frozen=True)
class WeightsInfo:
    """One published set of weights for a model."""

    tag: str
    file: str  # path relative to the package's ``weights/`` folder
    sha256: str
    loader: WeightLoader = field(repr=False, compare=False)
    licence: str = ""
    source: str = ""
    description: str = ""
    # raises WeightsError when something the loader needs beyond ``file`` is missing (e.g. a package)
    requires: Callable[[], object] | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


@dataclass(frozen=True)
class ModelInfo:
    """Frozen metadata of one architecture (timm's pretrained_cfg, flattened)."""

    name: str
    family: str
    input_size: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    value_range: tuple[float, float] = (0.0, 1.0)
    cam_layer: str | None = None  # dotted module name of the default CAM target layer
    # layers whose LayerCAMs the ``layercam_fusion`` explainer multiplies (fine → coarse); empty: cam_layer
    cam_layers: tuple[str, ...] = ()
    # how analyze crops faces for this model (fakescope.faces.crop.crop_face): what fills outside the
    # frame, and the resize filter — the model's original training pipeline's, where known
    crop_padding: str = "black"
    crop_resize: str = "auto"
    # "none": the square crop; "gend" / "deepfakebench": aligned on five landmarks as those projects trained
    # (fakescope.faces.align) — set per checkpoint by its importer
    crop_align: str = "none"
    licence: str = ""
    paper: str = ""
    source: str = ""
    default_weights: str | None = None
    weights: dict[str, WeightsInfo] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "value_range": list(self.value_range),
            "cam_layer": self.cam_layer,
            "cam_layers": list(self.cam_layers),
            "crop_padding": self.crop_padding,
            "crop_resize": self.crop_resize,
            "crop_align": self.crop_align,
            "licence": self.licence,
            "paper": self.paper,
            "source": self.source,
            "default_weights": self.default_weights,
            "weights": {
                t: {"file": w.file, "sha256": w.sha256, "licence": w.licence, "source": w.source,
                    "description": w.description}
                for t, w in self.weights.items()
            },
        }


@dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    builder: Callable[..., nn.Module]


_MODELS: Registry[_Entry] = Registry("model")


def register_model(info: ModelInfo) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder(**kwargs) -> nn.Module`` under ``info.name``."""

    def _wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _MODELS.register(info.name, _Entry(info, builder))
        return builder

    return _wrap


def list_models(pattern: str | None = None) -> list[str]:
    """Names of registered models, optionally filtered by a glob ``pattern``."""
    return _MODELS.names(pattern)


def get_model_info(name: str) -> ModelInfo:
    """Metadata of a registered model, or of a model a registered source offers (installed weights)."""
    if name not in _MODELS:
        info = _source_info(name)
        if info is not None:
            return info
    return _MODELS.get(name).info


# ------------------------------------------------------------------------------------ model sources
# Models that are not architectures registered here but named sets of weights kept elsewhere (the
# weights catalogue's installed weights, ``fakescope weights pull/add``). This registry does not know
# where they come from: a source registers itself with ``register_model_source``, or is declared as an
# entry point of the group ``fakescope.model_sources`` naming a source object (loaded on first use).


@runtime_checkable
class ModelSource(Protocol):
    """Where named models beyond the registered architectures come from."""

    def info(self, name: str) -> ModelInfo | None:
        """The model's metadata, or None when this source has no model ``name``."""

    def names(self) -> list[str]:
        """Every model this source has."""

    def create(self, name: str, weights: str | None = "default", **kwargs) -> nn.Module:
        """Model ``name`` in eval mode with ``model.info`` and ``model.weights_tag`` set, as ``create_model``."""


ENTRY_POINT_GROUP = "fakescope.model_sources"
_SOURCES: list[ModelSource] = []
_entry_points_loaded = False


def register_model_source(source: ModelSource) -> ModelSource:
    """Consult ``source`` for names that are not registered architectures (after those registered
    before it). Registering the same object again does nothing. Returns ``source``."""
    if not isinstance(source, ModelSource):
        raise TypeError(f"{source!r} is not a model source (needs info, names and create)")
    if not any(s is source for s in _SOURCES):
        _SOURCES.append(source)
    return source


def model_sources() -> tuple[ModelSource, ...]:
    """The registered model sources, those declared as entry points included."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register_model_source(ep.load())
            except Exception as e:  # a broken plugin must not take the built-in models down with it
                _log.warning("model source %s (%s) not loaded: %s", ep.name, ep.value, e)
    return tuple(_SOURCES)


def _source_of(name: str) -> tuple[ModelSource, ModelInfo] | None:
    for source in model_sources():
        info = source.info(name)
        if info is not None:
            return source, info
    return None


def _source_info(name: str) -> ModelInfo | None:
    found = _source_of(name)
    return None if found is None else found[1]


def list_installed_models() -> list[str]:
    """Names of models the registered sources offer — weights installed with ``fakescope weights
    pull/add`` (under ``$FAKESCOPE_HOME``) — that are not registered architectures."""
    names: list[str] = []
    for source in model_sources():
        names += [n for n in source.names() if n not in _MODELS and n not in names]
    return names


def has_usable_weights(name: str) -> bool:
    """True when ``create_model(name)`` runs trained weights: shipped default weights that are
    present, or weights installed under ``name``."""
    if name not in _MODELS:
        return _source_info(name) is not None
    info = _MODELS.get(name).info
    if info.default_weights is None:
        return False
    wi = info.weights[info.default_weights]
    if not wi.path.is_file():
        return False
    if wi.requires is not None:
        try:
            wi.requires()
        except WeightsError:
            return False
    return True


def list_runnable_models() -> list[str]:
    """Models with usable weights — shipped or installed — what the CLI, HTTP API and web app offer."""
    return [n for n in list_models() if has_usable_weights(n)] + list_installed_models()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
