"""The numbers and verdicts a user reads, checked against independent computations (mutation group
"calibration": calibration, aggregate, combine, quality, rules).

Each reference below is written from the documented definition (module docstrings, README), not from
the implementation: the identity P(fake) and its interval, the calibration metrics `fakescope calibrate`
prints, ECE, the quality flags and weights at their thresholds, and every branch of the verdict rules
with the sentence it gives.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.stats import norm

from fakescope.aggregate import aggregate_track, median_filter
from fakescope.calibration import (
    FORMAT,
    Calibration,
    expected_calibration_error,
    fit,
    fit_calibration,
    logit,
    shipped_calibration,
    sigmoid,
)
from fakescope.combine import combine, get_combiner, list_combiners
from fakescope.quality import (
    MediaQuality,
    QualityConfig,
    assess_face,
    estimate_yaw,
    jpeg_quality,
    media_quality_for,
    outside_share,
    sharpness,
)
from fakescope.rules import RuleOutcome, TrackEvidence, calibrated_rule, judge_track, judge_video

# ------------------------------------------------------------------------------------ aggregation


def _ref_median(z, window):
    z = list(map(float, z))
    if window <= 1 or len(z) < 3:
        return np.array(z)
    h = window // 2
    return np.array([float(np.median(z[max(0, i - h) : i + h + 1])) for i in range(len(z))])


def _ref_aggregate(z, w, threshold, window, prior, min_spread, level):
    z = np.asarray(z, float)
    w = np.ones_like(z) if w is None else np.asarray(w, float)
    share = sum(1.0 / (1.0 + math.exp(-v)) > threshold for v in z) / len(z)
    if w.sum() <= 0:
        w = np.ones_like(z)
    zf = _ref_median(z, window)
    mean = (w * zf).sum() / w.sum()
    spread = math.sqrt((w * (zf - mean) ** 2).sum() / w.sum()) if len(z) > 1 else 0.0
    n_eff = w.sum() ** 2 / (w**2).sum()
    m = (w * zf).sum() / (w.sum() + prior)
    half = norm.ppf(0.5 + level / 2) * max(spread, min_spread) / math.sqrt(n_eff + prior)
    s = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    return m, s(m), (s(m - half), s(m + half)), len(z), n_eff, spread, share


@pytest.mark.parametrize("seed", range(6))
def test_identity_score_and_interval_match_the_documented_formula(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 14))
    z = rng.normal(rng.normal(0, 2), 2.0, n)
    w = None if seed % 3 == 0 else rng.choice([1.0, 0.5, 0.25], n)
    params = dict(threshold=[0.5, 0.4, 0.6][seed % 3], window=[5, 1, 3, 4, 7, 2][seed],
                  prior_faces=[1.0, 0.5, 2.0][seed % 3], min_spread=[1.0, 0.3, 2.5][seed % 3],
                  level=[0.9, 0.8, 0.95][seed % 3])  # fmt: skip
    agg = aggregate_track(z, w, **params)
    ref = _ref_aggregate(z, w, *params.values())
    assert agg.logit == pytest.approx(ref[0], abs=1e-12)
    assert agg.score == pytest.approx(ref[1], abs=1e-12)
    assert agg.interval == pytest.approx(ref[2], abs=1e-12)
    assert agg.n_faces == ref[3] and agg.n_eff == pytest.approx(ref[4])
    assert agg.spread == pytest.approx(ref[5], abs=1e-12) and agg.share_above == pytest.approx(ref[6])


def test_identity_defaults_and_edge_cases():
    z = [3.0, -1.0, 2.0, 2.5, -0.5, 4.0]
    ref = _ref_aggregate(z, None, 0.5, 5, 1.0, 1.0, 0.9)
    agg = aggregate_track(z)
    assert (agg.logit, agg.spread) == pytest.approx((ref[0], ref[5])) and agg.interval == pytest.approx(ref[2])
    zero = aggregate_track([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], window=1)  # all weights 0: counted equally
    assert zero.logit == pytest.approx(6.0 / 4.0) and zero.n_eff == pytest.approx(3.0)
    one = aggregate_track([2.0])
    assert one.spread == 0.0 and one.logit == pytest.approx(1.0) and one.share_above == 1.0
    half = norm.ppf(0.95) * 1.0 / math.sqrt(2.0)
    assert one.interval == pytest.approx((sigmoid(1.0 - half), sigmoid(1.0 + half)))
    assert aggregate_track([0.0, 0.0], threshold=0.5).share_above == 0.0  # strictly above
    with pytest.raises(ValueError, match="at least one face"):
        aggregate_track([])
    with pytest.raises(ValueError, match="one non-negative weight"):
        aggregate_track([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="one non-negative weight"):
        aggregate_track([1.0, 2.0], [1.0, -0.1])


@pytest.mark.parametrize("window", [0, 1, 2, 3, 4, 5, 6, 9])
def test_median_filter_windows(window):
    z = np.array([0.0, 9.0, 1.0, 2.0, -7.0, 3.0, 3.5, 10.0, 0.5])
    assert median_filter(z, window) == pytest.approx(_ref_median(z, window))
    assert median_filter(z[:2], window) == pytest.approx(z[:2])
    out = median_filter(z, window)
    out[0] = 99.0
    assert z[0] == 0.0  # a copy, never the caller's array


# ------------------------------------------------------------------------------------ calibration


def _wnll(z, y, w):
    return float(np.sum(w * (np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - y * z)) / np.sum(w))


def _ref_ece(p, y, bins=10):
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (p >= lo) & ((p < hi) if b < bins - 1 else (p <= hi))
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return total


def test_ece_matches_the_equal_width_definition():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.random(200), [0.0, 0.1, 0.5, 0.9, 1.0]])
    y = (rng.random(len(p)) < p).astype(float)
    for bins in (10, 5, 15):
        assert expected_calibration_error(p, y, bins) == pytest.approx(_ref_ece(p, y, bins), abs=1e-12)
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert expected_calibration_error(np.array([0.25]), np.array([0.0]), bins=4) == pytest.approx(0.25)


def _data(seed=0, n0=300, n1=100, slope=0.5, offset=-1.0):
    rng = np.random.default_rng(seed)
    z0, z1 = rng.normal(-1.0, 1.5, n0), rng.normal(1.5, 1.5, n1)
    y = np.r_[np.zeros(n0), np.ones(n1)]
    raw = (np.r_[z0, z1] - offset) / slope  # a detector whose logits are stretched and shifted
    return raw, y


def test_calibrate_metrics_are_what_they_say():
    raw, y = _data()
    cal = fit_calibration(raw, y, model="m", weights="w", fitted_on={"n": 1})
    m = cal.metrics
    w = np.where(y == 1, len(y) / (2.0 * y.sum()), len(y) / (2.0 * (len(y) - y.sum())))
    p_raw = sigmoid(raw)
    z_cal = np.clip(raw * cal.slope + cal.intercept, -5, 5)
    p_cal = sigmoid(z_cal)
    assert (m["n_real"], m["n_fake"]) == (300, 100)
    assert m["nll_raw"] == round(_wnll(logit(p_raw), y, w), 4)
    assert m["nll_calibrated"] == round(_wnll(z_cal, y, w), 4)
    assert m["ece_raw"] == round(_ref_ece(p_raw, y), 4) and m["ece_calibrated"] == round(_ref_ece(p_cal, y), 4)
    assert m["fpr_raw_at_0.5"] == round(float(np.mean(p_raw[y == 0] > 0.5)), 4)
    assert m["fpr_calibrated_at_0.5"] == round(float(np.mean(p_cal[y == 0] > 0.5)), 4)
    assert m["tpr_raw_at_0.5"] == round(float(np.mean(p_raw[y == 1] > 0.5)), 4)
    assert m["tpr_calibrated_at_0.5"] == round(float(np.mean(p_cal[y == 1] > 0.5)), 4)
    assert m["nll_calibrated"] < m["nll_raw"]
    assert (cal.model, cal.weights, cal.method, cal.fitted_on, cal.max_logit) == ("m", "w", "platt", {"n": 1}, 5.0)
    # the balanced fit is the weighted maximum-likelihood optimum: no nearby (slope, intercept) does better
    best = _wnll(raw * cal.slope + cal.intercept, y, w)
    for ds, di in [(1.02, 0), (0.98, 0), (1, 0.02), (1, -0.02)]:
        assert _wnll(raw * cal.slope * ds + cal.intercept + di, y, w) > best


def test_calibration_metrics_with_one_class_missing_in_the_report():
    raw = np.array([-2.0, 1.0, 3.0])
    cal = fit_calibration(raw, np.array([0, 0, 1]), method="identity")
    assert cal.metrics["fpr_raw_at_0.5"] == 0.5 and cal.metrics["tpr_raw_at_0.5"] == 1.0
    assert (cal.slope, cal.intercept) == (1.0, 0.0)


def test_platt_and_temperature_fits():
    raw, y = _data(seed=1, n0=2000, n1=2000, slope=0.5, offset=0.0)
    s, b = fit(raw, y)
    assert s == pytest.approx(0.5 * 1.0 / 1.5**2 * 2.5 / 1, rel=0.25) or s > 0  # finite and positive
    t, zero = fit(raw, y, method="temperature")
    assert zero == 0.0 and t > 0
    w = np.ones_like(y)
    assert _wnll(raw * s + b, y, w) <= _wnll(raw * t, y, w) + 1e-9  # two parameters fit at least as well
    assert fit(raw, y, method="identity") == (1.0, 0.0)
    # balanced: 1 fake per 9 reals gives the same slope/intercept as the balanced data set, not a prior shift
    raw2, y2 = _data(seed=2, n0=900, n1=100)
    sb, bb = fit(raw2, y2, balanced=True)
    su, bu = fit(raw2, y2, balanced=False)
    assert bu < bb - 0.5  # unbalanced: the 9:1 prior pulls the intercept toward "real"
    assert bu - bb == pytest.approx(math.log(100 / 900), abs=0.35)
    # sample weights act like repeated samples
    sw = np.where(np.arange(len(y2)) % 2 == 0, 2.0, 1.0)
    rep = np.r_[raw2, raw2[::2]], np.r_[y2, y2[::2]]
    assert fit(raw2, y2, balanced=False, sample_weight=sw) == pytest.approx(fit(*rep, balanced=False), rel=1e-3)
    for bad in [([], []), ([1.0, 2.0], [1]), ([1.0, 2.0], [1, 1])]:
        with pytest.raises(ValueError):
            fit(np.array(bad[0]), np.array(bad[1]))
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit(raw, y, method="isotonic")


def test_calibration_object_rules(tmp_path):
    cal = Calibration(slope=2.0, intercept=-1.0, max_logit=3.0, band=(0.3, 0.7))
    assert cal.temperature == 0.5
    assert cal.apply([0.0, 1.0, 10.0, -10.0]) == pytest.approx([-1.0, 1.0, 3.0, -3.0])
    assert cal.probability(1.0) == pytest.approx(sigmoid(1.0))
    d = cal.to_dict()
    assert d["format"] == FORMAT and d["band"] == [0.3, 0.7]
    back = Calibration.load(cal.save(tmp_path / "c.json"))
    assert back == cal and isinstance(back.band, tuple)
    for band in [(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)]:
        assert Calibration(band=band).band == band
    for band in [(0.51, 0.9), (0.1, 0.49), (-0.1, 0.6), (0.4, 1.01)]:
        with pytest.raises(ValueError, match="uncertain band"):
            Calibration(band=band)
    for slope in [0.0, -1.0, math.inf, math.nan]:
        with pytest.raises(ValueError, match="slope"):
            Calibration(slope=slope)
    with pytest.raises(ValueError, match="not a fakescope calibration file"):
        Calibration.from_dict({"format": "other"})
    assert Calibration.from_dict({"format": FORMAT, "slope": 3.0, "unknown": 1}).slope == 3.0


def test_sigmoid_and_logit_values():
    assert sigmoid(0.0) == 0.5 and sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2)))
    assert sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0
    assert logit(0.8) == pytest.approx(math.log(4.0)) and logit(0.5) == 0.0
    assert logit(0.0) == pytest.approx(math.log(1e-12), abs=1e-3) and logit(1.0) == pytest.approx(-logit(0.0))
    assert logit(0.0, eps=1e-3) == pytest.approx(math.log(1e-3 / (1 - 1e-3)))


def test_shipped_calibration_lookup():
    assert shipped_calibration("mesoinception4", None) is None
    assert shipped_calibration("mesoinception4", "no-such-weights") is None
    cal = shipped_calibration("meso4", "df")
    assert cal is not None and cal.method == "platt" and cal.model == "meso4"


def test_combiners():
    z = np.array([[1.0, 3.0, -2.0], [0.0, 0.5, 4.0]])
    assert combine(z, "mean") == pytest.approx([2 / 3, 1.5])
    assert combine(z, "median") == pytest.approx([1.0, 0.5])
    assert combine(z, "max") == pytest.approx([3.0, 4.0])
    assert combine(z, "min") == pytest.approx([-2.0, 0.0])
    assert combine(z) == pytest.approx(combine(z, "mean"))
    assert set(list_combiners()) >= {"mean", "median", "max", "min"}
    with pytest.raises(Exception, match="unknown|not a known|known"):
        get_combiner("nope")
    # each registered combiner, called directly (plugins do), takes float32 scores and any sequence and
    # answers float64 log-odds (a float32 mean of large logits would lose the decimals the report prints)
    z32 = np.array([[1.0, 3.0, -2.0], [0.1, 0.5, 4.0]], np.float32)
    for name, want in (("mean", [2 / 3, 4.6 / 3]), ("median", [1.0, 0.5]), ("max", [3.0, 4.0]), ("min", [-2.0, 0.1])):
        got = get_combiner(name)(z32)
        assert got.dtype == np.float64 and got == pytest.approx(want, abs=1e-6)
        assert get_combiner(name)(z32.tolist()).dtype == np.float64
    one = combine(np.array([[0.1], [0.2]], np.float32))  # one model: its own scores, as float64 too
    assert one.dtype == np.float64 and one.tolist() == pytest.approx([0.1, 0.2])


# ------------------------------------------------------------------------------------ quality


def _crop(seed=0, size=256, blur=0.7):
    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), blur)


def test_quality_measures_and_rounding():
    crop = _crop()
    lm = [[100, 100], [140, 100], [130, 125], [105, 150], [135, 150]]
    q = assess_face(crop, (100.26, 100.0, 300.0, 250.0), lm, (640, 480), 0.3, MediaQuality(jpeg_quality=77))
    assert q["face_px"] == round(199.74, 1)
    assert q["upscale"] == round(256 / (199.74 * 1.3), 3)
    assert q["sharpness"] == round(sharpness(crop), 2)
    assert q["yaw"] == round(math.degrees(math.asin(2 * 10 / 40)), 1)
    assert q["outside"] == round(outside_share((100.26, 100.0, 300.0, 250.0), 640, 480, 0.3), 3)
    assert q["jpeg_quality"] == 77 and q["bits_per_pixel"] is None and q["flags"] == [] and q["weight"] == 1.0
    assert assess_face(crop, (0, 0, 10, 50), None, (640, 480), 0.0, MediaQuality())["face_px"] == 50


def test_sharpness_is_the_laplacian_variance_of_the_central_part():
    crop = _crop(1, size=100, blur=1.0)
    grey = cv2.cvtColor(crop[20:80, 20:80].copy(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert sharpness(crop) == pytest.approx(float(cv2.Laplacian(grey, cv2.CV_32F).var()), rel=1e-6)
    grey_all = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert sharpness(crop, central=1.0) == pytest.approx(float(cv2.Laplacian(grey_all, cv2.CV_32F).var()), rel=1e-6)
    flat = np.full((64, 64, 3), 128, np.uint8)
    assert sharpness(flat) == 0.0


@pytest.mark.parametrize("deg", [0.0, 10.0, -25.0, 49.0, 70.0])
def test_yaw_from_landmarks(deg):
    d = 40.0
    off = math.sin(math.radians(deg)) * d / 2
    lm = [[100, 100], [100 + d, 100], [120 + off, 130], [105, 150], [135, 150]]
    assert estimate_yaw(lm) == pytest.approx(deg, abs=1e-6)
    rot = [[-y, x] for x, y in lm]  # the same face rotated 90°: same yaw
    assert estimate_yaw(rot) == pytest.approx(deg, abs=1e-6)


def test_yaw_edge_cases():
    assert estimate_yaw(None) is None and estimate_yaw([[0, 0], [1, 1]]) is None
    assert estimate_yaw([[5, 5], [5, 5], [9, 9]]) == 90.0
    assert estimate_yaw([[0, 0], [10, 0], [100, 0]]) == 90.0 and estimate_yaw([[0, 0], [10, 0], [-100, 0]]) == -90.0
    assert estimate_yaw([[0, 0], [10, 0], [5, 7]]) == 0.0


def test_outside_share_numbers():
    assert outside_share((0, 0, 100, 100), 50, 100, 0.0) == pytest.approx(0.5)
    assert outside_share((0, 0, 100, 100), 100, 50, 0.0) == pytest.approx(0.5)
    assert outside_share((-50, -50, 50, 50), 100, 100, 0.0) == pytest.approx(0.75)
    assert outside_share((200, 200, 300, 300), 100, 100, 0.0) == pytest.approx(1.0)
    assert outside_share((10, 10, 90, 90), 100, 100, 0.25) == pytest.approx(0.0)
    assert outside_share((10, 10, 90, 90), 100, 100, 0.5) == pytest.approx(1 - 100 * 100 / 120**2)


def _flags(**kw):
    base = dict(crop=_crop(), box=(100, 100, 300, 300), landmarks=None, frame_size=(640, 480), margin=0.3,
                media=MediaQuality())  # fmt: skip
    base.update(kw)
    return assess_face(**base)


def test_each_flag_at_its_threshold():
    crop = _crop()
    s = sharpness(crop)
    assert "blurry" not in _flags(config=QualityConfig(min_sharpness=s))["flags"]  # equal: not below
    assert "blurry" in _flags(config=QualityConfig(min_sharpness=s + 0.01))["flags"]
    up = 256 / (200 * 1.3)
    assert "small" not in _flags(config=QualityConfig(max_upscale=up))["flags"]
    assert "small" in _flags(config=QualityConfig(max_upscale=up - 0.001))["flags"]
    assert "compressed" not in _flags(media=MediaQuality(jpeg_quality=50))["flags"]
    assert "compressed" in _flags(media=MediaQuality(jpeg_quality=49))["flags"]
    assert "compressed" not in _flags(media=MediaQuality(bits_per_pixel=0.02))["flags"]
    assert "compressed" in _flags(media=MediaQuality(bits_per_pixel=0.0199))["flags"]
    yaw50 = [[100, 100], [140, 100], [120 + math.sin(math.radians(50.0)) * 20 - 1e-9, 130], [0, 0], [0, 0]]
    assert "profile" not in _flags(landmarks=yaw50)["flags"]
    yaw_m51 = [[100, 100], [140, 100], [120 - math.sin(math.radians(51.0)) * 20, 130], [0, 0], [0, 0]]
    assert "profile" in _flags(landmarks=yaw_m51)["flags"]
    # a crop square exactly 25 % outside the frame: not partial; 26 %: partial
    edge = _flags(box=(-25, 0, 75, 100), margin=0.0)
    assert edge["outside"] == 0.25 and "partial" not in edge["flags"]
    more = _flags(box=(-26, 0, 74, 100), margin=0.0)
    assert more["outside"] == 0.26 and "partial" in more["flags"]


def test_weight_counts_only_weighting_flags():
    turned = [[100, 100], [140, 100], [139, 125], [105, 150], [135, 150]]
    q = _flags(landmarks=turned, box=(-60, 100, 140, 300), media=MediaQuality(jpeg_quality=10))
    assert set(q["flags"]) == {"profile", "partial", "compressed"} and q["weight"] == 0.25
    q = _flags(landmarks=turned, box=(-60, 100, 140, 300), config=QualityConfig(flag_weight=0.3))
    assert q["weight"] == pytest.approx(0.09)
    q = _flags(landmarks=turned, config=QualityConfig(weighting_flags=("small",)))
    assert q["flags"] == ["profile"] and q["weight"] == 1.0
    q = _flags(media=MediaQuality(jpeg_quality=10), config=QualityConfig(weighting_flags=("compressed",)))
    assert q["weight"] == 0.5
    order = _flags(crop=cv2.GaussianBlur(_crop(), (0, 0), 5), box=(-10, 100, 20, 130), landmarks=turned,
                   media=MediaQuality(jpeg_quality=10))  # fmt: skip
    assert order["flags"] == ["small", "blurry", "compressed", "profile", "partial"]


def test_jpeg_quality_from_tables():
    from fakescope.quality import _IJG_LUMA

    for q in (1, 10, 49, 50, 51, 75, 90, 99, 100):
        scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
        table = np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255).astype(int)
        got = jpeg_quality({0: list(table), 1: [1] * 64})
        ref = np.clip(np.floor((_IJG_LUMA * (5000.0 / got if got < 50 else 200.0 - 2.0 * got) + 50) / 100), 1, 255)
        assert np.array_equal(ref, table), (q, got)  # the estimate reproduces the file's table exactly
        assert abs(got - q) <= 1
        assert jpeg_quality({0: list(table[::-1])}) == got  # zigzag or natural order
    assert jpeg_quality({}) is None and jpeg_quality({1: [1] * 64}) is None
    assert jpeg_quality({0: [1] * 63}) is None
    assert jpeg_quality({0: [1] * 64}) == 100


def test_media_quality_of_images_and_videos():
    from types import SimpleNamespace as NS

    img = NS(kind="image", duration=None, fps=None, width=10, height=10)
    assert media_quality_for(img, 1000, None) == MediaQuality()
    v = NS(kind="video", duration=10.0, fps=25.0, width=640, height=480)
    assert media_quality_for(v, 1_000_000, None).bits_per_pixel == round(8e6 / 10 / (640 * 480 * 25), 5)
    assert media_quality_for(NS(kind="video", duration=None, fps=25.0, width=1, height=1), 10) == MediaQuality()


# ------------------------------------------------------------------------------------ rules


def _ev(z, **kw):
    return TrackEvidence(logits=np.asarray(z, float), **kw)


def test_calibrated_rule_band_edges_and_sentences():
    # one face, window 1: the identity log-odds is z/2 (prior worth one face)
    def out(p, **kw):
        return calibrated_rule(_ev([2 * logit(p)], is_video=False), **kw)

    assert out(0.66).label == "fake" and out(0.64).label == "uncertain" and out(0.34).label == "real"
    o = out(0.66)
    assert o.reason.startswith("P(fake) 0.66 [") and o.reason.endswith("from 1 face > 0.65")
    assert out(0.2).reason.endswith("from 1 face < 0.35")
    assert out(0.5).reason.endswith("lies in the uncertain band 0.35–0.65")
    assert out(0.66, band=(0.3, 0.7)).label == "uncertain" and out(0.72, band=(0.3, 0.7)).label == "fake"
    two = calibrated_rule(_ev([3.0, 3.0]))
    assert "from 2 faces" in two.reason and two.interval is not None and two.share_above == 1.0
    with pytest.raises(ValueError, match="inside the uncertain band"):
        out(0.5, threshold=0.7)
    assert out(0.5, threshold=0.35).label == "uncertain" and out(0.5, threshold=0.65).label == "uncertain"


def test_interval_real_and_soft_gate():
    z = [-0.62] * 20  # leans real, inside the band, the whole interval below 0.5
    o = calibrated_rule(_ev(z))
    assert o.label == "uncertain"
    r = calibrated_rule(_ev(z), interval_real=True)
    assert r.label == "real" and r.reason.endswith("the whole interval lies below 0.5")
    assert calibrated_rule(_ev([0.62] * 20), interval_real=True).label == "uncertain"
    soft = [("blurry",), ("small",), ("blurry", "small"), (), ()]
    g = calibrated_rule(_ev([4.0] * 5, flags=tuple(soft)))
    assert g.label == "uncertain" and g.reason.startswith("leans fake")
    assert "3 of 5 faces are blurry or small" in g.reason
    assert calibrated_rule(_ev([4.0] * 5, flags=tuple(soft)), soft_gate=False).label == "fake"
    half = [("blurry",), ("small",), (), ()]
    assert calibrated_rule(_ev([4.0] * 4, flags=tuple(half))).label == "fake"  # 2 of 4: not most
    assert calibrated_rule(_ev([4.0] * 4, flags=(("profile",),) * 4)).label == "fake"


def test_ensemble_disagreement_and_per_model_scores():
    z = np.array([2.0] * 6)
    o = calibrated_rule(_ev(z, model_logits={"a": np.array([4.0] * 6), "b": np.array([-4.0] * 6)}))
    assert o.label == "uncertain" and o.reason.startswith("the models disagree (a 0.") and ", b 0." in o.reason
    assert set(o.model_scores) == {"a", "b"} and o.model_scores["a"] > 0.65 > 0.35 > o.model_scores["b"]
    agree = calibrated_rule(_ev(z, model_logits={"a": np.array([4.0] * 6), "b": np.array([0.0] * 6)}))
    assert agree.label == "fake"
    single = calibrated_rule(_ev(z, model_logits={"a": np.array([-4.0] * 6)}))
    assert single.label == "fake"  # one model cannot disagree with itself


def test_judge_track_counts_usable_faces():
    ev = _ev([4.0] * 4, weights=np.array([1.0, 0.5, 0.25, 0.25]))
    o = judge_track(ev, min_faces=3)
    assert o.label == "uncertain" and o.too_few and o.n_used == 2 and o.score is not None
    assert o.reason == "only 2 face(s) of usable quality (2 flagged); at least 3 needed for a verdict"
    ok = judge_track(ev, min_faces=2)
    assert ok.label == "fake" and ok.n_used == 2 and not ok.too_few and ok.interval is not None
    plain = judge_track(_ev([4.0]), min_faces=2)
    assert plain.reason == "only 1 face(s); at least 2 needed for a verdict" and plain.n_used == 1
    assert judge_track(_ev([])).label == "inconclusive" and judge_track(_ev([])).reason == "no face"
    probs = [0.9, 0.9, 0.2]
    s = judge_track(probs, rule="share")
    assert s.label == "fake" and s.score == pytest.approx(2 / 3) and s.n_used == 3
    assert judge_track(probs, rule="mean").score == pytest.approx(2.0 / 3.0)
    assert judge_track(_ev(logit(np.array(probs))), rule="mean").score == pytest.approx(2.0 / 3.0)


def _o(label, score, too_few=False, reason="r"):
    return RuleOutcome(label, score, reason, (0.1, 0.9) if score is not None else None, too_few=too_few)


def test_video_verdict_every_branch():
    v, ids = judge_video([])
    assert (v.label, v.reason, ids) == ("inconclusive", "no face found", [])
    v, ids = judge_video([(1, _o("real", 0.1)), (2, _o("fake", 0.7, reason="a")), (3, _o("fake", 0.9, reason="b"))])
    assert v.label == "fake" and ids == [2, 3] and v.score == 0.9
    assert v.reason == "identity #2, #3 judged fake: b" and v.interval == (0.1, 0.9)
    v, _ = judge_video([(1, _o("fake", None, reason="n")), (2, _o("fake", 0.2, reason="m"))])
    assert v.reason.endswith(": m")  # a missing score counts as 0
    v, ids = judge_video([(1, _o("real", 0.1)), (4, _o("uncertain", 0.5, reason="u4")),
                          (5, _o("uncertain", 0.6, reason="u5"))])  # fmt: skip
    assert (v.label, v.score, ids) == ("uncertain", 0.6, []) and v.reason == "identity #5 is uncertain: u5"
    v, _ = judge_video([(1, _o("uncertain", 0.3, too_few=True, reason="few"))])
    assert v.label == "uncertain" and v.score is None
    assert v.reason == "1 identity, none with enough usable faces for a verdict (few)"
    v, _ = judge_video([(1, _o("uncertain", 0.3, True, "x")), (2, _o("uncertain", 0.9, True, "y"))])
    assert v.reason.startswith("2 identities, none with enough")
    v, _ = judge_video([(1, _o("real", 0.1)), (2, _o("uncertain", 0.7, too_few=True)),
                        (3, _o("uncertain", 0.8, too_few=True))])  # fmt: skip
    assert v.label == "uncertain" and v.score == 0.8
    assert v.reason == "identity #3, seen in too few faces for a verdict, leans fake (P(fake) 0.80)"
    v, _ = judge_video([(1, _o("real", 0.1)), (2, _o("uncertain", 0.5, too_few=True))], threshold=0.5)
    assert v.label == "real"  # exactly at the threshold does not lean fake
    v, _ = judge_video([(1, _o("real", 0.1)), (2, _o("uncertain", None, too_few=True))])
    assert v.label == "real"
    v, ids = judge_video([(7, _o("real", 0.2, reason="why"))])
    assert (v.label, v.score, ids) == ("real", 0.2, [])
    assert v.reason == "no identity judged fake; identity #7 judged real: why"
    v, _ = judge_video([(1, _o("real", 0.1, reason="p")), (2, _o("real", 0.3, reason="q"))])
    assert v.reason == "no identity judged fake; 2 identities (most suspicious #2 judged real: q)" and v.score == 0.3
    v, _ = judge_video([(1, _o("inconclusive", None))])
    assert v.label == "inconclusive" and v.reason == "1 identities, none with enough faces for the rule"


# ------------------------------------------------------------------ cases found by mutation testing (issue 21)


def test_calibrate_metrics_at_exact_halves_and_with_one_class():
    # faces whose raw P(fake) is exactly 0.5 are not "above 0.5"; rates are printed to 4 decimals
    raw = np.array([0.0, -1.0, 2.0, 0.0, 3.0, -2.0, 1.0])
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    m = fit_calibration(raw, y, method="identity").metrics
    assert m["fpr_raw_at_0.5"] == 0.3333 and m["fpr_calibrated_at_0.5"] == 0.3333
    assert m["tpr_raw_at_0.5"] == 0.5 and m["tpr_calibrated_at_0.5"] == 0.5
    raw3 = np.array([0.0, 0.1, -1.0, 0.0, 1.0, 2.0])
    m3 = fit_calibration(raw3, np.array([0, 0, 0, 1, 1, 1]), method="identity").metrics
    assert m3["tpr_raw_at_0.5"] == 0.6667 and m3["ece_calibrated"] == round(_ref_ece(sigmoid(raw3),
                                                                               np.array([0, 0, 0, 1, 1, 1.0])), 4)
    only_real = fit_calibration(np.array([-1.0, 1.0]), np.array([0, 0]), method="identity").metrics
    assert only_real["tpr_raw_at_0.5"] is None and only_real["tpr_calibrated_at_0.5"] is None
    assert only_real["fpr_raw_at_0.5"] == 0.5 and only_real["n_fake"] == 0
    only_fake = fit_calibration(np.array([-1.0, 1.0]), np.array([1, 1]), method="identity").metrics
    assert only_fake["fpr_raw_at_0.5"] is None and only_fake["fpr_calibrated_at_0.5"] is None
    assert only_fake["tpr_calibrated_at_0.5"] == 0.5


def test_fit_calibration_keeps_its_settings():
    raw, y = _data(seed=4)
    cal = fit_calibration(raw, y, band=(0.3, 0.7), max_logit=3.0)
    assert cal.band == (0.3, 0.7) and cal.max_logit == 3.0 and cal.model == "" and cal.weights is None
    assert cal.apply(np.array([1e6]))[0] == 3.0
    # one fake among many reals: each class still weighs half in the reported NLL
    raw1, y1 = np.array([-2.0, -1.0, 0.5, -0.5, 3.0]), np.array([0, 0, 0, 0, 1])
    m = fit_calibration(raw1, y1, method="identity").metrics
    w = np.where(y1 == 1, 5 / 2.0, 5 / 8.0)
    assert m["nll_raw"] == round(_wnll(raw1, y1, w), 4)


def test_fit_errors_say_what_is_wrong_and_weights_are_scale_free():
    with pytest.raises(ValueError, match=r"^calibration needs as many labels as logits, and at least one of each$"):
        fit(np.array([1.0, 2.0]), np.array([1]))
    with pytest.raises(ValueError, match=r"^calibration needs as many labels as logits"):
        fit(np.array([]), np.array([]))
    with pytest.raises(ValueError, match=r"^calibration needs both real \(0\) and fake \(1\) samples$"):
        fit(np.array([1.0, 2.0]), np.array([1, 1]))
    assert fit(np.array([[1.0], [2.0]]), np.array([[0], [1]]), method="temperature")[0] > 0  # column vectors
    raw, y = _data(seed=5)
    sw = np.where(y == 1, 0.02, 0.01)  # tiny per-sample weights: only their ratios matter
    assert fit(raw, y, sample_weight=sw) == pytest.approx(fit(raw, y, sample_weight=sw * 1000), rel=1e-4)
    assert fit(raw, y, sample_weight=np.full(len(y), 0.001)) == pytest.approx(fit(raw, y), rel=1e-4)


def test_fit_slope_stays_within_its_bounds():
    raw, y = _data(seed=6, slope=1000.0, offset=0.0)  # logits squeezed 1000×: the optimum slope is ~1000
    s, _ = fit(raw, y)
    assert s == pytest.approx(math.exp(5), rel=1e-6)
    t, _ = fit(raw, y, method="temperature")
    assert t == pytest.approx(math.exp(5), rel=1e-6)
    noise = np.random.default_rng(0).normal(0, 1, 400) * 1e5
    s2, _ = fit(noise, (np.arange(400) % 2).astype(float))  # no signal at all: slope at its floor
    assert s2 == pytest.approx(math.exp(-8), rel=1e-3)


def test_ece_default_bins_and_integer_inputs():
    rng = np.random.default_rng(9)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)
    assert expected_calibration_error(p, y) == pytest.approx(_ref_ece(p, y.astype(float), 10), abs=1e-12)
    assert expected_calibration_error(np.array([1, 0, 1]), np.array([1, 0, 0])) == pytest.approx(1 / 3)


def test_calibration_files_and_band_types(tmp_path):
    c = Calibration(band=[0, 1])
    assert c.band == (0.0, 1.0) and isinstance(c.band, tuple) and all(isinstance(v, float) for v in c.band)
    text = Path(c.save(tmp_path / "c.json")).read_text()
    assert text.startswith('{\n  "format": "fakescope-calibration/1",\n  "model"') and text.endswith("}\n")
    with pytest.raises(ValueError, match=r"\(format 'other', expected 'fakescope-calibration/1'\)"):
        Calibration.from_dict({"format": "other"})
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ValueError, match=r"bad.json: cannot read calibration file \(JSONDecodeError\)"):
        Calibration.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"bad.json: not a fakescope calibration file$"):
        Calibration.load(bad)
    assert Calibration(slope=2.0).apply([1, 2]) == pytest.approx([2.0, 4.0])


def test_aggregate_light_weights_two_faces_and_shapes():
    z, w = [1.0, 2.0, 4.0], [0.25, 0.25, 0.25]  # weights summing to 0.75 are kept (and shrink more)
    agg = aggregate_track(z, w, window=1)
    assert agg.logit == pytest.approx(0.25 * 7.0 / 1.75)
    two = aggregate_track([1.0, 3.0], window=1)
    assert two.spread == pytest.approx(1.0) and two.logit == pytest.approx(4.0 / 3.0)
    col = aggregate_track(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0, 1.0]]))
    flat = aggregate_track([1.0, 2.0, 3.0])
    assert col == flat and col.n_faces == 3
    with pytest.raises(ValueError, match=r"^an identity needs at least one face$"):
        aggregate_track([])
    with pytest.raises(ValueError, match=r"^one non-negative weight per face is needed$"):
        aggregate_track([1.0], [-1.0])
    z5 = np.array([0.0, 9.0, 1.0, 2.0, -7.0, 3.0, 3.5])
    assert median_filter(z5) == pytest.approx(_ref_median(z5, 5))


def test_combining_one_or_two_models():
    assert combine(np.array([1.0, -2.0])) == pytest.approx([1.0, -2.0])
    assert combine(np.array([[1.0, 3.0], [0.0, -4.0]]), "mean") == pytest.approx([2.0, -2.0])
    assert combine(np.array([[1.0, 3.0]]), "min") == pytest.approx([1.0])


def test_quality_numbers_more_decimals_and_tiny_faces():
    crop = _crop()
    lm = [[100, 100], [140, 100], [131, 125], [105, 150], [135, 150]]  # yaw asin(0.55) = 33.367°
    q = assess_face(crop, (-17.3, 100.0, 102.7, 220.0), lm, (640, 480), 0.3, MediaQuality())
    assert q["yaw"] == 33.4
    share = outside_share((-17.3, 100.0, 102.7, 220.0), 640, 480, 0.3)
    assert q["outside"] == round(share, 3) and round(share, 3) != round(share, 4)
    tiny = assess_face(crop, (10.0, 10.0, 11.0, 11.0), None, (640, 480), 0.3, MediaQuality())
    assert tiny["upscale"] == round(256 / 1.3, 3)  # a 1.3-px crop square, enlarged 197×
    assert assess_face(crop, (10.0, 10.0, 10.5, 10.5), None, (640, 480), 0.3, MediaQuality())["upscale"] == 256.0
    right = assess_face(crop, (500.0, 100.0, 600.0, 200.0), None, (640, 480), 0.0, MediaQuality())
    assert right["outside"] == 0.0 and "partial" not in right["flags"]  # x beyond the height is still inside
    yaw = estimate_yaw(lm)
    assert "profile" not in _flags(landmarks=lm, config=QualityConfig(max_yaw=abs(yaw)))["flags"]
    assert estimate_yaw([[0.0, 0.0], [0.5, 0.0], [0.25, 0.3]]) == 0.0  # half a pixel apart: still measured
    assert outside_share((0, 0, 1, 1), 100, 100, 0.0) == 0.0 and outside_share((0, 0, 2, 2), 1, 1, 0.0) == 0.75
    assert outside_share((5, 5, 10, 10), 100, 0, 0.0) == 1.0 and outside_share((5, 5, 10, 10), 0, 100, 0.0) == 1.0


def test_jpeg_quality_for_every_ijg_table():
    from fakescope.quality import _IJG_LUMA

    def table(q):
        scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
        return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)

    for q in range(1, 101):
        got = jpeg_quality({0: list(table(q))})
        assert np.array_equal(table(got), table(q)), q


def test_media_quality_of_a_jpeg():
    from types import SimpleNamespace as NS

    from fakescope.quality import _IJG_LUMA

    img = NS(kind="image", duration=None, fps=None, width=10, height=10)
    assert media_quality_for(img, 1000, {0: list(_IJG_LUMA)}) == MediaQuality(jpeg_quality=50)


def test_judge_track_passes_threshold_and_params_when_faces_are_too_few():
    probs = [0.4, 0.6, 0.8]
    s = judge_track(probs, rule="share", threshold=0.3, min_faces=5)
    assert s.too_few and s.score == pytest.approx(1.0)
    ev = _ev([3.0, 3.0])
    a = judge_track(ev, min_faces=5)
    b = judge_track(ev, min_faces=5, prior_faces=10.0)
    assert a.too_few and b.too_few and b.score < a.score
    ok = judge_track(_ev([3.0, 3.0, -1.0]), window=1)
    assert ok.share_above == pytest.approx(2 / 3)
    assert judge_track(_ev([4.0]), rule="share").score == 1.0  # the simple rules see TrackEvidence's probs


def test_video_verdict_picks_the_highest_score_not_the_highest_id():
    v, ids = judge_video([(2, _o("fake", 0.95, reason="hi")), (3, _o("fake", 0.7, reason="lo"))])
    assert v.reason == "identity #2, #3 judged fake: hi" and v.score == 0.95
    v, _ = judge_video([(2, _o("uncertain", 0.6, reason="six")), (3, _o("uncertain", 0.4, reason="four")),
                        (4, _o("uncertain", None, reason="none"))])  # fmt: skip
    assert v.reason == "identity #2 is uncertain: six" and v.score == 0.6
    v, _ = judge_video([(2, _o("real", 0.3, reason="three")), (3, _o("real", 0.1, reason="one")),
                        (4, _o("real", None, reason="none"))])  # fmt: skip
    assert v.score == 0.3 and v.reason.endswith("(most suspicious #2 judged real: three)")
    assert v.interval == (0.1, 0.9)
    v, _ = judge_video([(1, _o("real", 0.1)), (2, _o("uncertain", 0.9, too_few=True)),
                        (3, _o("uncertain", 0.6, too_few=True))])  # fmt: skip
    assert v.reason.startswith("identity #2, seen in too few faces")


def test_threshold_range_is_the_band_for_the_calibrated_rule():
    from fakescope.rules import check_threshold, threshold_range

    assert threshold_range("calibrated") == (0.35, 0.65) and threshold_range("calibrated", (0.2, 0.9)) == (0.2, 0.9)
    assert threshold_range("share") == (0.0, 1.0) and threshold_range("mean", (0.3, 0.7)) == (0.0, 1.0)
    for t in (0.35, 0.5, 0.65):
        check_threshold("calibrated", t)
    for t in (0.0, 1.0):
        check_threshold("mean", t)
    with pytest.raises(ValueError, match=r"^threshold 0.2 is outside the allowed range 0.35–0.65 for rule "
                                         r"'calibrated' \(the uncertain band in force\)$"):
        check_threshold("calibrated", 0.2)
    with pytest.raises(ValueError, match=r"^threshold 1.5 is outside the allowed range 0–1 for rule 'share'$"):
        check_threshold("share", 1.5)
    with pytest.raises(ValueError, match="outside"):
        check_threshold("calibrated", 0.66)


def test_reasons_print_enough_decimals_for_their_comparison():
    from fakescope.rules import _shown, check_threshold

    assert _shown(0.66, 0.65, ">") == "0.66" and _shown(0.6512, 0.65, ">") == "0.651"
    assert _shown(0.65004, 0.65, ">") == "0.650040"
    assert _shown(0.6501, 0.65, ">") == "0.6501" and _shown(0.3499, 0.35, "<") == "0.3499"
    assert _shown(0.34, 0.35, "<") == "0.34" and _shown(0.3498, 0.35, "<") == "0.3498"
    assert _shown(0.34951, 0.35, "<") == "0.3495" and _shown(0.349999, 0.35, "<") == "0.349999"
    assert _shown(0.6500000001, 0.65, ">") == "0.6500000001"
    check_threshold("calibrated", 0.2, (0.1, 0.9))  # inside the band given
    v, _ = judge_video([(1, _o("uncertain", 0.5, reason="u"))])
    assert v.interval == (0.1, 0.9)
    v, _ = judge_video([(1, _o("real", 0.1)), (2, _o("uncertain", None, too_few=True)),
                        (3, _o("uncertain", 0.7, too_few=True))])  # fmt: skip
    assert v.score == 0.7  # a brief identity without a score never leans fake
