"""HTTP API (issue 6): happy path on a real video, artifacts, every refusal, the queue, restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydantic_settings")

from fastapi.testclient import TestClient  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from fakescope.errors import MediaError  # noqa: E402
from fakescope.schema import AnalysisResult, InputInfo, Settings, Verdict  # noqa: E402
from fakescope.server.deps import get_store  # noqa: E402
from fakescope.server.jobs import RESTART_REASON, JobStore  # noqa: E402
from fakescope.server.main import create_app  # noqa: E402
from fakescope.server.settings import ServerSettings  # noqa: E402

TOKEN = "t0k3n-for-the-tests-0123456789"


# ------------------------------------------------------------------------------------------ helpers


class FakeAnalyzer:
    """Stands in for fakescope.Analyzer: no model; optionally blocks until ``gate`` is set."""

    gate: threading.Event | None = None
    fail_with: Exception | None = None
    started = 0
    warn = False  # add a warning that names the input's path, as the video decoder does

    def __init__(self, config) -> None:
        self.config = config

    def analyze(self, path, progress=None) -> AnalysisResult:
        type(self).started += 1
        if self.fail_with is not None:
            raise self.fail_with
        for i in range(100_000):
            if progress:
                progress(i, None)
            if self.gate is None or self.gate.wait(0.02):
                break
        cfg = self.config
        path = Path(path)
        return AnalysisResult(
            fakescope_version="test",
            input=InputInfo(path=str(path), name=path.name, sha256="0" * 64, size_bytes=path.stat().st_size,
                            kind="video", width=640, height=360),
            settings=Settings(model=cfg.model, weights="df", detector=cfg.detector, sampling=cfg.sampling.describe(),
                              rule=cfg.rule, threshold=cfg.threshold, min_faces=3, margin=0.3, detect_max_side=640,
                              min_face_size=24),
            frames=[],
            tracks=[],
            verdict=Verdict(label="inconclusive", score=None, reason="no face found"),
            timings={},
            warnings=[f"{path}: decoding stopped after 15 frames (Invalid data); the file may be truncated"]
            if self.warn else [],
        )


def fake_factory(gate=None, fail_with=None):
    cls = type("Fake", (FakeAnalyzer,), {"gate": gate, "fail_with": fail_with, "started": 0})
    return cls


def make_client(tmp: Path, factory=FakeAnalyzer, **overrides) -> TestClient:
    kw = {"data_dir": tmp, "ui": False, "annotate": False, "report": False, **overrides}
    return TestClient(create_app(ServerSettings(**kw), analyzer_factory=factory))


def post(client: TestClient, path: Path | None = None, *, data=None, content: bytes | None = None,
         name: str | None = None, headers=None):
    body = content if content is not None else path.read_bytes()
    return client.post("/v1/analyses", files={"file": (name or (path.name if path else "x.bin"), body)},
                       data=data or {}, headers=headers or {})


def wait_done(client: TestClient, job_id: str, timeout: float = 300.0, headers=None) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = client.get(f"/v1/analyses/{job_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished after {timeout} s: {job}")


def job_dirs(tmp: Path) -> list[Path]:
    return [p for p in (tmp / "jobs").iterdir()] if (tmp / "jobs").is_dir() else []


@pytest.fixture
def video(samples) -> Path:
    return samples / "single_face.mp4"


# -------------------------------------------------------------------------- happy path (real model)


def _explainers_ready() -> bool:
    try:
        from fakescope.explainers import list_explainers

        return "gradcam" in list_explainers()
    except ImportError:
        return False


@pytest.fixture(scope="module")
def real_job(tmp_path_factory, samples):
    """One real analysis of the sample video through the API (even:8 frames, gradcam when available)."""
    tmp = tmp_path_factory.mktemp("srv")
    client = TestClient(create_app(ServerSettings(data_dir=tmp, ui=False)))
    with client:
        data = {"frames": "even:8"}
        if _explainers_ready():
            data["explain"] = "gradcam"
        t0 = time.monotonic()
        r = post(client, samples / "single_face.mp4", data=data, name="../../My Clip (1).mp4")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued" and r.headers["location"] == f"/v1/analyses/{r.json()['id']}"
        job = wait_done(client, r.json()["id"])
        yield client, job, tmp, time.monotonic() - t0


def test_happy_path_video(real_job, samples):
    client, job, tmp, _ = real_job
    assert job["status"] == "done", job["error"]
    assert job["filename"] == "My Clip (1).mp4"  # the client's name is metadata only, sanitised
    result = AnalysisResult.model_validate(job["result"])  # the CLI's result.json schema
    assert result.input.path == "input.mp4" and result.input.name == "My Clip (1).mp4"
    assert str(tmp) not in json.dumps(job["result"])  # no server path leaks
    assert result.input.kind == "video" and result.settings.sampling == "even:8"
    assert len(result.frames) == 8
    assert result.verdict.label in ("real", "fake", "uncertain", "inconclusive") and result.verdict.reason
    assert len(result.tracks) >= 1
    for t in result.tracks:
        assert t.n_faces >= 1 and 0.0 <= t.mean_p_fake <= 1.0 and t.label in ("real", "fake", "uncertain")
    # same numbers as the library path the CLI uses
    from fakescope.pipeline import Analyzer

    direct = Analyzer(sampling="even:8").analyze(samples / "single_face.mp4")
    assert result.verdict.label == direct.verdict.label
    assert [(t.id, t.n_faces, t.label) for t in result.tracks] == [(t.id, t.n_faces, t.label) for t in direct.tracks]
    for a, b in zip(result.tracks, direct.tracks, strict=True):
        assert a.mean_p_fake == pytest.approx(b.mean_p_fake, abs=1e-5)
    # the stored result.json is what GET returns
    assert json.loads((tmp / "jobs" / job["id"] / "result.json").read_text()) == job["result"]


def test_artifacts_download(real_job):
    pytest.importorskip("fakescope.render.overlay", reason="renderers (fakescope.render.overlay) not installed yet")
    client, job, _, _ = real_job
    base = f"/v1/analyses/{job['id']}/artifacts"
    names = job["artifacts"]
    assert {"result.json", "report.html", "annotated.mp4"} <= set(names), names
    r = client.get(f"{base}/result.json")
    assert r.status_code == 200 and r.json() == job["result"]
    r = client.get(f"{base}/report.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"] and "<html" in r.text
    r = client.get(f"{base}/annotated.mp4")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content[4:8] == b"ftyp"
    # the whole result folder in one zip (not the upload), and the report as PDF when Chromium is installed
    import io
    import shutil
    import zipfile

    r = client.get(f"{base}/result.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    inside = set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    assert {"result.json", "report.html", "annotated.mp4"} <= inside and not any(n.startswith("input") for n in inside)
    assert {n for n in names if n.startswith("heatmaps/")} <= inside
    if shutil.which("chromium"):
        assert "report.pdf" in names
        r = client.get(f"{base}/report.pdf")
        assert r.status_code == 200 and r.content.startswith(b"%PDF-") and len(r.content) > 10_000
    if _explainers_ready():
        pngs = [n for n in names if n.startswith("heatmaps/") and n.endswith(".png")]
        assert pngs and all(e["overlay"] in names for e in job["result"]["explanations"])
        r = client.get(f"{base}/{pngs[0]}")
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG") and r.headers["content-type"] == "image/png"


TRAVERSALS = [
    "../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/jobs.sqlite3",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "heatmaps/../../../etc/passwd",
    "heatmaps/..%2f..%2f..%2fjobs.sqlite3",
    "..\\..\\etc\\passwd",
    "heatmaps%5c..%5c..%5cjobs.sqlite3",
    "C:\\Windows\\win.ini",
    "input.mp4",  # in the job folder, but not an artifact
    "result.json%00.png",
    "RESULT.JSON",
    "heatmaps/",
    "",
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_artifact_names_are_never_joined_blindly(real_job, name):
    client, job, tmp, _ = real_job
    r = client.get(f"/v1/analyses/{job['id']}/artifacts/{name}")
    assert r.status_code in (400, 404), (name, r.status_code)
    assert b"root:" not in r.content and b"SQLite" not in r.content and r.content[4:8] != b"ftyp"


def test_symlink_escaping_the_job_folder_is_refused(tmp_path, video):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    with make_client(tmp_path / "d") as client:
        job = wait_done(client, post(client, video).json()["id"])
        assert job["artifacts"] == ["result.json", "result.zip"]
        target = tmp_path / "d" / "jobs" / job["id"] / "result.json"
        target.unlink()
        target.symlink_to(secret)
        r = client.get(f"/v1/analyses/{job['id']}/artifacts/result.json")
        assert r.status_code == 404 and b"top secret" not in r.content


def test_artifact_path_refuses_even_a_tampered_artifact_list(tmp_path, video):
    """Defence in depth: a name recorded in the database is still checked by regex and by resolving."""
    with make_client(tmp_path) as client:
        store = client.app.state.store
        job = store.get(wait_done(client, post(client, video).json()["id"])["id"])
        evil = ["../jobs.sqlite3", "/etc/passwd", "heatmaps/../../jobs.sqlite3", "heatmaps/..png", "input.mp4",
                "heatmaps\\..\\x.png", "heatmaps/a/../../result.json"]
        job.artifacts += evil
        assert store.artifact_path(job, "result.json") == (tmp_path / "jobs" / job.id / "result.json").resolve()
        for name in evil:
            assert store.artifact_path(job, name) is None, name


# --------------------------------------------------------------------------------------- refusals


def test_oversized_upload_is_413_while_streaming(tmp_path, video):
    with make_client(tmp_path, max_upload_mb=0.05) as client:  # 51 KiB; the video is ~200 KiB
        r = post(client, video)
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        r = post(client, content=b"\0" * (2 << 20), name="big.mp4")  # declared length over the limit
        assert r.status_code == 413
        assert job_dirs(tmp_path) == [] and client.get("/healthz").json()["in_flight"] == 0
        assert client.get("/v1/analyses").json() == []


def test_wrong_type_is_415(tmp_path, samples):
    with make_client(tmp_path) as client:
        r = post(client, content=b"hello, I am a text file\n" * 50, name="clip.mp4")
        assert r.status_code == 415
        detail = r.json()["detail"]
        assert "\n" not in detail and "clip.mp4" in detail and str(tmp_path) not in detail
        assert job_dirs(tmp_path) == []
        # the bytes decide, not the name: a JPEG called .mp4 is analysed as an image
        r = post(client, samples / "single_face.jpg", name="photo.mp4")
        assert r.status_code == 202
        job = wait_done(client, r.json()["id"])
        assert job["kind"] == "image" and job["status"] == "done"
        assert (tmp_path / "jobs" / job["id"] / "input.jpg").is_file()


def test_not_multipart_is_415_and_missing_file_400(tmp_path):
    with make_client(tmp_path) as client:
        assert client.post("/v1/analyses", content=b"raw", headers={"content-type": "video/mp4"}).status_code == 415
        r = client.post("/v1/analyses", data={"frames": "even:4"}, files={"other": ("a.txt", b"x")})
        assert r.status_code == 400
        assert job_dirs(tmp_path) == []


def test_truncated_video_is_422_with_one_line(tmp_path, video):
    with make_client(tmp_path) as client:
        data = video.read_bytes()
        r = post(client, content=data[: len(data) // 2], name="cut.mp4")
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "\n" not in detail and detail.startswith("cut.mp4:") and "truncated or corrupt" in detail
        assert str(tmp_path) not in detail
        assert job_dirs(tmp_path) == []


def test_failing_analysis_fails_the_job_with_one_line(tmp_path, video):
    # a file that probes fine but breaks while decoding: the job fails with the library's one-line error
    factory = fake_factory(fail_with=None)

    def boom(self, path, progress=None):
        raise MediaError(f"{path}: truncated or corrupt video (frame 12 cannot be decoded:\nInvalid data)")

    factory.analyze = boom
    with make_client(tmp_path, factory=factory) as client:
        job = wait_done(client, post(client, video, name="bad.mp4").json()["id"])
        assert job["status"] == "failed" and job["result"] is None
        assert job["error"] == "bad.mp4: truncated or corrupt video (frame 12 cannot be decoded: Invalid data)"
        assert client.get(f"/v1/analyses/{job['id']}/artifacts/result.json").status_code == 404


def test_warnings_name_no_server_path(tmp_path, video):
    factory = type("Warns", (FakeAnalyzer,), {"warn": True})
    with make_client(tmp_path, factory=factory, report=True) as client:
        job = wait_done(client, post(client, video, name="clip.mp4").json()["id"])
        assert job["status"] == "done" and "report.html" in job["artifacts"]
        assert job["result"]["warnings"] == [
            "clip.mp4: decoding stopped after 15 frames (Invalid data); the file may be truncated"
        ]
        report = client.get(f"/v1/analyses/{job['id']}/artifacts/report.html").text
        assert "decoding stopped after 15 frames" in report
        for text in (json.dumps(job), report):
            assert str(tmp_path) not in text and "/jobs/" not in text


def test_limits_on_duration_and_frames_are_422(tmp_path, video):
    with make_client(tmp_path, max_duration_s=1.0) as client:
        r = post(client, video)
        assert r.status_code == 422 and "lasts 2.4 s" in r.json()["detail"]
    with make_client(tmp_path, max_frames=10) as client:
        r = post(client, video)
        assert r.status_code == 422 and "72 frames" in r.json()["detail"]
    assert job_dirs(tmp_path) == []


@pytest.mark.parametrize(
    "data, word",
    [
        ({"model": "nope"}, "unknown model"),
        ({"frames": "sometimes"}, "frames"),
        ({"threshold": "2"}, "threshold"),
        ({"explain": "gradcam,nope"}, "explain"),
        ({"checkpoint_path": "/etc/passwd"}, "checkpoint_path"),
        ({"model": "xception"}, "no trained weights"),  # registered, but nothing to score with
        ({"explain": "attention_rollout"}, "cannot explain model 'mesoinception4'"),  # a CNN: 422, not 202 + fail
    ],
)
def test_bad_options_are_422(tmp_path, video, data, word):
    with make_client(tmp_path) as client:
        r = post(client, video, data=data)
        assert r.status_code == 422 and word in r.json()["detail"], r.text
        assert job_dirs(tmp_path) == []


def test_unknown_id_is_404(tmp_path):
    with make_client(tmp_path) as client:
        for jid in ("0" * 32, "not-a-job", "..", "%2e%2e"):
            assert client.get(f"/v1/analyses/{jid}").status_code == 404
            assert client.delete(f"/v1/analyses/{jid}").status_code == 404
            assert client.get(f"/v1/analyses/{jid}/artifacts/result.json").status_code == 404


def test_token_required(tmp_path, video):
    with make_client(tmp_path, token=TOKEN) as client:
        assert client.get("/healthz").status_code == 200  # liveness stays open
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": TOKEN}):
            assert client.get("/v1/models", headers=headers).status_code == 401
            r = post(client, video, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert job_dirs(tmp_path) == []
        ok = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/v1/models", headers=ok).status_code == 200
        r = post(client, video, headers=ok)
        assert r.status_code == 202
        assert client.get(f"/v1/analyses/{r.json()['id']}").status_code == 401
        assert wait_done(client, r.json()["id"], headers=ok)["status"] == "done"


def test_full_queue_is_429(tmp_path, video):
    gate = threading.Event()
    factory = fake_factory(gate=gate)
    with make_client(tmp_path, factory=factory, workers=1, queue_size=2) as client:
        ids = []
        for _ in range(3):  # one running, two queued
            r = post(client, video)
            assert r.status_code == 202
            ids.append(r.json()["id"])
        r = post(client, video)
        assert r.status_code == 429 and r.headers["retry-after"] == "5" and "busy" in r.json()["detail"]
        assert len(job_dirs(tmp_path)) == 3
        statuses = [client.get(f"/v1/analyses/{i}").json()["status"] for i in ids]
        assert sorted(statuses) == ["queued", "queued", "running"]
        # deleting a queued job frees its slot
        assert client.delete(f"/v1/analyses/{ids[2]}").status_code == 204
        r = post(client, video)
        assert r.status_code == 202
        ids[2] = r.json()["id"]
        gate.set()
        assert [wait_done(client, i)["status"] for i in ids] == ["done"] * 3
        assert factory.started == 3
        assert client.app.state.store.pool.loads == 1  # one Analyzer for one model/weights/detector
        assert client.get("/healthz").json()["in_flight"] == 0


def test_store_is_a_dependency_tests_can_override(tmp_path, video):
    """The slow analyzer can also be injected by overriding the ``get_store`` dependency."""
    gate = threading.Event()
    store = JobStore(ServerSettings(data_dir=tmp_path / "other", workers=1, queue_size=0, annotate=False,
                                    report=False), fake_factory(gate=gate))
    with make_client(tmp_path / "main") as client:
        client.app.dependency_overrides[get_store] = lambda: store
        assert post(client, video).status_code == 202
        assert post(client, video).status_code == 429
        gate.set()
    store.close()


def test_delete_running_and_done_jobs(tmp_path, video):
    gate = threading.Event()
    with make_client(tmp_path, factory=fake_factory(gate=gate)) as client:
        running = post(client, video).json()["id"]
        end = time.monotonic() + 10
        while client.get(f"/v1/analyses/{running}").json()["status"] != "running" and time.monotonic() < end:
            time.sleep(0.02)
        assert client.delete(f"/v1/analyses/{running}").status_code == 204
        assert client.get(f"/v1/analyses/{running}").status_code == 404
        end = time.monotonic() + 10
        while job_dirs(tmp_path) and time.monotonic() < end:  # the worker stops at its next frame
            time.sleep(0.02)
        assert job_dirs(tmp_path) == [] and client.get("/healthz").json()["in_flight"] == 0
        gate.set()
        done = wait_done(client, post(client, video).json()["id"])
        assert client.delete(f"/v1/analyses/{done['id']}").status_code == 204
        assert job_dirs(tmp_path) == []


def test_job_timeout(tmp_path, video):
    with make_client(tmp_path, factory=fake_factory(gate=threading.Event()), job_timeout_s=0.3) as client:
        job = wait_done(client, post(client, video).json()["id"], timeout=20)
        assert job["status"] == "failed" and job["error"] == "timed out after 0.3 s (job_timeout_s)"


# ---------------------------------------------------------------------------------------- restarts


def test_results_survive_a_restart_and_interrupted_jobs_run_again(tmp_path, video):
    with make_client(tmp_path) as client:
        done = wait_done(client, post(client, video).json()["id"])
        assert done["status"] == "done"
    # jobs another process left behind: running (first and second attempt), queued, queued without upload
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    left = {"a" * 32: ("running", 1), "b" * 32: ("queued", 0), "c" * 32: ("running", 2), "d" * 32: ("queued", 0)}
    for jid, (status, attempts) in left.items():
        db.execute("INSERT INTO jobs (id, status, created, options, filename, attempts) "
                   "VALUES (?, ?, '2024-01-01T00:00:00Z', '{}', 'clip.mp4', ?)", (jid, status, attempts))
        if jid != "d" * 32:
            (tmp_path / "jobs" / jid).mkdir(parents=True)
            (tmp_path / "jobs" / jid / "input.mp4").write_bytes(video.read_bytes())
    (tmp_path / "jobs" / ("a" * 32) / "heatmaps").mkdir()  # half-written outputs of the interrupted run
    db.commit()
    db.close()
    with make_client(tmp_path) as client:
        again = client.get(f"/v1/analyses/{done['id']}").json()
        assert again["status"] == "done" and again["result"] == done["result"]
        assert client.get(f"/v1/analyses/{done['id']}/artifacts/result.json").json() == done["result"]
        assert wait_done(client, "a" * 32)["status"] == "done"  # retried once
        assert wait_done(client, "b" * 32)["status"] == "done"  # queued: simply runs
        job = wait_done(client, "c" * 32)  # interrupted on its retry too: fails with the reason
        assert job["status"] == "failed" and job["error"].startswith(RESTART_REASON) and "2 times" in job["error"]
        job = wait_done(client, "d" * 32)
        assert job["status"] == "failed" and "upload is gone" in job["error"] and job["finished"]
        assert client.get("/healthz").json()["in_flight"] == 0


_RESTART_SERVER = """
import os, sys, time
sys.path.insert(0, {tests!r})
import uvicorn
from test_server_api import FakeAnalyzer
from fakescope.server.main import create_app
from fakescope.server.settings import ServerSettings

