"""The analysis pipeline, a list of stages: provenance → decode → detect → track → crop → quality → score →
calibrate → aggregate → (explain) — each stage a module (media, faces, tracking, faces.crop, quality,
models, calibration + combine, aggregate + rules, explainers); rendering is separate (render/).
The provenance stage (Content Credentials and metadata, fakescope.provenance) runs first and is
weighed against the detector's verdict at the end (``apply_provenance``).

It is a stream: frames are decoded sequentially and only the sampled ones are converted; faces are
cropped as they are found and scored in batches, so memory does not grow with video length.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import catalogue as _catalogue  # noqa: F401  (installed weights are models: it registers them)
from ._perf import to_channels_last
from ._version import __version__
from .calibration import Calibration, logit, shipped_calibration, sigmoid
from .combine import DEFAULT_COMBINER, combine, get_combiner
from .errors import WeightsError
from .faces import DEFAULT_FACE_DETECTOR, create_face_detector
from .faces.crop import DEFAULT_MARGIN, crop_face
from .media import Sampling, open_media
from .models import create_model, get_model_info, sha256_file
from .progress import with_stage
from .provenance import ProvenanceReader, apply_provenance
from .quality import MediaQuality, QualityConfig, assess_face, media_quality_for
from .rules import (
    DEFAULT_BAND,
    DEFAULT_RULE,
    RuleOutcome,
    TrackEvidence,
    check_threshold,
    get_rule,
    judge_track,
    judge_video,
)
from .schema import (
    AnalysisResult,
    ExplanationRecord,
    Face,
    FaceQuality,
    FrameResult,
    InputInfo,
    ModelScore,
    Settings,
    TrackResult,
    Verdict,
)
from .tracking import IouTracker
from .wording import describe

log = logging.getLogger(__name__)

from .defaults import DEFAULT_MODEL  # noqa: E402  (re-exported)

# (done, expected or None, stage): see fakescope.progress; (done, total) callbacks get the frames only
# the calibration source of published weights with no calibration of ours (the verdict's headline says so)
UNCALIBRATED = ("uncalibrated: published weights without a calibration of ours; fit one on labelled faces with "
                "`fakescope calibrate` and pass it with --calibration")
ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class AnalyzeConfig:
    """Every setting of an analysis; recorded in ``result.json`` (``settings``)."""

    # one model, or an ensemble "a,b" / "meso4:df,mesoinception4:f2f" (NAME[:WEIGHTS] each)
    model: str = DEFAULT_MODEL
    # a weight tag, "default" (the model's default tag) or None (untrained: only for development)
    weights: str | None = "default"
    checkpoint_path: str | None = None
    # "default" (the calibration shipped with each model's weights; none → identity), "none", or a
    # calibration file (``fakescope calibrate``; one per model of an ensemble, comma-separated)
    calibration: str | None = "default"
    combine: str = DEFAULT_COMBINER
    detector: str = DEFAULT_FACE_DETECTOR
    sampling: Sampling = field(default_factory=Sampling)
    rule: str = DEFAULT_RULE
    rule_params: dict = field(default_factory=dict)
    threshold: float = 0.5
    # uncertain band of the identity P(fake) (rule "calibrated"); None: the first model's calibration's
    band: tuple[float, float] | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)
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
    # the provenance stage (Content Credentials, metadata; fakescope.provenance) and the PEM bundle of
    # trust anchors its signers are checked against (None: signers are not verified against a list)
    provenance: bool = True
    trust_anchors: str | None = None
    # "standard", or "thorough": the strongest installed published detector on fewer sampled faces
    # (fakescope.thorough.thorough_config makes such a config; recorded here and in result.json)
    mode: str = "standard"


@dataclass
class Member:
    """One model of the analysis (an ensemble has several): the module, its scorer and calibration."""

    key: str  # "name:weights"
    model: torch.nn.Module
    classifier: Callable
    calibration: Calibration

    @property
    def input_size(self) -> int:
        return self.model.info.input_size

    @property
    def crop_key(self) -> tuple[int, str, str]:
        """What this model's crop depends on: size, padding, resize filter."""
        info = self.model.info
        return info.input_size, getattr(info, "crop_padding", "black"), getattr(info, "crop_resize", "auto")


