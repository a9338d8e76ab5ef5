"""The analysis stages, one module each, composed by :class:`fakescope.pipeline.Analyzer`:

    decode → detect → track → crop → quality → score → calibrate → aggregate → explain → render

Each stage is a small object built once from the analysis settings and called with typed inputs:

============  ==============================================  =============================================
stage         called with                                     returns
============  ==============================================  =============================================
decode        a path                                          :class:`Decoded` (media info, frame iterator)
detect        an RGB frame                                    ``list[Detection]``
track         the frame's detections                          one identity id per detection
crop          an RGB frame and a face box                     ``{crop key: crop}`` (one per model input)
quality       a crop, its face and frame, the media quality   :class:`~fakescope.schema.FaceQuality`
score         the faces' crops                                raw logits, N faces × M models
calibrate     raw logits                                      calibrated logits per model and combined
aggregate     the scored frames                               per-identity results and the input verdict
explain       the chosen faces                                maps and :class:`ExplanationRecord` s
render        an :class:`AnalysisResult` and a folder         result.json, report.html, heatmaps, video
============  ==============================================  =============================================

The stages hold no per-input state except the tracker (a :class:`TrackStage` per input) and the explain
candidates (:class:`Candidates`). :meth:`Analyzer.analyze` (files) and :meth:`Analyzer.stream` (frames as
they arrive: the live driver) drive the same stages through one :class:`fakescope.pipeline.Run`; the CLI,
the server's jobs, the batch engines and ``fakescope watch`` call those two methods, never the stages'
internals. A new stage is one module here and one line in ``Run``.
"""

from .aggregate import AggregateStage, judge_tracks, outcome_of
from .calibrate import UNCALIBRATED, CalibrateStage, load_calibration
from .crop import CropStage
from .decode import Decoded, DecodeStage, expected_samples
from .detect import DetectStage
from .explain import Candidates, ExplainStage
from .quality import QualityStage
from .render import RenderStage
from .score import Member, ScoreStage, make_classifier
from .track import TrackStage

__all__ = [
    "UNCALIBRATED",
    "AggregateStage",
    "CalibrateStage",
    "Candidates",
    "CropStage",
    "DecodeStage",
    "Decoded",
    "DetectStage",
    "ExplainStage",
    "Member",
    "QualityStage",
    "RenderStage",
    "ScoreStage",
    "TrackStage",
    "expected_samples",
    "judge_tracks",
    "load_calibration",
    "make_classifier",
    "outcome_of",
]
