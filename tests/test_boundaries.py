"""Every decision the product makes, tested at and around its boundary (issue 16).

Verdict rules at their thresholds (``>`` vs ``≥``) and minimum counts, the tracker at exactly
``max_gap`` missed samples and one more, at the size-ratio and distance limits, crops of boxes taller
than wide and at the frame's edges, the face detector's score/size/downscale limits, frame sampling
at the first and last frame, and display scaling. Hand-computable numbers only; no model runs here.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from fakescope.faces.base import Detection, FaceDetector, FaceDetectorInfo
from fakescope.faces.crop import DEFAULT_MARGIN, crop_face, square_box
from fakescope.media import Sampling, open_media
from fakescope.media.video import plan_indices
from fakescope.pipeline import AnalyzeConfig, _expected_samples, _judge_tracks
from fakescope.render.artifacts import to_display
from fakescope.rules import RuleOutcome, judge_track, judge_video
from fakescope.schema import Face, FrameResult
from fakescope.tracking import IouTracker, _similarity, iou

# ------------------------------------------------------------------------------------ share rule


@pytest.mark.parametrize(
    ("probs", "threshold", "share", "label", "frac"),
    [
        ([0.5, 0.5, 0.5, 0.5], 0.5, 0.5, "real", 0.0),  # p == threshold is not "above"
        ([0.5001, 0.5001, 0.5001, 0.5001], 0.5, 0.5, "fake", 1.0),
        ([0.9, 0.1], 0.5, 0.5, "real", 0.5),  # share exactly reached is not "more than"
        ([0.9, 0.9, 0.1], 0.5, 0.5, "fake", 2 / 3),
        ([0.9, 0.1, 0.1, 0.1], 0.5, 0.25, "real", 0.25),
        ([0.9, 0.9, 0.1, 0.1], 0.5, 0.25, "fake", 0.5),
        ([0.7, 0.7, 0.7], 0.7, 0.0, "real", 0.0),  # share 0: one face above suffices, none does not
        ([0.7, 0.7, 0.71], 0.7, 0.0, "fake", 1 / 3),
        ([0.9, 0.9], 0.5, 1.0, "real", 1.0),  # share 1 can never be exceeded
    ],
)
def test_share_rule_boundaries(probs, threshold, share, label, frac):
    o = judge_track(probs, "share", threshold=threshold, share=share)
    assert o.label == label
    assert o.score == pytest.approx(frac, abs=1e-12)
    assert (">" if label == "fake" else "≤") in o.reason
    assert f"of {len(probs)} faces" in o.reason


def test_share_rule_defaults_are_half_and_half():
    assert judge_track([0.6, 0.4], "share").label == "real"  # 50 % above 0.5: not more than half
    assert judge_track([0.6, 0.6, 0.4], "share").label == "fake"
    assert judge_track([0.5, 0.5, 0.5], "share").label == "real"


# ------------------------------------------------------------------------------------- mean rule


@pytest.mark.parametrize(
    ("probs", "threshold", "label"),
    [
        ([0.25, 0.75], 0.5, "real"),  # mean exactly at the threshold
        ([0.25, 0.75], 0.4999, "fake"),
        ([0.25, 0.7502], 0.5, "fake"),
        ([0.0, 0.0], 0.0, "real"),
        ([1.0], 1.0, "real"),
        ([0.3, 0.3, 0.3], 0.2, "fake"),
    ],
)
def test_mean_rule_boundaries(probs, threshold, label):
    o = judge_track(probs, "mean", threshold=threshold)
    assert o.label == label
    assert o.score == pytest.approx(np.mean(probs))
    assert f"over {len(probs)} faces" in o.reason and (">" if label == "fake" else "≤") in o.reason


# -------------------------------------------------------------------------------- confident rule


def _conf(probs, **kw):
    return judge_track(np.asarray(probs, np.float64), "confident", **kw)


def test_confident_needs_more_than_min_fakes_confident_faces():
    # 20 faces: n / 2.5 = 8, so the count condition is "more than 11" (min_fakes)
    at = _conf([0.9] * 11 + [0.3] * 9)  # 11 confident fakes: not more than 11 → plain mean
    assert at.score == pytest.approx((11 * 0.9 + 9 * 0.3) / 20) and "mean of all 20" in at.reason
    above = _conf([0.9] * 12 + [0.3] * 8)
    assert above.score == pytest.approx(0.9) and "12 faces above 0.8" in above.reason
    # min_fakes is a parameter
    assert _conf([0.9] * 11 + [0.3] * 9, min_fakes=10).score == pytest.approx(0.9)


def test_confident_needs_more_than_n_over_2_5_confident_faces():
    # 30 faces: n / 2.5 = 12 exactly
    at = _conf([0.9] * 12 + [0.3] * 18)
    assert at.score == pytest.approx((12 * 0.9 + 18 * 0.3) / 30)
    above = _conf([0.9] * 13 + [0.3] * 17)
    assert above.score == pytest.approx(0.9)


def test_confident_high_and_low_are_strict():
    # faces exactly at `high` are not confident fakes
    o = _conf([0.8] * 12 + [0.1] * 8)
    assert o.score == pytest.approx((12 * 0.8 + 8 * 0.1) / 20)
    o = _conf([0.81] * 12 + [0.1] * 8)
    assert o.score == pytest.approx(0.81)
    # faces exactly at `low` are not confident reals
    o = _conf([0.2] * 19 + [0.9])
    assert o.score == pytest.approx((19 * 0.2 + 0.9) / 20) and "mean of all" in o.reason
    o = _conf([0.19] * 19 + [0.9])
    assert o.score == pytest.approx(0.19) and "19 faces below 0.2" in o.reason
    # custom cut-offs reach the rule
    assert _conf([0.7] * 12 + [0.1] * 8, high=0.6).score == pytest.approx(0.7)
    assert _conf([0.25] * 19 + [0.9], low=0.3).score == pytest.approx(0.25)


def test_confident_needs_more_than_90_percent_confident_reals():
    at = _conf([0.1] * 18 + [0.6] * 2)  # exactly 90 %
    assert at.score == pytest.approx((18 * 0.1 + 2 * 0.6) / 20)
    above = _conf([0.1] * 19 + [0.6])
    assert above.score == pytest.approx(0.1)


def test_confident_threshold_is_strict():
    assert _conf([0.5] * 4).label == "real"
    assert _conf([0.5] * 4, threshold=0.49).label == "fake"
    o = _conf([0.9] * 12 + [0.3] * 8, threshold=0.9)
    assert o.label == "real" and "≤ 0.9" in o.reason
    assert _conf([0.9] * 12 + [0.3] * 8, threshold=0.89).label == "fake"


# -------------------------------------------------------------------------------- judge_track


@pytest.mark.parametrize("rule", ["share", "mean", "confident"])
def test_min_faces_boundary(rule):
    probs = [0.9, 0.9, 0.9]
    assert judge_track(probs, rule, min_faces=3).label == "fake"  # exactly enough
    o = judge_track(probs, rule, min_faces=4)
    assert o.label == "uncertain" and o.too_few and o.score == judge_track(probs, rule).score
    assert o.reason == "only 3 face(s); at least 4 needed for a verdict"
    assert judge_track(probs[:1], rule, min_faces=1).label == "fake"
    assert judge_track([], rule, min_faces=1).label == "inconclusive"  # no face at all


def test_judge_track_passes_threshold_and_params():
    probs = [0.6, 0.6, 0.6, 0.1]
    assert judge_track(probs, "share").label == "fake"
    assert judge_track(probs, "share", threshold=0.6).label == "real"
    assert judge_track(probs, "share", share=0.75).label == "real"
    assert judge_track(probs, "mean", threshold=0.4).label == "fake"
    assert judge_track(probs, "mean", threshold=0.5).label == "real"


# -------------------------------------------------------------------------------- judge_video


def test_video_verdict_names_every_fake_identity_and_the_highest_score():
    fake_a, fake_b = RuleOutcome("fake", 0.7, "a"), RuleOutcome("fake", 0.9, "b")
    real = RuleOutcome("real", 0.2, "r")
    v, ids = judge_video([(0, real), (3, fake_a), (5, fake_b)])
    assert v.label == "fake" and ids == [3, 5] and v.score == pytest.approx(0.9)
    assert v.reason.startswith("identity #3, #5 judged fake: b")  # the most suspicious one's reason


def test_video_verdict_real_needs_one_real_and_takes_the_highest_real_score():
    r1, r2 = RuleOutcome("real", 0.1, "first"), RuleOutcome("real", 0.4, "second")
    inc = RuleOutcome("inconclusive", None, "few")
    v, ids = judge_video([(2, r1)])
    assert v.label == "real" and v.score == pytest.approx(0.1) and ids == []
    assert v.reason == "no identity judged fake; identity #2 judged real: first"
    v, _ = judge_video([(1, inc), (2, r1), (4, r2)])
    assert v.label == "real" and v.score == pytest.approx(0.4)
    assert v.reason == "no identity judged fake; 2 identities (most suspicious #4 judged real: second)"
    v, ids = judge_video([(1, inc), (2, inc)])
    assert v.label == "inconclusive" and v.score is None and ids == []
    assert v.reason == "2 identities, none with enough faces for the rule"


# ---------------------------------------------------------------------------------- the tracker


def _seq(tracker: IouTracker, frames):
    return [tracker.update(boxes) for boxes in frames]


BOX = (100.0, 100.0, 150.0, 150.0)


@pytest.mark.parametrize("max_gap", [0, 1, 3, 5])
def test_tracker_keeps_a_track_through_exactly_max_gap_missed_samples(max_gap):
    ids = _seq(IouTracker(max_gap=max_gap), [[BOX]] + [[]] * max_gap + [[BOX]])
    assert ids[0] == [0] and ids[-1] == [0]


@pytest.mark.parametrize("max_gap", [0, 1, 3, 5])
def test_tracker_closes_a_track_after_max_gap_plus_one_missed_samples(max_gap):
    ids = _seq(IouTracker(max_gap=max_gap), [[BOX]] + [[]] * (max_gap + 1) + [[BOX]])
    assert ids[0] == [0] and ids[-1] == [1]


def test_tracker_default_max_gap_is_three():
    assert _seq(IouTracker(), [[BOX], [], [], [], [BOX]])[-1] == [0]
    assert _seq(IouTracker(), [[BOX], [], [], [], [], [BOX]])[-1] == [1]


def test_a_track_seen_every_sample_never_closes():
    # the track's last-seen sample is refreshed on every match (else it would close after max_gap)
    ids = _seq(IouTracker(max_gap=0), [[BOX]] * 10)
    assert ids == [[0]] * 10


def _centred(cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@pytest.mark.parametrize(
    ("side_b", "linked"),
    [(100.0, True), (101.0, False), (25.0, True), (24.5, False), (60.0, True)],
)
def test_tracker_size_ratio_limit_is_two(side_b, linked):
    """Boxes whose sizes (longer side) differ by more than 2× are never the same face, even concentric."""
    a, b = _centred(200, 200, 50, 50), _centred(200, 200, side_b, side_b)
    assert (_similarity(a, b, 1.5) > 0) == linked
    ids = _seq(IouTracker(), [[a], [b]])
    assert (ids[1] == [0]) == linked


def test_tracker_size_is_the_longer_side():
    # a tall, narrow box (20 × 50) is the same size as a 50 × 50 box: they link
    tall, square = _centred(200, 200, 20, 50), _centred(200, 200, 50, 50)
    assert _seq(IouTracker(), [[square], [tall]])[1] == [0]
    wide = _centred(200, 200, 50, 20)
    assert _seq(IouTracker(), [[square], [wide]])[1] == [0]
    # 50 tall vs 110 wide: 2.2× apart by the longer sides
    big = _centred(200, 200, 110, 40)
    assert _seq(IouTracker(), [[tall], [big]])[1] == [1]


def test_tracker_degenerate_boxes_never_link():
    assert _similarity((10, 10, 10, 10), (10, 10, 10, 10), 1.5) == 0.0
    assert _seq(IouTracker(), [[(10, 10, 10, 10)], [(10, 10, 10, 10)]])[1] == [1]


@pytest.mark.parametrize(("dx", "linked"), [(74.0, True), (75.0, False), (76.0, False)])
def test_tracker_distance_limit_is_max_dist_face_sizes(dx, linked):
    """Non-overlapping 50 px boxes link while their centres are less than 1.5 × 50 px apart."""
    a = (0.0, 0.0, 50.0, 50.0)
    b = (dx, 0.0, dx + 50.0, 50.0)
    assert (_similarity(a, b, 1.5) > 0) == linked
    assert (_seq(IouTracker(), [[a], [b]])[1] == [0]) == linked
    # the limit scales with max_dist
    assert _similarity(a, b, 2.0) > 0
    assert (_seq(IouTracker(max_dist=dx / 50 - 0.01), [[a], [b]])[1] == [0]) is False


def test_similarity_is_overlap_plus_closeness():
    a = (0.0, 0.0, 50.0, 50.0)
    assert _similarity(a, a, 1.5) == pytest.approx(2.0)  # IoU 1 + closeness 1
    b = (25.0, 0.0, 75.0, 50.0)  # IoU 1/3, centres 25 px apart: closeness 1 − 25/75
    assert _similarity(a, b, 1.5) == pytest.approx(1 / 3 + 2 / 3)
    c = (40.0, 0.0, 90.0, 50.0)  # overlapping but with max_dist so small that closeness < 0
    assert _similarity(a, c, 0.5) == pytest.approx(iou(a, c))


def test_iou_edges():
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching
    assert iou((0, 0, 10, 10), (2, 2, 8, 8)) == pytest.approx(36 / 100)  # contained
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # no area: no division by zero


def test_tracker_prefers_the_more_recent_track_on_a_tie():
    left, right = (0.0, 0.0, 50.0, 50.0), (100.0, 0.0, 150.0, 50.0)
    middle = (50.0, 0.0, 100.0, 50.0)  # equally far from both
    ids = _seq(IouTracker(), [[left], [right], [middle]])
    assert ids == [[0], [1], [1]]
    ids = _seq(IouTracker(), [[right], [left], [middle]])
    assert ids == [[0], [1], [1]]


def test_tracker_matches_best_pairs_first():
    a, b = (0.0, 0.0, 50.0, 50.0), (200.0, 0.0, 250.0, 50.0)
    # near_a is a near-perfect match of a; between is closer to a than to b but b's only candidate
    near_a, between = (2.0, 0.0, 52.0, 50.0), (60.0, 0.0, 110.0, 50.0)
    for order in ([near_a, between], [between, near_a]):
        tr = IouTracker()
        tr.update([a, b])
        ids = dict(zip(order, tr.update(order), strict=True))
        assert ids[near_a] == 0
        assert ids[between] == 2  # too far from b (dist 140 > 75): a new identity, never a's


def test_one_box_per_track_and_one_track_per_box():
    tr = IouTracker()
    tr.update([BOX])
    ids = tr.update([BOX, (102.0, 100.0, 152.0, 150.0)])
    assert sorted(ids) == [0, 1] and ids[0] == 0  # the exact match keeps the identity


def test_new_tracks_are_numbered_left_to_right_then_top_to_bottom():
    tr = IouTracker()
    assert tr.update([(300, 0, 350, 50), (10, 200, 60, 250), (10, 0, 60, 50)]) == [2, 1, 0]
    assert tr.update([]) == []
    assert tr.update([(600, 600, 650, 650)]) == [3]


# ------------------------------------------------------------------------------------- crops


def test_default_margin_is_documented_value():
    assert DEFAULT_MARGIN == 0.3
    assert square_box((0, 0, 100, 100)) == square_box((0, 0, 100, 100), 0.3)


def test_square_box_of_a_tall_box_uses_its_height():
    # 80 wide, 100 tall: side = 1.3 × 100 = 130 around the centre (140, 150)
    assert square_box((100, 100, 180, 200), margin=0.3) == (75, 85, 205, 215)
    assert square_box((100, 100, 180, 200), margin=0.0) == (90, 100, 190, 200)
    # wide box: its width
    assert square_box((100, 100, 200, 180), margin=0.0) == (100, 90, 200, 190)


@pytest.mark.parametrize("margin", [0.0, 0.1, 0.5, 1.0, 2.0])
def test_square_box_side_and_centre(margin):
    x1, y1, x2, y2 = square_box((37.0, 51.0, 97.0, 131.0), margin)  # 60 × 80, centre (67, 91)
    assert x2 - x1 == y2 - y1 == round(80 * (1 + margin))
    assert abs((x1 + x2) / 2 - 67) <= 0.5 and abs((y1 + y2) / 2 - 91) <= 0.5


def test_square_box_of_an_empty_box_is_one_pixel():
    x1, y1, x2, y2 = square_box((10, 10, 10, 10))
    assert (x2 - x1, y2 - y1) == (1, 1)


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_crop_of_a_tall_box_is_the_square_around_it_pixel_for_pixel():
    img = _noise(300, 300)
    c = crop_face(img, (100, 100, 160, 200), size=100, margin=0.0)  # square (80, 100)–(180, 200)
    np.testing.assert_array_equal(c, img[100:200, 80:180])
    c = crop_face(img, (100, 100, 160, 200), size=130, margin=0.3)  # (65, 85)–(195, 215)
    np.testing.assert_array_equal(c, img[85:215, 65:195])


def test_crop_at_the_bottom_right_edge_is_padded_black():
    img = _noise(100, 120, seed=1)
    c = crop_face(img, (80, 60, 120, 100), size=80, margin=1.0)  # square (60, 40)–(140, 120)
    np.testing.assert_array_equal(c[:60, :60], img[40:100, 60:120])
    assert c[60:].max() == 0 and c[:, 60:].max() == 0


def test_crop_at_the_top_left_edge_is_padded_black():
    img = _noise(100, 100, seed=2)
    c = crop_face(img, (0, 0, 30, 40), size=52, margin=0.3)  # side 52 around (15, 20): (-11, -6)–(41, 46)
    np.testing.assert_array_equal(c[6:, 11:], img[0:46, 0:41])
    assert c[:6].max() == 0 and c[:, :11].max() == 0


def test_crop_wholly_outside_the_frame_is_black():
    img = np.full((50, 50, 3), 255, np.uint8)
    assert crop_face(img, (200, 200, 240, 240), size=32).max() == 0
    assert crop_face(img, (-100, -100, -60, -60), size=32).shape == (32, 32, 3)


def test_crop_shrinks_with_area_interpolation_and_enlarges_smoothly():
    checker = (np.indices((300, 300)).sum(axis=0) % 2 * 255).astype(np.uint8)
    img = np.repeat(checker[..., None], 3, axis=2)
    small = crop_face(img, (0, 0, 300, 300), size=100, margin=0.0)
    # area averaging of 3×3 blocks: 4 or 5 white pixels of 9; point sampling would give 0 or 255
    assert set(np.unique(small)) <= {113, 142}
    tiny = np.zeros((4, 4, 3), np.uint8)
    tiny[:, 2:] = 255
    big = crop_face(tiny, (0, 0, 4, 4), size=16, margin=0.0)
    assert 0 < big[0, 7, 0] < 255  # bilinear: intermediate values at the edge


# ---------------------------------------------------------------------------- face detector


class _Fixed(FaceDetector):
    info = FaceDetectorInfo("fixed", "test stub", 0, "-", "-")

    def __init__(self, dets, **kw):
        super().__init__(**kw)
        self.dets = dets
        self.seen: tuple[int, int] | None = None

    def _detect(self, rgb):
        self.seen = rgb.shape[:2]
        return [Detection(d[0], d[1], None) for d in self.dets]


def test_detector_score_threshold_keeps_equal_scores():
    det = _Fixed([((0, 0, 50, 50), 0.6), ((60, 0, 110, 50), 0.5999)], threshold=0.6, max_side=None)
    out = det.detect(np.zeros((100, 200, 3), np.uint8))
    assert [d.score for d in out] == [0.6] and out[0].landmarks is None  # no landmarks stay None


def test_detector_min_size_keeps_equal_sizes_and_uses_the_shorter_side():
    det = _Fixed([((0, 0, 24, 60), 0.9), ((100, 0, 123.9, 60), 0.9), ((150, 0, 210, 23), 0.9)], min_size=24,
                 max_side=None)
    assert [d.box for d in det.detect(np.zeros((100, 300, 3), np.uint8))] == [(0, 0, 24, 60)]


def test_detector_downscales_above_max_side_only_and_maps_boxes_back():
    det = _Fixed([((10, 20, 50, 60), 0.9)], max_side=640)
    out = det.detect(np.zeros((480, 640, 3), np.uint8))  # longer side exactly 640: untouched
    assert det.seen == (480, 640) and out[0].box == (10, 20, 50, 60)
    out = det.detect(np.zeros((960, 1280, 3), np.uint8))  # 2× too big: detected at half size
    assert det.seen == (480, 640) and out[0].box == (20, 40, 100, 120)
    det = _Fixed([((10, 20, 50, 60), 0.9)], max_side=None)
    det.detect(np.zeros((960, 1280, 3), np.uint8))
    assert det.seen == (960, 1280)


def test_detector_clips_boxes_to_the_frame_and_sorts_left_to_right():
    det = _Fixed([((150, 10, 230, 90), 0.9), ((-20, -5, 40, 60), 0.8)], max_side=None)
    out = det.detect(np.zeros((80, 200, 3), np.uint8))
    assert [d.box for d in out] == [(0.0, 0.0, 40, 60), (150, 10, 200.0, 80.0)]


# ------------------------------------------------------------------------------------ sampling


@pytest.mark.parametrize(
    ("count", "n", "expected"),
    [
        (10, 10, list(range(10))),
        (10, 11, list(range(10))),
        (10, 2, [0, 9]),
        (10, 1, [0]),
        (100, 4, [0, 33, 66, 99]),
        (1, 5, [0]),
        (0, 5, []),
        (5, 0, []),
    ],
)
def test_plan_indices(count, n, expected):
    assert plan_indices(count, n) == expected


@pytest.mark.parametrize(("count", "n"), [(72, 32), (300, 7), (11, 10), (1000, 999)])
def test_plan_indices_cover_first_and_last_frame(count, n):
    idx = plan_indices(count, n)
    assert idx[0] == 0 and idx[-1] == count - 1
    assert len(idx) == n and idx == sorted(set(idx))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("even:1", Sampling("even", n=1)),
        ("8", Sampling("even", n=8)),
        ("every:1", Sampling("every", k=1)),
        (" ALL ", Sampling("all")),
    ],
)
def test_sampling_parse(text, expected):
    assert Sampling.parse(text) == expected


@pytest.mark.parametrize("text", ["even:0", "every:0", "0", "even:-1", "every:", "even", "some", ""])
def test_sampling_parse_refuses_empty_samplings(text):
    with pytest.raises(ValueError, match="bad sampling"):
        Sampling.parse(text)


@pytest.mark.parametrize(
    ("sampling", "count", "expected"),
    [
        (Sampling("even", n=32), 72, 32),
        (Sampling("even", n=32), 20, 20),
        (Sampling("even", n=32), None, 32),
        (Sampling("every", k=24), 72, 3),
        (Sampling("every", k=24), 73, 4),
        (Sampling("every", k=24), 1, 1),
        (Sampling("every", k=24), None, None),
        (Sampling("all"), 72, 72),
    ],
)
def test_expected_sample_count(sampling, count, expected):
    assert _expected_samples(sampling, count) == expected


@pytest.fixture(scope="module")
def counted_clip(tmp_path_factory) -> Path:
    """A 10-frame clip whose frame i is uniformly grey level 20·i (so a frame tells its index)."""
    path = tmp_path_factory.mktemp("clip") / "count.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"qp": "0"}
        for i in range(10):
            img = np.full((48, 64, 3), 20 * i + 10, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.mark.parametrize(
    ("sampling", "indices"),
    [
        ("even:2", [0, 9]),
        ("even:3", [0, 4, 9]),  # round(4.5) = 4 (round half to even)
        ("even:1", [0]),
        ("even:10", list(range(10))),
        ("even:50", list(range(10))),
        ("every:3", [0, 3, 6, 9]),
        ("every:4", [0, 4, 8]),
        ("every:10", [0]),
        ("all", list(range(10))),
    ],
)
def test_video_sampling_yields_the_planned_frames_first_and_last_included(counted_clip, sampling, indices):
    frames = list(open_media(counted_clip, Sampling.parse(sampling)))
    assert [f.index for f in frames] == indices
    for f in frames:  # the decoded picture is that frame's, not a neighbour's
        assert abs(float(f.image.mean()) - (20 * f.index + 10)) < 4, (f.index, f.image.mean())
        assert f.time == pytest.approx(f.index / 10, abs=1e-6)


# ---------------------------------------------------------------------------- track judgement


def _frames(spec):
    """``[(time, [(track_id, p_fake), ...]), ...]`` → FrameResults."""
    out = []
    for i, (t, faces) in enumerate(spec):
        out.append(FrameResult(index=i, time=t, faces=[
            Face(box=[0, 0, 1, 1], det_score=1.0, p_fake=p, logit=0.0, track_id=tid) for tid, p in faces]))
    return out


def test_judge_tracks_groups_faces_by_identity_with_times_and_stats():
    frames = _frames([(0.0, [(0, 0.9), (1, 0.1)]), (0.5, [(1, 0.2)]), (1.0, [(0, 0.7), (1, 0.3)])])
    tracks = _judge_tracks(frames, AnalyzeConfig(), min_faces=2)
    assert [t.id for t in tracks] == [0, 1]
    t0, t1 = tracks
    assert (t0.n_faces, t0.first_time, t0.last_time) == (2, 0.0, 1.0)
    assert t0.mean_p_fake == pytest.approx(0.8) and t0.max_p_fake == pytest.approx(0.9)
    assert t0.label == "fake" and t1.label == "real" and t1.n_faces == 3
    assert t1.mean_p_fake == pytest.approx(0.2) and t1.max_p_fake == pytest.approx(0.3)
    # exactly min_faces is enough; one more is not
    too_few = _judge_tracks(frames, AnalyzeConfig(), min_faces=3)
    assert [t.label for t in too_few] == ["uncertain", "real"] and too_few[0].too_few_faces


def test_judge_tracks_uses_the_configured_rule_threshold_and_params():
    frames = _frames([(0.0, [(0, 0.6)]), (0.1, [(0, 0.6)]), (0.2, [(0, 0.2)])])
    assert _judge_tracks(frames, AnalyzeConfig(rule="share"), 1)[0].label == "fake"  # 2/3 above 0.5
    assert _judge_tracks(frames, AnalyzeConfig(rule="share", threshold=0.6), 1)[0].label == "real"
    assert _judge_tracks(frames, AnalyzeConfig(rule="share", rule_params={"share": 0.7}), 1)[0].label == "real"
    # the default rule: shrunken mean log-odds against the band (here sigmoid(mean logit · 3/4) = 0.57)
    cal = _judge_tracks(frames, AnalyzeConfig(), 1)[0]
    assert cal.label == "uncertain" and 0.5 < cal.score < 0.65
    assert _judge_tracks(frames, AnalyzeConfig(band=(0.3, 0.55)), 1)[0].label == "fake"
    mean = _judge_tracks(frames, AnalyzeConfig(rule="mean"), 1)[0]
    assert mean.label == "real" and mean.score == pytest.approx(1.4 / 3)
    assert _judge_tracks(frames, AnalyzeConfig(rule="mean", threshold=0.4), 1)[0].label == "fake"


# ------------------------------------------------------------------------------ display scaling


def test_to_display_scales_by_the_995th_percentile_of_the_positive_part():
    m = np.arange(1000, dtype=np.float32).reshape(25, 40)
    q = float(np.percentile(m, 99.5))  # 994.005
    d = to_display(m)
    assert d.dtype == np.float32 and d.shape == m.shape
    np.testing.assert_allclose(d, np.clip(m / q, 0, 1), rtol=1e-6)
    assert (d == 1).sum() == 5  # the top 0.5 % saturate
    assert d.ravel()[500] == pytest.approx(500 / q, rel=1e-6)


def test_to_display_drops_negative_evidence_and_nans():
    m = np.array([[-5.0, -1.0, 0.0, np.nan], [1.0, 2.0, 4.0, 3.0]], np.float32)
    d = to_display(m)
    assert d[0, :3].tolist() == [0.0, 0.0, 0.0] and d[0, 3] == 0.0
    assert np.isfinite(d).all() and d.min() >= 0 and d.max() <= 1
    assert d[1, 1] == pytest.approx(2 * d[1, 0], rel=1e-6)  # linear in the positive part
    assert to_display(-np.ones((4, 4), np.float32)).max() == 0  # only negative evidence: blank


def test_to_display_keeps_a_cam_with_one_hot_spot_in_its_unit_range():
    cam = np.zeros((100, 100), np.float32)
    cam[:10, :10] = np.linspace(0.5, 1.0, 100, dtype=np.float32).reshape(10, 10)  # 1 % of the map
    d = to_display(cam)
    q = float(np.percentile(cam, 99.5))
    assert 0.5 < q < 1.0
    np.testing.assert_allclose(d, np.clip(cam / q, 0, 1), rtol=1e-6)
    assert d[0, 0] == pytest.approx(0.5 / q) and d[9, 9] == 1.0 and d[50, 50] == 0.0


# ------------------------------------------------------------- cases found by mutation testing


def test_video_score_of_a_zero_score_identity_is_zero():
    v, _ = judge_video([(0, RuleOutcome("real", 0.0, "none above"))])
    assert v.score == 0.0
    v, _ = judge_video([(0, RuleOutcome("fake", 0.0, "odd")), (1, RuleOutcome("real", 0.3, "r"))])
    assert v.label == "fake" and v.score == 0.0


def test_iou_of_boxes_that_are_not_squares():
    a, b = (0, 10, 40, 30), (20, 0, 60, 50)  # overlap 20 × 20; areas 800 and 2000
    assert iou(a, b) == pytest.approx(400 / 2400)
    assert iou(b, a) == pytest.approx(400 / 2400)
    assert iou((0, 0, 10, 10), (5, 20, 15, 30)) == 0.0  # overlap in x only
    assert iou((0, 0, 10, 10), (20, 5, 30, 15)) == 0.0  # overlap in y only
    assert iou((0, 0, 0.5, 0.5), (0, 0, 0.5, 0.5)) == 1.0  # sub-pixel boxes too


@pytest.mark.parametrize("box", [(1000.0, 0.0, 1100.0, 20.0), (0.0, 1000.0, 20.0, 1100.0), (0.0, 0.0, 1.0, 1.0)])
def test_identical_boxes_always_link(box):
    """Far from the origin, wide or tall, or tiny: a box links to itself."""
    assert _similarity(box, box, 1.5) == pytest.approx(2.0)
    assert _seq(IouTracker(), [[box], [box]]) == [[0], [0]]


@pytest.mark.parametrize(("dy", "linked"), [(74.0, True), (75.0, False)])
def test_tracker_distance_limit_applies_vertically_too(dy, linked):
    a, b = (0.0, 0.0, 50.0, 50.0), (0.0, dy, 50.0, dy + 50.0)
    assert (_seq(IouTracker(), [[a], [b]])[1] == [0]) == linked


def test_a_lost_face_rejoins_its_own_track_rather_than_a_recent_neighbour():
    a, b = (0.0, 0.0, 50.0, 50.0), (60.0, 0.0, 110.0, 50.0)  # b is 60 px from a: linkable to it
    ids = _seq(IouTracker(), [[a, b], [b], [b], [a]])
    assert ids == [[0, 1], [1], [1], [0]]  # the missed-sample penalty only breaks ties


def test_a_box_taken_by_a_better_pair_does_not_stop_the_matching():
    a, b = (0.0, 0.0, 50.0, 50.0), (130.0, 0.0, 180.0, 50.0)
    near_b = (60.0, 0.0, 110.0, 50.0)  # closer to a (60 px) than to b (70 px); a is taken by its exact box
    tr = IouTracker()
    tr.update([a, b])
    assert tr.update([a, near_b]) == [0, 1]


def test_crops_are_uint8_also_when_padded_or_outside():
    img = _noise(60, 60)
    assert crop_face(img, (200, 200, 240, 240), size=16).dtype == np.uint8
    assert crop_face(img, (40, 40, 60, 60), size=16, margin=1.0).dtype == np.uint8
    assert crop_face(img, (10, 10, 50, 50), size=16, margin=0.0).dtype == np.uint8


class _WithLandmarks(FaceDetector):
    info = FaceDetectorInfo("landmarked", "test stub", 5, "-", "-")

    def __init__(self, dets, **kw):
        super().__init__(**kw)
        self.dets = dets

    def _detect(self, rgb):
        return [Detection(box, score, np.array(lm, np.float32)) for box, score, lm in self.dets]


def test_detector_maps_landmarks_back_and_keeps_going_after_a_dropped_face():
    det = _WithLandmarks([((0, 0, 20, 20), 0.3, [[1, 1]]),  # low score first: dropped, the rest still checked
                          ((300, 10, 340, 20), 0.9, [[2, 2]]),  # 10 px tall at y = 10..20: too small
                          ((100, 5, 150, 55), 0.9, [[120, 30], [130, 31]]),
                          ((20, 60, 70, 110), 0.8, [[40, 80]])], max_side=320, min_size=24)
    out = det.detect(np.zeros((240, 640, 3), np.uint8))  # detected at half size
    assert [d.box for d in out] == [(40, 120, 140, 220), (200, 10, 300, 110)]  # sorted by x, not y
    np.testing.assert_allclose(out[1].landmarks, [[240, 60], [260, 62]])
    assert out[0].landmarks.dtype == np.float32 and out[0].landmarks.tolist() == [[80, 160]]


def test_a_bare_one_means_one_evenly_sampled_frame():
    assert Sampling.parse("1") == Sampling("even", n=1)
