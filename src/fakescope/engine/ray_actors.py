"""The same work as Ray actors: one :class:`AnalyzeActor` per CPU slot, each loading its model once.

``AnalyzeActor`` is a plain callable class (``actor(task) -> Outcome``), so the same stage runs in
``analyze()``, in a local process and as a Ray actor without a second implementation. The driver
(the batch command or the server) keeps the results store and writes ``result.json``; inputs are
read by the actors from their paths, so a cluster needs the inputs (and the output folder, for the
pictures) on storage every node mounts at the same path, and fakescope installed on every node.

``ray.init(address=...)`` joins a running cluster (``ray start --head`` on one machine, ``ray start
--address HEAD:PORT`` on the others); without an address a private local Ray instance is started
with ``workers`` CPUs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from ..pipeline import AnalyzeConfig
from .base import Outcome, Task
from .supervised import Backend, Slot, SupervisedExecutor

log = logging.getLogger(__name__)

#: environment variables handed to the actors (fault injection for tests, allocator switches)
_FORWARD_ENV = ("FAKESCOPE_FAULTS", "FAKESCOPE_CACHE", "OMP_WAIT_POLICY")


class AnalyzeActor:
    """Callable class: loads the analyzer in ``__init__``; ``__call__(task)`` analyses one input."""

    def __init__(self, warm: AnalyzeConfig | None = None, threads: int = 1) -> None:
        os.environ["FAKESCOPE_WORKER"] = "1"
        from .work import AnalyzerPool, set_thread_budget

        set_thread_budget(threads)
        self.pool = AnalyzerPool()
        if warm is not None:
            self.pool.warm(warm)
        self.name = f"pid {os.getpid()}"

    def ready(self) -> str:
        return self.name

    def __call__(self, task: Task) -> Outcome:
        from .work import run_task

        return run_task(task, self.pool, worker=self.name)

    analyze = __call__  # Ray calls actor methods by name


class RayBackend(Backend):
    name = "ray"

    def __init__(self, warm: AnalyzeConfig | None, threads: int, workers: int, address: str | None) -> None:
        import ray

        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            env = {k: os.environ[k] for k in _FORWARD_ENV if k in os.environ}
            kwargs = {"runtime_env": {"env_vars": env}} if env else {}
            address = address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, **kwargs)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=False, **kwargs)  # fmt: skip
            self._owns = True
        self._actor_cls = ray.remote(num_cpus=threads, max_restarts=0, max_task_retries=0)(AnalyzeActor)
        self._warm = warm
        self._threads = threads

    def spawn(self, index: int) -> Slot:
        actor = self._actor_cls.remote(self._warm, self._threads)
        return Slot(index=index, name=f"ray actor {index}", extra={"actor": actor, "ref": actor.ready.remote()})

    def begin(self, slot: Slot, task: Task) -> None:
        slot.extra["ref"] = slot.extra["actor"].analyze.remote(task)

    def wait(self, slots: list[Slot], timeout: float) -> list[tuple[Slot, tuple]]:
        ray = self._ray
        by_ref = {s.extra["ref"]: s for s in slots if s.extra.get("ref") is not None}
        if not by_ref:
            return []
        ready, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=timeout)
        events = []
        for ref in ready:
            slot = by_ref[ref]
            slot.extra["ref"] = None
            try:
                value = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                kind = "fatal" if slot.state == "starting" and _init_failed(e) else "died"
                events.append((slot, (kind, " ".join(str(e).split())[:300])))
                continue
            except ray.exceptions.RayError as e:
                events.append((slot, ("died", " ".join(str(e).split())[:300])))
                continue
            if slot.state == "starting":
                slot.name = f"ray {value}"
                events.append((slot, ("ready",)))
            else:
                events.append((slot, ("done", value)))
        return events

    def kill(self, slot: Slot) -> None:
        actor = slot.extra.pop("actor", None)
        if actor is not None:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass

    def shutdown(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def _init_failed(e: Exception) -> bool:
    """An actor whose constructor raised (e.g. bad weights): every actor would fail the same way."""
    return "__init__" in str(e) or "creation task" in str(e)


class RayExecutor(SupervisedExecutor):
    """``workers`` Ray actors of ``threads`` CPUs each, supervised like local processes."""

    def __init__(self, workers: int, warm: AnalyzeConfig | None = None, threads: int = 1, address: str | None = None,
                 retries: int = 1, on_progress: Callable[[str, int, int | None, str], None] | None = None) -> None:
        self.threads = threads
        super().__init__(RayBackend(warm, threads, workers, address), workers, retries=retries, on_progress=on_progress)


def cluster_cpus(address: str | None = None) -> int | None:
    """CPUs of the Ray cluster at ``address`` (joined for the question), or None without one."""
    import ray

    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            return None
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    return int(ray.cluster_resources().get("CPU", 0)) or None
