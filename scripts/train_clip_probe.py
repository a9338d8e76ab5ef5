"""Train the ``clip_probe`` detector (issue 20): frozen CLIP ViT-B/16 block features + a linear head.

    python scripts/train_clip_probe.py extract --corpus /work/corpus --out runs/clip_probe   # resumable
    python scripts/train_clip_probe.py fit --out runs/clip_probe --layers 8          # head → weights/clip_probe/

``extract`` makes the training set from the corpus' *real* faces only (``faces/manifest.csv``, train and
val splits, identity-disjoint): each real face, augmented, and pseudo-fakes made from it — a self-blended
image (:mod:`fakescope.training.sbi`) and, for a third of them, a face swap (:func:`fakescope.training.
pseudofakes.face_swap`: the inner face of another training identity, aligned on 68 landmarks, colour
matched, feathered in). Augmentations (both classes alike): JPEG 30–95, down-and-up scaling (½–¼),
blur, colour, flips, small affine, and ``edge`` (black out-of-frame bands as ``analyze`` crops them).
Features are the class tokens and mean patch tokens after every encoder block (float16), computed by
the shipped :class:`fakescope.models.clip_probe.ClipProbe` module itself, in chunks of ``--chunk``
faces written atomically: an interrupted run resumes at the first missing chunk. Evaluation faces are
never used here.

``fit`` trains logistic regression (scikit-learn, L2, C chosen by identity-grouped CV on the training
chunks) on the normalised class tokens of ``--layers``, reports validation AUC, and writes the head as
safetensors (metadata: layers, C, counts) plus ``train_summary.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
log = logging.getLogger("train_clip_probe")


def select_rows(manifest: Path, split: str, limit: int, seed: int) -> list:
    """The manifest rows ``load_reals`` uses (same order): non-UTKFace faces first (up to 8 per
    identity), then one UTKFace face per identity, in a random order fixed by ``seed``."""
    from fakescope.training.datasets import read_csv

    rows = [r for r in read_csv(manifest) if r.label == 0 and r.split == split and r.landmarks]
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    # video/package faces (several per identity, other framing than UTKFace) are kept up to 8 per identity
    other = [r for r in rows if r.dataset != "utkface"]
    utk = [r for r in rows if r.dataset == "utkface"]
    per: dict[str, int] = {}
    picked = []
    for r in other + utk:
        cap = 8 if r.dataset != "utkface" else 1
        if per.get(r.identity, 0) >= cap:
            continue
        per[r.identity] = per.get(r.identity, 0) + 1
        picked.append(r)
        if len(picked) >= limit:
            break
    return picked


def load_reals(manifest: Path, split: str, limit: int, seed: int):
    """(crop, 68 landmarks, row) of :func:`select_rows`' faces that have 68 landmarks."""
    from PIL import Image

    out = []
    for r in select_rows(manifest, split, limit, seed):
        lm = json.loads(Path(r.landmarks).read_text()).get("landmarks68")
        if not lm or len(lm) != 68:
            continue
        with Image.open(r.path) as im:
            out.append((np.asarray(im.convert("RGB")), np.asarray(lm, np.float32), r))
    return out


def augmenter():
    from fakescope.training.augment import AugmentConfig, Augmenter

    return Augmenter(AugmentConfig(hflip=0.5, affine=0.2, shear=4, rotate=6, scale=0.05, jpeg=0.5,
                                   jpeg_quality=(30, 95), blur=0.2, colour=0.2, edge=0.3, edge_max=0.2))  # fmt: skip


def rescale(img: np.ndarray, rng: np.random.Generator, p: float = 0.3) -> np.ndarray:
    """With probability ``p``: down to ½–¼ of the size and back (low-resolution faces)."""
    import cv2

    if rng.random() >= p:
        return img
    h, w = img.shape[:2]
    f = rng.uniform(0.25, 0.5)
    small = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def make_samples(reals, seed: int, swap_every: int = 3):
    """[(image, label, kind, identity)] for the reals, their SBIs and a face swap for every ``swap_every``-th."""
    from fakescope.training.pseudofakes import face_swap
    from fakescope.training.sbi import self_blend

    rng = np.random.default_rng(seed)
    aug = augmenter()
    out = []
    for i, (img, lm, r) in enumerate(reals):
        s = int(rng.integers(1 << 31))
        out.append((rescale(aug(img, s), rng), 0, "real", r.identity))
        try:
            fake = self_blend(img, lm, rng).fake
            out.append((rescale(aug(fake, s + 1), rng), 1, "sbi", r.identity))
        except Exception as e:  # noqa: BLE001 - a degenerate hull skips one sample
            log.debug("sbi failed on %s: %s", r.path, e)
        if i % swap_every == 0 and len(reals) > 1:
            j = int(rng.integers(len(reals) - 1))
            j = j + 1 if j >= i else j
            try:
                sw = face_swap(img, lm, reals[j][0], reals[j][1], rng)
                out.append((rescale(aug(sw, s + 2), rng), 1, "swap", r.identity))
            except ValueError as e:
                log.debug("swap failed on %s: %s", r.path, e)
    return out


