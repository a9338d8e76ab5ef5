"""Dataset readers: a folder on disk → a list of :class:`~fakescope.training.records.FaceRecord`.

Every reader is a function ``reader(root, **options) -> list[FaceRecord]`` registered with
:func:`register_dataset`; :func:`read_dataset` runs one by name and :func:`detect_dataset` guesses the
name from the folder's layout. Readers only list files (nothing is decoded); records are sorted by path
so the same folder always gives the same list.

Layouts (as the datasets' own documentation describes them):

* ``folder`` — ``root/real/**`` and ``root/fake/**`` (images or videos; case-insensitive names). A
  sub-folder directly under ``fake/`` names the manipulation (``fake/FaceSwap/x.png``); files nested in a
  folder below ``real/``/``fake/`` (``real/clip7/0001.png``) share that folder as their clip id.
* ``csv`` — a CSV with a header: ``path,label`` plus any of ``video, identity, manipulation, mask,
  source_identity, split, landmarks, frame, face`` (the columns ``extract-faces`` writes). Relative paths
  are resolved against the CSV's folder. Labels: 0/1 or words (real/fake, REAL/FAKE, original/manipulated).
* ``ffpp`` — FaceForensics++ (Rössler et al., ICCV 2019; github.com/ondyari/FaceForensics, dataset/README):
  ``original_sequences/youtube/<c23|c40|raw>/videos/000.mp4`` (real, ids 000–999) and
  ``manipulated_sequences/<Deepfakes|Face2Face|FaceSwap|NeuralTextures|FaceShifter>/<comp>/videos/
  <target>_<source>.mp4`` (e.g. ``000_003.mp4``: video 000 with the face of 003), masks in
  ``manipulated_sequences/<method>/masks/videos/<target>_<source>.mp4`` (FaceShifter has none). With
  ``kind="images"`` the ``.../images/<video>/<frame>.png`` folders are read instead. The official splits
  (``splits/{train,val,test}.json``: lists of ``[target, source]`` pairs) are applied when present.
* ``celebdf`` — Celeb-DF v2 (Li et al., CVPR 2020): ``Celeb-real/id<t>_<nnnn>.mp4``,
  ``Celeb-synthesis/id<t>_id<s>_<nnnn>.mp4`` (video ``id<t>_<nnnn>`` with the face of ``id<s>``),
  ``YouTube-real/<nnnnn>.mp4`` (a ``videos/`` level below each is accepted), and
  ``List_of_testing_videos.txt`` with lines ``<1|0> <folder>/<file>`` — **1 means real** there. Listed
  videos get split ``test``, the others ``train``.
* ``dfdc`` — DFDC (Dolhansky et al., 2020): per-part folders (``dfdc_train_part_<k>/``) each holding
  videos and ``metadata.json`` ``{"<file>.mp4": {"label": "FAKE"|"REAL", "original": "<file>.mp4"|null,
  "split": "train"}}``. A fake is grouped with its original (identity = the original's id).
* ``140k`` — "140k Real and Fake Faces" (Kaggle, xhlulu): ``real_vs_fake/real-vs-fake/{train,valid,test}/
  {real,fake}/*.jpg`` — 70k FFHQ photos (real) and 70k StyleGAN faces (fake); every image is its own
  identity; ``valid`` becomes split ``val``.
* ``media`` — any images/videos under a folder, all with the label given as option ``label``.
* ``seed001`` — the face-image CSV of seed project 001. Its exact schema is not available offline; the
  reader **assumes** a header with a path column (``path``, ``filepath``, ``file``, ``image``,
  ``image_path`` or ``filename``) and a ``label`` column holding strings (``real``/``fake``, any case),
  optionally ``identity``/``video``. It is the ``csv`` reader with those aliases.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._registry import Registry
from ..media.base import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, VIDEO_EXTENSIONS
from .records import FAKE, REAL, FaceRecord, parse_label

__all__ = [
    "DatasetInfo",
    "FFPP_METHODS",
    "detect_dataset",
    "get_dataset_info",
    "list_datasets",
    "read_dataset",
    "register_dataset",
]

log = logging.getLogger(__name__)

Reader = Callable[..., list[FaceRecord]]
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    reader: Reader


_DATASETS: Registry[DatasetInfo] = Registry("dataset")


def register_dataset(name: str, description: str = "") -> Callable[[Reader], Reader]:
    """Decorator: register ``reader(root, **options) -> list[FaceRecord]`` under ``name``."""

    def _wrap(fn: Reader) -> Reader:
        doc = description or (fn.__doc__ or "").strip().splitlines()[0]
        _DATASETS.register(name, DatasetInfo(name, doc, fn))
        return fn

    return _wrap


def list_datasets() -> list[str]:
    return _DATASETS.names()


def get_dataset_info(name: str) -> DatasetInfo:
    return _DATASETS.get(name)


def read_dataset(name: str, root: str | Path, **options) -> list[FaceRecord]:
    """Records of dataset ``name`` at ``root`` (``name="auto"``: :func:`detect_dataset`)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or directory")
    if name == "auto":
        name = detect_dataset(root)
    records = _DATASETS.get(name).reader(root, **options)
    return sorted(records, key=lambda r: (r.path, r.frame or 0, r.face or 0))