def parse_models(spec: str, weights: str | None) -> list[tuple[str, str | None]]:
    """``"a,b:tag"`` → [(a, weights), (b, tag)]."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, tag = part.partition(":")
        out.append((name.strip(), tag.strip() or weights))
    if not out:
        raise ValueError("no model given")
    return out


def band_in_force(cfg: AnalyzeConfig) -> tuple[float, float]:
    """The uncertain band an analysis with ``cfg`` will use, found without loading a model (for checks where
    an option enters): ``cfg.band``, else the band of the first model's calibration (the shipped one for
    'default', the first file's otherwise), else :data:`DEFAULT_BAND` — as :attr:`Analyzer.band` does."""
    if cfg.band is not None:
        return float(cfg.band[0]), float(cfg.band[1])
    name, tag = parse_models(cfg.model, cfg.weights)[0]
    source = (cfg.calibration or "none").split(",")[0].strip()
    cal = None
    if source == "default" and cfg.checkpoint_path is None:
        try:
            info = get_model_info(name)
        except Exception:  # an unknown model is reported by the model check itself
            return DEFAULT_BAND
        cal = shipped_calibration(name, info.default_weights if tag == "default" else tag)
    elif source not in ("none", "default"):
        cal = Calibration.load(source)
    band = cal.band if cal is not None else Calibration().band
    return float(band[0]), float(band[1])


def check_analysis_options(cfg: AnalyzeConfig) -> None:
    """Range checks of an analysis' options where they enter (CLI, HTTP API): ValueError with the allowed range."""
    check_threshold(cfg.rule, cfg.threshold, band_in_force(cfg))


