"""``create_model``: a registered architecture with its weights, or a model a registered source offers.

Apart from the registry (:mod:`._registry`) because it also reaches the checkpoint importers
(:mod:`.convert`), which build on the registry.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import WeightsError
from ._registry import _MODELS, _source_of, sha256_file


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
    found = None if name in _MODELS else _source_of(name)
    if found is not None:
        source, source_info = found
        if checkpoint_path is not None:
            raise WeightsError(f"{name!r} is installed weights; --checkpoint applies to an architecture "
                               f"({source_info.family} models: see `fakescope models --all`)")  # fmt: skip
        return source.create(name, weights, **kwargs)
    entry = _MODELS.get(name)
    info = entry.info
    tag: str | None = None
    if checkpoint_path is not None:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise WeightsError(f"{path}: weight file not found")
        from . import convert  # lazily: the importers are many and rarely needed
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
