"""Explainers: properties the maths guarantees (IG completeness, LRP conservation, hand-computed
Grad-CAM, opposite targets), the Adebayo et al. randomisation check, and every registered explainer
on every registered model (shape, dtype, finiteness, hooks released, input untouched, clear errors).

Expensive explainer × model pairs are marked ``slow`` (run with ``-m slow``); the default run keeps
every explainer on MesoInception-4 and on a 2-block ViT built like the registered one, the attention
methods on the registered ViT-S/16, and Grad-CAM on every registered model.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fakescope.errors import UnknownNameError
from fakescope.explainers import (
    ExplainerError,
    Explanation,
    UnsupportedModelError,
    create_explainer,
    explain,
    explainer_class,
    list_explainers,
    make_baseline,
)
from fakescope.explainers._base import trace_calls
from fakescope.models import create_model, list_models
from fakescope.render import montage, overlay, save_png

FACES = Path(__file__).parent / "data" / "mesonet" / "test_images"
VIT = "vit_small_patch16_224"
TINY_VIT = "tiny_vit"  # test-only: timm ViT, 2 blocks, 64 px, made explainable like the registered ViT
DEFAULT_MODELS = {"mesoinception4", TINY_VIT}  # every explainer runs on these in the default run
HEAVY = {"clip_vit_large_patch14", "forensics_adapter"}  # ViT-L/14: even gradcam runs with -m slow only
TRANSFORMER_ONLY = {"attention_rollout", "attention_relevancy"}

# tiny settings so every method stays cheap in tests
TINY: dict[str, dict] = {
    "integrated_gradients": {"n_steps": 2, "internal_batch_size": 2},
    "smoothgrad": {"nt_samples": 2, "nt_samples_batch_size": 2},
    "gradientshap": {"n_samples": 2},
    "lime": {"n_samples": 6, "perturbations_per_eval": 6, "n_segments": 8},
    "kernelshap": {"n_samples": 6, "perturbations_per_eval": 6, "n_segments": 8},
    "occlusion": {"window": 10_000, "perturbations_per_eval": 4},  # clipped to half the face below
    "scorecam": {"max_channels": 2},
}

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tiny(method: str, size: int) -> dict:
    kw = dict(TINY.get(method, {}))
    if method == "occlusion":
        kw["window"] = kw["stride"] = size // 2
    return kw


def load_faces(size: int, n: int | None = None) -> torch.Tensor:
    """The MesoNet authors' test faces (df first, then real) as N×3×size×size in [0, 1]."""
    paths = sorted((FACES / "df").glob("*.jpg")) + sorted((FACES / "real").glob("*.jpg"))
    arrs = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255.0
            for p in paths[:n]]
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def meso() -> nn.Module:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return create_model("mesoinception4", weights="df")


@pytest.fixture(scope="module")
def faces256() -> torch.Tensor:
    return load_faces(256)


_MODELS: dict[str, nn.Module] = {}


def _tiny_vit() -> nn.Module:
    """A 2-block ViT-Ti/16 at 64 px behind the model contract, built like ``vit_small_patch16_224``."""
    from fakescope.models._layers import TimmClassifier
    from fakescope.models._registry import ModelInfo
    from fakescope.models.vit import make_vit_explainable

    model = make_vit_explainable(
        TimmClassifier("vit_tiny_patch16_224", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), img_size=64, depth=2)
    )
    model.info = ModelInfo(name=TINY_VIT, family="vit", input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3,
                           cam_layer="backbone.blocks.1.norm1")
    return model.eval()


def get_model(name: str) -> nn.Module:
    """Registered model (random weights except MesoNet's DF weights) or the tiny test ViT; the
    models used by several default-run tests are cached."""
    if name in _MODELS:
        return _MODELS[name]
    torch.manual_seed(0)
    model = _tiny_vit() if name == TINY_VIT else create_model(name, weights="df" if name.startswith("meso") else None)
    if name in DEFAULT_MODELS | {VIT, "meso4"}:
        _MODELS[name] = model
    return model


# ------------------------------------------------------------------------------------ invariants


