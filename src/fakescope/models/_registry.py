"""Model registry: frozen metadata per architecture, ``create_model`` / ``list_models``.

Contract for every registered model (see README, "Model contract"):
input is a float tensor N×3×H×W, RGB, values in [0, 1], at ``info.input_size``; the model applies its
own normalisation (``info.mean`` / ``info.std``) inside ``forward``; output is a tensor of N logits,
the log-odds that the face is **fake**.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from .._registry import Registry
from ..errors import WeightsError

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
    """Metadata of a registered model, or of weights installed under ``name`` (``fakescope weights``)."""
    if name not in _MODELS:
        info = _installed_info(name)
        if info is not None:
            return info
    return _MODELS.get(name).info


def _installed_info(name: str) -> ModelInfo | None:
    from ..catalogue.store import installed_model_info  # lazily: the store builds on this registry

    return installed_model_info(name)


def list_installed_models() -> list[str]:
    """Names of weights installed with ``fakescope weights pull/add`` (under ``$FAKESCOPE_HOME``)."""
    from ..catalogue.store import list_installed

    return [n for n in list_installed() if n not in _MODELS]


def has_usable_weights(name: str) -> bool:
    """True when ``create_model(name)`` runs trained weights: shipped default weights that are
    present, or weights installed under ``name``."""
    if name not in _MODELS:
        return _installed_info(name) is not None
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


def create_model(
    name: str,
    weights: str | None = "default",
    checkpoint_path: str | Path | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered model in eval mode, with weights loaded.

    ``weights``: a tag from ``get_model_info(name).weights`` (e.g. ``"df"``), ``"default"`` for the
    model's default tag, or ``None`` for random initialisation. ``checkpoint_path`` loads a local file
    instead (it overrides ``weights``): a file written by ``fakescope convert``, or — for a model
    without a weight loader of its own — any checkpoint :mod:`fakescope.models.convert` recognises,
    both with the checkpoint's preprocessing in ``model.info``; otherwise the default tag's loader.
    The returned module carries its :class:`ModelInfo` as ``model.info`` and the tag as
    ``model.weights_tag``.
    """
    if name not in _MODELS and _installed_info(name) is not None:
        if checkpoint_path is not None:
            raise WeightsError(f"{name!r} is installed weights; --checkpoint applies to an architecture "
                               f"({get_model_info(name).family} models: see `fakescope models --all`)")  # fmt: skip
        from ..catalogue.store import create_installed_model

        return create_installed_model(name, weights, **kwargs)
    entry = _MODELS.get(name)
    info = entry.info
    tag: str | None = None
    if checkpoint_path is not None:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise WeightsError(f"{path}: weight file not found")
        from . import convert  # lazily: the importers build on this registry
        from .convert._io import HDF5_MAGIC

        with open(path, "rb") as fh:
            magic = fh.read(8)
        own_hdf5 = any(w.file.endswith(".h5") for w in info.weights.values())
        if not info.weights or convert.is_converted(path) or (own_hdf5 and magic != HDF5_MAGIC):
            model, info = convert.load_checkpoint(path, arch=name, **kwargs)
            model.info = info
            model.weights_tag = f"file:{path.name}"
            return model.eval()
    model = entry.builder(**kwargs)
    if checkpoint_path is not None:
        wi = info.weights[info.default_weights or next(iter(info.weights))]
        wi.loader(model, path)
        tag = f"file:{path.name}"
    elif weights is not None:
        tag = info.default_weights if weights == "default" else weights
        if tag is not None:
            if tag not in info.weights:
                known = ", ".join(sorted(info.weights)) or "none"
                raise WeightsError(f"model {name!r} has no weights {tag!r} (known: {known})")
            wi = info.weights[tag]
            if not wi.path.is_file():
                raise WeightsError(f"{wi.path}: weight file for {name}/{tag} is missing")
            if wi.sha256 and sha256_file(wi.path) != wi.sha256:
                raise WeightsError(f"{wi.path}: sha256 does not match the published weights (corrupt file?)")
            wi.loader(model, wi.path)
    model.info = info
    model.weights_tag = tag
    return model.eval()
