"""The work a worker does for one :class:`~fakescope.engine.base.Task`, the same in every executor.

:class:`AnalyzerPool` keeps loaded analyzers (model + face detector) keyed by what they load, so a
worker loads a model once and then serves any number of inputs; :func:`run_task` analyses one input,
writes its pictures and returns an :class:`~fakescope.engine.base.Outcome` (never raises for a bad
input).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ..errors import FakescopeError
from ..pipeline import AnalyzeConfig, Analyzer, ProgressFn
from ..schema import AnalysisResult
from ..stages.render import RenderStage
from .base import Outcome, Task

log = logging.getLogger(__name__)

#: Fault injection for tests of failure isolation, e.g. ``hang:slow_clip,die:crash_me``: an input
#: whose file name contains the text after ``hang:`` never finishes; one after ``die:`` kills its
#: worker process (only inside a worker process, ``FAKESCOPE_WORKER=1``).
FAULTS_ENV = "FAKESCOPE_FAULTS"


class AnalyzerLike(Protocol):
    config: AnalyzeConfig

    def analyze(self, path: str | Path, progress: ProgressFn | None = None) -> AnalysisResult: ...


AnalyzerFactory = Callable[[AnalyzeConfig], AnalyzerLike]


def pool_key(cfg: AnalyzeConfig) -> tuple:
    """What an Analyzer loads at construction: the model and the face detector."""
    return (cfg.model, cfg.weights, cfg.checkpoint_path, cfg.calibration, cfg.backend, cfg.bf16, cfg.detector,
            cfg.det_threshold, cfg.detect_max_side, cfg.min_face_size)  # fmt: skip


class AnalyzerPool:
    """Loaded analyzers, keyed by model/weights/face detector; each instance serves one task at a time.

    At most ``max_keys`` configurations are kept idle (least recently used ones are dropped)."""

    def __init__(self, factory: AnalyzerFactory = Analyzer, max_keys: int = 3) -> None:
        self._factory = factory
        self._max_keys = max_keys
        self._idle: OrderedDict[tuple, list[AnalyzerLike]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def warm(self, cfg: AnalyzeConfig) -> None:
        """Load an analyzer for ``cfg`` now (a worker does this before taking its first task)."""
        with self.acquire(cfg):
            pass

    @contextmanager
    def acquire(self, cfg: AnalyzeConfig) -> Iterator[AnalyzerLike]:
        key = pool_key(cfg)
        with self._lock:
            idle = self._idle.get(key)
            analyzer = idle.pop() if idle else None
        if analyzer is None:
            analyzer = self._factory(cfg)
            self.loads += 1
        analyzer.config = cfg  # per-task settings (sampling, rule, explain...) on the loaded model
        try:
            yield analyzer
        finally:
            with self._lock:
                self._idle.setdefault(key, []).append(analyzer)
                self._idle.move_to_end(key)
                while len(self._idle) > self._max_keys:
                    self._idle.popitem(last=False)


def set_thread_budget(threads: int) -> None:
    """Give this process ``threads`` threads for torch, OpenCV, OpenMP and the video decoder.

    Call it in a worker before the first analysis (OpenMP reads its variable when it starts)."""
    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["FAKESCOPE_DECODE_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass


def summarize(result: AnalysisResult) -> dict:
    """The numbers a results table keeps of one analysis."""
    probs = [f.p_fake for fr in result.frames for f in fr.faces]
    return {
        "verdict": result.verdict.label,
        "score": result.verdict.score,
        "reason": result.verdict.reason,
        "headline": result.verdict.headline,
        "n_faces": len(probs),
        "n_tracks": len(result.tracks),
        "max_p_fake": max(probs) if probs else None,
        "mean_p_fake": sum(probs) / len(probs) if probs else None,
        "kind": result.input.kind,
        "duration": result.input.duration,
        "timings": dict(result.timings),
        "warnings": len(result.warnings),
    }


def map_free_text(result: AnalysisResult, clean: Callable[[str], str]) -> None:
    """Apply ``clean`` to every free text of ``result`` a reader sees (warnings, reasons), in place."""
    result.warnings = [clean(w) for w in result.warnings]
    result.verdict.reason = clean(result.verdict.reason)
    if result.verdict.detector_reason:
        result.verdict.detector_reason = clean(result.verdict.detector_reason)
    if result.provenance is not None:
        result.provenance.warnings = [clean(w) for w in result.provenance.warnings]
    for t in result.tracks:
        t.reason = clean(t.reason)


def redact(result: AnalysisResult, pairs: tuple[tuple[str, str], ...]) -> None:
    """Apply ``(text, replacement)`` pairs to every free text of ``result`` (warnings, reasons)."""

    def clean(t: str) -> str:
        for old, new in pairs:
            t = t.replace(old, new)
        return t

    map_free_text(result, clean)


def _fault(path: str, check: Callable[[], None] | None) -> None:
    spec = os.environ.get(FAULTS_ENV)
    if not spec:
        return
    name = Path(path).name
    for item in spec.split(","):
        action, _, text = item.strip().partition(":")
        if not text or text not in name:
            continue
        if action == "hang":
            log.info("fault injection: %s hangs", name)
            while True:  # until the executor gives up on it (a thread checks its deadline)
                time.sleep(0.05)
                if check:
                    check()
        if action == "die" and os.environ.get("FAKESCOPE_WORKER") == "1":
            log.info("fault injection: %s kills its worker", name)
            os._exit(70)


def run_task(task: Task, pool: AnalyzerPool, check: Callable[[], None] | None = None,
             progress: ProgressFn | None = None, worker: str = "") -> Outcome:  # fmt: skip
    """Analyse ``task``'s input, write its pictures into ``task.out_dir``; never raises for a bad input.

    ``check`` is called between sampled frames and may raise to abandon the task (a thread's deadline
    or cancellation); that exception propagates."""
    t0 = time.perf_counter()

    def on_progress(done: int, total: int | None, stage: str = "detect") -> None:
        if progress:
            progress(done, total, stage)
        if check:
            check()

    def failed(error: str) -> Outcome:
        return Outcome(task.key, ok=False, error=" ".join(error.split())[:500], seconds=time.perf_counter() - t0,
                       worker=worker)  # fmt: skip

    try:
        _fault(task.path, check)
        with pool.acquire(task.config) as analyzer:
            result = analyzer.analyze(task.path, progress=on_progress)
        if task.name:
            result.input.name = task.name
        if task.redact:
            redact(result, task.redact)
        if task.out_dir:
            render = RenderStage(annotate=task.annotate, report=task.report, pdf=task.pdf)
            render(result, task.out_dir, progress=on_progress, reraise=(Abandoned,))
    except FakescopeError as e:
        return failed(str(e))
    except Abandoned:
        raise
    except Exception as e:
        log.debug("unexpected failure on %s", task.path, exc_info=True)
        return failed(f"{task.path}: unexpected error: {type(e).__name__}: {e}")
    return Outcome(task.key, ok=True, result_json=result.to_json(), summary=summarize(result),
                   seconds=time.perf_counter() - t0, worker=worker)  # fmt: skip


class Abandoned(Exception):  # noqa: N818 - raised by a ``check`` to abandon a task in a thread
    """Raised by a thread's ``check`` when its task timed out or was cancelled."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
