"""Confidence intervals for the evaluation metrics, and side-by-side comparison of several models.

:func:`bootstrap_ci` gives a percentile bootstrap 95 % interval for every metric of
:func:`~fakescope.training.metrics.binary_metrics`. The resampling is stratified (reals and fakes are
resampled separately, keeping their counts), so every resample has both classes and AUC/AP/EER stay
defined; scipy's ``bootstrap`` resamples the pooled set, which on small test sets yields one-class
resamples — hence this short loop. :func:`write_comparison` writes one table and overlaid ROC curves
for several models evaluated on the same faces.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

__all__ = ["MIN_PER_CLASS", "bootstrap_ci", "small_sample_warning", "write_comparison"]

MIN_PER_CLASS = 30  # fewer real or fake samples than this: the metrics are too noisy to compare
CI_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "eer",
              "log_loss")


def _metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The interval metrics of one resample, in numpy (sklearn's input checks cost more than the maths
    on a thousand resamples): the same definitions as :func:`~fakescope.training.metrics.binary_metrics`
    (AP as sklearn's step sum, ROC-AUC by the trapezoid rule, EER interpolated on the ROC curve)."""
    pred = p > threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    # ROC / PR points at every distinct score, highest first
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    tps = np.cumsum(ys)[last].astype(np.float64)
    fps = (last + 1) - tps
    n_pos, n_neg = tps[-1], fps[-1]
    tpr, fpr = np.r_[0.0, tps / n_pos], np.r_[0.0, fps / n_neg]
    ap = float(np.sum(np.diff(tpr) * (tps / (tps + fps))))
    diff = (1.0 - tpr) - fpr
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        eer = float(fpr[i])
    else:
        a = diff[i - 1] / (diff[i - 1] - diff[i])
        eer = float(fpr[i - 1] + a * (fpr[i] - fpr[i - 1]))
    return {
        "accuracy": (tp + tn) / len(y),
        "balanced_accuracy": 0.5 * (rec + (tn / (tn + fp) if tn + fp else 0.0)),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "roc_auc": float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr)),
        "average_precision": ap,
        "eer": eer,
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
    }


def bootstrap_ci(
    y_true, p_fake, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, list[float]] | None:
    """``{metric: [low, high]}``: stratified percentile bootstrap interval at ``level``; None with one class."""
    y = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(p_fake, dtype=np.float64).reshape(-1)
    idx0, idx1 = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    if len(idx0) == 0 or len(idx1) == 0:
        return None
    rng = np.random.default_rng(seed)
    samples = {k: np.empty(n_boot) for k in CI_METRICS}
    for b in range(n_boot):
        i = np.concatenate([rng.choice(idx0, len(idx0)), rng.choice(idx1, len(idx1))])
        for k, v in _metrics(y[i], p[i], threshold).items():
            samples[k][b] = v
    a = (1 - level) / 2
    return {k: [round(float(np.quantile(v, a)), 4), round(float(np.quantile(v, 1 - a)), 4)]
            for k, v in samples.items()}  # fmt: skip


def small_sample_warning(m: dict, level: str) -> str | None:
    """A warning when a class has fewer than :data:`MIN_PER_CLASS` samples at this level."""
    n_real, n_fake = m.get("n_real", 0), m.get("n_fake", 0)
    if min(n_real, n_fake) >= MIN_PER_CLASS:
        return None
    return (f"{level} level: only {n_real} real and {n_fake} fake samples (fewer than {MIN_PER_CLASS} per class): "
            "the metrics are noisy, read their 95 % intervals")  # fmt: skip


_ROWS = [("roc_auc", "AUC"), ("average_precision", "AP"), ("eer", "EER"), ("accuracy", "accuracy"),
         ("balanced_accuracy", "balanced acc."), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
         ("log_loss", "log-loss")]  # fmt: skip


def _cell(m: dict | None, key: str) -> str:
    if not m or m.get(key) is None:
        return "–"
    ci = (m.get("ci95") or {}).get(key)
    return f"{m[key]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{m[key]:.3f}"


def comparison_markdown(reports: dict[str, dict]) -> str:
    """One table: metrics (rows) × models (columns), value [95 % interval], per level."""
    names = list(reports)
    lines = ["## model comparison", ""]
    for level in ("frame", "video"):
        if not any(r.get(level) for r in reports.values()):
            continue
        lines += [f"### {level} level", "", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        ns = " | ".join(f"{r[level]['n_real']} / {r[level]['n_fake']}" if r.get(level) else "–"
                        for r in reports.values())  # fmt: skip
        lines.append(f"| n real / fake | {ns} |")
        for key, label in _ROWS:
            lines.append(f"| {label} | " + " | ".join(_cell(r.get(level), key) for r in reports.values()) + " |")
        lines.append("")
    warns = sorted({w for r in reports.values() for w in r.get("warnings", [])})
    lines += [f"> **warning:** {w}" for w in warns]
    return "\n".join(lines).rstrip() + "\n"


def _read_predictions(folder: Path) -> tuple[list[int], list[float]]:
    with open(folder / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [int(r["label"]) for r in rows], [float(r["p_fake"]) for r in rows]


def write_comparison(reports: dict[str, dict], folders: dict[str, Path], out: str | Path) -> Path:
    """``comparison.md``/``.json`` and ``roc_compare.png`` (frame-level ROC curves overlaid) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(comparison_markdown(reports))
    (out / "comparison.json").write_text(json.dumps(reports, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for name, folder in folders.items():
        y, p = _read_predictions(folder)
        if len(set(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        auc = reports[name]["frame"].get("roc_auc")
        ax.plot(fpr, tpr, lw=2, label=f"{name} (AUC {auc:.3f})" if auc is not None else name)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (frame level)",
           xlim=(-0.01, 1.01), ylim=(0, 1.02))  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "roc_compare.png")
    plt.close(fig)
    return out / "comparison.md"
