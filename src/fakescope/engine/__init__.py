"""Executors: where analyses run. One interface (:class:`Executor`: ``submit(Task) -> Future[Outcome]``)
over three engines, shared by ``fakescope batch`` and ``fakescope serve``:

* ``thread``  — threads in this process sharing loaded analyzers (timeouts act between frames);
* ``process`` — local worker processes, each with its own model copy and thread budget; a task over
  its timeout has its worker killed and replaced; a task whose worker dies is retried once;
* ``ray``     — the same work as Ray actors (``pip install 'fakescope[cluster]'``), on a local Ray
  instance or a cluster (``address``), supervised the same way.

>>> from fakescope.engine import Task, create_executor          # doctest: +SKIP
>>> with create_executor("process", workers=2, warm=cfg) as ex:  # doctest: +SKIP
...     outcome = ex.submit(Task("k", "clip.mp4", cfg)).result()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import Executor, Outcome, Task, cpu_count, default_workers, threads_per_worker

if TYPE_CHECKING:
    from ..pipeline import AnalyzeConfig

__all__ = [
    "ENGINES",
    "Executor",
    "Outcome",
    "Task",
    "cpu_count",
    "create_executor",
    "default_workers",
    "list_engines",
    "threads_per_worker",
]

ENGINES = ("thread", "process", "ray")


def list_engines() -> list[str]:
    return list(ENGINES)


def create_executor(engine: str, workers: int | None = None, warm: AnalyzeConfig | None = None, *,
                    threads: int | None = None, ray_address: str | None = None, retries: int = 1,
                    on_progress: Callable[[str, int, int | None, str], None] | None = None,
                    **kwargs) -> Executor:  # fmt: skip
    """Start an executor. ``workers``: threads, processes or actors (default: one per two local cores,
    or one per cluster CPU for Ray); ``warm``: a config whose model each worker loads before its first task;
    ``threads``: each worker's thread budget (default: cores / workers locally, 1 on Ray)."""
    if engine == "thread":
        from .thread import ThreadExecutor

        return ThreadExecutor(workers or 1, warm=warm, on_progress=on_progress, **kwargs)
    if engine == "process":
        from .process import ProcessExecutor

        workers = workers or default_workers()
        return ProcessExecutor(workers, warm=warm, threads=threads, retries=retries, on_progress=on_progress)
    if engine == "ray":
        try:
            import ray  # noqa: F401

            from .ray_actors import RayExecutor, cluster_cpus
        except ImportError as e:
            raise ValueError(f"the ray engine needs Ray: pip install 'fakescope[cluster]' ({e})") from None
        workers = workers or cluster_cpus(ray_address) or default_workers()
        return RayExecutor(workers, warm=warm, threads=threads or 1, address=ray_address, retries=retries,
                           on_progress=on_progress)  # fmt: skip
    raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
