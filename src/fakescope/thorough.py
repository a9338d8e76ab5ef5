"""``analyze --mode thorough``: the strongest installed published detector, on fewer sampled faces (issue 26).

The strongest detectors published in 2025–26 are CLIP ViT-L/14 networks trained on FaceForensics++ (GenD,
Effort). They are large — a ViT-L/14 forward costs about 80 GFLOP per face — so thorough mode samples fewer
frames than the standard mode, chosen so that a one-minute clip takes at most about two minutes on two CPU
cores (``bench/vit_l14_cost.py``; numbers in ``bench/RESULTS.md``).

Which detector: the installed models (``fakescope weights pull`` / ``add``) whose weights come from a
published format in :data:`STRENGTH`, strongest first (by the papers' cross-dataset AUC, trained on FF++):
GenD, then Forensics Adapter, then Effort. Ties go to a catalogue entry over a file added by hand, then by
name. With none installed, thorough mode refuses with what to pull (exit code 2 in the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import UnknownNameError

__all__ = ["STRENGTH", "THOROUGH_FRAMES", "NoPublishedDetector", "ThoroughChoice", "strongest_installed",
           "thorough_config"]  # fmt: skip

#: published checkpoint formats thorough mode uses, strongest first (papers' cross-dataset AUC, FF++-trained:
#: GenD WACV 2026 CDFv2 video AUC 0.96 / DFDC 0.87; Forensics Adapter CVPR 2025, its README 0.957 / 0.872;
#: Effort ICML 2025)
STRENGTH = ("gend", "gend-linear", "forensics-adapter", "effort")
#: frames sampled per video in thorough mode: ≤ 2 minutes for a 1-minute clip on 2 cores (bench/RESULTS.md,
#: "ViT-L/14 cost per face")
THOROUGH_FRAMES = "even:16"
MODES = ("standard", "thorough")


class NoPublishedDetector(UnknownNameError):
    """Thorough mode without an installed published detector (a usage problem: exit code 2)."""


@dataclass(frozen=True)
class ThoroughChoice:
    """The detector thorough mode runs: installed model ``name``, from published ``source_format``."""

    name: str
    source_format: str
    title: str
    in_catalogue: bool

    def describe(self) -> str:
        return f"{self.name} ({self.title}; format {self.source_format})"


def _candidates() -> list[ThoroughChoice]:
    from .catalogue.store import list_installed, read_manifest

    out = []
    for name in list_installed():
        try:
            m = read_manifest(name) or {}
        except Exception:  # a damaged install is not a candidate (verify/pull report it)
            continue
        formats = {mem.get("source_format") for mem in m.get("members", [])}
        fmt = next((f for f in STRENGTH if f in formats), None)
        if fmt is not None and len(formats) == 1:
            out.append(ThoroughChoice(name, fmt, m.get("entry", {}).get("title", name), bool(m.get("in_catalogue"))))
    return sorted(out, key=lambda c: (STRENGTH.index(c.source_format), not c.in_catalogue, c.name))


def strongest_installed() -> ThoroughChoice:
    """The strongest installed published detector; :class:`NoPublishedDetector` when there is none."""
    found = _candidates()
    if not found:
        raise NoPublishedDetector(
            "thorough mode uses a published detector, and none is installed: pull one with `fakescope weights "
            "pull gend-clip-l14` (GenD, CLIP ViT-L/14, 1.2 GB), or install a file you have with `fakescope "
            "weights add FILE --name NAME --format gend`"
        )
    return found[0]


def thorough_config(cfg, *, model_given: bool = False, frames_given: bool = False):
    """``cfg`` (an :class:`~fakescope.pipeline.AnalyzeConfig`) for thorough mode, and the choice made.

    The model becomes the strongest installed published detector unless one was named (``model_given``);
    video sampling becomes :data:`THOROUGH_FRAMES` unless it was given (``frames_given``).
    """
    from .media import Sampling

    choice = None
    if not model_given:
        choice = strongest_installed()
        cfg = replace(cfg, model=choice.name, weights="default", checkpoint_path=None)
    if not frames_given:
        cfg = replace(cfg, sampling=Sampling.parse(THOROUGH_FRAMES))
    return cfg, choice
