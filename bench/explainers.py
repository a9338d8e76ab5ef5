"""Benchmark: cost of fakescope's explainers vs the libraries used directly (issue 3).

For each model, on the four MesoNet test face crops (tests/data/mesonet/test_images/{df,real})
resized to the model's input size and repeated to ``--faces``:

1. one forward pass of the batch (the baseline cost per face);
2. Grad-CAM: fakescope's fast path vs ``pytorch_grad_cam.GradCAM`` used directly (target: a tiny
   callable returning the logit); ms/face and ratio to one forward pass (target ≤ 1.1×);
3. Integrated Gradients (50 steps), GradientSHAP, LIME, KernelSHAP with the same number of
   steps/samples on both sides: fakescope (fp32 and ``bf16=True``; correlation of bf16 with fp32
   maps) vs captum called directly with library defaults (no ``internal_batch_size``,
   ``perturbations_per_eval=1``, same SLIC ``feature_mask``); ms/face and speed-up (target ≥ 3×);
4. every other registered method with fakescope defaults.

Variants that are compared are run interleaved (A, B, C, A, B, C, ...) in the same process and the
median is reported. Library-default IG/LIME are slow on CPU, so step 3 runs on ``--heavy-faces``
faces (default 1) with ``--perturb-samples`` (default 50) LIME/KernelSHAP samples on both sides;
``--small-batch`` adds fakescope runs with ``internal_batch_size`` / ``perturbations_per_eval`` = 4.
Xception has no trained weights offline: it is randomly initialised (cost only).

    .venv/bin/python bench/explainers.py [--faces N] [--models mesoinception4 xception] [--write-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from captum.attr import GradientShap, IntegratedGradients, KernelShap, Lime  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402

import fakescope  # noqa: E402
from fakescope.explainers import UnsupportedModelError, explain, list_explainers, make_baseline  # noqa: E402
from fakescope.explainers._base import get_layer  # noqa: E402
from fakescope.explainers._perturbation import slic_segments  # noqa: E402

FACES = ROOT / "tests" / "data" / "mesonet" / "test_images"
SECTION = "## Explainers (issue 3)"
COMPARED = {"gradcam", "integrated_gradients", "gradientshap", "lime", "kernelshap"}
WEIGHTS = {"mesoinception4": "df", "xception": None}


def load_faces(size: int, n: int) -> torch.Tensor:
    from PIL import Image

    files = sorted(FACES.glob("df/*.jpg")) + sorted(FACES.glob("real/*.jpg"))
    imgs = [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255.0
    return x.repeat((n + len(x) - 1) // len(x), 1, 1, 1)[:n].contiguous()


class LogitTarget:
    """pytorch-grad-cam target: the (fake) logit of one face."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output.reshape(-1)[0]


