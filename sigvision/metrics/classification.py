"""Classification metrics (functions of arrays; no files).

Sleep: accuracy, macro-F1, Cohen's kappa, per-stage F1, confusion matrix.
"""
from __future__ import annotations

import numpy as np

from ..loaders.base import STAGES

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

__all__ = ["classification_metrics", "confusion", "record_groups"]


def record_groups(records) -> list[tuple[object, np.ndarray]]:
    """``(record, row positions)`` per record, records in order of first appearance, positions
    ascending: one stable sort, O(n log n). A mask per record (``records == rec`` in a loop)
    costs O(records x rows): 1 min at 1,000 nights, 4 min at 2,000."""
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(records).ravel())
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [(uniques[k], order[bounds[k]:bounds[k + 1]]) for k in range(len(uniques))]


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


# --- added for blending and per-night evaluation -------------------------------------------
__all__ += ["SCORES", "score", "per_night_metrics"]

#: Scores :func:`score` can compute (higher is better for all of them).
SCORES: tuple[str, ...] = ("kappa", "macro_f1", "accuracy")


def score(y_true, y_pred, n_classes: int, metric: str = "kappa") -> float:
    """One classification score of integer labels, computed fast (for weight searches).

    Same definitions as :func:`classification_metrics` (macro-F1 over the classes present in
    truth or prediction), with the confusion matrix built by ``np.bincount``.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        Truth and predicted class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes C.
    metric : {"kappa", "macro_f1", "accuracy"}
        Which score.

    Returns
    -------
    float
        The score (NaN when ``n == 0``).
    """
    if metric not in SCORES:
        raise ValueError(f"metric={metric!r} is not a score; accepted: {', '.join(SCORES)}")
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}; they must match")
    n = y_true.size
    if n == 0:
        return float("nan")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{name} holds class {lo if lo < 0 else hi}; accepted: 0..{n_classes - 1}")
    cm = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(cm).astype(float)
    po = tp.sum() / n
    if metric == "accuracy":
        return float(po)
    support = cm.sum(1).astype(float)
    predicted = cm.sum(0).astype(float)
    if metric == "macro_f1":
        denom = support + predicted
        present = denom > 0
        return float((2 * tp[present] / denom[present]).mean())
    pe = float((support * predicted).sum()) / float(n * n)
    return float((po - pe) / (1 - pe)) if pe < 1 else (1.0 if po == 1 else 0.0)


def per_night_metrics(y_true, y_pred, records, n_classes: int = 5, class_names=None):
    """Classification metrics per night (record), one row each, plus the pooled totals.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        Truth and predicted stage per epoch (``0..n_classes-1``). Epochs whose truth is
        negative (unscored, movement) are left out.
    records : array_like of str, shape (n,)
        Night id of each epoch.
    n_classes : int
        Number of classes (5 for W, N1, N2, N3, REM).
    class_names : sequence of str, optional
        Names for the per-class F1 columns (default: :data:`sigvision.loaders.base.STAGES`
        when ``n_classes == 5``, else ``0..C-1``).

    Returns
    -------
    pandas.DataFrame
        Columns ``record, n_epochs, accuracy, macro_f1, kappa, f1_<class>...``; one row per
        night in order of first appearance, then a last row ``record == "ALL"`` pooling every
        epoch (not the mean of the nights).
    """
    import pandas as pd

    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    records = np.asarray(records).astype(str).ravel()
    if not (y_true.shape == y_pred.shape == records.shape):
        raise ValueError(f"y_true ({y_true.size}), y_pred ({y_pred.size}) and records ({records.size}) "
                         "must have the same length")
    if class_names is None:
        class_names = list(STAGES) if n_classes == len(STAGES) else [str(i) for i in range(n_classes)]
    keep = y_true >= 0
    y_true, y_pred, records = y_true[keep].astype(np.int64), y_pred[keep].astype(np.int64), records[keep]
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} holds class {int(arr.min() if arr.min() < 0 else arr.max())}; "
                             f"accepted: 0..{n_classes - 1}")
    rows = []
    for rec, m in record_groups(records):
        rows.append({"record": str(rec), "n_epochs": int(m.size),
                     **classification_metrics(y_true[m], y_pred[m], n_classes, list(class_names))})
    rows.append({"record": "ALL", "n_epochs": int(y_true.size),
                 **classification_metrics(y_true, y_pred, n_classes, list(class_names))})
    return pd.DataFrame(rows)