class Analyzer:
    """Holds loaded models and a face detector; analyses one input per :meth:`analyze` call."""

    def __init__(self, config: AnalyzeConfig | None = None, **overrides) -> None:
        cfg = replace(config or AnalyzeConfig(), **overrides)
        if isinstance(cfg.sampling, str):
            cfg = replace(cfg, sampling=Sampling.parse(cfg.sampling))
        if "default" in cfg.explain:  # the methods chosen by measurement for this model
            from .explainers.quality import default_methods

            name, tag = parse_models(cfg.model, cfg.weights)[0]  # an ensemble explains its first model
            first = name if tag in (None, "default") else f"{name}:{tag}"
            picked = [m for e in cfg.explain for m in (default_methods(first) if e == "default" else (e,))]
            cfg = replace(cfg, explain=tuple(dict.fromkeys(picked)))
        self.config = cfg
        get_rule(cfg.rule)  # fail early on an unknown rule
        get_combiner(cfg.combine)
        specs = parse_models(cfg.model, cfg.weights)
        if cfg.checkpoint_path is not None and len(specs) > 1:
            if cfg.model != DEFAULT_MODEL:
                raise ValueError("--checkpoint applies to a single model, not an ensemble: name it with --model")
            specs = specs[:1]  # a checkpoint for the default architecture: the ensemble's first model
            cfg = self.config = replace(cfg, model=specs[0][0])
        cal_files = self._calibration_files(len(specs))
        self.members: list[Member] = []
        for (name, tag), cal_file in zip(specs, cal_files, strict=True):
            info = get_model_info(name)
            if tag == "default" and info.default_weights is None and cfg.checkpoint_path is None:
                raise WeightsError(
                    f"model {name!r} ships no trained weights; pass a checkpoint file "
                    "(--checkpoint), or weights 'none' for an untrained model (meaningless scores)"
                )
            model = create_model(name, weights=tag, checkpoint_path=cfg.checkpoint_path)
            key = f"{name}:{model.weights_tag}" if model.weights_tag else name
            while key in {m.key for m in self.members}:  # the same model twice: keep the keys apart
                key += "'"
            self.members.append(Member(key, model, self._classifier(model), self._calibration(name, model, cal_file)))
        self.model = self.members[0].model  # the model explanations are computed on
        self.input_size = self.model.info.input_size
        self.classifier = self.members[0].classifier
        self._check_threshold()  # before any input: a threshold outside the band is a usage error
        self.detector = create_face_detector(
            cfg.detector, threshold=cfg.det_threshold, max_side=cfg.detect_max_side, min_size=cfg.min_face_size
        )
        self.provenance = ProvenanceReader(cfg.trust_anchors) if cfg.provenance else None

    def _calibration_files(self, n: int) -> list[str | None]:
        c = self.config.calibration
        if c is None or c in ("none", "default"):
            return [c] * n
        files = [f.strip() for f in c.split(",")]
        if len(files) != n:
            raise ValueError(f"--calibration needs one file per model ({n}), got {len(files)}")
        return files

    @staticmethod
    def _calibration(name: str, model, source: str | None) -> Calibration:
        if source is None or source == "none":  # raw scores, unclipped
            return Calibration(model=name, weights=model.weights_tag, max_logit=1e6,
                               fitted_on={"source": "none (raw scores)"})
        if source == "default":
            cal = shipped_calibration(name, model.weights_tag)
            if cal is None and model.weights_tag == "installed":  # pulled or added published weights
                log.warning("%s: published weights without a calibration of ours: scores are uncalibrated "
                            "(fit one with `fakescope calibrate --model %s`)", name, name)
                return Calibration(model=name, weights=model.weights_tag, max_logit=1e6,
                                   fitted_on={"source": UNCALIBRATED})
            if cal is None:
                log.warning("%s/%s has no shipped calibration: scores are the raw model's", name, model.weights_tag)
                return Calibration(model=name, weights=model.weights_tag, max_logit=1e6,
                                   fitted_on={"source": "none shipped"})
            return cal
        try:
            cal = Calibration.load(source)
        except ValueError as e:
            raise WeightsError(str(e)) from None
        if cal.model and cal.model != name:
            raise WeightsError(f"{source}: calibration was fitted for model {cal.model!r}, not {name!r}")
        return cal

    def _classifier(self, model):
        cfg = self.config
        if cfg.backend not in ("torch", "onnx"):
            raise ValueError(f"unknown backend {cfg.backend!r}: use 'torch' or 'onnx'")
        if cfg.backend == "onnx":
            if cfg.bf16:
                raise ValueError("bf16 applies to the torch backend only")
            from .models.export import cached_onnx_model

            return cached_onnx_model(model)
        if cfg.bf16:
            from .models.export import autocast_bf16

            return autocast_bf16(model)
        return to_channels_last(model)  # exact; 1.3–1.8× faster CNN forwards on a CPU

    def _check_threshold(self) -> None:
        check_threshold(self.config.rule, self.config.threshold, self.band)

    @property
    def band(self) -> tuple[float, float]:
        """The uncertain band in force: the configured one, else the first model's calibration's."""
        band = self.config.band or self.members[0].calibration.band or DEFAULT_BAND
        return float(band[0]), float(band[1])

    @property
    def backend_name(self) -> str:
        return "onnxruntime" if self.config.backend == "onnx" else ("torch-bf16" if self.config.bf16 else "torch")

    @torch.inference_mode()
    def _classify(self, crops: list[np.ndarray], classifier=None) -> np.ndarray:
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255.0)
        if self.config.backend == "torch":  # H×W×C crops are channels-last already: no copy
            x = x.contiguous(memory_format=torch.channels_last)
        return (classifier or self.classifier)(x).float().reshape(-1).numpy()

    def _crops(self, image: np.ndarray, box) -> dict[tuple, np.ndarray]:
        """One crop per distinct (input size, padding, resize) of the members."""
        return {
            k: crop_face(image, box, k[0], self.config.margin, padding=k[1], resize=k[2])
            for k in {m.crop_key for m in self.members}
        }

    def analyze(self, path: str | Path, progress: ProgressFn | None = None) -> AnalysisResult:
        cfg = self.config
        path = Path(path)
        progress = with_stage(progress)
        if progress:
            progress(0, None, "decode")
        t_start = time.perf_counter()
        timings = dict.fromkeys(("decode", "detect", "quality", "classify"), 0.0)
        source = open_media(path, cfg.sampling)
        info = source.info
        provenance = None
        if self.provenance is not None:
            t0 = time.perf_counter()
            provenance = self.provenance(path)
            timings["provenance"] = time.perf_counter() - t0
        media_q = _media_quality(path, info)
        min_faces = cfg.min_faces if cfg.min_faces is not None else (1 if info.kind == "image" else 3)
        expected = 1 if info.kind == "image" else _expected_samples(cfg.sampling, info.frame_count)

        tracker = IouTracker(max_gap=cfg.track_max_gap)
        frames: list[FrameResult] = []
        pending: list[tuple[Face, dict[int, np.ndarray]]] = []
        # faces that may be explained, per track (memory stays bounded): the highest-P(fake) ones in a
        # min-heap, and a uniform reservoir sample from which the most typical faces are picked
        keep: dict[int, list[tuple[float, int, Face, np.ndarray]]] = {}
        reservoir: dict[int, tuple[int, list[tuple[int, Face, np.ndarray]]]] = {}
        rng = random.Random(0)
        face_frame: dict[int, FrameResult] = {}
        size0 = self.members[0].crop_key  # the crop the first model sees: quality, explanations

        def flush() -> None:
            t0 = time.perf_counter()
            # the first model scores through ``self.classifier`` (its public handle), the others through their own
            raw = np.stack([self._classify([c[m.crop_key] for _, c in pending], m.classifier if j else None)
                            for j, m in enumerate(self.members)], axis=1)  # N×M raw logits
            cal = np.stack([m.calibration.apply(raw[:, j]) for j, m in enumerate(self.members)], axis=1)
            z = combine(cal, cfg.combine)
            for i, (face, crops) in enumerate(pending):
                face.raw_logit = float(raw[i, 0])
                face.logit = float(z[i])
                face.p_fake = float(sigmoid(z[i]))
                if len(self.members) > 1:
                    face.scores = {
                        m.key: ModelScore(raw_logit=float(raw[i, j]), logit=float(cal[i, j]),
                                          p_fake=float(sigmoid(cal[i, j])))
                        for j, m in enumerate(self.members)
                    }
                if cfg.explain:
                    heap = keep.setdefault(face.track_id, [])
                    item = (face.p_fake, id(face), face, crops[size0])
                    (heapq.heappush if len(heap) < cfg.explain_per_track else heapq.heappushpop)(heap, item)
                    seen, sample = reservoir.setdefault(face.track_id, (0, []))
                    if len(sample) < _RESERVOIR:
                        sample.append((id(face), face, crops[size0]))
                    elif (j := rng.randrange(seen + 1)) < _RESERVOIR:
                        sample[j] = (id(face), face, crops[size0])
                    reservoir[face.track_id] = (seen + 1, sample)
                else:  # the highest-P(fake) face of each identity, its thumbnail in the report
                    heap = keep.setdefault(face.track_id, [])
                    item = (face.p_fake, id(face), face, crops[size0])
                    (heapq.heappush if not heap else heapq.heappushpop)(heap, item)
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
            faces, crops_list = [], []
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
                crops_list.append((face, self._crops(frame.image, d.box)))
            t1 = time.perf_counter()
            timings["detect"] += t1 - t0
            fh, fw = frame.image.shape[:2]
            for face, crops in crops_list:
                face.quality = FaceQuality(
                    **assess_face(crops[size0], tuple(face.box), face.landmarks, (fw, fh), cfg.margin, media_q,
                                  cfg.quality)
                )
            pending.extend(crops_list)
            timings["quality"] += time.perf_counter() - t1
            frames.append(FrameResult(index=frame.index, time=round(frame.time, 4), faces=faces))
            for face in faces:
                face_frame[id(face)] = frames[-1]
            if len(pending) >= cfg.batch_size:
                flush()
            if progress:
                progress(len(frames), expected, "detect")
        if pending:
            flush()
        n_faces = sum(len(fr.faces) for fr in frames)
        if n_faces:  # scoring time per face (all models of the analysis), as thorough mode reports it
            timings["classify_per_face"] = timings["classify"] / n_faces
        if progress:
            progress(n_faces, n_faces, "classify")

        tracks = _judge_tracks(frames, cfg, min_faces, is_video=info.kind == "video", band=self.band,
                               model_keys=tuple(m.key for m in self.members))
        outcome, fake_ids = judge_video([(t.id, _outcome(t)) for t in tracks], cfg.threshold)
        if not frames:
            verdict = Verdict(label="inconclusive", score=None, reason="no frame could be decoded")
        else:
            verdict = Verdict(label=outcome.label, score=outcome.score, reason=outcome.reason, fake_tracks=fake_ids,
                              interval=None if outcome.interval is None else list(outcome.interval))
        verdict = apply_provenance(verdict, provenance)

        explained, records = [], []
        if cfg.explain and keep:
            t0 = time.perf_counter()
            chosen = _choose_explained(tracks, keep, reservoir, cfg.explain_per_track)
            explained, records = self._explain(chosen, face_frame, progress, self._explained_member(tracks, verdict))
            timings["explain"] = time.perf_counter() - t0
        elif keep:  # no explanations: one thumbnail per identity (no maps)
            chosen = [(fid, face, crop, "thumbnail") for heap in keep.values() for _, fid, face, crop in heap]
            explained = self._faces(chosen, face_frame)

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
                models=[m.key for m in self.members],
                combine=cfg.combine if len(self.members) > 1 else None,
                band=list(self.band) if cfg.rule == "calibrated" else None,
                calibration={m.key: _calibration_summary(m.calibration) for m in self.members},
                quality={k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg.quality).items()},
                rule_params=dict(cfg.rule_params),
                mode=cfg.mode,
            ),
            frames=frames,
            tracks=tracks,
            verdict=verdict,
            timings={k: round(v, 4) for k, v in timings.items()},
            warnings=list(getattr(source, "warnings", []))
            + [f"provenance: {w}" for w in (provenance.warnings if provenance else [])],
            explanations=records,
            provenance=provenance,
        )
        result._explained = explained
        return describe(result)  # the verdict's plain sentences, after every stage that can change it

    @staticmethod
    def _faces(chosen, face_frame) -> list[dict]:
        """The chosen faces ``[(id, face, crop, why)]`` in frame order, as the renderers read them."""
        chosen = sorted(chosen, key=lambda it: (face_frame[it[0]].index, it[1].track_id))
        return [
            {
                "crop": it[2],
                "maps": {},
                "track_id": it[1].track_id,
                "frame_index": face_frame[it[0]].index,
                "time": face_frame[it[0]].time,
                "face": face_frame[it[0]].faces.index(it[1]),
                "p_fake": it[1].p_fake,
                "why": it[3],
                "face_obj": it[1],
            }
            for it in chosen
        ]

    def _explained_member(self, tracks, verdict) -> Member:
        """The ensemble member whose maps explain the verdict: for a fake or uncertain verdict, the one that
        scored the deciding identity highest; else (and when that member needs crops of another size than
        the first's, which the kept faces are) the first."""
        first = self.members[0]
        if len(self.members) == 1 or verdict.label not in ("fake", "uncertain"):
            return first
        ids = verdict.fake_tracks or [t.id for t in sorted(tracks, key=lambda t: -(t.score or 0.0))
                                      if t.label == "uncertain"][:1]  # fmt: skip
        deciding = next((t for t in tracks if ids and t.id == ids[0]), None)
        if deciding is None or not deciding.model_scores:
            return first
        best = max(self.members, key=lambda m: deciding.model_scores.get(m.key, float("-inf")))
        return best if best.crop_key == first.crop_key else first

    def _explain(self, chosen, face_frame, progress=None, member: Member | None = None):
        """Run every configured explainer on the chosen faces ``[(id, face, crop, why)]``, batched per method,
        on ``member``'s model (default: the first)."""
        from .explainers import explain

        cfg = self.config
        member = member or self.members[0]
        explained = self._faces(chosen, face_frame)
        faces = [e["face_obj"] for e in explained]
        x = torch.from_numpy(np.stack([e["crop"] for e in explained])).permute(0, 3, 1, 2).float().div_(255.0)
        records = []
        done_maps, total_maps = 0, len(x) * len(cfg.explain)
        if progress:
            progress(0, total_maps, "explain")
        for method in cfg.explain:
            maps = []
            for start in range(0, len(x), cfg.batch_size):
                ex = explain(member.model, x[start : start + cfg.batch_size], method=method,
                             target=cfg.explain_target, **cfg.explain_options.get(method, {}))
                maps.append(ex.maps)
                done_maps += len(ex.maps)
                if progress:
                    progress(done_maps, total_maps, "explain")
            all_maps = np.concatenate(maps)
            checks = self._faithfulness(x, all_maps, method, member.model)
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
                        model=member.key,
                        why=e["why"],
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

    def _faithfulness(self, x, maps, method, model=None):
        """Per face: :func:`fakescope.explainers.faithfulness.check_maps` (None when switched off or
        when the check itself fails: the explanation is kept, without a score)."""
        if not self.config.explain_faithfulness:
            return [None] * len(maps)
        from .explainers.faithfulness import check_maps

        try:
            return check_maps(model or self.model, x, maps, method, target=self.config.explain_target)
        except Exception as e:  # noqa: BLE001 - a failed check never loses the explanation
            log.warning("faithfulness check of %s failed: %s", method, e)
            return [None] * len(maps)


