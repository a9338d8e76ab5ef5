"""``extract-faces``: videos and images → face crops, exactly as ``analyze`` cuts them.

The detector, its settings and the crop come from the same code and the same defaults as
:class:`fakescope.pipeline.Analyzer` (``AnalyzeConfig`` → ``create_face_detector`` →
:func:`fakescope.faces.crop.crop_face`), so a model trained on these crops sees at training what it
sees at inference. Per face, next to the crop ``<file>_<frame>_<face>.png``:

* ``<file>_<frame>_<face>.json`` — the detector box and score, the square crop box (frame pixels), and the
  landmarks in **crop pixels**: the detector's 5 points, and dlib's 68 points when dlib and its
  predictor file are available (see :mod:`fakescope.training.landmarks`);
* ``<file>_<frame>_<face>_mask.png`` — the dataset's manipulation mask cut with the same box (FaceForensics++
  ``masks/videos``), when the record has one.

The output folder holds ``faces.csv`` (one :class:`FaceRecord` per crop, readable by the ``csv``
dataset reader), ``extract.json`` (the settings: detector, margin, size, sampling — the trainer copies
them into the checkpoint's metadata) and ``done.jsonl`` (one line per finished input). A second run
skips the inputs listed in ``done.jsonl``, so an interrupted extraction resumes where it stopped.
Inputs are processed in parallel worker processes (``workers``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from ..faces.crop import DEFAULT_MARGIN, crop_face, square_box
from ..media import Sampling, open_media
from .records import FaceRecord, write_records_csv

__all__ = ["ExtractConfig", "FaceExtractor", "extract_faces", "load_extract_info"]

log = logging.getLogger(__name__)


def _analyze_defaults():
    from ..pipeline import AnalyzeConfig

    return AnalyzeConfig()


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings. ``None`` fields take ``analyze``'s defaults (``AnalyzeConfig``)."""

    size: int = 224  # crop side in pixels: the model's input size (``model.info.input_size``)
    detector: str | None = None
    margin: float = DEFAULT_MARGIN
    sampling: str = "even:32"
    det_threshold: float | None = None
    detect_max_side: int | None = -1  # -1: analyze's default (640); None/0: full resolution
    min_face_size: int | None = None
    faces: str = "all"  # "all" faces of a frame, or only the "largest"
    landmarks68: bool | None = None  # None: when dlib and the predictor file are available

    def resolved(self) -> ExtractConfig:
        a = _analyze_defaults()
        lm = self.landmarks68
        if lm is None:
            from .landmarks import shape_predictor_available

            lm = shape_predictor_available()
        if self.faces not in ("all", "largest"):
            raise ValueError(f"faces must be 'all' or 'largest', got {self.faces!r}")
        Sampling.parse(self.sampling)
        return ExtractConfig(
            size=int(self.size),
            detector=self.detector or a.detector,
            margin=float(self.margin),
            sampling=Sampling.parse(self.sampling).describe(),
            det_threshold=a.det_threshold if self.det_threshold is None else self.det_threshold,
            detect_max_side=a.detect_max_side if self.detect_max_side == -1 else (self.detect_max_side or None),
            min_face_size=a.min_face_size if self.min_face_size is None else self.min_face_size,
            faces=self.faces,
            landmarks68=bool(lm),
        )


def load_extract_info(folder: str | Path) -> dict | None:
    """The ``extract.json`` of an extract-faces output folder (or of a ``faces.csv``'s folder)."""
    p = Path(folder)
    p = p.parent if p.is_file() else p
    f = p / "extract.json"
    return json.loads(f.read_text()) if f.is_file() else None


_SAFE = re.compile(r"[^A-Za-z0-9._\-]+")


def _clip_dir(video: str) -> str:
    parts = [_SAFE.sub("_", s) for s in video.replace("\\", "/").split("/") if s not in ("", ".", "..")]
    return "/".join(parts) or "clip"


def _to_crop(points: np.ndarray, sq: tuple[int, int, int, int], size: int) -> list[list[float]]:
    s = size / float(sq[2] - sq[0])
    return np.round((np.asarray(points, np.float32) - [sq[0], sq[1]]) * s, 2).tolist()


