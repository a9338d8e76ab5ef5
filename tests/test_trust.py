"""Trust features (issue 10) end to end: calibrated analyses, ensembles, model cards, the ``calibrate``
command and the report (pure parts: tests/test_calibration.py)."""

from __future__ import annotations

import json

import pytest

from fakescope.calibration import Calibration, sigmoid

# ------------------------------------------------------------------------------- real pipeline


@pytest.fixture(scope="module")
def photo_result(samples):
    import fakescope

    return fakescope.analyze(samples / "multi_face.jpg")


def test_multi_face_photo_is_not_reported_fake(photo_result):
    r = photo_result
    assert r.schema_version == "1.4"
    assert r.verdict.label != "fake"
    for t in r.tracks:
        assert t.n_faces == 1 and 0.0 < t.score < 1.0 and f"{t.score:.2f}" not in ("0.00", "1.00")
        assert t.interval[0] < t.score < t.interval[1]
        assert t.share_above in (0.0, 1.0)
    for f in r.frames[0].faces:
        assert f.quality is not None and f.raw_logit is not None
        assert f.p_fake == pytest.approx(float(sigmoid(f.logit)))
    assert r.settings.calibration and r.settings.band


def test_ensemble_of_a_model_with_itself_equals_the_model(samples):
    from fakescope.pipeline import Analyzer

    one = Analyzer(model="meso4").analyze(samples / "multi_face.jpg")
    same = Analyzer(model="meso4,meso4").analyze(samples / "multi_face.jpg")
    assert same.settings.models == ["meso4:df", "meso4:df'"] and same.settings.combine == "mean"
    for fo, fs in zip(one.frames[0].faces, same.frames[0].faces, strict=True):
        assert fs.logit == pytest.approx(fo.logit, abs=1e-9) and fs.p_fake == pytest.approx(fo.p_fake, abs=1e-9)
        assert set(fs.scores) == {"meso4:df", "meso4:df'"}
    assert [t.label for t in same.tracks] == [t.label for t in one.tracks]
    assert [t.score for t in same.tracks] == pytest.approx([t.score for t in one.tracks])
    assert same.verdict.label == one.verdict.label


def test_ensemble_keeps_every_models_scores(samples):
    from fakescope.pipeline import Analyzer

    one = Analyzer(model="meso4").analyze(samples / "multi_face.jpg")
    pair = Analyzer(model="meso4,mesoinception4:f2f").analyze(samples / "multi_face.jpg")
    for fo, fp in zip(one.frames[0].faces, pair.frames[0].faces, strict=True):
        assert set(fp.scores) == {"meso4:df", "mesoinception4:f2f"}
        assert fp.scores["meso4:df"].logit == pytest.approx(fo.logit, abs=1e-6)
        assert fp.logit == pytest.approx((fp.scores["meso4:df"].logit + fp.scores["mesoinception4:f2f"].logit) / 2)
    assert all(set(t.model_scores) == {"meso4:df", "mesoinception4:f2f"} for t in pair.tracks)


# ------------------------------------------------------------------------------------------ CLI


def _cli(*args):
    from typer.testing import CliRunner

    from fakescope.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_models_card_prints_published_and_measured_numbers():
    r = _cli("models", "--card", "mesoinception4")
    assert r.exit_code == 0, r.output
    assert "Published numbers" in r.output and "0.917" in r.output and "DeepfakeBench" in r.output
    assert "Measured here" in r.output and "Known failure modes" in r.output
    card = json.loads(_cli("models", "--card", "mesoinception4:df", "--json").output)
    assert card["measured"], "the shipped card carries numbers measured here (bench/trust.py --write)"
    assert all({"metric", "value", "n", "data"} <= set(m) for m in card["measured"])
    bad = _cli("models", "--card", "xception")
    assert bad.exit_code == 2 and "no model card" in bad.output


def test_calibrate_command_writes_a_file_that_analyze_uses(tmp_path, mesonet_faces, samples):
    import shutil

    data = tmp_path / "faces"
    for sub in ("real", "df"):
        (data / ("fake" if sub == "df" else "real")).mkdir(parents=True)
        for p in (mesonet_faces / sub).glob("*.jpg"):
            shutil.copy(p, data / ("fake" if sub == "df" else "real") / p.name)
    out = tmp_path / "cal.json"
    r = _cli("calibrate", data, "--model", "meso4", "--out", out, "--method", "temperature")
    assert r.exit_code == 0, r.output
    cal = Calibration.load(out)
    assert cal.model == "meso4" and cal.weights == "df" and cal.method == "temperature" and cal.intercept == 0.0
    assert cal.fitted_on["n_real"] == 2 and cal.fitted_on["n_fake"] == 2 and len(cal.fitted_on["files_sha256"]) == 4
    res_dir = tmp_path / "res"
    r = _cli("analyze", samples / "single_face.jpg", "--model", "meso4", "--calibration", out, "--band", "0.2,0.8",
             "--out", res_dir)
    assert r.exit_code == 0, r.output
    res = json.loads((res_dir / "single_face" / "result.json").read_text())
    assert res["settings"]["calibration"]["meso4:df"]["slope"] == pytest.approx(cal.slope, rel=1e-4)
    assert res["settings"]["band"] == [0.2, 0.8]
    face = res["frames"][0]["faces"][0]
    assert face["logit"] == pytest.approx(float(cal.apply(face["raw_logit"])), abs=1e-6)
    # a calibration of another model is refused with one line
    r = _cli("analyze", samples / "single_face.jpg", "--model", "mesoinception4", "--calibration", out,
             "--out", res_dir)
    assert r.exit_code == 2 and "fitted for model 'meso4'" in r.output
    r = _cli("calibrate", data / "real", "--model", "meso4", "--out", out, "--dataset", "folder",
             "--option", "label=real")
    assert r.exit_code == 2


def test_analyze_cli_ensemble_and_bad_band(samples, tmp_path):
    r = _cli("analyze", samples / "single_face.jpg", "--model", "meso4,mesoinception4:f2f", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "single_face" / "result.json").read_text())
    assert res["settings"]["models"] == ["meso4:df", "mesoinception4:f2f"] and res["settings"]["combine"] == "mean"
    assert set(res["frames"][0]["faces"][0]["scores"]) == {"meso4:df", "mesoinception4:f2f"}
    for band in ("0.7,0.9", "x"):
        r = _cli("analyze", samples / "single_face.jpg", "--band", band, "--out", tmp_path)
        assert r.exit_code == 2 and "--band" in r.output


def test_report_shows_calibrated_score_band_flags_and_card(samples, tmp_path):
    r = _cli("analyze", samples / "multi_face.jpg", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    html = (tmp_path / "multi_face" / "report.html").read_text()
    assert "How reliable is this detector?" in html and "0.917" in html  # the model card
    assert "uncertain band" in html and "90 % interval" in html and "quality flags" in html