def _expected_samples(sampling: Sampling, frame_count: int | None) -> int | None:
    if sampling.mode == "keyframes":
        return sampling.n or None
    if frame_count is None:
        return sampling.n if sampling.mode == "even" else None
    if sampling.mode == "even":
        return min(sampling.n, frame_count)
    if sampling.mode == "every":
        return (frame_count + sampling.k - 1) // sampling.k
    return frame_count


def _judge_tracks(
    frames: list[FrameResult], cfg: AnalyzeConfig, min_faces: int, is_video: bool = True,
    band: tuple[float, float] | None = None, model_keys: tuple[str, ...] = (),
) -> list[TrackResult]:
    """The *aggregate* stage: one verdict per identity from its faces' calibrated scores (see rules)."""
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


_RESERVOIR = 32  # faces per identity kept as candidates for the "most typical" explanations


def _choose_explained(tracks, keep, reservoir, k: int) -> list[tuple[int, Face, np.ndarray, str]]:
    """Faces to explain per identity: the most fake ones when the identity is fake or uncertain,
    else the ``k`` faces whose P(fake) is closest to the identity's score (the most typical)."""
    out = []
    for t in tracks:
        if t.label in ("fake", "uncertain"):
            out += [(fid, face, crop, "most fake") for _, fid, face, crop in keep.get(t.id, [])]
        else:
            target = t.score if t.score is not None else t.mean_p_fake
            sample = sorted(reservoir.get(t.id, (0, []))[1], key=lambda it: abs(it[1].p_fake - target))[:k]
            out += [(fid, face, crop, "typical") for fid, face, crop in sample]
    return out


