"""Verdict rules: turn one identity's face scores into a verdict — ``fake``, ``real`` or ``uncertain``.

Every rule is a registered function ``rule(evidence, threshold, **params) -> RuleOutcome`` where
``evidence`` is a :class:`TrackEvidence` (calibrated face log-odds in time order, quality weights and,
for an ensemble, every model's log-odds) or, for the simple rules, a plain array of face
probabilities. The default rule is ``calibrated`` (see :func:`calibrated_rule`): a shrunken,
median-filtered, quality-weighted mean of calibrated log-odds (:mod:`fakescope.aggregate`) compared
with an **uncertain band**; an identity is *uncertain* when its score lies inside the band, when it
has too few usable faces, when most of its faces are too soft or small to trust a "fake", or when
the models of an ensemble disagree. ``share``, ``mean`` and ``confident`` are the seed projects'
two-outcome rules, kept for comparison (they also see calibrated probabilities).

An identity with fewer usable faces than ``min_faces`` is *uncertain* before any rule runs (see
:func:`judge_track`). The video verdict (:func:`judge_video`) is **fake** when any identity is
fake (it names which), **uncertain** when none is fake but one is uncertain, **real** when at least
one identity is real and the others are real or had too few faces to count (and do not lean fake),
and **inconclusive** when no face was found. "No face" is never "real".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ._registry import Registry
from .aggregate import aggregate_track
from .calibration import logit, sigmoid

Label = Literal["fake", "real", "uncertain", "inconclusive"]
DEFAULT_RULE = "calibrated"
DEFAULT_BAND = (0.35, 0.65)
SOFT_FLAGS = ("blurry", "small")


@dataclass(frozen=True)
class RuleOutcome:
    label: Label
    score: float | None  # the rule's aggregate fake score in [0, 1] (None when inconclusive)
    reason: str
    interval: tuple[float, float] | None = None  # P(fake) interval (calibrated rule)
    share_above: float | None = None  # share of faces with P(fake) above the threshold
    n_used: int | None = None  # faces of usable quality
    model_scores: dict[str, float] = field(default_factory=dict)  # per model of an ensemble
    too_few: bool = False  # uncertain only because too few usable faces were seen


@dataclass(frozen=True)
class TrackEvidence:
    """One identity's faces: calibrated combined log-odds (time order), weights, flags, per-model log-odds."""

    logits: np.ndarray
    weights: np.ndarray | None = None
    flags: tuple[tuple[str, ...], ...] | None = None
    model_logits: dict[str, np.ndarray] = field(default_factory=dict)
    is_video: bool = True

    @property
    def probs(self) -> np.ndarray:
        return sigmoid(self.logits)

    @classmethod
    def from_probs(cls, probs) -> TrackEvidence:
        return cls(logits=logit(np.asarray(probs, dtype=np.float64)))


def _probs(evidence) -> np.ndarray:
    return evidence.probs if isinstance(evidence, TrackEvidence) else np.asarray(evidence, dtype=np.float64)


RuleFn = Callable[..., RuleOutcome]
_RULES: Registry[RuleFn] = Registry("verdict rule")


def register_rule(name: str) -> Callable[[RuleFn], RuleFn]:
    return _RULES.register(name)  # type: ignore[return-value]


def list_rules() -> list[str]:
    return _RULES.names()


def get_rule(name: str) -> RuleFn:
    return _RULES.get(name)


@register_rule("share")
def share_rule(probs, threshold: float = 0.5, share: float = 0.5) -> RuleOutcome:
    """The seeds' rule: fake when more than ``share`` of the faces have p_fake > ``threshold``."""
    probs = _probs(probs)
    frac = float(np.mean(probs > threshold))
    label: Label = "fake" if frac > share else "real"
    op = ">" if label == "fake" else "≤"
    return RuleOutcome(label, frac, f"{frac:.0%} of {len(probs)} faces have p_fake > {threshold:g} ({op} {share:.0%})")


@register_rule("mean")
def mean_rule(probs, threshold: float = 0.5) -> RuleOutcome:
    """Fake when the mean p_fake exceeds ``threshold``."""
    probs = _probs(probs)
    m = float(np.mean(probs))
    label: Label = "fake" if m > threshold else "real"
    op = ">" if label == "fake" else "≤"
    return RuleOutcome(label, m, f"mean p_fake {m:.3f} over {len(probs)} faces {op} {threshold:g}")


