"""The *render* stage: an analysis result → the pictures next to its result.json (heatmaps, annotated
video or image, report.html, report.pdf; fakescope.render). Pictures are a bonus: a failure to draw them
is recorded in the result's warnings and never loses the verdict."""

from __future__ import annotations

import logging
from pathlib import Path

from ..schema import AnalysisResult

log = logging.getLogger(__name__)


class RenderStage:
    def __init__(self, annotate: bool = True, report: bool = True, pdf: bool = False,
                 heatmap_scale: str = "shared") -> None:
        self.annotate = annotate
        self.report = report
        self.pdf = pdf
        self.heatmap_scale = heatmap_scale

    def needed(self, result: AnalysisResult) -> bool:
        return bool(self.annotate or self.report or result.explanations)

    def __call__(self, result: AnalysisResult, folder: str | Path, progress=None, reraise: tuple = ()) -> None:
        """Draw ``result``'s pictures into ``folder`` (their paths recorded in the result); exceptions of
        the types in ``reraise`` (a cancelled task) propagate, any other becomes a warning."""
        if not self.needed(result):
            return
        try:
            from ..render import artifacts  # looked up at call time (tests patch write_artifacts)

            artifacts.write_artifacts(result, folder, annotate=self.annotate, report=self.report, progress=progress,
                                      pdf=self.pdf, heatmap_scale=self.heatmap_scale)
        except reraise:
            raise
        except Exception as e:  # pictures are a bonus: never lose the verdict for them
            path = result.input.path
            log.warning("%s: could not write pictures: %s", path, e, exc_info=log.isEnabledFor(10))
            result.warnings.append(f"{path}: could not write pictures: {type(e).__name__}: {e}")
