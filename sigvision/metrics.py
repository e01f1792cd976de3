"""Classification metrics (functions of arrays; no files).

Sleep: accuracy, macro-F1, Cohen's kappa, per-stage F1, confusion matrix.
"""
from __future__ import annotations

import numpy as np

__all__ = ["classification_metrics", "confusion"]


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix (n_classes, n_classes): rows truth, columns prediction."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def classification_metrics(y_true, y_pred, n_classes: int, class_names=None) -> dict:
    """Accuracy, macro-F1 (over classes present in truth or prediction), Cohen's kappa and
    per-class F1 for integer labels ``y_true``, ``y_pred`` of shape (n,)."""
    cm = confusion(y_true, y_pred, n_classes)
    n = cm.sum()
    if n == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "kappa": float("nan")}
    tp = np.diag(cm).astype(float)
    support = cm.sum(1).astype(float)
    predicted = cm.sum(0).astype(float)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = denom > 0
    po = tp.sum() / n
    pe = float((support * predicted).sum()) / float(n * n)
    kappa = (po - pe) / (1 - pe) if pe < 1 else (1.0 if po == 1 else 0.0)
    names = class_names or [str(i) for i in range(n_classes)]
    out = {"accuracy": float(po), "macro_f1": float(f1[present].mean()), "kappa": float(kappa)}
    out.update({f"f1_{names[i]}": float(f1[i]) for i in range(n_classes)})
    return out
