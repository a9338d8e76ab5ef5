"""``analyze --mode thorough`` (issue 26): the strongest installed published detector on fewer sampled faces,
saying what it used, how long it took per face, and that its scores are uncalibrated.

The installed detector is a GenD-layout ``model.safetensors`` (small random CLIP ViT, the layout of
huggingface.co/yermandy/GenD_CLIP_L_14; see test_convert_clip_vit.py), installed as a user would with
``fakescope weights add FILE --name NAME --format gend``. Random weights: the verdicts mean nothing, the
plumbing is what is tested.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from test_convert_clip_vit import EffortReference, gend_state_dict
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.thorough import THOROUGH_FRAMES, NoPublishedDetector, strongest_installed

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _add_gend(tmp_path, name: str = "my-gend") -> None:
    sd, _ = gend_state_dict()
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path), metadata={"format": "pt"})
    r = _run("weights", "add", path, "--name", name, "--format", "gend")
    assert r.exit_code == 0, r.output


def test_without_a_published_detector_it_says_what_to_pull(home, samples, tmp_path):
    r = _run("analyze", samples / "single_face.jpg", "--mode", "thorough", "--out", tmp_path / "o", "--no-report")
    assert r.exit_code == 2, r.output
    assert "none is installed" in r.output and "fakescope weights pull gend-clip-l14" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()
    with pytest.raises(NoPublishedDetector):
        strongest_installed()
    r = _run("analyze", samples / "single_face.jpg", "--mode", "fast", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "--mode must be one of standard, thorough" in r.output


def test_thorough_end_to_end_on_an_installed_gend_checkpoint(home, samples, tmp_path):
    _add_gend(tmp_path)
    r = _run("analyze", samples / "single_face.mp4", "--mode", "thorough", "--out", tmp_path / "o", "--no-report")
    assert r.exit_code == 0, r.output
    assert "thorough: my-gend" in r.output and "format gend" in r.output and "s per face" in r.output
    assert "uncalibrated" in r.output
    res = json.loads((tmp_path / "o" / "single_face" / "result.json").read_text())
    s = res["settings"]
    assert (s["mode"], s["model"], s["sampling"]) == ("thorough", "my-gend", THOROUGH_FRAMES)
    assert len(res["frames"]) <= int(THOROUGH_FRAMES.split(":")[1])
    faces = [f for fr in res["frames"] for f in fr["faces"]]
    assert faces and res["timings"]["classify_per_face"] > 0
    assert res["timings"]["classify_per_face"] == pytest.approx(res["timings"]["classify"] / len(faces), abs=2e-4)
    assert s["calibration"]["my-gend:installed"]["source"].startswith("uncalibrated")
    assert s["alignment"] == {"my-gend:installed": "gend"}  # GenD's own five-landmark crop, as it was trained
    assert "Uncalibrated" in res["verdict"]["headline"]
    # a model named explicitly wins over the automatic choice; so does an explicit --frames
    r = _run("analyze", samples / "single_face.mp4", "--mode", "thorough", "--model", "mesoinception4", "--frames",
             "even:3", "--out", tmp_path / "o2", "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    s2 = json.loads((tmp_path / "o2" / "single_face" / "result.json").read_text())["settings"]
    assert (s2["mode"], s2["model"], s2["sampling"]) == ("thorough", "mesoinception4", "even:3")
    assert not s2["calibration"]["mesoinception4:df"]["source"].startswith("uncalibrated")


def test_the_model_card_of_a_pulled_detector_says_uncalibrated(home, tmp_path):
    _add_gend(tmp_path)
    r = _run("models", "--card", "my-gend")
    assert r.exit_code == 0, r.output
    assert "Uncalibrated" in r.output and "fakescope calibrate" in r.output
    assert "gend alignment" in " ".join(r.output.split())  # and that it needs a detector with landmarks


def test_the_strongest_published_format_is_chosen(home, tmp_path):
    effort = tmp_path / "effort.pth"
    torch.save(EffortReference().state_dict(), effort)
    assert _run("weights", "add", effort, "--name", "a-effort").exit_code == 0
    assert strongest_installed().name == "a-effort"
    _add_gend(tmp_path, "z-gend")
    choice = strongest_installed()
    assert (choice.name, choice.source_format) == ("z-gend", "gend")  # GenD before Effort, whatever the names


def test_http_options_in_thorough_mode(home, tmp_path):
    from pydantic import ValidationError

    from fakescope.server.jobs import AnalysisOptions

    with pytest.raises(ValidationError, match="none is installed"):
        AnalysisOptions(mode="thorough")
    _add_gend(tmp_path)
    opts = AnalysisOptions(mode="thorough")
    cfg = opts.to_config()
    assert (opts.model, cfg.mode, cfg.sampling.describe()) == ("my-gend", "thorough", THOROUGH_FRAMES)
    assert AnalysisOptions(mode="thorough", frames="even:5").to_config().sampling.describe() == "even:5"
    with pytest.raises(ValidationError):
        AnalysisOptions(mode="fast")


def test_an_aligned_detector_s_heatmap_says_how_it_maps_back_to_the_frame(home, samples, tmp_path):
    """GenD sees its own aligned crop: each explanation records the frame → map affine, and the annotated
    image draws the map through it (onto the face, not the square crop)."""
    import numpy as np
    from PIL import Image

    from fakescope.faces.align import crop_matrix

    _add_gend(tmp_path)
    out = tmp_path / "o"
    r = _run("analyze", samples / "single_face.jpg", "--model", "my-gend", "--explain", "saliency", "--annotate",
             "--out", out, "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads((out / "single_face" / "result.json").read_text())
    face = res["frames"][0]["faces"][0]
    rec = res["explanations"][0]
    hm = np.load(out / "single_face" / rec["map"])
    size = hm.shape[0]  # the small test model's input size
    np.testing.assert_allclose(rec["crop_transform"], crop_matrix(face["landmarks"], "gend", size), atol=1e-3)
    plain = np.asarray(Image.open(samples / "single_face.jpg").convert("RGB")).astype(int)
    drawn = np.asarray(Image.open(out / "single_face" / "annotated.png").convert("RGB")).astype(int)
    changed = np.abs(drawn - plain).sum(-1) > 30
    inv = np.asarray(rec["crop_transform"])
    inv = np.linalg.inv(np.vstack([inv, [0, 0, 1]]))[:2]
    cx, cy = inv @ [(size - 1) / 2, (size - 1) / 2, 1.0]  # the aligned crop's centre, in the frame: under the heatmap
    assert changed[int(cy) - 3 : int(cy) + 4, int(cx) - 3 : int(cx) + 4].any()


def test_batch_takes_the_thorough_mode_too(home, samples, tmp_path):
    _add_gend(tmp_path)
    out = tmp_path / "b"
    r = _run("batch", samples / "single_face.jpg", samples / "single_face.mp4", "--mode", "thorough", "--out", out,
             "--engine", "thread", "--workers", "1", "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "thorough: my-gend" in r.output and "2 analysed" in r.output
    results = sorted(out.rglob("result.json"))
    assert len(results) == 2
    for p in results:
        s = json.loads(p.read_text())["settings"]
        assert (s["mode"], s["model"], s["alignment"]) == ("thorough", "my-gend", {"my-gend:installed": "gend"})
    video = next(json.loads(p.read_text()) for p in results if "mp4" in json.loads(p.read_text())["input"]["name"])
    assert video["settings"]["sampling"] == THOROUGH_FRAMES
    r = _run("batch", samples / "single_face.jpg", "--mode", "fast", "--out", tmp_path / "b2")
    assert r.exit_code == 2 and "--mode must be one of standard, thorough" in r.output


def test_without_landmarks_an_aligned_detector_gets_the_square_crop_and_a_warning(home, samples, tmp_path):
    _add_gend(tmp_path)
    r = _run("analyze", samples / "single_face.jpg", "--model", "my-gend", "--detector", "haar", "--out",
             tmp_path / "o", "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "single_face" / "result.json").read_text())
    n = sum(len(fr["faces"]) for fr in res["frames"])
    assert n >= 1
    warning = next(w for w in res["warnings"] if "landmarks" in w)
    assert warning.startswith(f"{n} face crop(s) had no five usable landmarks") and "(haar)" in warning
    assert "gend alignment" in warning
    r = _run("analyze", samples / "single_face.jpg", "--model", "my-gend", "--out", tmp_path / "o2", "--no-report")
    res = json.loads((tmp_path / "o2" / "single_face" / "result.json").read_text())
    assert not [w for w in res["warnings"] if "landmarks" in w]  # YuNet gives them
