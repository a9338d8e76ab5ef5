"""Benchmark: CPU inference paths per model (issue 4).

For each model: eager float32 (NCHW), float32 channels-last, bfloat16 autocast + channels-last
(``fakescope.models.export.autocast_bf16``) and onnxruntime float32 (``export_onnx`` +
``OnnxModel``), at batch 1 and 16: images/s and % of the matmul ceiling (model FLOPs counted with
``torch.utils.flop_counter.FlopCounterMode``, 1 multiply-add = 2 FLOPs; the ceiling is a large
float32 resp. bfloat16 matmul measured in the same process). Score agreement: max |p_fp32 − p| for
the bf16 and ONNX paths on random inputs and on the four MesoNet test face crops.

    .venv/bin/python bench/models.py                       # all models, 1 thread, ~8 min
    .venv/bin/python bench/models.py --models xception --batches 16 --threads 2
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 .venv/bin/python bench/models.py ...

Models are randomly initialised except where the registry has weights (MesoInception-4: "df");
random networks get BatchNorm statistics from real inputs and standardised logits before the
agreement check (see ``recalibrate_batchnorm``), so it measures numerics, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fakescope.models import create_model, get_model_info  # noqa: E402
from fakescope.models.export import OnnxModel, autocast_bf16, cpu_has_bf16, export_onnx  # noqa: E402

MODELS = ["xception", "efficientnet_b0", "efficientnet_b4", "efficientvit", "mesoinception4", "densenet121"]
PATHS = ["fp32", "fp32_cl", "bf16_cl", "onnx"]
FACES = ROOT / "tests" / "data" / "mesonet" / "test_images"
SECTION = "## Models: CPU inference paths (issue 4)"


def matmul_ceiling(dtype: torch.dtype, n: int = 2048, seconds: float = 2.0) -> float:
    """GFLOP per CPU-second of an n×n×n matmul in ``dtype`` (best of repeated runs)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        c = time.process_time()
        a @ b
        best = max(best, 2 * n**3 / max(time.process_time() - c, 1e-9) / 1e9)
    return best


