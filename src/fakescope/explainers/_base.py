"""Explainer base class, registry, target callable and the :class:`Explanation` result type.

Every explainer answers one question about a one-logit deepfake detector (see the model contract in
``fakescope.models``): *which pixels of this face push the score towards the target?* The target is
``"fake"`` (explain ``+logit``, the log-odds of fake) or ``"real"`` (explain ``−logit``).

The base class owns what is common to every method — argument checking, eval mode, batching over
faces, upsampling to the input's H×W and packing the result — so that a method is one small class
that implements :meth:`Explainer._explain` for one chunk of faces (or, more often, one hook of a
family base class in ``_cam.py``, ``_gradient.py``, ``_perturbation.py``, ``_lrp.py``,
``_attention.py``).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._perf import to_channels_last
from .._registry import Registry
from ..errors import FakescopeError

__all__ = [
    "TARGETS",
    "BinaryLogitTarget",
    "Explainer",
    "ExplainerError",
    "Explanation",
    "SignedLogit",
    "UnsupportedModelError",
    "auto_batch",
    "autocast",
    "create_explainer",
    "explain",
    "explainer_class",
    "get_layer",
    "list_explainers",
    "logits_of",
    "make_baseline",
    "parse_options",
    "register_explainer",
    "to_channels_last",
    "token_grid",
    "trace_calls",
]

TARGETS = ("fake", "real")


class ExplainerError(FakescopeError):
    """An explainer got bad arguments or inputs (unknown option, wrong tensor shape, ...)."""


class UnsupportedModelError(ExplainerError):
    """The method cannot explain this architecture; the message names the method, model and layer."""


# ------------------------------------------------------------------------------------ result type


@dataclass(frozen=True)
class Explanation:
    """Explanation maps of N faces for one method and one target.

    ``maps``: float32 N×H×W at the input faces' H×W; ``sign`` and ``value_range`` say how to read
    the values (``sign`` always states what a positive value means); ``layer``: the layer a CAM or
    layer method read (None for input-space methods); ``params``: every option the method ran
    with, defaults included; ``logits``: float32 (N,) fake-logits of the model on the faces;
    ``extras``: method-specific per-face side results (e.g. IG's convergence delta, LIME's
    superpixel labels).
    """

    maps: np.ndarray
    method: str
    target: str
    layer: str | None
    sign: str
    value_range: str
    params: dict[str, Any]
    logits: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.maps)

    def metadata(self) -> dict[str, Any]:
        """JSON-friendly description (everything but the arrays)."""
        params = {k: (v if isinstance(v, (str, int, float, bool, type(None), list, tuple)) else repr(v))
                  for k, v in self.params.items()}
        return {
            "method": self.method,
            "target": self.target,
            "layer": self.layer,
            "sign": self.sign,
            "value_range": self.value_range,
            "params": params,
        }


# ---------------------------------------------------------------------------------------- targets


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ExplainerError(f"target must be 'fake' or 'real', got {target!r}")
    return target


class BinaryLogitTarget:
    """What to explain on a one-logit model: ``+logit`` for ``"fake"``, ``−logit`` for ``"real"``.

    The counterpart of pytorch-grad-cam's ``BinaryClassifierOutputTarget``; callable on one logit
    (a 0-d tensor) or on a batch (N,) of logits, returns the same shape.
    """

    def __init__(self, target: str = "fake") -> None:
        self.target = check_target(target)
        self.sign = 1.0 if target == "fake" else -1.0

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output * self.sign

    def __repr__(self) -> str:
        return f"BinaryLogitTarget({self.target!r})"


def logits_of(output: Any, n: int) -> torch.Tensor:
    """The model's output as an (n,) float tensor of logits, or ExplainerError if not one per face."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not torch.is_tensor(output):
        raise ExplainerError(f"model returned {type(output).__name__}, expected a tensor of logits")
    if output.ndim == 2 and output.shape[1] == 1:
        output = output[:, 0]
    if tuple(output.shape) != (n,):
        raise ExplainerError(
            f"explainers need one logit per face (output shape ({n},)), got {tuple(output.shape)}"
        )
    return output.float()


