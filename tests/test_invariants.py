"""Explainer invariants for every method and back end (issue 16), on the MesoNet authors' real faces.

* every method's maps are not all zero (and CAM-style normalised maps span exactly [0, 1]);
* target "real" explains −logit: for every method it equals target "fake" on a model whose logit is
  negated, and for signed methods it is exactly the negated "fake" map — also with the onnxruntime
  back end of the perturbation methods;
* completeness where a method promises it (DeepLift, occlusion of the whole face; IG's is in
  test_explainers.py);
* the options that change a method's numbers change them (baseline, window, layer, normalize...).

Tiny settings keep each call cheap; the maps are compared, not timed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fakescope.explainers import explain, explainer_class, list_explainers, make_baseline
from fakescope.models import create_model

FACES = Path(__file__).parent / "data" / "mesonet" / "test_images"
TRANSFORMER_ONLY = {"attention_rollout", "attention_relevancy"}
TARGET_FREE = {"attention_rollout", "eigencam"}  # maps of activations alone: no target in them

CHEAP: dict[str, dict] = {
    "integrated_gradients": {"n_steps": 4},
    "smoothgrad": {"nt_samples": 3},
    "gradientshap": {"n_samples": 3},
    "lime": {"n_samples": 12, "n_segments": 12},
    "kernelshap": {"n_samples": 12, "n_segments": 12},
    "occlusion": {"window": 128},
    "scorecam": {"max_channels": 4},
}
# methods whose map is a signed linear function of the target score: "real" = −"fake" exactly
SIGNED = {
    "saliency": {"abs": False},
    "smoothgrad": {"abs": False},
    "integrated_gradients": {},
    "gradientshap": {},
    "deeplift": {},
    "lrp": {},
    "lime": {},
    "kernelshap": {},
    "occlusion": {},
}

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def load_faces(size: int) -> torch.Tensor:
    """df/ then real/ test faces as N×3×size×size in [0, 1]."""
    paths = sorted((FACES / "df").glob("*.jpg"))[:1] + sorted((FACES / "real").glob("*.jpg"))[:1]
    arrs = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255.0
            for p in paths]
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


class Negated(nn.Module):
    """``model`` with its fake-logit negated: explaining its "fake" is explaining ``model``'s "real"."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        info = model.info
        self.info = SimpleNamespace(**{k: getattr(info, k) for k in ("name", "input_size", "cam_layer")})
        self.info.cam_layer = f"inner.{info.cam_layer}"

    def forward(self, x):
        return -self.inner(x)


def _tiny_vit() -> nn.Module:
    from fakescope.models._layers import TimmClassifier
    from fakescope.models._registry import ModelInfo
    from fakescope.models.vit import make_vit_explainable

    torch.manual_seed(0)
    model = make_vit_explainable(
        TimmClassifier("vit_tiny_patch16_224", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), img_size=64, depth=2)
    )
    model.info = ModelInfo(name="tiny_vit", family="vit", input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3,
                           cam_layer="backbone.blocks.1.norm1")
    return model.eval()


_MODELS: dict[str, nn.Module] = {}


def model_for(method: str) -> nn.Module:
    """MesoInception-4 (DF weights) for most methods; Meso-4 for DeepLift (no module reuse); a 2-block
    ViT for the attention methods."""
    name = "vit" if method in TRANSFORMER_ONLY else ("meso4" if method == "deeplift" else "mesoinception4")
    if name not in _MODELS:
        torch.set_num_threads(min(2, torch.get_num_threads()))
        _MODELS[name] = _tiny_vit() if name == "vit" else create_model(name, weights="df")
    return _MODELS[name]


