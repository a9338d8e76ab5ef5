"""The analysis pipeline: the stages of :mod:`fakescope.stages` composed, for a file
(:meth:`Analyzer.analyze`) and for frames as they arrive (:meth:`Analyzer.stream`, the live driver):

    provenance · decode → detect → track → crop → quality → score → calibrate → aggregate → explain

(render, the pictures, is applied by the callers: CLI, server, batch engines, ``fakescope watch``).
The provenance stage (Content Credentials and metadata, fakescope.provenance) reads the file first and
is weighed against the detector's verdict at the end.

It is a stream: frames are decoded sequentially and only the sampled ones are converted; faces are
cropped as they are found and scored in batches, so memory does not grow with video length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import catalogue as _catalogue  # noqa: F401  (installed weights are models: it registers them)
from ._version import __version__
from .calibration import Calibration, shipped_calibration, sigmoid
from .combine import DEFAULT_COMBINER, get_combiner
from .errors import WeightsError
from .faces import DEFAULT_FACE_DETECTOR
from .faces.crop import DEFAULT_MARGIN
from .media import Frame, MediaInfo, Sampling
from .models import create_model, get_model_info, sha256_file
from .progress import with_stage
from .provenance import ProvenanceReader
from .quality import MediaQuality, QualityConfig
from .rules import DEFAULT_BAND, DEFAULT_RULE, check_threshold, get_rule
from .schema import AnalysisResult, Face, FrameResult, InputInfo, ModelScore, Settings, TrackResult, Verdict
from .stages import (
    UNCALIBRATED,
    AggregateStage,
    CalibrateStage,
    Candidates,
    CropStage,
    DecodeStage,
    DetectStage,
    ExplainStage,
    Member,
    QualityStage,
    ScoreStage,
    TrackStage,
    load_calibration,
    make_classifier,
)
from .stages.aggregate import judge_tracks as _judge_tracks  # noqa: F401  (re-exported: tests, bench)
from .stages.aggregate import outcome_of as _outcome  # noqa: F401
from .stages.decode import expected_samples as _expected_samples  # noqa: F401
from .stages.explain import explained_member
from .wording import describe

log = logging.getLogger(__name__)

from .defaults import DEFAULT_MODEL  # noqa: E402  (re-exported)

__all__ = ["DEFAULT_MODEL", "UNCALIBRATED", "AnalyzeConfig", "Analyzer", "Member", "StreamUpdate", "analyze"]

# (done, expected or None, stage): see fakescope.progress; (done, total) callbacks get the frames only
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


def measured_methods(cfg: AnalyzeConfig) -> tuple[str, ...]:
    """The explanation methods chosen by measurement for the model explained (an ensemble's first)."""
    from .explainers.quality import default_methods

    name, tag = parse_models(cfg.model, cfg.weights)[0]
    return default_methods(name if tag in (None, "default") else f"{name}:{tag}")


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


@dataclass
class StreamUpdate:
    """What :meth:`Analyzer.stream` yields after each frame: the frame's scored faces and the running
    verdicts of the identities in view (judged on their faces within the window), and on the last update
    (``final``) the session's :class:`AnalysisResult`, judged on every face seen."""

    frame: FrameResult | None  # None on the final update
    tracks: list[TrackResult]  # identities in view (final: every identity of the session)
    verdict: Verdict  # the running verdict of the input (final: the session's)
    started: list[int] = field(default_factory=list)  # identities first seen on this frame
    ended: list[int] = field(default_factory=list)  # identities the tracker closed (final: all still open)
    seconds: float = 0.0  # analysis time of this frame (detect → aggregate)
    final: bool = False
    result: AnalysisResult | None = None


class Run:
    """One input's pass through the stages — the per-input state (identity tracker, scored frames, faces
    waiting for the scorer, explain candidates, timings) that :meth:`Analyzer.analyze` and
    :meth:`Analyzer.stream` drive alike."""

    def __init__(self, an: Analyzer, info: MediaInfo, media_q: MediaQuality) -> None:
        cfg = an.config
        self.an, self.info, self.media_q = an, info, media_q
        self.min_faces = cfg.min_faces if cfg.min_faces is not None else (1 if info.kind == "image" else 3)
        self.track = TrackStage(cfg.track_max_gap)
        self.frames: list[FrameResult] = []
        self.pending: list[tuple[Face, dict]] = []
        self.candidates = Candidates(cfg.explain_per_track, bool(cfg.explain))
        self.timings = dict.fromkeys(("decode", "detect", "quality", "classify"), 0.0)
        self.size0 = an.members[0].crop_key  # the crop the first model sees: quality, explanations
        self._fallbacks0 = an.crop.square_fallbacks
        self.sampling: str | None = None  # how the frames were chosen, when not by the decode stage (a stream)

    def decoded(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """``frames``, with the time spent waiting for each counted as decoding."""
        it = iter(frames)
        while True:
            t0 = time.perf_counter()
            frame = next(it, None)
            self.timings["decode"] += time.perf_counter() - t0
            if frame is None:
                return
            yield frame

    def add(self, frame: Frame) -> FrameResult:
        """detect → track → crop → quality: the frame's faces, queued for the scorer."""
        an = self.an
        t0 = time.perf_counter()
        dets = an.detect(frame.image)
        ids = self.track(dets)
        faces, crops = [], []
        for d, tid in zip(dets, ids, strict=True):
            faces.append(Face(box=[round(v, 2) for v in d.box],
                              landmarks=None if d.landmarks is None else np.round(d.landmarks, 2).tolist(),
                              det_score=round(d.score, 4), p_fake=float("nan"), logit=float("nan"), track_id=tid))
            crops.append(an.crop(frame.image, d.box, d.landmarks))
        t1 = time.perf_counter()
        self.timings["detect"] += t1 - t0
        fh, fw = frame.image.shape[:2]
        for face, c in zip(faces, crops, strict=True):
            face.quality = an.quality(c[self.size0], face, (fw, fh), self.media_q)
        self.pending.extend(zip(faces, crops, strict=True))
        self.timings["quality"] += time.perf_counter() - t1
        fr = FrameResult(index=frame.index, time=round(frame.time, 4), faces=faces)
        self.frames.append(fr)
        self.candidates.add_frame(fr)
        return fr

    def flush(self) -> None:
        """score → calibrate the queued faces."""
        if not self.pending:
            return
        t0 = time.perf_counter()
        an = self.an
        raw = an.score([c for _, c in self.pending])  # N×M raw logits
        cal, z = an.calibrate(raw)
        for i, (face, crops) in enumerate(self.pending):
            face.raw_logit = float(raw[i, 0])
            face.logit = float(z[i])
            face.p_fake = float(sigmoid(z[i]))
            if len(an.members) > 1:
                face.scores = {m.key: ModelScore(raw_logit=float(raw[i, j]), logit=float(cal[i, j]),
                                                 p_fake=float(sigmoid(cal[i, j])))
                               for j, m in enumerate(an.members)}  # fmt: skip
            self.candidates.add(face, crops[self.size0])
        self.pending.clear()
        self.timings["classify"] += time.perf_counter() - t0

    def _crop_warnings(self) -> list[str]:
        n = self.an.crop.square_fallbacks - self._fallbacks0
        aligned = sorted({m.crop_key[3] for m in self.an.members} - {"none"})
        if not n or not aligned:
            return []
        return [f"{n} face crop(s) had no five usable landmarks from the face detector ({self.an.config.detector}): "
                f"the square crop was used instead of the {'/'.join(aligned)} alignment the model was trained on, "
                "so its scores of those faces are less reliable; use a detector with landmarks (yunet, centerface)"]

    @property
    def n_faces(self) -> int:
        return sum(len(fr.faces) for fr in self.frames)

    def finish(self, input_info: InputInfo, provenance=None, warnings=(), progress=None,
               t_start: float | None = None) -> AnalysisResult:
        """aggregate → explain: the input's :class:`AnalysisResult`."""
        an, cfg, timings = self.an, self.an.config, self.timings
        self.flush()
        if self.n_faces:  # scoring time per face (all models of the analysis), as thorough mode reports it
            timings["classify_per_face"] = timings["classify"] / self.n_faces
        if progress:
            progress(self.n_faces, self.n_faces, "classify")
        tracks, verdict = an.aggregate(self.frames, self.min_faces, self.info.kind == "video", provenance)
        explained, records = [], []
        if cfg.explain and self.candidates.keep:
            t0 = time.perf_counter()
            member = explained_member(an.members, tracks, verdict)
            explained = self.candidates.faces(self.candidates.choose(tracks))
            records = an.explain(explained, member, progress)
            timings["explain"] = time.perf_counter() - t0
        elif self.candidates.keep:  # no explanations: one thumbnail per identity (no maps)
            explained = self.candidates.faces(self.candidates.thumbnails())
        if t_start is not None:
            timings["total"] = time.perf_counter() - t_start
        result = AnalysisResult(
            fakescope_version=__version__,
            input=input_info,
            settings=an.settings(self.info, self.min_faces, self.sampling),
            frames=self.frames,
            tracks=tracks,
            verdict=verdict,
            timings={k: round(v, 4) for k, v in timings.items()},
            warnings=list(warnings) + self._crop_warnings()
            + [f"provenance: {w}" for w in (provenance.warnings if provenance else [])],
            explanations=records,
            provenance=provenance,
        )
        result._explained = explained
        return describe(result)  # the verdict's plain sentences, after every stage that can change it


class Analyzer:
    """Holds loaded models and a face detector — the stages of :mod:`fakescope.stages`, built once from
    the settings — and analyses one input per :meth:`analyze` call, or frames as they arrive
    (:meth:`stream`)."""

    def __init__(self, config: AnalyzeConfig | None = None, **overrides) -> None:
        cfg = replace(config or AnalyzeConfig(), **overrides)
        if isinstance(cfg.sampling, str):
            cfg = replace(cfg, sampling=Sampling.parse(cfg.sampling))
        if "default" in cfg.explain:  # the methods chosen by measurement for this model
            picked = [m for e in cfg.explain for m in (measured_methods(cfg) if e == "default" else (e,))]
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
            self.members.append(Member(key, model, make_classifier(model, cfg.backend, cfg.bf16),
                                       load_calibration(name, model, cal_file)))
        self.model = self.members[0].model  # the model explanations are computed on
        self.input_size = self.model.info.input_size
        check_threshold(cfg.rule, cfg.threshold, self.band)  # before any input: outside the band is a usage error
        self.detect = DetectStage(cfg.detector, cfg.det_threshold, cfg.detect_max_side, cfg.min_face_size)
        self._build_stages()

    @property
    def config(self) -> AnalyzeConfig:
        return self._config

    @config.setter
    def config(self, cfg: AnalyzeConfig) -> None:
        """New per-input settings (sampling, rule, margin, explain…) on the loaded models and face detector:
        the stages that read them are rebuilt (the batch engines' pool does this per task)."""
        self._config = cfg
        if hasattr(self, "detect"):
            self._build_stages()

    def _build_stages(self) -> None:
        """The stages (fakescope.stages) that read the settings, in the order an input passes them (the
        loaded ones, detect and the models of score, are kept)."""
        cfg = self.config
        self.decode = DecodeStage(cfg.sampling)
        self.crop = CropStage((m.crop_key for m in self.members), cfg.margin)
        self.quality = QualityStage(cfg.quality, cfg.margin)
        self.score = ScoreStage(self.members, cfg.backend)
        self.calibrate = CalibrateStage(self.members, cfg.combine)
        self.aggregate = AggregateStage(cfg, self.band, tuple(m.key for m in self.members))
        self.explain = ExplainStage(cfg)
        if getattr(self, "_provenance_key", None) != (cfg.provenance, cfg.trust_anchors):  # reads a PEM bundle
            self._provenance_key = (cfg.provenance, cfg.trust_anchors)
            self.provenance = ProvenanceReader(cfg.trust_anchors) if cfg.provenance else None

    # -- drivers -------------------------------------------------------------------------------------

    def analyze(self, path: str | Path, progress: ProgressFn | None = None) -> AnalysisResult:
        """Analyse one video or image file: every stage, then the :class:`AnalysisResult`."""
        path, progress = Path(path), with_stage(progress)
        if progress:
            progress(0, None, "decode")
        t_start = time.perf_counter()
        decoded = self.decode(path)
        run = Run(self, decoded.info, self.quality.media(path, decoded.info))
        provenance = None
        if self.provenance is not None:
            t0 = time.perf_counter()
            provenance = self.provenance(path)
            run.timings["provenance"] = time.perf_counter() - t0
        for frame in run.decoded(decoded.frames):
            run.add(frame)
            if len(run.pending) >= self.config.batch_size:
                run.flush()
            if progress:
                progress(len(run.frames), decoded.expected, "detect")
        run.flush()
        t0 = time.perf_counter()
        input_info = _input_info(path, decoded.info)
        run.timings["hash"] = time.perf_counter() - t0
        return run.finish(input_info, provenance, decoded.warnings, progress, t_start)

    def stream(self, frames: Iterable[Frame], *, info: MediaInfo | None = None, window: float | None = None,
               path: str | Path | None = None, name: str = "stream", sampling: str = "stream",
               ) -> Iterator[StreamUpdate]:
        """Analyse ``frames`` as they arrive (a live stream, a camera, a file played back): one
        :class:`StreamUpdate` per frame with the running per-identity verdicts — judged on each identity's
        faces of the last ``window`` seconds (None: all of them) with the same calibration, uncertain band
        and quality weights as :meth:`analyze` — then a final update with the session's result. On the same
        frames (``path``: the file they come from, for its compression measure), the final verdicts are
        :meth:`analyze`'s."""
        session = StreamSession(self, info=info, window=window, path=path, name=name, sampling=sampling)
        for frame in frames:
            yield session.push(frame)
        yield session.finish()

    def session(self, **kwargs) -> StreamSession:
        """A push-style :meth:`stream`: ``session.push(frame)`` per frame, ``session.finish()`` at the end."""
        return StreamSession(self, **kwargs)

    def warm_up(self, width: int = 640, height: int = 360) -> None:
        """Run the face detector and every model once on a blank picture, so that the first real frame is
        not slowed by one-time set-up (a live session's first latency)."""
        if getattr(self, "warmed", False):
            return
        self.warmed = True
        blank = np.zeros((height, width, 3), np.uint8)
        self.detect(blank)
        self.score([self.crop(blank, (width * 0.4, height * 0.3, width * 0.6, height * 0.7))])
        scores = {m.key: ModelScore(raw_logit=0.0, logit=0.0, p_fake=0.5) for m in self.members}
        faces = [Face(box=[0, 0, 1, 1], det_score=1.0, p_fake=0.5, logit=0.0, track_id=0, scores=scores)]
        self.aggregate.tracks([FrameResult(index=0, time=0.0, faces=faces)], 1, True)  # loads the statistics

    # -- helpers -------------------------------------------------------------------------------------

    @property
    def detector(self):
        return self.detect.detector

    @property
    def classifier(self) -> Callable:
        """The first model's scorer (replaceable, e.g. to record what it is given)."""
        return self.members[0].classifier

    @classifier.setter
    def classifier(self, fn: Callable) -> None:
        self.members[0].classifier = fn

    def _calibration_files(self, n: int) -> list[str | None]:
        c = self.config.calibration
        if c is None or c in ("none", "default"):
            return [c] * n
        files = [f.strip() for f in c.split(",")]
        if len(files) != n:
            raise ValueError(f"--calibration needs one file per model ({n}), got {len(files)}")
        return files

    @property
    def band(self) -> tuple[float, float]:
        """The uncertain band in force: the configured one, else the first model's calibration's."""
        band = self.config.band or self.members[0].calibration.band or DEFAULT_BAND
        return float(band[0]), float(band[1])

    @property
    def backend_name(self) -> str:
        return "onnxruntime" if self.config.backend == "onnx" else ("torch-bf16" if self.config.bf16 else "torch")

    def settings(self, info: MediaInfo, min_faces: int, sampling: str | None = None) -> Settings:
        cfg = self.config
        if sampling is None:
            sampling = cfg.sampling.describe() if info.kind == "video" else "image"
        return Settings(
            model=cfg.model,
            weights=self.model.weights_tag,
            detector=cfg.detector,
            sampling=sampling,
            rule=cfg.rule,
            threshold=cfg.threshold,
            min_faces=min_faces,
            margin=cfg.margin,
            alignment={m.key: m.crop_key[3] for m in self.members if m.crop_key[3] != "none"},
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
        )


class StreamSession:
    """Frames pushed one at a time (see :meth:`Analyzer.stream`); the state of one live session."""

    def __init__(self, analyzer: Analyzer, *, info: MediaInfo | None = None, window: float | None = None,
                 path: str | Path | None = None, name: str = "stream", sampling: str = "stream") -> None:
        if window is not None and not window > 0:
            raise ValueError(f"window must be a positive number of seconds, not {window}")
        self.an, self.window, self.name, self.sampling = analyzer, window, name, sampling
        self.path = None if path is None else Path(path)
        self.info = info
        self.run: Run | None = None
        self._open: set[int] = set()
        self._seen: set[int] = set()
        self._last: tuple[Frame, FrameResult] | None = None
        self._t_start = time.perf_counter()

    def _start(self, frame: Frame) -> Run:
        if self.info is None:
            h, w = frame.image.shape[:2]
            self.info = MediaInfo(path=self.name, kind="video", width=w, height=h)
        run = Run(self.an, self.info, self.an.quality.media(self.path, self.info))
        run.sampling = self.sampling
        return run

    def push(self, frame: Frame) -> StreamUpdate:
        """Analyse one frame; the running verdicts of the identities in view."""
        t0 = time.perf_counter()
        run = self.run = self.run or self._start(frame)
        fr = run.add(frame)
        run.flush()
        self._last = (frame, fr)
        live = run.track.live()
        started = sorted(live - self._seen)
        ended = sorted(self._open - live)
        self._seen |= live
        self._open = live
        frames = run.frames
        if self.window is not None:  # the last window seconds of frames (pushed in time order): walk back
            since, i = fr.time - self.window, len(frames)
            while i and frames[i - 1].time >= since:
                i -= 1
            frames = frames[i:]
        tracks = [t for t in self.an.aggregate.tracks(frames, run.min_faces, True) if t.id in live]
        verdict = self.an.aggregate.verdict(tracks, True)
        return StreamUpdate(frame=fr, tracks=tracks, verdict=verdict, started=started, ended=ended,
                            seconds=time.perf_counter() - t0)

    def explain(self, track_id: int | None = None, method: str | None = None) -> dict | None:
        """An explanation map of one face of the latest frame, on demand (the live view's heatmap): the face
        of identity ``track_id``, by default the one most likely fake; ``method`` by default the first
        measured default explainer of the model. None when the latest frame holds no (such) face. Returns
        ``{"track_id", "p_fake", "method", "crop" (H×W×3 uint8), "map" (H×W float32), "faithfulness",
        "flags"}``."""
        if self.run is None or self._last is None:
            return None
        frame, fr = self._last
        faces = [f for f in fr.faces if track_id is None or f.track_id == track_id]
        if not faces:
            return None
        face = max(faces, key=lambda f: f.p_fake)
        member = self.an.members[0]
        crop = self.an.crop(frame.image, face.box, face.landmarks)[member.crop_key]
        if method is None:
            method = measured_methods(self.an.config)[0]
        from .explainers import explain

        x = torch.from_numpy(crop[None]).permute(0, 3, 1, 2).float().div_(255.0)
        cfg = self.an.config
        ex = explain(member.model, x, method=method, target=cfg.explain_target, **cfg.explain_options.get(method, {}))
        chk = self.an.explain.faithfulness(x, ex.maps, method, member.model)[0]
        return {"track_id": face.track_id, "p_fake": face.p_fake, "method": method, "crop": crop,
                "map": np.asarray(ex.maps[0], np.float32), "faithfulness": None if chk is None else chk.score,
                "flags": [] if chk is None else list(chk.flags)}

    def finish(self, warnings=()) -> StreamUpdate:
        """The final update: the session's result, every face judged (no window)."""
        if self.run is None:  # no frame arrived
            info = self.info or MediaInfo(path=self.name, kind="video", width=0, height=0)
            self.run = Run(self.an, info, MediaQuality())
            self.run.sampling = self.sampling
        run = self.run
        info = run.info
        fps = None
        if len(run.frames) > 1 and run.frames[-1].time > run.frames[0].time:
            fps = (len(run.frames) - 1) / (run.frames[-1].time - run.frames[0].time)
        input_info = InputInfo(
            path=str(self.path or self.name), name=(self.path.name if self.path else self.name),
            sha256=sha256_file(self.path) if self.path else "", size_bytes=self.path.stat().st_size if self.path else 0,
            kind="video", width=info.width, height=info.height, fps=info.fps or (round(fps, 3) if fps else None),
            duration=run.frames[-1].time - run.frames[0].time if run.frames else 0.0,
            frame_count=len(run.frames), rotation=info.rotation, codec=info.codec,
        )
        result = run.finish(input_info, None, warnings, t_start=self._t_start)
        ended = sorted(self._open)
        self._open = set()
        return StreamUpdate(frame=None, tracks=result.tracks, verdict=result.verdict, ended=ended, final=True,
                            result=result)


def _input_info(path: Path, info: MediaInfo) -> InputInfo:
    return InputInfo(
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


def _calibration_summary(c: Calibration) -> dict:
    return {
        "method": c.method,
        "slope": round(c.slope, 6),
        "intercept": round(c.intercept, 6),
        "max_logit": c.max_logit,
        "band": list(c.band),
        "source": c.fitted_on.get("source", ""),
    }


def analyze(path: str | Path, config: AnalyzeConfig | None = None, **overrides) -> AnalysisResult:
    """Analyse one video or image with the default (or given) settings; see :class:`AnalyzeConfig`."""
    return Analyzer(config, **overrides).analyze(path)


def config_dict(cfg: AnalyzeConfig) -> dict:
    d = asdict(cfg)
    d["sampling"] = cfg.sampling.describe()
    if d.get("band") is not None:
        d["band"] = list(d["band"])
    return d
