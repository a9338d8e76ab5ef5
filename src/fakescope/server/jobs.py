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
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..engine import Executor, Task, create_executor
from ..engine.thread import ThreadExecutor
from ..engine.work import AnalyzerFactory, AnalyzerLike, AnalyzerPool  # noqa: F401 - re-exported
from ..errors import FakescopeError, MediaError
from ..media import Sampling, probe, sniff_kind
from ..pipeline import DEFAULT_MODEL, AnalyzeConfig, Analyzer
from ..rules import DEFAULT_RULE
from ..schema import AnalysisResult
from .settings import ServerSettings

log = logging.getLogger(__name__)

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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def one_line(text: str, limit: int = 500) -> str:
    """Collapse whitespace (newlines included) and cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def safe_filename(name: str | None, limit: int = 120) -> str:
    """The client's file name reduced to metadata: last path component, printable, no separators.

    It is only ever stored and shown, never used to build a path."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.+\- ()\[\]]", "_", base, flags=re.ASCII).strip(" .")
    return base[:limit] or "upload"


# ----------------------------------------------------------------------------------------- options


def _explainer_names() -> list[str] | None:
    """Registered explanation methods, or None when the explainers package is not importable."""
    try:
        from ..explainers import list_explainers
    except ImportError:
        return None
    return list(list_explainers())


class AnalysisOptions(BaseModel):
    """Options of one analysis (the form fields of ``POST /v1/analyses``); validated against the registries."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), str_strip_whitespace=True)

    model: str = Field(DEFAULT_MODEL, description="detector model, or an ensemble 'a,b:TAG' (GET /v1/models)")
    weights: str = Field("default", description="weight tag of the model; 'default' for the model's default")
    detector: str | None = Field(None, description="face detector (default: the library's default)")
    frames: str | None = Field(None, description="frame sampling: even:N, every:K, all, or N")
    rule: str = Field(DEFAULT_RULE, description="verdict rule")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="calibrated P(fake) above which a face counts as fake")
    min_faces: int | None = Field(None, ge=1, le=100_000, description="fewest faces a track needs")
    explain: list[str] = Field(default_factory=list, description="explanation methods (comma list)")
    explain_per_track: int = Field(4, ge=1, le=32, description="faces explained per identity")
    annotate: bool | None = Field(None, description="write the annotated video/image (default: server setting)")
    mode: Literal["standard", "thorough"] = Field(
        "standard", description="'thorough': the strongest installed published detector (GenD, Effort) on fewer "
        "sampled faces, unless a model other than the default is named")

    @field_validator("explain", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            v = [v]
        if isinstance(v, (list, tuple)):
            out: list[str] = []
            for item in v:
                out += [m.strip() for m in str(item).split(",") if m.strip()]
            return list(dict.fromkeys(out))
        return v

    @field_validator("frames")
    @classmethod
    def _frames(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        try:
            s = Sampling.parse(v)
        except (ValueError, FakescopeError) as e:
            raise ValueError(one_line(str(e))) from None
        if s.mode == "even" and s.n > 10_000:
            raise ValueError("even:N allows at most 10000 frames")
        return s.describe()

    @model_validator(mode="after")
    def _registries(self) -> AnalysisOptions:
        from ..faces import list_face_detectors
        from ..models import (
            get_model_info,
            has_usable_weights,
            list_installed_models,
            list_models,
            list_runnable_models,
        )
        from ..rules import list_rules

        def known(kind: str, name: str, names: list[str]) -> None:
            if name not in names:
                raise ValueError(f"unknown {kind} {name!r} (known: {', '.join(names) or 'none'})")

        from ..pipeline import parse_models

        if self.mode == "thorough" and self.model == DEFAULT_MODEL and self.weights == "default":
            from ..thorough import strongest_installed

            try:
                self.model = strongest_installed().name
            except FakescopeError as e:
                raise ValueError(str(e)) from None
        members = parse_models(self.model, self.weights)
        for name, tag in members:
            known("model", name, list_models() + list_installed_models())
            if tag not in ("default", "none"):
                known(f"weights tag of {name}", tag, list(get_model_info(name).weights))
            elif tag == "default" and not has_usable_weights(name):
                raise ValueError(f"model {name!r} ships no trained weights (runnable models: "
                                 f"{', '.join(list_runnable_models())})")
        if self.detector is not None:
            known("face detector", self.detector, list_face_detectors())
        known("rule", self.rule, list_rules())
        if self.explain:
            names = _explainer_names()
            if names is None:
                raise ValueError("explanations are not available in this installation")
            for m in self.explain:
                known("explainer", m, names)
            from ..explainers import explainer_class
            from ..explainers.compat import unsupported_methods

            explained_model = members[0][0]  # the explanations are of the first model
            bad = unsupported_methods(explained_model)
            for m in self.explain:
                reason = bad.get(explainer_class(m).name)
                if reason:
                    raise ValueError(f"explainer {m!r} cannot explain model {explained_model!r}: {reason}")
        from ..pipeline import check_analysis_options

        check_analysis_options(self.to_config())  # the threshold lies in the band in force (one definition)
        return self

    def to_config(self, default_frames: str = "even:32", trust_anchors: str | None = None) -> AnalyzeConfig:
        """The analysis settings; ``trust_anchors`` is the server's (a setting, never a request's)."""
        from ..faces import DEFAULT_FACE_DETECTOR
        from ..thorough import THOROUGH_FRAMES

        if self.mode == "thorough":
            default_frames = THOROUGH_FRAMES
        return AnalyzeConfig(
            model=self.model,
            weights=None if self.weights == "none" else self.weights,
            detector=self.detector or DEFAULT_FACE_DETECTOR,
            sampling=Sampling.parse(self.frames or default_frames),
            mode=self.mode,
            rule=self.rule,
            threshold=self.threshold,
            min_faces=self.min_faces,
            explain=tuple(self.explain),
            explain_per_track=self.explain_per_track,
            trust_anchors=trust_anchors,
        )


def options_error(e: ValidationError) -> str:
    """One line naming each invalid field and why."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "__root__")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return one_line("; ".join(parts))