def interleaved(variants: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each variant, run A, B, C, A, B, C, ... ``repeats`` times."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-face Pearson correlation of two N×H×W map stacks."""
    rs = [np.corrcoef(p.ravel(), q.ravel())[0, 1] for p, q in zip(a, b, strict=True)]
    return float(np.nanmean(rs))


def bench_model(name: str, args, rows: list, notes: list) -> None:
    model = fakescope.create_model(name, weights=WEIGHTS[name]).eval()
    size = model.info.input_size
    heavy = name == "xception"
    x = load_faces(size, args.faces)
    xh = x[: args.heavy_faces]  # IG/SHAP/LIME (library defaults are slow): fewer faces
    n, nh = len(x), len(xh)

    def f(inp):  # one logit per face, for captum with target=None
        return model(inp).reshape(len(inp), -1)[:, 0]

    # -- 1 + 2: forward and Grad-CAM --------------------------------------------------------
    layer = get_layer(model, model.info.cam_layer)

    def fwd():
        with torch.no_grad():
            model(x)

    def fs_gradcam():
        explain(model, x, "gradcam")

    def lib_gradcam():
        with GradCAM(model, target_layers=[layer]) as cam:
            cam(x, targets=[LogitTarget()] * n)

    fwd(), fs_gradcam(), lib_gradcam()  # warm-up
    t = interleaved({"fwd": fwd, "fs": fs_gradcam, "lib": lib_gradcam}, args.repeats)
    tf = statistics.median(t["fwd"]) / n
    rows.append((name, "forward pass", n, tf, None, "—", "baseline"))
    tfs, tlib = statistics.median(t["fs"]) / n, statistics.median(t["lib"]) / n
    rows.append((name, "gradcam: fakescope fast", n, tfs, tfs / tf, f"{tlib / tfs:.2f}×",
                 f"target ≤ 1.1× fwd: {'met' if tfs / tf <= 1.1 else 'NOT met'}"))
    rows.append((name, "gradcam: pytorch-grad-cam direct", n, tlib, tlib / tf, "1×", ""))
    print(f"[{name}] fwd {tf * 1e3:.1f} ms/face, gradcam fs {tfs * 1e3:.1f} lib {tlib * 1e3:.1f}", flush=True)

    # -- 3: IG / GradientSHAP / LIME / KernelSHAP vs captum defaults --------------------------
    n_samples = args.perturb_samples
    blurred = make_baseline(xh, "blurred")
    masks = [slic_segments(face)[None, None] for face in xh]
    gen = torch.Generator().manual_seed(0)
    gs_refs = torch.cat([torch.zeros_like(xh[:1]), blurred, torch.rand(xh[:1].shape, generator=gen)])

    def lib_ig():
        IntegratedGradients(f).attribute(xh, target=None, n_steps=50)

    def lib_gs():
        GradientShap(f).attribute(xh, baselines=gs_refs, n_samples=16, stdevs=0.09)

    def lib_perturb(cls):
        def run():
            for i in range(nh):
                cls(f).attribute(xh[i : i + 1], baselines=blurred[i : i + 1], feature_mask=masks[i],
                                 n_samples=n_samples)
        return run

    cases = {
        "integrated_gradients": ({"n_steps": 50}, lib_ig, "IG, 50 steps"),
        "gradientshap": ({"n_samples": 16}, lib_gs, "GradientSHAP, 16 samples"),
        "lime": ({"n_samples": n_samples}, lib_perturb(Lime), f"LIME, {n_samples} samples"),
        "kernelshap": ({"n_samples": n_samples}, lib_perturb(KernelShap), f"KernelSHAP, {n_samples} samples"),
    }
    for method, (params, lib_fn, label) in cases.items():
        out: dict[str, np.ndarray] = {}

        def fs(bf16, method=method, params=params, out=out):
            def run():
                out[bf16] = explain(model, xh, method, bf16=bf16, **params).maps
            return run

        reps = args.heavy_repeats
        variants = {"fs": fs(False), "fs_bf16": fs(True), "lib": lib_fn}
        small = {"integrated_gradients": "internal_batch_size", "lime": "perturbations_per_eval",
                 "kernelshap": "perturbations_per_eval"}.get(method)
        if args.small_batch and small:
            sp = {**params, small: args.small_batch}
            variants["fs_small"] = lambda method=method, sp=sp: explain(model, xh, method, **sp)
            variants["fs_small_bf16"] = lambda method=method, sp=sp: explain(model, xh, method, bf16=True, **sp)
        t = interleaved(variants, reps)
        a, b, c = (statistics.median(t[k]) / nh for k in ("fs", "fs_bf16", "lib"))
        r = corr(out[True], out[False])
        if "fs_small" in t:
            for key, tag in (("fs_small", "fp32"), ("fs_small_bf16", "bf16")):
                d = statistics.median(t[key]) / nh
                rows.append((name, f"{label}: fakescope {tag}, {small}={args.small_batch}", nh, d, d / tf,
                             f"{c / d:.2f}×", f"target ≥ 3×: {'met' if c / d >= 3 else 'NOT met'}"))
                print(f"[{name}] {label}: fs {tag} {small}={args.small_batch} {d * 1e3:.0f} ms/face", flush=True)
        rows.append((name, f"{label}: fakescope fp32", nh, a, a / tf, f"{c / a:.2f}×",
                     f"target ≥ 3×: {'met' if c / a >= 3 else 'NOT met'}"))
        rows.append((name, f"{label}: fakescope bf16", nh, b, b / tf, f"{c / b:.2f}×",
                     f"r(bf16, fp32 maps) = {r:.3f}"))
        rows.append((name, f"{label}: captum direct, defaults", nh, c, c / tf, "1×", ""))
        print(f"[{name}] {label}: fs {a * 1e3:.0f} bf16 {b * 1e3:.0f} lib {c * 1e3:.0f} ms/face r={r:.3f}",
              flush=True)

    # -- 4: every other registered method, fakescope defaults -----------------------------------
    if heavy and args.skip_others_xception:
        notes.append(f"{name}: other methods not timed (time limit).")
        return
    xo = x[: args.heavy_faces]
    for method in list_explainers():
        if method in COMPARED:
            continue
        if heavy and method in ("scorecam",):
            rows.append((name, f"{method} (defaults)", 0, None, None, "—",
                         "skipped: one forward pass per CAM-layer channel and face"))
            continue
        try:
            t0 = time.perf_counter()
            explain(model, xo, method)
            dt = (time.perf_counter() - t0) / len(xo)
            rows.append((name, f"{method} (defaults)", len(xo), dt, dt / tf, "—", ""))
            print(f"[{name}] {method}: {dt * 1e3:.1f} ms/face", flush=True)
        except UnsupportedModelError as e:
            rows.append((name, f"{method} (defaults)", 0, None, None, "—", f"unsupported: {str(e)[:60]}"))


def table(rows: list) -> str:
    lines = ["| model | variant | faces | ms/face | × forward | speed-up vs library | notes |",
             "|---|---|---:|---:|---:|---:|---|"]
    for m, v, n, t, rf, sp, note in rows:
        ms = f"{t * 1e3:.1f}" if t is not None else "—"
        xf = f"{rf:.2f}" if rf is not None else "—"
        lines.append(f"| {m} | {v} | {n or '—'} | {ms} | {xf} | {sp} | {note} |")
    return "\n".join(lines) + "\n"


def write_section(results_md: Path, text: str) -> None:
    """Replace (or append) this benchmark's section in RESULTS.md, leaving other sections alone."""
    old = results_md.read_text() if results_md.is_file() else "# Benchmark results\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("\n" + old[nxt + 1 :] if nxt >= 0 else "")
    results_md.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["mesoinception4", "xception"])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats for forward / Grad-CAM")
    ap.add_argument("--heavy-repeats", type=int, default=1, help="interleaved repeats for IG/SHAP/LIME")
    ap.add_argument("--heavy-faces", type=int, default=1, help="faces for IG/SHAP/LIME (library runs are slow)")
    ap.add_argument("--perturb-samples", type=int, default=50, help="LIME/KernelSHAP samples (both sides)")
    ap.add_argument("--small-batch", type=int, default=4,
                    help="also time fakescope with internal_batch_size / perturbations_per_eval = this (0: off)")
    ap.add_argument("--skip-others-xception", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-results", action="store_true")
    ap.add_argument("--extra", default="", help="free text appended to the RESULTS.md section")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    rows: list = []
    notes: list[str] = []
    for name in args.models:
        bench_model(name, args, rows, notes)
    load1 = os.getloadavg()
    tab = table(rows)
    print(tab)
    cmd = " ".join(["`.venv/bin/python bench/explainers.py"] + sys.argv[1:]) + "`"
    head = (
        f"{SECTION}\n\n{cmd} — {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({args.threads} threads), Python {platform.python_version()}; load average (1 min) "
        f"{load0[0]:.1f} at start, {load1[0]:.1f} at end (shared machine: expect noise). Compared variants "
        "ran interleaved in one process; median reported. Xception is randomly initialised (no trained "
        "weights offline): its rows measure cost only.\n\n"
    )
    text = head + tab + ("\n" + "\n".join(f"- {s}" for s in notes) + "\n" if notes else "")
    if args.extra:
        text += "\n" + args.extra.strip() + "\n"
    if args.write_results:
        write_section(ROOT / "bench" / "RESULTS.md", text)


if __name__ == "__main__":
    main()