def count_flops(model: torch.nn.Module, size: int) -> float:
    """FLOPs of one image (batch 1 forward)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, size, size))
    return float(counter.get_total_flops())


def time_call(fn, x, min_iters: int = 2, seconds: float = 3.0) -> tuple[float, float]:
    """Median wall-clock and CPU seconds per call after one warm-up (at least ``min_iters`` calls).

    CPU time (all threads of this process) is what the cores actually spent; on a shared machine
    it is far less noisy than wall time, which also counts the time other processes ran.
    """
    fn(x)
    walls: list[float] = []
    cpus: list[float] = []
    end = time.perf_counter() + seconds
    while len(walls) < min_iters or time.perf_counter() < end:
        t, c = time.perf_counter(), time.process_time()
        fn(x)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        if len(walls) >= 50:
            break
    return statistics.median(walls), statistics.median(cpus)


def recalibrate_batchnorm(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Set every BatchNorm's running statistics to those of ``x`` (a forward in train mode).

    A randomly initialised network with default statistics (mean 0, var 1) squashes its input: its
    logits hardly depend on the image, so score agreement would be trivially perfect. With
    statistics from real data, activations stay unit-scale through the network, as in a trained one.
    Returns the number of BatchNorm layers.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over this one batch
        bn.train()
    with torch.no_grad():
        model(x)
    model.eval()
    return len(bns)


def face_batch(size: int) -> torch.Tensor | None:
    """The MesoNet authors' test faces (2 fake, 2 real) as N×3×size×size in [0, 1]."""
    from PIL import Image

    files = sorted(FACES.glob("*/*.jpg"))
    if not files:
        return None
    arrays = [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def bench_model(name: str, batches: list[int], ceil32: float, ceil16: float, tmp: Path, seconds: float) -> dict:
    info = get_model_info(name)
    torch.manual_seed(0)
    weights = (
        info.default_weights if info.default_weights and info.weights[info.default_weights].path.is_file() else None
    )
    model = create_model(name, weights=weights)
    size = info.input_size
    faces = face_batch(size)
    if weights is None:  # see recalibrate_batchnorm
        calib = torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(2))
        recalibrate_batchnorm(model, calib if faces is None else torch.cat([calib, faces]))
    flops = count_flops(model, size)

    t = time.perf_counter()
    onnx_path = export_onnx(model, tmp / f"{name}.onnx")
    export_s = time.perf_counter() - t
    ort = OnnxModel(onnx_path, num_threads=torch.get_num_threads())

    fp32 = model
    cl = create_model(name, weights=weights)
    cl.load_state_dict(model.state_dict())
    cl = cl.to(memory_format=torch.channels_last)
    bf16_model = create_model(name, weights=weights)
    bf16_model.load_state_dict(model.state_dict())
    bf16 = autocast_bf16(bf16_model)  # channels-last + bf16 autocast

    def run_cl(x):
        return cl(x.contiguous(memory_format=torch.channels_last))

    fns = {"fp32": fp32, "fp32_cl": run_cl, "bf16_cl": bf16, "onnx": ort}
    rows = []
    for batch in batches:
        x = torch.rand(batch, 3, size, size)
        for path in PATHS:
            with torch.inference_mode():
                wall, cpu = time_call(fns[path], x, seconds=seconds)
            ceiling = ceil16 if path.startswith("bf16") else ceil32
            rows.append({
                "batch": batch, "path": path, "images_per_s": batch / wall,
                "images_per_cpu_s": batch / cpu, "pct_ceiling": 100 * flops * batch / cpu / (ceiling * 1e9),
            })  # fmt: skip

    inputs = {"random": torch.rand(16, 3, size, size, generator=torch.Generator().manual_seed(3))}
    if faces is not None:
        inputs["faces"] = faces
    logits = {}
    with torch.inference_mode():
        for kind, x in inputs.items():
            logits[kind] = (fp32(x), bf16(x), ort(x))
    mu, scale = 0.0, 1.0
    if weights is None:
        # A random head has an arbitrary offset and scale: map all logits through one affine map
        # that gives the fp32 logits of all inputs mean 0 and std 2 (probabilities spread over (0, 1)).
        all32 = torch.cat([v[0] for v in logits.values()])
        mu, scale = all32.mean().item(), 2 / max(all32.std().item(), 1e-12)
    agreement = {}
    for kind, values in logits.items():
        lo32, lo16, lort = ((v - mu) * scale for v in values)
        p32 = torch.sigmoid(lo32)
        agreement[kind] = {
            "n": len(lo32),
            "max_dp_bf16": (torch.sigmoid(lo16) - p32).abs().max().item(),
            "max_dlogit_bf16": (lo16 - lo32).abs().max().item(),
            "max_dp_onnx": (torch.sigmoid(lort) - p32).abs().max().item(),
            "logit_range": [lo32.min().item(), lo32.max().item()],
            "rel_dlogit_bf16": ((lo16 - lo32).abs().max() / lo32.std().clamp_min(1e-12)).item(),
        }
    return {
        "model": name, "input_size": size, "weights": weights or "random", "gflops": flops / 1e9,
        "onnx_export_s": export_s, "rows": rows, "agreement": agreement,
    }  # fmt: skip


IMAGENET_MODELS = ["efficientnet_lite0", "mobilenetv2"]
_IMAGENET_FC = {"efficientnet_lite0": "_fc", "mobilenetv2": "classifier.1"}


