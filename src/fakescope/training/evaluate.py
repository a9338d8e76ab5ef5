"""Evaluation of a detector on labelled face crops: frame level, video level, per manipulation.

* **Frame level**: every face crop is one sample; score = ``p_fake = sigmoid(logit)``.
* **Video level**: the crops of one clip are combined with a verdict rule of :mod:`fakescope.rules`
  (``share`` by default, as ``analyze``); the video's score is the rule's aggregate score and its
  decision threshold the rule's own (``share``: the share parameter, 0.5; ``mean``/``confident``:
  ``threshold``). Clips the rule leaves inconclusive (fewer than ``min_faces`` crops) are counted and
  left out.
* **Per manipulation**: for each manipulation method, its fakes against all real samples.

Outputs in ``out``: ``metrics.json``, ``metrics.md`` (markdown tables), ``predictions.csv`` and, per
level, ``roc_<level>.png``, ``pr_<level>.png``, ``confusion_<level>.png`` (matplotlib, Agg backend).
With ``sbi=True`` every real crop also yields a self-blended pseudo-fake (manipulation ``SBI``, clip
``<clip>#sbi``), generated with a fixed seed so repeated evaluations see the same fakes.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .metrics import binary_metrics
from .records import FAKE, REAL, FaceRecord

__all__ = ["evaluate_records", "predict", "write_report"]

EVAL_EPOCH = 10**6  # the "epoch" that seeds evaluation pseudo-fakes (never a training epoch)


@torch.inference_mode()
def predict(
    model: nn.Module, dataset, batch_size: int = 64, bf16: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``model`` over a :class:`~fakescope.training.data.FaceDataset` in order.

    Returns ``(labels, p_fake, record_index)`` per output sample (SBI pairs give two per record).
    """
    model.eval()
    xs, ys, idx, scores = [], [], [], []

    def flush() -> None:
        if not xs:
            return
        x = torch.cat(xs)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        scores.append(torch.sigmoid(logits.float().reshape(-1)).numpy())
        xs.clear()

    n_pending = 0
    for i in range(len(dataset)):
        x, y = dataset[i]
        xs.append(x)
        ys.append(y.numpy())
        idx.append(np.full(len(y), i))
        n_pending += len(y)
        if n_pending >= batch_size:
            flush()
            n_pending = 0
    flush()
    if not ys:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(ys).astype(np.int64), np.concatenate(scores).astype(np.float64), np.concatenate(idx)


def _video_level(
    rows: list[dict], rule: str, threshold: float, min_faces: int, rule_params: dict
) -> tuple[list[dict], int]:
    from ..rules import judge_track

    by_clip: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_clip[r["video"]].append(r)
    out, inconclusive = [], 0
    for clip, items in sorted(by_clip.items()):
        labels = {it["label"] for it in items}
        label = max(labels)  # a clip with any fake crop is a fake clip
        o = judge_track([it["p_fake"] for it in items], rule, threshold, min_faces=min_faces, **rule_params)
        if o.label == "inconclusive" or o.too_few:  # too few faces for a verdict: left out and counted
            inconclusive += 1
            continue
        out.append({"video": clip, "label": label, "score": float(o.score), "verdict": o.label,
                    "manipulation": items[0]["manipulation"], "faces": len(items)})  # fmt: skip
    return out, inconclusive


def evaluate_records(
    model: nn.Module,
    records: list[FaceRecord],
    out: str | Path | None = None,
    *,
    threshold: float = 0.5,
    rule: str = "share",
    rule_params: dict | None = None,
    min_faces: int = 1,
    sbi: bool = False,
    seed: int = 0,
    batch_size: int = 64,
    bf16: bool = False,
    title: str = "evaluation",
    margin: float | None = None,
) -> dict:
    """Evaluate ``model`` on face-crop ``records``; returns the report dict (and writes it to ``out``)."""
    from ..faces.crop import DEFAULT_MARGIN
    from .data import FaceDataset

    if not records:
        raise ValueError("no records to evaluate")
    rule_params = dict(rule_params or {})
    ds = FaceDataset(records, model.info.input_size, augment=None, sbi=sbi, seed=seed,
                     margin=DEFAULT_MARGIN if margin is None else margin)  # fmt: skip
    ds.epoch = EVAL_EPOCH
    y, p, idx = predict(model, ds, batch_size=batch_size, bf16=bf16)
    rows = []
    seen: dict[int, int] = defaultdict(int)
    for yi, pi, ii in zip(y.tolist(), p.tolist(), idx.tolist(), strict=True):
        r = records[ii]
        pseudo = sbi and r.label == REAL and seen[ii] == 1
        seen[ii] += 1
        rows.append({
            "path": r.path, "label": int(yi), "p_fake": float(pi),
            "video": f"{r.video}#sbi" if pseudo else r.video,
            "manipulation": "SBI" if pseudo else r.manipulation,
            "identity": r.identity, "frame": r.frame, "face": r.face,
        })  # fmt: skip
    report: dict = {"title": title, "threshold": threshold, "rule": rule, "rule_params": rule_params,
                    "min_faces": min_faces, "sbi_pseudo_fakes": sbi}  # fmt: skip
    report["frame"] = binary_metrics([r["label"] for r in rows], [r["p_fake"] for r in rows], threshold)
    vids, n_inc = _video_level(rows, rule, threshold, min_faces, rule_params)
    decision = rule_params.get("share", 0.5) if rule == "share" else threshold
    report["video"] = binary_metrics([v["label"] for v in vids], [v["score"] for v in vids], decision) if vids else None
    if report["video"] is not None:
        report["video"]["inconclusive"] = n_inc
        report["video"]["decision_threshold"] = decision
    per = {}
    methods = sorted({r["manipulation"] for r in rows if r["label"] == FAKE})
    reals = [r for r in rows if r["label"] == REAL]
    if len(methods) > 1 or (methods and reals):
        for m in methods:
            sub = reals + [r for r in rows if r["label"] == FAKE and r["manipulation"] == m]
            per[m] = {"frame": binary_metrics([r["label"] for r in sub], [r["p_fake"] for r in sub], threshold)}
            vsub = [v for v in vids if v["label"] == REAL or v["manipulation"] == m]
            if vsub:
                per[m]["video"] = binary_metrics([v["label"] for v in vsub], [v["score"] for v in vsub], decision)
    report["per_manipulation"] = per
    _add_intervals(report, rows, vids, threshold, decision)
    if out is not None:
        write_report(report, rows, vids, out)
    return report


