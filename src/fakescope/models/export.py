"""Fast CPU inference paths: ONNX export + onnxruntime backend, and bf16 autocast.

* :func:`export_onnx` writes a self-describing ONNX file: the model's :class:`ModelInfo` is stored
  as JSON in the ``metadata_props`` (key ``fakescope.model_info``; the weights tag under
  ``fakescope.weights_tag``), the batch axis is dynamic, and the export is checked against the
  PyTorch model on random inputs.
* :class:`OnnxModel` runs such a file with onnxruntime behind the model contract: N×3×H×W float32 RGB
  in [0, 1] (torch tensor or numpy array) → N fake-logits as a float32 torch tensor; ``.info`` is
  the stored :class:`ModelInfo` (with ``weights={}``: loaders are code, not data).
* :func:`autocast_bf16` wraps a PyTorch model for bfloat16 autocast inference in channels-last
  memory format (fast on CPUs with AVX512-BF16 / AMX; see :func:`cpu_has_bf16`; lossy, opt-in).

ONNX export uses the TorchScript-based exporter (``dynamo=False``): it is several times faster to
run, honours ``opset`` exactly and handles every registered model; pass ``dynamo=True`` for the
``torch.export`` path.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import warnings
import weakref
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._registry import ModelInfo

__all__ = [
    "AutocastBf16",
    "OnnxModel",
    "autocast_bf16",
    "cached_onnx_model",
    "cpu_has_bf16",
    "export_onnx",
    "model_info_from_dict",
    "onnx_cache_path",
]

log = logging.getLogger(__name__)

META_INFO = "fakescope.model_info"
META_TAG = "fakescope.weights_tag"
INPUT_NAME = "image"
OUTPUT_NAME = "logit"


def model_info_from_dict(d: dict) -> ModelInfo:
    """Inverse of :meth:`ModelInfo.to_dict` without the weight loaders (``weights={}``)."""
    return ModelInfo(
        name=d["name"],
        family=d["family"],
        input_size=int(d["input_size"]),
        mean=tuple(d.get("mean", (0.0, 0.0, 0.0))),
        std=tuple(d.get("std", (1.0, 1.0, 1.0))),
        value_range=tuple(d.get("value_range", (0.0, 1.0))),
        cam_layer=d.get("cam_layer"),
        cam_layers=tuple(d.get("cam_layers", ())),
        crop_padding=d.get("crop_padding", "black"),
        crop_resize=d.get("crop_resize", "auto"),
        crop_align=d.get("crop_align", "none"),
        licence=d.get("licence", ""),
        paper=d.get("paper", ""),
        source=d.get("source", ""),
        default_weights=d.get("default_weights"),
    )


# ------------------------------------------------------------------------------------------ ONNX


def export_onnx(
    model: nn.Module,
    path: str | Path,
    batch_dynamic: bool = True,
    opset: int = 17,
    *,
    info: ModelInfo | None = None,
    input_size: int | None = None,
    check: bool = True,
    atol: float = 1e-4,
    dynamo: bool = False,
) -> Path:
    """Export ``model`` (contract: N×3×S×S in [0, 1] → N logits) to ONNX at ``path``; returns it.

    ``info`` defaults to ``model.info`` (set by ``create_model``) and fixes the input size S unless
    ``input_size`` is given. With ``batch_dynamic`` the batch axis is symbolic (``"batch"``); H and W
    are fixed. With ``check`` the file is run with onnxruntime on a random batch of a *different* size
    than the one traced, and must match PyTorch to ``atol · max(1, max|logit|)``
    (raises ``RuntimeError`` otherwise). The model is exported in eval mode and left in eval mode.
    """
    import onnx

    info = info if info is not None else getattr(model, "info", None)
    size = input_size or (info.input_size if info is not None else None)
    if size is None:
        raise ValueError("export_onnx needs the input size: pass info= or input_size=")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dummy = torch.rand(2, 3, size, size)
    kwargs: dict = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "opset_version": opset,
        "dynamo": dynamo,
    }
    if batch_dynamic:
        if dynamo:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
        else:
            kwargs["dynamic_axes"] = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer / deprecation chatter
        torch.onnx.export(model, (dummy,), str(path), **kwargs)

    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    if info is not None:
        meta[META_INFO] = json.dumps(info.to_dict())
    tag = getattr(model, "weights_tag", None)
    if tag is not None:
        meta[META_TAG] = str(tag)
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    proto.producer_name = "fakescope"
    onnx.save(proto, str(path))

    if check:
        x = torch.rand(3 if batch_dynamic else 2, 3, size, size)
        with torch.no_grad():
            ref = model(x).float()
        got = OnnxModel(path)(x)
        err = (got - ref).abs().max().item()
        tol = atol * max(1.0, ref.abs().max().item())
        if not err <= tol:  # also catches NaN
            raise RuntimeError(f"{path}: ONNX output differs from PyTorch by {err:.3g} (> {tol:.3g})")
    return path


class OnnxModel:
    """An exported model run by onnxruntime, callable like the PyTorch model.

    ``model(x)``: ``x`` N×3×H×W float RGB in [0, 1] (torch tensor or numpy array; converted to
    contiguous float32) → N logits (float32 torch tensor, log-odds of fake). Attributes: ``info``
    (:class:`ModelInfo` from the file's metadata, or ``None`` for a foreign file), ``weights_tag``,
    ``session`` (the ``onnxruntime.InferenceSession``). ``num_threads`` sets onnxruntime's intra-op
    threads (default: onnxruntime's choice, one per physical core); ``spin=False`` stops idle worker
    threads from busy-waiting, which helps on a CPU shared with other processes.
    """

    def __init__(
        self,
        path: str | Path,
        num_threads: int | None = None,
        providers: list[str] | None = None,
        spin: bool = True,
    ):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: ONNX file not found")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads is not None:
            opts.intra_op_num_threads = num_threads
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers or ["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info: ModelInfo | None = model_info_from_dict(json.loads(meta[META_INFO])) if META_INFO in meta else None
        self.weights_tag: str | None = meta.get(META_TAG)
        self.training = False

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x = x.detach().to("cpu", torch.float32).numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"expected N×3×H×W input, got shape {x.shape}")
        (out,) = self.session.run([self.output_name], {self.input_name: x})
        return torch.from_numpy(np.asarray(out, dtype=np.float32).reshape(x.shape[0]))

    def eval(self) -> OnnxModel:
        """No-op, for code written against ``nn.Module``."""
        return self

    def __repr__(self) -> str:
        name = self.info.name if self.info else "?"
        return f"OnnxModel({str(self.path)!r}, model={name!r})"


def onnx_cache_path(model: nn.Module) -> Path:
    """Where the ONNX export of ``model`` is cached ($FAKESCOPE_CACHE or ~/.cache/fakescope, then
    ``onnx/``): keyed by the model's name and a hash of its weights (values, not memory layout)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    root = Path(os.environ.get("FAKESCOPE_CACHE", Path.home() / ".cache" / "fakescope"))
    name = getattr(getattr(model, "info", None), "name", None) or type(model).__name__
    return root / "onnx" / f"{name}-{h.hexdigest()[:16]}.onnx"


_SESSIONS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, OnnxModel]] = weakref.WeakKeyDictionary()


