"""clip_probe inference paths on this CPU (issue 20): ms per face and agreement with the float32 model.

Paths, all on the same faces, side by side in one process:

* ``fp32``            — the shipped module (timm ViT-B/16 blocks 1..k, PyTorch eager), batch 1 and 16;
* ``bf16``            — the same under ``torch.autocast("cpu", torch.bfloat16)``;
* ``int8-dynamic``    — ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` (int8 weights,
  activations quantised per batch);
* ``onnx-fp32``       — the module exported with ``torch.onnx.export``, run by onnxruntime;
* ``onnx-int8``       — that export quantised with ``onnxruntime.quantization.quantize_dynamic``.

Agreement: Pearson correlation and max |Δ| of the fake-logit against fp32, and the share of faces whose
side of 0 (raw p_fake 0.5) changes — a path that moves logits is not a drop-in replacement for a head
fitted on float32 features.

    python bench/clip_probe_speed.py [--faces DIR_OR_MANIFEST] [--n 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def faces(src: Path | None, n: int) -> torch.Tensor:
    from PIL import Image

    paths: list[Path] = []
    if src is not None and src.suffix == ".csv":
        import csv

        with open(src, newline="") as f:
            paths = [src.parent / r["path"] for r in csv.DictReader(f)][: n * 5 : 5]
    elif src is not None:
        paths = sorted(src.rglob("*.png"))[:n]
    if not paths:
        paths = sorted((ROOT / "tests" / "data" / "mesonet" / "test_images").rglob("*.jpg"))
    imgs = [np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in paths]
    while len(imgs) < n:
        imgs += imgs
    return torch.from_numpy(np.stack(imgs[:n])).permute(0, 3, 1, 2).float() / 255


def timed(fn, x: torch.Tensor, batch: int, reps: int = 2) -> tuple[float, np.ndarray]:
    outs = []
    fn(x[:batch])  # warm-up
    t = time.perf_counter()
    for _ in range(reps):
        outs = [np.asarray(fn(x[i : i + batch])).reshape(-1) for i in range(0, len(x), batch)]
    ms = (time.perf_counter() - t) / reps / len(x) * 1e3
    return ms, np.concatenate(outs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=None)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from fakescope.models import create_model

    model = create_model("clip_probe").eval()
    x = faces(args.faces, args.n)
    rows = []

    def fp32(b):
        with torch.inference_mode():
            return model(b).numpy()

    def bf16(b):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(b).float().numpy()

    qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    def int8(b):
        with torch.inference_mode():
            return qmodel(b).numpy()

    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = Path(tempfile.mkdtemp())
    onnx_path = tmp / "clip_probe.onnx"
    torch.onnx.export(model, (x[:1],), str(onnx_path), input_names=["x"], output_names=["logit"],
                      dynamic_axes={"x": {0: "n"}, "logit": {0: "n"}}, opset_version=17, dynamo=False)  # fmt: skip
    q_path = tmp / "clip_probe.int8.onnx"
    quantize_dynamic(str(onnx_path), str(q_path), weight_type=QuantType.QInt8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = {k: ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
            for k, p in (("onnx-fp32", onnx_path), ("onnx-int8", q_path))}  # fmt: skip

    def ort_fn(k):
        return lambda b: sess[k].run(None, {"x": b.numpy()})[0]

    paths = [("fp32", fp32), ("bf16", bf16), ("int8-dynamic", int8), ("onnx-fp32", ort_fn("onnx-fp32")),
             ("onnx-int8", ort_fn("onnx-int8"))]  # fmt: skip
    ref = None
    for name, fn in paths:
        for batch in (1, 16):
            ms, z = timed(fn, x, batch, reps=1 if batch == 1 else 2)
            if ref is None:
                ref = z
            r = float(np.corrcoef(ref, z)[0, 1]) if z.std() > 0 else float("nan")
            rows.append({"path": name, "batch": batch, "ms_per_face": round(ms, 1), "corr_vs_fp32": round(r, 4),
                         "max_abs_diff": round(float(np.abs(z - ref).max()), 4),
                         "sign_flips": int(((z > 0) != (ref > 0)).sum())})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{len(x)} faces, {args.threads} threads, blocks used: {model.layers}\n")
    print("| path | batch | ms / face | corr. with fp32 logit | max abs Δ logit | side of 0 changed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['path']} | {r['batch']} | {r['ms_per_face']} | {r['corr_vs_fp32']} | {r['max_abs_diff']} | "
              f"{r['sign_flips']}/{len(x)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
