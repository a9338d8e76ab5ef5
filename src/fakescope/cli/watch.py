"""``fakescope watch``: a camera, a stream or a video call as it happens, with a running verdict per person."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..errors import FakescopeError
from ._common import LABEL_STYLE, _fail, console, err_console, use_installed_weights
from ._options import DEFAULT_MODEL_SPEC, analysis_config

# measured in bench/live.py (bench/RESULTS.md): the rate these 2 cores sustain for one face at 720p with the
# default model, with room to spare for the decoder
DEFAULT_FPS = 5.0


def _identity_row(e: dict) -> list:
    label = e["label"]
    p = "—" if e["p_fake"] is None else f"{e['p_fake']:.2f}"
    if e.get("interval"):
        p += f" [{e['interval'][0]:.2f}–{e['interval'][1]:.2f}]"
    return [f"#{e['id']}", Text(label.upper(), style=LABEL_STYLE.get(label, "")), p, str(e["n_faces"])]


class TerminalView:
    """The rich live table: one row per identity in view, and the session's running numbers."""

    def __init__(self, source: str, window: float, stream) -> None:
        self.source, self.window = source, window
        self.last: dict | None = None
        self.notes: list[str] = []
        self.alerts = 0
        self.live = Live(self._render(), console=stream, refresh_per_second=4, transient=False)

    def _render(self) -> Group:
        t = Table(title=Text(f"fakescope watch · {self.source}"), title_justify="left")
        for col in ("identity", "verdict", "P(fake) [interval]", f"faces (last {self.window:g} s)"):
            t.add_column(Text(col))
        for e in (self.last or {}).get("identities", []):
            t.add_row(*_identity_row(e))
        if self.last and not self.last.get("identities"):
            t.add_row("—", Text("no face in view", style="dim"), "", "")
        return Group(t, self._caption())

    def _caption(self) -> Text:
        if not self.last:
            return Text("waiting for the first frame…", style="dim")
        u = self.last
        line = (f"{u['time']:.1f} s · latency {u['latency_ms']:.0f} ms · {u['frame'] + 1} frames analysed, "
                f"{u['dropped']} dropped · alerts {self.alerts}")
        text = Text(line)
        for note in self.notes[-2:]:
            text.append("\n" + note, style="yellow")
        return text

    def __call__(self, e: dict) -> None:
        if e["event"] == "update":
            self.last = e
        elif e["event"] == "note":
            self.notes.append(e["message"])
        elif e["event"] == "alert":
            self.alerts += 1
        self.live.update(self._render())


class AlertCommand:
    """Runs ``--on-alert CMD`` (split like a shell would, not run by one) with the alert as JSON on stdin;
    never blocks the analysis (each run is reaped in a thread, killed after 30 s)."""

    def __init__(self, cmd: str) -> None:
        self.argv = shlex.split(cmd)
        if not self.argv:
            raise ValueError("--on-alert needs a command")
        self.failed = False

    def __call__(self, event: dict) -> None:
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        except OSError as e:
            if not self.failed:
                err_console.print(f"warning: --on-alert: cannot run {escape(self.argv[0])}: {escape(str(e))}",
                                  highlight=False)
            self.failed = True
            return

        def feed() -> None:
            try:
                proc.communicate(json.dumps(event).encode() + b"\n", timeout=30)
            except (subprocess.TimeoutExpired, OSError):
                proc.kill()

        threading.Thread(target=feed, daemon=True).start()


