"""The supervision loop shared by the process and Ray engines: retries, timeouts, cancellation and workers
that cannot start, driven through an in-process backend whose "workers" follow a script (fast; mutation
group "engine"). The real process and Ray backends are tested end to end in test_batch.py and
test_server_engines.py."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import pytest

from fakescope.engine import Outcome, Task
from fakescope.engine.supervised import Backend, Slot, SupervisedExecutor
from fakescope.pipeline import AnalyzeConfig


class ScriptBackend(Backend):
    """Each task's path says what its worker does: ``ok``, ``die``, ``die-once``, ``hang``, ``slow:S``,
    ``progress``, ``handover`` (the worker is gone when given the task, once)."""

    name = "script"

    def __init__(self, start: list[str] | None = None) -> None:
        self.start = list(start or [])  # how each successive spawn goes: "ok", "died", "fatal"
        self.spawned = 0
        self.killed: list[int] = []
        self.events: dict[int, list[tuple]] = {}
        self.seen: dict[str, int] = {}
        self.timers: dict[int, tuple[float, tuple]] = {}
        self.lock = threading.Lock()
        self.shut = False

    def spawn(self, index: int) -> Slot:
        self.spawned += 1
        slot = Slot(index, name=f"w{self.spawned}")
        how = self.start.pop(0) if self.start else "ok"
        with self.lock:
            self.events[id(slot)] = [("ready",)] if how == "ok" else [(how, f"cannot load the model ({how})")]
        return slot

    def begin(self, slot: Slot, task: Task) -> None:
        n = self.seen[task.path] = self.seen.get(task.path, 0) + 1
        kind = task.path
        if kind == "handover" and n == 1:
            raise BrokenPipeError("worker gone")
        with self.lock:
            ev = self.events.setdefault(id(slot), [])
            if kind in ("ok", "handover") or (kind == "die-once" and n > 1):
                ev.append(("done", Outcome(task.key, ok=True, result_json="{}", worker=slot.name)))
            elif kind == "progress":
                ev.append(("progress", "someone-else", 9, 9, "decode"))
                ev.append(("progress", task.key, 1, 4, "detect"))
                ev.append(("done", Outcome(task.key, ok=True, worker=slot.name)))
            elif kind in ("die", "die-once"):
                ev.append(("died", "killed by signal 9"))
            elif kind.startswith("slow:"):
                self.timers[id(slot)] = (time.monotonic() + float(kind[5:]),
                                         ("done", Outcome(task.key, ok=True, worker=slot.name)))
            # "hang": nothing ever comes

    def wait(self, slots, timeout):
        out = []
        with self.lock:
            for s in slots:
                t = self.timers.get(id(s))
                if t and time.monotonic() >= t[0]:
                    del self.timers[id(s)]
                    self.events.setdefault(id(s), []).append(t[1])
                evs = self.events.get(id(s), [])
                if evs:
                    out.append((s, evs.pop(0)))
        if not out:
            time.sleep(timeout)
        return out

    def kill(self, slot: Slot) -> None:
        self.killed.append(slot.index)
        with self.lock:
            self.events.pop(id(slot), None)
            self.timers.pop(id(slot), None)

    def shutdown(self) -> None:
        self.shut = True


CFG = AnalyzeConfig()


def task(path: str, key: str | None = None, timeout: float | None = None) -> Task:
    return Task(key=key or path, path=path, config=CFG, timeout=timeout)


def test_a_task_whose_worker_dies_once_is_retried_on_a_fresh_worker():
    be = ScriptBackend()
    with SupervisedExecutor(be, 1) as ex:
        out = ex.submit(task("die-once")).result(5)
        assert out.ok and out.attempts == 2 and ex.replaced == 1
        ok = ex.submit(task("ok")).result(5)
        assert ok.ok and ok.attempts == 1 and ok.worker == "w2"
    assert be.shut


def test_a_task_that_kills_its_worker_twice_fails_with_a_clear_error_and_the_next_still_runs():
    be = ScriptBackend()
    with SupervisedExecutor(be, 1) as ex:
        bad = ex.submit(task("die"))
        good = ex.submit(task("ok"))
        out = bad.result(5)
        assert not out.ok and out.attempts == 2
        assert out.error == "die: worker died while analysing it, 2 time(s) (killed by signal 9)"
        assert out.seconds > 0  # the time its last attempt ran, as the batch store records it
        assert good.result(5).ok and ex.replaced == 2


def test_without_retries_a_worker_death_fails_the_task_at_once():
    with SupervisedExecutor(ScriptBackend(), 1, retries=0) as ex:
        out = ex.submit(task("die-once")).result(5)
        assert not out.ok and out.attempts == 1 and "1 time(s)" in out.error


def test_a_task_past_its_timeout_is_stopped_and_its_worker_replaced():
    be = ScriptBackend()
    with SupervisedExecutor(be, 1) as ex:
        t0 = time.monotonic()
        out = ex.submit(task("hang", timeout=0.3)).result(5)
        waited = time.monotonic() - t0
        assert not out.ok and out.error == "hang: timed out after 0.3 s (worker stopped)"
        assert out.attempts == 1 and out.worker == "w1" and 0.3 <= out.seconds < 5
        assert 0.3 <= waited < 5 and ex.replaced == 1 and 0 in be.killed
        after = ex.submit(task("ok")).result(5)
        assert after.ok and after.worker == "w2"
        fast = ex.submit(task("slow:0.05", timeout=5)).result(5)  # within its limit: kept
        assert fast.ok and ex.replaced == 1
        free = ex.submit(task("slow:0.4")).result(5)  # no limit
        assert free.ok and ex.replaced == 1


def test_cancel_a_queued_or_a_running_task():
    be = ScriptBackend()
    with SupervisedExecutor(be, 1) as ex:
        running = ex.submit(task("hang", key="r"))
        queued = ex.submit(task("ok", key="q"))
        deadline = time.monotonic() + 5
        while not running.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.running() and not queued.running()
        assert ex.cancel("q") and queued.cancelled()
        assert ex.cancel("r")
        with pytest.raises(CancelledError):
            running.result(5)
        assert not ex.cancel("unknown")
        assert ex.submit(task("ok")).result(5).ok and ex.replaced == 1


def test_close_with_cancel_abandons_the_queue_and_a_closed_executor_refuses_work():
    ex = SupervisedExecutor(ScriptBackend(), 1)
    running = ex.submit(task("hang", key="r"))
    queued = [ex.submit(task("ok", key=f"q{i}")) for i in range(3)]
    ex.close(cancel=True)
    assert all(f.cancelled() or isinstance(f.exception(5), CancelledError) for f in [running, *queued])
    with pytest.raises(RuntimeError, match="closed"):
        ex.submit(task("ok"))


def test_close_without_cancel_finishes_the_queue():
    ex = SupervisedExecutor(ScriptBackend(), 2)
    futs = [ex.submit(task("slow:0.05", key=str(i))) for i in range(5)]
    ex.close()
    assert [f.result(0).ok for f in futs] == [True] * 5


def test_workers_that_cannot_start_fail_every_task_with_the_reason():
    with SupervisedExecutor(ScriptBackend(start=["fatal"]), 1) as ex:
        out = ex.submit(task("ok", key="first")).result(5)
        assert out.ok is False and out.error == "workers cannot start: cannot load the model (fatal)"
        assert (out.key, out.seconds, out.worker) == ("first", 0.0, "")
        later = ex.submit(task("ok", key="later")).result(5)
        assert later.error == out.error and later.attempts == 0 and later.ok is False and later.key == "later"


def test_three_start_deaths_in_a_row_are_fatal_but_two_are_survived():
    with SupervisedExecutor(ScriptBackend(start=["died", "died"]), 1) as ex:
        assert ex.submit(task("ok")).result(5).ok and ex.replaced == 2
    with SupervisedExecutor(ScriptBackend(start=["died", "died", "died"]), 1) as ex:
        out = ex.submit(task("ok")).result(5)
        assert not out.ok and "workers cannot start" in out.error
    # a worker that started resets the count
    with SupervisedExecutor(ScriptBackend(start=["died", "died", "ok", "died", "died"]), 1) as ex:
        assert ex.submit(task("die-once")).result(5).ok


def test_a_task_handed_to_a_vanished_worker_runs_on_a_fresh_one():
    with SupervisedExecutor(ScriptBackend(), 1) as ex:
        out = ex.submit(task("handover")).result(5)
        assert out.ok and out.attempts == 1 and ex.replaced == 1 and out.worker == "w2"


def test_progress_is_reported_for_the_running_task_only():
    seen = []
    with SupervisedExecutor(ScriptBackend(), 1, on_progress=lambda *a: seen.append(a)) as ex:
        assert ex.submit(task("progress", key="k")).result(5).ok
    assert seen == [("k", 1, 4, "detect")]


def test_tasks_are_spread_over_the_workers():
    be = ScriptBackend()
    with SupervisedExecutor(be, 3) as ex:
        futs = [ex.submit(task("slow:0.2", key=str(i))) for i in range(3)]
        workers = {f.result(5).worker for f in futs}
        assert len(workers) == 3  # side by side, not one after the other
    assert be.spawned == 3 and sorted(be.killed) == [0, 1, 2]
    with SupervisedExecutor(ScriptBackend(), 0) as ex:
        assert ex.workers == 1 and ex.submit(task("ok")).result(5).ok


def test_a_free_worker_takes_the_next_task_while_another_is_busy():
    with SupervisedExecutor(ScriptBackend(), 2) as ex:
        long = ex.submit(task("slow:1.0", key="long"))
        deadline = time.monotonic() + 5
        while not long.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        short = ex.submit(task("ok", key="short")).result(5)
        assert not long.done()  # the second worker took it: no waiting behind the long task
        assert short.worker != long.result(5).worker


def test_supervision_says_what_happens_and_names_its_thread(caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="fakescope.engine.supervised")
    with SupervisedExecutor(ScriptBackend(start=["died"]), 1) as ex:
        assert any(t.name == "fakescope-script-supervisor" and t.daemon for t in threading.enumerate())
        out = ex.submit(task("die", key="k")).result(5)
        assert 0.0 <= out.seconds < 5
    msgs = [r.getMessage() for r in caplog.records]
    assert "script worker 0 could not start: cannot load the model (died)" in msgs
    assert "die: worker died (killed by signal 9); retrying on a fresh worker" in msgs
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # the supervisor itself never failed


def test_every_queued_task_fails_cleanly_when_workers_cannot_start(caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="fakescope.engine.supervised")
    with SupervisedExecutor(ScriptBackend(start=["fatal"]), 1) as ex:
        futs = [ex.submit(task("ok", key=str(i))) for i in range(4)]
        outs = [f.result(5) for f in futs]
    assert [o.key for o in outs] == ["0", "1", "2", "3"]
    assert all(o.ok is False and o.error.startswith("workers cannot start") for o in outs)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class BrokenBackend(ScriptBackend):
    """A backend whose wait() fails once a task was handed over: the supervisor itself fails."""

    def wait(self, slots, timeout):
        if any(s.state == "busy" for s in slots):
            raise OSError("backend lost")
        return super().wait(slots, timeout)


def test_a_failing_supervisor_fails_every_task_with_a_message_and_logs_why(caplog):
    import logging

    caplog.set_level(logging.ERROR, logger="fakescope.engine.supervised")
    ex = SupervisedExecutor(BrokenBackend(), 1)
    futs = [ex.submit(task("hang", key=f"k{i}")) for i in range(3)]
    outs = []
    for f in futs:
        try:
            outs.append(f.result(5))
        except CancelledError:
            outs.append(None)
    failed = [o for o in outs if o is not None]
    assert failed and all(o.ok is False and o.error == "the executor failed (see the log)" for o in failed)
    assert [o.key for o in failed] == [f"k{i}" for i in range(3 - len(failed), 3)]
    assert outs[0] is None  # the running task is cancelled, not left hanging
    assert "script supervisor failed" in [r.getMessage() for r in caplog.records]
    later = ex.submit(task("ok", key="later")).result(5)
    assert later.ok is False and later.error == "the executor failed (see the log)"
    ex.close()
    with pytest.raises(RuntimeError, match=r"^executor is closed$"):
        ex.submit(task("ok"))


class LateBackend(ScriptBackend):
    """Killing a slot does not drop what its worker already reported (a real pipe can still hold it)."""

    def kill(self, slot):
        self.killed.append(slot.index)
        with self.lock:
            t = self.timers.pop(id(slot), None)
            if t:
                self.events.setdefault(id(slot), []).append(t[1])


def test_a_late_result_of_a_stopped_worker_is_ignored():
    be = LateBackend()
    with SupervisedExecutor(be, 1) as ex:
        out = ex.submit(task("slow:0.6", key="t", timeout=0.2)).result(5)
        assert not out.ok and "timed out after 0.2 s" in out.error
        nxt = ex.submit(task("ok", key="n")).result(5)
        assert nxt.ok and nxt.key == "n" and nxt.worker == "w2"


def test_a_cancel_after_a_plain_close_still_abandons_the_running_task():
    """close() waits for the queue; a later close(cancel=True) (a user pressing Ctrl-C while it waits) must
    stop the running task rather than return at once and leave the first close waiting for ever."""
    ex = SupervisedExecutor(ScriptBackend(), 1)
    running = ex.submit(task("hang", key="r"))
    waiting = threading.Thread(target=ex.close)
    waiting.start()
    time.sleep(0.2)
    assert waiting.is_alive()  # the plain close waits for the hanging task
    ex.close(cancel=True)
    waiting.join(5)
    assert not waiting.is_alive()
    assert running.cancelled() or isinstance(running.exception(5), CancelledError)


def test_a_retry_left_queued_when_workers_stop_starting_fails_with_no_time_and_no_worker(caplog):
    """The task's worker died, and its replacement cannot start: the queued retry fails with the reason,
    0 s spent and no worker named (it never ran again), after two attempts — and the supervisor itself
    did not fail on the way."""
    import logging

    caplog.set_level(logging.WARNING, logger="fakescope.engine.supervised")
    with SupervisedExecutor(ScriptBackend(start=["ok", "fatal"]), 1, retries=1) as ex:
        out = ex.submit(task("die", key="k")).result(5)
    assert out.ok is False and out.error == "workers cannot start: cannot load the model (fatal)"
    assert (out.key, out.seconds, out.worker, out.attempts) == ("k", 0.0, "", 2)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _closing(ex: SupervisedExecutor) -> threading.Thread:
    """``ex.close()`` in a thread (it waits for the queue), started."""
    t = threading.Thread(target=ex.close, daemon=True)
    t.start()
    return t


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escaped any thread (the supervisor must never die with one)."""
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


