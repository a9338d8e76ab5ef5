"""Supervision of worker processes, shared by the local process pool and the Ray engine.

A :class:`SupervisedExecutor` hands one task at a time to each worker *slot*, enforces each task's
timeout by killing the slot's worker and starting a fresh one, and retries a task once when its worker
dies under it (the second death fails it). A :class:`Backend` says how slots are started, waited on
and killed (``multiprocessing`` processes here, Ray actors in :mod:`.ray_actors`).

Written here because neither ``concurrent.futures.ProcessPoolExecutor`` (a dead worker breaks the whole
pool; a running task cannot be stopped) nor Ray's ``ActorPool`` (no per-task timeout, no replacement)
gives per-task timeouts with worker replacement; the supervision loop is one small state machine.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

from .base import Executor, Outcome, Task

log = logging.getLogger(__name__)

_POLL_S = 0.05


@dataclass
class _Item:
    task: Task
    future: Future
    attempt: int = 1
    started: bool = False


@dataclass(eq=False)
class Slot:
    """One worker (a process or an actor) as the supervisor sees it; backends subclass it."""

    index: int
    state: str = "starting"  # starting → idle ⇄ busy; dead
    item: _Item | None = None
    deadline: float | None = None
    began: float = 0.0
    name: str = ""
    extra: dict = field(default_factory=dict)


class Backend(ABC):
    """How worker slots are started, given work, waited on and killed."""

    name = "?"

    @abstractmethod
    def spawn(self, index: int) -> Slot:
        """Start a worker; it reports ``("ready",)`` once its model is loaded."""

    @abstractmethod
    def begin(self, slot: Slot, task: Task) -> None:
        """Hand ``task`` to an idle slot."""

    @abstractmethod
    def wait(self, slots: list[Slot], timeout: float) -> list[tuple[Slot, tuple]]:
        """Events of the given (starting or busy) slots: ``("ready",)``, ``("done", Outcome)``,
        ``("progress", done, total)``, ``("died", reason)``, ``("fatal", reason)`` (cannot start)."""

    @abstractmethod
    def kill(self, slot: Slot) -> None:
        """Stop a slot's worker now."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (after every slot was killed)."""


