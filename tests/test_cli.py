"""The `fakescope` command: exit codes, outputs, and bad input in a batch."""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_models_and_detectors_and_rules_list():
    r = run("models")
    assert r.exit_code == 0
    assert "mesoinception4" in r.output and "meso4" in r.output and "256px" in r.output
    assert "Apache-2.0" in r.output
    r = run("detectors")
    assert r.exit_code == 0 and "yunet" in r.output and "(default)" in r.output
    r = run("rules")
    assert r.exit_code == 0 and "confident" in r.output


def test_analyze_writes_results_and_summary(samples, tmp_path):
    out = tmp_path / "out"
    r = run("analyze", samples / "multi_face.jpg", samples / "no_face.mp4", "--out", out)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "multi_face" / "result.json").read_text())
    assert sum(len(f["faces"]) for f in res["frames"]) == 5
    nf = json.loads((out / "no_face" / "result.json").read_text())
    assert nf["verdict"]["label"] == "inconclusive"
    summary = json.loads((out / "summary.json").read_text())
    assert [i["status"] for i in summary["inputs"]] == ["ok", "ok"]
    assert "inconclusive" in r.output and "no face found" in r.output


def _make_bad_inputs(d, samples):
    """Every kind of bad input the issue lists, plus good files that must survive the batch."""
    bad = {}
    (d / "empty.mp4").write_bytes(b"")
    bad["empty.mp4"] = "empty"
    (d / "notes.mp4").write_text("this is not a video\n" * 20)
    bad["notes.mp4"] = "not a supported"
    data = (samples / "single_face.mp4").read_bytes()
    assert data.find(b"moov") > len(data) // 2  # its index is at the end: half the file has none
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    bad["truncated.mp4"] = "truncated or corrupt"
    with av.open(str(d / "audio_only.mp4"), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for i in range(10):
            frame.pts = i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    bad["audio_only.mp4"] = "no video stream"
    (d / "model.h5").write_bytes(b"")  # not a media extension: ignored when the folder is expanded
    return bad


def _faststart_cut(src, dst, keep):
    """``src`` remuxed with its index (moov) first, then cut to ``keep`` of its bytes."""
    tmp = dst.with_suffix(".full.mp4")
    with av.open(str(src)) as i, av.open(str(tmp), "w", options={"movflags": "faststart"}) as o:
        stream = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.dts is not None:
                p.stream = stream
                o.mux(p)
    data = tmp.read_bytes()
    tmp.unlink()
    assert data.find(b"moov") < data.find(b"mdat")
    dst.write_bytes(data[: int(len(data) * keep)])


def test_batch_keeps_good_results_and_reports_each_bad_file(samples, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    bad = _make_bad_inputs(d, samples)
    shutil.copy(samples / "single_face.jpg", d / "good.jpg")
    _faststart_cut(samples / "single_face.mp4", d / "cut_faststart.mp4", 0.6)
    Image.open(samples / "single_face.jpg").convert("L").save(d / "gray.png")
    Image.new("RGBA", (8000, 8000), (120, 50, 30, 128)).save(d / "huge_alpha.png")
    empty_dir = tmp_path / "nothing_here"
    empty_dir.mkdir()
    out = tmp_path / "out"
    r = run("analyze", d, empty_dir, tmp_path / "missing.mp4", "--out", out)
    assert r.exit_code == 1, r.output
    summary = {i["path"].split("/")[-1]: i for i in json.loads((out / "summary.json").read_text())["inputs"]}
    for name, cause in bad.items():
        assert summary[name]["status"] == "error"
        err = summary[name]["error"]
        assert name in err and cause in err and "\n" not in err
    assert summary["missing.mp4"]["status"] == "error" and "no such file" in summary["missing.mp4"]["error"]
    assert summary["nothing_here"]["status"] == "error" and "no images or videos" in summary["nothing_here"]["error"]
    for good in ("good.jpg", "gray.png", "huge_alpha.png"):
        assert summary[good]["status"] == "ok", summary[good]
    assert json.loads((out / "good" / "result.json").read_text())["verdict"]["label"] in ("real", "fake", "uncertain")
    huge = json.loads((out / "huge_alpha" / "result.json").read_text())
    assert (huge["input"]["width"], huge["input"]["height"]) == (8000, 8000)
    assert huge["verdict"]["label"] == "inconclusive"  # a flat colour has no face
    # a clip whose index comes first, cut at 60 %: the frames before the cut are analysed, with a warning
    cut = summary["cut_faststart.mp4"]
    assert cut["status"] == "ok", cut
    res = json.loads((out / "cut_faststart" / "result.json").read_text())
    assert len(res["warnings"]) == 1 and "video ended after 31 of 72 frames" in res["warnings"][0]
    assert len(res["frames"]) < 32 and max(f["index"] for f in res["frames"]) == 30


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "mesonet4"], "unknown model 'mesonet4'"),
        (["--weights", "ff++"], "has no weights 'ff++'"),
        (["--detector", "yunett"], "did you mean 'yunet'"),
        (["--rule", "avg"], "unknown verdict rule"),
        (["--frames", "some"], "bad sampling"),
        (["--model", "xception"], "ships no trained weights"),
        (["--explain", "gradcamm"], "unknown explainer"),
        (["--explain", "gradcam", "-E", "n_steps=3"], "'n_steps' is not accepted by gradcam"),
        (["-E", "bf16=true"], "--explain-option needs explanation methods"),
    ],
)
def test_usage_errors_exit_2(samples, tmp_path, args, message):
    r = run("analyze", samples / "single_face.jpg", "--out", tmp_path, *args)
    assert r.exit_code == 2
    assert message in r.output
    assert not (tmp_path / "summary.json").exists()


