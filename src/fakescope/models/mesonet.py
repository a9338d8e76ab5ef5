"""MesoNet: Meso4 and MesoInception4, ported from Keras, with a loader for the original weight files.

Paper: D. Afchar, V. Nozick, J. Yamagishi, I. Echizen, "MesoNet: a Compact Facial Video Forgery
Detection Network", IEEE WIFS 2018 (arXiv:1809.00888). Reference code and weights (Apache-2.0):
https://github.com/DariusAf/MesoNet.

Both networks take a 256×256 RGB face in [0, 1] (no further normalisation) and end with one sigmoid
unit that the authors trained as P(real). Following the package contract, ``forward`` returns the
log-odds that the face is **fake**, i.e. the negated pre-sigmoid logit of the original.

Port notes (each one is needed to reproduce the Keras logits within 1e-4):

* Keras order inside a block is Conv → ReLU → BatchNorm → MaxPool; BatchNorm epsilon is 1e-3.
* Keras ``padding="same"``: convolutions here are stride 1 with odd (dilated) kernels, so the padding
  is symmetric; max-pools pad bottom/right only, with -inf (:class:`_SameMaxPool2d`). For a 256×256
  input no pooling padding is needed at all.
* Keras flattens NHWC tensors, so the head flattens in (H, W, C) order and the first Dense kernel is
  used unchanged (only transposed).
* The ``.h5`` files store layers under auto-generated names (``conv2d_12``...). The loader maps them by
  the order Keras itself saves and loads them: the file's ``layer_names`` attribute lists layers in the
  model's topological order, which :meth:`_MesoBase.keras_layers` reproduces for the port.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ._registry import ModelInfo, WeightsInfo, register_model

__all__ = ["Meso4", "MesoInception4", "load_keras_mesonet"]

_PAPER = (
    "Afchar, Nozick, Yamagishi, Echizen. MesoNet: a Compact Facial Video Forgery Detection Network. "
    "IEEE WIFS 2018. arXiv:1809.00888"
)
_SOURCE = "https://github.com/DariusAf/MesoNet"
_KERAS_BN_EPS = 1e-3
_KERAS_BN_MOMENTUM = 0.01  # Keras momentum 0.99 == torch momentum 0.01


# --------------------------------------------------------------------------------------- layers


class _SameMaxPool2d(nn.Module):
    """Max-pool with Keras/TensorFlow ``padding="same"``: output ``ceil(H / stride)``.

    TensorFlow puts the smaller half of the padding at the top/left; padded cells never win the max.
    Input and output N×C×H×W. The pooling itself is an ``nn.MaxPool2d`` child so that explainers
    that hook modules (DeepLIFT's max-pool rule) see it.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.pool = nn.MaxPool2d(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.size
        pads = []
        for dim in (x.shape[-1], x.shape[-2]):  # F.pad wants (left, right, top, bottom)
            total = max((math.ceil(dim / k) - 1) * k + k - dim, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads, value=float("-inf"))
        return self.pool(x)

    def extra_repr(self) -> str:
        return f"size={self.size}, padding='same'"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_KERAS_BN_EPS, momentum=_KERAS_BN_MOMENTUM)