def read_records_csv(path: str | Path) -> list[FaceRecord]:
    """Read a CSV written by :func:`~fakescope.training.records.write_records_csv` (relative paths
    resolved against its folder)."""
    return read_dataset("csv", path)


def detect_dataset(root: str | Path) -> str:
    """Guess the reader for ``root`` from its layout (a ``.csv`` file is ``csv``)."""
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "csv"
        raise ValueError(f"{root}: a dataset is a folder or a .csv file")
    if (root / "faces.csv").is_file():
        return "csv"  # an extract-faces output folder
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        return "ffpp"
    if (root / "Celeb-synthesis").is_dir() or (root / "Celeb-real").is_dir():
        return "celebdf"
    if _find_140k(root) is not None:
        return "140k"
    if any(root.glob("metadata.json")) or any(root.glob("*/metadata.json")):
        return "dfdc"
    if _child(root, "real") or _child(root, "fake"):
        return "folder"
    raise ValueError(f"{root}: cannot tell which dataset this is; pass its name (one of {', '.join(list_datasets())})")


# ---------------------------------------------------------------------------------------- helpers


def _child(root: Path, name: str) -> Path | None:
    """The sub-folder of ``root`` called ``name``, case-insensitively."""
    if not root.is_dir():
        return None
    for p in root.iterdir():
        if p.is_dir() and p.name.lower() == name.lower():
            return p
    return None


def _media(folder: Path, exts: set[str] = MEDIA_EXTENSIONS) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in exts and p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )  # fmt: skip


# ----------------------------------------------------------------------------------------- folder


@register_dataset("folder", "real/ and fake/ sub-folders of images or videos")
def read_folder(root: Path, **_) -> list[FaceRecord]:
    """``root/real/**`` and ``root/fake/**``; see the module docstring."""
    root = Path(root)
    out: list[FaceRecord] = []
    for word, label in (("real", REAL), ("fake", FAKE)):
        top = _child(root, word)
        if top is None:
            continue
        for p in _media(top):
            parts = p.relative_to(top).parts
            method = "original" if label == REAL else "fake"
            if label == FAKE and len(parts) > 1:
                method, parts = parts[0], parts[1:]
            clip = "/".join(parts[:-1]) if len(parts) > 1 else Path(parts[0]).stem
            video = f"{word}/{method}/{clip}" if label == FAKE else f"{word}/{clip}"
            out.append(FaceRecord(str(p), label, video=video, identity=video, manipulation=method, dataset="folder"))
    if not out:
        raise ValueError(f"{root}: no media under real/ or fake/")
    return out


# -------------------------------------------------------------------------------------------- csv