def imagenet_agreement(name: str) -> dict:
    """bf16 vs fp32 on a *trained* network: the packaged ImageNet backbone with its original
    1000-class classifier (read from the weight file) on the face crops and random images.

    Random networks exaggerate bf16 error (nothing in them is tuned to be robust); this is the
    closest offline stand-in for a trained detector. Returns max abs(Δp) over classes and inputs,
    top-1 agreement and the relative error of the pooled features.
    """
    from fakescope.models.backbones import _read_state_dict

    info = get_model_info(name)
    wi = info.weights["imagenet"]
    if not wi.path.is_file():
        return {"model": name, "skipped": f"{wi.source} not installed"}
    model = create_model(name, weights="imagenet")
    sd = _read_state_dict(wi.path)
    fc = _IMAGENET_FC[name]
    weight, bias = sd[f"{fc}.weight"], sd[f"{fc}.bias"]
    size = info.input_size
    x = torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(4))
    faces = face_batch(size)
    if faces is not None:
        x = torch.cat([faces, x])
    with torch.inference_mode():
        f32 = model.forward_head(model.forward_features(x), pre_logits=True)
        fast = autocast_bf16(model)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            feats = fast.model.forward_features(x.contiguous(memory_format=torch.channels_last))
        f16 = fast.model.forward_head(feats.float(), pre_logits=True)
        p32 = torch.softmax(f32 @ weight.T + bias, 1)
        p16 = torch.softmax(f16 @ weight.T + bias, 1)
    return {
        "model": name,
        "n": len(x),
        "max_dp": (p16 - p32).abs().max().item(),
        "top1_agree": (p16.argmax(1) == p32.argmax(1)).float().mean().item(),
        "max_top1_p": p32.max().item(),
        "feature_rel_err": ((f16 - f32).norm(dim=1) / f32.norm(dim=1)).max().item(),
    }


