"""Options several commands share, and ``analyze``'s options → :class:`~fakescope.AnalyzeConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..defaults import DEFAULT_MODEL as DEFAULT_MODEL_SPEC

__all__ = ["ANALYSIS_OPTIONS", "DEFAULT_MODEL_SPEC", "ExplainOption", "TrustAnchors", "analysis_config"]

# `--explain-option/-E`, shared by `analyze` and `explain`
ExplainOption = Annotated[
    list[str] | None,
    typer.Option(
        "--explain-option",
        "-E",
        help="Explainer option KEY=VALUE or METHOD.KEY=VALUE, repeatable (e.g. -E bf16=true -E ig.n_steps=64).",
    ),
]

# `--trust-anchors`, shared by `analyze`, `batch`, `serve` and `provenance`
TrustAnchors = Annotated[
    Path | None,
    typer.Option(
        "--trust-anchors",
        envvar="FAKESCOPE_TRUST_ANCHORS",
        help="PEM bundle of trust-anchor certificates for Content Credentials signers (offline; default: "
        "signers are not verified against a trust list).",
    ),
]


# analyze's parameters that make its AnalyzeConfig (`fakescope batch` takes the same ones, see cli/batch.py)
ANALYSIS_OPTIONS = ("model", "weights", "checkpoint", "calibration", "combine", "band", "detector", "frames", "rule",
                    "threshold", "min_faces", "margin", "detect_size", "batch_size", "backend", "bf16", "explain",
                    "explain_per_track", "explain_option", "provenance", "trust_anchors")  # fmt: skip


def analysis_config(*, model: str, weights: str = "default", checkpoint: Path | None = None,
                    calibration: str = "default", combine: str = "mean", band: str | None = None,
                    detector: str | None = None, frames: str = "even:32", rule: str = "calibrated",
                    threshold: float = 0.5, min_faces: int | None = None, margin: float = 0.3, detect_size: int = 640,
                    batch_size: int = 16, backend: str = "torch", bf16: bool = False, explain: str | None = None,
                    explain_per_track: int = 4, explain_option: list[str] | None = None, provenance: bool = True,
                    trust_anchors: Path | None = None):  # fmt: skip
    """analyze's options → AnalyzeConfig (raises ValueError / FakescopeError on a bad value)."""
    from ..faces import DEFAULT_FACE_DETECTOR
    from ..media import Sampling
    from ..pipeline import AnalyzeConfig, check_analysis_options

    cfg = AnalyzeConfig(
        model=model,
        weights=None if weights.lower() == "none" else weights,
        checkpoint_path=str(checkpoint) if checkpoint else None,
        calibration=calibration,
        combine=combine,
        band=_band(band),
        detector=detector or DEFAULT_FACE_DETECTOR,
        sampling=Sampling.parse(frames),
        rule=rule,
        threshold=threshold,
        min_faces=min_faces,
        margin=margin,
        detect_max_side=detect_size or None,
        batch_size=batch_size,
        explain=_methods(explain),
        explain_options=_explain_options(_methods(explain), explain_option),
        explain_per_track=explain_per_track,
        backend=backend,
        bf16=bf16,
        provenance=provenance,
        trust_anchors=str(Path(trust_anchors).expanduser().resolve()) if trust_anchors else None,
    )
    check_analysis_options(cfg)  # ranges that depend on other options (the threshold lies in the band)
    return cfg


def _band(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--band must be LOW,HIGH (e.g. 0.35,0.65), not {text!r}") from None
    if not 0.0 <= lo <= 0.5 <= hi <= 1.0:
        raise ValueError(f"--band {text}: need 0 ≤ LOW ≤ 0.5 ≤ HIGH ≤ 1")
    return lo, hi


def _methods(text: str | None) -> tuple[str, ...]:
    """Parse ``gradcam,ig`` and check every name against the explainer registry."""
    if not text:
        return ()
    from ..explainers import explainer_class

    names = tuple(m.strip() for m in text.split(",") if m.strip())
    for m in names:
        if m != "default":  # "default": the methods chosen by measurement for the model
            explainer_class(m)
    return names


def _explain_options(methods: tuple[str, ...], pairs: list[str] | None) -> dict:
    """``--explain-option`` pairs → {method: {option: value}} (checked against the chosen methods)."""
    if not pairs:
        return {}
    from ..explainers import parse_options

    if not methods:
        raise ValueError("--explain-option needs explanation methods (--explain / --methods)")
    return parse_options(methods, pairs)



def apply_mode(cfg, mode: str, options: dict):
    """``cfg`` for ``--mode`` (fakescope.thorough), given the options as typed (``model``, ``checkpoint``,
    ``frames``: what the user named wins over thorough mode's choices). Returns ``(cfg, used)``: ``used`` is the
    line saying what thorough mode runs, None in standard mode. Raises ValueError / FakescopeError."""
    from dataclasses import replace

    from ..pipeline import check_analysis_options
    from ..thorough import MODES, thorough_config

    if mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "thorough":
        return cfg, None
    model_given = options.get("model", DEFAULT_MODEL_SPEC) != DEFAULT_MODEL_SPEC or bool(options.get("checkpoint"))
    frames_given = options.get("frames", "even:32") != "even:32"
    cfg, choice = thorough_config(cfg, model_given=model_given, frames_given=frames_given)
    cfg = replace(cfg, mode="thorough")
    check_analysis_options(cfg)
    return cfg, f"thorough: {choice.describe() if choice else cfg.model}, frames {cfg.sampling.describe()}"
