"""Benchmark: cost of fakescope's explainers vs the libraries used directly (issue 3).

For each model, on the four MesoNet test face crops (tests/data/mesonet/test_images/{df,real})
resized to the model's input size and repeated to ``--faces``:

1. one forward pass of the batch, twice: as fakescope runs it (channels-last weights and input) and
   plain (a separate, contiguous copy of the model, NCHW input — what a user's own script does);
2. Grad-CAM: fakescope's fast path vs ``pytorch_grad_cam.GradCAM`` used directly on the plain copy
   (target: a tiny callable returning the logit); ms/face and ratio to each forward (target ≤ 1.1×);
3. Integrated Gradients (50 steps), GradientSHAP (16 samples), LIME and KernelSHAP (``--perturb-samples``)
   with the same number of steps/samples on both sides: fakescope defaults (fp32 and ``bf16=True``;
   correlation of bf16 with fp32 maps) vs captum called directly on the plain copy with library
   defaults (no ``internal_batch_size``, ``perturbations_per_eval=1``, same SLIC ``feature_mask``);
   ms/face and speed-up (target ≥ 3×);
4. every other registered method (``--sections others``, its own RESULTS.md section): fakescope
   defaults vs the library class called directly with its defaults (pytorch-grad-cam CAMs, captum
   Saliency / NoiseTunnel / Occlusion with fakescope's window, zennit EpsilonPlusFlat).

The memory allocator matters as much as anything else on a CPU (glibc malloc returns big activation
buffers to the kernel after every call), so the whole benchmark runs once per ``--allocators`` entry
in a child process (``system`` = glibc malloc, ``tcmalloc`` = LD_PRELOAD, as the ``fakescope`` command
runs itself), and the table adds the cross row "fakescope under tcmalloc vs captum under glibc":
the installed CLI against a plain Python script calling the library. Variants that are compared
within one allocator run interleaved (A, B, C, A, B, C, ...) in the same process; medians reported.
Xception has no trained weights offline: it is randomly initialised (cost only).

    .venv/bin/python bench/explainers.py [--faces N] [--models mesoinception4 xception] [--write-results]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from captum.attr import GradientShap, IntegratedGradients, KernelShap, Lime  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402

import fakescope  # noqa: E402
from fakescope._alloc import active_allocator, find_tcmalloc  # noqa: E402
from fakescope.explainers import UnsupportedModelError, explain, list_explainers, make_baseline  # noqa: E402
from fakescope.explainers._base import get_layer  # noqa: E402
from fakescope.explainers._perturbation import slic_segments  # noqa: E402

FACES = ROOT / "tests" / "data" / "mesonet" / "test_images"
SECTION = "## Explainers (issue 3)"
SECTION_OTHERS = "## Explainers: the other methods (issue 3)"
SECTION_GRADCAM = "## Explainers: Grad-CAM against one forward pass (issue 3)"
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


def forwards(model, plain, x: torch.Tensor) -> dict:
    """The two forward-pass baselines: fakescope's (channels-last weights and input) and a plain one."""
    xcl = x.contiguous(memory_format=torch.channels_last)

    def fwd_fs():
        with torch.no_grad():
            model(xcl)

    def fwd_plain():
        with torch.no_grad():
            plain(x)

    return {"fwd": fwd_fs, "plain": fwd_plain}


def row(model, variant, faces, sec, fwd=None, plain=None, speedup="—", note="", key=None) -> dict:
    return {"model": model, "variant": variant, "faces": faces, "ms": None if sec is None else sec * 1e3,
            "x_fwd": None if sec is None or fwd is None else sec / fwd,
            "x_plain": None if sec is None or plain is None else sec / plain,
            "speedup": speedup, "note": note, "key": key}


