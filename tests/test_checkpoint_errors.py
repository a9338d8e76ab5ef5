"""Checkpoint errors say what is wrong (issue 15): not a checkpoint, which keys do not fit, how to convert."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.errors import WeightsError
from fakescope.models import create_model


def _analyze(image, ckpt, tmp_path):
    return CliRunner().invoke(app, ["analyze", str(image), "--model", "meso4", "--checkpoint", str(ckpt),
                                    "--out", str(tmp_path / "out")])


def test_random_bytes_are_not_a_checkpoint(tmp_path, samples):
    path = tmp_path / "random.pth"
    path.write_bytes(os.urandom(4096))
    for model in ("meso4", "xception"):
        with pytest.raises(WeightsError) as err:
            create_model(model, checkpoint_path=path)
        assert "not a checkpoint" in str(err.value) and "weights_only" not in str(err.value)
    r = _analyze(samples / "single_face.jpg", path, tmp_path)
    assert r.exit_code == 2 and "not a checkpoint" in r.output and "weights_only" not in r.output


def test_wrong_shapes_for_meso4_name_the_keys(tmp_path, samples):
    sd = {k: v.clone() for k, v in create_model("meso4", weights=None).state_dict().items()}
    sd["fc1.weight"] = torch.zeros(3, 3)
    path = tmp_path / "wrong_shapes.safetensors"
    save_file(sd, str(path))
    r = _analyze(samples / "single_face.jpg", path, tmp_path)
    assert r.exit_code == 2 and "fc1.weight" in r.output and "HDF5" not in r.output, r.output
    sd["fc1.weight"] = torch.randn(16, 1024)  # the right shapes load (a plain state dict, not Keras)
    save_file(sd, str(path))
    model = create_model("meso4", checkpoint_path=path)
    assert torch.equal(model.state_dict()["fc1.weight"], sd["fc1.weight"])


def test_refused_pickle_tells_analyze_users_to_convert(tmp_path, samples):
    path = tmp_path / "whole.pth"
    torch.save(create_model("meso4", weights=None), path)
    r = _analyze(samples / "single_face.jpg", path, tmp_path)
    assert r.exit_code == 2 and "refused" in r.output
    text = " ".join(r.output.split())
    assert "fakescope convert" in text and "--trust-pickle" in text and "pass --trust-pickle" not in text
