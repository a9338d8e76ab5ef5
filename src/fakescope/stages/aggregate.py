"""The *aggregate* stage: scored faces → one verdict per identity (fakescope.aggregate, by a verdict rule
of fakescope.rules) and one for the input (the most fake identity decides), weighed against the input's
provenance (fakescope.provenance)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..calibration import logit
from ..provenance import apply_provenance
from ..rules import DEFAULT_BAND, RuleOutcome, TrackEvidence, judge_track, judge_video
from ..schema import Face, FrameResult, TrackResult, Verdict


def judge_tracks(
    frames: Sequence[FrameResult], cfg, min_faces: int, is_video: bool = True,
    band: tuple[float, float] | None = None, model_keys: tuple[str, ...] = (),
) -> list[TrackResult]:
    """One verdict per identity from its faces' calibrated scores (see rules); ``cfg``: an AnalyzeConfig."""
    by_track: dict[int, list[tuple[float, Face]]] = {}
    for fr in frames:
        for face in fr.faces:
            by_track.setdefault(face.track_id, []).append((fr.time, face))
    params = dict(cfg.rule_params)
    if cfg.rule == "calibrated":
        params.setdefault("band", band or cfg.band or DEFAULT_BAND)
    out = []
    for tid in sorted(by_track):
        items = by_track[tid]
        times = [t for t, _ in items]
        faces = [f for _, f in items]
        probs = np.array([f.p_fake for f in faces])
        weights = np.array([f.quality.weight if f.quality else 1.0 for f in faces])
        flags = tuple(tuple(f.quality.flags) if f.quality else () for f in faces)
        model_logits = {}
        if len(model_keys) > 1:
            model_logits = {k: np.array([f.scores[k].logit for f in faces]) for k in model_keys}
        ev = TrackEvidence(
            logits=logit(probs), weights=weights, flags=flags,
            model_logits=model_logits, is_video=is_video,
        )
        o = judge_track(ev, cfg.rule, cfg.threshold, min_faces=min_faces, **params)
        counts: dict[str, int] = {}
        for fl in flags:
            for f in fl:
                counts[f] = counts.get(f, 0) + 1
        out.append(
            TrackResult(
                id=tid,
                n_faces=len(faces),
                first_time=min(times),
                last_time=max(times),
                mean_p_fake=float(np.mean(probs)),
                max_p_fake=float(np.max(probs)),
                label=o.label,
                score=o.score,
                reason=o.reason,
                interval=None if o.interval is None else [round(v, 4) for v in o.interval],
                share_above=o.share_above if o.share_above is not None else float(np.mean(probs > cfg.threshold)),
                n_used=o.n_used,
                too_few_faces=o.too_few,
                flag_counts=counts,
                model_scores={k: round(v, 4) for k, v in o.model_scores.items()},
            )
        )
    return out


def outcome_of(t: TrackResult) -> RuleOutcome:
    return RuleOutcome(t.label, t.score, t.reason, None if t.interval is None else tuple(t.interval),
                       too_few=t.too_few_faces)


class AggregateStage:
    def __init__(self, cfg, band: tuple[float, float], model_keys: tuple[str, ...]) -> None:
        self.cfg = cfg
        self.band = band
        self.model_keys = model_keys

    def tracks(self, frames: Sequence[FrameResult], min_faces: int, is_video: bool) -> list[TrackResult]:
        return judge_tracks(frames, self.cfg, min_faces, is_video=is_video, band=self.band,
                            model_keys=self.model_keys)

    def verdict(self, tracks: list[TrackResult], any_frame: bool, provenance=None) -> Verdict:
        """The input's verdict from its identities' (none decoded: inconclusive), then its provenance."""
        outcome, fake_ids = judge_video([(t.id, outcome_of(t)) for t in tracks], self.cfg.threshold)
        if not any_frame:
            verdict = Verdict(label="inconclusive", score=None, reason="no frame could be decoded")
        else:
            verdict = Verdict(label=outcome.label, score=outcome.score, reason=outcome.reason, fake_tracks=fake_ids,
                              interval=None if outcome.interval is None else list(outcome.interval))
        return apply_provenance(verdict, provenance)

    def __call__(self, frames: Sequence[FrameResult], min_faces: int, is_video: bool,
                 provenance=None) -> tuple[list[TrackResult], Verdict]:
        tracks = self.tracks(frames, min_faces, is_video)
        return tracks, self.verdict(tracks, bool(frames), provenance)