@register_rule("confident")
def confident_rule(
    probs, threshold: float = 0.5, high: float = 0.8, low: float = 0.2, min_fakes: int = 11
) -> RuleOutcome:
    """"Confident" averaging of the DFDC winner (Seferbekov, 2020).

    If many faces are confidently fake (more than ``min_fakes`` and more than n / 2.5 above ``high``),
    average only those; else if more than 90 % are confidently real (below ``low``), average those;
    else average everything. The average is compared with ``threshold``.
    """
    probs = _probs(probs)
    n = len(probs)
    hi, lo = probs[probs > high], probs[probs < low]
    if len(hi) > n / 2.5 and len(hi) > min_fakes:
        score, how = float(hi.mean()), f"mean of the {len(hi)} faces above {high:g}"
    elif len(lo) > 0.9 * n:
        score, how = float(lo.mean()), f"mean of the {len(lo)} faces below {low:g}"
    else:
        score, how = float(probs.mean()), f"mean of all {n} faces"
    label: Label = "fake" if score > threshold else "real"
    op = ">" if label == "fake" else "≤"
    return RuleOutcome(label, score, f"confident score {score:.3f} ({how}) {op} {threshold:g}")


@register_rule("calibrated")
def calibrated_rule(
    evidence,
    threshold: float = 0.5,
    band: tuple[float, float] = DEFAULT_BAND,
    window: int = 5,
    prior_faces: float = 1.0,
    min_spread: float = 1.0,
    soft_gate: bool = True,
    interval_real: bool = False,
) -> RuleOutcome:
    """Default: shrunken mean of calibrated log-odds vs an uncertain band; ensembles must agree.

    Score = :func:`fakescope.aggregate.aggregate_track` of the calibrated (combined) face log-odds;
    **fake** when it is above ``band[1]``, **real** when below ``band[0]``, else **uncertain**.
    Also uncertain: a fake score when most faces are flagged blurry or small (``soft_gate``: soft
    real faces are where detectors raise false alarms), and, for an ensemble, when one model's
    identity score is above the band while another's is below it. ``interval_real``: also **real** when
    the whole interval lies below 0.5 (a consistent lean; never used to call anything fake).
    """
    ev = evidence if isinstance(evidence, TrackEvidence) else TrackEvidence.from_probs(evidence)
    lo, hi = band
    if not lo <= threshold <= hi:
        raise ValueError(f"threshold {threshold:g} must lie inside the uncertain band [{lo:g}, {hi:g}]")
    window = window if ev.is_video else 1
    agg = aggregate_track(ev.logits, ev.weights, threshold, window, prior_faces, min_spread)
    per_model = {
        name: aggregate_track(z, ev.weights, threshold, window, prior_faces, min_spread).score
        for name, z in ev.model_logits.items()
    }
    n = agg.n_faces
    faces = f"[{agg.interval[0]:.2f}–{agg.interval[1]:.2f}] from {n} face{'s' * (n != 1)}"
    where = f"P(fake) {agg.score:.2f} {faces}"
    common = dict(interval=agg.interval, share_above=agg.share_above, model_scores=per_model)
    if len(per_model) > 1:
        above = [m for m, v in per_model.items() if v > hi]
        below = [m for m, v in per_model.items() if v < lo]
        if above and below:
            detail = ", ".join(f"{m} {per_model[m]:.2f}" for m in above + below)
            return RuleOutcome("uncertain", agg.score, f"the models disagree ({detail}); {where}", **common)
    if agg.score > hi:
        if soft_gate and ev.flags is not None:
            soft = sum(any(f in SOFT_FLAGS for f in fl) for fl in ev.flags)
            if soft * 2 > n:
                return RuleOutcome(
                    "uncertain", agg.score,
                    f"leans fake ({where}), but {soft} of {n} faces are blurry or small, where detectors "
                    "call real faces fake", **common,
                )
        # as many decimals as it takes for the printed comparison to be true (never "0.65 > 0.65")
        return RuleOutcome("fake", agg.score, f"P(fake) {_shown(agg.score, hi, '>')} {faces} > {hi:g}", **common)
    if agg.score < lo:
        return RuleOutcome("real", agg.score, f"P(fake) {_shown(agg.score, lo, '<')} {faces} < {lo:g}", **common)
    if interval_real and agg.interval[1] < 0.5:
        return RuleOutcome("real", agg.score, f"{where}: the whole interval lies below 0.5", **common)
    return RuleOutcome(
        "uncertain", agg.score, f"{where} lies in the uncertain band {lo:g}–{hi:g}", **common
    )


def _shown(score: float, bound: float, op: str) -> str:
    """``score`` printed with the fewest decimals (at least 2) that keep ``score op bound`` true as printed."""
    for digits in (2, 3, 4, 6):
        text = f"{score:.{digits}f}"
        if (float(text) > bound) if op == ">" else (float(text) < bound):
            return text
    return repr(float(score))  # the shortest text that reads back as this very number


def threshold_range(rule: str, band: tuple[float, float] = DEFAULT_BAND) -> tuple[float, float]:
    """The thresholds a rule accepts — the one definition that the CLI (exit 2), the HTTP API (422), the web
    app's slider and :class:`fakescope.pipeline.Analyzer` check against. The ``calibrated`` rule decides with
    its uncertain band, so its threshold (which faces count as "above", and when a briefly seen identity
    leans fake) must lie inside the band; the seeds' rules take any probability."""
    if rule == "calibrated":
        return float(band[0]), float(band[1])
    return 0.0, 1.0