def _add_intervals(report: dict, rows: list[dict], vids: list[dict], threshold: float, decision: float) -> None:
    """A bootstrap 95 % interval on every metric (``ci95``) and warnings for small classes."""
    from .compare import bootstrap_ci, small_sample_warning

    report["warnings"] = []
    for level, items, key, thr in (("frame", rows, "p_fake", threshold), ("video", vids, "score", decision)):
        m = report.get(level)
        if not m:
            continue
        m["ci95"] = bootstrap_ci([r["label"] for r in items], [r[key] for r in items], thr)
        w = small_sample_warning(m, level)
        if w:
            report["warnings"].append(w)


# --------------------------------------------------------------------------------------- reporting

_COLS = [("n", "n"), ("accuracy", "acc"), ("precision", "prec"), ("recall", "rec"), ("f1", "F1"),
         ("roc_auc", "AUC"), ("average_precision", "AP"), ("eer", "EER"), ("log_loss", "log-loss")]  # fmt: skip


def _fmt(v) -> str:
    if v is None:
        return "–"
    return str(v) if isinstance(v, int) else f"{v:.4f}"


def markdown_table(report: dict) -> str:
    """The report's metrics as markdown tables (levels × metrics, then per manipulation)."""
    head = " | ".join(c for _, c in _COLS)
    lines = [f"### {report['title']}", "", f"| level | {head} | confusion [[TN,FP],[FN,TP]] |",
             "|---" * (len(_COLS) + 2) + "|"]  # fmt: skip
    for level in ("frame", "video"):
        m = report.get(level)
        if m:
            vals = " | ".join(_fmt(m.get(k)) for k, _ in _COLS)
            lines.append(f"| {level} | {vals} | {m['confusion_matrix']} |")
    for level in ("frame", "video"):
        ci = (report.get(level) or {}).get("ci95")
        if ci:
            lines.append(f"| {level} 95 % CI | " + " | ".join(
                f"[{ci[k][0]:.3f}, {ci[k][1]:.3f}]" if k in ci else "" for k, _ in _COLS) + " | |")
    lines += [f"\n> **warning:** {w}" for w in report.get("warnings", [])]
    per = report.get("per_manipulation") or {}
    if per:
        lines += ["", "| manipulation (vs all reals) | level | " + " | ".join(c for _, c in _COLS) + " |",
                  "|---" * (len(_COLS) + 2) + "|"]  # fmt: skip
        for method, levels in per.items():
            for level, m in levels.items():
                lines.append(f"| {method} | {level} | " + " | ".join(_fmt(m.get(k)) for k, _ in _COLS) + " |")
    return "\n".join(lines) + "\n"


def _plots(level: str, labels: list[int], scores: list[float], cm: list[list[int]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    if len(set(labels)) == 2:
        fpr, tpr, _ = roc_curve(labels, scores)
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.plot(fpr, tpr, lw=2)
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC ({level})",
               xlim=(-0.01, 1.01), ylim=(0, 1.02))  # fmt: skip
        fig.tight_layout()
        fig.savefig(out / f"roc_{level}.png")
        plt.close(fig)
        prec, rec, _ = precision_recall_curve(labels, scores)
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.plot(rec, prec, lw=2)
        ax.set(xlabel="recall (fake)", ylabel="precision (fake)", title=f"precision–recall ({level})",
               xlim=(-0.01, 1.01), ylim=(0, 1.02))  # fmt: skip
        fig.tight_layout()
        fig.savefig(out / f"pr_{level}.png")
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(3.6, 3.2), dpi=100)
    arr = np.asarray(cm)
    ax.imshow(arr, cmap="Blues")
    for (i, j), v in np.ndenumerate(arr):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > arr.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["real", "fake"], yticklabels=["real", "fake"],
           xlabel="predicted", ylabel="true", title=f"confusion ({level})")  # fmt: skip
    fig.tight_layout()
    fig.savefig(out / f"confusion_{level}.png")
    plt.close(fig)


def write_report(report: dict, rows: list[dict], vids: list[dict], out: str | Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "metrics.md").write_text(markdown_table(report))
    with open(out / "predictions.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if vids:
        with open(out / "videos.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(vids[0]))
            w.writeheader()
            w.writerows(vids)
    _plots("frame", [r["label"] for r in rows], [r["p_fake"] for r in rows], report["frame"]["confusion_matrix"], out)
    if report.get("video"):
        cm = report["video"]["confusion_matrix"]
        _plots("video", [v["label"] for v in vids], [v["score"] for v in vids], cm, out)