def hook_count(model: nn.Module) -> int:
    """Every module hook on ``model`` plus torch's global module hooks."""
    from torch.nn.modules import module as mod

    n = 0
    for m in model.modules():
        n += len(m._forward_hooks) + len(m._forward_pre_hooks)
        n += len(m._backward_hooks) + len(m._backward_pre_hooks)
    n += len(mod._global_forward_hooks) + len(mod._global_forward_pre_hooks) + len(mod._global_backward_hooks)
    return n


def model_state(model: nn.Module) -> dict:
    """What an explainer must leave as it found it: hooks, mode, weights, attention switches."""
    return {
        "hooks": hook_count(model),
        "training": [m.training for m in model.modules()],
        "fused": [getattr(m, "fused_attn", None) for m in model.modules()],
        "record": [getattr(m, "record_attn", None) for m in model.modules()],
        # logical values (contiguous copy): explainers may switch the memory format to channels-last
        "weights": [float(t.contiguous().float().sum()) for t in model.state_dict().values() if t.is_floating_point()],
        "grads": [p.grad is None for p in model.parameters()],
        "grad_mode": torch.is_grad_enabled(),
    }


def check_explanation(ex: Explanation, method: str, x: torch.Tensor, target: str = "fake") -> None:
    n, _, h, w = x.shape
    assert isinstance(ex, Explanation)
    assert ex.maps.shape == (n, h, w)
    assert ex.maps.dtype == np.float32
    assert np.isfinite(ex.maps).all()
    assert ex.method == explainer_class(method).name and ex.target == target
    assert ex.logits.shape == (n,) and ex.logits.dtype == np.float32
    assert ex.sign and ex.value_range
    if ex.value_range.startswith("[0, 1]"):
        assert ex.maps.min() >= -1e-6 and ex.maps.max() <= 1 + 1e-6


# ------------------------------------------------------------------------------------- registry


def test_registry_lists_every_method():
    expected = {
        "gradcam", "gradcam++", "hirescam", "layercam", "layercam_fusion", "eigencam", "scorecam",
        "saliency", "smoothgrad", "integrated_gradients", "gradientshap", "deeplift",
        "lime", "kernelshap", "occlusion", "lrp", "attention_rollout", "attention_relevancy",
    }  # fmt: skip
    assert expected <= set(list_explainers())
    assert explainer_class("ig") is explainer_class("integrated_gradients")
    assert set(list_explainers(family="cam")) == {"gradcam", "gradcam++", "hirescam", "layercam", "layercam_fusion",
                                                  "eigencam", "scorecam"}


def test_unknown_names_and_options_are_clear_errors(meso):
    with pytest.raises(UnknownNameError, match="did you mean 'gradcam'"):
        create_explainer("gradcamm", meso)
    with pytest.raises(ExplainerError, match="unknown option 'n_step'.*'n_steps'"):
        create_explainer("ig", meso, n_step=4)
    with pytest.raises(ExplainerError, match="target"):
        explain(meso, torch.zeros(1, 3, 256, 256), "gradcam", target="fakes")
    with pytest.raises(ExplainerError, match="N×3×H×W"):
        explain(meso, torch.zeros(1, 1, 256, 256), "gradcam")
    with pytest.raises(ExplainerError, match="has no layer 'features.9'"):
        explain(meso, torch.zeros(1, 3, 256, 256), "gradcam", layer="features.9")


# ---------------------------------------------------------------------------- Grad-CAM by hand