class _ConvBlock(nn.Module):
    """Conv(k×k, "same") → ReLU → BatchNorm → MaxPool(pool, "same"). N×Cin×H×W → N×Cout×H/p×W/p."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, pool: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)
        self.act = nn.ReLU()
        self.bn = _bn(out_ch)
        self.pool = _SameMaxPool2d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.bn(self.act(self.conv(x))))

    def keras_layers(self) -> list[nn.Module]:
        return [self.conv, self.bn]


class _InceptionBlock(nn.Module):
    """MesoInception layer, then BatchNorm → MaxPool(2). N×Cin×H×W → N×(a+b+c+d)×H/2×W/2.

    Four parallel branches with ReLU after every conv, concatenated on channels in this order:
    ``a``: 1×1; ``b``: 1×1 → 3×3; ``c``: 1×1 → 3×3 dilation 2; ``d``: 1×1 → 3×3 dilation 3.
    ``branch_relu=False`` is DeepfakeBench's variant (``training/networks/mesonet.py``
    ``InceptionLayer1/2``): the branch convolutions are purely linear, no ReLU anywhere in the layer.
    """

    def __init__(self, in_ch: int, a: int, b: int, c: int, d: int, branch_relu: bool = True) -> None:
        super().__init__()
        self.branch_a = nn.Conv2d(in_ch, a, 1)
        self.branch_b_1x1 = nn.Conv2d(in_ch, b, 1)
        self.branch_b_3x3 = nn.Conv2d(b, b, 3, padding=1)
        self.branch_c_1x1 = nn.Conv2d(in_ch, c, 1)
        self.branch_c_3x3 = nn.Conv2d(c, c, 3, padding=2, dilation=2)
        self.branch_d_1x1 = nn.Conv2d(in_ch, d, 1)
        self.branch_d_3x3 = nn.Conv2d(d, d, 3, padding=3, dilation=3)
        self.act = nn.ReLU() if branch_relu else nn.Identity()
        self.bn = _bn(a + b + c + d)
        self.pool = _SameMaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.act
        y = torch.cat(
            [
                r(self.branch_a(x)),
                r(self.branch_b_3x3(r(self.branch_b_1x1(x)))),
                r(self.branch_c_3x3(r(self.branch_c_1x1(x)))),
                r(self.branch_d_3x3(r(self.branch_d_1x1(x)))),
            ],
            dim=1,
        )
        return self.pool(self.bn(y))

    def keras_layers(self) -> list[nn.Module]:
        # Keras sorts layers by decreasing depth (distance to the output): first the three 1×1
        # convs that feed a 3×3, then the four convs that feed the concatenation, then BatchNorm.
        return [
            self.branch_b_1x1, self.branch_c_1x1, self.branch_d_1x1,
            self.branch_a, self.branch_b_3x3, self.branch_c_3x3, self.branch_d_3x3,
            self.bn,
        ]  # fmt: skip


# --------------------------------------------------------------------------------------- models


class _MesoBase(nn.Module):
    """Shared head: Flatten (NHWC order) → Dropout → Dense(16) → LeakyReLU(0.1) → Dropout → Dense(1).

    ``features`` (set by subclasses) maps N×3×256×256 to N×16×8×8; ``fc1`` expects 16·8·8 = 1024
    inputs, so the networks only run at 256×256, as in the paper.
    """

    num_features = 16
    features: nn.Sequential

    def __init__(self, drop_rate: float = 0.5) -> None:
        super().__init__()
        self.drop1 = nn.Dropout(drop_rate)
        self.fc1 = nn.Linear(self.num_features * 8 * 8, 16)
        self.act = nn.LeakyReLU(0.1)
        self.drop2 = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(16, 1)  # as trained: logit of P(real); see forward_head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×256×256 RGB in [0, 1] → N×16×8×8 feature map."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """N×16×8×8 features → N fake-logits (or N×16 hidden features if ``pre_logits``)."""
        x = x.permute(0, 2, 3, 1).flatten(1)  # Keras flattens NHWC
        x = self.act(self.fc1(self.drop1(x)))
        if pre_logits:
            return x
        # The original unit is the logit of P(real); log-odds of fake is its negation.
        return -self.fc2(self.drop2(x)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×256×256 RGB in [0, 1] → N logits, log-odds that each face is fake."""
        return self.forward_head(self.forward_features(x))

    def keras_layers(self) -> list[nn.Module]:
        """Modules with weights in the order Keras stores them in ``layer_names`` (topological)."""
        layers: list[nn.Module] = []
        for block in self.features:
            layers += block.keras_layers()
        return layers + [self.fc1, self.fc2]


class Meso4(_MesoBase):
    """Meso-4 (paper Fig. 3): four conv blocks (8, 8, 16, 16 channels; kernels 3, 5, 5, 5; pools
    2, 2, 2, 4) and a 16-unit hidden layer; 27,977 parameters."""

    def __init__(self, drop_rate: float = 0.5) -> None:
        super().__init__(drop_rate)
        self.features = nn.Sequential(
            _ConvBlock(3, 8, 3, pool=2),
            _ConvBlock(8, 8, 5, pool=2),
            _ConvBlock(8, 16, 5, pool=2),
            _ConvBlock(16, 16, 5, pool=4),
        )


class MesoInception4(_MesoBase):
    """MesoInception-4 (paper Fig. 4): two inception blocks (1,4,4,2) and (2,4,4,2) replace the
    first two conv blocks of Meso-4; the rest is identical. 28,615 parameters.

    ``branch_relu=False``: the architecture variant DeepfakeBench trained (``meso4Incep_best.pth``),
    whose inception branches have no ReLU; same tensors, so the same state dict layout.
    """

    def __init__(self, drop_rate: float = 0.5, branch_relu: bool = True) -> None:
        super().__init__(drop_rate)
        self.features = nn.Sequential(
            _InceptionBlock(3, 1, 4, 4, 2, branch_relu=branch_relu),
            _InceptionBlock(11, 2, 4, 4, 2, branch_relu=branch_relu),
            _ConvBlock(12, 16, 5, pool=2),
            _ConvBlock(16, 16, 5, pool=4),
        )


