"""Shared machinery of the checkpoint importers: the registry, the conversion result, key plans.

An importer (one class per source project, registered with :func:`register_importer`) knows

* how to recognise the source's state-dict keys (:meth:`Importer.detect`),
* the fakescope architecture the weights belong on, and how each fakescope tensor is made from the
  source's tensors, head conversion included (:meth:`Importer.convert`, written *target-driven*:
  for every tensor of the fakescope model it names the source tensor, so a missing one is reported
  under the source project's own name),
* the preprocessing the source project used (input size, mean/std), recorded in the
  :class:`Conversion` and re-applied when the converted file is loaded.

:class:`KeyPlan` does the verification: every fakescope tensor filled, every source tensor used or
explicitly ignored (with the reason recorded), every shape equal — else one :class:`WeightsError`
that lists the missing, unexpected and mis-shaped keys. Nothing is ever loaded partially.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..._registry import Registry
from ...errors import WeightsError
from .._registry import _MODELS

__all__ = [
    "LABEL_CONVENTION",
    "Conversion",
    "Importer",
    "KeyPlan",
    "binary_head",
    "get_importer",
    "list_formats",
    "meta_model",
    "register_importer",
    "target_shapes",
]

LABEL_CONVENTION = "logit = log-odds of fake"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MAX_LISTED = 8  # keys named per category in an error message


@dataclass
class Conversion:
    """A foreign checkpoint mapped onto a registered fakescope model.

    ``state_dict`` has exactly the keys and shapes of ``create_model(arch, **model_kwargs)``.
    ``input_size``/``mean``/``std`` are the preprocessing the source project used (RGB in [0, 1]
    → ``(x - mean) / std`` inside the model). ``adapter`` names a structural patch the source needs
    (see :mod:`._adapters`), ``notes`` say in words what was converted, assumed or ignored.
    """

    arch: str
    state_dict: dict[str, torch.Tensor]
    source_format: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    model_kwargs: dict = field(default_factory=dict)
    adapter: dict | None = None
    notes: list[str] = field(default_factory=list)
    source_file: str = ""  # name of the original file
    source_sha256: str = ""  # of the original file
    crop_align: str = "none"  # the source project's face alignment (fakescope.faces.align), set by the importer

    def metadata(self) -> dict[str, str]:
        """The conversion's description as the string dict safetensors stores."""
        from ..._version import __version__

        return {
            "format": CONVERTED_FORMAT,
            "architecture": self.arch,
            "input_size": str(self.input_size),
            "mean": json.dumps([float(v) for v in self.mean]),
            "std": json.dumps([float(v) for v in self.std]),
            "label_convention": LABEL_CONVENTION,
            "source_format": self.source_format,
            "source_file": self.source_file,
            "source_sha256": self.source_sha256,
            "model_kwargs": json.dumps(self.model_kwargs, sort_keys=True),
            "adapter": json.dumps(self.adapter, sort_keys=True),
            "notes": json.dumps(self.notes),
            "crop_align": self.crop_align,
            "fakescope_version": __version__,
        }


CONVERTED_FORMAT = "fakescope-converted/1"


# ------------------------------------------------------------------------------------- targets


@functools.lru_cache(maxsize=64)
def _meta_model(arch: str, kwargs_json: str) -> nn.Module:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return _MODELS.get(arch).builder(**json.loads(kwargs_json))


def meta_model(arch: str, **kwargs) -> nn.Module:
    """``arch`` built on the meta device (cached; treat it as read-only)."""
    return _meta_model(arch, json.dumps(kwargs, sort_keys=True))


def target_shapes(arch: str, **kwargs) -> dict[str, torch.Size]:
    """Names and shapes of every tensor in ``create_model(arch, **kwargs).state_dict()``."""
    return {k: v.shape for k, v in meta_model(arch, **kwargs).state_dict().items()}


# ------------------------------------------------------------------------------------ key plan


