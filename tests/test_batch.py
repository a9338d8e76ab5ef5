"""``fakescope batch``: same verdicts as ``fakescope analyze`` with local workers and on a Ray head,
failure isolation (corrupt, hanging, worker-killing and unreadable inputs), SIGKILL + resume, report.

Inputs are generated from the sample media: short 320-px clips (30 frames) and downscaled images, so
the default tests stay short; the 40-input versions are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FAKESCOPE = [sys.executable, "-m", "fakescope.cli"]
VIDEOS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"]
IMAGES = ["single_face.jpg", "multi_face.jpg", "BWPictureHuman.jpg", "Image_with_alpha.png"]
COMMON = ["--no-report"]


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update({"FAKESCOPE_TCMALLOC": "0", "COLUMNS": "200", "RAY_AUTH_MODE": "disabled",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **extra})  # fmt: skip
    return env


def _run(args, timeout=600, **env) -> subprocess.CompletedProcess:
    return subprocess.run([*FAKESCOPE, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=_env(**env), cwd=ROOT)  # fmt: skip


def _clip(src: Path, dst: Path, start: int, n: int = 30, width: int = 320) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        h = int(round(width * s_in.codec_context.height / s_in.codec_context.width / 2)) * 2
        s = out.add_stream("libx264", rate=15, options={"preset": "ultrafast", "crf": "26", "g": "12"})
        s.width, s.height, s.pix_fmt = width, h, "yuv420p"
        i = k = 0
        for frame in inp.decode(s_in):
            if i >= start:
                f = frame.reformat(width=width, height=h, format="yuv420p")
                f.pts = k
                out.mux(s.encode(f))
                k += 1
                if k == n:
                    break
            i += 1
        out.mux(s.encode(None))


def make_archive(samples: Path, mesonet: Path, dest: Path, n: int) -> list[Path]:
    """``n`` inputs: 320-px clips at several offsets of the sample videos, downscaled images, MesoNet faces."""
    dest.mkdir(parents=True, exist_ok=True)
    faces = sorted(mesonet.rglob("*.jpg"))
    out: list[Path] = []
    offsets = [0, 40, 20, 60, 10, 30, 50, 5]
    r = 0
    while len(out) < n:
        for v in VIDEOS:
            if len(out) >= n:
                break
            p = dest / f"{Path(v).stem}_{offsets[r]:02d}.mp4"
            _clip(samples / v, p, offsets[r])
            out.append(p)
        for img in IMAGES if r == 0 else []:
            if len(out) >= n:
                break
            p = dest / f"{Path(img).stem}.jpg"
            im = Image.open(samples / img).convert("RGB")
            im.thumbnail((480, 480))
            im.save(p, quality=92)
            out.append(p)
        for f in faces if r == 0 else []:
            if len(out) >= n:
                break
            p = dest / f"meso_{f.parent.name}_{f.name}"
            shutil.copy(f, p)
            out.append(p)
        r += 1
    return out


def reference(inputs: list[Path], out: Path) -> dict[str, tuple[str, float | None]]:
    """name → (verdict, score) from ``fakescope analyze`` run on the same inputs."""
    proc = _run(["analyze", *inputs, "--out", out, *COMMON])
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    ref = {}
    for item in summary["inputs"]:
        res = json.loads(Path(item["result"]).read_text())
        ref[Path(item["path"]).name] = (res["verdict"]["label"], res["verdict"]["score"])
    return ref


def rows(out: Path) -> list[dict]:
    db = sqlite3.connect(out / "batch.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM results")]
    except sqlite3.OperationalError:  # the batch is still creating its tables
        return []
    finally:
        db.close()


def assert_same_verdicts(out: Path, ref: dict) -> None:
    by_name = {r["name"]: r for r in rows(out)}
    for name, (label, score) in ref.items():
        r = by_name[name]
        assert r["status"] == "done", (name, r["error"])
        assert r["verdict"] == label, name
        assert (r["score"] is None) == (score is None) and (score is None or abs(r["score"] - score) < 1e-5), name
        res = json.loads((out / r["result_path"]).read_text())  # result.json agrees with its row
        assert res["verdict"]["label"] == label and res["input"]["sha256"] == r["sha256"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _worker_pids(out: Path) -> set[int]:
    return {int(r["worker"].split()[-1]) for r in rows(out) if r["worker"] and r["worker"].startswith("pid ")}


# --------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def archive(samples, mesonet_faces, tmp_path_factory):
    base = tmp_path_factory.mktemp("archive")
    inputs = make_archive(samples, mesonet_faces, base / "in", 10)
    return inputs, reference(inputs, base / "ref")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A local Ray head on 127.0.0.1 (2 CPUs), stopped in teardown with every process it started."""
    pytest.importorskip("ray")
    tmp = tmp_path_factory.mktemp("ray")
    temp_dir = Path("/tmp") / f"fsray{os.getpid()}"  # Ray's socket paths must stay short
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_bin = Path(sys.executable).with_name("ray")
    log = open(tmp / "ray.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
         "--include-dashboard=false", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
         "--temp-dir", str(temp_dir)],
        stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (tmp / "ray.log").read_text():
            assert proc.poll() is None, (tmp / "ray.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "ray head did not start in 120 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops everything it started
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        time.sleep(1)
        left = _procs_with(str(temp_dir))
        for pid in left:  # only processes of this head (their command lines name its temp dir)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"ray processes left behind: {left}"


def _procs_with(text: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace") and _alive(int(d.name)):
                    found.append(int(d.name))
            except OSError:
                pass
    return found


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.slow  # 95 s on 2 cores (the slowest default test); the process engine's agreement with analyze is
# also checked by test_server_engines.py, failure isolation by test_cli.py's batch test
def test_workers_match_analyze_and_isolate_failures(archive, tmp_path):
    inputs, ref = archive
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    (bad / "hang_me.mp4").write_bytes(inputs[0].read_bytes() + b"\0")  # other bytes than its source
    Image.open(inputs[-1]).save(bad / "die_me.png")
    os.mkfifo(bad / "pipe.mp4")
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join([str(inputs[0].parent), "# bad ones", *(str(p) for p in sorted(bad.iterdir()))]))
    out = tmp_path / "batch"
    args = ["batch", listing, "--out", out, "--workers", "2", "--timeout", "20", *COMMON]
    proc = _run(args, FAKESCOPE_FAULTS="hang:hang_me,die:die_me")
    assert proc.returncode == 1, proc.stderr[-3000:]  # some inputs failed; all others are done

    assert_same_verdicts(out, ref)
    by_name = {r["name"]: r for r in rows(out)}
    assert len(by_name) == len(inputs) + 4
    assert by_name["corrupt.mp4"]["status"] == "failed" and "corrupt" in by_name["corrupt.mp4"]["error"]
    assert by_name["hang_me.mp4"]["status"] == "failed" and "timed out after 20 s" in by_name["hang_me.mp4"]["error"]
    die = by_name["die_me.png"]
    assert die["status"] == "failed" and "worker died" in die["error"] and die["attempts"] == 2
    assert by_name["pipe.mp4"]["status"] == "failed" and "not a regular file" in by_name["pipe.mp4"]["error"]

    # a re-run skips everything done (and everything failed): nothing is analysed again
    def analysed() -> dict:
        return {r["sha256"]: (r["finished"], r["worker"]) for r in rows(out) if not r["sha256"].startswith("path:")}

    before = analysed()
    again = _run(args)
    assert "0 analysed" in again.stdout and f"{len(inputs)} already done" in again.stdout, again.stdout
    assert analysed() == before

    rep = _run(["batch-report", out])
    assert rep.returncode == 0, rep.stderr[-2000:]
    csv_lines = (out / "report" / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + len(inputs) + 4
    for name in ("verdicts.png", "scores.png", "slowest.png"):
        assert Image.open(out / "report" / name).size[0] > 100
    if (out / "report" / "results.parquet").exists():
        pq = pytest.importorskip("pyarrow.parquet")
        assert pq.read_table(out / "report" / "results.parquet").num_rows == len(inputs) + 4


def test_sigkill_then_resume(archive, tmp_path):
    inputs, ref = archive
    out = tmp_path / "batch"
    cmd = [*FAKESCOPE, "batch", inputs[0].parent, "--out", out, "--workers", "1", *COMMON]
    proc = subprocess.Popen(list(map(str, cmd)), env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while True:
            done = [r for r in rows(out) if r["status"] == "done"] if (out / "batch.sqlite3").exists() else []
            if len(done) >= 3:
                break
            assert proc.poll() is None and time.monotonic() < deadline, "batch ended or stalled before 3 results"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = {r["sha256"]: r["finished"] for r in rows(out) if r["status"] == "done"}
    assert 3 <= len(killed) < len(inputs)
    time.sleep(2)
    assert not [p for p in _worker_pids(out) if _alive(p)], "a worker outlived its killed batch"

    proc2 = _run(["batch", "--resume", "--out", out, "--workers", "1"])
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    final = rows(out)
    assert len(final) == len(inputs) and all(r["status"] == "done" for r in final)  # exactly one row each
    assert len(list((out / "results").glob("*/result.json"))) == len(inputs)  # and one result.json each
    for r in final:  # finished before the kill: not analysed again
        if r["sha256"] in killed:
            assert r["finished"] == killed[r["sha256"]]
    assert f"{len(killed)} already done" in proc2.stdout, proc2.stdout
    assert_same_verdicts(out, ref)


def test_ray_matches_analyze(archive, ray_head, tmp_path):
    inputs, ref = archive
    out = tmp_path / "batch"
    proc = _run(["batch", inputs[0].parent, "--out", out, "--engine", "ray", "--ray-address", ray_head, *COMMON])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_verdicts(out, ref)
    assert {r["engine"] for r in rows(out)} == {"ray"}
    assert "2 workers" in proc.stdout  # one actor per CPU of the 2-CPU head


@pytest.mark.slow
def test_forty_inputs_workers_and_ray(samples, mesonet_faces, ray_head, tmp_path):
    inputs = make_archive(samples, mesonet_faces, tmp_path / "in", 40)
    assert len(inputs) == 40
    ref = reference(inputs, tmp_path / "ref")
    for engine in (["--workers", "2"], ["--engine", "ray", "--ray-address", ray_head]):
        out = tmp_path / f"batch_{engine[1]}"
        proc = _run(["batch", tmp_path / "in", "--out", out, *engine, *COMMON])
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(rows(out)) == 40
        assert_same_verdicts(out, ref)


def test_settings_round_trip_for_resume():
    """--resume rebuilds the exact AnalyzeConfig from the store (nested dataclasses, tuples, sampling)."""
    from fakescope.archive.store import config_from_dict, settings_hash
    from fakescope.media import Sampling
    from fakescope.pipeline import AnalyzeConfig, config_dict

    other = AnalyzeConfig(band=(0.3, 0.7), explain=("gradcam",), sampling=Sampling.parse("every:3"))
    for cfg in (AnalyzeConfig(), other):
        again = config_from_dict(json.loads(json.dumps(config_dict(cfg), default=str)))
        assert again == cfg and settings_hash(again) == settings_hash(cfg)
    assert settings_hash(AnalyzeConfig()) != settings_hash(AnalyzeConfig(sampling=Sampling.parse("even:64")))
    assert settings_hash(AnalyzeConfig()) == settings_hash(AnalyzeConfig(batch_size=64))  # speed, not results


def test_results_csv_cells_never_start_a_formula(samples, tmp_path):
    """A file named like a spreadsheet formula is written as text (issue 21, item 11)."""
    import csv

    from fakescope.textsafe import csv_cell

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(samples / "single_face.jpg", src / "=HYPERLINK(1).jpg")
    shutil.copy(samples / "single_face.jpg", src / "@plain.jpg")
    out = tmp_path / "batch"
    proc = _run(["batch", src, "--out", out, "--workers", "1", *COMMON])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _run(["batch-report", out]).returncode == 0
    with open(out / "report" / "results.csv", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells), cells
    assert any(c.startswith("'=HYPERLINK") for c in cells) or any("'=HYPERLINK" in c for c in cells), cells
    # identical content under two names: both names are listed, one shared result (issue 21, item 9)
    with open(out / "report" / "results.csv", newline="") as f:
        listed = list(csv.DictReader(f))
    assert sorted(r["name"] for r in listed) == ["'=HYPERLINK(1).jpg", "'@plain.jpg"], listed
    assert len({r["result_path"] for r in listed}) == 1 and sum(bool(r["same_as"]) for r in listed) == 1
    assert csv_cell("-2+3") == "'-2+3" and csv_cell(-0.5) == -0.5 and csv_cell("name.jpg") == "name.jpg"


def test_hostile_list_files_do_not_stop_the_batch(tmp_path):
    """'~nosuchuser/…' lines and cells over csv's 131,072-character limit neither crash nor hide the other
    lines (issue 21, item 8)."""
    from fakescope.archive.sources import expand_sources

    good = tmp_path / "a.jpg"
    good.write_bytes(b"x")
    txt = tmp_path / "list.txt"
    txt.write_text("~nosuchuser_fakescope/clip.mp4\n" + "y" * 200_000 + "\na.jpg\n")
    paths, errors = expand_sources([txt])
    assert good in paths and any("nosuchuser_fakescope" in str(p) for p in paths)
    assert any("item 2 skipped" in msg for _, msg in errors)
    csv_list = tmp_path / "list.csv"
    csv_list.write_text("path\n" + "z" * 140_000 + "\na.jpg\n")
    paths, errors = expand_sources([csv_list])
    assert paths == [good] and len(errors) == 1


def test_one_writer_per_batch_folder_and_clear_store_errors(samples, tmp_path):
    """A second batch on the same --out stops at once with the writer's pid; a damaged store, an --out that
    is a file: one line each, no traceback (issue 21, items 4 and 5)."""
    from fakescope.archive.store import BatchLock, ResultStore

    out = tmp_path / "batch"
    ResultStore(out).close()
    with BatchLock(out):
        proc = _run(["batch", samples / "single_face.jpg", "--out", out, "--workers", "1", *COMMON])
    assert proc.returncode != 0 and f"another batch is writing to {out} (pid {os.getpid()})" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not rows(out)  # the refused run analysed nothing
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "batch.sqlite3").write_bytes(b"not a database at all" * 10)
    for args in (["batch", samples / "single_face.jpg", "--out", tmp_path / "bad", *COMMON],
                 ["batch-report", tmp_path / "bad"]):  # fmt: skip
        proc = _run(args)
        assert proc.returncode != 0 and "damaged or not a fakescope results store" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    (tmp_path / "afile").write_text("x")
    proc = _run(["batch", samples / "single_face.jpg", "--out", tmp_path / "afile", *COMMON])
    assert proc.returncode != 0 and "is not a folder" in proc.stderr and "Traceback" not in proc.stderr
