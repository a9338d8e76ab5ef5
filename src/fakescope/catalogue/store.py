"""Installed weights: the cache folder, one folder per installed model, and loading them as models.

Layout under ``$FAKESCOPE_HOME`` (default ``$XDG_CACHE_HOME/fakescope`` or ``~/.cache/fakescope``)::

    weights/<name>/manifest.json          what was installed, from where, with which hashes
    weights/<name>/member-<i>.safetensors converted weights (fakescope convert format), one per file
    downloads/<name>/<file>.part          partial downloads, resumed by the next pull
    recorded.json                         size and sha256 recorded on first download, per entry and file

A model folder appears only complete (it is written under a temporary name and renamed into place),
so an installed name always has every file its manifest lists. ``create_model(NAME)`` finds installed
models through :func:`installed_model_info` / :func:`create_installed_model`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from torch import nn

from ..errors import WeightsError
from .entries import MAX_NAME, valid_name

__all__ = [
    "create_installed_model",
    "fakescope_home",
    "installed_model_info",
    "list_installed",
    "model_dir",
    "read_manifest",
]

MANIFEST = "manifest.json"


def fakescope_home() -> Path:
    """``$FAKESCOPE_HOME``, else ``$XDG_CACHE_HOME/fakescope``, else ``~/.cache/fakescope``."""
    if os.environ.get("FAKESCOPE_HOME"):
        return Path(os.environ["FAKESCOPE_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "fakescope"


def weights_root() -> Path:
    return fakescope_home() / "weights"


def check_name(name: str) -> str:
    if not valid_name(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise WeightsError(f"{shown!r} is not a valid model name (letters, digits, '-', '_', '.'; no leading '.'; "
                           f"at most {MAX_NAME} characters)")  # fmt: skip
    return name


def model_dir(name: str) -> Path:
    return weights_root() / check_name(name)


def read_manifest(name: str) -> dict | None:
    """The manifest of installed model ``name``, or None when it is not installed."""
    if not valid_name(name):
        return None
    path = weights_root() / name / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise WeightsError(f"{path}: damaged manifest ({e}); remove {name} and pull it again") from None


def list_installed() -> list[str]:
    """Names of the installed models (sorted)."""
    root = weights_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file())


def write_json_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _member_paths(name: str, manifest: dict) -> list[tuple[Path, dict]]:
    return [(weights_root() / name / m["file"], m) for m in manifest["members"]]


def verify_installed(name: str) -> list[str]:
    """Problems with installed ``name`` (missing or altered files); empty when it is intact."""
    from ..models import sha256_file

    manifest = read_manifest(name)
    if manifest is None:
        return [f"{name} is not installed"]
    problems = []
    for path, member in _member_paths(name, manifest):
        if not path.is_file():
            problems.append(f"{path.name}: missing")
        elif sha256_file(path) != member["sha256"]:
            problems.append(f"{path.name}: sha256 differs from the one recorded at install (altered or corrupt)")
    return problems


def installed_model_info(name: str):
    """The :class:`~fakescope.models.ModelInfo` of installed ``name``, or None if not installed."""
    from ..models._registry import ModelInfo, WeightsInfo, get_model_info

    manifest = read_manifest(name)
    if manifest is None:
        return None
    arch = manifest["architecture"]
    base: ModelInfo = get_model_info(arch)
    entry = manifest.get("entry", {})
    members = manifest["members"]
    from ..models.convert import cam_layer_for

    cam = cam_layer_for(base.cam_layer, manifest.get("model_kwargs") or {})
    if manifest.get("combine"):
        cam = f"members.0.{cam}" if cam else None
    path = weights_root() / name / members[0]["file"]
    weights = WeightsInfo(
        tag="installed",
        file=str(path),  # absolute: WEIGHTS_DIR / an absolute path is that path
        sha256="",  # checked per member by create_installed_model
        loader=lambda model, p, _name=name: None,
        licence=entry.get("licence", ""),
        source=entry.get("project_url", "") or members[0].get("source_url", ""),
        description=entry.get("title", name),
    )
    return dataclasses.replace(
        base,
        name=name,
        input_size=int(manifest["input_size"]),
        mean=tuple(manifest["mean"]),
        std=tuple(manifest["std"]),
        crop_align=manifest.get("crop_align", "none"),
        cam_layer=cam,
        licence=entry.get("licence", "") or base.licence,
        paper=entry.get("paper", "") or base.paper,
        source=entry.get("project_url", "") or base.source,
        default_weights="installed",
        weights={"installed": weights},
    )


def create_installed_model(name: str, weights: str | None = "default", **kwargs) -> nn.Module:
    """Installed model ``name`` in eval mode: its converted file(s), checked against the manifest's
    sha256, loaded onto the architecture (several members: :class:`MeanProbabilityEnsemble`)."""
    from ..models import sha256_file
    from ..models.checkpoint_ensemble import MeanProbabilityEnsemble
    from ..models.convert import build_model, convert_file

    info = installed_model_info(name)
    if info is None:
        raise WeightsError(f"{name} is not installed")
    if weights not in (None, "default", "installed"):
        raise WeightsError(f"installed model {name!r} has one set of weights, 'installed' (not {weights!r})")
    manifest = read_manifest(name)
    models = []
    for path, member in _member_paths(name, manifest):
        if not path.is_file():
            raise WeightsError(f"{path}: installed file missing; `fakescope weights pull {name}` again")
        if weights is not None and sha256_file(path) != member["sha256"]:
            raise WeightsError(f"{path}: sha256 differs from the one recorded at install (altered or corrupt); "
                               f"`fakescope weights pull {name}` again")  # fmt: skip
        conv = convert_file(path)
        if weights is None:  # the architecture and preprocessing, randomly initialised
            conv.state_dict = {}
            from ..models._registry import _MODELS
            from ..models.convert._adapters import apply_adapter, set_input_normalization

            model = _MODELS.get(conv.arch).builder(**{**conv.model_kwargs, **kwargs})
            apply_adapter(model, conv.adapter)
            set_input_normalization(model, conv.mean, conv.std)
        else:
            model, _ = build_model(conv, **kwargs)
        models.append(model.eval())
    model = MeanProbabilityEnsemble(models) if manifest.get("combine") else models[0]
    model.info = info
    model.weights_tag = "installed" if weights is not None else None
    return model.eval()