def test_corrupt_checkpoint_exit_2(samples, tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(300))
    r = run("analyze", samples / "single_face.jpg", "--out", tmp_path / "o", "--checkpoint", bad)
    assert r.exit_code == 2
    assert "broken.h5" in r.output
    assert len([line for line in r.output.splitlines() if "error" in line]) == 1


def test_console_script_runs_as_a_process(samples, tmp_path):
    """The installed entry point: real process, real exit code."""
    p = subprocess.run(
        [sys.executable, "-m", "fakescope.cli", "analyze", str(samples / "single_face.jpg"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "single_face" / "result.json").is_file()
    p = subprocess.run([sys.executable, "-m", "fakescope.cli", "analyze"], capture_output=True, text=True)
    assert p.returncode == 2


def test_console_script_preloads_tcmalloc(tmp_path):
    """The installed `fakescope` re-executes itself under tcmalloc when the system has it (3× faster
    eager forwards here, bench/RESULTS.md); FAKESCOPE_TCMALLOC=0 keeps the system allocator."""
    from fakescope._alloc import find_tcmalloc

    exe = shutil.which("fakescope", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the fakescope console script is not installed next to this interpreter")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKESCOPE_TCMALLOC")}

    def allocator(**extra):
        p = subprocess.run([exe, "info", "--json"], capture_output=True, text=True, timeout=120, env={**env, **extra})
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)["allocator"]

    # expected from the dynamic linker's own list, not from the code under test
    installed = ctypes.util.find_library("tcmalloc_minimal") or ctypes.util.find_library("tcmalloc")
    assert allocator() == ("tcmalloc" if installed else "system")
    assert (find_tcmalloc() is not None) == bool(installed)
    assert allocator(FAKESCOPE_TCMALLOC="0") == "system"
    # a failing command keeps its exit code and one-line error through the re-exec
    p = subprocess.run([exe, "analyze", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode != 0 and "missing.mp4" in p.stderr + p.stdout


def test_threshold_outside_the_band_is_a_usage_error(tmp_path, samples):
    """Exit 2 with the allowed range before any input is read, in analyze and in batch (issue 22, item 5)."""
    from typer.testing import CliRunner

    from fakescope.cli import app

    runner = CliRunner()
    photo = samples / "multi_face.jpg"
    r = runner.invoke(app, ["analyze", str(photo), "--threshold", "0.2", "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "outside the allowed range 0.35–0.65" in r.output, r.output
    assert not (tmp_path / "a").exists()
    r = runner.invoke(app, ["batch", str(photo), "--threshold", "0.7", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "outside the allowed range 0.35–0.65" in r.output, r.output
    assert not (tmp_path / "b" / "batch.sqlite3").exists()
    # the band and the rule move the range
    r = runner.invoke(app, ["analyze", str(photo), "--threshold", "0.2", "--band", "0.1,0.9", "--no-report",
                            "--out", str(tmp_path / "c")])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["analyze", str(photo), "--threshold", "0.2", "--rule", "mean", "--no-report",
                            "--out", str(tmp_path / "d")])  # fmt: skip
    assert r.exit_code == 0, r.output