def check_threshold(rule: str, threshold: float, band: tuple[float, float] = DEFAULT_BAND) -> None:
    """ValueError naming the allowed range when ``threshold`` lies outside :func:`threshold_range`."""
    lo, hi = threshold_range(rule, band)
    if not (lo <= threshold <= hi):
        why = " (the uncertain band in force)" if rule == "calibrated" else ""
        raise ValueError(f"threshold {threshold:g} is outside the allowed range {lo:g}–{hi:g} for rule {rule!r}{why}")


def judge_track(
    evidence, rule: str = DEFAULT_RULE, threshold: float = 0.5, min_faces: int = 1, **params
) -> RuleOutcome:
    """Verdict of one identity. ``evidence``: a :class:`TrackEvidence` or an array of face P(fake).

    Faces of usable quality (weight ≥ 0.5: at most one quality flag) are counted against
    ``min_faces``; with fewer, the identity is *uncertain* (``too_few``) and its score is still given.
    """
    ev = evidence if isinstance(evidence, TrackEvidence) else TrackEvidence.from_probs(evidence)
    fn = get_rule(rule)
    n = len(ev.logits)
    if n == 0:
        return RuleOutcome("inconclusive", None, "no face")
    n_used = n if ev.weights is None else int(np.sum(np.asarray(ev.weights) >= 0.5 - 1e-9))
    # the simple rules see the probabilities exactly as given (no round trip through log-odds)
    probs = ev.probs if isinstance(evidence, TrackEvidence) else np.asarray(evidence, dtype=np.float64)
    arg = ev if rule == "calibrated" else probs
    if n_used < min_faces:
        score = None
        if n:
            inner = fn(arg, threshold=threshold, **params)
            score = inner.score
        low = "" if n_used == n else f" of usable quality ({n - n_used} flagged)"
        return RuleOutcome(
            "uncertain", score, f"only {n_used} face(s){low}; at least {min_faces} needed for a verdict",
            n_used=n_used, too_few=True,
        )
    out = fn(arg, threshold=threshold, **params)
    return RuleOutcome(out.label, out.score, out.reason, out.interval, out.share_above, n_used, out.model_scores)


def judge_video(tracks: list[tuple[int, RuleOutcome]], threshold: float = 0.5) -> tuple[RuleOutcome, list[int]]:
    """Combine per-identity outcomes ``[(track_id, outcome)]``; returns (verdict, fake track ids).

    Identities with too few usable faces are left out when another identity has a verdict, unless
    they lean fake (score above ``threshold``): then the video is uncertain.
    """
    if not tracks:
        return RuleOutcome("inconclusive", None, "no face found"), []
    fakes = [(tid, o) for tid, o in tracks if o.label == "fake"]
    if fakes:
        ids = [tid for tid, _ in fakes]
        tid, top = max(fakes, key=lambda t: t[1].score or 0.0)
        names = ", ".join(f"#{t}" for t in ids)
        return RuleOutcome("fake", top.score, f"identity {names} judged fake: {top.reason}", top.interval), ids
    counted = [(tid, o) for tid, o in tracks if not o.too_few]
    brief = [(tid, o) for tid, o in tracks if o.too_few]
    leaning = [(tid, o) for tid, o in brief if o.score is not None and o.score > threshold]
    uncertain = [(tid, o) for tid, o in counted if o.label == "uncertain"]
    if uncertain:
        tid, top = max(uncertain, key=lambda t: t[1].score or 0.0)
        return RuleOutcome("uncertain", top.score, f"identity #{tid} is uncertain: {top.reason}", top.interval), []
    if not counted:
        return RuleOutcome(
            "uncertain", None, f"{len(tracks)} identit{'y' if len(tracks) == 1 else 'ies'}, none with enough "
            f"usable faces for a verdict ({tracks[0][1].reason})"
        ), []
    if leaning:
        tid, top = max(leaning, key=lambda t: t[1].score or 0.0)
        return RuleOutcome(
            "uncertain", top.score,
            f"identity #{tid}, seen in too few faces for a verdict, leans fake (P(fake) {top.score:.2f})",
        ), []
    reals = [(tid, o) for tid, o in counted if o.label == "real"]
    if not reals:
        return RuleOutcome("inconclusive", None, f"{len(tracks)} identities, none with enough faces for the rule"), []
    tid, top = max(reals, key=lambda t: t[1].score or 0.0)
    which = f"identity #{tid}" if len(reals) == 1 else f"{len(reals)} identities (most suspicious #{tid}"
    detail = top.reason + ("" if len(reals) == 1 else ")")
    return RuleOutcome("real", top.score, f"no identity judged fake; {which} judged real: {detail}", top.interval), []
