"""ECG decision thresholds: per-class thresholds tuned on out-of-fold probabilities (the
Challenge score for scored classes, F1 for the others; one threshold for a binary task) and
their application, sinus rhythm excluded by any abnormal finding when asked."""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ..arraycheck import (
    as_binary,
    as_scores,
    check_classes,
    check_same_shape,
    check_weights,
    class_index,
)
from ..metrics.challenge import (
    NORMAL_CLASS,
    _normalised,
    _observed,
    _score_parts,
    scored_subset,
)


# ============================================================================ thresholds
def apply_thresholds(
    probs,
    thresholds,
    *,
    normal_class: str | None = None,
    classes: Sequence[str] | None = None,
    normal_excludes_abnormal: bool = False,
    ensure_one: bool = True,
) -> np.ndarray:
    """Binary decisions from probabilities and per-class thresholds.

    Rules, in order:

    1. class ``k`` is on when ``probs[:, k] >= thresholds[k]``;
    2. ``normal_excludes_abnormal``: the normal class is switched off in every recording in
       which any other class is on;
    3. ``ensure_one``: a recording with no class on gets its ``argmax(probs)`` class
       (first column on ties).

    Parameters
    ----------
    probs : array_like, shape (n_recordings, n_classes)
        Scores (probabilities); must be finite.
    thresholds : float or array_like, shape (n_classes,)
    normal_class : str, optional
        Needed (with ``classes``) only for ``normal_excludes_abnormal``; default
        ``"426783006"`` then.
    classes : sequence of str, optional
        Class ids of the columns.
    normal_excludes_abnormal : bool, default False
    ensure_one : bool, default True

    Returns
    -------
    ndarray, bool, shape (n_recordings, n_classes)
    """
    p = as_scores(probs, "probs")
    t = _check_thresholds(thresholds, p.shape[1])
    normal_index = None
    if normal_excludes_abnormal:
        if classes is None:
            raise ValueError("normal_excludes_abnormal=True needs classes (the class ids of the columns)")
        cls = check_classes(classes, p.shape[1])
        normal_index = class_index(cls, NORMAL_CLASS if normal_class is None else normal_class)
    return _decide(p, t, normal_index, ensure_one)


def _check_thresholds(thresholds, n_classes: int) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n_classes, float(t))
    if t.shape != (n_classes,):
        raise ValueError(f"thresholds must be a number or have shape ({n_classes},); got shape {t.shape}")
    if np.isnan(t).any():
        raise ValueError(f"thresholds must not be NaN; got {t.tolist()}")
    return t


def _decide(p: np.ndarray, t: np.ndarray, normal_index: int | None, ensure_one: bool) -> np.ndarray:
    out = p >= t[None, :]
    if normal_index is not None:
        others = np.delete(out, normal_index, axis=1).any(axis=1)
        out[others, normal_index] = False
    if ensure_one and out.shape[1]:
        empty = ~out.any(axis=1)
        if empty.any():
            out[np.flatnonzero(empty), np.argmax(p[empty], axis=1)] = True
    return out