def to_markdown(res: dict) -> str:
    env = res["env"]
    lines = [
        SECTION,
        "",
        f"`bench/models.py` on {env['cpu']} ({env['threads']} torch threads, load average at start "
        f"{env['load']}), torch {env['torch']}, onnxruntime {env['onnxruntime']}, "
        f"allocator: {env['allocator']}, native bf16: {env['bf16']}. "
        f"Matmul ceiling (2048³, best seen during the run): fp32 {res['ceil_fp32']:.0f} GFLOP/s, "
        f"bf16 {res['ceil_bf16']:.0f} GFLOP/s. "
        "Throughput is images per CPU-second (median; process CPU time, all threads): on a shared "
        "machine wall-clock time mostly measures the other tenants; the wall-clock speed-ups are "
        "given too. `%ceil` = model FLOPs × images per CPU-s ÷ the matmul ceiling of the path's dtype "
        "(GFLOP per CPU-s). GFLOPs per image, 1 multiply-add = 2 FLOPs. "
        "`fp32_cl` = float32 channels-last; `bf16_cl` = `autocast_bf16(model)` (bf16 autocast + "
        "channels-last); `onnx` = `export_onnx` + `OnnxModel` (onnxruntime CPU, float32). "
        "The machine is shared: absolute numbers are noisy, ratios within one run less so.",
        "",
        "| model | size | GFLOPs | batch | fp32 | fp32_cl | bf16_cl | onnx | best ×fp32 "
        "| wall-clock ×fp32: bf16_cl / onnx | %ceil fp32 / bf16 / onnx |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in res["models"]:
        for batch in sorted({r["batch"] for r in m["rows"]}):
            r = {x["path"]: x["images_per_cpu_s"] for x in m["rows"] if x["batch"] == batch}
            wall = {x["path"]: x["images_per_s"] for x in m["rows"] if x["batch"] == batch}
            base = r["fp32"]
            best = max(PATHS, key=lambda p: r[p])
            # % of the best ceiling seen during the run (the one printed above)
            pct = {p: 100 * m["gflops"] * r[p] / (res["ceil_bf16" if p.startswith("bf16") else "ceil_fp32"]) for p in r}
            lines.append(
                f"| {m['model']} | {m['input_size']} | {m['gflops']:.2f} | {batch} | {base:.1f} | "
                f"{r['fp32_cl']:.1f} | {r['bf16_cl']:.1f} | {r['onnx']:.1f} | {r[best] / base:.2f} ({best}) | "
                f"{wall['bf16_cl'] / wall['fp32']:.2f} / {wall['onnx'] / wall['fp32']:.2f} | "
                f"{pct['fp32']:.0f} / {pct['bf16_cl']:.0f} / {pct['onnx']:.0f} |"
            )
    lines += [
        "",
        "Score agreement with eager fp32 (max over inputs; p = sigmoid(logit)). Random-weight models "
        "have their BatchNorm statistics recalibrated on the inputs and their logits standardised "
        "(one affine map for all paths and inputs: fp32 mean 0, std 2), so that the scores actually "
        "vary with the input — otherwise a random network's near-constant output makes agreement "
        "trivial. `÷ std(logit)` is max abs(Δlogit) over the std of the fp32 logits of that input set.",
        "",
        "| model | weights | inputs | max abs(Δp) bf16 | max abs(Δlogit) bf16 | ÷ std(logit) | max abs(Δp) onnx "
        "| fp32 logit range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in res["models"]:
        for kind, a in m["agreement"].items():
            lines.append(
                f"| {m['model']} | {m['weights']} | {kind} ({a['n']}) | {a['max_dp_bf16']:.2e} | "
                f"{a['max_dlogit_bf16']:.2e} | {a['rel_dlogit_bf16']:.2g} | {a['max_dp_onnx']:.1e} | "
                f"{a['logit_range'][0]:.3g} … {a['logit_range'][1]:.3g} |"
            )
    if res.get("imagenet"):
        lines += [
            "",
            "Trained networks (the packaged ImageNet backbones with their original 1000-class "
            "classifier, `autocast_bf16` vs fp32, on the 4 face crops + 8 random images):",
            "",
            "| model | max abs(Δp) over 1000 classes | top-1 agreement | max feature rel. error |",
            "|---|---|---|---|",
        ]
        for r in res["imagenet"]:
            if "skipped" in r:
                lines.append(f"| {r['model']} | skipped: {r['skipped']} | | |")
            else:
                lines.append(
                    f"| {r['model']} | {r['max_dp']:.1e} | {r['top1_agree']:.0%} | {r['feature_rel_err']:.1e} |"
                )
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
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--seconds", type=float, default=3.0, help="timing budget per path and batch")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and onnxruntime intra-op threads (default 1: on a shared, oversubscribed CPU, "
        "OpenMP thread teams stall and multi-thread timings are meaningless)",
    )
    ap.add_argument("--json", type=Path, help="write raw results here")
    ap.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    ap.add_argument("--extra", default="", help="free text appended to the RESULTS.md section")
    args = ap.parse_args()

    import onnxruntime

    torch.set_num_threads(args.threads)
    env = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "load": " ".join(f"{v:.1f}" for v in os.getloadavg()),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "allocator": "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc",
        "bf16": cpu_has_bf16(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                env["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ceil32 = matmul_ceiling(torch.float32)
    ceil16 = matmul_ceiling(torch.bfloat16)
    print(f"ceiling fp32 {ceil32:.0f} GFLOP/s, bf16 {ceil16:.0f} GFLOP/s; {env}", flush=True)
    res = {"env": env, "ceil_fp32": ceil32, "ceil_bf16": ceil16, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            t = time.perf_counter()
            # The machine is shared: re-measure the ceiling before each model, keep the best seen.
            ceil32 = max(ceil32, matmul_ceiling(torch.float32, seconds=1.0))
            ceil16 = max(ceil16, matmul_ceiling(torch.bfloat16, seconds=1.0))
            m = bench_model(name, args.batches, ceil32, ceil16, Path(tmp), args.seconds)
            res["models"].append(m)
            for r in m["rows"]:
                print(f"{name:16s} b{r['batch']:<3d} {r['path']:8s} {r['images_per_s']:8.2f} img/s "
                      f"{r['images_per_cpu_s']:8.2f} img/cpu-s {r['pct_ceiling']:5.1f}% ceil", flush=True)  # fmt: skip
            print(f"{name:16s} agreement {json.dumps(m['agreement'])} ({time.perf_counter() - t:.0f}s)", flush=True)
    res["ceil_fp32"], res["ceil_bf16"] = ceil32, ceil16
    res["imagenet"] = [imagenet_agreement(n) for n in IMAGENET_MODELS]
    for r in res["imagenet"]:
        print(r, flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    text = to_markdown(res)
    if args.extra:
        text += "\n" + args.extra.strip() + "\n"
    print(text)
    if args.write_results:
        write_section(ROOT / "bench" / "RESULTS.md", text)


if __name__ == "__main__":
    main()
