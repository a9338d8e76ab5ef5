"""Trust features (issue 10), pure parts: calibration, aggregation, the uncertain band, the rules' new
outcomes, ensemble combiners and quality flags — with hand-computable numbers where the maths allows."""

from __future__ import annotations

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
    assert {"profile", "compressed"} <= set(q["flags"]) and q["weight"] == 0.5  # compressed: recorded only
    q = assess_face(crop, (-60, 100, 60, 220), turned, (640, 480), 0.3, _media())
    assert {"profile", "partial"} <= set(q["flags"]) and q["weight"] == 0.25
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