_PATH_COLUMNS = ("path", "filepath", "file_path", "file", "image", "image_path", "img_path", "filename", "crop")
_LABEL_COLUMNS = ("label", "label_str", "class", "target", "is_fake")


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    low = {h.strip().lower(): h for h in header}
    for n in names:
        if n in low:
            return low[n]
    return None


@register_dataset("csv", "CSV list: path,label[,video,identity,manipulation,mask,...]")
def read_csv(root: Path, base: str | Path | None = None, **_) -> list[FaceRecord]:
    """A CSV list (``root`` is the file, or a folder holding ``faces.csv``); see the module docstring."""
    path = Path(root)
    if path.is_dir():
        path = path / "faces.csv"
    base_dir = Path(base) if base else path.parent
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        pcol, lcol = _pick(header, _PATH_COLUMNS), _pick(header, _LABEL_COLUMNS)
        if pcol is None or lcol is None:
            raise ValueError(f"{path}: needs a path column ({'/'.join(_PATH_COLUMNS[:4])}...) and a label column")
        col = {name: _pick(header, (name,)) for name in FaceRecord.columns()}
        out = []
        for i, row in enumerate(reader, start=2):
            raw = (row.get(pcol) or "").strip()
            if not raw:
                continue
            p = Path(raw)
            if not p.is_absolute():
                p = base_dir / p
            try:
                label = parse_label(row[lcol])
            except ValueError as e:
                raise ValueError(f"{path}:{i}: {e}") from None

            def get(name: str, row=row) -> str | None:
                c = col.get(name)
                v = (row.get(c) or "").strip() if c else ""
                return v or None

            def resolve(v: str | None) -> str | None:
                if v is None:
                    return None
                q = Path(v)
                return str(q if q.is_absolute() else base_dir / q)

            stem = Path(raw).stem
            video = get("video") or stem
            frame, face = get("frame"), get("face")
            out.append(
                FaceRecord(
                    str(p),
                    label,
                    video=video,
                    identity=get("identity") or video,
                    manipulation=get("manipulation") or ("original" if label == REAL else "fake"),
                    mask=resolve(get("mask")),
                    source_identity=get("source_identity"),
                    split=get("split"),
                    dataset=get("dataset") or "csv",
                    landmarks=resolve(get("landmarks")),
                    frame=int(frame) if frame is not None else None,
                    face=int(face) if face is not None else None,
                )
            )
    return out


@register_dataset("seed001", "seed 001's face-image CSV (path + real/fake label strings; assumed schema)")
def read_seed001(root: Path, **options) -> list[FaceRecord]:
    """Seed 001's CSV of face images: the ``csv`` reader (path-column aliases, label strings)."""
    return [r.with_(dataset="seed001") for r in read_csv(root, **options)]


# ------------------------------------------------------------------------------------------- FF++

_PAIR = re.compile(r"^(\d+)_(\d+)$")


def _ffpp_splits(root: Path) -> dict[str, str]:
    """video id (``000`` or ``000_003``) → official split, from ``[target, source]`` pair lists."""
    out: dict[str, str] = {}
    for name, split in (("train", "train"), ("val", "val"), ("test", "test")):
        for cand in (root / "splits" / f"{name}.json", root / f"{name}.json"):
            if cand.is_file():
                for a, b in json.loads(cand.read_text()):
                    for key in (a, b, f"{a}_{b}", f"{b}_{a}"):
                        out[key] = split
                break
    return out


