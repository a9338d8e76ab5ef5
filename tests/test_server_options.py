"""HTTP API with the real analyzer (issue 16): every analysis option of ``POST /v1/analyses`` takes
effect, and the token, symlink, 415 and restart checks hold for real results (about a second each on
the one-face photo).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydantic_settings")

from fastapi.testclient import TestClient  # noqa: E402

from fakescope import Analyzer  # noqa: E402
from fakescope.server.main import create_app  # noqa: E402
from fakescope.server.settings import ServerSettings  # noqa: E402

TOKEN = "t0k3n-for-the-tests-0123456789"


def client_for(tmp: Path, **overrides) -> TestClient:
    kw = {"data_dir": tmp, "ui": False, "annotate": False, "report": False, **overrides}
    return TestClient(create_app(ServerSettings(**kw)))  # the real analyzer


def submit(client, path: Path, data=None, headers=None, name=None) -> dict:
    r = client.post("/v1/analyses", files={"file": (name or path.name, path.read_bytes())}, data=data or {},
                    headers=headers or {})
    assert r.status_code == 202, r.text
    return wait(client, r.json()["id"], headers)


def wait(client, job_id: str, headers=None, timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/analyses/{job_id}", headers=headers or {}).json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job["error"]
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not done")


def faces(result: dict) -> list[dict]:
    return [f for fr in result["frames"] for f in fr["faces"]]


@pytest.fixture(scope="module")
def photo(samples) -> Path:
    return samples / "multi_face.jpg"


@pytest.fixture(scope="module")
def direct(photo):
    return Analyzer().analyze(photo)


def test_every_analysis_option_takes_effect(tmp_path, photo, direct, samples):
    with client_for(tmp_path) as client:
        default = submit(client, photo)["result"]
        assert default["settings"]["rule"] == "calibrated" and default["artifacts"] == {}
        assert [f["logit"] for f in faces(default)] == pytest.approx([f.logit for fr in direct.frames
                                                                     for f in fr.faces], abs=1e-5)
        job = submit(client, photo, data={"model": "meso4", "detector": "centerface", "rule": "mean",
                                          "threshold": "0.0", "explain": "saliency", "explain_per_track": "1",
                                          "annotate": "true"})
        res, opts = job["result"], job["options"]
        assert (opts["model"], opts["detector"], opts["rule"], opts["threshold"]) == ("meso4", "centerface", "mean",
                                                                                       0.0)
        s = res["settings"]
        assert (s["model"], s["detector"], s["rule"], s["threshold"]) == ("meso4", "centerface", "mean", 0.0)
        assert {t["label"] for t in res["tracks"]} == {"fake"}  # threshold 0
        assert all(t["reason"].startswith("mean p_fake") for t in res["tracks"])
        assert abs(faces(res)[0]["logit"] - faces(default)[0]["logit"]) > 1e-3  # another model scored it
        assert len(res["explanations"]) == len(res["tracks"]) == 5  # one face explained per identity
        assert {e["method"] for e in res["explanations"]} == {"saliency"}
        assert res["artifacts"]["annotated"] == "annotated.png" and "annotated.png" in job["artifacts"]
        assert client.get(f"/v1/analyses/{job['id']}/artifacts/annotated.png").content.startswith(b"\x89PNG")
        # weights "none": an untrained model; min_faces and frames on a video
        untrained = submit(client, photo, data={"weights": "none", "min_faces": "2"})["result"]
        assert untrained["settings"]["weights"] is None and untrained["settings"]["min_faces"] == 2
        assert {t["label"] for t in untrained["tracks"]} == {"uncertain"}
        assert all(t["too_few_faces"] for t in untrained["tracks"])
        clip = submit(client, samples / "single_face.mp4", data={"frames": "every:24", "min_faces": "4"})["result"]
        assert clip["settings"]["sampling"] == "every:24" and [f["index"] for f in clip["frames"]] == [0, 24, 48]
        assert clip["tracks"][0]["label"] == "uncertain" and "at least 4 needed" in clip["tracks"][0]["reason"]


def test_server_default_frames_setting(tmp_path, samples):
    with client_for(tmp_path, default_frames="even:2") as client:
        res = submit(client, samples / "single_face.mp4")["result"]
        assert res["settings"]["sampling"] == "even:2" and [f["index"] for f in res["frames"]] == [0, 71]


def test_token_with_a_real_analysis(tmp_path, samples):
    ok = {"Authorization": f"Bearer {TOKEN}"}
    with client_for(tmp_path, token=TOKEN) as client:
        r = client.post("/v1/analyses", files={"file": ("a.jpg", (samples / "single_face.jpg").read_bytes())})
        assert r.status_code == 401
        assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir())
        job = submit(client, samples / "single_face.jpg", headers=ok)
        assert job["result"]["verdict"]["label"] in ("real", "fake", "uncertain") and len(faces(job["result"])) == 1
        assert client.get(f"/v1/analyses/{job['id']}/artifacts/result.json").status_code == 401
        assert client.get(f"/v1/analyses/{job['id']}/artifacts/result.json", headers=ok).json() == job["result"]


def test_symlinked_real_result_is_refused(tmp_path, samples):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    with client_for(tmp_path / "d", report=True) as client:
        job = submit(client, samples / "single_face.jpg")
        assert {"result.json", "report.html"} <= set(job["artifacts"])
        target = tmp_path / "d" / "jobs" / job["id"] / "report.html"
        target.unlink()
        target.symlink_to(secret)
        r = client.get(f"/v1/analyses/{job['id']}/artifacts/report.html")
        assert r.status_code == 404 and b"top secret" not in r.content
        assert client.get(f"/v1/analyses/{job['id']}/artifacts/result.json").json() == job["result"]


def test_415_by_content_then_a_real_analysis_of_the_same_bytes_renamed(tmp_path, samples):
    with client_for(tmp_path) as client:
        r = client.post("/v1/analyses", files={"file": ("face.jpg", b"GIF89 but not really" * 20)})
        assert r.status_code == 415 and "face.jpg" in r.json()["detail"]
        job = submit(client, samples / "single_face.jpg", name="face.mp4")  # a JPEG named .mp4
        assert job["kind"] == "image" and job["result"]["input"]["kind"] == "image"
        assert len(faces(job["result"])) == 1


def test_real_result_survives_a_restart(tmp_path, samples):
    with client_for(tmp_path) as client:
        job = submit(client, samples / "single_face.jpg")
    with client_for(tmp_path) as client:
        again = client.get(f"/v1/analyses/{job['id']}").json()
        assert again["status"] == "done" and again["result"] == job["result"]
        assert len(faces(again["result"])) == 1 and again["result"]["verdict"]["label"] in ("real", "fake", "uncertain")
        listed = client.get("/v1/analyses").json()
        assert [j["id"] for j in listed] == [job["id"]] and listed[0]["result"] is None


def test_a_threshold_outside_the_band_is_refused_at_submission(tmp_path, photo):
    """422 with the allowed range, from the one definition (rules.threshold_range); nothing is queued."""
    with client_for(tmp_path) as client:
        for bad in ("0.2", "0.7", "1.5"):
            r = client.post("/v1/analyses", files={"file": (photo.name, photo.read_bytes())},
                            data={"threshold": bad})  # fmt: skip
            assert r.status_code == 422, r.text
            if bad != "1.5":
                assert "outside the allowed range 0.35–0.65" in r.text, r.text
        assert client.get("/v1/analyses").json() == []  # nothing queued
        ok = submit(client, photo, data={"threshold": "0.2", "rule": "mean", "model": "mesoinception4"})
        assert ok["result"]["settings"]["threshold"] == 0.2