def _fingerprint(model: nn.Module) -> tuple:
    """Changes whenever a weight tensor is replaced or modified in place (autograd version counter)."""
    return tuple((t.data_ptr(), t._version) for t in itertools.chain(model.parameters(), model.buffers()))


def cached_onnx_model(model: nn.Module, num_threads: int | None = None) -> OnnxModel:
    """An onnxruntime twin of ``model``: exported (and checked against PyTorch) once per set of
    weights into :func:`onnx_cache_path`, written atomically, and one session kept per model object
    until its weights change. ``num_threads`` defaults to torch's intra-op thread count; idle
    onnxruntime threads sleep (``spin=False``). Raises whatever :func:`export_onnx` raises."""
    fp = _fingerprint(model)
    hit = _SESSIONS.get(model)
    if hit is not None and hit[0] == fp:
        return hit[1]
    path = onnx_cache_path(model)
    if not path.is_file():
        log.info("exporting %s to %s", type(model).__name__, path)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
        try:
            export_onnx(model, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    session = OnnxModel(path, num_threads=num_threads or torch.get_num_threads(), spin=False)
    _SESSIONS[model] = (fp, session)
    return session


# ------------------------------------------------------------------------------------------ bf16


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels on this CPU (AVX512-BF16 or AMX); without them
    bf16 autocast is emulated and slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


class AutocastBf16(nn.Module):
    """Runs the wrapped model under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

    Same contract as the wrapped model (N×3×H×W float RGB in [0, 1] → N float32 logits).
    ``forward_features`` runs under autocast, ``forward_head`` in float32 (models without that pair
    run entirely under autocast). With
    ``channels_last`` the model's weights and each input are converted to channels-last memory
    format (faster convolutions with oneDNN). The wrapped model is ``self.model``; layer names for
    hooks (e.g. ``info.cam_layer``) refer to it, not to the wrapper. Gradients still flow (autocast
    is not ``no_grad``), so explainers can run through it.
    """

    def __init__(self, model: nn.Module, channels_last: bool = True) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.info = getattr(model, "info", None)
        self.weights_tag = getattr(model, "weights_tag", None)
        self.training = model.training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        model = self.model
        if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x).float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            features = model.forward_features(x)
        # The head (pooling + classifier) is cheap: run it in float32 so the logit itself is not
        # rounded to bf16's 8-bit mantissa.
        with torch.autocast("cpu", enabled=False):
            return model.forward_head(features.float()).float()


def autocast_bf16(model: nn.Module, channels_last: bool = True) -> AutocastBf16:
    """``model`` wrapped for bf16 autocast (+ channels-last) CPU inference; see :class:`AutocastBf16`.

    Converts the model's parameters to channels-last in place. bf16 keeps 8 mantissa bits for
    weights and activations: features drift by a few percent through a deep network and scores can
    move by 1e-2 or more (measured in bench/RESULTS.md), so this is an opt-in speed mode — the
    onnxruntime path is exact to ~1e-5. Check :func:`cpu_has_bf16` first: without native bf16 the
    wrapper is slower than float32.
    """
    return AutocastBf16(model, channels_last=channels_last)
