"""`fakescope watch` end to end: a real clip streamed in real time to a local TCP address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.live.replay import replay_process

runner = CliRunner()


def test_watch_a_tcp_stream_prints_jsonl_and_saves_the_session(samples, tmp_path):
    clip = samples / "single_face.mp4"
    port = free_port()
    sender = replay_process(clip, f"tcp://127.0.0.1:{port}?listen=1", loops=2)
    exe = Path(sys.executable).with_name("fakescope")
    try:
        p = subprocess.run([str(exe), "watch", f"tcp://127.0.0.1:{port}", "--jsonl", "--out", str(tmp_path / "s")],
                           capture_output=True, text=True, timeout=180)
    finally:
        sender.kill()
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]  # stdout holds nothing but events
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "ended" and "identity_started" in kinds
    updates = [e for e in events if e["event"] == "update"]
    assert len(updates) >= 5 and all(u["latency_ms"] > 0 and u["faces"] for u in updates)
    assert updates[-1]["identities"][0]["label"] in ("real", "fake", "uncertain")
    saved = json.loads((tmp_path / "s" / "result.json").read_text())
    assert saved["verdict"]["label"] == events[-1]["verdict"] and saved["tracks"][0]["n_faces"] == len(updates)
    assert (tmp_path / "s" / "report.html").stat().st_size > 1000
    assert "session ended: end of stream" in p.stderr and "wrote" in p.stderr
    # the final verdicts agree with `fakescope analyze` on the same clip (its defaults, in this process)
    from fakescope.pipeline import Analyzer

    batch = Analyzer().analyze(clip)
    assert [(t["id"], t["label"]) for t in saved["tracks"]] == [(t.id, t.label) for t in batch.tracks]
    assert saved["verdict"]["label"] == batch.verdict.label


def test_alerts_run_the_on_alert_command_and_plain_lines_without_a_terminal(samples, tmp_path):
    from fakescope.calibration import Calibration

    got = tmp_path / "alert.json"
    cmd = f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write(sys.stdin.read())\" {got}"
    # calibrations that call every face fake (log-odds ≈ 8, clipped to 5), so that the identity turns fake
    cals = [Calibration(model=m, method="platt", slope=1e-6, intercept=8.0).save(tmp_path / f"{m}.json")
            for m in ("mesoinception4", "meso4")]
    r = runner.invoke(app, ["watch", str(samples / "single_face.mp4"), "--fps", "10", "--calibration",
                            ",".join(map(str, cals)), "--on-alert", cmd, "--out", str(tmp_path / "s"), "--no-report"])
    assert r.exit_code == 0, r.output
    assert "ALERT identity #0 now judged FAKE" in r.output and "identity #0 appeared" in r.output
    assert "session ended: end of file — 24 frames analysed" in r.output
    import time

    for _ in range(100):  # the command runs in the background
        if got.exists() and got.read_text():
            break
        time.sleep(0.1)
    alert = json.loads(got.read_text())
    assert alert["event"] == "alert" and alert["id"] == 0 and alert["label"] == "fake"
    assert not (tmp_path / "s" / "report.html").exists() and (tmp_path / "s" / "result.json").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["tcp://127.0.0.1:{port}"], 1, "cannot open"),
        (["gopher://host/x"], 2, "unknown stream scheme"),
        (["/nonexistent.mp4"], 1, "/nonexistent.mp4: no such file"),
        (["clip.mp4", "--on-alert", " "], 2, "--on-alert needs a command"),
        (["clip.mp4", "--threshold", "0.9"], 2, "threshold"),
    ],
)
def test_bad_sources_and_options_get_one_line_errors(args, code, message):
    args = [a.format(port=free_port()) for a in args]
    r = runner.invoke(app, ["watch", *args])
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output


def test_out_naming_a_file_is_a_usage_error(samples, tmp_path):
    (tmp_path / "f").write_text("x")
    r = runner.invoke(app, ["watch", str(samples / "single_face.mp4"), "--out", str(tmp_path / "f")])
    assert r.exit_code == 2 and "is a file, not a folder" in r.output


@pytest.mark.slow  # the same stall at the API level is in the default run (test_live.py)
def test_a_stream_that_stalls_exits_1_with_its_results_saved(samples, tmp_path):
    port = free_port()
    sender = replay_process(samples / "WolfgangLanger_Pexels.mp4", f"tcp://127.0.0.1:{port}?listen=1",
                            stall_at=1.5, stall_for=30)
    try:
        r = runner.invoke(app, ["watch", f"tcp://127.0.0.1:{port}", "--read-timeout", "1", "--reconnects", "0",
                                "--out", str(tmp_path / "s"), "--no-report"])
    finally:
        sender.kill()
    assert r.exit_code == 1, r.output
    assert "stalled" in r.output and "Traceback" not in r.output
    saved = json.loads((tmp_path / "s" / "result.json").read_text())
    assert saved["frames"] and any("stalled" in w for w in saved["warnings"])


def test_the_terminal_view_shows_identities_verdicts_and_latency():
    import io

    from rich.console import Console

    from fakescope.cli.watch import TerminalView

    out = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    view = TerminalView("tcp://127.0.0.1:9/[bold]x[/bold]", 10.0, out)
    out.print(view._render())
    assert "waiting for the first frame" in out.file.getvalue()
    view({"event": "note", "time": 1.0, "message": "tcp://x: the picture changed size from 1×1 to 2×2 at 1.0 s"})
    view({"event": "alert", "time": 1.2, "id": 3})
    view({"event": "update", "time": 1.2, "frame": 5, "latency_ms": 87.4, "dropped": 2, "faces": [],
          "identities": [{"id": 3, "label": "fake", "p_fake": 0.91, "interval": [0.8, 0.97], "n_faces": 6,
                          "reason": ""}]})
    out.print(view._render())
    text = out.file.getvalue()
    assert "#3" in text and "FAKE" in text and "0.91 [0.80–0.97]" in text and "P(fake) [interval]" in text
    assert "latency 87 ms" in text and "6 frames analysed, 2 dropped" in text and "alerts 1" in text
    assert "picture changed size" in text and "[bold]x[/bold]" in text  # remote text printed literally