def bench_model(name: str, args, rows: list) -> None:
    model = fakescope.create_model(name, weights=WEIGHTS[name]).eval()
    plain = copy.deepcopy(model)  # contiguous (NCHW) copy for the library calls and the plain forward
    fakescope.explainers.to_channels_last(model)  # what explain() does on its first call anyway
    size = model.info.input_size
    x = load_faces(size, args.faces)
    xh = x[: args.heavy_faces]  # IG/SHAP/LIME (library defaults are slow): fewer faces
    n, nh = len(x), len(xh)

    def f(inp):  # one logit per face, for captum with target=None
        return plain(inp).reshape(len(inp), -1)[:, 0]

    # -- 1 + 2: forward and Grad-CAM --------------------------------------------------------
    layer = get_layer(plain, plain.info.cam_layer)

    def fs_gradcam():
        explain(model, x, "gradcam")

    def lib_gradcam():
        with GradCAM(plain, target_layers=[layer]) as cam:
            cam(x, targets=[LogitTarget()] * n)

    variants = {**forwards(model, plain, x), "fs": fs_gradcam, "lib": lib_gradcam}
    for fn in variants.values():  # warm-up
        fn()
    t = interleaved(variants, args.repeats)
    tf, tp, tfs, tlib = (statistics.median(t[k]) / n for k in ("fwd", "plain", "fs", "lib"))
    rows.append(row(name, "forward pass, fakescope (channels-last)", n, tf, tf, tp, note="baseline", key="fwd"))
    rows.append(row(name, "forward pass, plain (NCHW)", n, tp, tf, tp, key="plain"))
    rows.append(row(name, "gradcam: fakescope fast", n, tfs, tf, tp, f"{tlib / tfs:.2f}×",
                    f"target ≤ 1.1× fwd: {'met' if tfs / tf <= 1.1 else 'NOT met'}", key="gradcam/fs"))
    rows.append(row(name, "gradcam: pytorch-grad-cam direct", n, tlib, tf, tp, "1×", key="gradcam/lib"))
    print(f"[{name}] fwd {tf * 1e3:.1f} plain {tp * 1e3:.1f} ms/face, gradcam fs {tfs * 1e3:.1f} "
          f"lib {tlib * 1e3:.1f}", flush=True)

    if "compare" not in args.sections:  # --sections gradcam: steps 1 and 2 only
        return

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

        variants = {"fs": fs(False), "fs_bf16": fs(True), "lib": lib_fn}
        if method in ("lime", "kernelshap"):
            explain(model, xh[:1], method, backend="onnx", n_samples=2)  # export once, outside the timing
            variants["fs_onnx"] = lambda method=method, params=params: explain(
                model, xh, method, backend="onnx", **params)
        t = interleaved(variants, args.heavy_repeats)
        a, b, c = (statistics.median(t[k]) / nh for k in ("fs", "fs_bf16", "lib"))
        r = corr(out[True], out[False])
        if "fs_onnx" in t:
            d = statistics.median(t["fs_onnx"]) / nh
            rows.append(row(name, f"{label}: fakescope fp32, backend=onnx", nh, d, tf, tp, f"{c / d:.2f}×",
                            f"target ≥ 3×: {'met' if c / d >= 3 else 'NOT met'}", key=f"{method}/onnx"))
        rows.append(row(name, f"{label}: fakescope fp32", nh, a, tf, tp, f"{c / a:.2f}×",
                        f"target ≥ 3×: {'met' if c / a >= 3 else 'NOT met'}", key=f"{method}/fs"))
        rows.append(row(name, f"{label}: fakescope bf16", nh, b, tf, tp, f"{c / b:.2f}×",
                        f"r(bf16, fp32 maps) = {r:.3f}", key=f"{method}/bf16"))
        rows.append(row(name, f"{label}: captum direct, defaults", nh, c, tf, tp, "1×", key=f"{method}/lib"))
        print(f"[{name}] {label}: fs {a * 1e3:.0f} bf16 {b * 1e3:.0f} lib {c * 1e3:.0f} ms/face r={r:.3f}",
              flush=True)



