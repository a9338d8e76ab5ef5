"""Analyzer.stream — frames as they arrive (the live driver), on the same stages as Analyzer.analyze."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.media import Frame, Sampling, open_media
from fakescope.pipeline import Analyzer

SAMPLING = "even:10"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(sampling=SAMPLING)


def _frames(path):
    source = open_media(path, Sampling.parse(SAMPLING))
    return source.info, list(source)


@pytest.mark.parametrize("clip", ["single_face.mp4", "WolfgangLanger_Pexels.mp4"])
def test_stream_gives_analyze_verdicts_on_the_same_frames(samples, analyzer, clip):
    path = samples / clip
    batch = analyzer.analyze(path)
    info, frames = _frames(path)
    updates = list(analyzer.stream(frames, info=info, path=path))
    assert len(updates) == len(frames) + 1 and updates[-1].final and not any(u.final for u in updates[:-1])
    streamed = updates[-1].result
    assert [t.id for t in streamed.tracks] == [t.id for t in batch.tracks] and batch.tracks
    for s, b in zip(streamed.tracks, batch.tracks, strict=True):
        assert (s.label, s.n_faces, s.n_used, s.too_few_faces) == (b.label, b.n_faces, b.n_used, b.too_few_faces)
        assert s.score == pytest.approx(b.score, abs=1e-4)
        assert s.interval == pytest.approx(b.interval, abs=1e-3)
    assert streamed.verdict.label == batch.verdict.label
    assert streamed.verdict.score == pytest.approx(batch.verdict.score, abs=1e-4)
    # the same faces, scored alike (per-frame batches instead of 16-face ones)
    got = [f.p_fake for fr in streamed.frames for f in fr.faces]
    want = [f.p_fake for fr in batch.frames for f in fr.faces]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert streamed.input.sha256 == batch.input.sha256 and streamed.verdict.headline


def test_running_updates_start_and_end_identities(samples, analyzer):
    """A face in view, then gone: it starts on its first frame, is judged while in view, and ends once the
    tracker gives it up (after max_gap samples without it)."""
    _, frames = _frames(samples / "single_face.mp4")
    blank = np.zeros_like(frames[0].image)
    t_last = frames[-1].time
    step = frames[1].time - frames[0].time
    tail = [Frame(index=frames[-1].index + i + 1, time=t_last + step * (i + 1), image=blank) for i in range(5)]
    updates = list(analyzer.stream(frames[:6] + tail))
    first = updates[0]
    assert first.started == [0] and [t.id for t in first.tracks] == [0] and first.frame.faces
    assert first.tracks[0].too_few_faces  # one face is fewer than a video's minimum (3)
    assert updates[5].tracks[0].n_faces == 6 and not updates[5].tracks[0].too_few_faces
    assert updates[5].verdict.label == updates[5].tracks[0].label
    gone = [i for i, u in enumerate(updates) if u.ended]
    assert gone == [6 + analyzer.config.track_max_gap]  # closed after max_gap blank samples
    assert updates[gone[0]].tracks == [] and all(u.seconds >= 0 for u in updates)
    assert updates[-1].final and updates[-1].ended == [] and updates[-1].result.tracks[0].n_faces == 6


def test_window_judges_only_recent_faces(samples, analyzer):
    _, frames = _frames(samples / "single_face.mp4")
    step = frames[1].time - frames[0].time
    updates = list(analyzer.stream(frames, window=step * 3.5))
    # 4 samples fall within 3.5 steps (this one and the 3 before): the running verdict reads only those
    assert [u.tracks[0].n_faces for u in updates[:-1]] == [1, 2, 3, 4, 4, 4, 4, 4, 4, 4]
    assert updates[-1].result.tracks[0].n_faces == 10  # the session's result reads every face


def test_empty_stream_is_inconclusive_and_window_checked(analyzer):
    final = list(analyzer.stream([]))[-1]
    assert final.final and final.verdict.label == "inconclusive" and final.result.frames == []
    with pytest.raises(ValueError, match="window"):
        analyzer.session(window=0)


def test_a_pooled_analyzer_follows_new_settings(samples, analyzer):
    """The batch engines' pool gives a loaded Analyzer per-task settings: its stages must follow them."""
    from dataclasses import replace

    a = Analyzer(sampling="even:4")
    assert len(a.analyze(samples / "single_face.mp4").frames) == 4
    a.config = replace(a.config, sampling=Sampling.parse("even:6"), margin=0.5)
    r = a.analyze(samples / "single_face.mp4")
    assert len(r.frames) == 6 and r.settings.margin == 0.5 and a.crop.margin == 0.5


def test_on_demand_explanation_of_the_latest_face(samples, analyzer):
    _, frames = _frames(samples / "single_face.mp4")
    session = analyzer.session()
    assert session.explain() is None  # nothing seen yet
    session.push(frames[0])
    ex = session.explain(method="gradcam")
    assert ex["track_id"] == 0 and ex["method"] == "gradcam" and ex["crop"].dtype == np.uint8
    assert ex["map"].shape == ex["crop"].shape[:2] and np.isfinite(ex["map"]).all()
    assert session.explain(track_id=7) is None
    assert session.explain()["method"]  # the model's measured default


def test_a_live_session_records_how_frames_came_and_suggests_live_next_steps(samples, analyzer):
    _, frames = _frames(samples / "single_face.mp4")
    final = list(analyzer.stream(frames[:2], sampling="live: 5 frames/s"))[-1].result
    assert final.settings.sampling == "live: 5 frames/s" and final.verdict.label == "uncertain"
    assert "turn their head" in final.verdict.next_step and "--frames" not in final.verdict.next_step
    assert list(analyzer.stream(frames[:2]))[-1].result.settings.sampling == "stream"