def tune_thresholds(
    probs,
    labels,
    weights,
    classes,
    grid=np.linspace(0.05, 0.95, 19),
    n_rounds: int = 2,
    *,
    normal_class: str = NORMAL_CLASS,
    init: float | Sequence[float] = 0.5,
    normal_excludes_abnormal: bool = False,
    ensure_one: bool = True,
) -> np.ndarray:
    """Per-class decision thresholds maximising the Challenge score (coordinate ascent).

    The PhysioNet 2020 "bag of tricks": starting from ``init``, each round visits the
    classes in column order and sets the class's threshold to the grid value that gives the
    highest Challenge score with all other thresholds fixed; a threshold changes only on a
    strict improvement (> 1e-12), so the result never scores below ``init`` and ties keep
    the current value. Decisions are made exactly as :func:`apply_thresholds` makes them
    with the same ``normal_excludes_abnormal`` / ``ensure_one``, so tune with the rule
    you deploy. Fully deterministic. Use out-of-fold probabilities: thresholds tuned on
    training predictions overfit.

    Parameters
    ----------
    probs : array_like, shape (n_recordings, n_classes)
        Out-of-fold probabilities.
    labels : array_like of 0/1 or bool, shape (n_recordings, n_classes)
    weights : array_like, shape (n_classes, n_classes)
    classes : sequence of str, length n_classes
    grid : array_like, 1-D
        Candidate thresholds (finite); default 0.05, 0.10, ..., 0.95.
    n_rounds : int, default 2
        Passes over all classes (>= 1). Stops early when a pass changes nothing.
    normal_class : str, default ``"426783006"``
    init : float or array_like of shape (n_classes,), default 0.5
    normal_excludes_abnormal, ensure_one : bool
        Decision rules, see :func:`apply_thresholds`.

    Returns
    -------
    thresholds : ndarray, float64, shape (n_classes,)
    """
    p = as_scores(probs, "probs")
    lab = as_binary(labels, "labels")
    check_same_shape(p, lab, "probs", "labels")
    if lab.shape[0] == 0:
        raise ValueError("probs has no recordings (shape (0, C)); threshold tuning needs at least one")
    cls = check_classes(classes, lab.shape[1])
    w = check_weights(weights, lab.shape[1])
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or not np.isfinite(g).all():
        raise ValueError(f"grid must be a non-empty 1-D array of finite thresholds; got {np.asarray(grid)!r}")
    g = np.unique(g)
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, numbers.Integral) or n_rounds < 1:
        raise ValueError(f"n_rounds={n_rounds!r} is not valid; accepted: an integer >= 1")
    k_normal = class_index(cls, normal_class)
    t = _check_thresholds(init, lab.shape[1]).copy()
    lw, correct, inactive = _score_parts(lab, w, k_normal)
    rule_normal = k_normal if normal_excludes_abnormal else None

    def score(th: np.ndarray) -> float:
        return _normalised(_observed(lw, lab, _decide(p, th, rule_normal, ensure_one)), correct, inactive)

    best = score(t)
    for _ in range(int(n_rounds)):
        changed = False
        for k in range(lab.shape[1]):
            trial = t.copy()
            scores = np.empty(g.size)
            for gi, value in enumerate(g):
                trial[k] = value
                scores[gi] = score(trial)
            gi = int(np.argmax(scores))  # first maximum: deterministic
            if scores[gi] > best + 1e-12:
                t[k] = g[gi]
                best = float(scores[gi])
                changed = True
        if not changed:
            break
    return t


def _scored_normal_index(classes: Sequence[str], cols: Sequence[int], normal_class: str) -> int | None:
    """Position of the normal class among the scored columns ``cols`` of ``classes``; None when
    fewer than two classes are scored or the normal class is not one of them (no Challenge
    score then)."""
    sub = [classes[j] for j in cols]
    if len(sub) < 2:
        return None
    try:
        return class_index(sub, normal_class)
    except ValueError:
        return None


def candidate_thresholds(p, grid=np.linspace(0.05, 0.95, 19), n_quantiles: int = 25) -> np.ndarray:
    """Thresholds worth trying for one score column: ``grid`` plus the 2nd-98th percentiles of
    the scores themselves (a small model's probabilities of a rare class may all lie below
    0.05, where a fixed grid sees one constant rule), sorted and unique."""
    p = np.asarray(p, dtype=np.float64)
    q = np.quantile(p, np.linspace(0.02, 0.98, n_quantiles)) if p.size else np.zeros(0)
    return np.unique(np.round(np.concatenate([np.asarray(grid, np.float64), q]), 6))