# ------------------------------------------------------------------------------------------ errors


class QueueFull(Exception):
    """Every worker is busy and the queue is full (HTTP 429)."""


class Rejected(Exception):
    """An upload refused at intake, with its HTTP status code and a one-line reason."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = one_line(detail)


class _Cancelled(Exception):
    pass


class _TimedOut(Exception):
    pass


# ------------------------------------------------------------------------- executors (fakescope.engine)

# Where jobs run is an executor of ``fakescope.engine`` (the same ones ``fakescope batch`` uses):
# ``thread`` (default: worker threads sharing an AnalyzerPool), ``process`` (local worker processes,
# each with its own model), ``ray`` (Ray actors). This module keeps the job store: admission,
# persistence, recovery, and the result files.
__all__ = ["AnalyzerFactory", "AnalyzerLike", "AnalyzerPool", "JobStore", "AnalysisOptions", "QueueFull", "Rejected"]


# -------------------------------------------------------------------------------------------- jobs


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


class JobStore:
    """SQLite-backed jobs, their folders and the worker threads that run them."""

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

    # -- workers ----------------------------------------------------------------------------------

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
                from ..render.share import write_zip

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

    # -- test helpers -----------------------------------------------------------------------------

    def wait(self, job_id: str, timeout: float = 60.0, poll: float = 0.05) -> Job | None:
        """Block until the job is done or failed (or ``timeout`` seconds pass); returns it."""
        end = time.monotonic() + timeout
        job = self.get(job_id)
        while job is not None and job.status in ("queued", "running") and time.monotonic() < end:
            time.sleep(poll)
            job = self.get(job_id)
        return job


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
    clean = lambda t: _clean_paths(t, folder, filename, data_dir)  # noqa: E731
    result.warnings = [clean(w) for w in result.warnings]
    result.verdict.reason = clean(result.verdict.reason)
    if result.verdict.detector_reason:
        result.verdict.detector_reason = clean(result.verdict.detector_reason)
    if result.provenance is not None:
        result.provenance.warnings = [clean(w) for w in result.provenance.warnings]
    for t in result.tracks:
        t.reason = clean(t.reason)
