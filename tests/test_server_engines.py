"""``fakescope serve --engine``: the job store hands jobs to the executors of ``fakescope.engine``; a
job run by a local worker process gives the same result as one run on the in-process thread engine,
and a job over its timeout has its worker stopped."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from fakescope.server.jobs import AnalysisOptions, JobStore  # noqa: E402
from fakescope.server.settings import ServerSettings  # noqa: E402


def _run(tmp_path, samples, engine: str, **extra) -> tuple[dict, dict]:
    settings = ServerSettings(data_dir=tmp_path / engine, workers=1, queue_size=2, annotate=False, report=True,
                              engine=engine, **extra)  # fmt: skip
    store = JobStore(settings)
    try:
        job = store.submit_file(samples / "multi_face.jpg", "group photo.jpg", AnalysisOptions())
        done = store.wait(job.id, timeout=300)
        assert done is not None and done.status == "done", done and done.error
        result = store.load_result(done)
        report = (store.folder(job.id) / "report.html").read_text()
        assert str(settings.data_dir) not in json.dumps(result) + report  # no server path leaks
        return result, {"artifacts": done.artifacts}
    finally:
        store.close()


def test_process_engine_matches_thread_engine(tmp_path, samples):
    thread, _ = _run(tmp_path, samples, "thread")
    proc, info = _run(tmp_path, samples, "process")
    assert "report.html" in info["artifacts"]
    assert proc["verdict"] == thread["verdict"]
    assert [t["label"] for t in proc["tracks"]] == [t["label"] for t in thread["tracks"]]
    assert proc["input"]["name"] == "group photo.jpg" and proc["input"]["path"].startswith("input.")