class _TinyCNN(nn.Module):
    """conv3×3 (fixed weights, 'same') → ReLU → global average pool → linear → one logit."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3]))
            self.fc.weight.copy_(torch.tensor([[0.5, -1.0, 2.0, 0.25]]))
            self.fc.bias.fill_(0.1)
        self.info = SimpleNamespace(name="tiny_cnn", cam_layer="act", input_size=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).mean(dim=(2, 3)))[:, 0]


@pytest.mark.parametrize("target", ["fake", "real"])
@pytest.mark.parametrize("backend", ["fast", "pytorch-grad-cam"])
def test_gradcam_matches_hand_computation(target, backend):
    model = _TinyCNN().eval()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    # by hand: A = ReLU(conv(x)); score = ±(w · mean_ij A + b), so ∂score/∂A_k[i, j] = ±w_k / (h·w)
    # and the Grad-CAM weight (spatial mean of the gradient) is α_k = ±w_k / (h·w)
    with torch.no_grad():
        a = torch.relu(model.conv(x)).numpy()
    w = model.fc.weight.detach().numpy()[0]
    sign = 1.0 if target == "fake" else -1.0
    alpha = sign * w / (8 * 8)
    expected = np.maximum((alpha[None, :, None, None] * a).sum(axis=1), 0)  # N×8×8, same size as the input
    ex = explain(model, x, "gradcam", target=target, normalize=False, backend=backend)
    np.testing.assert_allclose(ex.maps, expected, rtol=1e-5, atol=1e-7)
    assert ex.layer == "act"
    # normalised maps are the same maps min-max scaled per face
    norm = explain(model, x, "gradcam", target=target, backend=backend).maps
    lo = expected.min(axis=(1, 2), keepdims=True)
    hi = expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(norm, (expected - lo) / (hi - lo + 1e-7), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "layercam"])
def test_fast_cam_path_matches_pytorch_grad_cam(meso, faces256, method):
    x = faces256[:2]
    fast = explain(meso, x, method, normalize=False).maps
    lib = explain(meso, x, method, normalize=False, backend="pytorch-grad-cam")
    assert lib.params["backend"] == "pytorch-grad-cam"
    assert np.abs(fast - lib.maps).max() <= 1e-2 * np.abs(lib.maps).max() + 1e-8
    assert fast.max() > 0


def test_cam_bf16_keeps_the_map(meso, faces256):
    x = faces256[:2]
    a = explain(meso, x, "gradcam").maps
    b = explain(meso, x, "gradcam", bf16=True).maps
    for i in range(len(x)):
        assert np.corrcoef(a[i].ravel(), b[i].ravel())[0, 1] > 0.99


def test_batching_does_not_change_maps(meso, faces256):
    x = faces256[:2]
    whole = explain(meso, x, "gradcam", batch_size=2).maps
    split = explain(meso, x, "gradcam", batch_size=1).maps
    np.testing.assert_allclose(whole, split, rtol=1e-4, atol=1e-6)
    a = explain(meso, x[:1], "ig", n_steps=2, internal_batch_size=2).maps
    b = explain(meso, x[:1], "ig", n_steps=2, internal_batch_size=1).maps
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(a).max())


@pytest.mark.parametrize("method", ["lime", "kernelshap", "occlusion"])
def test_perturbation_onnx_backend_matches_torch(meso, faces256, method, tmp_path, monkeypatch):
    """onnxruntime scores the perturbed faces with the same float32 numbers as PyTorch."""
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path))
    opts = {"n_samples": 24, "n_segments": 16} if method != "occlusion" else {"window": 64}
    ref = explain(meso, faces256[:1], method, backend="torch", **opts)
    got = explain(meso, faces256[:1], method, backend="onnx", **opts)
    assert ref.params["backend"] == "torch" and got.params["backend"] == "onnxruntime"
    assert got.params["perturbations_per_eval"] == 8  # "auto" on a CPU, recorded as resolved
    from fakescope.models.export import cached_onnx_model

    assert cached_onnx_model(meso).path.is_file()  # exported once, cached on disk and per model
    np.testing.assert_allclose(got.maps, ref.maps, rtol=1e-4, atol=1e-4 * np.abs(ref.maps).max())
    np.testing.assert_allclose(got.logits, ref.logits, rtol=1e-5, atol=1e-5)


def test_perturbation_backend_fallback_and_errors(meso, faces256, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path))
    small = torch.nn.functional.interpolate(faces256[:1], size=96, mode="bilinear")
    with pytest.raises(ExplainerError, match=r"backend='onnx' unavailable: faces are \(96, 96\).*256"):
        explain(meso, small, "lime", backend="onnx", n_samples=4)
    # "auto" runs PyTorch where onnxruntime cannot (here: a model with no fixed input size)
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1))
    ex = explain(tiny, small, "lime", backend="auto", n_samples=4, n_segments=8)
    assert ex.params["backend"] == "torch" and np.isfinite(ex.maps).all()
    assert explain(meso, faces256[:1], "lime", backend="auto", bf16=True, n_samples=4).params["backend"] == "torch"
    with pytest.raises(ExplainerError, match="backend must be 'auto', 'torch' or 'onnx'"):
        explain(meso, faces256[:1], "lime", backend="tensorrt", n_samples=4)


def test_explain_restores_mixed_train_modes(meso, faces256):
    """Explainers run in eval mode and give every module its own mode back (not the root's)."""
    meso.train()
    first = next(m for m in meso.modules() if isinstance(m, nn.BatchNorm2d))
    first.eval()
    before = [m.training for m in meso.modules()]
    try:
        a = explain(meso, faces256[:1], "gradcam").maps
        assert [m.training for m in meso.modules()] == before
        meso.eval()
        b = explain(meso, faces256[:1], "gradcam").maps
        np.testing.assert_allclose(a, b, atol=1e-6)  # eval-mode maps both times (BatchNorm frozen)
    finally:
        meso.eval()


def test_auto_batch_and_channels_last(meso, faces256):
    from fakescope.explainers import auto_batch

    assert auto_batch("auto", "cpu") == 8 and auto_batch(None, "cpu") == 8 and auto_batch("auto", "cuda") == 32
    assert auto_batch(3, "cpu") == 3
    for bad in (0, -1, 2.5, True, "big"):
        with pytest.raises(ExplainerError, match="positive integer or 'auto'"):
            auto_batch(bad, "cpu", "internal_batch_size")
    with pytest.raises(ExplainerError, match="internal_batch_size"):
        explain(meso, faces256[:1], "ig", n_steps=2, internal_batch_size=0)
    # the default ("auto") inner batch gives the maps of one-at-a-time evaluation
    a = explain(meso, faces256[:1], "ig", n_steps=12).maps
    b = explain(meso, faces256[:1], "ig", n_steps=12, internal_batch_size=1).maps
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(a).max())
    # explainers leave the model in channels-last format; a plain NCHW forward still scores the same
    conv = next(m for m in meso.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        np.testing.assert_allclose(meso(faces256[:2]).reshape(-1).numpy(),
                                   explain(meso, faces256[:2], "gradcam").logits, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- IG completeness


@pytest.mark.parametrize(("face", "baseline"), [(0, "black"), pytest.param(2, "blurred", marks=pytest.mark.slow)])
def test_integrated_gradients_completeness(meso, faces256, face, baseline):
    """Σ IG = f(x) − f(baseline) within 5 % at 64 steps (MesoInception-4, DF weights, real faces)."""
    x = faces256[face : face + 1]
    ex = explain(meso, x, "integrated_gradients", n_steps=64, baseline=baseline)
    with torch.no_grad():
        delta = (meso(x) - meso(make_baseline(x, baseline))).item()
    assert abs(delta) > 0.5  # the property is not checked on a trivial difference
    assert ex.maps.sum() == pytest.approx(delta, rel=0.05)
    assert ex.logits[0] == pytest.approx(meso(x).item(), abs=1e-4)
    assert abs(float(ex.extras["convergence_delta"][0])) < 0.05 * abs(delta)


# ---------------------------------------------------------------------------- LRP conservation


class _TinyReLUNet(nn.Module):
    """Bias-free conv → ReLU → conv → ReLU → flatten → linear (→ optionally negated, like MesoNet)."""

    def __init__(self, negate: bool = False) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.negate = negate
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.act2 = nn.ReLU()
        self.fc = nn.Linear(4 * 6 * 6, 1, bias=False)
        with torch.no_grad():
            for m in (self.conv1, self.conv2, self.fc):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.5)
        self.info = SimpleNamespace(name="tiny_relu", cam_layer="act2", input_size=6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(self.act2(self.conv2(self.act1(self.conv1(x)))).flatten(1))[:, 0]
        return -z if self.negate else z


@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("composite", ["EpsilonPlusFlat", "EpsilonGammaBox"])
@pytest.mark.parametrize("target", ["fake", "real"])
def test_lrp_conserves_relevance(composite, negate, target):
    """Bias-free ReLU net: Σ input relevance = target score (±logit), also through a negated head."""
    model = _TinyReLUNet(negate).eval()
    x = torch.rand(3, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    ex = explain(model, x, "lrp", composite=composite, target=target)
    with torch.no_grad():
        score = model(x).numpy() * (1 if target == "fake" else -1)
    np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), score, rtol=1e-3)


def test_lrp_epsilon_rule_on_linear_layers_conserves():
    """Pure ε-rule path: a bias-free MLP on the flattened face (first layer Flat, then ε)."""
    g = torch.Generator().manual_seed(3)
    body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 8, bias=False), nn.ReLU(), nn.Linear(8, 1, bias=False))
    with torch.no_grad():
        for m in body:
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x)[:, 0]

    model = MLP().eval()
    x = torch.rand(2, 3, 4, 4, generator=g)
    ex = explain(model, x, "lrp")
    with torch.no_grad():
        np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), model(x).numpy(), rtol=1e-3)