@register_dataset("ffpp", "FaceForensics++ (original_sequences / manipulated_sequences)")
def read_ffpp(
    root: Path,
    compression: str = "c23",
    methods: tuple[str, ...] | list[str] | str | None = None,
    kind: str = "videos",
    originals: tuple[str, ...] | list[str] = ("youtube",),
    **_,
) -> list[FaceRecord]:
    """FaceForensics++ at ``root``; ``compression`` c23/c40/raw, ``methods`` (default all five),
    ``kind`` videos or images; see the module docstring."""
    root = Path(root)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = tuple(methods or FFPP_METHODS)
    splits = _ffpp_splits(root)
    out: list[FaceRecord] = []

    def items(folder: Path) -> list[tuple[str, Path, str | None]]:
        """(video id, path, frame name) — one per video, or one per frame image with kind=images."""
        if not folder.is_dir():
            return []
        if kind == "videos":
            return [(p.stem, p, None) for p in _media(folder, VIDEO_EXTENSIONS)]
        return [(p.parent.name, p, p.stem) for p in _media(folder, IMAGE_EXTENSIONS)]

    for orig in originals:
        for vid, p, _frame in items(root / "original_sequences" / orig / compression / kind):
            ident = vid if orig == "youtube" else f"{orig}/{vid.split('__')[0]}"
            out.append(FaceRecord(str(p), REAL, video=f"original/{vid}", identity=ident, manipulation="original",
                                  split=splits.get(vid), dataset="ffpp"))  # fmt: skip
    for method in methods:
        mdir = root / "manipulated_sequences" / method
        for vid, p, frame in items(mdir / compression / kind):
            m = _PAIR.match(vid)
            target, source = (m.group(1), m.group(2)) if m else (vid, None)
            if kind == "videos":
                mask = mdir / "masks" / "videos" / f"{vid}.mp4"
            else:
                mask = mdir / "masks" / "images" / vid / f"{frame}.png"
            out.append(
                FaceRecord(
                    str(p), FAKE, video=f"{method}/{vid}", identity=target, source_identity=source,
                    manipulation=method, mask=str(mask) if mask.is_file() else None,
                    split=splits.get(vid), dataset="ffpp",
                )
            )  # fmt: skip
    if not out:
        raise ValueError(f"{root}: no FaceForensics++ {kind} found for compression {compression!r}")
    return out


# ---------------------------------------------------------------------------------------- Celeb-DF

_CELEB_REAL = re.compile(r"^(id\d+)_(\d+)$")
_CELEB_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")


