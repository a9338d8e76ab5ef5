"""Job store: SQLite rows + one folder per job + a bounded pool of worker threads.

Layout under ``settings.data_dir``::

    jobs.sqlite3                 one row per job (status, times, options, error, artifacts)
    jobs/<id>/input.<ext>        the upload (its extension comes from the sniffed bytes, never the client)
    jobs/<id>/result.json        the same AnalysisResult JSON as ``fakescope analyze`` writes
    jobs/<id>/report.html, annotated.mp4|png, heatmaps/*.png|npy

An HTTP upload is received into ``uploads/`` first (at most ``max_uploads`` at once, each with an
idle and a total timeout), so a slow or stalled client never holds a job slot. Admission is bounded:
at most ``workers + queue_size`` jobs are in flight (being checked, queued or running); one more is
refused with :class:`QueueFull` (HTTP 429). Each of ``workers`` dispatcher threads takes the next
queued job and hands it to an executor of :mod:`fakescope.engine` (``settings.engine``): ``thread``
runs it here with an :class:`~fakescope.pipeline.Analyzer` from a pool keyed by model/weights/face
detector (a model is loaded once per configuration; timeout and cancellation act between sampled
frames); ``process`` and ``ray`` run it in a worker process or Ray actor that loaded the default
model at start (a job over its timeout, or cancelled, has its worker killed and replaced). The worker
writes the pictures into the job folder; this store writes ``result.json`` and the row. On start-up,
jobs a previous process left queued are queued again (their uploads are on disk); a job it left
running is retried once, and fails with :data:`RESTART_REASON` if a restart interrupts it again.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ...engine import Executor
from ...engine.work import AnalyzerFactory, AnalyzerPool
from ...errors import MediaError
from ...media import probe, sniff_kind
from ...pipeline import Analyzer
from ..settings import ServerSettings
from .options import AnalysisOptions, one_line
from .runner import ARTIFACT_RE, JobRunner, _now

log = logging.getLogger("fakescope.server.jobs")

RESTART_REASON = "interrupted by a server restart"
MAX_ATTEMPTS = 2  # a job interrupted by a restart is retried once
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
Status = Literal["queued", "running", "done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    options TEXT NOT NULL,
    filename TEXT,
    kind TEXT,
    size_bytes INTEGER,
    error TEXT,
    result_path TEXT,
    artifacts TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""


def safe_filename(name: str | None, limit: int = 120) -> str:
    """The client's file name reduced to metadata: last path component, printable, no separators.

    It is only ever stored and shown, never used to build a path."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.+\- ()\[\]]", "_", base, flags=re.ASCII).strip(" .")
    return base[:limit] or "upload"


class QueueFull(Exception):
    """Every worker is busy and the queue is full (HTTP 429)."""