class _FlipNormNet(nn.Module):
    """Preprocessing like VGG-Face (RGB→BGR flip, then per-channel normalisation) → conv → head."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 2, 3, padding=1, bias=False)
        self.act = nn.ReLU()
        self.fc = nn.Linear(2, 1, bias=False)

    def forward(self, x):
        y = (x.flip(1) - self.mean) / self.std
        return self.fc(self.act(self.conv(y)).mean(dim=(2, 3)))[:, 0]


def test_lrp_box_rule_bounds_follow_the_models_preprocessing():
    """EpsilonGammaBox's z^B bounds are the [0, 1] pixel box as the first layer sees it."""
    model = _FlipNormNet().eval()
    lrp = create_explainer("lrp", model, composite="EpsilonGammaBox")
    x = torch.rand(2, 3, 5, 5)
    low, high = lrp._box(model.conv, x)
    mean, std = model.mean.flatten(), model.std.flatten()
    np.testing.assert_allclose(low[0, :, 0, 0], ((0 - mean) / std).tolist(), rtol=1e-6)
    np.testing.assert_allclose(high[0, :, 0, 0], ((1 - mean) / std).tolist(), rtol=1e-6)
    ex = lrp.explain(x)
    with torch.no_grad():
        np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), model(x).numpy(), rtol=1e-3)
    assert hook_count(model) == 0


