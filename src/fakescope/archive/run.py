"""Drive a batch: expand the sources, hash every input, skip what the store has done, hand the rest to an
executor and record each outcome the moment it arrives.

Crash safety: a row goes pending → running → done/failed, and each step is one committed SQLite
transaction; ``result.json`` is written atomically *before* its row says done. Killed at any moment
(SIGKILL, Ctrl-C, power), a re-run finds every finished input done (not analysed again) and every
other one pending or running, which it runs again: no result is lost and none is written twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..engine import Task, create_executor
from ..pipeline import AnalyzeConfig
from ..schema import write_atomic
from .sources import expand_sources
from .store import BatchLock, ResultStore, result_dir

log = logging.getLogger(__name__)


@dataclass
class BatchOptions:
    """How a batch runs (not what it computes: that is the AnalyzeConfig)."""

    engine: str = "process"
    workers: int | None = None  # None: one per 2 cores (local) or per cluster CPU (Ray)
    threads: int | None = None  # per worker; None: cores / workers (local), 1 (Ray)
    ray_address: str | None = None
    timeout: float | None = 600.0  # seconds per input; None: no limit
    retry_failed: bool = False
    annotate: bool | None = None  # None: when explanations are asked for
    report: bool = True


@dataclass
class BatchSummary:
    settings: str
    inputs: int = 0  # distinct inputs named by the sources
    already_done: int = 0  # skipped: done by an earlier run
    already_failed: int = 0  # skipped: failed in an earlier run (--retry-failed runs them again)
    analysed: int = 0  # finished by this run
    failed: int = 0  # failed in this run (including unreadable inputs)
    seconds: float = 0.0  # wall time of the analysis phase
    interrupted: bool = False
    workers: int = 0
    engine: str = ""
    source_errors: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, error)

    @property
    def rate(self) -> float:
        n = self.analysed + self.failed
        return n / self.seconds if self.seconds > 0 else 0.0


Event = Callable[..., None]  # on_event(kind, **info): "hashed", "planned", "started", "finished"


def run_archive(sources: list[str | Path], out: str | Path, cfg: AnalyzeConfig, opts: BatchOptions | None = None,
                on_event: Event | None = None) -> BatchSummary:  # fmt: skip
    """Analyse every input of ``sources`` into the store at ``out`` (see the module docstring)."""
    opts = opts or BatchOptions()
    out = Path(out)
    emit = on_event or (lambda kind, **info: None)
    annotate = bool(cfg.explain) if opts.annotate is None else opts.annotate
    with BatchLock(out), ResultStore(out) as store:  # the lock first: a second writer never touches the store
        settings = store.register_settings(cfg)
        requeued = store.requeue(settings)
        if requeued:
            log.info("%d input(s) left running by an earlier run will run again", requeued)
        summary = BatchSummary(settings=settings, engine=opts.engine)
        paths, summary.source_errors = expand_sources(list(sources))
        run_id = store.start_run(settings, [str(s) for s in sources], asdict(opts))

        todo: list[tuple[str, Path]] = []
        seen: set[str] = set()
        for i, path in enumerate(paths):
            emit("hashed", done=i, total=len(paths), path=str(path))
            key, error, size = _identify(store, path)
            row = store.add(key, settings, str(path), path.name, size)
            if key in seen:
                continue  # the same bytes under another name: analysed once
            seen.add(key)
            summary.inputs += 1
            if error is not None:
                store.fail_now(key, settings, error)
                summary.failed += 1
                summary.failures.append((str(path), error))
                emit("failed_early", path=str(path), error=error)
                continue
            if row["status"] == "done":
                summary.already_done += 1
            elif row["status"] == "failed" and not opts.retry_failed:
                summary.already_failed += 1
            else:
                todo.append((key, path))
        emit("planned", todo=len(todo), skipped=summary.already_done + summary.already_failed)

        if todo:
            _execute(store, settings, todo, out, cfg, opts, annotate, summary, emit)
        store.finish_run(run_id)
    return summary


def _identify(store: ResultStore, path: Path) -> tuple[str, str | None, int | None]:
    """(key, error or None, size). Only regular files are read: a fifo or device never hangs the batch."""
    if not path.exists():
        return f"path:{path.absolute()}", f"{path}: no such file", None
    if not path.is_file():
        kind = "a directory without media" if path.is_dir() else "not a regular file (a fifo, socket or device)"
        return f"path:{path.absolute()}", f"{path}: {kind}", None
    try:
        size = path.stat().st_size
        return store.file_hash(path), None, size
    except OSError as e:
        return f"path:{path.absolute()}", f"{path}: cannot read file ({e.strerror or e})", None


def _execute(store: ResultStore, settings: str, todo: list[tuple[str, Path]], out: Path, cfg: AnalyzeConfig,
             opts: BatchOptions, annotate: bool, summary: BatchSummary, emit: Event) -> None:  # fmt: skip
    executor = create_executor(opts.engine, opts.workers, warm=cfg, threads=opts.threads, ray_address=opts.ray_address)
    summary.workers = executor.workers
    window = 2 * executor.workers  # tasks handed over ahead of time: workers never wait, memory stays bounded
    futures: dict[Future, tuple[str, Path, Path]] = {}
    queue = iter(todo)
    t0 = time.perf_counter()
    try:
        with executor:
            while True:
                while len(futures) < window:
                    item = next(queue, None)
                    if item is None:
                        break
                    key, path = item
                    rdir = result_dir(out, path.name, key, settings)
                    store.mark_running(key, settings, executor.name)
                    task = Task(key=key, path=str(path), config=cfg, out_dir=str(rdir), timeout=opts.timeout,
                                annotate=annotate, report=opts.report)  # fmt: skip
                    futures[executor.submit(task)] = (key, path, rdir)
                    emit("started", path=str(path))
                if not futures:
                    break
                done, _ = wait(list(futures), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    key, path, rdir = futures.pop(fut)
                    try:
                        outcome = fut.result()
                    except CancelledError:
                        continue
                    result_path = None
                    if outcome.ok and outcome.result_json is not None:
                        write_atomic(rdir / "result.json", outcome.result_json)
                        result_path = str((rdir / "result.json").relative_to(out))
                        summary.analysed += 1
                    else:
                        summary.failed += 1
                        summary.failures.append((str(path), outcome.error or "failed"))
                    store.record(key, settings, outcome, result_path, executor.name)
                    emit("finished", path=str(path), ok=outcome.ok, verdict=outcome.summary.get("verdict"),
                         error=outcome.error, seconds=outcome.seconds)  # fmt: skip
    except KeyboardInterrupt:
        summary.interrupted = True
        store.requeue(settings)
    finally:
        summary.seconds = time.perf_counter() - t0
