"""Local worker processes (``multiprocessing``, spawn): each loads its own model once and gets its own
thread budget (the machine's cores divided among the workers).

A worker talks to the supervisor over a pipe: ``("ready",)`` once its model is loaded, then per task
``("progress", key, done, total)`` messages and one ``("done", Outcome)``. It dies with its parent
(``PR_SET_PDEATHSIG`` on Linux), so a killed batch leaves no worker behind.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import pickle
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import Task, threads_per_worker
from .supervised import Backend, Slot, SupervisedExecutor

if TYPE_CHECKING:
    from ..pipeline import AnalyzeConfig


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
        pass


def _worker_main(conn, warm_pickle: bytes, threads: int, parent_pid: int) -> None:
    """Entry point of a worker process. Nothing heavy is imported before the death signal is armed
    (the config arrives pickled, and is unpickled — importing torch — only after)."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(0)
    warm = pickle.loads(warm_pickle)  # our own parent's bytes
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    os.environ["FAKESCOPE_WORKER"] = "1"
    from .work import AnalyzerPool, run_task, set_thread_budget

    set_thread_budget(threads)
    pool = AnalyzerPool()
    try:
        if warm is not None:
            pool.warm(warm)
    except Exception as e:
        conn.send(("fatal", " ".join(f"{type(e).__name__}: {e}".split())[:500]))
        return
    conn.send(("ready",))
    worker = f"pid {os.getpid()}"
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return

        def progress(done: int, total: int | None, stage: str, key: str = task.key) -> None:
            conn.send(("progress", key, done, total, stage))

        conn.send(("done", run_task(task, pool, progress=progress, worker=worker)))


class ProcessBackend(Backend):
    name = "process"

    def __init__(self, warm: AnalyzeConfig | None, threads: int) -> None:
        self._ctx = mp.get_context("spawn")  # never fork a process that runs torch/OpenMP threads
        self._warm = warm
        self._threads = threads

    def spawn(self, index: int) -> Slot:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child, pickle.dumps(self._warm), self._threads,
                                                             os.getpid()),
                                 name=f"fakescope-worker-{index}", daemon=True)  # fmt: skip
        proc.start()
        child.close()
        return Slot(index=index, name=f"pid {proc.pid}", extra={"proc": proc, "conn": parent})

    def begin(self, slot: Slot, task: Task) -> None:
        slot.extra["conn"].send(task)

    def wait(self, slots: list[Slot], timeout: float) -> list[tuple[Slot, tuple]]:
        by_obj = {}
        for s in slots:
            by_obj[s.extra["conn"]] = s
            by_obj[s.extra["proc"].sentinel] = s
        ready = mpc.wait(list(by_obj), timeout)
        events: list[tuple[Slot, tuple]] = []
        seen: set[int] = set()
        for obj in ready:
            slot = by_obj[obj]
            if id(slot) in seen:
                continue
            seen.add(id(slot))
            conn, proc = slot.extra["conn"], slot.extra["proc"]
            finished = dead = False
            try:
                while conn.poll():
                    msg = conn.recv()
                    events.append((slot, msg))
                    if msg[0] in ("done", "fatal"):
                        finished = True
                        break
            except (EOFError, OSError):
                dead = True
            if not finished and (dead or not proc.is_alive()):
                proc.join(0.5)
                events.append((slot, ("died", _exit_reason(proc.exitcode))))
        return events

    def kill(self, slot: Slot) -> None:
        proc, conn = slot.extra.get("proc"), slot.extra.get("conn")
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
        elif proc is not None:
            proc.join(0.1)
        if conn is not None:
            conn.close()


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "lost contact"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class ProcessExecutor(SupervisedExecutor):
    """``workers`` local processes, each with its own model copy and ``threads`` threads."""

    def __init__(self, workers: int, warm: AnalyzeConfig | None = None, threads: int | None = None,
                 retries: int = 1, on_progress: Callable[[str, int, int | None, str], None] | None = None) -> None:
        threads = threads or threads_per_worker(workers)
        self.threads = threads
        super().__init__(ProcessBackend(warm, threads), workers, retries=retries, on_progress=on_progress)