class _WithUnsupported(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.odd = layer
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        y = self.conv(x)
        y = self.odd(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) if isinstance(self.odd, nn.LayerNorm) else self.odd(y)
        return self.fc(y.mean(dim=(2, 3)))[:, 0]


@pytest.mark.parametrize(("layer", "kind"), [(nn.SiLU(), "SiLU"), (nn.LayerNorm(4), "LayerNorm")])
def test_lrp_unsupported_layer_is_named(layer, kind):
    model = _WithUnsupported(layer).eval()
    with pytest.raises(UnsupportedModelError, match=rf"lrp: cannot handle layer 'odd' \({kind}\)"):
        explain(model, torch.rand(1, 3, 8, 8), "lrp")
    assert hook_count(model) == 0


# -------------------------------------------------------------------------------- targets & sanity


@pytest.mark.parametrize(
    ("method", "kw", "faces"),
    [("saliency", {"abs": False}, [0, 3]), ("integrated_gradients", {"n_steps": 2}, [1])],
)
def test_fake_and_real_targets_give_opposite_attributions(meso, faces256, method, kw, faces):
    x = faces256[faces]
    fake = explain(meso, x, method, target="fake", **kw)
    real = explain(meso, x, method, target="real", **kw)
    assert np.abs(fake.maps).max() > 0
    np.testing.assert_allclose(real.maps, -fake.maps, rtol=1e-5, atol=1e-6 * np.abs(fake.maps).max())
    np.testing.assert_array_equal(fake.logits, real.logits)  # logits are the model's, not the target's


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize(
    ("method", "kw"), [("gradcam", {}), ("saliency", {"abs": False}), ("integrated_gradients", {"n_steps": 2})]
)
def test_randomised_weights_change_the_maps(meso, faces256, method, kw):
    """Adebayo et al. (NeurIPS 2018) model-randomisation test: re-drawing every conv/linear weight
    (same per-layer scale, BatchNorm statistics kept) must decorrelate the maps (Spearman rank
    correlation of the signed maps; |IG| keeps the input's edges by construction, as the paper notes)."""
    rand = copy.deepcopy(meso)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in rand.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * m.weight.std())
    x = faces256[[0, 2]]
    trained = explain(meso, x, method, **kw).maps
    randomised = explain(rand, x, method, **kw).maps
    assert np.abs(trained).max() > 0 and np.abs(randomised).max() > 0
    rho = [_spearman(trained[i], randomised[i]) for i in range(len(x))]
    assert max(abs(r) for r in rho) < 0.5, rho


