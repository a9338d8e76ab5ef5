"""Progress goes through every stage of an analysis (issue 15): decode, detect, classify, explain, render."""

from __future__ import annotations

import pytest

from fakescope.pipeline import Analyzer
from fakescope.progress import describe, with_stage


def test_real_analysis_reports_every_stage_in_order(samples, tmp_path):
    pytest.importorskip("fakescope.explainers")
    from fakescope.render.artifacts import write_artifacts

    calls: list[tuple[str, int, int | None]] = []
    progress = lambda done, total, stage: calls.append((stage, done, total))  # noqa: E731
    result = Analyzer(model="meso4", sampling="even:4", explain=("gradcam",), explain_per_track=2).analyze(
        samples / "single_face.mp4", progress=progress
    )
    write_artifacts(result, tmp_path, annotate=True, report=True, progress=progress)
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["decode", "detect", "classify", "explain", "render"]
    last = {stage: (done, total) for stage, done, total in calls}
    assert last["detect"] == (4, 4)
    assert last["explain"][0] == last["explain"][1] >= 1
    assert last["render"][1] == result.input.frame_count and last["render"][0] >= result.input.frame_count - 8


def test_two_argument_callbacks_still_get_the_frames():
    seen = []
    fn = with_stage(lambda done, total: seen.append((done, total)))
    fn(1, 4, "detect")
    fn(2, 8, "explain")
    assert seen == [(1, 4)]
    assert describe("explain", 3, 8) == "Explaining: 3 of 8 maps" and describe("decode", 0, None) == "Decoding…"