def watch(
    source: Annotated[str, typer.Argument(help="A camera (/dev/video0), a stream URL (rtsp://, rtmp://, "
                                          "http(s)://….m3u8, udp://, tcp://, srt://) or a video file.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the session's result.json and "
                                             "report.html (default: results/watch-<UTC time>).")] = None,
    fps: Annotated[float, typer.Option(min=0.1, max=60.0, help="Frames analysed per second (a busy analysis "
                                       "drops frames rather than fall behind).")] = DEFAULT_FPS,
    window: Annotated[float, typer.Option(min=1.0, max=3600.0, help="Seconds of faces each running verdict "
                                          "reads (the final verdict reads the whole session).")] = 10.0,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Play a file at its own pace, as a live stream "
                                           "(demos, tests); without it a file is read as fast as analysed.")] = False,
    input_format: Annotated[str | None, typer.Option("--format", help="FFmpeg input format, e.g. v4l2, "
                                                     "x11grab (screen capture); default: guessed.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON event per line on stdout (update, "
                                        "identity_started, identity_ended, alert, note, ended).")] = False,
    on_alert: Annotated[str | None, typer.Option("--on-alert", help="Command run with each alert event as "
                                                 "JSON on its stdin (when an identity turns fake).")] = None,
    reconnects: Annotated[int, typer.Option(min=0, max=100, help="Reopen a failed stream this many times.")] = 3,
    read_timeout: Annotated[float, typer.Option(min=0.5, max=600.0, help="Seconds without data before a stream "
                                                "counts as stalled.")] = 10.0,
    model: Annotated[str, typer.Option(help="Detector model, or an ensemble a,b:TAG.")] = DEFAULT_MODEL_SPEC,
    weights: Annotated[str, typer.Option(help="Weight tag of the model.")] = "default",
    calibration: Annotated[str, typer.Option(help="'default', 'none' or calibration file(s).")] = "default",
    band: Annotated[str | None, typer.Option(help="Uncertain band LOW,HIGH (default: calibration's).")] = None,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="As for analyze (inside the band).")] = 0.5,
    detector: Annotated[str | None, typer.Option(help="Face detector (see `fakescope detectors`).")] = None,
    detect_size: Annotated[int, typer.Option(help="Detect on frames downscaled to this side (0: full).")] = 640,
    backend: Annotated[str, typer.Option(help="Scoring backend: torch or onnx.")] = "torch",
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html at the end.")] = True,
) -> None:
    """Watch a live source: running per-identity verdicts, alerts, and the session's result at the end."""
    from ..live import LiveError, LiveSource
    from ..live import watch as run_watch
    from ..pipeline import Analyzer
    from ..stages import RenderStage

    use_installed_weights()
    try:
        alert_cmd = AlertCommand(on_alert) if on_alert is not None else None
        cfg = analysis_config(model=model, weights=weights, calibration=calibration, band=band, threshold=threshold,
                              detector=detector, detect_size=detect_size, backend=backend, provenance=False)
        live_source = LiveSource(source, fps=fps, realtime=realtime, format=input_format, reconnects=reconnects,
                                 read_timeout=read_timeout)
        if out is None:
            out = Path("results") / time.strftime("watch-%Y%m%d-%H%M%S", time.gmtime())
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file, not a folder")
    except (FakescopeError, ValueError) as e:
        raise _fail(str(e), 2) from None
    try:
        analyzer = Analyzer(cfg)
        analyzer.warm_up()  # before the source opens: a live stream does not wait for set-up
        live_source.open()
    except LiveError as e:
        raise _fail(str(e), 1) from None
    except (FakescopeError, ValueError) as e:
        raise _fail(str(e), 2) from None

    view = None
    if not jsonl and (console.is_terminal or err_console.is_terminal):
        view = TerminalView(source, window, console if console.is_terminal else err_console)

    def on_event(e: dict) -> None:
        if jsonl:
            sys.stdout.write(json.dumps(e, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif view is not None:
            view(e)
        elif e["event"] in ("identity_started", "identity_ended", "alert", "note"):
            err_console.print(_plain(e), highlight=False, markup=False)
        if alert_cmd is not None and e["event"] == "alert":
            alert_cmd(e)

    if view is not None:
        view.live.start()
    try:
        summary = run_watch(live_source, analyzer, window=window, duration=duration, on_event=on_event)
    finally:
        if view is not None:
            view.live.stop()
    result = summary.result
    out.mkdir(parents=True, exist_ok=True)
    RenderStage(annotate=False, report=report)(result, out)
    result.save(out / "result.json")
    _closing(summary, out, jsonl)
    if summary.reason.startswith(("reconnect failed", "read error", "no data")):
        raise typer.Exit(1)  # the source failed: what was seen is saved, but the session did not end by itself


def _plain(e: dict) -> str:
    kind = e["event"]
    at = "" if e.get("time") is None else f"{e['time']:.1f} s: "
    if kind == "note":
        return f"{at}{e['message']}"
    if kind == "identity_started":
        return f"{at}identity #{e['id']} appeared"
    p = "" if e.get("p_fake") is None else f" P(fake) {e['p_fake']:.2f}"
    if kind == "alert":
        return f"{at}ALERT identity #{e['id']} now judged FAKE{p} ({e.get('reason') or ''})"
    return f"{at}identity #{e['id']} left ({e.get('label', '?')}{p})"


def _closing(summary, out: Path, jsonl: bool) -> None:
    from ..live.driver import identity_summary

    r = summary.result
    target = err_console if jsonl else console
    p50, p95 = summary.latency(50), summary.latency(95)
    lat = "" if p50 is None else f"; latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    target.print(f"session ended: {summary.reason} — {summary.analysed} frames analysed in {summary.seconds:.0f} s, "
                 f"{r.timings.get('live_dropped_share', 0.0):.0%} dropped{lat}", highlight=False, markup=False)
    label = r.verdict.label
    target.print(Text.assemble((label.upper(), LABEL_STYLE.get(label, "")), " ", r.verdict.headline or ""))
    for t in r.tracks:
        row = _identity_row(identity_summary(t))
        target.print(Text.assemble(f"  {row[0]} ", row[1], f" {row[2]} from {row[3]} faces"))
    if r.verdict.next_step:
        target.print(f"next: {r.verdict.next_step}", highlight=False, markup=False)
    files = "result.json" + (", report.html" if "report" in r.artifacts else "")
    target.print(f"wrote {out}/ ({files})", highlight=False, markup=False)