# ------------------------------------------------------------------------ every explainer × model


def _cases():
    for method in list_explainers():
        for model in [*list_models(), TINY_VIT]:
            fast = (model in DEFAULT_MODELS or (method == "gradcam" and model not in HEAVY)
                    or (model == VIT and method in TRANSFORMER_ONLY))  # fmt: skip
            yield pytest.param(method, model, id=f"{method}-{model}", marks=() if fast else pytest.mark.slow)


_SMALL = 64


def input_side(model_name: str, model: nn.Module, full: bool) -> int:
    """Input side for a test: the model's own size, or 64 px for timm CNNs (no fixed input size)
    outside the default-model set — an explainer's mechanics do not depend on the resolution, and
    the slow run uses every model's own size."""
    size = model.info.input_size
    cfg = getattr(getattr(model, "backbone", None), "pretrained_cfg", None)
    if full or model_name in DEFAULT_MODELS or not isinstance(cfg, dict) or cfg.get("fixed_input_size", True):
        return size
    return min(size, _SMALL)


@pytest.mark.parametrize(("method", "model_name"), list(_cases()))
def test_explainer_on_model(request, method, model_name):
    model = get_model(model_name)
    size = input_side(model_name, model, full=request.node.get_closest_marker("slow") is not None)
    x = load_faces(size, n=1)
    x0 = x.clone()
    before = model_state(model)
    reason = explainer_class(method).unsupported(model)
    if reason is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = explain(model, x, method, **_tiny(method, size))
        check_explanation(ex, method, x)
    else:
        with pytest.raises(UnsupportedModelError) as err:
            explain(model, x, method, **_tiny(method, size))
        msg = str(err.value)
        assert msg.startswith(f"{method}: ") and model_name in msg
        if method in TRANSFORMER_ONLY:
            assert "transformer" in msg
        if method in ("lrp", "deeplift"):
            assert "layer '" in msg
    assert method not in TRANSFORMER_ONLY or (reason is None) == (model_name in {VIT, TINY_VIT, "efficientvit"})
    assert model_state(model) == before
    torch.testing.assert_close(x, x0, rtol=0, atol=0)


def test_supported_combinations_of_the_default_models():
    """What the structural checks say about the two default-run models (documented behaviour)."""
    meso, vit = get_model("mesoinception4"), get_model(VIT)
    assert explainer_class("lrp").unsupported(meso) is None
    assert explainer_class("deeplift").unsupported(meso) is None  # one module per use (issue 13)
    assert explainer_class("deeplift").unsupported(get_model("meso4")) is None
    assert "attention" in explainer_class("lrp").unsupported(vit)
    assert "transformer" in explainer_class("attention_rollout").unsupported(meso)


class _Boom(RuntimeError):
    pass


def _boom(module, args, out):
    raise _Boom("boom")


@pytest.mark.parametrize("method", list_explainers())
def test_hooks_released_after_an_exception(method):
    """A forward that fails half-way (in the head) leaves no hook, flag or grad mode behind."""
    model_name = TINY_VIT if method in TRANSFORMER_ONLY else ("meso4" if method == "deeplift" else "mesoinception4")
    model = get_model(model_name)
    size = model.info.input_size
    x = load_faces(size, n=1)
    trace_calls(model, x)  # cached structure trace, so the failure happens inside the method itself
    head = model.backbone.head if model_name == TINY_VIT else model.fc2
    before = model_state(model)
    handle = head.register_forward_hook(_boom)
    try:
        with pytest.raises(_Boom), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explain(model, x, method, **_tiny(method, size))
    finally:
        handle.remove()
    assert model_state(model) == before


