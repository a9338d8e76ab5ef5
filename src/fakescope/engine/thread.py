"""In-process executor: worker threads sharing loaded analyzers (what ``fakescope serve`` used to do).

Threads cannot be killed: a timeout or a cancellation takes effect at the next sampled frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ..pipeline import AnalyzeConfig, Analyzer
from .base import Executor, Outcome, Task
from .work import Abandoned, AnalyzerFactory, AnalyzerPool, run_task


class ThreadExecutor(Executor):
    """``workers`` threads in this process; one :class:`AnalyzerPool` shared by them."""

    name = "thread"

    def __init__(self, workers: int = 1, warm: AnalyzeConfig | None = None, factory: AnalyzerFactory = Analyzer,
                 on_progress: Callable[[str, int, int | None, str], None] | None = None,
                 pool: AnalyzerPool | None = None) -> None:  # fmt: skip
        self.workers = max(1, workers)
        self.pool = pool or AnalyzerPool(factory)
        if warm is not None:
            self.pool.warm(warm)
        self._on_progress = on_progress
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="fakescope-worker")
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, task: Task) -> Future:
        ev = threading.Event()
        with self._lock:
            self._cancel[task.key] = ev
        return self._threads.submit(self._run, task, ev)

    def _run(self, task: Task, cancel: threading.Event) -> Outcome:
        t0 = time.monotonic()

        def check() -> None:
            if cancel.is_set():
                raise Abandoned("cancelled")
            if task.timeout and time.monotonic() - t0 > task.timeout:
                raise Abandoned(f"timed out after {task.timeout:g} s")

        progress = (lambda d, t, s: self._on_progress(task.key, d, t, s)) if self._on_progress else None
        try:
            check()
            return run_task(task, self.pool, check=check, progress=progress, worker=threading.current_thread().name)
        except Abandoned as a:
            return Outcome(task.key, ok=False, error=f"{task.path}: {a.reason}", seconds=time.monotonic() - t0)
        finally:
            with self._lock:
                self._cancel.pop(task.key, None)

    def cancel(self, key: str) -> bool:
        with self._lock:
            ev = self._cancel.get(key)
        if ev is None:
            return False
        ev.set()
        return True

    def close(self, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if cancel:
            with self._lock:
                for ev in self._cancel.values():
                    ev.set()
        self._threads.shutdown(wait=True, cancel_futures=cancel)
