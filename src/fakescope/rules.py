"""Verdict rules: turn one identity's per-face fake probabilities into a verdict.

Every rule is a registered function ``rule(probs, threshold, **params) -> RuleOutcome``; a track
with fewer faces than ``min_faces`` is *inconclusive* before any rule runs (see :func:`judge_track`).
The video verdict (:func:`judge_video`) is **fake** when any identity is fake (it names which),
**real** when at least one identity is real and none is fake, and **inconclusive** otherwise —
in particular when no face was found. "No face" is never "real".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._registry import Registry

Label = Literal["fake", "real", "inconclusive"]


@dataclass(frozen=True)
class RuleOutcome:
    label: Label
    score: float | None  # the rule's aggregate fake score in [0, 1] (None when inconclusive)
    reason: str


RuleFn = Callable[..., RuleOutcome]
_RULES: Registry[RuleFn] = Registry("verdict rule")


def register_rule(name: str) -> Callable[[RuleFn], RuleFn]:
    return _RULES.register(name)  # type: ignore[return-value]


def list_rules() -> list[str]:
    return _RULES.names()


def get_rule(name: str) -> RuleFn:
    return _RULES.get(name)


@register_rule("share")
def share_rule(probs: np.ndarray, threshold: float = 0.5, share: float = 0.5) -> RuleOutcome:
    """The seeds' rule: fake when more than ``share`` of the faces have p_fake > ``threshold``."""
    frac = float(np.mean(probs > threshold))
    label: Label = "fake" if frac > share else "real"
    op = ">" if label == "fake" else "≤"
    return RuleOutcome(label, frac, f"{frac:.0%} of {len(probs)} faces have p_fake > {threshold:g} ({op} {share:.0%})")


@register_rule("mean")
def mean_rule(probs: np.ndarray, threshold: float = 0.5) -> RuleOutcome:
    """Fake when the mean p_fake exceeds ``threshold``."""
    m = float(np.mean(probs))
    label: Label = "fake" if m > threshold else "real"
    op = ">" if label == "fake" else "≤"
    return RuleOutcome(label, m, f"mean p_fake {m:.3f} over {len(probs)} faces {op} {threshold:g}")


@register_rule("confident")
def confident_rule(
    probs: np.ndarray, threshold: float = 0.5, high: float = 0.8, low: float = 0.2, min_fakes: int = 11
) -> RuleOutcome:
    """"Confident" averaging of the DFDC winner (Seferbekov, 2020).

    If many faces are confidently fake (more than ``min_fakes`` and more than n / 2.5 above ``high``),
    average only those; else if more than 90 % are confidently real (below ``low``), average those;
    else average everything. The average is compared with ``threshold``.
    """
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


def judge_track(
    probs: np.ndarray | list[float], rule: str = "share", threshold: float = 0.5, min_faces: int = 1, **params
) -> RuleOutcome:
    probs = np.asarray(probs, dtype=np.float64)
    fn = get_rule(rule)
    if len(probs) < min_faces:
        return RuleOutcome(
            "inconclusive", None, f"only {len(probs)} face(s); rule {rule!r} needs at least {min_faces}"
        )
    return fn(probs, threshold=threshold, **params)


def judge_video(tracks: list[tuple[int, RuleOutcome]]) -> tuple[RuleOutcome, list[int]]:
    """Combine per-identity outcomes ``[(track_id, outcome)]``; returns (verdict, fake track ids)."""
    if not tracks:
        return RuleOutcome("inconclusive", None, "no face found"), []
    fakes = [(tid, o) for tid, o in tracks if o.label == "fake"]
    reals = [(tid, o) for tid, o in tracks if o.label == "real"]
    if fakes:
        ids = [tid for tid, _ in fakes]
        score = max(o.score or 0.0 for _, o in fakes)
        names = ", ".join(f"#{t}" for t in ids)
        return RuleOutcome("fake", score, f"identity {names} judged fake: {fakes[0][1].reason}"), ids
    if reals:
        score = max(o.score or 0.0 for _, o in reals)
        first_id, first = reals[0]
        which = f"identity #{first_id}" if len(reals) == 1 else f"{len(reals)} identities (#{first_id}"
        detail = f"{first.reason}" + ("" if len(reals) == 1 else ", ...)")
        return RuleOutcome("real", score, f"no identity judged fake; {which} judged real: {detail}"), []
    return RuleOutcome("inconclusive", None, f"{len(tracks)} identities, none with enough faces for the rule"), []
