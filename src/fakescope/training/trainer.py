"""The training loop: any registered model, AdamW + warm-up/cosine schedule, early stopping on
validation AUC, exact resume.

Outputs in ``cfg.out``: ``config.yaml`` (the resolved configuration), ``splits.json`` (unless another
split file is named), ``metrics.csv`` (one row per epoch; also TensorBoard events in ``tb/`` when the
``tensorboard`` package is installed), ``last/`` (weights, metadata and the full training state, written
each epoch and every ``checkpoint_every`` steps), ``best/`` (the weights with the best validation AUC)
and ``test/`` (the evaluation report of ``best/`` on the test split).

Resuming (``resume: true``, the default) continues from ``last/`` exactly: the model, optimiser,
scheduler and RNG states are restored, the epoch's batches are a pure function of (seed, epoch), and
the randomness of each sample of (seed, epoch, index) — so an interrupted run ends with the same weights
as an uninterrupted one.
"""

from __future__ import annotations

import csv
import logging
import math
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import LABEL_CONVENTION, get_rng_state, load_train_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .data import FaceDataset, collate_pairs, epoch_batches, sample_seed
from .records import FAKE, REAL, FaceRecord

__all__ = ["TrainResult", "head_parameters", "train"]

log = logging.getLogger(__name__)

StepCallback = Callable[[int], bool]  # (global step) -> True to stop (a checkpoint is written first)