class FaceExtractor:
    """Holds a face detector (built like ``Analyzer`` builds it); :meth:`extract` does one input."""

    def __init__(self, cfg: ExtractConfig = ExtractConfig()) -> None:
        from ..faces import create_face_detector

        self.cfg = cfg = cfg.resolved()
        self.sampling = Sampling.parse(cfg.sampling)
        self.detector = create_face_detector(
            cfg.detector, threshold=cfg.det_threshold, max_side=cfg.detect_max_side, min_size=cfg.min_face_size
        )

    def _landmarks68(self, image: np.ndarray, box) -> np.ndarray | None:
        if not self.cfg.landmarks68:
            return None
        from .landmarks import landmarks68

        return landmarks68(image, box)

    def extract(self, record: FaceRecord, out: str | Path) -> list[FaceRecord]:
        """Crops of every sampled frame of ``record.path`` under ``out/faces/<clip>/``; their records."""
        cfg = self.cfg
        out = Path(out)
        clip = _clip_dir(record.video or Path(record.path).stem)
        folder = out / "faces" / clip
        folder.mkdir(parents=True, exist_ok=True)
        stem = _SAFE.sub("_", Path(record.path).name)  # unique within a clip folder
        source = open_media(record.path, self.sampling)
        masks = iter(open_media(record.mask, self.sampling)) if record.mask else None
        mask_frame = None
        rows: list[FaceRecord] = []
        for frame in source:
            if masks is not None:
                while mask_frame is None or mask_frame.index < frame.index:
                    mask_frame = next(masks, None)
                    if mask_frame is None:
                        masks = None
                        break
            dets = self.detector.detect(frame.image)
            if cfg.faces == "largest" and dets:
                dets = [max(dets, key=lambda d: d.width * d.height)]
            for k, d in enumerate(dets):
                name = f"{stem}_{frame.index:06d}_{k}"
                crop = crop_face(frame.image, d.box, cfg.size, cfg.margin)
                sq = square_box(d.box, cfg.margin)
                cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                lm68 = self._landmarks68(frame.image, d.box)
                info = {
                    "source": str(record.path),
                    "frame": frame.index,
                    "time": round(frame.time, 4),
                    "box": [round(v, 2) for v in d.box],
                    "det_score": round(d.score, 4),
                    "crop_box": list(sq),
                    "size": cfg.size,
                    "margin": cfg.margin,
                    "landmarks5": None if d.landmarks is None else _to_crop(d.landmarks, sq, cfg.size),
                    "landmarks68": None if lm68 is None else _to_crop(lm68, sq, cfg.size),
                }
                (folder / f"{name}.json").write_text(json.dumps(info))
                mask_path = None
                if mask_frame is not None and mask_frame.index == frame.index:
                    m = crop_face(mask_frame.image, d.box, cfg.size, cfg.margin).max(axis=2)
                    mask_path = folder / f"{name}_mask.png"
                    cv2.imwrite(str(mask_path), m)
                rows.append(
                    record.with_(
                        path=str(folder / f"{name}.png"),
                        mask=str(mask_path) if mask_path else None,
                        landmarks=str(folder / f"{name}.json"),
                        frame=frame.index,
                        face=k,
                    )
                )
        return rows


# ------------------------------------------------------------------------------------ orchestration

_WORKER: FaceExtractor | None = None


def _init_worker(cfg: ExtractConfig, threads: int) -> None:
    global _WORKER
    cv2.setNumThreads(threads)
    _WORKER = FaceExtractor(cfg)


def _run_one(record: FaceRecord, out: str) -> tuple[list[FaceRecord], str | None]:
    assert _WORKER is not None
    try:
        return _WORKER.extract(record, out), None
    except Exception as e:  # one bad input must not stop the others
        return [], f"{type(e).__name__}: {e}"


def _key(r: FaceRecord) -> str:
    return f"{r.video}|{r.path}"


@dataclass
class ExtractSummary:
    out: str
    inputs: int
    skipped: int
    done: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    faces: int = 0


def extract_faces(
    records: Iterable[FaceRecord],
    out: str | Path,
    cfg: ExtractConfig = ExtractConfig(),
    workers: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> ExtractSummary:
    """Extract faces of every record into ``out`` (resumable); writes ``faces.csv`` and ``extract.json``.

    ``progress(done, total, name)`` is called after each input. ``workers > 1`` runs inputs in that
    many worker processes (spawned; each loads its own detector).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = cfg.resolved()
    info_path = out / "extract.json"
    settings = {"version": 1, **asdict(cfg)}
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        if {k: old.get(k) for k in settings} != settings:
            raise ValueError(f"{out}: was extracted with other settings ({info_path}); use a new folder")
    info_path.write_text(json.dumps(settings, indent=1) + "\n")

    records = list(records)
    done_path, rows_path = out / "done.jsonl", out / "faces.jsonl"
    done: dict[str, dict] = {}
    if done_path.is_file():
        for line in done_path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                done[d["key"]] = d
    # rows of inputs that did not finish (crash between rows and done line) are dropped
    kept = []
    if rows_path.is_file():
        for line in rows_path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                if d.get("_key") in done:
                    kept.append(d)
    with open(rows_path, "w") as f:
        for d in kept:
            f.write(json.dumps(d) + "\n")

    todo = [r for r in records if _key(r) not in done]
    summary = ExtractSummary(str(out), len(records), len(records) - len(todo), 0)

    def finish(r: FaceRecord, rows: list[FaceRecord], err: str | None) -> None:
        with open(rows_path, "a") as f:
            for row in rows:
                f.write(json.dumps({"_key": _key(r), **asdict(row)}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with open(done_path, "a") as f:
            f.write(json.dumps({"key": _key(r), "path": r.path, "faces": len(rows), "error": err}) + "\n")
        done[_key(r)] = {"error": err}
        summary.done += 1
        if err:
            summary.failed.append((r.path, err))
        if progress:
            progress(summary.skipped + summary.done, len(records), Path(r.path).name)

    if workers <= 1:
        _init_worker(cfg, cv2.getNumThreads())
        for r in todo:
            rows, err = _run_one(r, str(out))
            finish(r, rows, err)
    elif todo:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(cfg, 1)
        ) as pool:
            futs = {pool.submit(_run_one, r, str(out)): r for r in todo}
            for fut in as_completed(futs):
                rows, err = fut.result()
                finish(futs[fut], rows, err)

    all_rows = [FaceRecord(**{k: v for k, v in json.loads(line).items() if k != "_key"})
                for line in rows_path.read_text().splitlines() if line.strip()]  # fmt: skip
    all_rows.sort(key=lambda r: (r.video, r.path))
    _write_relative_csv(all_rows, out)
    summary.faces = len(all_rows)
    return summary


def _write_relative_csv(rows: list[FaceRecord], out: Path) -> None:
    """``faces.csv`` with crop/mask/landmark paths relative to ``out`` (the folder can be moved)."""

    def rel(p: str | None) -> str | None:
        if not p:
            return p
        try:
            return str(Path(p).resolve().relative_to(out.resolve()))
        except ValueError:
            return p

    write_records_csv([r.with_(path=rel(r.path), mask=rel(r.mask), landmarks=rel(r.landmarks)) for r in rows],
                      out / "faces.csv")  # fmt: skip