@register_dataset("celebdf", "Celeb-DF v2 (Celeb-real, Celeb-synthesis, YouTube-real, test list)")
def read_celebdf(root: Path, **_) -> list[FaceRecord]:
    """Celeb-DF v2 at ``root``; see the module docstring (its test list says 1 = real)."""
    root = Path(root)
    listed: dict[str, int] = {}
    test_file = root / "List_of_testing_videos.txt"
    if test_file.is_file():
        for n, line in enumerate(test_file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            flag, _, rel = line.strip().partition(" ")
            if flag not in ("0", "1") or not rel:
                raise ValueError(f"{test_file}:{n}: expected '<1|0> <folder>/<file>', got {line!r}")
            # Celeb-DF's list: 1 = real, 0 = fake → fakescope's 0 = real, 1 = fake
            listed[_celeb_key(rel.strip())] = REAL if flag == "1" else FAKE
    out: list[FaceRecord] = []
    for folder_name, label in (("Celeb-real", REAL), ("YouTube-real", REAL), ("Celeb-synthesis", FAKE)):
        folder = _child(root, folder_name)
        if folder is None:
            continue
        for p in _media(folder, VIDEO_EXTENSIONS):
            vid = p.stem
            key = _celeb_key(f"{folder_name}/{p.name}")
            source = None
            if label == FAKE:
                m = _CELEB_FAKE.match(vid)
                identity, source = (m.group(1), m.group(2)) if m else (vid, None)
            elif folder_name == "Celeb-real":
                m = _CELEB_REAL.match(vid)
                identity = m.group(1) if m else vid
            else:
                identity = f"youtube/{vid}"
            if key in listed and listed[key] != label:
                raise ValueError(f"{test_file}: {folder_name}/{p.name} is listed with the other label")
            out.append(
                FaceRecord(
                    str(p), label, video=f"{folder_name}/{vid}", identity=identity, source_identity=source,
                    manipulation="original" if label == REAL else "Celeb-synthesis",
                    split="test" if key in listed else "train", dataset="celebdf",
                )
            )  # fmt: skip
    if not out:
        raise ValueError(f"{root}: no Celeb-DF videos (Celeb-real/, Celeb-synthesis/, YouTube-real/)")
    return out


def _celeb_key(rel: str) -> str:
    """``YouTube-real/00170.mp4`` → ``youtube-real/00170`` (folder case and a ``videos/`` level ignored)."""
    parts = [s for s in rel.replace("\\", "/").split("/") if s and s.lower() != "videos"]
    return f"{parts[0].lower()}/{Path(parts[-1]).stem}"


# -------------------------------------------------------------------------------------------- DFDC


@register_dataset("dfdc", "DFDC parts with metadata.json (label FAKE/REAL, original, split)")
def read_dfdc(root: Path, **_) -> list[FaceRecord]:
    """DFDC at ``root`` (one part folder, or a folder of parts); see the module docstring."""
    root = Path(root)
    metas = sorted(root.glob("metadata.json")) + sorted(root.glob("*/metadata.json"))
    if not metas:
        raise ValueError(f"{root}: no metadata.json (DFDC part folders)")
    out: list[FaceRecord] = []
    missing = 0
    for meta in metas:
        entries = json.loads(meta.read_text())
        for name, e in sorted(entries.items()):
            p = meta.parent / name
            if not p.is_file():
                missing += 1
                continue
            label = parse_label(e["label"])
            vid = Path(name).stem
            original = e.get("original")
            identity = Path(original).stem if (label == FAKE and original) else vid
            out.append(
                FaceRecord(
                    str(p), label, video=vid, identity=identity, manipulation="original" if label == REAL else "DFDC",
                    split=e.get("split"), dataset="dfdc",
                )
            )  # fmt: skip
    if missing:
        log.warning("dfdc: %d file(s) listed in metadata.json are missing; skipped", missing)
    return out


# -------------------------------------------------------------------------------------------- 140k


def _find_140k(root: Path) -> Path | None:
    for cand in (root / "real_vs_fake" / "real-vs-fake", root / "real-vs-fake", root):
        if cand.is_dir() and any((cand / s).is_dir() for s in ("train", "valid", "test")):
            if any(_child(cand / s, "real") or _child(cand / s, "fake") for s in ("train", "valid", "test")):
                return cand
    return None


@register_dataset("140k", "140k Real and Fake Faces (real_vs_fake/real-vs-fake/{train,valid,test}/{real,fake})")
def read_140k(root: Path, **_) -> list[FaceRecord]:
    """"140k Real and Fake Faces" at ``root``; see the module docstring."""
    base = _find_140k(Path(root))
    if base is None:
        raise ValueError(f"{root}: no real_vs_fake/real-vs-fake/{{train,valid,test}}/{{real,fake}} folders")
    out = []
    for split_dir, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        for word, label in (("real", REAL), ("fake", FAKE)):
            folder = _child(base / split_dir, word) if (base / split_dir).is_dir() else None
            if folder is None:
                continue
            for p in _media(folder, IMAGE_EXTENSIONS):
                vid = f"{word}/{p.stem}"
                out.append(
                    FaceRecord(
                        str(p), label, video=vid, identity=vid,
                        manipulation="original" if label == REAL else "StyleGAN", split=split, dataset="140k",
                    )
                )  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------- media


@register_dataset("media", "any images/videos of one label (option label=real|fake)")
def read_media(root: Path, label: str | int = "real", manipulation: str | None = None, **_) -> list[FaceRecord]:
    """Every image/video under ``root`` (or the file ``root``), all with the same ``label``; each file
    is its own clip and identity (pass ``identity`` through a CSV when several files show one person)."""
    root = Path(root)
    lab = parse_label(label)
    files = [root] if root.is_file() else _media(root)
    if not files:
        raise ValueError(f"{root}: no images or videos")
    out = []
    for p in files:
        vid = p.name if root.is_file() else str(p.relative_to(root))  # with the extension: a.jpg ≠ a.mp4
        method = manipulation or ("original" if lab == REAL else "fake")
        out.append(FaceRecord(str(p), lab, video=vid, identity=vid, manipulation=method, dataset="media"))
    return out
