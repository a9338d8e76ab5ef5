"""Training configuration: a YAML file plus ``key=value`` overrides → a frozen :class:`TrainConfig`.

Overrides use dotted keys for nested tables (``augment.jpeg=0``) and YAML syntax for values
(``epochs=3``, ``weights=null``, ``split_ratios=[0.7,0.15,0.15]``). Unknown keys are refused with a
suggestion. The resolved configuration is written next to the outputs (``config.yaml``).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

__all__ = ["TrainConfig", "load_config", "parse_overrides"]


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (see ``fakescope train --help`` and the README)."""

    # model
    model: str = "mobilenetv2"
    weights: str | None = "imagenet"  # a weight tag of the model, or null for random initialisation
    model_kwargs: dict = field(default_factory=dict)
    # data
    data: str = ""  # extract-faces folder / faces.csv, or any dataset folder of face images
    dataset: str = "auto"
    dataset_options: dict = field(default_factory=dict)
    splits: str | None = None  # split file to reuse/create; default <out>/splits.json
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_group: str = "identity"  # or "video"
    official_split: bool | str = "auto"
    sbi: bool = False  # train on real faces + their self-blended images (fakes of the data unused)
    sbi_eval: bool = True  # with sbi: also add self-blended pseudo-fakes of val/test reals
    clahe: bool = False
    clahe_clip: float = 2.0
    clahe_tile: int = 8
    augment: dict | bool = True  # False, True (defaults) or AugmentConfig fields
    balance: str = "loss"  # "loss" (pos_weight), "sampler" (weighted draw) or "none"
    # optimisation
    out: str = "runs/train"
    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4
    backbone_lr: float | None = None  # default: lr
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.0
    freeze_epochs: int = 0  # train only the head for this many epochs first (pretrained backbones)
    early_stopping: int = 5  # epochs without a better validation AUC before stopping (0: never)
    min_delta: float = 0.0
    bf16: bool = False  # bfloat16 autocast
    max_steps_per_epoch: int | None = None
    max_minutes: float | None = None  # stop (after a checkpoint) when this much time has passed
    checkpoint_every: int = 0  # also checkpoint every N optimiser steps (0: each epoch only)
    resume: bool = True  # continue from <out>/last if it exists
    num_workers: int = 0
    threads: int | None = None  # torch.set_num_threads
    eval_batch_size: int = 64
    max_eval_faces: int | None = None  # validate/test on a seeded subsample of this many faces (large corpora)
    tensorboard: bool = True  # when the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.balance not in ("loss", "sampler", "none"):
            raise ValueError(f"balance must be loss, sampler or none, got {self.balance!r}")
        if self.split_group not in ("identity", "video"):
            raise ValueError(f"split_group must be identity or video, got {self.split_group!r}")
        object.__setattr__(self, "split_ratios", tuple(float(x) for x in self.split_ratios))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["split_ratios"] = list(self.split_ratios)
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _set(d: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {} if nxt in (None, True) else nxt
            if not isinstance(nxt, dict):
                raise ValueError(f"{dotted}: {k} is not a table")
            cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict:
    """``["epochs=3", "augment.jpeg=0"]`` → nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not key=value")
        _set(out, key.strip(), yaml.safe_load(raw) if raw.strip() else None)
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML file (optional) and overrides; unknown keys raise ValueError."""
    d: dict = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
        d = loaded
    if overrides:
        d = _merge(d, overrides if isinstance(overrides, dict) else parse_overrides(overrides))
    known = {f.name for f in fields(TrainConfig)}
    for k in d:
        if k not in known:
            close = difflib.get_close_matches(k, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown training setting {k!r}{hint}")
    if isinstance(d.get("weights"), str) and d["weights"].lower() == "none":
        d["weights"] = None
    return TrainConfig(**d)
