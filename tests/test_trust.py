"""Trust features (issue 10): calibration, aggregation, the uncertain band, quality flags, ensembles,
model cards and the ``calibrate`` command — with hand-computable numbers where the maths allows."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fakescope.aggregate import aggregate_track, median_filter
from fakescope.calibration import Calibration, fit, fit_calibration, shipped_calibration, sigmoid
from fakescope.combine import combine
from fakescope.quality import QualityConfig, assess_face, estimate_yaw, jpeg_quality, outside_share, sharpness
from fakescope.rules import TrackEvidence, judge_track, judge_video

# ------------------------------------------------------------------------------------ calibration


@pytest.mark.parametrize("temperature", [0.5, 2.0, 4.0])
def test_temperature_fit_recovers_a_known_temperature(temperature):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, 20000)
    y = (rng.random(len(z)) < sigmoid(z / temperature)).astype(int)
    slope, intercept = fit(z, y, method="temperature", balanced=False)
    assert intercept == 0.0
    assert 1 / slope == pytest.approx(temperature, rel=0.06)


def test_platt_fit_recovers_slope_and_offset():
    rng = np.random.default_rng(1)
    z = rng.normal(1.0, 3, 20000)
    y = (rng.random(len(z)) < sigmoid(0.4 * z - 1.5)).astype(int)
    slope, intercept = fit(z, y, method="platt", balanced=False)
    assert slope == pytest.approx(0.4, abs=0.03) and intercept == pytest.approx(-1.5, abs=0.1)


def test_calibration_clips_and_roundtrips(tmp_path):
    cal = Calibration(model="m", weights="w", method="platt", slope=0.5, intercept=1.0, max_logit=5, band=(0.3, 0.7))
    np.testing.assert_allclose(cal.apply([0.0, 2.0, 100.0, -100.0]), [1.0, 2.0, 5.0, -5.0])
    assert 0 < cal.probability(1e9) < 1
    cal.save(tmp_path / "c.json")
    back = Calibration.load(tmp_path / "c.json")
    assert back == cal
    (tmp_path / "bad.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a fakescope calibration"):
        Calibration.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="band"):
        Calibration(band=(0.6, 0.7))


def test_fit_calibration_lowers_ece_on_overconfident_scores():
    rng = np.random.default_rng(2)
    true = rng.normal(0, 1.5, 4000)
    y = (rng.random(len(true)) < sigmoid(true)).astype(int)
    cal = fit_calibration(true * 5, y, method="temperature")  # the "model" is 5× overconfident
    assert cal.metrics["ece_calibrated"] < cal.metrics["ece_raw"] / 2
    assert cal.temperature == pytest.approx(5, rel=0.15)


def test_shipped_calibrations_load_for_every_card():
    from fakescope.cards import list_cards

    for model, tag in list_cards():
        cal = shipped_calibration(model, tag)
        if cal is not None:
            assert cal.model == model and cal.weights == tag and cal.method in ("platt", "temperature", "identity")


# ------------------------------------------------------------------------------------ aggregation


def test_median_filter_removes_a_single_spike():
    z = np.array([-4, -4, -4, 6, -4, -4, -4.0])
    np.testing.assert_array_equal(median_filter(z, 5), np.full(7, -4.0))
    np.testing.assert_array_equal(median_filter(z, 1), z)


def test_aggregate_is_a_shrunken_weighted_mean():
    agg = aggregate_track([2.0, 2.0, 2.0], window=1, prior_faces=1.0)
    assert agg.logit == pytest.approx(6.0 / 4.0)  # Σz / (n + prior)
    w = aggregate_track([4.0, 0.0], weights=[1.0, 0.5], window=1, prior_faces=1.0)
    assert w.logit == pytest.approx(4.0 / 2.5)
    assert w.share_above == 0.5


@pytest.mark.parametrize("z", [-5.0, 5.0, -50.0, 50.0])
def test_one_face_never_gives_an_identity_score_of_0_or_1(z):
    agg = aggregate_track([min(max(z, -5.0), 5.0)], window=5)
    assert 0.05 < agg.score < 0.95
    lo, hi = agg.interval
    assert 0 < lo < agg.score < hi < 1


def test_interval_narrows_with_more_agreeing_faces():
    few = aggregate_track([3.0] * 3, window=1)
    many = aggregate_track([3.0] * 30, window=1)
    assert (many.interval[1] - many.interval[0]) < (few.interval[1] - few.interval[0])


# -------------------------------------------------------------------------------- band and rules


def _ev(z, **kw):
    return TrackEvidence(logits=np.asarray(z, dtype=float), **kw)


def test_uncertain_band_is_honoured_at_its_edges():
    band = (0.35, 0.65)
    # one face, window 1: score = sigmoid(z / 2)
    at_hi = 2 * np.log(0.65 / 0.35)
    assert judge_track(_ev([at_hi + 1e-6], is_video=False), "calibrated", band=band).label == "fake"
    assert judge_track(_ev([at_hi - 1e-6], is_video=False), "calibrated", band=band).label == "uncertain"
    assert judge_track(_ev([-at_hi - 1e-6], is_video=False), "calibrated", band=band).label == "real"
    assert judge_track(_ev([-at_hi + 1e-6], is_video=False), "calibrated", band=band).label == "uncertain"
    # a wider band turns the same evidence uncertain
    assert judge_track(_ev([at_hi + 0.1], is_video=False), "calibrated", band=(0.2, 0.8)).label == "uncertain"


def test_threshold_outside_band_is_refused():
    with pytest.raises(ValueError, match="inside the uncertain band"):
        judge_track(_ev([1.0]), "calibrated", threshold=0.9, band=(0.35, 0.65))


def test_too_few_usable_faces_is_uncertain_not_inconclusive():
    o = judge_track(_ev([4.0, 4.0, 4.0], weights=np.array([1.0, 0.25, 0.25])), "calibrated", min_faces=2)
    assert o.label == "uncertain" and o.too_few and o.n_used == 1 and "usable" in o.reason
    o = judge_track(_ev([4.0, 4.0], weights=np.array([1.0, 0.5])), "calibrated", min_faces=2)
    assert o.label == "fake" and not o.too_few


def test_soft_faces_cannot_make_a_fake():
    z = [4.0] * 5
    soft = (("blurry",),) * 3 + ((),) * 2
    o = judge_track(_ev(z, flags=soft, weights=np.array([0.5] * 3 + [1.0] * 2)), "calibrated")
    assert o.label == "uncertain" and "blurry or small" in o.reason
    sharp = (("blurry",),) * 2 + ((),) * 3
    assert judge_track(_ev(z, flags=sharp, weights=np.array([0.5] * 2 + [1.0] * 3)), "calibrated").label == "fake"
    # soft faces do not block a "real"
    assert judge_track(_ev([-4.0] * 5, flags=soft), "calibrated").label == "real"


def test_ensemble_disagreement_is_uncertain():
    ev = _ev([0.0] * 6, model_logits={"a": np.full(6, 4.0), "b": np.full(6, -4.0)})
    o = judge_track(ev, "calibrated")
    assert o.label == "uncertain" and "disagree" in o.reason and set(o.model_scores) == {"a", "b"}


def test_video_verdict_three_outcomes():
    from fakescope.rules import RuleOutcome

    real = RuleOutcome("real", 0.1, "r")
    unc = RuleOutcome("uncertain", 0.5, "u")
    fake = RuleOutcome("fake", 0.9, "f")
    brief_fakeish = RuleOutcome("uncertain", 0.7, "only 1 face", too_few=True)
    brief_realish = RuleOutcome("uncertain", 0.2, "only 1 face", too_few=True)
    assert judge_video([])[0].label == "inconclusive"
    assert judge_video([(0, real), (1, fake)])[0].label == "fake"
    assert judge_video([(0, real), (1, unc)])[0].label == "uncertain"
    assert judge_video([(0, real), (1, brief_realish)])[0].label == "real"
    assert judge_video([(0, real), (1, brief_fakeish)])[0].label == "uncertain"
    assert judge_video([(0, brief_realish)])[0].label == "uncertain"


# ---------------------------------------------------------------------------------------- combine


def test_ensemble_combiners():
    z = np.array([[1.0, 3.0, -1.0], [0.0, 0.0, 6.0]])
    np.testing.assert_allclose(combine(z, "mean"), [1.0, 2.0])
    np.testing.assert_allclose(combine(z, "median"), [1.0, 0.0])
    np.testing.assert_allclose(combine(z, "max"), [3.0, 6.0])
    np.testing.assert_allclose(combine(z, "min"), [-1.0, 0.0])
    np.testing.assert_allclose(combine(z[:, :1]), z[:, 0])


# ---------------------------------------------------------------------------------------- quality


def _face(seed=0, size=256):
    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 0.7)


def test_blurred_face_gets_the_blurry_flag():
    crop = _face()
    sharp = assess_face(crop, (38, 38, 218, 218), None, (1000, 1000), 0.3, _media())
    soft = assess_face(cv2.GaussianBlur(crop, (0, 0), 3), (38, 38, 218, 218), None, (1000, 1000), 0.3, _media())
    assert "blurry" not in sharp["flags"] and "blurry" in soft["flags"]
    assert soft["weight"] == 0.5 and sharp["weight"] == 1.0
    assert sharpness(cv2.GaussianBlur(crop, (0, 0), 3)) < sharpness(crop)


def _media(**kw):
    from fakescope.quality import MediaQuality

    return MediaQuality(**kw)


def test_upscaled_face_gets_the_small_flag():
    crop = _face()
    # a 60-px face: crop square 78 px, enlarged 256/78 = 3.3× > 2
    q = assess_face(crop, (100, 100, 160, 160), None, (640, 480), 0.3, _media())
    assert q["upscale"] == pytest.approx(256 / 78, rel=1e-3) and "small" in q["flags"]
    big = assess_face(crop, (100, 100, 300, 300), None, (640, 480), 0.3, _media())
    assert "small" not in big["flags"]


def test_partial_profile_and_compressed_flags():
    crop = _face()
    edge = assess_face(crop, (-60, 100, 60, 220), None, (640, 480), 0.3, _media())
    assert "partial" in edge["flags"] and edge["outside"] > 0.25
    frontal = [[100, 100], [140, 100], [120, 125], [105, 150], [135, 150]]
    turned = [[100, 100], [140, 100], [139, 125], [105, 150], [135, 150]]
    assert abs(estimate_yaw(frontal)) < 1 and estimate_yaw(turned) > 50
    q = assess_face(crop, (100, 100, 300, 300), turned, (640, 480), 0.3, _media(jpeg_quality=20))
    assert {"profile", "compressed"} <= set(q["flags"]) and q["weight"] == 0.25
    assert outside_share((100, 100, 200, 200), 1000, 1000, 0.3) == 0.0


@pytest.mark.parametrize("q", [20, 50, 75, 95])
def test_jpeg_quality_estimate(tmp_path, q):
    from PIL import Image

    path = tmp_path / f"q{q}.jpg"
    Image.fromarray(_face()).save(path, quality=q)
    with Image.open(path) as im:
        assert abs(jpeg_quality(im.quantization) - q) <= 2
    assert jpeg_quality(None) is None


def test_quality_config_thresholds_take_effect():
    crop = cv2.GaussianBlur(_face(), (0, 0), 2)
    s = sharpness(crop)
    lax = assess_face(crop, (38, 38, 218, 218), None, (999, 999), 0.3, _media(), QualityConfig(min_sharpness=s / 2))
    strict = assess_face(crop, (38, 38, 218, 218), None, (999, 999), 0.3, _media(), QualityConfig(min_sharpness=s * 2))
    assert "blurry" not in lax["flags"] and "blurry" in strict["flags"]


# ------------------------------------------------------------------------------- real pipeline


@pytest.fixture(scope="module")
def photo_result(samples):
    import fakescope

    return fakescope.analyze(samples / "multi_face.jpg")


def test_multi_face_photo_is_not_reported_fake(photo_result):
    r = photo_result
    assert r.schema_version == "1.3"
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
