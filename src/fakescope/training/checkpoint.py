"""Checkpoints: weights as safetensors, metadata as JSON, training state loadable with ``weights_only``.

A checkpoint folder holds:

* ``model.safetensors`` — the model's ``state_dict()`` (the registered architecture's own keys);
* ``meta.json`` — architecture, model kwargs, input size, preprocessing (crop function, margin,
  detector, value range, normalisation, CLAHE), label convention, a summary of the training data,
  the resolved configuration and the validation metrics;
* ``state.pt`` (``last/`` only) — optimiser, LR scheduler, RNG states and progress counters, written
  with ``torch.save`` and read back with ``torch.load(weights_only=True)``: tensors, numbers, strings,
  lists and dicts only — nothing is unpickled beyond that.

:func:`load_trained_model` rebuilds the model from a folder (or its ``model.safetensors``) for any
registered architecture, including the CLAHE wrapper when the training used it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._version import __version__

__all__ = [
    "LABEL_CONVENTION",
    "get_rng_state",
    "load_train_state",
    "load_trained_model",
    "read_meta",
    "save_checkpoint",
    "set_rng_state",
]

LABEL_CONVENTION = "output is one logit per face: log-odds that the face is fake (label 1 = fake, 0 = real)"


def _inner(model: nn.Module) -> nn.Module:
    from .augment import ClaheInput

    return model.model if isinstance(model, ClaheInput) else model


def get_rng_state() -> dict:
    """Python, NumPy and torch RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
    return {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".part")
    write(tmp)
    tmp.replace(path)


def save_checkpoint(folder: str | Path, model: nn.Module, meta: dict, train_state: dict | None = None) -> Path:
    """Write ``model.safetensors`` + ``meta.json`` (+ ``state.pt``) into ``folder`` (atomically per file)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in _inner(model).state_dict().items()}
    _atomic_write(folder / "model.safetensors", lambda p: save_file(sd, str(p), metadata={"format": "pt"}))
    meta = {"format": "fakescope-checkpoint", "version": 1, "fakescope_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}  # fmt: skip
    _atomic_write(folder / "meta.json", lambda p: p.write_text(json.dumps(meta, indent=1, default=str) + "\n"))
    if train_state is not None:
        _atomic_write(folder / "state.pt", lambda p: torch.save(train_state, p))
    return folder


def load_train_state(folder: str | Path) -> dict:
    return torch.load(Path(folder) / "state.pt", map_location="cpu", weights_only=True)


def read_meta(path: str | Path) -> dict | None:
    """``meta.json`` of a checkpoint folder, or of the folder holding a ``.safetensors`` file."""
    p = Path(path)
    f = (p if p.is_dir() else p.parent) / "meta.json"
    return json.loads(f.read_text()) if f.is_file() else None


def load_trained_model(path: str | Path, model: str | None = None) -> nn.Module:
    """Rebuild a trained model (eval mode) from a checkpoint folder or its ``model.safetensors``.

    ``model`` overrides/provides the architecture when there is no ``meta.json``.
    """
    from safetensors.torch import load_file

    from ..errors import WeightsError
    from ..models import create_model
    from .augment import ClaheInput

    p = Path(path)
    weights = p / "model.safetensors" if p.is_dir() else p
    if not weights.is_file():
        raise WeightsError(f"{weights}: weight file not found")
    meta = read_meta(p) or {}
    arch = model or meta.get("architecture")
    if not arch:
        raise WeightsError(f"{p}: no meta.json next to the weights; name the architecture (--model)")
    if meta.get("architecture") and model and model != meta["architecture"]:
        raise WeightsError(f"{p}: trained as {meta['architecture']!r}, not {model!r}")
    net = create_model(arch, weights=None, **meta.get("model_kwargs", {}))
    try:
        sd = load_file(str(weights))
    except Exception as e:
        raise WeightsError(f"{weights}: cannot read safetensors ({e})") from None
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:300]
        raise WeightsError(f"{weights}: does not fit {arch} ({msg})") from None
    net.weights_tag = f"file:{weights.name}"
    clahe = (meta.get("preprocessing") or {}).get("clahe")
    if clahe:
        wrapped = ClaheInput(net, clahe["clip_limit"], clahe["tile"])
        wrapped.info, wrapped.weights_tag = net.info, net.weights_tag
        net = wrapped
    return net.eval()