class Gated(FakeAnalyzer):
    def analyze(self, path, progress=None):
        while not os.path.exists({gate!r}):
            time.sleep(0.05)
        return super().analyze(path, progress)

settings = ServerSettings(data_dir={data!r}, ui=False, annotate=False, report=False, workers=1, queue_size=4)
uvicorn.run(create_app(settings, analyzer_factory=Gated), host="127.0.0.1", port={port}, log_level="warning")
"""


def test_sigkill_with_running_and_queued_jobs_finishes_all_after_restart(tmp_path, video):
    """kill -9 of a server with one running and two queued jobs: the next server finishes all three."""
    import signal
    import socket
    import subprocess
    import sys

    httpx = pytest.importorskip("httpx")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "server.py"
    script.write_text(_RESTART_SERVER.format(tests=str(Path(__file__).parent), gate=str(tmp_path / "open"),
                                             data=str(tmp_path / "data"), port=port))
    base = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(script)])
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "the server exited"
            time.sleep(0.2)
        proc.kill()
        raise AssertionError("the server did not start")

    proc = start()
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            ids = [c.post("/v1/analyses", files={"file": ("clip.mp4", video.read_bytes())}).json()["id"]
                   for _ in range(3)]
            end = time.monotonic() + 20
            while c.get(f"/v1/analyses/{ids[0]}").json()["status"] != "running" and time.monotonic() < end:
                time.sleep(0.05)
            assert [c.get(f"/v1/analyses/{i}").json()["status"] for i in ids] == ["running", "queued", "queued"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        (tmp_path / "open").touch()
        proc = start()
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in ids:
                end = time.monotonic() + 60
                while (job := c.get(f"/v1/analyses/{i}").json())["status"] in ("queued", "running"):
                    assert time.monotonic() < end, job
                    time.sleep(0.1)
                assert job["status"] == "done", job
    finally:
        proc.kill()
        proc.wait(10)


# ---------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_non_loopback_bind_without_token_is_refused(tmp_path, host):
    with pytest.raises(ValidationError, match="without a token"):
        ServerSettings(data_dir=tmp_path, host=host)
    with pytest.raises(ValidationError, match="at least 16"):
        ServerSettings(data_dir=tmp_path, host=host, token="short")
    assert ServerSettings(data_dir=tmp_path, host=host, token=TOKEN).host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(tmp_path, host):
    s = ServerSettings(data_dir=tmp_path, host=host)
    assert s.token is None and s.db_path == tmp_path.resolve() / "jobs.sqlite3"


def test_settings_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FAKESCOPE_MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("FAKESCOPE_HOST", "0.0.0.0")
    with pytest.raises(ValidationError):
        ServerSettings()
    monkeypatch.setenv("FAKESCOPE_TOKEN", TOKEN)
    s = ServerSettings()
    assert s.max_upload_bytes == 3 << 20 and s.data_dir == tmp_path.resolve()
    assert TOKEN not in repr(s)  # a secret, not printed


def test_meta_endpoints(tmp_path):
    with make_client(tmp_path) as client:
        models = client.get("/v1/models").json()
        assert any(m["name"] == "mesoinception4" and "df" in m["weights"] for m in models)
        runnable = {m["name"] for m in models if m["runnable"]}
        assert {"meso4", "mesoinception4", "sbi_mobilenetv2"} <= runnable and "xception" not in runnable
        assert all(m["summary"] for m in models)
        from fakescope.faces import DEFAULT_FACE_DETECTOR, list_face_detectors
        from fakescope.rules import list_rules

        explainers = client.get("/v1/explainers").json()
        if _explainers_ready():
            from fakescope.explainers import list_explainers

            assert [e["name"] for e in explainers] == list_explainers()
            gradcam = next(e for e in explainers if e["name"] == "gradcam")
            assert gradcam["family"] == "cam" and gradcam["value_range"] and "Selvaraju" in gradcam["paper"]
        rules = client.get("/v1/rules").json()
        assert [r["name"] for r in rules] == list_rules() and all(r["description"] for r in rules)
        detectors = client.get("/v1/detectors").json()
        assert [d["name"] for d in detectors] == list_face_detectors()
        assert [d["name"] for d in detectors if d["default"]] == [DEFAULT_FACE_DETECTOR]
        assert next(d for d in detectors if d["name"] == "haar")["landmarks"] == 0
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["capacity"] == 5
        spec = client.get("/openapi.json").json()
        assert "multipart/form-data" in spec["paths"]["/v1/analyses"]["post"]["requestBody"]["content"]


# ------------------------------------------------------------------------------- over a real socket


def test_refusals_reach_a_real_client(tmp_path, video):
    """Over TCP, a refused upload's client reads the 4xx (the body is drained), not a connection reset."""
    httpx = pytest.importorskip("httpx")
    uvicorn = pytest.importorskip("uvicorn")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gate = threading.Event()
    settings = ServerSettings(data_dir=tmp_path, ui=False, annotate=False, report=False, workers=1, queue_size=0,
                              max_upload_mb=4, token=TOKEN)
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, analyzer_factory=fake_factory(gate=gate)),
                                        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.02)
    ok = {"Authorization": f"Bearer {TOKEN}"}
    big = b"\0" * (3 << 20)  # under the limit
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            def send(body: bytes, headers: dict) -> httpx.Response:
                return c.post("/v1/analyses", files={"file": ("a.mp4", video.read_bytes() + body)}, headers=headers)

            for _ in range(3):
                assert send(big, {}).status_code == 401
            assert send(b"", ok).status_code == 202  # takes the only slot (the analyzer waits on the gate)
            for _ in range(3):
                r = send(big, ok)
                assert r.status_code == 429 and r.headers["retry-after"] == "5"
            gate.set()
            end = time.monotonic() + 10
            while c.get("/healthz").json()["in_flight"] and time.monotonic() < end:
                time.sleep(0.05)
            for _ in range(3):
                assert send(b"\0" * (6 << 20), ok).status_code == 413
    finally:
        gate.set()
        srv.should_exit = True
        thread.join(10)


