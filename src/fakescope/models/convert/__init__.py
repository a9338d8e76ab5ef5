"""Import published deepfake-detector checkpoints onto fakescope models.

One importer per source project (a module each, registered in one registry; ``list_formats()``):

==================  ====================================================  ===========================
format              source                                                 fakescope model
==================  ====================================================  ===========================
``ffpp``            FaceForensics++ ``TransferModel('xception')``           ``xception``
``deepfakebench``   DeepfakeBench xception / efficientnetb4 / meso4 /      ``xception`` /
                    meso4Inception / ucf (UCF, ICCV 2023: forgery          ``tf_efficientnet_b4`` /
                    encoder + common-forgery branch)                       ``meso4`` / ``mesoinception4``
                                                                           (``branch_relu=False``) /
                                                                           ``ucf_xception``
``sbi``             SelfBlendedImages ``Detector`` (EfficientNet-B4)        ``tf_efficientnet_b4``
``dfdc``            DFDC winner ``DeepFakeClassifier`` (B7 NS)              ``tf_efficientnet_b7``
``efficientvit``    Coccomini et al. Efficient ViT                         ``efficientvit``
``icpr2020``        Politecnico di Milano ICPR 2020 (EfficientNetB4,       ``tf_efficientnet_b4`` /
                    EfficientNetAutoAttB4, ...ST, Xception)                ``tf_efficientnet_b4_att`` /
                                                                           ``xception``
``gend``            GenD (WACV 2026) HF ``GenD`` (CLIP ViT-L/14,            ``clip_vit_large_patch14``
                    LinearNorm head); ``gend-linear``: plain linear head
``effort``          Effort (ICML 2025) CLIP ViT-L/14 with SVD-residual      ``clip_vit_large_patch14``
                    attention (folded into plain weights)
``forensics-        Forensics Adapter (CVPR 2025): CLIP ViT-L/14 and an    ``forensics_adapter``
adapter``           adapter ViT steering query tokens (OUC-VAS ``DS``)
``keras-mesonet``   MesoNet Keras ``.h5`` files                            ``meso4`` / ``mesoinception4``
``torchvision``     torchvision densenet121 / vgg16 / mobilenet_v2          same names
``timm``            a timm network's own state dict                        the model wrapping it
``fakescope``       a fakescope model's own state dict                     ``--arch``
==================  ====================================================  ===========================

Each module's docstring says where the key layout, the class order of the head and the
preprocessing come from, and what had to be converted. The result of a conversion is a
:class:`Conversion`: the fakescope state dict plus the source's preprocessing (input size,
mean/std), any structural adapter, and notes. :func:`save_converted` writes it as safetensors whose
metadata describe it (architecture, input size, mean/std, label convention "logit = log-odds of
fake", source format, sha256 of the original file, fakescope version);
``create_model(arch, checkpoint_path=...)`` loads such a file — and, for models without a weight
loader of their own, any checkpoint an importer recognises — through :func:`load_checkpoint`.

Every conversion is complete or fails: every fakescope tensor filled, every source tensor used or
ignored for a stated reason, shapes equal; otherwise :class:`~fakescope.errors.WeightsError` lists
the missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ...errors import WeightsError
from .._registry import _MODELS, ModelInfo, sha256_file
from . import (  # noqa: F401  (importing an importer's module registers it)
    clip_vit,
    deepfakebench,
    dfdc,
    efficientvit,
    ffpp,
    forensics_adapter,
    icpr2020,
    keras_mesonet,
    native,
    sbi,
    timm_format,
    torchvision_format,
)
from ._adapters import apply_adapter, set_input_normalization
from ._base import LABEL_CONVENTION, Conversion, Importer, get_importer, list_formats, register_importer
from ._io import is_converted, read_checkpoint, read_converted, unwrap_state_dict

__all__ = [
    "LABEL_CONVENTION",
    "Conversion",
    "Importer",
    "build_model",
    "cam_layer_for",
    "convert_file",
    "convert_state_dict",
    "detect_format",
    "get_importer",
    "is_converted",
    "list_formats",
    "load_checkpoint",
    "read_checkpoint",
    "register_importer",
    "save_converted",
]


def detect_format(sd: Mapping[str, torch.Tensor], arch: str | None = None) -> str:
    """The registered format whose key patterns ``sd`` has (``arch``: the intended model, if known)."""
    found = [n for n in list_formats() if get_importer(n).detect(sd, arch)]
    if not found:
        first = ", ".join(list(sd)[:4])
        raise WeightsError(
            f"unrecognised checkpoint layout (first keys: {first}); name its source with --format "
            f"({', '.join(list_formats())})" + ("" if arch else " and, for a plain state dict, the model with --arch")
        )
    best = min(get_importer(n).priority for n in found)
    tied = [n for n in found if get_importer(n).priority == best]
    if len(tied) > 1:
        raise WeightsError(f"checkpoint layout fits several formats ({', '.join(tied)}): name one with --format")
    return tied[0]


def convert_state_dict(
    sd: Mapping[str, torch.Tensor], format: str = "auto", arch: str | None = None, fake_index: int | None = None
) -> Conversion:
    """Map a state dict (already unwrapped, no ``module.`` prefix) onto a fakescope model."""
    name = detect_format(sd, arch) if format == "auto" else format
    importer = get_importer(name)
    conv = importer.convert(sd, arch=arch, fake_index=fake_index)
    if conv.crop_align == "none":
        conv.crop_align = importer.crop_align
    return conv


def _from_converted(path: Path) -> Conversion:
    sd, meta = read_converted(path)
    try:
        return Conversion(
            arch=meta["architecture"],
            state_dict=sd,
            source_format=meta["source_format"],
            input_size=int(meta["input_size"]),
            mean=tuple(float(v) for v in json.loads(meta["mean"])),
            std=tuple(float(v) for v in json.loads(meta["std"])),
            model_kwargs=json.loads(meta.get("model_kwargs") or "{}"),
            adapter=json.loads(meta.get("adapter") or "null"),
            notes=json.loads(meta.get("notes") or "[]"),
            source_file=meta.get("source_file", ""),
            source_sha256=meta.get("source_sha256", ""),
            crop_align=meta.get("crop_align", "none"),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise WeightsError(f"{path}: damaged fakescope metadata ({type(e).__name__}: {e})") from None


def convert_file(
    path: str | Path,
    format: str = "auto",
    arch: str | None = None,
    *,
    trust_pickle: bool = False,
    fake_index: int | None = None,
) -> Conversion:
    """Read ``path`` and map it onto a fakescope model (``format="auto"``: recognise the layout).

    A file written by :func:`save_converted` is returned as it is. ``trust_pickle`` allows files
    that are pickled Python objects (see :func:`~._io.read_checkpoint`). ``fake_index`` is the class
    index of "fake" in a 2-logit head where the source format does not document it (timm,
    torchvision; default 1).
    """
    path = Path(path)
    if format != "auto":
        get_importer(format)  # unknown names fail before the file is read
    if is_converted(path):
        conv = _from_converted(path)
        if arch is not None and arch != conv.arch:
            raise WeightsError(f"{path}: converted for fakescope {conv.arch!r}, not {arch!r}")
        return conv
    obj = read_checkpoint(path, trust_pickle=trust_pickle)
    try:
        if isinstance(obj, Path):  # Keras HDF5
            if format not in ("auto", "keras-mesonet"):
                raise WeightsError(f"an HDF5 (Keras) file, but the {format} format reads PyTorch checkpoints")
            conv, notes = get_importer("keras-mesonet").convert_file(path, arch), []
        else:
            sd, notes = unwrap_state_dict(obj, str(path))
            conv = convert_state_dict(sd, format, arch, fake_index)
    except WeightsError as e:
        msg = str(e)
        raise WeightsError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    conv.notes = notes + conv.notes
    conv.source_file, conv.source_sha256 = path.name, sha256_file(path)
    return conv


def save_converted(conv: Conversion, out: str | Path) -> Path:
    """Write ``conv`` as safetensors with its description in the metadata; returns the path."""
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in conv.state_dict.items()}, str(out), metadata=conv.metadata())
    return out


def build_model(conv: Conversion, **model_kwargs) -> tuple[nn.Module, ModelInfo]:
    """The fakescope model of ``conv`` with its weights, adapter and preprocessing, and its
    :class:`ModelInfo` (input size, mean/std of the source). ``model_kwargs`` go to the builder."""
    entry = _MODELS.get(conv.arch)
    model = entry.builder(**{**conv.model_kwargs, **model_kwargs})
    apply_adapter(model, conv.adapter)
    set_input_normalization(model, conv.mean, conv.std)
    try:
        model.load_state_dict(conv.state_dict, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:300]
        raise WeightsError(f"weights do not fit fakescope {conv.arch!r} ({msg})") from None
    info = dataclasses.replace(entry.info, input_size=conv.input_size, mean=tuple(conv.mean), std=tuple(conv.std),
                               cam_layer=cam_layer_for(entry.info.cam_layer, conv.model_kwargs),
                               crop_align=conv.crop_align)  # fmt: skip
    return model, info


def cam_layer_for(cam_layer: str | None, model_kwargs: Mapping) -> str | None:
    """The CAM layer of a transformer built shallower or deeper than its registered size: a default that
    names a block (``….blocks.<i>.…``, the last block) names the last of ``model_kwargs["depth"]`` blocks."""
    depth = model_kwargs.get("depth")
    if cam_layer is None or not isinstance(depth, int):
        return cam_layer
    return re.sub(r"(^|\.)blocks\.\d+\.", lambda m: f"{m.group(1)}blocks.{depth - 1}.", cam_layer, count=1)


def load_checkpoint(
    path: str | Path,
    arch: str | None = None,
    *,
    format: str = "auto",
    trust_pickle: bool = False,
    fake_index: int | None = None,
    **model_kwargs,
) -> tuple[nn.Module, ModelInfo]:
    """Build the fakescope model for the checkpoint at ``path`` (converted or any recognised source).

    Returns ``(model, info)``; ``info`` is the registered :class:`ModelInfo` with the checkpoint's
    preprocessing (``input_size``, ``mean``, ``std``). Raises :class:`WeightsError`.
    """
    conv = convert_file(path, format, arch, trust_pickle=trust_pickle, fake_index=fake_index)
    return build_model(conv, **model_kwargs)
