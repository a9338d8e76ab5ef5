"""Progress of one analysis, stage by stage: what the CLI, the HTTP API and the web app show.

A progress callback is called as ``progress(done, total, stage)``: ``done`` of ``total`` units
(``total`` None when unknown) of one of :data:`STAGES`. Callbacks written for the older two-argument
form ``progress(done, total)`` still work: they receive the face-detection stage only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

# stage -> what it counts (for messages)
STAGES: dict[str, str] = {
    "decode": "opening the file",
    "detect": "sampled frames decoded and searched for faces",
    "classify": "faces scored",
    "explain": "heatmaps computed",
    "render": "annotated frames written",
}
STAGE_TITLES = {
    "decode": "Decoding",
    "detect": "Finding faces",
    "classify": "Scoring faces",
    "explain": "Explaining",
    "render": "Rendering",
}
UNITS = {"decode": "", "detect": "frames", "classify": "faces", "explain": "maps", "render": "frames"}

StageProgressFn = Callable[[int, "int | None", str], None]


def with_stage(progress: Callable | None) -> StageProgressFn | None:
    """``progress`` as a three-argument callback (a two-argument one gets the ``detect`` stage only)."""
    if progress is None:
        return None
    try:
        inspect.signature(progress).bind(0, None, "detect")
        return progress
    except (TypeError, ValueError):
        return lambda done, total, stage: progress(done, total) if stage == "detect" else None


def describe(stage: str, done: int, total: int | None) -> str:
    """A one-line status, e.g. ``Explaining: 3 of 8 maps``."""
    title = STAGE_TITLES.get(stage, stage.capitalize())
    unit = UNITS.get(stage, "")
    if not unit:
        return f"{title}…"
    return f"{title}: {done}" + (f" of {total}" if total else "") + f" {unit}"
