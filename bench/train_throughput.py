"""Training throughput on this CPU (issue 20): images per second of one optimiser step, per setting.

Measured side by side in one process, same batches, for each backbone that exists offline (MobileNet-V2 =
``sbi_mobilenetv2``, EfficientNet-Lite0 = ``efficientnet_lite0`` when registered) at 224 px:

* ``fp32``              — plain float32, NCHW;
* ``bf16``              — ``torch.autocast("cpu", torch.bfloat16)`` around forward and loss;
* ``channels_last``     — float32 with model and input in ``torch.channels_last``;
* ``frozen-early``      — float32 with the first half of the feature blocks frozen (no weight gradients there);
* ``clip-features``     — for the CLIP probe: the frozen encoder's forward only (what its "training" costs:
  the head itself trains in seconds on cached features).

A setting is *correct* when the first forward's logits (same initial weights, same batch) are within 5 %
of fp32's (bf16 and channels_last change the arithmetic, not the model). Prints a markdown table; nothing is written.

    python bench/train_throughput.py [--batch 16] [--steps 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def step_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int,
              bf16: bool = False) -> tuple[float, torch.Tensor]:
    """(images per second over ``steps`` timed optimiser steps, the first forward's logits)."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    first = None
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            z = model(x).float().reshape(-1)
            loss = loss_fn(z, y)
        if first is None:
            first = z.detach().clone()
        loss.backward()
        opt.step()
    return steps * len(x) / (time.perf_counter() - t), first


def freeze_early(model: nn.Module) -> nn.Module:
    """Freeze the first half of the backbone's stages (torchvision ``features`` / timm ``blocks``) and its stem."""
    feats = None
    for m in model.modules():
        for attr in ("features", "blocks"):
            if isinstance(getattr(m, attr, None), nn.Sequential) and len(getattr(m, attr)) >= 4:
                feats = getattr(m, attr)
                break
        if feats is not None:
            break
    if feats is None:
        raise ValueError("no features/blocks stages to freeze")
    for name in ("conv_stem", "bn1"):
        for m in model.modules():
            if hasattr(m, name):
                for p in getattr(m, name).parameters():
                    p.requires_grad_(False)
    for block in list(feats)[: len(feats) // 2]:
        for p in block.parameters():
            p.requires_grad_(False)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from fakescope.models import create_model, list_models

    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 224, 224, generator=g)
    y = (torch.arange(args.batch) % 2).float()
    rows = []
    for name in [n for n in ("sbi_mobilenetv2", "efficientnet_lite0") if n in list_models()]:
        base = {}
        for setting in ("fp32", "bf16", "channels_last", "frozen-early"):
            torch.manual_seed(0)
            model = create_model(name, weights=None)
            xi = x
            if setting == "channels_last":
                model = model.to(memory_format=torch.channels_last)
                xi = x.contiguous(memory_format=torch.channels_last)
            if setting == "frozen-early":
                model = freeze_early(model)
            rate, z0 = step_rate(model, xi, y, args.steps, bf16=setting == "bf16")
            base.setdefault("z0", z0)
            # same initial weights and batch: the first forward's logits must agree with fp32's
            dev = float((z0 - base["z0"]).abs().max() / (base["z0"].abs().max() + 1e-6))
            rows.append((name, setting, rate, dev, dev <= 0.05))
            print(rows[-1], flush=True)
    from fakescope.models.clip_probe import ClipProbe, encoder_state_dict

    clip = ClipProbe(layers=(9,))
    clip.load_encoder(encoder_state_dict())
    clip.eval()
    with torch.inference_mode():
        clip.features(x[:2])
        t = time.perf_counter()
        clip.features(x)
        rate = len(x) / (time.perf_counter() - t)
    rows.append(("clip_probe (frozen encoder, 9 blocks)", "clip-features fp32", rate, 0.0, True))
    print(f"\nbatch {args.batch}, {args.steps} timed steps, {args.threads} threads\n")
    print("| model | setting | images / s | first logits vs fp32 (max rel. Δ) | correct (≤ 5 %) |")
    print("|---|---|---|---|---|")
    for name, setting, rate, loss, ok in rows:
        print(f"| {name} | {setting} | {rate:.1f} | {loss:.4f} | {'yes' if ok else 'no'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