def autocast(device: torch.device | str, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device``'s type when ``enabled`` (a no-op context otherwise)."""
    dev = torch.device(device).type
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(dev, dtype=torch.bfloat16)


class SignedLogit(nn.Module):
    """Forward function for captum: N×3×H×W → N×1 target score (``±logit``; captum ``target=0``).

    A module (not a closure) so that DeepLift can hook the wrapped model. ``bf16`` runs the model
    under bfloat16 autocast; the score is returned in float32. ``last`` keeps the latest score
    (detached) for methods whose only forward is on the unperturbed faces.
    """

    def __init__(self, model: nn.Module, target: BinaryLogitTarget, bf16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.target = target
        self.bf16 = bf16
        self.last: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # library-built batches (IG paths, perturbations) in the model's memory format
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(x.device, self.bf16):
            out = self.model(x)
        score = self.target(logits_of(out, len(x)))
        self.last = score.detach()
        return score[:, None]


# --------------------------------------------------------------------------------- model helpers


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    if p is None:
        p = next(model.buffers(), None)
    return p.device if p is not None else torch.device("cpu")


def get_layer(model: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted ``path``; integer parts index Sequential/ModuleList, ``-1`` the last."""
    module = model
    for part in path.split("."):
        children = module._modules
        if part in children and children[part] is not None:
            module = children[part]
        elif part.lstrip("-").isdigit() and isinstance(module, (nn.Sequential, nn.ModuleList)):
            try:
                module = module[int(part)]
            except IndexError:
                module = None  # type: ignore[assignment]
        else:
            module = None  # type: ignore[assignment]
        if module is None:
            names = [n for n, _ in model.named_modules() if n]
            close = difflib.get_close_matches(path, names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ExplainerError(f"model {_model_name(model)!r} has no layer {path!r}{hint}")
    return module


def _model_name(model: nn.Module) -> str:
    info = getattr(model, "info", None)
    return getattr(info, "name", None) or type(model).__name__


def _input_size(model: nn.Module) -> int | None:
    info = getattr(model, "info", None)
    return getattr(info, "input_size", None)


#: value of the inner-batch options (IG's ``internal_batch_size``, ``perturbations_per_eval``, ...)
#: when they are "auto": per-image cost rises with the batch on a CPU once activations leave the
#: cache (MesoInception-4, 256 px: 12 ms at 4 vs 22 ms at 50 per image, glibc malloc), so CPUs get 8;
#: GPUs need large batches to be busy.
AUTO_BATCH = {"cpu": 8}
AUTO_BATCH_ACCELERATOR = 32


def auto_batch(value: Any, device: torch.device | str, option: str = "batch") -> int:
    """``value`` as a positive int, resolving ``"auto"`` (or None) for ``device`` (see AUTO_BATCH)."""
    if value is None or value == "auto":
        return AUTO_BATCH.get(torch.device(device).type, AUTO_BATCH_ACCELERATOR)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExplainerError(f"{option} must be a positive integer or 'auto', got {value!r}")
    return value


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode (dropout off, BatchNorm frozen), restoring each module's mode
    afterwards; a model already in eval mode is not touched (no per-call traversal cost)."""
    training = [m for m in model.modules() if m.training]
    for m in training:
        m.training = False
    try:
        yield model
    finally:
        for m in training:
            m.training = True


@dataclass(frozen=True)
class Call:
    """One call of a leaf module in a traced forward pass."""

    name: str
    module: nn.Module
    out_shape: tuple[int, ...]


_TRACES: weakref.WeakKeyDictionary[nn.Module, dict[tuple, list[Call]]] = weakref.WeakKeyDictionary()


def trace_calls(model: nn.Module, x: torch.Tensor | None = None) -> list[Call]:
    """Leaf-module calls of one forward pass, in execution order (a module called twice appears twice).

    Runs ``model`` once under ``no_grad`` on ``x[:1]`` (or on a black face of ``model.info.input_size``)
    with temporary forward hooks; cached per model and input shape.
    """
    if x is None:
        size = _input_size(model)
        if size is None:
            raise ExplainerError(f"cannot trace {_model_name(model)!r}: no input and no info.input_size")
        x = torch.zeros(1, 3, size, size, device=_device_of(model))
    x = x[:1].detach()
    key = tuple(x.shape)
    cache = _TRACES.setdefault(model, {})
    if key in cache:
        return cache[key]
    calls: list[Call] = []
    handles = []

    def _hook(name: str) -> Callable:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            t = out[0] if isinstance(out, (tuple, list)) and out else out
            shape = tuple(t.shape) if torch.is_tensor(t) else ()
            calls.append(Call(name, module, shape))

        return hook

    try:
        for name, module in model.named_modules():
            if name and not module._modules:
                handles.append(module.register_forward_hook(_hook(name)))
        with torch.no_grad(), eval_mode(model):
            model(x.to(_device_of(model)))
    finally:
        for h in handles:
            h.remove()
    cache[key] = calls
    return calls


def token_grid(model: nn.Module, n_tokens: int) -> tuple[int, int, int]:
    """``(prefix, h, w)`` for a transformer's N×T×C token tensor: ``prefix`` class/register tokens
    first, then an h×w patch grid. Read from ``patch_embed.grid_size`` when the model has one;
    otherwise the smallest prefix that leaves a square number of tokens."""
    for m in model.modules():
        grid = getattr(getattr(m, "patch_embed", None), "grid_size", None)
        if grid is not None:
            h, w = int(grid[0]), int(grid[1])
            if 0 <= n_tokens - h * w <= 16:
                return n_tokens - h * w, h, w
    for prefix in range(0, 17):
        side = math.isqrt(max(n_tokens - prefix, 0))
        if side > 0 and side * side == n_tokens - prefix:
            return prefix, side, side
    raise ExplainerError(f"cannot lay out {n_tokens} tokens on a square patch grid")


def to_grid(t: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """N×T×C tokens → N×C×h×w (prefix tokens dropped); 4-d tensors pass through unchanged."""
    if t.ndim == 4:
        return t
    if t.ndim != 3:
        raise ExplainerError(f"cannot use a {t.ndim}-d activation as a spatial map (shape {tuple(t.shape)})")
    prefix, h, w = token_grid(model, t.shape[1])
    return t[:, prefix:].reshape(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------- baselines


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an N×C×H×W tensor (replicate padding, kernel ±3σ)."""
    if sigma <= 0:
        return x.clone()
    radius = max(1, math.ceil(3 * sigma))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


BASELINES = ("black", "blurred", "uniform", "mean", "gray", "lowpass", "real_mean", "neutral")


def make_baseline(
    x: torch.Tensor, kind: Any = "black", *, sigma: float | None = None, seed: int = 0, model: nn.Module | None = None
) -> torch.Tensor:
    """A reference input for path/perturbation methods, same shape as ``x`` (N×3×H×W in [0, 1]).

    ``kind``: ``"black"`` (zeros), ``"blurred"`` (Gaussian blur of ``x``; ``sigma`` in pixels,
    default 5 % of the larger side: removes the high-frequency blending artefacts detectors key on
    while keeping the face), ``"uniform"`` (U[0, 1) noise from ``seed``), ``"mean"`` (each face's
    mean colour), ``"gray"`` (0.5), ``"lowpass"`` (each face's own colours at 1/16 of its resolution,
    smoothly upsampled: colour layout kept, every edge and texture gone), ``"real_mean"`` (the
    average of real face crops shipped in ``explainers/assets``), ``"neutral"`` (the kind measured
    as scored most real-like for ``model``: :func:`fakescope.explainers.quality.neutral_baseline`), a
    number (constant), or a tensor broadcastable to ``x``.
    """
    if isinstance(kind, str) and kind == "neutral":
        from .quality import neutral_baseline

        kind = neutral_baseline(model)
    if torch.is_tensor(kind):
        return kind.to(x).expand_as(x).clone()
    if isinstance(kind, (int, float)) and not isinstance(kind, bool):
        return torch.full_like(x, float(kind))
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "gray":
        return torch.full_like(x, 0.5)
    if kind == "blurred":
        s = 0.05 * max(x.shape[-2:]) if sigma is None else float(sigma)
        return gaussian_blur(x, s)
    if kind == "lowpass":
        h, w = x.shape[-2:]
        small = F.adaptive_avg_pool2d(x, (max(1, h // 16), max(1, w // 16)))
        return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp_(0, 1)
    if kind == "real_mean":
        from .quality import real_face_mean

        ref = torch.from_numpy(real_face_mean()).to(x)[None]  # 1×3×h×w
        return F.interpolate(ref, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False).expand_as(x).clone()
    if kind == "uniform":
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        return torch.rand(x.shape, generator=g, dtype=x.dtype).to(x.device)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    raise ExplainerError(f"unknown baseline {kind!r} (known: {', '.join(BASELINES)}, a number or a tensor)")


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed torch's global CPU RNG for the block, restoring the caller's RNG state afterwards."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        np_state = np.random.get_state()
        np.random.seed(int(seed) % 2**32)
        try:
            yield
        finally:
            np.random.set_state(np_state)


# ------------------------------------------------------------------------------------- explainers


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """n×h×w → n×H×W, bilinear (half-pixel centres, like cv2.resize)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def minmax(maps: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Per-map ``(m − min) / (max − min)`` on n×H×W (all-equal maps become 0)."""
    lo, hi = torch.aminmax(maps.flatten(1), dim=1)  # one pass
    return (maps - lo[:, None, None]).div_((hi - lo + eps)[:, None, None])


class Explainer:
    """Base class: one explanation method bound to one model.

    Subclasses set the class attributes and implement :meth:`_explain` for one chunk of faces;
    :meth:`explain` checks arguments, runs chunks of ``batch_size`` faces in eval mode, upsamples
    the maps to H×W, applies :meth:`_finish` (e.g. normalisation) and packs an :class:`Explanation`.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    #: every accepted keyword argument and its default
    defaults: ClassVar[dict[str, Any]] = {"batch_size": 16}
    sign: ClassVar[str] = "positive = evidence for the target"
    value_range: ClassVar[str] = "signed, unnormalised"

    def __init__(self, model: nn.Module, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(self.defaults), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ExplainerError(f"{self.name}: unknown option {unknown[0]!r}{hint} (known: {known})")
        if not isinstance(model, nn.Module):
            raise ExplainerError(f"{self.name}: model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.params: dict[str, Any] = {**self.defaults, **params}
        #: options whose value was decided at run time ("auto" batches, the back end), recorded in
        #: :attr:`Explanation.params` in place of the requested value
        self.resolved: dict[str, Any] = {}
        bs = self.params.get("batch_size")
        if bs is not None and (not isinstance(bs, int) or bs < 1):
            raise ExplainerError(f"{self.name}: batch_size must be a positive integer, got {bs!r}")

    # -- what a method may override ----------------------------------------------------------

    @classmethod
    def unsupported(cls, model: nn.Module, x: torch.Tensor | None = None) -> str | None:
        """Why this method cannot explain ``model`` (one line naming the layer), or None if it can."""
        return None

    def _explain(
        self, x: torch.Tensor, target: BinaryLogitTarget
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Maps (n×h×w, any h×w), logits (n,) and per-face extras for one chunk ``x`` (n×3×H×W)."""
        raise NotImplementedError

    def _finish(self, maps: torch.Tensor) -> torch.Tensor:
        """Post-process n×H×W maps after upsampling (CAMs normalise here)."""
        return maps

    @property
    def layer_name(self) -> str | None:
        return None

    def inner_batch(self, option: str, device: torch.device | str) -> int:
        """Option ``option`` (an inner batch size) as an int, ``"auto"`` resolved for ``device``; the
        resolved value is what the :class:`Explanation` records."""
        value = auto_batch(self.params[option], device, option)
        self.resolved[option] = value
        return value

    def describe(self) -> tuple[str, str]:
        """``(sign, value_range)`` for the current options."""
        return self.sign, self.value_range

    # -- the public call ---------------------------------------------------------------------

    @classmethod
    def check_model(cls, model: nn.Module, x: torch.Tensor | None = None) -> None:
        """Raise :class:`UnsupportedModelError` if this method cannot explain ``model``."""
        reason = cls.unsupported(model, x)
        if reason:
            raise UnsupportedModelError(f"{cls.name}: {reason}")

    def explain(self, faces: torch.Tensor | np.ndarray, target: str = "fake") -> Explanation:
        """Explain N faces (N×3×H×W RGB float in [0, 1]; a single 3×H×W face is also accepted).

        The input is never modified. The model runs in channels-last memory format (its 4-d weights
        are switched in place once, values unchanged: :func:`to_channels_last`). Returns float32
        N×H×W maps (see :class:`Explanation`).
        """
        target = check_target(target)
        x = self._as_faces(faces)
        self._check(x)
        self.resolved = {}
        to_channels_last(self.model)
        tgt = BinaryLogitTarget(target)
        maps, logits, extras = [], [], []
        bs = self.params.get("batch_size") or len(x)
        # gradient methods need autograd even when the caller runs under torch.no_grad()
        with eval_mode(self.model), torch.enable_grad():
            for chunk in x.split(bs):
                m, lg, ex = self._explain(chunk, tgt)  # x is private (see _as_faces): no copy
                maps.append(self._finish(upsample(m.detach().float(), tuple(x.shape[-2:]))).cpu())
                logits.append(lg.detach().float().reshape(-1).cpu())
                extras.append(ex)
        out = torch.cat(maps).numpy().astype(np.float32, copy=False)
        sign, value_range = self.describe()
        return Explanation(
            maps=out,
            method=self.name,
            target=target,
            layer=self.layer_name,
            sign=sign,
            value_range=value_range,
            params={**self.params, **self.resolved},
            logits=torch.cat(logits).numpy().astype(np.float32, copy=False),
            extras=_merge_extras(extras),
        )

    __call__ = explain

    def _check(self, x: torch.Tensor) -> None:
        self.check_model(self.model, x)

    def _as_faces(self, faces: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(faces, np.ndarray):
            faces = torch.from_numpy(np.ascontiguousarray(faces))
        if not torch.is_tensor(faces):
            raise ExplainerError(f"{self.name}: faces must be a tensor or array, got {type(faces).__name__}")
        if faces.ndim == 3:
            faces = faces[None]
        if faces.ndim != 4 or faces.shape[1] != 3 or faces.shape[0] == 0:
            raise ExplainerError(f"{self.name}: faces must be N×3×H×W with N ≥ 1, got shape {tuple(faces.shape)}")
        if not faces.is_floating_point():
            raise ExplainerError(f"{self.name}: faces must be float RGB in [0, 1], got dtype {faces.dtype}")
        # a private channels-last copy (one copy, whatever the input's layout): nothing downstream
        # can write into the caller's tensor
        faces = faces.detach().to(_device_of(self.model), torch.float32)
        return torch.empty_like(faces, memory_format=torch.channels_last).copy_(faces)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({_model_name(self.model)}, {opts})"


def _merge_extras(extras: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in extras[0] if extras else ():
        vals = [e[key] for e in extras]
        if all(torch.is_tensor(v) or isinstance(v, np.ndarray) for v in vals):
            out[key] = np.concatenate([np.asarray(v.detach().cpu() if torch.is_tensor(v) else v) for v in vals])
        else:
            out[key] = vals if len(vals) > 1 else vals[0]
    return out


# --------------------------------------------------------------------------------------- registry

_EXPLAINERS: Registry[type[Explainer]] = Registry("explainer")
_ALIASES: dict[str, str] = {}


def register_explainer(cls: type[Explainer]) -> type[Explainer]:
    """Class decorator: register ``cls`` under ``cls.name`` (and its ``aliases``)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _EXPLAINERS.register(cls.name, cls)
    for alias in cls.aliases:
        _ALIASES[alias] = cls.name
    return cls


def list_explainers(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Names of registered explainers (aliases excluded), optionally filtered by glob and family."""
    names = _EXPLAINERS.names(pattern)
    return [n for n in names if family is None or _EXPLAINERS.get(n).family == family]


def explainer_class(name: str) -> type[Explainer]:
    """The class registered under ``name`` or one of its aliases (UnknownNameError otherwise)."""
    return _EXPLAINERS.get(_ALIASES.get(name, name))


def create_explainer(name: str, model: nn.Module, **params: Any) -> Explainer:
    """An explainer ``name`` bound to ``model``; ``params`` override the method's ``defaults``."""
    return explainer_class(name)(model, **params)


def parse_options(methods: Sequence[str], pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-method options from ``KEY=VALUE`` strings (the CLI's ``--explain-option``).

    ``key=value`` goes to every method in ``methods`` that has the option (e.g. ``bf16=true``,
    ``n_samples=500``); ``method.key=value`` to that method only. Values are read as JSON when they
    parse (``8``, ``0.5``, ``true``, ``null``, ``[1, 2]``; Python's ``True``/``False``/``None`` too)
    and kept as text otherwise (``baseline=blurred``).
    Returns ``{method as given: {key: value}}``; raises ExplainerError for an
    option that none of the methods has, naming what they accept.
    """
    registered = {m: explainer_class(m).name for m in methods}  # as given (aliases too) → registered
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ExplainerError(f"explainer option {pair!r} is not KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = {"True": True, "False": False, "None": None}.get(raw.strip(), raw.strip())
        method, dot, opt = key.rpartition(".")
        if dot:
            targets = [m for m in methods if method in (m, registered[m])]
            if not targets:
                raise ExplainerError(f"explainer option {pair!r}: {method!r} is not among the chosen methods")
        else:
            targets = list(methods)
        hits = [t for t in targets if opt in explainer_class(t).defaults]
        if not hits:
            accepted = "; ".join(f"{t}: {', '.join(sorted(explainer_class(t).defaults))}" for t in targets)
            raise ExplainerError(f"explainer option {opt!r} is not accepted by {', '.join(targets)} ({accepted})")
        for t in hits:
            out[t][opt] = value
    return out


def explain(
    model: nn.Module,
    faces: torch.Tensor | np.ndarray,
    method: str = "gradcam",
    target: str = "fake",
    **params: Any,
) -> Explanation:
    """Explain ``faces`` (N×3×H×W RGB in [0, 1]) for ``model`` with ``method``; see :class:`Explanation`."""
    return create_explainer(method, model, **params).explain(faces, target=target)
