"""Analyse many inputs with one loaded model; one bad file never loses the others' results.

Layout of the output folder::

    OUT/<input stem>/result.json     one per analysed input (schema: fakescope.schema.AnalysisResult)
    OUT/summary.json                 every input with its status, verdict or error, and the settings
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import FakescopeError
from .media import find_media
from .pipeline import Analyzer, ProgressFn, config_dict
from .schema import AnalysisResult, write_atomic
from .stages.render import RenderStage

log = logging.getLogger(__name__)


@dataclass
class BatchItem:
    path: str
    ok: bool
    result: AnalysisResult | None = None
    result_path: str | None = None
    error: str | None = None


def _unique_dir(out: Path, stem: str, taken: set[str]) -> Path:
    name, i = stem, 2
    while name in taken:
        name, i = f"{stem}-{i}", i + 1
    taken.add(name)
    return out / name


def run_batch(
    inputs: Sequence[str | Path],
    out_dir: str | Path | None,
    analyzer: Analyzer,
    on_start: Callable[[Path], ProgressFn | None] | None = None,
    on_done: Callable[[BatchItem], None] | None = None,
    annotate: bool | None = None,
    report: bool = True,
    heatmap_scale: str = "shared",
) -> list[BatchItem]:
    """Analyse every media file under ``inputs``; write results atomically into ``out_dir``.

    Next to each ``result.json``: ``report.html`` (unless ``report`` is false) and, when ``annotate``
    is true (default: when explanations were asked for), the annotated video or image and the heatmaps.
    """
    if annotate is None:
        annotate = bool(analyzer.config.explain)
    files, missing = find_media([Path(p) for p in inputs])
    items = [BatchItem(path=p, ok=False, error=msg) for p, msg in missing]
    for it in items:
        log.info(it.error)
        if on_done:
            on_done(it)
    out = Path(out_dir) if out_dir is not None else None
    render = RenderStage(annotate=annotate, report=report, heatmap_scale=heatmap_scale)
    taken: set[str] = set()
    for path in files:
        progress = on_start(path) if on_start else None
        try:
            result = analyzer.analyze(path, progress=progress)
        except FakescopeError as e:
            item = BatchItem(path=str(path), ok=False, error=str(e))
        except Exception as e:  # keep the batch going; report the unexpected cause in one line
            log.debug("unexpected failure on %s", path, exc_info=True)
            item = BatchItem(path=str(path), ok=False, error=f"{path}: unexpected error: {type(e).__name__}: {e}")
        else:
            item = BatchItem(path=str(path), ok=True, result=result)
            if out is not None:
                dest = _unique_dir(out, path.stem, taken) / "result.json"
                render(result, dest.parent, progress=progress)
                result.save(dest)
                item.result_path = str(dest)
        if not item.ok:
            log.info(item.error)
        items.append(item)
        if on_done:
            on_done(item)
    if out is not None:
        summary = {
            "settings": config_dict(analyzer.config),
            "inputs": [
                {
                    "path": it.path,
                    "status": "ok" if it.ok else "error",
                    "verdict": it.result.verdict.label if it.result else None,
                    "reason": it.result.verdict.reason if it.result else None,
                    "result": it.result_path,
                    "error": it.error,
                }
                for it in items
            ],
        }
        write_atomic(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return items