def test_cli_serve_refuses_a_public_bind_without_token(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fakescope.cli import app

    monkeypatch.delenv("FAKESCOPE_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "without a token" in r.output
    assert not (tmp_path / "jobs.sqlite3").exists()


def test_web_app_needs_the_token(tmp_path):
    pytest.importorskip("gradio")
    with make_client(tmp_path, ui=True, token=TOKEN) as client:
        assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
        assert client.get("/ui/config").status_code == 401
        assert client.post("/ui/login", data={"username": "me", "password": "wrong"}).status_code == 400
        assert client.post("/ui/login", data={"username": "me", "password": TOKEN}).status_code == 200
        assert client.get("/ui/config").status_code == 200


# ------------------------------------------------------------------------- slow and vanishing clients


def _serve_in_thread(settings, factory):
    """uvicorn on 127.0.0.1 in a thread; its log records reach pytest's caplog (log_config=None)."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, analyzer_factory=factory), host="127.0.0.1", port=port,
                                        log_config=None, log_level="info"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.02)
    return srv, thread, port


def _stalled_upload(port: int, declared: int = 10_000_000):
    """A raw client that declares a 10 MB multipart body, sends 1 KiB of it and stalls."""
    import socket

    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    s.sendall(b"POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b0undary\r\n"
              + f"Content-Length: {declared}\r\n\r\n".encode() + head + b"\0" * 1024)
    return s


def test_stalled_uploads_hold_no_job_slot_and_time_out(tmp_path, video, caplog):
    """Five clients stalling mid-body (capacity 2) do not make a normal upload 429; they get 408 after the
    idle timeout; a client that vanishes mid-body is one log line, no traceback."""
    import logging

    httpx = pytest.importorskip("httpx")
    caplog.set_level(logging.INFO)
    settings = ServerSettings(data_dir=tmp_path, ui=False, annotate=False, report=False, workers=1, queue_size=1,
                              upload_idle_timeout_s=2.0)
    srv, thread, port = _serve_in_thread(settings, FakeAnalyzer)
    stalled = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            stalled = [_stalled_upload(port) for _ in range(5)]
            end = time.monotonic() + 5
            while c.get("/healthz").json()["uploading"] < 5 and time.monotonic() < end:
                time.sleep(0.02)
            health = c.get("/healthz").json()
            assert health["uploading"] == 5 and health["in_flight"] == 0  # counted apart from job slots
            t0 = time.monotonic()
            r = c.post("/v1/analyses", files={"file": ("clip.mp4", video.read_bytes())})
            assert r.status_code == 202, r.text
            assert time.monotonic() - t0 < 2.0  # answered before the stalled ones time out
            assert wait_done(c, r.json()["id"])["status"] == "done"
            for s in stalled:  # the idle timeout answers each stalled client with 408 and closes
                reply = s.recv(4096)
                assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
            assert c.get("/healthz").json()["uploading"] == 0
            assert not list((tmp_path / "uploads").iterdir())
            caplog.clear()
            gone = _stalled_upload(port)  # a client that goes away mid-body
            time.sleep(0.3)
            gone.close()
            end = time.monotonic() + 5
            while c.get("/healthz").json()["uploading"] and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.2)
            assert c.get("/healthz").json()["uploading"] == 0
    finally:
        for s in stalled:
            s.close()
        srv.should_exit = True
        thread.join(10)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert [r for r in caplog.records if "disconnected" in r.getMessage()]


def test_status_shows_stage_progress_and_queue_position(tmp_path, video):
    gate = threading.Event()
    with make_client(tmp_path, factory=fake_factory(gate=gate), workers=1, queue_size=3) as client:
        ids = [post(client, video).json()["id"] for _ in range(3)]
        end = time.monotonic() + 10
        while not (first := client.get(f"/v1/analyses/{ids[0]}").json())["progress"] and time.monotonic() < end:
            time.sleep(0.02)
        assert first["status"] == "running" and first["queue_position"] is None
        assert first["progress"]["stage"] == "detect" and first["progress"]["text"].startswith("Finding faces")
        assert [client.get(f"/v1/analyses/{i}").json()["queue_position"] for i in ids[1:]] == [1, 2]
        assert client.delete(f"/v1/analyses/{ids[1]}").status_code == 204  # cancel a queued job
        assert client.get(f"/v1/analyses/{ids[2]}").json()["queue_position"] == 1
        gate.set()
        assert wait_done(client, ids[2])["status"] == "done"


def test_web_app_session_going_away_cancels_its_jobs(tmp_path, video):
    pytest.importorskip("gradio")
    gate = threading.Event()
    from fakescope.server.jobs import AnalysisOptions
    from fakescope.server.webapp import SessionJobs

    with make_client(tmp_path, factory=fake_factory(gate=gate), workers=1, queue_size=2) as client:
        store = client.app.state.store
        sessions = SessionJobs(store)  # what the web app's unload event and Cancel button call

        a, b = (store.submit_file(video, "clip.mp4", AnalysisOptions()) for _ in range(2))
        sessions.add("tab-1", a.id)
        sessions.add("tab-1", b.id)
        keep = post(client, video).json()["id"]  # another client's job is not touched
        end = time.monotonic() + 10
        while store.get(a.id).status != "running" and time.monotonic() < end:
            time.sleep(0.02)
        assert sessions.close("tab-1") == 2
        assert store.get(a.id) is None and store.get(b.id) is None
        gate.set()
        assert wait_done(client, keep)["status"] == "done"
