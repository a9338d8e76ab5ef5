"""fakescope.live: real streams on 127.0.0.1 (a PyAV writer at real-time pace in another process), real
decoders and the real default detector."""

from __future__ import annotations

import socket

import av
import pytest
from conftest import free_port

from fakescope.live import LiveError, LiveSource, source_kind, watch
from fakescope.live.replay import replay_process
from fakescope.pipeline import Analyzer


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def to_ts(src, dst) -> None:
    """Remux a clip into MPEG-TS (packets copied); TS files can be concatenated byte for byte."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format="mpegts") as o:
        s = i.streams.video[0]
        out = o.add_stream_from_template(s)
        for p in i.demux(s):
            if p.dts is not None:
                p.stream = out
                o.mux(p)


def run_watch(analyzer, source, **kw):
    events = []
    summary = watch(source, analyzer, on_event=events.append, **kw)
    return summary, events


def kinds(events, kind):
    return [e for e in events if e["event"] == kind]


def test_a_clip_streamed_over_tcp_gets_running_verdicts_that_agree_with_analyze(samples, analyzer):
    clip = samples / "single_face.mp4"
    port = free_port()
    sender = replay_process(clip, f"tcp://127.0.0.1:{port}?listen=1", loops=3)  # 7.2 s
    try:
        summary, events = run_watch(analyzer, LiveSource(f"tcp://127.0.0.1:{port}", fps=5), window=10)
    finally:
        sender.kill()
    assert events[0]["event"] == "started" and events[-1]["event"] == "ended"
    updates = kinds(events, "update")
    assert len(updates) >= 5 and all(u["latency_ms"] > 0 for u in updates)
    assert [e["id"] for e in kinds(events, "identity_started")] == [0]
    assert updates[-1]["identities"][0]["id"] == 0 and updates[-1]["faces"][0]["box"]
    ended = events[-1]
    assert ended["reason"] == "end of stream" and ended["analysed"] == len(updates)
    assert ended["latency_ms_p50"] is not None and ended["latency_ms_p95"] >= ended["latency_ms_p50"]
    assert kinds(events, "identity_ended")[-1]["id"] == 0  # closed at the end of the session
    # the session's final verdicts agree with fakescope analyze on the same clip
    batch = analyzer.analyze(clip)
    live = summary.result
    assert live.verdict.label == batch.verdict.label
    assert [(t.id, t.label) for t in live.tracks] == [(t.id, t.label) for t in batch.tracks]
    assert live.tracks[0].n_faces == len(updates) and live.input.sha256 == ""  # a stream has no file
    assert live.timings["live_latency_p95"] > 0 and any("dropped" in w for w in live.warnings)


@pytest.mark.slow  # UDP has no end: the test waits out a read timeout (the TCP tests cover the rest)
def test_udp_stream(samples, analyzer):
    port = free_port(socket.SOCK_DGRAM)
    sender = replay_process(samples / "single_face.mp4", f"udp://127.0.0.1:{port}", delay=1.5)
    try:
        source = LiveSource(f"udp://127.0.0.1:{port}", fps=5, read_timeout=2.0, reconnects=0).open()
        summary, events = run_watch(analyzer, source)
    finally:
        sender.kill()
    # UDP has no end: the session ends when the data stops, with what it saw kept
    assert kinds(events, "update") and summary.result.tracks and summary.result.tracks[0].n_faces >= 3
    assert "stalled" in events[-1]["reason"] or "end of stream" in events[-1]["reason"]


def test_a_stalled_stream_is_reported_reconnects_are_bounded_and_results_kept(samples, analyzer):
    port = free_port()
    sender = replay_process(samples / "WolfgangLanger_Pexels.mp4", f"tcp://127.0.0.1:{port}?listen=1",
                            stall_at=1.5, stall_for=30)
    try:
        source = LiveSource(f"tcp://127.0.0.1:{port}", fps=4, read_timeout=1.5, open_timeout=1.0, reconnects=2)
        summary, events = run_watch(analyzer, source)
    finally:
        sender.kill()
    notes = [e["message"] for e in kinds(events, "note")]
    assert any("stalled" in n and "reconnecting (1 of 2)" in n for n in notes), notes
    assert any("gave up after 2 reconnect(s)" in n for n in notes), notes
    assert all("\n" not in n and "Traceback" not in n for n in notes)
    assert summary.result.frames and summary.result.tracks  # what was seen before the stall is kept
    assert events[-1]["reconnects"] == 2 and "reconnect failed" in events[-1]["reason"]


def test_a_picture_that_changes_size_is_followed_and_noted(samples, analyzer, tmp_path):
    to_ts(samples / "single_face.mp4", tmp_path / "a.ts")
    to_ts(samples / "no_face.mp4", tmp_path / "b.ts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes((tmp_path / "a.ts").read_bytes() + (tmp_path / "b.ts").read_bytes())
    summary, events = run_watch(analyzer, LiveSource(str(joined), fps=5))
    notes = [e["message"] for e in kinds(events, "note")]
    assert notes == [f"{joined}: the picture changed size from 640×360 to 960×540 at 2.6 s"]
    times = [fr.time for fr in summary.result.frames]
    assert times == sorted(times) and times[-1] > 5  # session time goes on across the jump back of the pts
    assert summary.result.tracks and events[-1]["reason"] == "end of file"


def test_a_realtime_file_drops_frames_rather_than_fall_behind(samples, analyzer):
    """Asked for more frames than the analysis can take, the queue replaces waiting frames: what is
    analysed plus what is dropped is what was sampled, and nothing waits behind the frame in analysis."""
    source = LiveSource(str(samples / "single_face.mp4"), fps=30, realtime=True)
    summary, events = run_watch(analyzer, source)
    s = source.stats
    assert s.dropped > 0 and summary.analysed + s.dropped == s.sampled
    assert events[-1]["dropped_share"] == pytest.approx(s.dropped / s.sampled, abs=1e-4)
    assert [u["dropped"] for u in kinds(events, "update")] == sorted(u["dropped"] for u in kinds(events, "update"))


def test_a_file_read_without_realtime_drops_nothing(samples, analyzer):
    source = LiveSource(str(samples / "single_face.mp4"), fps=10)
    summary, _ = run_watch(analyzer, source, duration=None)
    assert source.stats.dropped == 0 and summary.analysed == source.stats.sampled == 24


def test_duration_ends_a_session_and_alerts_fire_once_per_turn_to_fake(samples, monkeypatch):
    """An identity turning fake raises one alert (calibration forced to call everything fake)."""
    an = Analyzer(band=(0.0, 0.0001), threshold=0.0)
    source = LiveSource(str(samples / "single_face.mp4"), fps=10)
    summary, events = run_watch(an, source, window=2.0)
    alerts = kinds(events, "alert")
    assert len(alerts) == 1 and alerts[0]["label"] == "fake" and alerts[0]["id"] == 0
    assert kinds(events, "update").index(next(u for u in kinds(events, "update")
                                              if u["identities"] and u["identities"][0]["label"] == "fake")) >= 2
    source = LiveSource(str(samples / "WolfgangLanger_Pexels.mp4"), fps=5, realtime=True)
    summary, events = run_watch(an, source, duration=1.0)
    assert events[-1]["reason"] == "--duration 1 s reached" and summary.seconds < 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tcp://127.0.0.1:{closed}", "cannot open"),
        ("gopher://example.org/x", "unknown stream scheme 'gopher'"),
        ("/dev/video99", "/dev/video99: no such camera"),
        ("/nonexistent/clip.mp4", "/nonexistent/clip.mp4: no such file"),
    ],
)
def test_bad_sources_get_one_line_errors(spec, message):
    spec = spec.format(closed=free_port())
    with pytest.raises(LiveError) as e:
        LiveSource(spec, open_timeout=2).open()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_source_kinds_and_rate_check():
    assert [source_kind(s) for s in ("/dev/video0", "rtsp://cam/1", "https://x/a.m3u8", "clip.mp4")] == [
        "camera", "stream", "stream", "file"]
    with pytest.raises(LiveError, match="--fps must be above 0"):
        LiveSource("clip.mp4", fps=0)