# ---------------------------------------------------------------------------------- weight loader


@dataclass
class _KerasLayer:
    """One weighted layer read from a Keras ``.h5``: its name and ``{short weight name: array}``."""

    name: str
    weights: dict[str, np.ndarray]
    datasets: list[str]  # full HDF5 paths read, to check that the whole file was used


def _read_keras_layers(path: Path) -> tuple[list[_KerasLayer], set[str]]:
    """Weighted layers of a Keras 2 ``save_weights`` file in stored order, and all dataset paths."""
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f  # also accept model.save() files
        if "layer_names" not in root.attrs:
            raise WeightsError(f"{path}: no Keras 'layer_names' attribute; not a Keras weight file")
        all_datasets: set[str] = set()
        root.visititems(lambda n, o: all_datasets.add(n) if isinstance(o, h5py.Dataset) else None)
        layers = []
        for raw in root.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            if name not in root:
                raise WeightsError(f"{path}: layer {name!r} is listed but missing from the file")
            group = root[name]
            weights, datasets = {}, []
            for raw_w in group.attrs.get("weight_names", []):
                wname = raw_w.decode() if isinstance(raw_w, bytes) else str(raw_w)
                if wname not in group:
                    raise WeightsError(f"{path}: weight {wname!r} of layer {name!r} is missing")
                short = wname.rsplit("/", 1)[-1].split(":", 1)[0]  # "conv2d_3/kernel:0" -> "kernel"
                weights[short] = np.asarray(group[wname][()], dtype=np.float32)
                datasets.append(f"{name}/{wname}")
            if weights:
                layers.append(_KerasLayer(name, weights, datasets))
    return layers, all_datasets


def _convert(layer: _KerasLayer, module: nn.Module) -> dict[str, np.ndarray]:
    """Keras arrays of ``layer`` in the layout of ``module``'s tensors (name → array)."""
    w = layer.weights
    if isinstance(module, nn.Conv2d):
        expected = {"kernel", "bias"}
        out = {"weight": w.get("kernel", np.empty(0)).transpose(3, 2, 0, 1), "bias": w.get("bias")}
        if "kernel" in w and w["kernel"].ndim != 4:
            raise ValueError(f"kernel has shape {w['kernel'].shape}, expected a 4-d conv kernel")
    elif isinstance(module, nn.Linear):
        expected = {"kernel", "bias"}
        kernel = w.get("kernel", np.empty((0, 0)))
        if kernel.ndim != 2:
            raise ValueError(f"kernel has shape {kernel.shape}, expected a 2-d dense kernel")
        out = {"weight": kernel.T, "bias": w.get("bias")}
    elif isinstance(module, nn.BatchNorm2d):
        expected = {"gamma", "beta", "moving_mean", "moving_variance"}
        out = {
            "weight": w.get("gamma"),
            "bias": w.get("beta"),
            "running_mean": w.get("moving_mean"),
            "running_var": w.get("moving_variance"),
        }
    else:  # pragma: no cover - keras_layers() only lists the three kinds above
        raise TypeError(f"no Keras conversion for {type(module).__name__}")
    if set(w) != expected:
        raise ValueError(f"has weights {sorted(w)}, expected {sorted(expected)}")
    return out