class Rejected(Exception):
    """An upload refused at intake, with its HTTP status code and a one-line reason."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = one_line(detail)


@dataclass
class Job:
    id: str
    status: Status
    created: str
    options: dict
    started: str | None = None
    finished: str | None = None
    filename: str | None = None
    kind: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    result_path: str | None = None
    artifacts: list[str] = field(default_factory=list)
    progress: tuple[str, int, int | None] | None = None  # (stage, done, total) while running
    queue_position: int | None = None  # 1 = next to run, while queued


@dataclass
class Ticket:
    """A reserved slot and a fresh job folder, handed out by :meth:`JobStore.admission`."""

    id: str
    folder: Path
    submitted: bool = False

    @property
    def upload_path(self) -> Path:
        return self.folder / "upload.part"


_MAGIC_EXT = [
    (b"\xff\xd8\xff", 0, "jpg"),
    (b"\x89PNG", 0, "png"),
    (b"GIF8", 0, "gif"),
    (b"WEBP", 8, "webp"),
    (b"II*\x00", 0, "tif"),
    (b"MM\x00*", 0, "tif"),
    (b"BM", 0, "bmp"),
    (b"\x1a\x45\xdf\xa3", 0, "mkv"),
    (b"AVI ", 8, "avi"),
]


def _extension(path: Path, kind: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, offset, ext in _MAGIC_EXT:
        if head[offset : offset + len(magic)] == magic:
            return ext
    return "mp4" if kind == "video" else "img"


class JobStore(JobRunner):
    """SQLite-backed jobs, their folders and (:class:`~.runner.JobRunner`) the worker threads that run them."""

    def __init__(
        self,
        settings: ServerSettings,
        analyzer_factory: AnalyzerFactory | None = None,
        *,
        start: bool = True,
    ) -> None:
        self.settings = settings
        self.jobs_dir = settings.jobs_dir
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(settings.db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        if "attempts" not in {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}:  # older databases
            self._db.execute("ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
        # the thread engine runs in this process on this pool (tests pass a fake analyzer factory)
        self.pool = AnalyzerPool(analyzer_factory or Analyzer)
        self.executor: Executor | None = None
        self.capacity = settings.workers + settings.queue_size
        self._inflight = 0  # reserved slots: being checked + queued + running
        self._uploading = 0  # HTTP bodies being received (they hold no job slot)
        shutil.rmtree(settings.uploads_dir, ignore_errors=True)  # bodies a previous process left half-read
        self._live: dict[str, str] = {}  # job id -> "queued" | "running" (this process only)
        self._cancel: dict[str, threading.Event] = {}
        self._progress: dict[str, tuple[str, int, int | None]] = {}
        self._pending: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.recovered = self._recover()
        if start:
            self.start()

    # -- life cycle ------------------------------------------------------------------------------

    def _recover(self) -> int:
        """Queue again the jobs a previous process left queued or running; drop orphan job folders.

        A job that was running is retried once (``MAX_ATTEMPTS``); one interrupted again, or whose
        upload is gone, fails with a reason. Returns the number of jobs queued again."""
        requeued: list[str] = []
        with self._lock:
            rows = self._db.execute(
                "SELECT id, status, attempts FROM jobs WHERE status IN ('queued','running') ORDER BY created"
            ).fetchall()
            for row in rows:
                job_id, folder = row["id"], self.jobs_dir / row["id"]
                if not JOB_ID_RE.match(job_id) or not any(folder.glob("input.*")):
                    self._fail(job_id, f"{RESTART_REASON}, and its upload is gone")
                elif row["status"] == "running" and row["attempts"] >= MAX_ATTEMPTS:
                    self._fail(job_id, f"{RESTART_REASON} {row['attempts']} times; not retried again")
                else:
                    if row["status"] == "running":  # start over from the upload
                        for p in folder.iterdir():
                            if not p.name.startswith("input."):
                                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                    self._set(job_id, status="queued", started=None)
                    requeued.append(job_id)
            for job_id in requeued:
                self._live[job_id] = "queued"
                self._inflight += 1
                self._pending.put(job_id)
            known = {r[0] for r in self._db.execute("SELECT id FROM jobs")}
        for d in self.jobs_dir.iterdir():
            if d.is_dir() and JOB_ID_RE.match(d.name) and d.name not in known:
                shutil.rmtree(d, ignore_errors=True)
        if rows:
            log.warning("%d job(s) were %s: %d queued again", len(rows), RESTART_REASON, len(requeued))
        return len(requeued)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers (running jobs are cancelled at their next frame) and close the database."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            for job_id, ev in self._cancel.items():
                ev.set()
                if self.executor is not None:
                    self.executor.cancel(job_id)
        for _ in self._threads:
            self._pending.put(None)
        for t in self._threads:
            t.join(timeout)
        if self.executor is not None:
            self.executor.close(cancel=True)
        with self._lock:
            self._db.close()

    # -- admission --------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._inflight

    @property
    def uploading(self) -> int:
        return self._uploading

    def has_capacity(self) -> bool:
        with self._lock:
            return self._inflight < self.capacity

    @contextmanager
    def upload_slot(self) -> Iterator[Path]:
        """Count one body being received (or raise :class:`QueueFull` past ``max_uploads``) and give a
        fresh file for it under ``uploads/``; the file is removed on exit unless it was moved away."""
        s = self.settings
        with self._lock:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if self._uploading >= s.max_uploads:
                raise QueueFull(f"{s.max_uploads} upload(s) already in progress")
            self._uploading += 1
        try:
            s.uploads_dir.mkdir(parents=True, exist_ok=True)
            path = s.uploads_dir / f"{uuid.uuid4().hex}.part"
            try:
                yield path
            finally:
                path.unlink(missing_ok=True)
        finally:
            with self._lock:
                self._uploading -= 1

    @contextmanager
    def admission(self) -> Iterator[Ticket]:
        """Reserve a slot (or raise :class:`QueueFull`) and a fresh job folder for one upload.

        Unless :meth:`submit` succeeds inside the block, the slot is released and the folder removed."""
        with self._lock:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if self._inflight >= self.capacity:
                s = self.settings
                raise QueueFull(f"all {s.workers} worker(s) busy and {s.queue_size} job(s) queued")
            self._inflight += 1
        job_id = uuid.uuid4().hex
        ticket = Ticket(id=job_id, folder=self.jobs_dir / job_id)
        ticket.folder.mkdir(parents=True)
        try:
            yield ticket
        finally:
            if not ticket.submitted:
                self._release()
                shutil.rmtree(ticket.folder, ignore_errors=True)

    def _release(self) -> None:
        with self._lock:
            self._inflight = max(0, self._inflight - 1)

    def submit(self, ticket: Ticket, filename: str | None, options: AnalysisOptions) -> Job:
        """Check the uploaded bytes at ``ticket.upload_path`` and queue the job.

        Raises :class:`Rejected`: 415 when the bytes are no supported image/video, 422 when the file
        cannot be decoded or exceeds the duration/frame/pixel limits."""
        s = self.settings
        name = safe_filename(filename)
        part = ticket.upload_path

        def clean(msg: str) -> str:
            return one_line(msg.replace(str(part), name).replace(str(ticket.folder), name))

        try:
            kind = sniff_kind(part)
        except MediaError as e:
            raise Rejected(415, clean(str(e))) from None
        dest = ticket.folder / f"input.{_extension(part, kind)}"
        os.replace(part, dest)
        try:
            info = probe(dest)
        except MediaError as e:
            raise Rejected(422, clean(str(e).replace(str(dest), name))) from None
        except Exception as e:  # a decoder may raise anything on hostile bytes
            raise Rejected(422, f"{name}: cannot read the file ({type(e).__name__}: {e})") from None
        if info.width * info.height > s.max_pixels:
            raise Rejected(422, f"{name}: {info.width}×{info.height} exceeds the limit of {s.max_pixels} pixels")
        if kind == "video":
            duration = info.duration
            if duration is None and info.frame_count and info.fps:
                duration = info.frame_count / info.fps
            frames = info.frame_count
            if frames is None and duration and info.fps:
                frames = round(duration * info.fps)
            if duration is not None and duration > s.max_duration_s:
                raise Rejected(422, f"{name}: video lasts {duration:.1f} s, the limit is {s.max_duration_s:g} s")
            if frames is not None and frames > s.max_frames:
                raise Rejected(422, f"{name}: video has {frames} frames, the limit is {s.max_frames}")
        job = Job(
            id=ticket.id,
            status="queued",
            created=_now(),
            options=options.model_dump(mode="json"),
            filename=name,
            kind=kind,
            size_bytes=dest.stat().st_size,
        )
        with self._lock:
            if self._closed:
                raise QueueFull("the server is shutting down")
            self._db.execute(
                "INSERT INTO jobs (id, status, created, options, filename, kind, size_bytes) VALUES (?,?,?,?,?,?,?)",
                (job.id, job.status, job.created, json.dumps(job.options), job.filename, job.kind, job.size_bytes),
            )
            self._live[job.id] = "queued"
            ticket.submitted = True
        self._pending.put(job.id)
        return job

    def submit_file(self, src: str | Path, filename: str | None, options: AnalysisOptions) -> Job:
        """Copy a local file (e.g. the web app's upload) into a new job and queue it; same checks as HTTP."""
        src = Path(src)
        size = src.stat().st_size
        if size > self.settings.max_upload_bytes:
            raise Rejected(413, f"upload is {size / 2**20:.1f} MiB, the limit is {self.settings.max_upload_mb:g} MiB")
        with self.admission() as ticket:
            shutil.copyfile(src, ticket.upload_path)
            return self.submit(ticket, filename or src.name, options)

    # -- queries ----------------------------------------------------------------------------------

    def _row_to_job(self, row: sqlite3.Row) -> Job:
        return Job(
            id=row["id"],
            status=row["status"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            options=json.loads(row["options"]),
            filename=row["filename"],
            kind=row["kind"],
            size_bytes=row["size_bytes"],
            error=row["error"],
            result_path=row["result_path"],
            artifacts=json.loads(row["artifacts"] or "[]"),
            progress=self._progress.get(row["id"]),
            queue_position=self._queue_position(row["id"]) if row["status"] == "queued" else None,
        )

    def _queue_position(self, job_id: str) -> int | None:
        """1-based place of a queued job among this process's queued jobs (first in, first out)."""
        with self._lock:
            queued = [j for j, state in self._live.items() if state == "queued"]
        return queued.index(job_id) + 1 if job_id in queued else None

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID_RE.match(job_id or ""):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            return self._row_to_job(row) if row else None

    def list(self, limit: int = 50) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
            return [self._row_to_job(r) for r in rows]

    def folder(self, job_id: str) -> Path:
        if not JOB_ID_RE.match(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.jobs_dir / job_id

    def result_file(self, job: Job) -> Path | None:
        return self.folder(job.id) / "result.json" if job.status == "done" and job.result_path else None

    def load_result(self, job: Job) -> dict | None:
        path = self.result_file(job)
        if path is None or not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def artifact_path(self, job: Job, name: str) -> Path | None:
        """The file of artifact ``name`` of a finished job, or None.

        ``name`` must be one of the job's recorded artifact names (never joined blindly), and the
        resolved path must stay inside the job's folder (no symlink or ``..`` escapes)."""
        if job.status != "done" or name not in job.artifacts or not ARTIFACT_RE.match(name):
            return None
        root = self.folder(job.id).resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def delete(self, job_id: str) -> bool:
        """Remove a job's row and folder; a running job is cancelled at its next frame."""
        with self._lock:
            if self.get(job_id) is None:
                return False
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            state = self._live.pop(job_id, None)
            if state == "running":
                self._cancel[job_id].set()  # the worker removes the folder when it stops
                if self.executor is not None:
                    self.executor.cancel(job_id)
                return True
            if state == "queued":
                self._release()
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        return True

    # -- test helpers -----------------------------------------------------------------------------

    def wait(self, job_id: str, timeout: float = 60.0, poll: float = 0.05) -> Job | None:
        """Block until the job is done or failed (or ``timeout`` seconds pass); returns it."""
        end = time.monotonic() + timeout
        job = self.get(job_id)
        while job is not None and job.status in ("queued", "running") and time.monotonic() < end:
            time.sleep(poll)
            job = self.get(job_id)
        return job