def bench_others(name: str, args, rows: list) -> None:
    """Every other registered method: fakescope defaults vs the library called directly (plain copy)."""
    from captum.attr import NoiseTunnel, Occlusion, Saliency
    from pytorch_grad_cam import EigenCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat

    model = fakescope.create_model(name, weights=WEIGHTS[name]).eval()
    plain = copy.deepcopy(model)
    size = model.info.input_size
    heavy = name == "xception"
    x = load_faces(size, args.faces)
    xh = x[: args.heavy_faces]
    layer = get_layer(plain, plain.info.cam_layer)
    fakescope.explainers.to_channels_last(model)

    def f(inp):
        return plain(inp).reshape(len(inp), -1)[:, 0]

    def cam(cls):
        def run(inp):
            with cls(plain, target_layers=[layer]) as c:
                c(inp, targets=[LogitTarget()] * len(inp))
        return run

    def lrp(inp):
        comp = EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])
        with Gradient(model=plain, composite=comp) as attributor:
            attributor(inp.clone(), lambda out: out)

    window = max(1, size // 8)
    blurred_h = make_baseline(xh, "blurred")

    def occlusion(inp):
        for i in range(len(inp)):
            Occlusion(f).attribute(inp[i : i + 1], sliding_window_shapes=(3, window, window),
                                   strides=(3, window // 2, window // 2), baselines=blurred_h[i : i + 1])

    # method: (library call, faces, heavy?, library name)
    lib = {
        "gradcam++": (cam(GradCAMPlusPlus), x, False, "pytorch-grad-cam GradCAMPlusPlus"),
        "hirescam": (cam(HiResCAM), x, False, "pytorch-grad-cam HiResCAM"),
        "layercam": (cam(LayerCAM), x, False, "pytorch-grad-cam LayerCAM"),
        "eigencam": (cam(EigenCAM), x, False, "pytorch-grad-cam EigenCAM"),
        "scorecam": (cam(ScoreCAM), xh, True, "pytorch-grad-cam ScoreCAM"),
        "saliency": (lambda inp: Saliency(f).attribute(inp.clone().requires_grad_(True), abs=True), x, False,
                     "captum Saliency"),
        "smoothgrad": (lambda inp: NoiseTunnel(Saliency(f)).attribute(
            inp, nt_type="smoothgrad", nt_samples=16, stdevs=0.15, abs=True), xh, True, "captum NoiseTunnel(Saliency)"),
        "occlusion": (occlusion, xh, True, f"captum Occlusion, window {window}, stride {window // 2}"),
        "lrp": (lrp, x, False, "zennit EpsilonPlusFlat + SequentialMergeBatchNorm"),
    }

    fwd = forwards(model, plain, x)
    for fn in fwd.values():  # warm-up
        fn()
    t = interleaved(fwd, args.repeats)
    tf, tp = (statistics.median(t[k]) / len(x) for k in ("fwd", "plain"))
    rows.append(row(name, "forward pass, fakescope (channels-last)", len(x), tf, tf, tp, note="baseline"))
    rows.append(row(name, "forward pass, plain (NCHW)", len(x), tp, tf, tp))
    for method in list_explainers():
        if method in COMPARED:
            continue
        if method not in lib:  # deeplift and the attention methods: not applicable to these CNNs
            try:
                t0 = time.perf_counter()
                explain(model, xh, method)
                dt = (time.perf_counter() - t0) / len(xh)
                rows.append(row(name, f"{method}: fakescope defaults", len(xh), dt, tf, tp, note="one run"))
            except UnsupportedModelError as e:
                rows.append(row(name, method, 0, None, note=f"unsupported: {str(e)[:70]}"))
            continue
        lib_fn, inp, slow, lib_name = lib[method]
        if heavy and method == "scorecam":
            rows.append(row(name, method, 0, None,
                            note="skipped: one forward pass per CAM-layer channel (2048) and face"))
            continue
        try:
            explain(model, inp[:1], method)  # warm-up; raises UnsupportedModelError if it cannot run
        except UnsupportedModelError as e:
            rows.append(row(name, method, 0, None, note=f"unsupported: {str(e)[:70]}"))
            continue
        variants = {"fs": lambda method=method, inp=inp: explain(model, inp, method),
                    "lib": lambda lib_fn=lib_fn, inp=inp: lib_fn(inp)}
        try:
            variants["lib"]()
        except Exception as e:  # noqa: BLE001 - the library may not handle this architecture
            t = interleaved({"fs": variants["fs"]}, args.heavy_repeats if slow else args.repeats)
            a = statistics.median(t["fs"]) / len(inp)
            rows.append(row(name, f"{method}: fakescope defaults", len(inp), a, tf, tp,
                            note=f"{lib_name} failed: {type(e).__name__}: {str(e)[:60]}"))
            continue
        t = interleaved(variants, args.heavy_repeats if slow else args.repeats)
        a, c = (statistics.median(t[k]) / len(inp) for k in ("fs", "lib"))
        rows.append(row(name, f"{method}: fakescope defaults", len(inp), a, tf, tp, f"{c / a:.2f}×"))
        rows.append(row(name, f"{method}: {lib_name}", len(inp), c, tf, tp, "1×"))
        print(f"[{name}] {method}: fs {a * 1e3:.1f} lib {c * 1e3:.1f} ms/face", flush=True)


def fmt(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    lines = ["| model | allocator | variant | faces | ms/face | × fwd (fakescope) | × fwd (plain NCHW) | "
             "speed-up vs library | notes |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['allocator']} | {r['variant']} | {r['faces'] or '—'} | "
                     f"{fmt(r['ms'], '.1f')} | {fmt(r['x_fwd'], '.2f')} | {fmt(r['x_plain'], '.2f')} | "
                     f"{r['speedup']} | {r['note']} |")
    return "\n".join(lines) + "\n"


def cross_rows(rows: list[dict]) -> list[dict]:
    """fakescope under tcmalloc (the CLI) vs captum / pytorch-grad-cam under glibc (a plain script)."""
    by = {(r["model"], r["allocator"], r["key"]): r for r in rows if r["key"]}
    out = []
    for (model, alloc, key), r in by.items():
        if alloc != "tcmalloc" or not key.endswith(("/fs", "/bf16", "/onnx")):
            continue
        lib = by.get((model, "system", key.split("/")[0] + "/lib"))
        if lib is None or not r["ms"]:
            continue
        ratio = lib["ms"] / r["ms"]
        out.append({**r, "allocator": "tcmalloc vs lib on system",
                    "variant": f"{r['variant']} vs {lib['variant'].split(': ')[1]} (system malloc)",
                    "speedup": f"{ratio:.2f}×", "note": ("target ≥ 3×: " + ("met" if ratio >= 3 else "NOT met"))
                    if "gradcam" not in key else ""})
    return out


def write_section(results_md: Path, text: str) -> None:
    """Replace (or append) the section titled by ``text``'s first line, leaving other sections alone."""
    title = text.splitlines()[0]
    old = results_md.read_text() if results_md.is_file() else "# Benchmark results\n"
    start = old.find(title + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(title))
        new = old[:start] + text + ("\n" + old[nxt + 1 :] if nxt >= 0 else "")
    results_md.write_text(new)


def child_argv(args, allocator: str, out: str) -> tuple[list[str], dict]:
    argv = [sys.executable, __file__, "--child", out, "--faces", str(args.faces), "--models", *args.models,
            "--repeats", str(args.repeats), "--heavy-repeats", str(args.heavy_repeats),
            "--heavy-faces", str(args.heavy_faces), "--perturb-samples", str(args.perturb_samples),
            "--threads", str(args.threads), "--sections", args.sections]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if allocator == "tcmalloc":
        lib = find_tcmalloc()
        if lib is None:
            raise SystemExit("tcmalloc not installed (apt-get install libtcmalloc-minimal4)")
        env["LD_PRELOAD"] = lib
    return argv, env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["mesoinception4", "xception"])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats for forward / Grad-CAM")
    ap.add_argument("--heavy-repeats", type=int, default=1, help="interleaved repeats for IG/SHAP/LIME")
    ap.add_argument("--heavy-faces", type=int, default=1, help="faces for IG/SHAP/LIME (library runs are slow)")
    ap.add_argument("--perturb-samples", type=int, default=50, help="LIME/KernelSHAP samples (both sides)")
    ap.add_argument("--allocators", default="system,tcmalloc", help="comma list of system, tcmalloc")
    ap.add_argument("--sections", default="compare,others",
                    help="compare: Grad-CAM + IG/GradientSHAP/LIME/KernelSHAP; gradcam: Grad-CAM only; "
                    "others: every other method")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-results", action="store_true")
    ap.add_argument("--extra", default="", help="free text appended to the RESULTS.md section")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # one allocator, in this process
        torch.set_num_threads(args.threads)
        rows: list[dict] = []
        for name in args.models:
            if "compare" in args.sections or "gradcam" in args.sections:
                part = []
                bench_model(name, args, part)
                tag = "compare" if "compare" in args.sections else "gradcam"
                rows += [{**r, "section": tag} for r in part]
            if "others" in args.sections:
                part: list[dict] = []
                bench_others(name, args, part)
                rows += [{**r, "section": "others"} for r in part]
        alloc = active_allocator()
        Path(args.child).write_text(json.dumps([{**r, "allocator": alloc} for r in rows]))
        return
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for allocator in args.allocators.split(","):
            out = str(Path(tmp) / f"{allocator}.json")
            argv, env = child_argv(args, allocator, out)
            print(f"== allocator: {allocator}", flush=True)
            subprocess.run(argv, env=env, check=True)
            rows += json.loads(Path(out).read_text())
    load1 = os.getloadavg()
    cmd = " ".join(["`.venv/bin/python bench/explainers.py"] + sys.argv[1:]) + "`"
    common = (
        f"{cmd} — {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({args.threads} threads), Python {platform.python_version()}; load average (1 min) "
        f"{load0[0]:.1f} at start, {load1[0]:.1f} at end. One child process per allocator (system = glibc "
        "malloc; tcmalloc = LD_PRELOAD, as the `fakescope` command runs itself); within a child, compared "
        "variants ran interleaved, median reported. Library calls run on a separate contiguous (NCHW) copy "
        "of the model. Xception is randomly initialised (no trained weights offline): its rows measure "
        "cost only.\n\n"
    )
    order = {m: i for i, m in enumerate(args.models)}
    for section, keep in ((SECTION, "compare"), (SECTION_GRADCAM, "gradcam"), (SECTION_OTHERS, "others")):
        part = [r for r in rows if r.get("section", "compare") == keep]
        if not part:
            continue
        if keep == "compare":
            part += cross_rows(part)
        part.sort(key=lambda r: (order[r["model"]], r["allocator"] == "tcmalloc vs lib on system"))
        tab = table(part)
        print(tab)
        text = f"{section}\n\n" + common + tab
        if args.extra and keep == "compare":
            text += "\n" + args.extra.strip() + "\n"
        if args.write_results:
            write_section(ROOT / "bench" / "RESULTS.md", text)


if __name__ == "__main__":
    main()
