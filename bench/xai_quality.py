"""The explanation-quality table of the shipped detectors (issue 13), run once; writes package data.

    python bench/xai_quality.py --corpus /work/corpus/faces/manifest.csv --split test --max-faces 160 \
        --n-sbi 80 --n-splice 80 --models sbi_mobilenetv2:corpus      # the shipped table (issue 13)
    python bench/xai_quality.py ... --methods lrp,deeplift --merge     # add rows to an earlier run

Real faces: with ``--corpus``, the crops (and their 68 landmarks) of one split of the offline corpus
(``scripts/build_corpus.py``; ``test`` = identities no shipped detector was trained or tuned on), one
face per identity; otherwise the sample media (``.cache/samples``, ``scripts/fetch_samples.py``), the
MesoNet authors' real test faces and ``skimage.data.astronaut()`` (plus ``--faces`` if given). From
them: self-blended images and eye/mouth splices (seed 0), explained by each method on each model
(``name:tag`` for other weights; a table entry per model and tag). Writes ``bench/xai/`` (JSON,
markdown, plots), ``src/fakescope/explainers/quality.json`` (the table ``fakescope explainers --model``
shows and the faithfulness flags read) and, without ``--corpus``,
``src/fakescope/explainers/assets/real_face_mean.png`` (the average real face, a baseline candidate).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fakescope.xai_eval import (  # noqa: E402
    EvalConfig,
    RealFace,
    build_masked_faces,
    choose_defaults,
    evaluate_model,
    quality_entry,
    real_faces,
    write_report,
)

ALL_METHODS = ("layercam_fusion", "gradcam", "gradcam++", "hirescam", "layercam", "eigencam", "scorecam",
               "saliency", "smoothgrad", "integrated_gradients", "gradientshap", "deeplift", "lrp", "lime",
               "kernelshap", "occlusion")  # fmt: skip
MODELS = ("sbi_mobilenetv2:corpus", "sbi_mobilenetv2", "mesoinception4", "clip_probe")
OUT = ROOT / "bench" / "xai"
PKG = ROOT / "src" / "fakescope" / "explainers"


def face_sources(extra: list[str]) -> list[str]:
    src = [str(ROOT / ".cache" / "samples"), str(ROOT / "tests" / "data" / "mesonet" / "test_images" / "real")]
    from PIL import Image
    from skimage import data

    tmp = Path(tempfile.mkdtemp()) / "astronaut.png"
    Image.fromarray(data.astronaut()).save(tmp)
    src.append(str(tmp))
    for p in [*extra, "/work/corpus"]:
        if Path(p).exists():
            src.append(p)
    return src


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--faces", action="append", default=[])
    ap.add_argument("--corpus", help="a crops CSV with landmarks (the offline corpus' faces/manifest.csv)")
    ap.add_argument("--split", default="test", help="split of --corpus to use")
    ap.add_argument("--max-faces", type=int, default=160)
    ap.add_argument("--n-sbi", type=int, default=40)
    ap.add_argument("--n-splice", type=int, default=40)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--sanity-faces", type=int, default=16)
    ap.add_argument("--merge", action="store_true", help="add the rows to bench/xai/<model>.json of an earlier run")
    ap.add_argument("--no-package", action="store_true", help="do not rewrite the package data")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default bench/xai)")
    args = ap.parse_args()
    out_dir = args.out
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = logging.getLogger("xai_quality")
    out_dir.mkdir(parents=True, exist_ok=True)

    cache = OUT / "faces.npz"  # this script's cache of the detected faces (arrays only, no pickle)
    if args.corpus:
        from fakescope.xai_eval import extracted_faces

        reals = extracted_faces(args.corpus, split=args.split, limit=args.max_faces, seed=0)
    elif cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            rows = zip(z["images"], z["landmarks"], z["sources"], strict=True)
            reals = [RealFace(i, lm, str(s)) for i, lm, s in rows]
    else:
        reals = real_faces(face_sources(args.faces))
        np.savez_compressed(cache, images=np.stack([r.image for r in reals]),
                            landmarks=np.stack([r.landmarks for r in reals]),
                            sources=np.array([r.source for r in reals]))
    log.info("%d real faces from %d sources", len(reals), len({r.source.split('#')[0] for r in reals}))
    if not args.no_package and not args.corpus:  # the average real face (a baseline candidate), 64 px
        from PIL import Image

        mean = np.mean([r.image.astype(np.float32) for r in reals], axis=0)
        small = Image.fromarray(np.clip(mean, 0, 255).astype(np.uint8)).resize((64, 64), Image.Resampling.BOX)
        (PKG / "assets").mkdir(exist_ok=True)
        small.save(PKG / "assets" / "real_face_mean.png", optimize=True)
        from fakescope.explainers import quality

        quality.real_face_mean.cache_clear()
    samples = build_masked_faces(reals, args.n_sbi, args.n_splice, seed=0)
    cfg = EvalConfig(methods=tuple(args.methods.split(",")), steps=args.steps, sanity_faces=args.sanity_faces)
    from fakescope.models import create_model

    table_path = PKG / "quality.json"
    table = json.loads(table_path.read_text()) if table_path.is_file() else {"models": {}}
    from fakescope.pipeline import parse_models

    where = f"the {args.split} split of the offline corpus" if args.corpus else "the sample media"
    for name in args.models.split(","):
        t0 = time.perf_counter()
        ((arch, tag),) = parse_models(name, "default")
        model = create_model(arch, weights=tag)
        rep = evaluate_model(model, samples, cfg, reals=[r.image for r in reals], progress=log.info)
        rep["model"] = name
        prev = out_dir / f"{name.replace(':', '_')}.json"
        if args.merge and prev.is_file():
            old = json.loads(prev.read_text())
            old["methods"].update({m: e for m, e in rep["methods"].items() if m in cfg.methods})
            rep = old
        rep["defaults"] = choose_defaults(rep, k=1)
        prev.write_text(json.dumps(rep, indent=1, default=str))
        log.info("%s done in %.0f s; defaults %s", name, time.perf_counter() - t0, rep["defaults"])
        table["models"][name] = {**quality_entry(rep, rep["defaults"]), "source": (
            f"bench/xai_quality.py: {args.n_sbi} self-blended images + {args.n_splice} eye/mouth splices from "
            f"{len(reals)} real faces of {where}; see bench/RESULTS.md")}  # fmt: skip
        files = [out_dir / f"{m.replace(':', '_')}.json" for m in MODELS]
        reps = [json.loads(f.read_text()) for f in files if f.is_file()]
        write_report(reps, out_dir, cfg)
        if not args.no_package:
            table["source"] = "bench/xai_quality.py (each model's entry says on which faces); see bench/RESULTS.md"
            table_path.write_text(json.dumps(table, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
