"""What every executor shares: the unit of work (:class:`Task`), its outcome (:class:`Outcome`) and the
:class:`Executor` interface (``submit`` → :class:`concurrent.futures.Future`). Progress callbacks of executors
are ``on_progress(key, done, total, stage)`` (stages: :data:`fakescope.progress.STAGES`).

A task names an input path, the :class:`~fakescope.pipeline.AnalyzeConfig` to analyse it with and a
folder for its pictures. The worker analyses it, writes the pictures (report, annotated video,
heatmaps) into that folder and hands back the result as JSON text; whoever drives the executor (the
batch command, the server) writes ``result.json`` and records the outcome in its own store.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no torch at import: a worker process arms its death signal first
    from ..pipeline import AnalyzeConfig


@dataclass(frozen=True)
class Task:
    """One input to analyse. ``key`` is the caller's identifier (echoed in the outcome)."""

    key: str
    path: str
    config: AnalyzeConfig
    out_dir: str | None = None  # pictures go here; None: no pictures
    timeout: float | None = None  # seconds of analysis before the input is given up as failed
    annotate: bool = False
    report: bool = True
    pdf: bool = False  # also print the report to report.pdf (headless Chromium, when installed)
    name: str | None = None  # shown as result.input.name (e.g. the original upload's name)
    # (text, replacement) pairs applied to the result's free texts (warnings, reasons) before its
    # pictures are written: a server hides its folders from clients this way
    redact: tuple[tuple[str, str], ...] = ()


@dataclass
class Outcome:
    """What came of a task: the result JSON (``ok``) or a one-line error, plus where and how long."""

    key: str
    ok: bool
    result_json: str | None = None
    error: str | None = None
    seconds: float = 0.0  # wall time of the analysis in the worker (or until it was given up)
    worker: str = ""  # e.g. "pid 1234" or a Ray actor id
    attempts: int = 1
    summary: dict = field(default_factory=dict)  # verdict, score, faces, tracks, p_fake stats, timings


class Executor(ABC):
    """Runs tasks on some workers; ``submit`` returns a future that resolves to an :class:`Outcome`.

    A future never raises for a bad input: failures (errors, timeouts, a worker that died twice) are
    ``Outcome(ok=False, error=...)``. ``close()`` stops the workers; with ``cancel=True`` queued and
    running tasks are abandoned (their futures are cancelled).
    """

    name: str = "?"
    workers: int = 1

    @abstractmethod
    def submit(self, task: Task) -> Future:
        """Queue ``task``; the future's result is its :class:`Outcome`."""

    def cancel(self, key: str) -> bool:
        """Abandon a queued or running task (its future is cancelled). False when not known."""
        return False

    @abstractmethod
    def close(self, cancel: bool = False) -> None:
        """Stop the workers (after the queued tasks unless ``cancel``)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Default number of local worker processes: one per two cores, each with two threads
    (bench/RESULTS.md, "Batch analysis": on the 2-core machine one 2-thread worker beat two 1-thread
    workers in 2 of 3 interleaved runs, by 1.9–2×; a worker also costs ~1.1 GiB)."""
    return max(1, cpu_count() // 2)


def threads_per_worker(workers: int) -> int:
    """The thread budget of each of ``workers`` processes sharing this machine's cores."""
    return max(1, cpu_count() // max(1, workers))
