"""The analysis pipeline: media → faces → identity tracks → per-face scores → verdicts.

It is a stream: frames are decoded sequentially and only the sampled ones are converted; faces are
cropped as they are found and classified in batches, so memory does not grow with video length.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import __version__
from ._perf import to_channels_last
from .errors import WeightsError
from .faces import DEFAULT_FACE_DETECTOR, create_face_detector
from .faces.crop import DEFAULT_MARGIN, crop_face
from .media import Sampling, open_media
from .models import create_model, get_model_info, sha256_file
from .rules import RuleOutcome, get_rule, judge_track, judge_video
from .schema import AnalysisResult, ExplanationRecord, Face, FrameResult, InputInfo, Settings, TrackResult, Verdict
from .tracking import IouTracker

log = logging.getLogger(__name__)

DEFAULT_MODEL = "mesoinception4"

ProgressFn = Callable[[int, int | None], None]  # (frames done, frames expected or None)


@dataclass(frozen=True)
class AnalyzeConfig:
    """Every setting of an analysis; recorded in ``result.json`` (``settings``)."""

    model: str = DEFAULT_MODEL
    # a weight tag, "default" (the model's default tag) or None (untrained: only for development)
    weights: str | None = "default"
    checkpoint_path: str | None = None
    detector: str = DEFAULT_FACE_DETECTOR
    sampling: Sampling = field(default_factory=Sampling)
    rule: str = "share"
    rule_params: dict = field(default_factory=dict)
    threshold: float = 0.5
    # fewest faces a track needs for a verdict; None = 1 for images, 3 for videos
    min_faces: int | None = None
    margin: float = DEFAULT_MARGIN
    detect_max_side: int | None = 640
    min_face_size: int = 24
    det_threshold: float = 0.6
    batch_size: int = 16
    track_max_gap: int = 3
    # explanation methods (fakescope.explainers) run on the explained faces: per identity, the
    # ``explain_per_track`` faces with the highest p_fake (so faces judged fake come first)
    # how faces are scored: "torch" (eager), "onnx" (onnxruntime; the model is exported once to a cache
    # folder, $FAKESCOPE_CACHE or ~/.cache/fakescope), with ``bf16`` for torch: bfloat16 autocast
    backend: str = "torch"
    bf16: bool = False
    explain: tuple[str, ...] = ()
    explain_per_track: int = 4
    explain_target: str = "fake"
    # per-method explainer options, {method: {option: value}} (see fakescope.explainers.parse_options)
    explain_options: dict = field(default_factory=dict)
    # a cheap faithfulness score and flags per explained face (fakescope.explainers.faithfulness)
    explain_faithfulness: bool = True


class Analyzer:
    """Holds a loaded model and face detector; analyses one input per :meth:`analyze` call."""

    def __init__(self, config: AnalyzeConfig | None = None, **overrides) -> None:
        cfg = replace(config or AnalyzeConfig(), **overrides)
        if isinstance(cfg.sampling, str):
            cfg = replace(cfg, sampling=Sampling.parse(cfg.sampling))
        if "default" in cfg.explain:  # the methods chosen by measurement for this model
            from .explainers.quality import default_methods

            picked = [m for e in cfg.explain for m in (default_methods(cfg.model) if e == "default" else (e,))]
            cfg = replace(cfg, explain=tuple(dict.fromkeys(picked)))
        self.config = cfg
        get_rule(cfg.rule)  # fail early on an unknown rule
        info = get_model_info(cfg.model)
        if cfg.weights == "default" and info.default_weights is None and cfg.checkpoint_path is None:
            raise WeightsError(
                f"model {cfg.model!r} ships no trained weights; pass a checkpoint file "
                "(--checkpoint), or weights 'none' for an untrained model (meaningless scores)"
            )
        self.model = create_model(cfg.model, weights=cfg.weights, checkpoint_path=cfg.checkpoint_path)
        self.input_size = self.model.info.input_size
        self.classifier = self._classifier()
        self.detector = create_face_detector(
            cfg.detector, threshold=cfg.det_threshold, max_side=cfg.detect_max_side, min_size=cfg.min_face_size
        )

    def _classifier(self):
        cfg = self.config
        if cfg.backend not in ("torch", "onnx"):
            raise ValueError(f"unknown backend {cfg.backend!r}: use 'torch' or 'onnx'")
        if cfg.backend == "onnx":
            if cfg.bf16:
                raise ValueError("bf16 applies to the torch backend only")
            from .models.export import cached_onnx_model

            return cached_onnx_model(self.model)
        if cfg.bf16:
            from .models.export import autocast_bf16

            return autocast_bf16(self.model)
        return to_channels_last(self.model)  # exact; 1.3–1.8× faster CNN forwards on a CPU

    @property
    def backend_name(self) -> str:
        return "onnxruntime" if self.config.backend == "onnx" else ("torch-bf16" if self.config.bf16 else "torch")

    @torch.inference_mode()
    def _classify(self, crops: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255.0)
        if self.config.backend == "torch":  # H×W×C crops are channels-last already: no copy
            x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(x).float().reshape(-1).numpy()

    def analyze(self, path: str | Path, progress: ProgressFn | None = None) -> AnalysisResult:
        cfg = self.config
        path = Path(path)
        t_start = time.perf_counter()
        timings = dict.fromkeys(("decode", "detect", "classify"), 0.0)
        source = open_media(path, cfg.sampling)
        info = source.info
        min_faces = cfg.min_faces if cfg.min_faces is not None else (1 if info.kind == "image" else 3)
        expected = 1 if info.kind == "image" else _expected_samples(cfg.sampling, info.frame_count)

        tracker = IouTracker(max_gap=cfg.track_max_gap)
        frames: list[FrameResult] = []
        pending: list[tuple[Face, np.ndarray]] = []
        # per track, a bounded min-heap of the highest-p_fake faces to explain (memory stays bounded)
        keep: dict[int, list[tuple[float, int, Face, np.ndarray]]] = {}
        face_frame: dict[int, FrameResult] = {}

        def flush() -> None:
            t0 = time.perf_counter()
            logits = self._classify([c for _, c in pending])
            for (face, crop), lg in zip(pending, logits, strict=True):
                face.logit = float(lg)
                face.p_fake = float(1.0 / (1.0 + np.exp(-lg)))
                if cfg.explain:
                    heap = keep.setdefault(face.track_id, [])
                    item = (face.p_fake, id(face), face, crop)
                    (heapq.heappush if len(heap) < cfg.explain_per_track else heapq.heappushpop)(heap, item)
            pending.clear()
            timings["classify"] += time.perf_counter() - t0

        it = iter(source)
        while True:
            t0 = time.perf_counter()
            frame = next(it, None)
            timings["decode"] += time.perf_counter() - t0
            if frame is None:
                break
            t0 = time.perf_counter()
            dets = self.detector.detect(frame.image)
            ids = tracker.update([d.box for d in dets])
            faces = []
            for d, tid in zip(dets, ids, strict=True):
                face = Face(
                    box=[round(v, 2) for v in d.box],
                    landmarks=None if d.landmarks is None else np.round(d.landmarks, 2).tolist(),
                    det_score=round(d.score, 4),
                    p_fake=float("nan"),
                    logit=float("nan"),
                    track_id=tid,
                )
                faces.append(face)
                pending.append((face, crop_face(frame.image, d.box, self.input_size, cfg.margin)))
            timings["detect"] += time.perf_counter() - t0
            frames.append(FrameResult(index=frame.index, time=round(frame.time, 4), faces=faces))
            for face in faces:
                face_frame[id(face)] = frames[-1]
            if len(pending) >= cfg.batch_size:
                flush()
            if progress:
                progress(len(frames), expected)
        if pending:
            flush()

        explained, records = [], []
        if cfg.explain and keep:
            t0 = time.perf_counter()
            explained, records = self._explain(keep, face_frame)
            timings["explain"] = time.perf_counter() - t0

        tracks = _judge_tracks(frames, cfg, min_faces)
        outcome, fake_ids = judge_video([(t.id, _outcome(t)) for t in tracks])
        if not frames:
            verdict = Verdict(label="inconclusive", score=None, reason="no frame could be decoded")
        else:
            verdict = Verdict(label=outcome.label, score=outcome.score, reason=outcome.reason, fake_tracks=fake_ids)
        t0 = time.perf_counter()
        input_info = InputInfo(
            path=str(path),
            name=path.name,
            sha256=sha256_file(path),
            size_bytes=path.stat().st_size,
            kind=info.kind,
            width=info.width,
            height=info.height,
            fps=info.fps,
            duration=info.duration,
            frame_count=info.frame_count,
            rotation=info.rotation,
            codec=info.codec,
        )
        timings["hash"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        result = AnalysisResult(
            fakescope_version=__version__,
            input=input_info,
            settings=Settings(
                model=cfg.model,
                weights=self.model.weights_tag,
                detector=cfg.detector,
                sampling=cfg.sampling.describe() if info.kind == "video" else "image",
                rule=cfg.rule,
                threshold=cfg.threshold,
                min_faces=min_faces,
                margin=cfg.margin,
                detect_max_side=cfg.detect_max_side,
                min_face_size=cfg.min_face_size,
                backend=self.backend_name,
            ),
            frames=frames,
            tracks=tracks,
            verdict=verdict,
            timings={k: round(v, 4) for k, v in timings.items()},
            warnings=list(getattr(source, "warnings", [])),
            explanations=records,
        )
        result._explained = explained
        return result

    def _explain(self, keep, face_frame):
        """Run every configured explainer on the kept faces, batched per method."""
        from .explainers import explain

        cfg = self.config
        chosen = sorted(
            (item for heap in keep.values() for item in heap), key=lambda it: (face_frame[it[1]].index, it[2].track_id)
        )
        faces = [it[2] for it in chosen]
        x = torch.from_numpy(np.stack([it[3] for it in chosen])).permute(0, 3, 1, 2).float().div_(255.0)
        explained = [
            {
                "crop": it[3],
                "maps": {},
                "track_id": it[2].track_id,
                "frame_index": face_frame[it[1]].index,
                "time": face_frame[it[1]].time,
                "face": face_frame[it[1]].faces.index(it[2]),
                "p_fake": it[2].p_fake,
            }
            for it in chosen
        ]
        records = []
        for method in cfg.explain:
            maps = []
            for start in range(0, len(x), cfg.batch_size):
                ex = explain(self.model, x[start : start + cfg.batch_size], method=method, target=cfg.explain_target,
                             **cfg.explain_options.get(method, {}))
                maps.append(ex.maps)
            all_maps = np.concatenate(maps)
            checks = self._faithfulness(x, all_maps, method)
            for e, face, m, chk in zip(explained, faces, all_maps, checks, strict=True):
                e["maps"][method] = m
                records.append(
                    ExplanationRecord(
                        frame_index=e["frame_index"],
                        time=e["time"],
                        track_id=face.track_id,
                        face=e["face"],
                        p_fake=face.p_fake,
                        method=method,
                        target=ex.target,
                        layer=ex.layer,
                        sign=ex.sign,
                        value_range=ex.value_range,
                        params=ex.metadata()["params"],
                        faithfulness=None if chk is None else chk.score,
                        faithfulness_detail={} if chk is None else chk.record(),
                        flags=[] if chk is None else chk.flags,
                    )
                )
        return explained, records

    def _faithfulness(self, x, maps, method):
        """Per face: :func:`fakescope.explainers.faithfulness.check_maps` (None when switched off or
        when the check itself fails: the explanation is kept, without a score)."""
        if not self.config.explain_faithfulness:
            return [None] * len(maps)
        from .explainers.faithfulness import check_maps

        try:
            return check_maps(self.model, x, maps, method, target=self.config.explain_target)
        except Exception as e:  # noqa: BLE001 - a failed check never loses the explanation
            log.warning("faithfulness check of %s failed: %s", method, e)
            return [None] * len(maps)


def _expected_samples(sampling: Sampling, frame_count: int | None) -> int | None:
    if frame_count is None:
        return sampling.n if sampling.mode == "even" else None
    if sampling.mode == "even":
        return min(sampling.n, frame_count)
    if sampling.mode == "every":
        return (frame_count + sampling.k - 1) // sampling.k
    return frame_count


def _judge_tracks(frames: list[FrameResult], cfg: AnalyzeConfig, min_faces: int) -> list[TrackResult]:
    by_track: dict[int, list[tuple[float, float]]] = {}
    for fr in frames:
        for face in fr.faces:
            by_track.setdefault(face.track_id, []).append((fr.time, face.p_fake))
    out = []
    for tid in sorted(by_track):
        times, probs = zip(*by_track[tid], strict=True)
        o = judge_track(list(probs), cfg.rule, cfg.threshold, min_faces=min_faces, **cfg.rule_params)
        out.append(
            TrackResult(
                id=tid,
                n_faces=len(probs),
                first_time=min(times),
                last_time=max(times),
                mean_p_fake=float(np.mean(probs)),
                max_p_fake=float(np.max(probs)),
                label=o.label,
                score=o.score,
                reason=o.reason,
            )
        )
    return out


def _outcome(t: TrackResult) -> RuleOutcome:
    return RuleOutcome(t.label, t.score, t.reason)


def analyze(path: str | Path, config: AnalyzeConfig | None = None, **overrides) -> AnalysisResult:
    """Analyse one video or image with the default (or given) settings; see :class:`AnalyzeConfig`."""
    return Analyzer(config, **overrides).analyze(path)


def config_dict(cfg: AnalyzeConfig) -> dict:
    d = asdict(cfg)
    d["sampling"] = cfg.sampling.describe()
    return d