def run(method: str, model: nn.Module, x: torch.Tensor, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return explain(model, x, method, **{**CHEAP.get(method, {}), **kw})


@pytest.fixture(scope="module")
def faces() -> dict[int, torch.Tensor]:
    return {256: load_faces(256), 64: load_faces(64)}


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FAKESCOPE_CACHE", str(tmp_path_factory.mktemp("onnx")))
    yield
    mp.undo()


ONE_FACE = {"lime", "kernelshap", "occlusion", "lrp", "scorecam"}  # costly per face: the DF face only


def _x(method: str, faces) -> torch.Tensor:
    if method in TRANSFORMER_ONLY:
        return faces[64]
    return faces[256][:1] if method in ONE_FACE else faces[256]


# ------------------------------------------------------------------------------------ not all zero


@pytest.mark.parametrize("method", list_explainers())
def test_maps_are_not_all_zero_on_real_faces(method, faces):
    model, x = model_for(method), _x(method, faces)
    ex = run(method, model, x)
    assert ex.maps.shape == (len(x), *x.shape[-2:])
    for i, m in enumerate(ex.maps):
        assert np.abs(m).max() > 0, (method, i)
        assert np.unique(m).size > 1, (method, i)  # a map, not a constant
        if ex.value_range.startswith("[0, 1]"):
            assert m.min() == pytest.approx(0, abs=1e-6) and m.max() == pytest.approx(1, abs=1e-3)  # eps 1e-7
    with torch.no_grad():
        np.testing.assert_allclose(ex.logits, model(x).reshape(-1).numpy(), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------- target "real"


@pytest.mark.parametrize("method", [m for m in list_explainers() if m not in TARGET_FREE | set(SIGNED)])
def test_target_real_is_target_fake_of_the_negated_model(method, faces):
    """CAMs and relevancy: explaining "real" = explaining "fake" of −model (signed methods: below)."""
    model, x = model_for(method), _x(method, faces)
    real = run(method, model, x, target="real")
    neg = run(method, Negated(model), x, target="fake")
    scale = np.abs(neg.maps).max()
    assert scale > 0
    np.testing.assert_allclose(real.maps, neg.maps, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(real.logits, -neg.logits, rtol=1e-5, atol=1e-5)  # logits stay the model's
    fake = run(method, model, x, target="fake")  # the other logit gives another map
    assert not np.allclose(fake.maps, real.maps, atol=1e-3), method


@pytest.mark.parametrize("method", sorted(TARGET_FREE))
def test_activation_maps_do_not_depend_on_the_target(method, faces):
    model, x = model_for(method), _x(method, faces)
    np.testing.assert_allclose(run(method, model, x, target="fake").maps, run(method, model, x, target="real").maps,
                               atol=1e-6)


@pytest.mark.parametrize("method", sorted(SIGNED))
def test_target_real_negates_signed_maps(method, faces):
    model, x = model_for(method), _x(method, faces)
    kw = SIGNED[method]
    fake = run(method, model, x, target="fake", **kw)
    real = run(method, model, x, target="real", **kw)
    scale = np.abs(fake.maps).max()
    assert scale > 0 and fake.sign.startswith("signed")
    np.testing.assert_allclose(real.maps, -fake.maps, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_array_equal(real.logits, fake.logits)


@pytest.mark.parametrize("method", ["lime", "kernelshap", "occlusion"])
def test_onnx_backend_follows_the_target(method, faces, onnx_cache):
    """The onnxruntime scorer explains −logit for "real" too (not only "fake")."""
    model, x = model_for(method), faces[256][:1]
    fake = run(method, model, x, target="fake", backend="onnx")
    real = run(method, model, x, target="real", backend="onnx")
    ref = run(method, model, x, target="real", backend="torch")
    assert real.params["backend"] == "onnxruntime" and ref.params["backend"] == "torch"
    scale = np.abs(fake.maps).max()
    assert scale > 0
    np.testing.assert_allclose(real.maps, -fake.maps, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(real.maps, ref.maps, rtol=1e-3, atol=1e-3 * scale)


# ---------------------------------------------------------------------------------- completeness


def _score_drop(model, x, baseline, sign=1.0) -> np.ndarray:
    with torch.no_grad():
        return sign * (model(x) - model(baseline)).reshape(-1).numpy()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("target", ["fake", "real"])
def test_occluding_the_whole_face_gives_the_whole_score_drop(faces, backend, target, onnx_cache):
    """One window over the whole face: every pixel's value is target(face) − target(baseline)."""
    model, x = model_for("occlusion"), faces[256]
    baseline = "blurred" if target == "fake" else "black"
    ex = run("occlusion", model, x, window=256, stride=256, backend=backend, target=target, baseline=baseline)
    drop = _score_drop(model, x, make_baseline(x, baseline), 1.0 if target == "fake" else -1.0)
    assert np.abs(drop).min() > 0.05
    for m, d in zip(ex.maps, drop, strict=True):
        np.testing.assert_allclose(m, d, rtol=1e-3, atol=1e-4)


def test_deeplift_sums_to_the_score_difference(faces):
    model, x = model_for("deeplift"), faces[256]
    for baseline in ("black", "blurred"):
        ex = run("deeplift", model, x, baseline=baseline)
        drop = _score_drop(model, x, make_baseline(x, baseline))
        assert np.abs(drop).min() > 0.05
        # exact for ReLU/linear layers; Meso-4's max-pooling makes it approximate (measured ≤ 7 %)
        np.testing.assert_allclose(ex.maps.sum(axis=(1, 2)), drop, rtol=0.1, atol=0.05)


# --------------------------------------------------------------------------- options change maps


def test_cam_options_change_the_maps(faces):
    model, x = model_for("gradcam"), faces[256][:1]
    norm = run("gradcam", model, x)
    raw = run("gradcam", model, x, normalize=False)
    assert raw.value_range.startswith("≥ 0") and norm.value_range.startswith("[0, 1]")
    r = raw.maps[0]
    np.testing.assert_allclose(norm.maps[0], (r - r.min()) / (r.max() - r.min() + 1e-7), rtol=1e-4, atol=1e-5)
    other = run("gradcam", model, x, layer="features.2")
    assert other.layer == "features.2" and norm.layer == model.info.cam_layer
    assert not np.allclose(other.maps, norm.maps, atol=1e-2)


def test_baseline_option_changes_path_and_perturbation_maps(faces):
    model, x = model_for("integrated_gradients"), faces[256][:1]
    for method in ("integrated_gradients", "occlusion"):
        a = run(method, model, x, baseline="black")
        b = run(method, model, x, baseline="blurred")
        assert a.params["baseline"] == "black" and b.params["baseline"] == "blurred"
        assert not np.allclose(a.maps, b.maps, atol=1e-4 * np.abs(a.maps).max()), method


def test_occlusion_window_sets_the_map_resolution(faces):
    model, x = model_for("occlusion"), faces[256][:1]
    coarse = run("occlusion", model, x, window=128, stride=128).maps[0]
    assert np.unique(coarse).size <= 4  # four 128-px windows: at most four values
    fine = run("occlusion", model, x, window=64, stride=64).maps[0]
    assert np.unique(fine).size > 4


def test_reduce_option_of_gradient_methods(faces):
    model, x = model_for("saliency"), faces[256][:1]
    signed = run("saliency", model, x, abs=False)
    mag = run("saliency", model, x)
    assert signed.maps.min() < 0 and mag.maps.min() >= 0
    assert explainer_class("saliency").defaults["abs"] is True
    np.testing.assert_array_less(np.abs(signed.maps) - 3 * mag.maps, 1e-6)  # |Σ_c g_c| ≤ 3 max_c |g_c|


# ------------------------------------------------------------------------- base-class helpers


def test_upsampling_is_bilinear_with_half_pixel_centres_like_cv2():
    import cv2

    from fakescope.explainers._base import upsample

    small = np.random.default_rng(0).random((2, 7, 5)).astype(np.float32)
    got = upsample(torch.from_numpy(small), (28, 20)).numpy()
    for g, s in zip(got, small, strict=True):
        np.testing.assert_allclose(g, cv2.resize(s, (20, 28), interpolation=cv2.INTER_LINEAR), atol=1e-5)
    assert upsample(torch.from_numpy(small), (7, 5)).numpy() is not None  # same size: unchanged
    np.testing.assert_array_equal(upsample(torch.from_numpy(small), (7, 5)).numpy(), small)


def test_minmax_scales_each_map_to_unit_range():
    from fakescope.explainers._base import minmax

    maps = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[-2.0, -2.0], [-2.0, -2.0]]])
    out = minmax(maps.clone()).numpy()
    np.testing.assert_allclose(out[0], [[0.0, 0.5], [0.25, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(out[1], np.zeros((2, 2)))  # a constant map becomes 0, not NaN
