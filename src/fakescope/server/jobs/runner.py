"""Running the jobs of a :class:`~fakescope.server.jobs.store.JobStore`: dispatcher threads hand each
queued job to an executor of :mod:`fakescope.engine` (``settings.engine``) and store what comes back.

``thread`` runs a job here with an :class:`~fakescope.pipeline.Analyzer` from a pool keyed by
model/weights/face detector (timeout and cancellation act between sampled frames); ``process`` and
``ray`` run it in a worker process or Ray actor that loaded the default model at start (a job over its
timeout, or cancelled, has its worker killed and replaced). The worker writes the pictures into the
job folder; the runner writes ``result.json`` and the row, with the server's paths scrubbed from every
text a client sees.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from concurrent.futures import CancelledError
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...engine import Executor, Task, create_executor
from ...engine.thread import ThreadExecutor
from ...engine.work import map_free_text
from ...errors import FakescopeError, MediaError
from ...schema import AnalysisResult
from .options import AnalysisOptions, one_line

log = logging.getLogger("fakescope.server.jobs")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class _Cancelled(Exception):
    pass


class _TimedOut(Exception):
    pass


class JobRunner:
    """The worker side of :class:`~fakescope.server.jobs.store.JobStore` (a base class of it): it
    runs on the store's state (``settings``, ``pool``, ``executor``, the lock, the database, the
    queue of pending job ids and the live/cancel/progress maps) and its row helpers (``get``,
    ``folder``, ``_set``, ``_release``)."""

    def _on_progress(self, job_id: str, done: int, total: int | None, stage: str) -> None:
        self._progress[job_id] = (stage, done, total)

    def _start_executor(self) -> Executor:
        s = self.settings
        if s.engine == "thread":
            return ThreadExecutor(s.workers, pool=self.pool, on_progress=self._on_progress)
        # each worker loads the default model up front
        warm = AnalysisOptions().to_config(s.default_frames, s.trust_anchors_path)
        return create_executor(s.engine, s.workers, warm=warm, ray_address=s.ray_address, on_progress=self._on_progress)

    def start(self) -> None:
        if self._threads:
            return
        if self.executor is None:
            self.executor = self._start_executor()
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._worker, name=f"fakescope-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _set(self, job_id: str, **cols: Any) -> None:
        names = ", ".join(f"{k}=?" for k in cols)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {names} WHERE id=?", (*cols.values(), job_id))

    def _worker(self) -> None:
        while True:
            job_id = self._pending.get()
            if job_id is None:
                return
            with self._lock:
                if self._live.get(job_id) != "queued" or self._closed:
                    continue  # deleted while queued (its slot was released then)
                self._live[job_id] = "running"
                cancel = self._cancel[job_id] = threading.Event()
                self._db.execute("UPDATE jobs SET status='running', started=?, attempts=attempts+1 WHERE id=?",
                                 (_now(), job_id))
            try:
                self._run(job_id, cancel)
            finally:
                with self._lock:
                    deleted = job_id not in self._live
                    self._live.pop(job_id, None)
                    self._cancel.pop(job_id, None)
                    self._progress.pop(job_id, None)
                    self._release()
                if deleted:
                    shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def _run(self, job_id: str, cancel: threading.Event) -> None:
        """Hand one job to the executor and store what comes back (the worker wrote the pictures)."""
        s = self.settings
        job = self.get(job_id)
        if job is None:
            return
        folder = self.folder(job_id)
        inputs = list(folder.glob("input.*"))
        t0 = time.monotonic()

        def check() -> None:
            if cancel.is_set():
                raise _Cancelled

        try:
            if not inputs:
                raise MediaError("the uploaded file is missing from the job folder")
            opts = AnalysisOptions.model_validate(job.options)
            cfg = opts.to_config(s.default_frames, s.trust_anchors_path)
            annotate = s.annotate if opts.annotate is None else opts.annotate
            check()
            task = Task(key=job_id, path=str(inputs[0]), config=cfg, out_dir=str(folder), timeout=s.job_timeout_s,
                        annotate=annotate, report=s.report, name=job.filename, pdf=s.report and s.pdf,
                        redact=_redactions(folder, job.filename, s.data_dir))  # fmt: skip
            try:
                outcome = self.executor.submit(task).result()
            except CancelledError:
                raise _Cancelled from None
            check()
            if not outcome.ok:
                if "timed out after" in (outcome.error or ""):
                    raise _TimedOut
                raise FakescopeError(outcome.error or "failed")
            result = AnalysisResult.model_validate_json(outcome.result_json)
            result.input.path = inputs[0].name  # never publish the server's folders
            _scrub(result, folder, job.filename, s.data_dir)
            result.save(folder / "result.json")
            artifacts = ["result.json", *_artifact_names(result)]
            if s.zip:  # every result file in one download (not the upload)
                from ...render.share import write_zip

                write_zip(folder, folder / "result.zip", exclude=[p.name for p in folder.glob("input.*")])
                artifacts.append("result.zip")
            artifacts = [a for a in dict.fromkeys(artifacts) if ARTIFACT_RE.match(a) and (folder / a).is_file()]
            self._set(job_id, status="done", finished=_now(), result_path=f"jobs/{job_id}/result.json",
                      artifacts=json.dumps(artifacts))
            log.info("job %s done in %.1f s: %s", job_id, time.monotonic() - t0, result.verdict.label)
        except _Cancelled:
            if not self._closed:
                return  # deleted: the worker loop removes the folder
            # a graceful shutdown is no failure: the next start runs the job again from its upload
            with self._lock:
                self._db.execute(
                    "UPDATE jobs SET status='queued', started=NULL, attempts=MAX(attempts-1, 0) WHERE id=?", (job_id,)
                )
        except _TimedOut:
            self._fail(job_id, f"timed out after {s.job_timeout_s:g} s (job_timeout_s)")
        except FakescopeError as e:
            self._fail(job_id, _clean_paths(str(e), folder, job.filename, s.data_dir))
        except Exception as e:
            log.exception("job %s: unexpected error", job_id)
            self._fail(job_id, _clean_paths(f"unexpected error: {type(e).__name__}: {e}", folder, job.filename,
                                            s.data_dir))

    def _fail(self, job_id: str, error: str) -> None:
        self._set(job_id, status="failed", finished=_now(), error=one_line(error))


ARTIFACT_RE = re.compile(
    r"^(?:result\.json|result\.zip|report\.html|report\.pdf|annotated\.(?:mp4|png)"
    r"|heatmaps/[A-Za-z0-9][A-Za-z0-9_+-]*(?:\.[A-Za-z0-9_+-]+)*\.(?:png|npy))$"
)


def _artifact_names(result: AnalysisResult) -> list[str]:
    names = list(result.artifacts.values())
    for rec in result.explanations:
        names += [n for n in (rec.overlay, rec.map) if n]
    return names


def _clean_paths(msg: str, folder: Path, filename: str | None, data_dir: Path | None = None) -> str:
    """``msg`` without the server's paths: the upload becomes the client's file name, the job folder
    ``<job>``, anything else under the data folder ``<data>``."""
    name = filename or "upload"
    for p in sorted(folder.glob("input.*"), key=lambda p: -len(str(p))):
        msg = msg.replace(str(p), name)
    msg = msg.replace(str(folder), "<job>")
    return msg.replace(str(data_dir), "<data>") if data_dir is not None else msg


def _redactions(folder: Path, filename: str | None, data_dir: Path) -> tuple[tuple[str, str], ...]:
    """What :func:`_clean_paths` replaces, as pairs for :class:`fakescope.engine.Task` (applied in the
    worker before the report is written)."""
    name = filename or "upload"
    pairs = [(str(p), name) for p in sorted(folder.glob("input.*"), key=lambda p: -len(str(p)))]
    return (*pairs, (str(folder), "<job>"), (str(data_dir), "<data>"))


def _scrub(result: AnalysisResult, folder: Path, filename: str | None, data_dir: Path) -> None:
    """Remove server paths from every free text of a result a client will see (warnings, reasons)."""
    map_free_text(result, lambda t: _clean_paths(t, folder, filename, data_dir))
