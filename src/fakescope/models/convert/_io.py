"""Reading checkpoint files safely, finding the state dict inside, writing converted safetensors.

``torch.load`` runs with ``weights_only=True``: only tensors, containers and plain values (plus
numpy scalars and arrays, which old training scripts store as metrics) can be unpickled, so a file
cannot run code. A file that needs more — a whole pickled model, as FaceForensics++ published — is
refused unless the caller passes ``trust_pickle=True``; then it is unpickled with
``weights_only=False`` (which runs whatever code the file names) and classes whose code is not
installed (e.g. FaceForensics++'s ``network.models.TransferModel``) are stood in for by empty
``nn.Module`` subclasses, enough to take the state dict.
"""

from __future__ import annotations

import logging
import pickle
import re
import types
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ...errors import WeightsError
from ._base import CONVERTED_FORMAT

__all__ = [
    "HDF5_MAGIC",
    "is_converted",
    "read_checkpoint",
    "read_converted",
    "strip_prefix",
    "unwrap_state_dict",
]

log = logging.getLogger(__name__)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Containers training scripts wrap their state dict in (SelfBlendedImages: {"model": ...};
# ICPR 2020 train_binclass.py: {"net": ..., "opt": ...}).
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _short(e: BaseException, limit: int = 200) -> str:
    return " ".join(str(e).split())[:limit] or type(e).__name__


def _numpy_safe_globals() -> list:
    """numpy scalar/array reconstruction: plain data, allowed in addition to torch's own list."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    out: list = [np.dtype, np.ndarray]
    for fn in ("scalar", "_reconstruct"):
        obj = getattr(multiarray, fn)
        out += [(obj, f"numpy.core.multiarray.{fn}"), (obj, f"numpy._core.multiarray.{fn}")]
    out += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return out


class _StubModule(nn.Module):
    """Stands in for a pickled ``nn.Module`` subclass whose code is not installed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()


def _stubbing_pickle_module() -> types.ModuleType:
    """A ``pickle`` look-alike whose Unpickler replaces classes it cannot import by module stubs."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                stub = type(name, (_StubModule,), {"__module__": module, "__qualname__": name})
                log.warning("class %s.%s is not installed: using an empty nn.Module in its place", module, name)
                return stub

    mod = types.ModuleType("fakescope_stub_pickle")
    mod.Unpickler = Unpickler
    mod.Pickler = pickle.Pickler
    mod.load = lambda f, **kw: Unpickler(f, **kw).load()
    mod.loads = pickle.loads
    mod.dump, mod.dumps = pickle.dump, pickle.dumps
    return mod


def _not_a_checkpoint(path: Path, magic: bytes, e: BaseException) -> str:
    """One line for a file torch cannot read, without torch's advice to pass ``weights_only=False``."""
    text = " ".join(str(e).split())
    found = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
    cause = found.group(1).strip() if found else _short(e)
    if "weights_only" in cause:  # never echo the advice to unpickle without restrictions
        cause = type(e).__name__
    if magic.startswith(b"PK"):
        return f"{path}: cannot read: damaged or truncated PyTorch checkpoint ({cause})"
    return f"{path}: cannot read: not a checkpoint (not a PyTorch, safetensors or Keras HDF5 weight file: {cause})"


def read_checkpoint(path: str | Path, trust_pickle: bool = False) -> object:
    """The object stored in ``path``: a tensor dict (safetensors), a torch-pickled object, or, for a
    Keras HDF5 file, the ``Path`` itself (read by the ``keras-mesonet`` importer)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weight file not found")
    with open(path, "rb") as f:
        magic = f.read(8)
        brace = f.read(1)
    if magic == HDF5_MAGIC:
        return path
    # safetensors: an 8-byte little-endian header length, then the JSON header — recognised by content too,
    # since downloads arrive under other names (``model.safetensors.part``)
    header_len = int.from_bytes(magic, "little") if len(magic) == 8 else 0
    if path.suffix == ".safetensors" or (brace == b"{" and 0 < header_len < path.stat().st_size):
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:
            raise WeightsError(f"{path}: cannot read as safetensors ({_short(e)})") from None
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):  # not a refused class or function: a damaged or foreign file
            raise WeightsError(_not_a_checkpoint(path, magic, e)) from None
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f"it names {found.group(1)}" if found else _short(e, 120)
        if not trust_pickle:
            raise WeightsError(
                f"{path}: refused: not a plain weight file but a pickled Python object ({what}), e.g. a whole "
                "model saved with torch.save(model); unpickling it can run code from the file. Only if you "
                f"trust where it comes from, convert it once with `fakescope convert {path} --out "
                f"{path.with_suffix('.safetensors').name} --trust-pickle` and use the .safetensors file"
            ) from None
    except Exception as e:  # zip/pickle damage, truncated files, not a torch file at all
        raise WeightsError(_not_a_checkpoint(path, magic, e)) from None
    log.warning("%s: unpickling with weights_only=False (--trust-pickle): this runs code named in the file", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_stubbing_pickle_module())
    except Exception as e:
        raise WeightsError(f"{path}: cannot unpickle ({_short(e)})") from None


def strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop ``prefix`` (DataParallel's ``module.``) when every key has it."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix) :]: v for k, v in sd.items()}
    return dict(sd)


def unwrap_state_dict(obj: object, where: str = "checkpoint") -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict inside a loaded checkpoint, and notes on what around it was left out.

    Accepts a tensor dict, a whole ``nn.Module`` (its ``state_dict()``), or a training container
    (``{"state_dict": ...}``, ``{"model": ...}``; the other entries — optimizer state, epoch,
    metrics — are training state, not weights, and are ignored with a note). A ``module.`` prefix on
    every key (``nn.DataParallel``) is dropped.
    """
    notes: list[str] = []
    if isinstance(obj, nn.Module):
        notes.append(f"whole pickled model {type(obj).__name__}: its state_dict() was taken")
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{where}: holds a {type(obj).__name__}, not a state dict")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _CONTAINER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                others = sorted(str(k) for k in obj if k != key)
                if others:
                    notes.append(f"ignored top-level entries {', '.join(others)} (training state, not weights)")
                obj = inner
                break
        else:
            keys = ", ".join(sorted(str(k) for k in obj)[:8])
            raise WeightsError(f"{where}: no state dict of tensors found (top-level keys: {keys})")
    raw = {str(k): v for k, v in obj.items()}
    sd = strip_prefix(raw)
    if sd.keys() != raw.keys():
        notes.append("dropped the nn.DataParallel prefix 'module.' of every key")
    return sd, notes


def read_converted(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """(state dict, metadata) of a fakescope-converted safetensors file, else None."""
    path = Path(path)
    if not is_converted(path):
        return None
    from safetensors.torch import load_file

    try:
        return load_file(str(path)), _metadata(path) or {}
    except Exception as e:
        raise WeightsError(f"{path}: cannot read as safetensors ({_short(e)})") from None


def _metadata(path: Path) -> dict[str, str] | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata()
    except Exception:
        return None


def is_converted(path: str | Path) -> bool:
    """True for a safetensors file written by ``fakescope convert`` (it carries its metadata)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    meta = _metadata(path)
    return bool(meta) and meta.get("format") == CONVERTED_FORMAT
