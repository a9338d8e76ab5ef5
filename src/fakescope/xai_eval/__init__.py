"""Measure explanation methods on manipulated faces with known masks (``fakescope xai-eval``).

::

    from fakescope.xai_eval import evaluate
    reports = evaluate(["sbi_mobilenetv2"], ["gradcam++", "lime"], faces=["faces/"], out="xai/")

Builds self-blended images and eye/mouth splices from real faces (or reads FaceForensics++ masks),
explains them with each method and reports localisation (pointing game, relevance mass, pixel
AUROC), faithfulness (deletion/insertion against a random order with a neutral baseline), the
model-randomisation sanity check and cost, beside random, centre-prior and ground-truth maps, with
bootstrap intervals. Modules: :mod:`.data` (faces and masks), :mod:`.metrics`, :mod:`.neutral`
(perturbation baselines), :mod:`.run` (the evaluation and its report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .data import MaskedFace, RealFace, build_masked_faces, extracted_faces, read_ffpp, real_faces
from .metrics import SANITY_MAX_RHO
from .neutral import choose_neutral, measure_neutral
from .run import EvalConfig, choose_defaults, evaluate_model, quality_entry, write_report

log = logging.getLogger(__name__)

__all__ = [
    "SANITY_MAX_RHO",
    "EvalConfig",
    "MaskedFace",
    "RealFace",
    "build_masked_faces",
    "choose_defaults",
    "choose_neutral",
    "evaluate",
    "evaluate_model",
    "extracted_faces",
    "measure_neutral",
    "quality_entry",
    "read_ffpp",
    "real_faces",
    "write_report",
]


def evaluate(
    models: Sequence[str],
    methods: Sequence[str],
    faces: Sequence[str | Path] = (),
    out: str | Path | None = None,
    ffpp: str | Path | None = None,
    n_sbi: int = 40,
    n_splice: int = 40,
    max_faces: int | None = None,
    faces_split: str | None = None,
    config: EvalConfig | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Evaluate ``methods`` on each of ``models`` (registered names, ``name:tag`` for other weights)
    over manipulated faces built from the real faces under ``faces`` and/or read from the FF++ tree
    ``ffpp``; write the report into ``out`` when given. Returns one report dict per model.

    A ``.csv`` among ``faces`` is a list of face crops with landmarks (``fakescope extract-faces``
    output, the offline corpus' ``manifest.csv``): its real faces of ``faces_split`` are read as they
    are (:func:`extracted_faces`); other paths are searched for images and videos and faces detected.
    """
    from ..models import create_model
    from ..pipeline import parse_models

    cfg = config or EvalConfig(methods=tuple(methods), **overrides)
    say = progress or (lambda m: log.info("%s", m))
    reals: list[RealFace] = []
    samples: list[MaskedFace] = []
    if faces:
        lists = [f for f in faces if str(f).lower().endswith(".csv")]
        media = [f for f in faces if f not in lists]
        for f in lists:
            reals += extracted_faces(f, split=faces_split, limit=max_faces, seed=cfg.seed)
        if media:
            reals += real_faces(media)
        if max_faces:
            reals = reals[:max_faces]
        say(f"{len(reals)} real faces")
        if len(reals) < 2:
            raise ValueError(f"need at least 2 real faces under {', '.join(map(str, faces))}, found {len(reals)}")
        samples += build_masked_faces(reals, n_sbi, n_splice, seed=cfg.seed)
    if ffpp:
        samples += read_ffpp(ffpp)
    if not samples:
        raise ValueError("no manipulated faces: give a folder of real faces or a FaceForensics++ folder")
    reports = []
    for spec in models:
        ((name, tag),) = parse_models(spec, "default")
        model = create_model(name, weights=tag)
        rep = evaluate_model(model, samples, cfg, reals=[r.image for r in reals], progress=say)
        rep["defaults"] = choose_defaults(rep)
        reports.append(rep)
    if out is not None:
        write_report(reports, out, cfg)
    return reports
