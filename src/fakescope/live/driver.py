"""The live driver: frames from a :class:`~fakescope.live.source.LiveSource` through
:meth:`fakescope.pipeline.Analyzer.stream`'s session, as events.

Events are plain dicts (the ``--jsonl`` lines of ``fakescope watch``):

* ``started`` — source, rate, window;
* ``update`` — after each analysed frame: its time, latency (capture → updated verdicts, ms), the faces'
  boxes, the running verdict of each identity in view (judged on its faces of the last ``window`` seconds,
  with the calibration, uncertain band and quality weights of ``fakescope analyze``), dropped frames so far;
* ``identity_started`` / ``identity_ended`` — a person enters or leaves (the tracker gives them up);
* ``alert`` — an identity's running verdict turns ``fake`` (once per turn);
* ``note`` — a one-line message from the source (reconnecting, stalled, picture size changed);
* ``ended`` — why the session ended, frames analysed and dropped, latency p50/p95, and the session's
  verdict (every face of the session judged, as ``fakescope analyze`` would).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..schema import AnalysisResult, TrackResult
from .source import LiveSource

log = logging.getLogger(__name__)

EventFn = Callable[[dict], None]


def identity_summary(t: TrackResult) -> dict:
    """One identity's running (or final) verdict as events and messages carry it."""
    return {"id": t.id, "label": t.label, "p_fake": None if t.score is None else round(t.score, 4),
            "interval": t.interval, "n_faces": t.n_faces, "reason": t.reason}


@dataclass
class WatchSummary:
    result: AnalysisResult
    reason: str
    latencies: list[float] = field(default_factory=list)  # seconds, per analysed frame
    analysed: int = 0
    seconds: float = 0.0  # wall time of the session

    def latency(self, q: float) -> float | None:
        return float(np.percentile(self.latencies, q)) if self.latencies else None


def watch(source: LiveSource, analyzer, *, window: float | None = 10.0, duration: float | None = None,
          on_event: EventFn | None = None, stop: Callable[[], bool] | None = None) -> WatchSummary:
    """Analyse ``source`` until it ends, ``duration`` seconds pass, ``stop()`` is true or Ctrl-C; every
    event goes to ``on_event``. Returns the session's result (all faces judged) and its measures."""
    emit = on_event or (lambda e: None)
    how = f"live: {source.fps:g} frames/s" + (f", running verdicts over {window:g} s" if window else "")
    session = analyzer.session(window=window, name=source.spec, path=source.path, sampling=how)
    last: dict[int, TrackResult] = {}
    latencies: list[float] = []
    reason = ""
    t0 = time.monotonic()
    analyzer.warm_up()  # before the source opens: a live stream does not wait for set-up
    source.open()
    emit({"event": "started", "source": source.spec, "kind": source.kind, "fps": source.fps, "window": window})
    try:
        for cap in source:
            upd = session.push(cap.frame)
            latency = time.monotonic() - cap.captured
            latencies.append(latency)
            t = cap.frame.time
            for note in source.new_notes():
                emit({"event": "note", "time": t, "message": note})
            for tid in upd.started:
                emit({"event": "identity_started", "time": t, "id": tid})
            for tid in upd.ended:
                emit({"event": "identity_ended", "time": t, **identity_summary(last[tid])} if tid in last
                     else {"event": "identity_ended", "time": t, "id": tid})
            for tr in upd.tracks:
                if tr.label == "fake" and (tr.id not in last or last[tr.id].label != "fake"):
                    emit({"event": "alert", "time": t, **identity_summary(tr), "headline": upd.verdict.headline or ""})
                last[tr.id] = tr
            emit({
                "event": "update", "time": t, "frame": cap.frame.index, "latency_ms": round(latency * 1000, 1),
                "faces": [{"id": f.track_id, "box": f.box, "p_fake": round(f.p_fake, 4)} for f in upd.frame.faces],
                "identities": [identity_summary(tr) for tr in upd.tracks], "verdict": upd.verdict.label,
                "dropped": source.stats.dropped, "sampled": source.stats.sampled,
            })
            if duration is not None and time.monotonic() - t0 >= duration:
                reason = f"--duration {duration:g} s reached"
                break
            if stop is not None and stop():
                reason = "stopped"
                break
    except KeyboardInterrupt:
        reason = "stopped (Ctrl-C)"
    finally:
        source.close()
    reason = reason or source.end_reason or "ended"
    for note in source.new_notes():
        emit({"event": "note", "time": None, "message": note})
    stats = source.stats
    warnings = list(source.notes)
    if stats.sampled:
        warnings.append(f"live: {stats.dropped} of {stats.sampled} sampled frames dropped "
                        f"({stats.dropped_share:.0%}) to keep up; {stats.reconnects} reconnect(s)")
    final = session.finish(warnings=warnings)
    summary = WatchSummary(result=final.result, reason=reason, latencies=latencies, analysed=len(latencies),
                           seconds=time.monotonic() - t0)
    result = final.result
    result.timings.update({k: round(v, 4) for k, v in {
        "live_seconds": summary.seconds, "live_latency_p50": summary.latency(50) or 0.0,
        "live_latency_p95": summary.latency(95) or 0.0, "live_dropped_share": stats.dropped_share,
    }.items()})
    for tid in final.ended:
        tr = next((x for x in result.tracks if x.id == tid), None)
        emit({"event": "identity_ended", "time": None, **(identity_summary(tr) if tr else {"id": tid})})
    p50, p95 = summary.latency(50), summary.latency(95)
    emit({
        "event": "ended", "reason": reason, "analysed": summary.analysed, "sampled": stats.sampled,
        "dropped": stats.dropped, "dropped_share": round(stats.dropped_share, 4), "reconnects": stats.reconnects,
        "latency_ms_p50": None if p50 is None else round(p50 * 1000, 1),
        "latency_ms_p95": None if p95 is None else round(p95 * 1000, 1),
        "verdict": result.verdict.label, "headline": result.verdict.headline or "",
        "identities": [identity_summary(t) for t in result.tracks],
    })
    return summary