class SupervisedExecutor(Executor):
    """``workers`` slots of ``backend``, supervised by one thread of this process."""

    def __init__(self, backend: Backend, workers: int, retries: int = 1,
                 on_progress: Callable[[str, int, int | None, str], None] | None = None) -> None:  # fmt: skip
        self.backend = backend
        self.name = backend.name
        self.workers = max(1, workers)
        self.retries = retries
        self._on_progress = on_progress
        self._queue: collections.deque[_Item] = collections.deque()
        self._lock = threading.Lock()
        # no mutation testing here: equivalent: None is falsy too
        self._closing = False  # pragma: no mutate
        # no mutation testing here: equivalent: None is falsy too
        self._abandon = False  # pragma: no mutate
        # no mutation testing here: equivalent: '' is falsy too
        self._fatal: str | None = None  # pragma: no mutate
        self._start_failures = 0
        self.replaced = 0  # workers started to replace a dead or killed one
        self._slots = [backend.spawn(i) for i in range(self.workers)]
        self._thread = threading.Thread(target=self._loop, name=f"fakescope-{self.name}-supervisor", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------------------

    def submit(self, task: Task) -> Future:
        fut: Future = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("executor is closed")
            if self._fatal:
                fut.set_result(Outcome(task.key, ok=False, error=self._fatal, attempts=0))
                return fut
            self._queue.append(_Item(task, fut))
        return fut

    def cancel(self, key: str) -> bool:
        with self._lock:
            for item in list(self._queue):
                if item.task.key == key:
                    self._queue.remove(item)
                    self._resolve_cancelled(item)
                    return True
            for slot in self._slots:
                if slot.item is not None and slot.item.task.key == key:
                    slot.extra["cancel"] = True
                    return True
        return False

    def close(self, cancel: bool = False) -> None:
        with self._lock:
            if self._closing and not cancel:
                return
            self._closing = True
            self._abandon = self._abandon or cancel
        self._thread.join()

    # -- supervision loop ---------------------------------------------------------------------------

    @staticmethod
    def _resolve_cancelled(item: _Item) -> None:
        if not item.future.cancel():  # already running (a retry): resolve it as cancelled
            item.future.set_exception(CancelledError())

    def _finish(self, item: _Item, outcome: Outcome) -> None:
        outcome.attempts = item.attempt
        if not item.future.done():
            item.future.set_result(outcome)

    def _fail(self, item: _Item, error: str, seconds: float = 0.0, worker: str = "") -> None:
        self._finish(item, Outcome(item.task.key, ok=False, error=error, seconds=seconds, worker=worker))

    def _replace(self, slot: Slot) -> None:
        self.backend.kill(slot)
        # no mutation testing here: equivalent: a replaced slot leaves the list; an abandoned one is never polled again
        slot.state = "dead"  # pragma: no mutate
        if self._abandon:  # a plain close still needs workers: the queue (and a retry) must finish
            return
        self.replaced += 1
        self._slots[slot.index] = self.backend.spawn(slot.index)

    def _assign(self) -> None:
        with self._lock:
            for slot in self._slots:
                if slot.state != "idle" or not self._queue:
                    continue
                item = self._queue.popleft()
                if not item.started:
                    if not item.future.set_running_or_notify_cancel():
                        # no mutation testing here: equivalent but for timing: the next round assigns the rest
                        continue  # pragma: no mutate
                    item.started = True
                slot.item, slot.state, slot.began = item, "busy", time.monotonic()
                slot.deadline = slot.began + item.task.timeout if item.task.timeout else None
                try:
                    self.backend.begin(slot, item.task)
                except Exception as e:  # the worker went away between two tasks: retry elsewhere
                    # no mutation testing here: debug log text; the slot is replaced (it leaves the list) at once
                    log.debug("slot %d: could not hand over a task: %s", slot.index, e)  # pragma: no mutate
                    slot.item = None  # pragma: no mutate
                    self._queue.appendleft(item)
                    self._replace(slot)

    def _on_event(self, slot: Slot, ev: tuple) -> None:
        kind = ev[0]
        if kind == "ready":
            slot.state = "idle"
            self._start_failures = 0
        elif kind == "progress":
            if self._on_progress and slot.item is not None and ev[1] == slot.item.task.key:
                self._on_progress(ev[1], ev[2], ev[3], ev[4])
        elif kind == "done":
            item, slot.item, slot.state = slot.item, None, "idle"
            if item is not None:
                self._finish(item, ev[1])
        elif kind in ("died", "fatal"):
            reason = ev[1]
            item, slot.item = slot.item, None
            was_starting = slot.state == "starting"
            self._replace(slot)
            if was_starting:
                self._start_failures += 1
                log.warning("%s worker %d could not start: %s", self.name, slot.index, reason)
                if kind == "fatal" or self._start_failures >= 3:
                    self._fatal = f"workers cannot start: {reason}"
            if item is None:
                return
            if item.attempt <= self.retries and kind == "died":
                log.warning("%s: worker died (%s); retrying on a fresh worker", item.task.path, reason)
                item.attempt += 1
                with self._lock:
                    self._queue.appendleft(item)
            else:
                self._fail(item, f"{item.task.path}: worker died while analysing it, {item.attempt} time(s) ({reason})",
                           seconds=time.monotonic() - slot.began)  # fmt: skip

    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._abandon:
                        for item in self._queue:
                            self._resolve_cancelled(item)
                        self._queue.clear()
                    if self._fatal:
                        for item in self._queue:
                            self._fail(item, self._fatal)
                        self._queue.clear()
                    busy = [s for s in self._slots if s.state == "busy"]
                    if self._closing and not self._queue and (not busy or self._abandon):
                        # no mutation testing here: equivalent: `return` runs the same `finally`
                        break  # pragma: no mutate
                self._assign()
                active = [s for s in self._slots if s.state in ("starting", "busy")]
                if active:
                    events = self.backend.wait(active, _POLL_S)
                else:
                    time.sleep(_POLL_S)
                    events = []
                for slot, ev in events:
                    # no mutation testing here: defensive: a dead slot has left the list or the loop is ending
                    if slot.state != "dead":  # pragma: no mutate
                        self._on_event(slot, ev)
                now = time.monotonic()
                for slot in list(self._slots):
                    # no mutation testing here: `and` is equivalent: a slot is busy exactly when it holds an item
                    if slot.state != "busy" or slot.item is None:  # pragma: no mutate
                        continue
                    item = slot.item
                    if slot.extra.get("cancel"):
                        # no mutation testing here: equivalent: the slot is replaced (it leaves the list) at once
                        slot.item = None  # pragma: no mutate
                        self._replace(slot)
                        self._resolve_cancelled(item)
                    # no mutation testing here: `>=` is equivalent on a continuous clock
                    elif slot.deadline is not None and now > slot.deadline:  # pragma: no mutate
                        # no mutation testing here: equivalent: the slot is replaced (it leaves the list) at once
                        slot.item = None  # pragma: no mutate
                        worker = slot.name
                        self._replace(slot)
                        self._fail(item, f"{item.task.path}: timed out after {item.task.timeout:g} s (worker stopped)",
                                   seconds=now - slot.began, worker=worker)  # fmt: skip
        except Exception:  # never leave futures hanging
            log.exception("%s supervisor failed", self.name)
            with self._lock:
                self._fatal = self._fatal or "the executor failed (see the log)"
                for item in self._queue:
                    self._fail(item, self._fatal)
                self._queue.clear()
        finally:
            for slot in self._slots:
                if slot.item is not None:
                    self._resolve_cancelled(slot.item)
                    # no mutation testing here: equivalent: the executor has ended, its slots are never read again
                    slot.item = None  # pragma: no mutate
                self.backend.kill(slot)
                slot.state = "dead"  # pragma: no mutate
            self.backend.shutdown()
