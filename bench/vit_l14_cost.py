"""CLIP ViT-L/14 (GenD / Effort architecture) cost per face on this CPU, and the thorough mode's sampling.

Random weights (the cost does not depend on them): ``clip_vit_large_patch14`` at 224 px, batch ``--batch``,
``--reps`` timed batches after one warm-up batch, per path:

* ``fp32``         — the fakescope model, PyTorch eager;
* ``bf16``         — the same under ``torch.autocast("cpu", torch.bfloat16)``;
* ``int8-dynamic`` — ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` (int8 weights,
  activations quantised per batch), with the fake-logit's max |Δ| against fp32 on the same faces.

* ``onnx-fp32``    — the model exported to ONNX (fakescope.models.export.export_onnx, what ``--backend onnx``
  runs), onnxruntime on ``--threads`` threads;
* ``onnx-int8``    — that file after ``onnxruntime.quantization.quantize_dynamic`` (int8 weights).

Export and quantisation times are reported too (``--no-onnx`` skips both ONNX paths: they need a few GB of
disk under ``--work`` and minutes).

Then the sampling: frames N of a 1-minute clip (one face per frame) such that model load + N × (detect +
score) ≤ ``--budget`` seconds, with a 30 % margin.

    nice -n 19 python bench/vit_l14_cost.py [--threads 2] [--batch 4] [--reps 2] [--budget 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def _time(fn, x: torch.Tensor, reps: int) -> tuple[float, torch.Tensor]:
    with torch.inference_mode():
        out = fn(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(reps):
            out = fn(x)
        return (time.perf_counter() - t0) / (reps * len(x)), out.float()


def _onnx(model, x: torch.Tensor, args) -> tuple[dict, dict, dict]:
    """s/face and logits of the ONNX fp32 export and its dynamic-int8 quantisation (onnxruntime)."""
    import shutil

    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from fakescope.models.export import export_onnx

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    rows, outs, steps = {}, {}, {}
    try:
        t0 = time.perf_counter()
        fp32 = export_onnx(model, work / "vit_l14.onnx", check=False)
        steps["export"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        int8 = work / "vit_l14.int8.onnx"
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        steps["quantize"] = time.perf_counter() - t0
        for name, path in (("onnx-fp32", fp32), ("onnx-int8", int8)):
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
            t0 = time.perf_counter()
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            steps[f"load {name}"] = time.perf_counter() - t0
            feed = {sess.get_inputs()[0].name: x.numpy()}

            def run(_v, sess=sess, feed=feed):
                return torch.from_numpy(np.asarray(sess.run(None, feed)[0]))

            rows[name], outs[name] = _time(run, x, args.reps)
            del sess
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, outs, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds for a 1-minute clip")
    ap.add_argument("--detect-s", type=float, default=0.08, help="decode + detect + crop per sampled frame, s")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "vit_l14_cost.json")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "vit_l14_onnx", help="ONNX files (deleted after)")
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from fakescope.models import create_model

    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = create_model("clip_vit_large_patch14", weights=None).eval()
    build_s = time.perf_counter() - t0
    x = torch.rand(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    rows = {}
    rows["fp32"], ref = _time(model, x, args.reps)

    def bf16(v):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(v)

    rows["bf16"], out_bf16 = _time(bf16, x, args.reps)
    q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    rows["int8-dynamic"], out_q = _time(q, x, args.reps)
    delta = {"bf16": float((out_bf16 - ref).abs().max()), "int8-dynamic": float((out_q - ref).abs().max())}
    del q
    steps = {}
    if not args.no_onnx:
        rows_onnx, delta_onnx, steps = _onnx(model, x, args)
        rows.update(rows_onnx)
        delta.update({k: float((v - ref).abs().max()) for k, v in delta_onnx.items()})
    per_face = rows["fp32"]
    # a 1-minute clip: load once, then per sampled frame detect + score one face
    n_frames = int(0.7 * (args.budget - build_s) / (per_face + args.detect_s))
    report = {
        "threads": args.threads, "batch": args.batch, "reps": args.reps, "faces_timed_per_path": args.batch * args.reps,
        "build_s": round(build_s, 2), "onnx_steps_s": {k: round(v, 1) for k, v in steps.items()},
        "s_per_face": {k: round(v, 3) for k, v in rows.items()},
        "max_abs_logit_delta_vs_fp32": {k: round(v, 4) for k, v in delta.items()},
        "budget_s": args.budget, "detect_s_per_frame": args.detect_s, "frames_for_budget_with_30pct_margin": n_frames,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