def _f1_pair(y: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """F1 of the positive and of the negative decision (0 when undefined)."""
    tp, fp, fn = np.sum(y & d), np.sum(~y & d), np.sum(y & ~d)
    tn = np.sum(~y & ~d)
    f_pos = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    f_neg = 2 * tn / (2 * tn + fn + fp) if (2 * tn + fn + fp) else 0.0
    return float(f_pos), float(f_neg)


def tune_binary_threshold(prob, y, grid=np.linspace(0.05, 0.95, 19)) -> float:
    """The threshold on the positive class's probability maximising the mean F1 of the two
    decisions (positive and negative), among the thresholds whose decision is not the same for
    every record when ``y`` holds both values: a constant answer scores an F1 of 0 on one side
    and is never chosen when another rule exists. Ties go to the threshold nearest 0.5.

    Parameters
    ----------
    prob : array_like, shape (n,)
        Out-of-fold probabilities of the positive class.
    y : array_like of 0/1 or bool, shape (n,)

    Returns
    -------
    float
    """
    p = as_scores(np.asarray(prob)[:, None], "prob")[:, 0]
    yb = as_binary(np.asarray(y)[:, None], "y")[:, 0]
    if p.size == 0:
        raise ValueError("prob has no recordings; threshold tuning needs at least one")
    cands = candidate_thresholds(p, grid)
    both = yb.any() and not yb.all()
    best, best_t = -1.0, 0.5
    for t in sorted(cands, key=lambda v: (abs(v - 0.5), v)):
        d = p >= t
        if both and (d.all() or not d.any()):
            continue
        score = float(np.mean(_f1_pair(yb, d)))
        if score > best + 1e-12:
            best, best_t = score, float(t)
    return best_t


def tune_class_threshold_f1(prob, y, grid=np.linspace(0.05, 0.95, 19)) -> float:
    """The threshold maximising one class's F1, among those that leave the decision not constant
    when ``y`` holds both values (ties: nearest 0.5). For classes outside the Challenge metric."""
    p = as_scores(np.asarray(prob)[:, None], "prob")[:, 0]
    yb = as_binary(np.asarray(y)[:, None], "y")[:, 0]
    both = yb.any() and not yb.all()
    best, best_t = -1.0, 0.5
    for t in sorted(candidate_thresholds(p, grid), key=lambda v: (abs(v - 0.5), v)):
        d = p >= t
        if both and (d.all() or not d.any()):
            continue
        score = _f1_pair(yb, d)[0]
        if score > best + 1e-12:
            best, best_t = score, float(t)
    return best_t


def tune_decision_thresholds(
    probs,
    labels,
    classes,
    *,
    challenge: str = "2021",
    normal_class: str = NORMAL_CLASS,
    normal_excludes_abnormal: bool = False,
    ensure_one: bool = True,
    n_rounds: int = 2,
) -> tuple[np.ndarray, dict]:
    """Per-class thresholds of a multi-label task: the Challenge score for the classes the
    ``challenge`` scores (coordinate ascent, :func:`tune_thresholds`, over their own scores'
    percentiles as well as the fixed grid), each other class's own F1
    (:func:`tune_class_threshold_f1`), never a constant decision when another exists.

    When the normal class is not among the scored ones (or fewer than two are scored), every
    class is tuned for its F1.

    Returns
    -------
    thresholds : ndarray, float64, shape (n_classes,)
    report : dict
        ``scored`` (class ids tuned on the Challenge score) and ``f1`` (those tuned on F1).
    """
    p = as_scores(probs, "probs")
    lab = as_binary(labels, "labels")
    check_same_shape(p, lab, "probs", "labels")
    cls = check_classes(classes, lab.shape[1])
    cols, w = scored_subset(cls, challenge)
    k_normal = _scored_normal_index(cls, cols, normal_class)
    if k_normal is None:
        cols = []
    t = np.full(len(cls), 0.5)
    f1_cols = [j for j in range(len(cls)) if j not in set(cols)]
    for j in f1_cols:
        t[j] = tune_class_threshold_f1(p[:, j], lab[:, j])
    if cols:
        rule_normal = cols[k_normal] if normal_excludes_abnormal else None
        lw, correct, inactive = _score_parts(lab[:, cols], w, k_normal)

        def score(th: np.ndarray) -> float:
            out = _decide(p, th, rule_normal, ensure_one)[:, cols]
            return _normalised(_observed(lw, lab[:, cols], out), correct, inactive)

        best = score(t)
        for _ in range(int(n_rounds)):
            changed = False
            for j in cols:
                trial = t.copy()
                values = candidate_thresholds(p[:, j])
                scores = np.empty(values.size)
                for gi, value in enumerate(values):
                    trial[j] = value
                    scores[gi] = score(trial)
                gi = int(np.argmax(scores))
                if scores[gi] > best + 1e-12:
                    t[j], best, changed = values[gi], float(scores[gi]), True
            if not changed:
                break
    return t, {"scored": [cls[j] for j in cols], "f1": [cls[j] for j in f1_cols]}