def test_a_worker_that_dies_while_the_executor_closes_is_replaced_and_its_task_retried(thread_errors):
    be = ScriptBackend()
    ex = SupervisedExecutor(be, 1)
    fut = ex.submit(task("die-once", key="d"))
    closing = _closing(ex)  # at once: the death and the retry happen while closing
    closing.join(5)
    assert not closing.is_alive(), "close() must not wait for ever for a retry no worker will run"
    out = fut.result(0)
    assert out.ok and out.attempts == 2 and be.shut and not thread_errors


def test_a_timeout_or_a_cancel_while_closing_ends_cleanly(thread_errors):
    be = ScriptBackend()
    ex = SupervisedExecutor(be, 1)
    fut = ex.submit(task("hang", key="t", timeout=0.3))
    closing = _closing(ex)
    closing.join(5)
    assert not closing.is_alive() and "timed out after 0.3 s" in fut.result(0).error
    assert be.shut and not thread_errors  # every worker stopped, the backend shut down
    be = ScriptBackend()
    ex = SupervisedExecutor(be, 1)
    fut = ex.submit(task("hang", key="c"))
    closing = _closing(ex)
    time.sleep(0.2)
    assert ex.cancel("c")
    closing.join(5)
    assert not closing.is_alive() and (fut.cancelled() or isinstance(fut.exception(0), CancelledError))
    assert be.shut and not thread_errors


def test_a_timeout_fires_on_the_second_worker_while_the_first_is_idle():
    with SupervisedExecutor(ScriptBackend(), 2) as ex:
        quick = ex.submit(task("ok", key="quick"))  # the first worker: done at once, then idle
        hung = ex.submit(task("hang", key="hung", timeout=0.3))  # the second worker
        assert quick.result(5).ok
        out = hung.result(5)
        assert not out.ok and "timed out after 0.3 s" in out.error and out.seconds >= 0.3
