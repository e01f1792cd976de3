"""ECG classification metrics: multi-label (accuracy, macro precision/recall/F1, sensitivity,
specificity, macro-AUROC/AUPRC and the Challenge score), a per-class table, binary metrics,
and the guard against degenerate (constant) decision rules."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from sigvision.loaders.dx import code_to_abbreviation

from ..arraycheck import (
    as_binary,
    as_scores,
    check_classes,
    check_same_shape,
    check_weights,
    class_index,
)
from ..postprocess.thresholds import _check_thresholds, _decide, _scored_normal_index
from .challenge import NORMAL_CLASS, _normalised, _observed, _score_parts, scored_subset

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

# scikit-learn is imported where AUROC/AUPRC are computed (heavy).


# ============================================================================ metrics
def _f1_per_class(lab: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Official convention: F1 = 2TP / (2TP + FP + FN), NaN where the denominator is 0."""
    tp = (lab & out).sum(axis=0).astype(np.float64)
    fp = (~lab & out).sum(axis=0)
    fn = (lab & ~out).sum(axis=0)
    den = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def _precision_recall_per_class(lab: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision TP / (TP + FP) and recall TP / (TP + FN) per class: 0 where that denominator is
    0 (sklearn's ``zero_division=0``), NaN for a class in neither the labels nor the outputs
    (where F1 is NaN too), so that their NaN-skipping means cover the classes F1's mean covers."""
    tp = (lab & out).sum(axis=0).astype(np.float64)
    n_out = out.sum(axis=0).astype(np.float64)
    n_lab = lab.sum(axis=0).astype(np.float64)
    precision = np.divide(tp, n_out, out=np.zeros_like(tp), where=n_out > 0)
    recall = np.divide(tp, n_lab, out=np.zeros_like(tp), where=n_lab > 0)
    absent = (n_out + n_lab) == 0
    precision[absent] = np.nan
    recall[absent] = np.nan
    return precision, recall


def _sensitivity_specificity(lab: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TP / (TP + FN) and TN / (TN + FP) per class, NaN for a class with a single label value."""
    pos = lab.sum(axis=0).astype(np.float64)
    neg = (~lab).sum(axis=0).astype(np.float64)
    tp = (lab & out).sum(axis=0)
    tn = (~lab & ~out).sum(axis=0)
    both = (pos > 0) & (neg > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(both, tp / np.maximum(pos, 1), np.nan), np.where(both, tn / np.maximum(neg, 1), np.nan)


def degenerate_decisions(labels, outputs, classes, *, max_share: float = 0.01) -> list[str]:
    """Decision rules that answer the same for (nearly) every record, where the truth does not.

    A class's decision is flagged when at most ``max(1, floor(max_share * n))`` of the ``n``
    records receive its minority decision (never or almost never on, or on for nearly every
    record) while at least five times as many, and at least 3, have the other true value. The
    outputs as a whole are flagged when every record receives the same label set although as
    many records' true label sets differ from it. Such a rule is a constant predictor in disguise: its F1 or
    accuracy can look fine on a skewed class, and the evaluation says so loudly.

    Parameters
    ----------
    labels, outputs : array_like of 0/1 or bool, shape (n_recordings, n_classes)
    classes : sequence of str, length n_classes
    max_share : float, default 0.01

    Returns
    -------
    list of str
        One sentence per finding (empty when the outputs vary as the truth does).
    """
    lab = as_binary(labels, "labels")
    out = as_binary(outputs, "outputs")
    check_same_shape(lab, out, "labels", "outputs")
    cls = check_classes(classes, lab.shape[1])
    n = lab.shape[0]
    if n == 0:
        return []
    found = []
    bound = max(1, int(max_share * n))
    if n > 1 and (out == out[0]).all() and int((lab != out[0]).any(axis=1).sum()) >= max(3, 5 * bound):
        on = [cls[k] for k in np.flatnonzero(out[0])]
        found.append(f"every one of the {n} records gets the same output ({', '.join(on) or 'no class'}): a constant "
                     "predictor")
    for k, c in enumerate(cls):
        d_pos, t_pos = int(out[:, k].sum()), int(lab[:, k].sum())
        d_min, t_min = min(d_pos, n - d_pos), min(t_pos, n - t_pos)
        if d_min <= bound and t_min >= max(3, 5 * bound):
            what = "on" if d_pos > n - d_pos else "off"
            found.append(f"class {c}: the decision is {what} for {max(d_pos, n - d_pos)} of {n} records (truth: on for "
                         f"{t_pos}): it answers the same for (nearly) every record")
    return found


def _auc_per_class(lab: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    C = lab.shape[1]
    auroc = np.full(C, np.nan)
    auprc = np.full(C, np.nan)
    for k in range(C):
        y = lab[:, k]
        if y.all() or not y.any():
            continue  # one label value only: undefined
        auroc[k] = roc_auc_score(y, p[:, k])
        auprc[k] = average_precision_score(y, p[:, k])
    return auroc, auprc


def _nanmean(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=np.float64)
    return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")


def _prepare_eval(labels, probs, thresholds, classes, normal_class, normal_excludes_abnormal, ensure_one,
                  outputs=None):
    lab = as_binary(labels, "labels")
    p = as_scores(probs, "probs")
    check_same_shape(lab, p, "labels", "probs")
    if lab.shape[0] == 0:
        raise ValueError("labels has no recordings (shape (0, C))")
    cls = check_classes(classes, lab.shape[1])
    if outputs is not None:  # decisions already made (e.g. files_post.csv): thresholds unused
        out = as_binary(outputs, "outputs")
        check_same_shape(lab, out, "labels", "outputs")
        t = np.full(lab.shape[1], np.nan) if thresholds is None else _check_thresholds(thresholds, lab.shape[1])
        return lab, p, t, cls, out
    if thresholds is None:
        raise ValueError("thresholds is None; give thresholds, or the decisions themselves as outputs=")
    t = _check_thresholds(thresholds, lab.shape[1])
    normal_index = None
    if normal_excludes_abnormal:
        normal_index = class_index(cls, normal_class)
    out = _decide(p, t, normal_index, ensure_one)
    return lab, p, t, cls, out


def multilabel_metrics(
    labels,
    probs,
    thresholds,
    classes,
    *,
    weights=None,
    normal_class: str = NORMAL_CLASS,
    normal_excludes_abnormal: bool = False,
    ensure_one: bool = True,
    outputs=None,
    challenge: str = "2021",
) -> dict[str, Any]:
    """Macro metrics and the Challenge score of a multi-label classifier.

    Parameters
    ----------
    labels : array_like of 0/1 or bool, shape (n_recordings, n_classes)
    probs : array_like, shape (n_recordings, n_classes)
    thresholds : float or array_like, shape (n_classes,); or None with ``outputs``
    classes : sequence of str, length n_classes
    weights : array_like, shape (n_classes, n_classes), optional
        Reward matrix of all ``classes``; default: the ``challenge`` year's table restricted to
        the classes it scores (:func:`scored_subset`), the others left out of the score.
    normal_class : str, default ``"426783006"``
    normal_excludes_abnormal, ensure_one : bool
        Decision rules of :func:`apply_thresholds`.
    outputs : array_like of 0/1 or bool, shape (n_recordings, n_classes), optional
        The decisions to score, when they were made elsewhere (``files_post.csv``'s
        ``label_`` columns, whose out-of-fold thresholds differ by fold); ``thresholds`` and
        the decision rules are then not applied. ``probs`` still give AUROC/AUPRC.

    Returns
    -------
    dict
        ``macro_f1`` : mean F1 over classes where ``2TP + FP + FN > 0`` (the official
        convention; ``n_f1_undefined`` counts the others);
        ``macro_precision``, ``macro_recall`` : means over the same classes of TP / (TP + FP)
        and TP / (TP + FN), a zero denominator counting as 0 (sklearn's ``zero_division=0``);
        ``macro_auroc``, ``macro_auprc`` : means over classes with both label values present
        (sklearn ``roc_auc_score`` / ``average_precision_score``); ``n_auc_skipped`` and
        ``auc_skipped_classes`` name the classes with a single label value, which are skipped;
        ``accuracy`` : fraction of recordings whose output set equals their label set;
        ``challenge_score`` : :func:`challenge_score` of the thresholded outputs over the
        scored classes (``n_scored_classes`` of them), NaN when fewer than two are scored or
        ``normal_class`` is not among them (``challenge_note`` then says why);
        ``sensitivity``, ``specificity`` : macro means over classes with both label values of
        TP / (TP + FN) and TN / (TN + FP);
        ``degenerate_decisions`` : :func:`degenerate_decisions` of the outputs (empty when
        none is);
        ``n_recordings``, ``n_classes``.
    """
    lab, p, t, cls, out = _prepare_eval(labels, probs, thresholds, classes, normal_class,
                                        normal_excludes_abnormal, ensure_one, outputs)
    f1 = _f1_per_class(lab, out)
    precision, recall = _precision_recall_per_class(lab, out)
    auroc, auprc = _auc_per_class(lab, p)
    skipped = [cls[k] for k in range(len(cls)) if not np.isfinite(auroc[k])]
    note = ""
    if weights is None:
        cols, w = scored_subset(cls, challenge)
        if len(cols) < len(cls):
            note = (f"challenge score over the {len(cols)} of {len(cls)} classes the {challenge} Challenge scores "
                    f"(not scored: {', '.join(cls[j] for j in range(len(cls)) if j not in set(cols))[:200]})")
    else:
        cols, w = list(range(len(cls))), check_weights(weights, len(cls))
    score = float("nan")
    k = _scored_normal_index(cls, cols, normal_class)
    if k is None:
        note = (f"no challenge score: it needs the normal class {normal_class!r} and another among the classes "
                f"the {challenge} Challenge scores ({len(cols)} of {len(cls)} are)")
    else:
        lw, correct, inactive = _score_parts(lab[:, cols], w, k)
        score = _normalised(_observed(lw, lab[:, cols], out[:, cols]), correct, inactive)
    sens, spec = _sensitivity_specificity(lab, out)
    return {
        "macro_f1": _nanmean(f1),
        "macro_precision": _nanmean(precision),
        "macro_recall": _nanmean(recall),
        "macro_auroc": _nanmean(auroc),
        "macro_auprc": _nanmean(auprc),
        "accuracy": float(np.mean((lab == out).all(axis=1))),
        "challenge_score": score,
        "challenge_note": note,
        "n_scored_classes": len(cols),
        "sensitivity": _nanmean(sens),
        "specificity": _nanmean(spec),
        "degenerate_decisions": degenerate_decisions(lab, out, cls),
        "n_auc_skipped": len(skipped),
        "auc_skipped_classes": skipped,
        "n_f1_undefined": int(np.sum(~np.isfinite(f1))),
        "n_recordings": int(lab.shape[0]),
        "n_classes": int(lab.shape[1]),
    }


def per_class_table(
    labels,
    probs,
    thresholds,
    classes,
    *,
    normal_class: str = NORMAL_CLASS,
    normal_excludes_abnormal: bool = False,
    ensure_one: bool = True,
    outputs=None,
):
    """One row of metrics per class.

    Parameters
    ----------
    Same as :func:`multilabel_metrics` (without ``weights``).

    Returns
    -------
    pandas.DataFrame
        Columns ``class`` (id), ``abbreviation`` (Challenge abbreviation, e.g. ``NSR``;
        the class id itself when the code is in neither Challenge table), ``support``
        (recordings labelled with the class), ``n_predicted`` (recordings output as it),
        ``precision`` and ``recall`` (0 when their denominator is 0; NaN, like ``f1``, when
        the class is in neither the labels nor the outputs), ``f1`` (NaN when
        ``2TP + FP + FN == 0``), ``auroc`` and ``auprc`` (NaN when the class has a single
        label value), ``threshold`` (NaN when ``outputs`` are given without thresholds).
    """
    import pandas as pd
    lab, p, t, cls, out = _prepare_eval(labels, probs, thresholds, classes, normal_class,
                                        normal_excludes_abnormal, ensure_one, outputs)
    auroc, auprc = _auc_per_class(lab, p)
    precision, recall = _precision_recall_per_class(lab, out)

    def abbrev(c: str) -> str:
        try:
            return code_to_abbreviation(c, default=c)
        except Exception:  # tables unavailable: fall back to the id
            return c

    return pd.DataFrame({
        "class": cls,
        "abbreviation": [abbrev(c) for c in cls],
        "support": lab.sum(axis=0).astype(int),
        "n_predicted": out.sum(axis=0).astype(int),
        "precision": precision,
        "recall": recall,
        "f1": _f1_per_class(lab, out),
        "auroc": auroc,
        "auprc": auprc,
        "threshold": t,
    })


def binary_metrics(y, prob, threshold: float = 0.5, *, pred=None) -> dict[str, float]:
    """Metrics of one binary decision.

    Parameters
    ----------
    y : array_like of 0/1 or bool, shape (n,)
    prob : array_like, shape (n,)
        Scores; positive when ``prob >= threshold``.
    threshold : float, default 0.5
    pred : array_like of 0/1 or bool, shape (n,), optional
        The decisions themselves, when they were made elsewhere (e.g. by thresholds tuned per
        fold); ``threshold`` is then not applied and ``prob`` gives the AUROC only.

    Returns
    -------
    dict
        ``accuracy``, ``f1``, ``precision``, ``recall`` (0 where undefined, sklearn's
        ``zero_division=0``), ``sensitivity`` (= recall), ``specificity`` (TN / negatives, NaN
        without negatives), ``auroc`` (NaN when ``y`` has a single value), ``n``, ``n_pos``,
        ``n_pred_pos`` (records decided positive).
    """
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    yy = np.asarray(y)
    pp = np.asarray(prob)
    if yy.ndim != 1 or pp.ndim != 1 or yy.shape != pp.shape or yy.size == 0:
        raise ValueError(f"y and prob must be non-empty 1-D arrays of equal length; got shapes {yy.shape}, {pp.shape}")
    yb = as_binary(yy[:, None], "y")[:, 0]
    ps = as_scores(pp[:, None], "prob")[:, 0]
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
        raise ValueError(f"threshold={threshold!r} is not valid; accepted: a finite number")
    if pred is None:
        pred = ps >= float(threshold)
    else:
        pr = np.asarray(pred)
        if pr.shape != yy.shape:
            raise ValueError(f"pred has shape {pr.shape} but y has shape {yy.shape}; they must match")
        pred = as_binary(pr[:, None], "pred")[:, 0]
    single = yb.all() or not yb.any()
    n_neg = int((~yb).sum())
    return {
        "accuracy": float(accuracy_score(yb, pred)),
        "f1": float(f1_score(yb, pred, zero_division=0)),
        "precision": float(precision_score(yb, pred, zero_division=0)),
        "recall": float(recall_score(yb, pred, zero_division=0)),
        "sensitivity": float(recall_score(yb, pred, zero_division=0)),
        "specificity": float(np.sum(~yb & ~pred) / n_neg) if n_neg else float("nan"),
        "auroc": float("nan") if single else float(roc_auc_score(yb, ps)),
        "n": int(yb.size),
        "n_pos": int(yb.sum()),
        "n_pred_pos": int(pred.sum()),
    }