def _media_quality(path: Path, info) -> MediaQuality:
    quant = None
    if info.kind == "image":
        try:
            from PIL import Image

            with Image.open(path) as im:
                quant = getattr(im, "quantization", None)
        except Exception:  # quality is a measurement, never a reason to fail the analysis
            quant = None
    return media_quality_for(info, path.stat().st_size, quant)


def _calibration_summary(c: Calibration) -> dict:
    return {
        "method": c.method,
        "slope": round(c.slope, 6),
        "intercept": round(c.intercept, 6),
        "max_logit": c.max_logit,
        "band": list(c.band),
        "source": c.fitted_on.get("source", ""),
    }


def _outcome(t: TrackResult) -> RuleOutcome:
    return RuleOutcome(t.label, t.score, t.reason, None if t.interval is None else tuple(t.interval),
                       too_few=t.too_few_faces)


def analyze(path: str | Path, config: AnalyzeConfig | None = None, **overrides) -> AnalysisResult:
    """Analyse one video or image with the default (or given) settings; see :class:`AnalyzeConfig`."""
    return Analyzer(config, **overrides).analyze(path)


def config_dict(cfg: AnalyzeConfig) -> dict:
    d = asdict(cfg)
    d["sampling"] = cfg.sampling.describe()
    if d.get("band") is not None:
        d["band"] = list(d["band"])
    return d