def load_keras_mesonet(model: nn.Module, path: str | Path) -> None:
    """Copy the weights of an original MesoNet Keras 2 ``.h5`` file onto ``model`` in place.

    ``model`` is a :class:`Meso4` or :class:`MesoInception4`. Layers are matched by the order Keras
    stores them (the model's topology, not the layer names); kernels are converted from HWIO to OIHW
    and Dense kernels from (in, out) to (out, in). Every tensor of the model and every dataset in the
    file must be used exactly once, with matching shapes.

    Raises :class:`WeightsError` (one line, naming the file) for a missing, corrupt, truncated or
    non-Keras file, or weights of another architecture.
    """
    path = Path(path)
    if not isinstance(model, _MesoBase):
        raise TypeError(f"load_keras_mesonet needs a MesoNet model, got {type(model).__name__}")
    arch = type(model).__name__
    try:
        layers, all_datasets = _read_keras_layers(path)
    except WeightsError:
        raise
    except FileNotFoundError:
        raise WeightsError(f"{path}: weight file not found") from None
    except Exception as e:  # h5py raises OSError/KeyError/RuntimeError... for damaged files
        msg = " ".join(str(e).split()) or type(e).__name__
        raise WeightsError(f"{path}: cannot read as a Keras HDF5 weight file ({msg})") from None

    modules = model.keras_layers()
    if len(layers) != len(modules):
        raise WeightsError(
            f"{path}: file has {len(layers)} weighted layers, {arch} has {len(modules)}; "
            "weights are for another architecture"
        )

    names = {id(m): n for n, m in model.named_modules()}
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for layer, module in zip(layers, modules, strict=True):
        mname = names[id(module)]
        try:
            arrays = _convert(layer, module)
        except ValueError as e:
            raise WeightsError(f"{path}: layer {layer.name!r} -> {arch}.{mname}: {e}") from None
        for tname, arr in arrays.items():
            target = getattr(module, tname)
            if tuple(arr.shape) != tuple(target.shape):
                raise WeightsError(
                    f"{path}: layer {layer.name!r} -> {arch}.{mname}.{tname}: shape "
                    f"{tuple(arr.shape)} in file, {tuple(target.shape)} in model; "
                    "weights are for another architecture"
                )
            state[f"{mname}.{tname}"] = torch.from_numpy(np.ascontiguousarray(arr))
        used.update(layer.datasets)

    # Everything in the file was consumed, and every weight of the model was assigned.
    unused = sorted(all_datasets - used)
    if unused:
        raise WeightsError(f"{path}: {len(unused)} unused tensor(s) in file, e.g. {unused[0]!r}")
    wanted = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    missing = sorted(wanted - set(state))
    if missing:  # pragma: no cover - would mean keras_layers() forgets a module
        raise WeightsError(f"{path}: no weights in file for {arch}.{missing[0]} ({len(missing)} missing)")
    model.load_state_dict(state, strict=False)


# ---------------------------------------------------------------------------------- registration


def _weights(stem: str, tag: str, sha256: str, description: str) -> WeightsInfo:
    return WeightsInfo(
        tag=tag,
        file=f"mesonet/{stem}.h5",
        sha256=sha256,
        loader=load_keras_mesonet,
        licence="Apache-2.0",
        source=f"{_SOURCE}/tree/master/weights",
        description=description,
    )


_DF = "trained by the authors on their Deepfake dataset (faces from internet deepfake videos)"
_F2F = "trained by the authors on FaceForensics Face2Face faces"


@register_model(
    ModelInfo(
        name="meso4",
        family="mesonet",
        input_size=256,
        cam_layer="features.3.bn",
        crop_padding="reflect",  # the authors' pipeline.py: reflect padding, scipy zoom (cubic spline)
        crop_resize="cubic",
        licence="Apache-2.0",
        paper=_PAPER,
        source=_SOURCE,
        default_weights="df",
        weights={
            "df": _weights(
                "Meso4_DF",
                "df",
                "036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5",
                f"Meso-4 {_DF}",
            ),
            "f2f": _weights(
                "Meso4_F2F",
                "f2f",
                "bcfda015d217b9f8d6557693edbdf9f4e79cfd22672541968dd0e2954462b5d7",
                f"Meso-4 {_F2F}",
            ),
        },
    )
)
def meso4(**kwargs) -> Meso4:
    """Meso-4 (Afchar et al., WIFS 2018)."""
    return Meso4(**kwargs)


@register_model(
    ModelInfo(
        name="mesoinception4",
        family="mesonet",
        input_size=256,
        cam_layer="features.3.bn",
        crop_padding="reflect",  # the authors' pipeline.py: reflect padding, scipy zoom (cubic spline)
        crop_resize="cubic",
        licence="Apache-2.0",
        paper=_PAPER,
        source=_SOURCE,
        default_weights="df",
        weights={
            "df": _weights(
                "MesoInception_DF",
                "df",
                "234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa",
                f"MesoInception-4 {_DF}",
            ),
            "f2f": _weights(
                "MesoInception_F2F",
                "f2f",
                "d4533ac8a3197dc35c47405d23d99e888c1d0135e267e03540c7451feaccff3f",
                f"MesoInception-4 {_F2F}",
            ),
        },
    )
)
def mesoinception4(**kwargs) -> MesoInception4:
    """MesoInception-4 (Afchar et al., WIFS 2018)."""
    return MesoInception4(**kwargs)
