import numpy as np
import pytest

from fakescope.errors import UnknownNameError
from fakescope.rules import RuleOutcome, judge_track, judge_video, list_rules


def test_registry_has_the_documented_rules():
    assert {"share", "mean", "confident"} <= set(list_rules())


def test_share_rule():
    probs = [0.9, 0.8, 0.7, 0.1, 0.2]  # 60 % above 0.5
    o = judge_track(probs, "share", threshold=0.5, share=0.5)
    assert o.label == "fake" and o.score == pytest.approx(0.6)
    assert judge_track(probs, "share", threshold=0.5, share=0.6).label == "real"
    assert judge_track(probs, "share", threshold=0.75, share=0.3).label == "fake"  # 2/5 = 40 % > 30 %


def test_mean_rule():
    assert judge_track([0.6, 0.6, 0.2], "mean").label == "real"  # mean 0.467
    assert judge_track([0.6, 0.6, 0.4], "mean").label == "fake"  # mean 0.533


def test_confident_rule_follows_dfdc_winner():
    # 12 confident fakes among 20 (> 20/2.5 = 8 and > 11): average only those
    probs = np.array([0.9] * 12 + [0.1] * 8)
    o = judge_track(probs, "confident")
    assert o.label == "fake" and o.score == pytest.approx(0.9)
    # 19 of 20 confidently real (> 90 %): average of those
    probs = np.array([0.05] * 19 + [0.95])
    o = judge_track(probs, "confident")
    assert o.label == "real" and o.score == pytest.approx(0.05)
    # otherwise plain mean
    probs = np.array([0.9] * 5 + [0.3] * 5)
    assert judge_track(probs, "confident").score == pytest.approx(0.6)


def test_too_few_faces_is_uncertain_with_reason():
    o = judge_track([0.99, 0.99], "share", min_faces=3)
    assert o.label == "uncertain" and o.too_few and "at least 3 needed" in o.reason
    assert judge_track([0.99, 0.99, 0.99], "share", min_faces=3).label == "fake"


def test_unknown_rule():
    with pytest.raises(UnknownNameError, match="did you mean 'share'"):
        judge_track([0.5], "shar")


def test_video_verdict():
    fake = RuleOutcome("fake", 0.8, "x")
    real = RuleOutcome("real", 0.1, "y")
    brief = RuleOutcome("uncertain", 0.2, "z", too_few=True)
    v, ids = judge_video([])
    assert v.label == "inconclusive" and v.reason == "no face found"
    v, ids = judge_video([(0, real), (1, fake), (2, brief)])
    assert v.label == "fake" and ids == [1] and "#1" in v.reason
    v, ids = judge_video([(0, real), (2, brief)])
    assert v.label == "real" and ids == []
    v, ids = judge_video([(0, brief)])
    assert v.label == "uncertain"