def _listed(keys: list[str]) -> str:
    head = ", ".join(keys[:_MAX_LISTED])
    return head + (f", … and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else "")


class KeyPlan:
    """Fills the fakescope state dict of ``arch`` from ``source``, checking everything.

    Importers call :meth:`copy` / :meth:`combine` / :meth:`fill` / :meth:`head` for every target
    tensor and :meth:`ignore` for source tensors that are deliberately unused; :meth:`result`
    raises one :class:`WeightsError` naming every missing, unexpected and mis-shaped key.
    A missing ``num_batches_tracked`` (a BatchNorm step counter, not a weight; older PyTorch and
    some exporters do not save it) is filled with 0.
    """

    def __init__(self, source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Size], fmt: str, arch: str):
        self.source = source
        self.target = target
        self.fmt = fmt
        self.arch = arch
        self.out: dict[str, torch.Tensor] = {}
        self.used: set[str] = set()
        self.ignored: dict[str, str] = {}
        self.missing: list[str] = []
        self.bad_shape: list[str] = []

    def get(self, key: str) -> torch.Tensor | None:
        """The source tensor ``key`` (marked used), or None (recorded as missing)."""
        if key not in self.source:
            if key not in self.missing:
                self.missing.append(key)
            return None
        self.used.add(key)
        return self.source[key]

    def put(self, tkey: str, value: torch.Tensor, what: str | None = None) -> None:
        if tkey not in self.target:  # pragma: no cover - an importer bug, not a checkpoint problem
            raise KeyError(f"{tkey} is not a tensor of {self.arch}")
        want = tuple(self.target[tkey])
        if tuple(value.shape) != want:
            self.bad_shape.append(f"{what or tkey} {tuple(value.shape)} (fakescope {tkey} needs {want})")
            return
        self.out[tkey] = value

    def copy(self, tkey: str, skey: str, fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        """Target ``tkey`` ← source ``skey`` (through ``fn`` if given)."""
        value = self.get(skey)
        if value is None:
            if tkey.endswith("num_batches_tracked"):
                self.missing.remove(skey)
                self.out[tkey] = torch.zeros((), dtype=torch.long)
            return
        self._apply(tkey, fn or (lambda v: v), [value], skey)

    def combine(self, tkey: str, skeys: Iterable[str], fn: Callable[..., torch.Tensor]) -> None:
        """Target ``tkey`` ← ``fn(*source tensors)``."""
        skeys = list(skeys)
        values = [self.get(k) for k in skeys]
        if all(v is not None for v in values):
            self._apply(tkey, fn, values, " + ".join(skeys))

    def _apply(self, tkey: str, fn: Callable[..., torch.Tensor], values: list[torch.Tensor], what: str) -> None:
        try:
            value = fn(*values)
        except (RuntimeError, ValueError, IndexError):  # a reshape/broadcast of tensors of other shapes
            shapes = ", ".join(str(tuple(v.shape)) for v in values)
            self.bad_shape.append(f"{what} {shapes} (fakescope {tkey} needs {tuple(self.target[tkey])})")
            return
        self.put(tkey, value, what=what)

    def fill(self, tkey: str, value: torch.Tensor) -> None:
        """Target ``tkey`` ← a constant the source implies (e.g. zero bias of a bias-free conv)."""
        self.put(tkey, value)

    def head(
        self,
        tkeys: tuple[str, str],
        skeys: tuple[str, str],
        fake_index: int,
        negate: bool = False,
    ) -> None:
        """A Linear head (weight, bias) with 1 or 2 outputs → the 1-logit fakescope head.

        See :func:`binary_head`; ``negate`` for a model whose forward negates its last layer
        (MesoNet stores the original P(real) unit).
        """
        w, b = self.get(skeys[0]), self.get(skeys[1])
        if w is None or b is None:
            return
        try:
            w1, b1 = binary_head(w, b, fake_index)
        except ValueError as e:
            raise WeightsError(f"{self.fmt} checkpoint: {skeys[0]}: {e}") from None
        if negate:
            w1, b1 = -w1, -b1
        self.put(tkeys[0], w1, what=skeys[0])
        self.put(tkeys[1], b1, what=skeys[1])

    def ignore(self, keys: Iterable[str], reason: str) -> None:
        """Source ``keys`` are deliberately unused, for ``reason`` (kept in the notes)."""
        for k in keys:
            if k in self.source and k not in self.used:
                self.ignored[k] = reason

    def ignore_matching(self, pattern: str, reason: str) -> None:
        rx = re.compile(pattern)
        self.ignore([k for k in self.source if rx.search(k)], reason)

    def notes(self) -> list[str]:
        """One line per ignore reason: how many source tensors and a few of their names."""
        by_reason: dict[str, list[str]] = {}
        for k, r in self.ignored.items():
            by_reason.setdefault(r, []).append(k)
        return [f"ignored {len(ks)} source tensor(s) ({_listed(sorted(ks))}): {r}" for r, ks in by_reason.items()]

    def result(self) -> dict[str, torch.Tensor]:
        """The complete fakescope state dict, or WeightsError listing every problem."""
        unexpected = sorted(set(self.source) - self.used - set(self.ignored))
        unfilled = sorted(set(self.target) - set(self.out))
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} missing: {_listed(self.missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected: {_listed(unexpected)}")
        if self.bad_shape:
            problems.append(f"{len(self.bad_shape)} with another shape: {_listed(self.bad_shape)}")
        if not problems and unfilled:  # pragma: no cover - every importer fills every target
            problems.append(f"{len(unfilled)} fakescope tensors not filled: {_listed(unfilled)}")
        if problems:
            raise WeightsError(
                f"{self.fmt} checkpoint does not fit fakescope {self.arch!r} (no tensor was loaded): "
                + "; ".join(problems)
            )
        return {k: self.out[k].detach().clone().contiguous() for k in self.target}


def binary_head(weight: torch.Tensor, bias: torch.Tensor, fake_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A classifier's (weight, bias) with K = 1 or 2 outputs → the single fake logit.

    K = 1: the unit already is the logit of fake (sigmoid head), copied. K = 2 (softmax over
    [real, fake] in some order): ``p_fake = softmax(z)[fake] = sigmoid(z_fake − z_real)``, so the
    log-odds of fake is the linear unit ``(w_fake − w_real)·x + (b_fake − b_real)`` — exact.
    """
    k = weight.shape[0]
    if k == 1:
        return weight, bias
    if k == 2:
        if fake_index not in (0, 1):
            raise ValueError(f"fake index must be 0 or 1, not {fake_index}")
        real = 1 - fake_index
        return (weight[fake_index] - weight[real]).unsqueeze(0), (bias[fake_index] - bias[real]).unsqueeze(0)
    raise ValueError(f"the head has {k} outputs; a deepfake detector has 1 (logit of fake) or 2 (real/fake)")


# ----------------------------------------------------------------------------------- importers


class Importer:
    """One source project's checkpoint layout. Subclasses set the class attributes and implement
    :meth:`detect` and :meth:`convert`; register them with :func:`register_importer`."""

    name: ClassVar[str]
    title: ClassVar[str]  # the project and file the layout comes from
    # Lower is tried first by auto-detection; generic layouts (timm, torchvision) come last.
    priority: ClassVar[int] = 10
    # Class order of a 2-logit head, when the project documents it (None: unknown, ask the user).
    fake_index: ClassVar[int | None] = 1
    # How the source project crops faces for this model (fakescope.faces.align.ALIGNS): its training
    # pipeline's alignment on five landmarks, or "none" for the square crop
    crop_align: ClassVar[str] = "none"

    def detect(self, sd: Mapping[str, torch.Tensor], arch: str | None = None) -> bool:
        raise NotImplementedError

    def convert(
        self, sd: Mapping[str, torch.Tensor], arch: str | None = None, fake_index: int | None = None
    ) -> Conversion:
        raise NotImplementedError

    # helpers for subclasses

    def _arch(self, arch: str | None, expected: str) -> str:
        if arch is not None and arch != expected:
            raise WeightsError(f"{self.name} checkpoint of this kind maps onto fakescope {expected!r}, not {arch!r}")
        return expected

    def _fake_index(self, fake_index: int | None) -> int:
        if fake_index is None or fake_index == self.fake_index:
            return 1 if self.fake_index is None else self.fake_index
        if self.fake_index is None:
            return fake_index
        raise WeightsError(
            f"{self.name} checkpoints put 'fake' at index {self.fake_index} of their 2-logit head "
            f"(documented by the project); a fake index of {fake_index} does not apply"
        )


_IMPORTERS: Registry[Importer] = Registry("checkpoint format")


def register_importer(cls: type[Importer]) -> type[Importer]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    _IMPORTERS.register(cls.name, cls())
    return cls


def get_importer(name: str) -> Importer:
    return _IMPORTERS.get(name)


def list_formats() -> list[str]:
    """Names of the registered checkpoint formats, in auto-detection order."""
    return sorted(_IMPORTERS.names(), key=lambda n: (_IMPORTERS.get(n).priority, n))