@dataclass
class TrainResult:
    out: Path
    status: str  # "finished", "early-stopped", "interrupted", "time-limit"
    epochs_done: int
    global_step: int
    best_epoch: int | None
    best_val_auc: float | None
    test: dict | None
    seconds: float


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of the classifier head: ``get_classifier()`` (timm) or the last ``nn.Linear``."""
    inner = getattr(model, "model", model)
    backbone = getattr(inner, "backbone", None)
    if backbone is not None and hasattr(backbone, "get_classifier"):
        head = backbone.get_classifier()
        if isinstance(head, nn.Module) and list(head.parameters()):
            return list(head.parameters())
    linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(inner).__name__}: no nn.Linear head found for freeze_epochs")
    return list(linears[-1].parameters())


def _set_frozen(model: nn.Module, head: set[int], frozen: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(not frozen or id(p) in head)


def _train_mode(model: nn.Module, head: set[int], frozen: bool) -> None:
    """``model.train()``; with a frozen backbone its BatchNorm layers stay in eval mode."""
    model.train()
    if frozen:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(id(p) in head for p in m.parameters()):
                m.eval()


def _data_summary(splits: dict[str, list[FaceRecord]], cfg: TrainConfig, split_file: str) -> dict:
    out = {"data": cfg.data, "dataset": cfg.dataset, "splits_file": split_file, "sbi": cfg.sbi}
    for name, recs in splits.items():
        out[name] = {
            "faces": len(recs),
            "real": sum(r.label == REAL for r in recs),
            "fake": sum(r.label == FAKE for r in recs),
            "clips": len({r.video for r in recs}),
            "identities": len({r.identity for r in recs}),
            "manipulations": dict(Counter(r.manipulation for r in recs)),
            "datasets": sorted({r.dataset for r in recs}),
        }
    return out


def _load_records(cfg: TrainConfig) -> tuple[list[FaceRecord], dict | None]:
    from .datasets import read_dataset
    from .extract import load_extract_info

    records = read_dataset(cfg.dataset, cfg.data, **cfg.dataset_options)
    info = load_extract_info(cfg.data)
    if info is None:
        log.warning("%s is not an extract-faces output: images are used as face crops as they are "
                    "(run `fakescope extract-faces` to crop them exactly as `analyze` does)", cfg.data)  # fmt: skip
    return records, info


def train(cfg: TrainConfig, on_step: StepCallback | None = None) -> TrainResult:
    """Train (or resume training) as ``cfg`` says; see the module docstring for the outputs."""
    from ..models import create_model
    from .augment import AugmentConfig, Augmenter, ClaheInput
    from .evaluate import EVAL_EPOCH, evaluate_records, predict
    from .metrics import binary_metrics
    from .splits import assign_splits

    t_start = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)

    records, extract_info = _load_records(cfg)
    split_file = cfg.splits or str(out / "splits.json")
    parts, _ = assign_splits(
        records, split_file, ratios=cfg.split_ratios, seed=cfg.seed, group_by=cfg.split_group,
        use_official=cfg.official_split,
    )  # fmt: skip
    train_recs, val_recs, test_recs = parts["train"], parts["val"], parts["test"]
    if cfg.max_eval_faces:
        val_recs, test_recs = (_subsample(r, cfg.max_eval_faces, cfg.seed) for r in (val_recs, test_recs))
    if cfg.sbi:
        train_recs = [r for r in train_recs if r.label == REAL]
    if not train_recs:
        raise ValueError("the training split is empty")
    if not cfg.sbi and len({r.label for r in train_recs}) < 2:
        raise ValueError("the training split has only one class (use sbi: true to train from real faces only)")

    # ----------------------------------------------------------------------------------- model
    model = create_model(cfg.model, weights=cfg.weights, **cfg.model_kwargs)
    info = model.info
    margin = (extract_info or {}).get("margin", 0.3)
    if cfg.clahe:
        model = ClaheInput(model, cfg.clahe_clip, cfg.clahe_tile)
        model.info = info
    head = {id(p) for p in head_parameters(model)}
    head_params = [p for p in model.parameters() if id(p) in head]
    body_params = [p for p in model.parameters() if id(p) not in head]
    groups = [{"params": head_params, "lr": cfg.lr}]
    if body_params:
        groups.append({"params": body_params, "lr": cfg.backbone_lr if cfg.backbone_lr is not None else cfg.lr})
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    augment = None
    if cfg.augment:
        augment = Augmenter(AugmentConfig.from_dict(cfg.augment if isinstance(cfg.augment, dict) else None))
    train_ds = FaceDataset(train_recs, info.input_size, augment=augment, sbi=cfg.sbi, seed=cfg.seed, margin=margin)
    val_ds = FaceDataset(val_recs, info.input_size, sbi=cfg.sbi and cfg.sbi_eval, seed=cfg.seed + 1, margin=margin)
    val_ds.epoch = EVAL_EPOCH

    labels_out = train_ds.labels()
    rec_labels = np.array([r.label for r in train_recs])
    weights = None
    pos_weight = None
    n_real, n_fake = int((labels_out == REAL).sum()), int((labels_out == FAKE).sum())
    if cfg.balance == "sampler" and not cfg.sbi:
        freq = Counter(rec_labels.tolist())
        weights = np.array([1.0 / freq[lab] for lab in rec_labels])
    elif cfg.balance == "loss" and n_fake > 0:
        pos_weight = torch.tensor(n_real / n_fake, dtype=torch.float32)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    steps_per_epoch = len(epoch_batches(len(train_ds), cfg.batch_size, cfg.seed, 0, weights, cfg.max_steps_per_epoch))
    total_steps = max(1, steps_per_epoch * cfg.epochs)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))

    def lr_factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    # --------------------------------------------------------------------------------- resume
    progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_auc": None, "best_epoch": None,
                "best_loss": None, "bad_epochs": 0, "elapsed": 0.0}  # fmt: skip
    last = out / "last"
    resumed = False
    if cfg.resume and (last / "state.pt").is_file():
        from safetensors.torch import load_file

        state = load_train_state(last)
        inner = model.model if isinstance(model, ClaheInput) else model
        inner.load_state_dict(load_file(str(last / "model.safetensors")), strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        progress.update(state["progress"])
        resumed = True
        log.info("resumed from %s at epoch %d step %d", last, progress["epoch"], progress["step_in_epoch"])

    preprocessing = {
        "crop": "fakescope.faces.crop.crop_face (square of side (1 + margin) × the box's longer side, "
                "black outside the frame, area/bilinear resize)",
        "margin": margin,
        "detector": (extract_info or {}).get("detector"),
        "detector_settings": {
            k: (extract_info or {}).get(k) for k in ("det_threshold", "detect_max_side", "min_face_size")
        },
        "input_size": info.input_size,
        "value_range": [0.0, 1.0],
        "normalisation": {"mean": list(info.mean), "std": list(info.std), "where": "inside the model"},
        "clahe": {"clip_limit": cfg.clahe_clip, "tile": cfg.clahe_tile} if cfg.clahe else None,
        "extracted_with": extract_info,
    }  # fmt: skip
    meta_base = {
        "architecture": cfg.model,
        "model_kwargs": cfg.model_kwargs,
        "init_weights": cfg.weights,
        "input_size": info.input_size,
        "preprocessing": preprocessing,
        "label_convention": LABEL_CONVENTION,
        "training_data": _data_summary({"train": train_recs, "val": val_recs, "test": test_recs}, cfg, split_file),
        "config": cfg.to_dict(),
    }

    writer = None
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except Exception:  # tensorboard not installed
            writer = None

    metrics_path = out / "metrics.csv"
    fields = ["epoch", "global_step", "lr", "train_loss", "val_loss", "val_auc", "val_accuracy", "val_eer", "seconds"]
    if not resumed or not metrics_path.is_file():
        with open(metrics_path, "w", newline="") as f:
            csv.writer(f).writerow(fields)

    stop_reason: list[str] = []

    def _on_signal(signum, frame):  # noqa: ARG001
        stop_reason.append("interrupted")

    old_handler = signal.signal(signal.SIGTERM, _on_signal) if _main_thread() else None

    def checkpoint(epoch: int, step_in_epoch: int, metrics: dict | None = None) -> None:
        progress.update(epoch=epoch, step_in_epoch=step_in_epoch,
                        elapsed=progress["elapsed"] + (time.perf_counter() - t_mark[0]))  # fmt: skip
        t_mark[0] = time.perf_counter()
        state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": get_rng_state(),
                 "progress": dict(progress)}  # fmt: skip
        save_checkpoint(last, model, {**meta_base, "epoch": epoch, "step_in_epoch": step_in_epoch,
                                      "global_step": progress["global_step"], "metrics": metrics}, state)  # fmt: skip

    t_mark = [time.perf_counter()]
    time_limit = cfg.max_minutes * 60 if cfg.max_minutes else None
    status = "finished"
    epoch = progress["epoch"]
    try:
        while epoch < cfg.epochs:
            frozen = epoch < cfg.freeze_epochs
            _set_frozen(model, head, frozen)
            _train_mode(model, head, frozen)
            train_ds.epoch = epoch
            batches = epoch_batches(len(train_ds), cfg.batch_size, cfg.seed, epoch, weights, cfg.max_steps_per_epoch)
            start = progress["step_in_epoch"] if epoch == progress["epoch"] else 0
            if start == 0:
                torch.manual_seed(sample_seed(cfg.seed, epoch, 0xD809))  # dropout etc. of this epoch
            # its own generator: creating a DataLoader iterator must not draw from the global torch RNG
            loader = torch.utils.data.DataLoader(
                train_ds, batch_sampler=batches[start:], collate_fn=collate_pairs, num_workers=cfg.num_workers,
                generator=torch.Generator().manual_seed(sample_seed(cfg.seed, epoch, 0x10AD)),
            )  # fmt: skip
            losses = []
            step = start
            for x, y in loader:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                    logits = model(x)
                loss = loss_fn(logits.float().reshape(-1), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                step += 1
                progress["global_step"] += 1
                if writer:
                    writer.add_scalar("train/loss", float(loss), progress["global_step"])
                want_stop = bool(on_step and on_step(progress["global_step"]))
                if time_limit and progress["elapsed"] + time.perf_counter() - t_mark[0] > time_limit:
                    stop_reason.append("time-limit")
                if want_stop:
                    stop_reason.append("interrupted")
                periodic = cfg.checkpoint_every and progress["global_step"] % cfg.checkpoint_every == 0
                if step < len(batches) and (stop_reason or periodic):
                    checkpoint(epoch, step)
                if stop_reason:
                    break
            if stop_reason and step < len(batches):
                status = stop_reason[0]
                break

            # ------------------------------------------------------------------ validation
            vm: dict = {}
            val_loss = None
            if len(val_ds):
                yv, pv, _ = predict(model, val_ds, cfg.eval_batch_size, cfg.bf16)
                vm = binary_metrics(yv, pv)
                pc = np.clip(pv, 1e-7, 1 - 1e-7)
                val_loss = float(-np.mean(yv * np.log(pc) + (1 - yv) * np.log(1 - pc)))
            auc = vm.get("roc_auc")
            train_loss = float(np.mean(losses)) if losses else None
            row = [epoch + 1, progress["global_step"], scheduler.get_last_lr()[0], train_loss, val_loss, auc,
                   vm.get("accuracy"), vm.get("eer"), round(time.perf_counter() - t_start, 1)]  # fmt: skip
            with open(metrics_path, "a", newline="") as f:
                csv.writer(f).writerow(row)
            if writer:
                for k, v in zip(fields[3:8], row[3:8], strict=True):
                    if v is not None:
                        writer.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
            log.info("epoch %d: train loss %.4f, val AUC %s", epoch + 1, row[3] or float("nan"), auc)
            # best = highest validation AUC; equal AUCs (e.g. a saturated 1.0) are ranked by validation loss
            score = auc if auc is not None else (-val_loss if val_loss is not None else -(row[3] or 0.0))
            tie_loss = val_loss if val_loss is not None else row[3]
            best, best_loss = progress["best_auc"], progress.get("best_loss")
            improved = best is None or score > best + cfg.min_delta or (
                abs(score - best) <= cfg.min_delta and tie_loss is not None and best_loss is not None
                and tie_loss < best_loss
            )  # fmt: skip
            if improved:
                progress.update(best_auc=score, best_loss=tie_loss, best_epoch=epoch + 1, bad_epochs=0)
                save_checkpoint(out / "best", model, {**meta_base, "epoch": epoch + 1, "metrics": {"val": vm}})
            else:
                progress["bad_epochs"] += 1
            epoch += 1
            checkpoint(epoch, 0, {"val": vm})
            if cfg.early_stopping and progress["bad_epochs"] >= cfg.early_stopping and epoch < cfg.epochs:
                status = "early-stopped"
                break
            if stop_reason:
                status = stop_reason[0]
                break
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        if writer:
            writer.close()

    test_report = None
    if status in ("finished", "early-stopped") and test_recs and (out / "best" / "model.safetensors").is_file():
        from .checkpoint import load_trained_model

        best = load_trained_model(out / "best")
        test_report = evaluate_records(best, test_recs, out / "test", sbi=cfg.sbi and cfg.sbi_eval,
                                       seed=cfg.seed + 2, batch_size=cfg.eval_batch_size, bf16=cfg.bf16,
                                       title=f"{cfg.model} on the test split", margin=margin)  # fmt: skip
    return TrainResult(out, status, epoch, progress["global_step"], progress["best_epoch"],
                       progress["best_auc"], test_report, time.perf_counter() - t_start)  # fmt: skip


def _subsample(records: list[FaceRecord], n: int, seed: int) -> list[FaceRecord]:
    """A seeded subsample of ``n`` records (in their original order), or all of them."""
    if len(records) <= n:
        return records
    keep = np.sort(np.random.default_rng(sample_seed(seed, 0x5AB)).choice(len(records), size=n, replace=False))
    return [records[i] for i in keep]


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
