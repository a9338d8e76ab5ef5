"""Binary detection metrics (scikit-learn) with fakescope's convention: label 1 = fake, score = p_fake.

:func:`binary_metrics` returns accuracy, precision, recall, F1 (at ``threshold``), ROC-AUC, average
precision, equal error rate, log-loss and the confusion matrix ``[[TN, FP], [FN, TP]]`` (rows: true
real, true fake; columns: predicted real, predicted fake). Metrics that need both classes (AUC, AP, EER)
are ``None`` when only one class is present.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["binary_metrics", "equal_error_rate"]


def equal_error_rate(y_true, scores) -> tuple[float, float]:
    """(EER, threshold): the rate where the false-positive rate equals the false-negative rate.

    Computed on the ROC curve (``sklearn.metrics.roc_curve``): between the two ROC points where
    ``FNR - FPR`` changes sign, both rates are interpolated linearly and the crossing is returned
    (an exact ROC point when the rates are equal there). The threshold is interpolated the same way.
    """
    from sklearn.metrics import roc_curve

    y_true = np.asarray(y_true).astype(int)
    fpr, tpr, thr = roc_curve(y_true, np.asarray(scores, dtype=np.float64), pos_label=1, drop_intermediate=False)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # starts at 1 (fnr=1, fpr=0), ends at -1 (fnr=0, fpr=1)
    thr = np.where(np.isinf(thr), np.nan, thr)
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        t = thr[i] if not np.isnan(thr[i]) else float(np.nanmax(thr))
        return float(fpr[i]), float(t)
    d0, d1 = diff[i - 1], diff[i]
    a = d0 / (d0 - d1)  # fraction of the way from point i-1 to point i
    eer = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    t0 = thr[i - 1] if not np.isnan(thr[i - 1]) else thr[i]
    return float(eer), float(t0 + a * (thr[i] - t0))


def binary_metrics(y_true, p_fake, threshold: float = 0.5) -> dict:
    """Every metric of the evaluation report for labels ``y_true`` (0/1) and scores ``p_fake``."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(p_fake, dtype=np.float64).reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} scores")
    if len(y) == 0:
        raise ValueError("no samples")
    pred = (p > threshold).astype(int)
    both = len(set(y.tolist())) == 2
    cm = confusion_matrix(y, pred, labels=[0, 1])
    out = {
        "n": int(len(y)),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(np.mean([(pred[y == c] == c).mean() for c in (0, 1) if (y == c).any()])),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "average_precision": float(average_precision_score(y, p)) if both else None,
        "eer": None,
        "eer_threshold": None,
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "confusion_matrix": cm.astype(int).tolist(),
    }
    if both:
        eer, t = equal_error_rate(y, p)
        out["eer"], out["eer_threshold"] = eer, (None if math.isnan(t) else t)
    return out