@pytest.mark.parametrize("method", ["gradcam", "saliency", "lrp", "attention_relevancy"])
def test_hooks_released_after_an_exception_in_backward(method):
    model = get_model(TINY_VIT if method in TRANSFORMER_ONLY else "mesoinception4")
    x = load_faces(model.info.input_size, n=1)
    trace_calls(model, x)

    class RaiseInBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t.view_as(t)

        @staticmethod
        def backward(ctx, g):
            raise _Boom("boom in backward")

    head = model.backbone.head if method in TRANSFORMER_ONLY else model.fc2
    before = model_state(model)
    handle = head.register_forward_hook(lambda m, a, out: RaiseInBackward.apply(out) if out.requires_grad else out)
    try:
        with pytest.raises(_Boom), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explain(model, x, method)
    finally:
        handle.remove()
    assert model_state(model) == before


def test_explanation_metadata_and_numpy_input(meso, faces256):
    x = faces256[:1].numpy()
    ex = explain(meso, x, "gradcam", target="real")
    meta = ex.metadata()
    assert meta["method"] == "gradcam" and meta["target"] == "real" and meta["layer"] == "features.3.bn"
    assert meta["value_range"].startswith("[0, 1]") and "target" in meta["sign"]
    assert meta["params"]["backend"] == "fast"
    assert len(ex) == 1


def test_superpixel_methods_return_their_segments(meso, faces256):
    ex = explain(meso, faces256[:1], "lime", **TINY["lime"])
    seg = ex.extras["segments"]
    assert seg.shape == (1, 256, 256)
    # the map is constant over each superpixel
    for label in np.unique(seg[0])[:5]:
        vals = ex.maps[0][seg[0] == label]
        assert np.ptp(vals) < 1e-6


# ---------------------------------------------------------------------------------------- render


def test_overlay_shapes_and_colours():
    face = np.full((40, 30, 3), 128, np.uint8)
    m = np.zeros((10, 10), np.float32)
    m[:5] = 1.0
    m[5:] = -1.0
    out = overlay(face, m, alpha=1.0, signed=True)
    assert out.dtype == np.uint8 and out.shape == face.shape
    top, bottom = out[2, 15].astype(int), out[38, 15].astype(int)
    assert top[0] > 200 and top[2] < 60  # positive → red end of the diverging map
    assert bottom[2] > 200 and bottom[0] < 60  # negative → blue end
    zero = overlay(face, np.zeros((10, 10), np.float32), alpha=1.0, signed=True, weighted=False)
    assert (zero[5, 5] > 240).all()  # 0 → the white centre
    # weighted (default): where the map says nothing the face shows through; full evidence → full colour
    assert overlay(face, np.zeros((10, 10), np.float32), alpha=1.0, signed=True).tolist() == face.tolist()
    ramp = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    w = overlay(face, ramp, alpha=0.6).astype(int)
    assert (w[0, 0] == 128).all() and np.abs(w[-1, -1] - 128).max() > 60
    assert np.abs(w[5, 15] - 128).max() < np.abs(overlay(face, ramp, alpha=0.6, weighted=False)[5, 15] - 128).max()
    plain = overlay(face, np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10), alpha=0.5)
    assert plain.dtype == np.uint8 and plain.shape == face.shape
    assert overlay(face, m, alpha=0.0).tolist() == face.tolist()


def test_montage_and_save_png(tmp_path, meso, faces256):
    face = (faces256[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cam = explain(meso, faces256[:1], "gradcam")
    sal = explain(meso, faces256[:1], "saliency", abs=False)
    img = montage(face, {"gradcam": cam, "saliency": sal, "raw": np.random.rand(16, 16)}, tile=96)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    band = max(14, 96 // 10)
    assert img.shape == (96 + band, 4 * 96, 3)
    two_rows = montage(face, {"a": cam, "b": sal}, tile=64, ncols=2)
    assert two_rows.shape == (2 * (64 + max(14, 64 // 10)), 2 * 64, 3)
    path = save_png(tmp_path / "sub" / "montage.png", img)
    back = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, img)
