"""Benchmark: do bfloat16 maps stay the same? (issue 3: "bf16 autocast where maps stay the same:
correlation ≥ 0.95 with fp32 maps, reported").

For each *trained* model that ships offline (MesoInception-4 and Meso4 with the DF weights, the SBI
MobileNetV2 demo detector, EfficientNet-Lite0 with ImageNet features and an untrained one-logit
head) and each method, on the four MesoNet test faces: the mean and the lowest per-face Pearson
correlation between the ``bf16=True`` and the float32 maps, the wall time of both, and — as the
scale against which to read them — the correlation between two float32 runs that differ only in
what the method itself leaves to chance or to discretisation (another seed for the sampling methods,
64 instead of 50 steps for IG). Xception is left out: no trained weights exist offline, and a random
network's maps say nothing about bf16 on a detector.

    .venv/bin/python bench/explainer_bf16.py [--write-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from explainers import load_faces, write_section  # noqa: E402

import fakescope  # noqa: E402
from fakescope._alloc import active_allocator  # noqa: E402
from fakescope.explainers import explain  # noqa: E402

SECTION = "## Explainers: bf16 against float32 maps (issue 3)"
MODELS = [("mesoinception4", "df"), ("meso4", "df"), ("sbi_mobilenetv2", "sbi"), ("efficientnet_lite0", "imagenet")]
# method: (options for both runs, what the float32 reference run changes)
METHODS = {
    "integrated_gradients": ({"n_steps": 50}, {"n_steps": 64}),
    "gradientshap": ({}, {"seed": 1}),
    "lime": ({}, {"seed": 1}),
    "kernelshap": ({}, {"seed": 1}),
    "saliency": ({}, None),
    "gradcam": ({}, None),
}


def per_face_r(a: np.ndarray, b: np.ndarray) -> list[float]:
    out = []
    for p, q in zip(a, b, strict=True):
        if p.std() == 0 or q.std() == 0:  # a constant map (no evidence for the target): undefined
            out.append(float("nan"))
        else:
            out.append(float(np.corrcoef(p.ravel(), q.ravel())[0, 1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    lines = ["| model | method | r(bf16, fp32) mean | r min | fp32 s | bf16 s | fp32 vs fp32 (what changes) "
             "| r ≥ 0.95 |", "|---|---|---:|---:|---:|---:|---|---|"]
    for name, weights in MODELS:
        model = fakescope.create_model(name, weights=weights).eval()
        x = load_faces(model.info.input_size, 4)
        for method, (opts, alt) in METHODS.items():
            t0 = time.perf_counter()
            a = explain(model, x, method, **opts).maps
            t1 = time.perf_counter()
            b = explain(model, x, method, bf16=True, **opts).maps
            t2 = time.perf_counter()
            rs = [r for r in per_face_r(a, b) if not np.isnan(r)]
            ref = "—"
            if alt is not None:
                c = explain(model, x, method, **{**opts, **alt}).maps
                rr = [r for r in per_face_r(a, c) if not np.isnan(r)]
                ref = f"{np.mean(rr):.3f} ({', '.join(f'{k}={v}' for k, v in alt.items())})" if rr else "—"
            mean, low = (np.mean(rs), np.min(rs)) if rs else (float("nan"), float("nan"))
            ok = "yes" if rs and low >= 0.95 else ("mean only" if rs and mean >= 0.95 else "no")
            note = "" if len(rs) == len(x) else f" ({len(x) - len(rs)} constant maps left out)"
            lines.append(f"| {name} | {method}{note} | {mean:.3f} | {low:.3f} | {t1 - t0:.2f} | {t2 - t1:.2f} | "
                         f"{ref} | {ok} |")
            print(lines[-1], flush=True)
    load1 = os.getloadavg()
    text = (
        f"{SECTION}\n\n`.venv/bin/python bench/explainer_bf16.py"
        f"{' --write-results' if args.write_results else ''}` — {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__} ({args.threads} threads), allocator {active_allocator()}; load average "
        f"{load0[0]:.1f} at start, {load1[0]:.1f} at end. Four MesoNet test faces per model, fakescope "
        "defaults (IG 50 steps); per-face Pearson correlation of the maps; times are for all four faces.\n\n"
        + "\n".join(lines) + "\n"
    )
    print(text)
    if args.write_results:
        write_section(ROOT / "bench" / "RESULTS.md", text)


if __name__ == "__main__":
    main()