def extract_features(model, images: list[np.ndarray], batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(cls, patch-mean) per block: two N×12×768 float16 arrays."""
    import torch

    cls_all, mean_all = [], []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.stack(images[i : i + batch])).permute(0, 3, 1, 2).float() / 255.0
            toks = model.block_tokens(x)
            cls_all.append(torch.stack([t[:, 0] for t in toks], 1).half().numpy())
            mean_all.append(torch.stack([t[:, 1:].mean(1) for t in toks], 1).half().numpy())
    return np.concatenate(cls_all), np.concatenate(mean_all)


def feature_model():
    import torch

    from fakescope.models.clip_probe import ClipProbe, encoder_state_dict

    torch.set_num_threads(int(os.environ.get("FAKESCOPE_THREADS", os.cpu_count() or 1)))
    m = ClipProbe(layers=tuple(range(1, 13)))
    m.load_encoder(encoder_state_dict())
    return m.eval()


def save_chunk(path: Path, **arrays) -> None:
    tmp = path.with_suffix(".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def cmd_extract(args) -> int:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest = args.corpus / "faces" / "manifest.csv"
    model = feature_model()
    plan = [("val", args.n_val, args.seed + 1), ("train", args.n_train, args.seed)]
    for split, n, seed in plan:
        reals = load_reals(manifest, split, n, seed)
        log.info("%s: %d real faces", split, len(reals))
        for c0 in range(0, len(reals), args.chunk):
            path = out / f"{split}_{c0 // args.chunk:03d}.npz"
            if path.exists():
                continue
            t0 = time.time()
            samples = make_samples(reals[c0 : c0 + args.chunk], seed * 1000 + c0)
            cls, mean = extract_features(model, [s[0] for s in samples])
            save_chunk(path, cls=cls, mean=mean, label=np.array([s[1] for s in samples], np.int8),
                       kind=np.array([s[2] for s in samples]), identity=np.array([s[3] for s in samples]))  # fmt: skip
            log.info("%s: %d samples, %.0f ms/face", path.name, len(samples), (time.time() - t0) / len(samples) * 1e3)
    return 0


def cmd_extract_eval(args) -> int:
    """Features of evaluation faces (extract-faces manifests of real deepfakes and their reals)."""
    from PIL import Image

    from fakescope.training.datasets import read_csv

    model = feature_model()
    for manifest in args.manifests:
        name = manifest.parent.parent.name + "_" + manifest.parent.name
        path = args.out / f"eval_{name}.npz"
        if path.exists():
            continue
        rows = read_csv(manifest)
        # at most --per-video faces per input, spread over its frames
        by_video: dict[str, list] = {}
        for r in rows:
            by_video.setdefault(r.video, []).append(r)
        keep = []
        for _, rs in sorted(by_video.items()):
            idx = np.linspace(0, len(rs) - 1, min(args.per_video, len(rs))).round().astype(int)
            keep += [rs[i] for i in sorted(set(idx))]
        imgs = []
        for r in keep:
            with Image.open(r.path) as im:
                imgs.append(np.asarray(im.convert("RGB").resize((224, 224))))
        t0 = time.time()
        cls, mean = extract_features(model, imgs)
        save_chunk(path, cls=cls, mean=mean, label=np.array([r.label for r in keep], np.int8),
                   video=np.array([r.video for r in keep]), manipulation=np.array([r.manipulation for r in keep]),
                   dataset=np.array([r.dataset for r in keep]), face_file=np.array([r.path for r in keep]))  # fmt: skip
        log.info("%s: %d faces of %d inputs, %.0f ms/face", path.name, len(keep), len(by_video),
                 (time.time() - t0) / max(1, len(keep)) * 1e3)  # fmt: skip
    return 0


def load_chunks(out: Path, prefix: str) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in sorted(out.glob(f"{prefix}_*.npz")) if ".part" not in p.name]
    if not parts:
        raise SystemExit(f"no {prefix} features in {out} (run extract first)")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0].files}


def layer_features(d: dict[str, np.ndarray], layers: tuple[int, ...], kind: str = "cls") -> np.ndarray:
    """Normalised (LayerNorm without affine) tokens of ``layers`` (1-based), concatenated — as ClipProbe."""
    x = d[kind][:, [k - 1 for k in layers]].astype(np.float32)
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    return x.reshape(len(x), -1)


def fit_head(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c_grid=(0.01, 0.03, 0.1, 0.3, 1.0)):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    best = (-1.0, c_grid[0])
    for c in c_grid:
        aucs = []
        for tr, te in GroupKFold(n_splits=4).split(x, y, groups):
            clf = LogisticRegression(C=c, max_iter=2000).fit(x[tr], y[tr])
            aucs.append(roc_auc_score(y[te], clf.decision_function(x[te])))
        log.info("C=%g: grouped-CV AUC %.4f", c, float(np.mean(aucs)))
        best = max(best, (float(np.mean(aucs)), c))
    clf = LogisticRegression(C=best[1], max_iter=4000).fit(x, y)
    return clf, best


def cmd_fit(args) -> int:
    from safetensors.numpy import save_file
    from sklearn.metrics import roc_auc_score

    layers = tuple(int(k) for k in args.layers.split(","))
    tr, va = load_chunks(args.out, "train"), load_chunks(args.out, "val")
    x, y = layer_features(tr, layers), tr["label"].astype(int)
    clf, (cv_auc, c) = fit_head(x, y, tr["identity"], c_grid=(args.C,) if args.C else (0.01, 0.03, 0.1, 0.3, 1.0))
    xv, yv = layer_features(va, layers), va["label"].astype(int)
    val_auc = float(roc_auc_score(yv, clf.decision_function(xv)))
    log.info("layers %s: C=%g, CV AUC %.4f, val AUC %.4f (%d train, %d val samples)", layers, c, cv_auc, val_auc,
             len(y), len(yv))  # fmt: skip
    dest = args.weights
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = {"layers": json.dumps(list(layers)), "C": str(c), "cv_auc": f"{cv_auc:.4f}", "val_auc": f"{val_auc:.4f}",
            "n_train": str(len(y)), "n_val": str(len(yv))}  # fmt: skip
    tmp = dest.with_suffix(".part")
    save_file({"head.weight": clf.coef_.astype(np.float32).reshape(1, -1),
               "head.bias": clf.intercept_.astype(np.float32).reshape(1)}, str(tmp), metadata=meta)  # fmt: skip
    tmp.replace(dest)
    (args.out / "train_summary.json").write_text(json.dumps(meta, indent=1))
    write_file_list(args, dest.parent / "training_files.csv")
    print(json.dumps(meta))
    return 0


def write_file_list(args, dest: Path) -> None:
    """Every corpus file the head was trained or validated on: split, source, path, sha256 (the data card's
    list). Reconstructed from the manifest with the extraction's own selection (same seed and counts)."""
    import csv

    manifest = args.corpus / "faces" / "manifest.csv"
    src = {}
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f):
            src[str((manifest.parent / row["path"]).resolve())] = row
    tmp = dest.with_suffix(".part")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "source", "source_path", "source_sha256", "face_crop"])
        for split, n, seed in (("train", args.n_train, args.seed), ("val", args.n_val, args.seed + 1)):
            for r in select_rows(manifest, split, n, seed):
                row = src.get(str(Path(r.path).resolve()), {})
                w.writerow([split, row.get("source", ""), row.get("source_path", ""), row.get("source_sha256", ""),
                            row.get("path", "")])  # fmt: skip
    tmp.replace(dest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--corpus", type=Path, default=Path(os.environ.get("FAKESCOPE_CORPUS", "/work/corpus")))
    e.add_argument("--out", type=Path, default=ROOT / "runs" / "clip_probe")
    e.add_argument("--n-train", type=int, default=2400)
    e.add_argument("--n-val", type=int, default=300)
    e.add_argument("--chunk", type=int, default=200)
    e.add_argument("--seed", type=int, default=20)
    v = sub.add_parser("extract-eval")
    v.add_argument("manifests", type=Path, nargs="+")
    v.add_argument("--out", type=Path, default=ROOT / "runs" / "clip_probe")
    v.add_argument("--per-video", type=int, default=12)
    f = sub.add_parser("fit")
    f.add_argument("--out", type=Path, default=ROOT / "runs" / "clip_probe")
    f.add_argument("--layers", default="9")
    f.add_argument("--C", type=float, default=0.0, help="inverse L2 strength (0: chosen by grouped CV)")
    f.add_argument("--corpus", type=Path, default=Path(os.environ.get("FAKESCOPE_CORPUS", "/work/corpus")))
    f.add_argument("--n-train", type=int, default=2400)
    f.add_argument("--n-val", type=int, default=300)
    f.add_argument("--seed", type=int, default=20)
    f.add_argument("--weights", type=Path,
                   default=ROOT / "src/fakescope/weights/clip_probe/clip_probe_head.safetensors")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return {"extract": cmd_extract, "extract-eval": cmd_extract_eval, "fit": cmd_fit}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
