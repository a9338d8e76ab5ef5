"""MesoNet port: parity with the original Keras outputs, real faces, and weight-file errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from fakescope.errors import UnknownNameError, WeightsError
from fakescope.models import create_model, get_model_info, list_models, sha256_file
from fakescope.models.mesonet import Meso4, MesoInception4, load_keras_mesonet

DATA = Path(__file__).parent / "data" / "mesonet"
# (registry name, weight tag, weight-file stem used as key prefix in keras_reference.npz)
WEIGHTS = [
    ("meso4", "df", "Meso4_DF"),
    ("meso4", "f2f", "Meso4_F2F"),
    ("mesoinception4", "df", "MesoInception_DF"),
    ("mesoinception4", "f2f", "MesoInception_F2F"),
]
MODELS = ["meso4", "mesoinception4"]


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "keras_reference.npz") as z:
        return dict(z)


def _nchw(images_nhwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images_nhwc).permute(0, 3, 1, 2).contiguous()


def _face(path: Path) -> np.ndarray:
    """256×256×3 float32 RGB in [0, 1], resized as the reference did (PIL bilinear)."""
    img = Image.open(path).convert("RGB").resize((256, 256), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def _faces() -> tuple[list[Path], list[Path]]:
    root = DATA / "test_images"
    return sorted((root / "df").glob("*.jpg")), sorted((root / "real").glob("*.jpg"))


# ------------------------------------------------------------------------------ parity with Keras


@pytest.mark.parametrize(("name", "tag", "stem"), WEIGHTS)
def test_matches_keras_logits(reference, name, tag, stem):
    model = create_model(name, weights=tag)
    with torch.no_grad():
        logits = model(_nchw(reference["inputs_nhwc"])).numpy()
    expected = -reference[f"{stem}_logit"]  # Keras logit is for "real"; ours is for "fake"
    assert logits.shape == expected.shape
    assert np.abs(logits - expected).max() < 1e-4
    probs = torch.sigmoid(torch.from_numpy(logits)).numpy()
    np.testing.assert_allclose(probs, 1.0 - reference[f"{stem}_prob"], atol=1e-5)


@pytest.mark.parametrize(("name", "tag", "stem"), WEIGHTS)
def test_registered_sha256_matches_file(name, tag, stem):
    wi = get_model_info(name).weights[tag]
    assert wi.path.name == f"{stem}.h5"
    assert sha256_file(wi.path) == wi.sha256


def test_reference_inputs_are_the_test_faces(reference):
    df, real = _faces()
    faces = np.stack([_face(p) for p in df + real])
    np.testing.assert_array_equal(faces, reference["inputs_nhwc"][:4])


@pytest.mark.parametrize("name", MODELS)
def test_df_weights_separate_test_faces(name):
    df, real = _faces()
    assert len(df) == 2 and len(real) == 2
    x = _nchw(np.stack([_face(p) for p in df + real]))
    with torch.no_grad():
        p_fake = torch.sigmoid(create_model(name, weights="df")(x)).numpy()
    assert (p_fake[:2] > 0.5).all(), p_fake
    assert (p_fake[2:] < 0.5).all(), p_fake


# ------------------------------------------------------------------------------- contract / registry


@pytest.mark.parametrize("name", MODELS)
def test_contract(name):
    model = create_model(name, weights=None)
    info = model.info
    assert not model.training
    assert name in list_models("meso*")
    assert info.input_size == 256 and info.family == "mesonet"
    assert info.mean == (0.0, 0.0, 0.0) and info.std == (1.0, 1.0, 1.0)
    assert info.default_weights == "df" and set(info.weights) == {"df", "f2f"}
    assert info.licence == "Apache-2.0" and "MesoNet" in info.paper

    x = torch.rand(3, 3, 256, 256)
    cam_out = []
    hook = model.get_submodule(info.cam_layer).register_forward_hook(lambda m, i, o: cam_out.append(o))
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
    hook.remove()
    assert feats.shape == (3, 16, 8, 8)
    assert out.shape == (3,) and torch.isfinite(out).all()
    torch.testing.assert_close(model.forward_head(feats), out)
    assert cam_out[-1].ndim == 4 and cam_out[-1].shape[1] == 16  # a spatial map for Grad-CAM


def test_default_weights_are_df(reference):
    x = _nchw(reference["inputs_nhwc"][:2])
    with torch.no_grad():
        torch.testing.assert_close(create_model("meso4")(x), create_model("meso4", weights="df")(x))
    assert create_model("meso4").weights_tag == "df"


def test_unknown_weight_tag():
    with pytest.raises(WeightsError, match="no weights 'dfdc'"):
        create_model("meso4", weights="dfdc")


def test_unknown_model_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'meso4'"):
        create_model("meso5")


# ---------------------------------------------------------------------------------- bad weight files


def _assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg, msg


def _weight_file(name: str, tag: str = "df") -> Path:
    return get_model_info(name).weights[tag].path


def test_random_bytes_file(tmp_path):
    bad = tmp_path / "random.h5"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(WeightsError) as err:
        create_model("meso4", checkpoint_path=bad)
    _assert_one_line_naming(err, bad)


@pytest.mark.parametrize("name", MODELS)
def test_truncated_file(tmp_path, name):
    src = _weight_file(name)
    bad = tmp_path / f"truncated_{src.name}"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 3])
    with pytest.raises(WeightsError) as err:
        create_model(name, checkpoint_path=bad)
    _assert_one_line_naming(err, bad)


@pytest.mark.parametrize(("model_cls", "other"), [(MesoInception4, "meso4"), (Meso4, "mesoinception4")])
def test_weights_of_other_architecture(model_cls, other):
    path = _weight_file(other)
    model = model_cls()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match="another architecture") as err:
        load_keras_mesonet(model, path)
    _assert_one_line_naming(err, path)
    for k, v in model.state_dict().items():  # nothing was half-loaded
        assert torch.equal(v, before[k]), k


def test_hdf5_that_is_not_keras(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(WeightsError, match="layer_names") as err:
        load_keras_mesonet(Meso4(), path)
    _assert_one_line_naming(err, path)


def test_unused_tensor_in_file(tmp_path):
    path = tmp_path / "extra.h5"
    shutil.copy(_weight_file("meso4"), path)
    with h5py.File(path, "a") as f:
        f["dense_3/dense_3/extra:0"] = np.zeros(3, np.float32)
    with pytest.raises(WeightsError, match="unused") as err:
        load_keras_mesonet(Meso4(), path)
    _assert_one_line_naming(err, path)


def test_wrong_shape_in_file(tmp_path):
    path = tmp_path / "shape.h5"
    shutil.copy(_weight_file("meso4"), path)
    with h5py.File(path, "a") as f:
        group = f["dense_3/dense_3"]
        del group["kernel:0"]
        group["kernel:0"] = np.zeros((512, 16), np.float32)
    with pytest.raises(WeightsError, match=r"fc1\.weight") as err:
        load_keras_mesonet(Meso4(), path)
    _assert_one_line_naming(err, path)
