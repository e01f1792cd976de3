"""12-lead ECG track: Challenge metric, decision thresholds, augmentations, classical baseline.

Everything here works on plain NumPy arrays:

* labels and binary outputs are ``(n_recordings, n_classes)`` arrays of 0/1 (or bool);
* probabilities are ``(n_recordings, n_classes)`` floats;
* signals are ``(n_leads, n_samples)`` float arrays in **millivolts** (the layout of
  :attr:`sigvision.loaders.base.ECGRecord.signals`).

Contents
--------
Challenge metric (PhysioNet/CinC Challenge 2021 and 2020)
    :func:`load_challenge_weights`, :func:`scored_subset`, :func:`modified_confusion_matrix`,
    :func:`challenge_score`.
Decision thresholds
    :func:`tune_thresholds` (per-class coordinate ascent on out-of-fold probabilities),
    :func:`tune_decision_thresholds` (Challenge score for scored classes, F1 for the others),
    :func:`tune_binary_threshold`, :func:`apply_thresholds`.
Metrics
    :func:`multilabel_metrics`, :func:`per_class_table`, :func:`binary_metrics`,
    :func:`degenerate_decisions` (the guard against constant decision rules).
Loss weights
    :func:`class_weights_from_counts`.
Augmentations
    :func:`baseline_wander`, :func:`gaussian_noise`, :func:`amplitude_scale`,
    :func:`time_shift`, :func:`lead_dropout`, :class:`ECGAugment`.
Classical baseline
    :func:`detect_r_peaks`, :func:`ecg_features`, :func:`ecg_feature_names`,
    :class:`BaselineClassifier` (RR-interval and band-power features with logistic
    regression: the floor the deep models must beat).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

__all__ = [
    "NORMAL_CLASS",
    "load_challenge_weights",
    "modified_confusion_matrix",
    "challenge_score",
    "scored_subset",
    "degenerate_decisions",
    "tune_thresholds",
    "tune_decision_thresholds",
    "tune_binary_threshold",
    "tune_class_threshold_f1",
    "candidate_thresholds",
    "apply_thresholds",
    "multilabel_metrics",
    "per_class_table",
    "binary_metrics",
    "class_weights_from_counts",
    "HEFEI_MIN_COUNT",
    "baseline_wander",
    "gaussian_noise",
    "amplitude_scale",
    "time_shift",
    "lead_dropout",
    "ECGAugment",
    "detect_r_peaks",
    "ecg_features",
    "ecg_feature_names",
    "BaselineClassifier",
]

#: SNOMED CT code of sinus rhythm, the Challenge's "normal" (inactive) class.
NORMAL_CLASS = "426783006"

#: Frequency bands (Hz) of the per-lead band powers of :func:`ecg_features`.
FEATURE_BANDS_HZ: tuple[tuple[float, float], ...] = ((0.5, 5.0), (5.0, 15.0), (15.0, 40.0))

_RHYTHM_FEATURES: tuple[str, ...] = (
    "hr_bpm", "rr_mean_s", "rr_sd_s", "rr_rmssd_s", "rr_pnn50", "rr_cv", "rr_irregularity",
    "rr_range_s", "rr_valid", "qrs_width_proxy_s",
)


# ============================================================================ validation
def _as_2d(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_recordings, n_classes); got shape {arr.shape}")
    return arr


def _as_binary(a, name: str) -> np.ndarray:
    """0/1 or bool matrix -> bool matrix; anything else is refused."""
    arr = _as_2d(a, name)
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"{name} must hold 0/1 or booleans; got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} must hold only 0/1 or booleans; found {arr[i, j]!r} at [{i}, {j}] "
            "(binarise probabilities with apply_thresholds first)"
        )
    return arr.astype(bool)


def _as_scores(a, name: str) -> np.ndarray:
    arr = _as_2d(a, name)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        i, j = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite; found {arr[i, j]} at [{i}, {j}]")
    return arr


def _check_same_shape(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{na} has shape {a.shape} but {nb} has shape {b.shape}; they must match")


def _check_classes(classes, n_classes: int) -> list[str]:
    if classes is None:
        raise ValueError("classes must be a sequence of class ids (e.g. scored_classes()), got None")
    if isinstance(classes, (str, bytes)):
        raise ValueError(f"classes must be a sequence of class ids, got the single string {classes!r}")
    out = [str(c) for c in classes]
    if len(out) != n_classes:
        raise ValueError(f"classes has {len(out)} ids but the arrays have {n_classes} columns")
    return out


def _class_index(classes: Sequence[str], code: str) -> int:
    """Column of ``code``: an exact class id, else the class whose ``|``-joined codes contain it."""
    code = str(code).strip()
    if code in classes:
        return list(classes).index(code)
    parts = set(code.split("|"))
    for i, cls in enumerate(classes):
        if parts & {p.strip() for p in str(cls).split("|")}:
            return i
    raise ValueError(f"normal_class={code!r} is not among the classes; accepted: one of {list(classes)[:30]}")


def _check_weights(weights, n_classes: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_classes, n_classes):
        raise ValueError(f"weights must have shape ({n_classes}, {n_classes}) to match the classes; got {w.shape}")
    return w


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)); got {type(rng).__name__}"
        )
    return rng


def _check_signal(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_leads, n_samples); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a floating-point array in mV; got dtype {arr.dtype}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one lead and one sample; got shape {arr.shape}")
    return arr


def _check_prob(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name}={p!r} is not a probability; accepted: a number in [0, 1]")
    return float(p)


def _check_positive(v: float, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{name}={v!r} is not valid; accepted: a finite number")
    if float(v) < 0 or (float(v) == 0 and not allow_zero):
        raise ValueError(f"{name}={v!r} is not valid; accepted: a number {'>= 0' if allow_zero else '> 0'}")
    return float(v)


# ============================================================================ Challenge metric
def load_challenge_weights(challenge: str = "2021") -> tuple[list[str], np.ndarray]:
    """Classes and reward matrix of the PhysioNet/CinC Challenge metric of one year.

    Read from the packaged, unmodified tables (``sigvision/resources/dx_mapping/``:
    ``weights.csv`` for 2021, ``weights_2020.csv`` for 2020; see
    :func:`sigvision.loaders.dx.challenge_weights`).

    Parameters
    ----------
    challenge : {"2021", "2020"}, default "2021"

    Returns
    -------
    classes : list of str
        The scored class ids in file order (2021: 26, 2020: 24); equivalent codes are joined
        with ``"|"`` (e.g. ``"713427006|59118001"``), as in
        :func:`sigvision.loaders.dx.scored_classes`.
    weights : ndarray, float64, shape (n_classes, n_classes)
        ``weights[i, j]`` is the reward for outputting class ``j`` on a recording labelled
        with class ``i`` (1 on the diagonal, partial credit off it). A fresh copy.
    """
    from sigvision.loaders.dx import challenge_weights

    return challenge_weights(str(challenge))


def scored_subset(classes: Sequence[str], challenge: str = "2021") -> tuple[list[int], np.ndarray]:
    """Which of ``classes`` a Challenge scores, and their reward matrix.

    A class is scored when all its codes (``"a|b"`` joins several) belong to one class of the
    year's weights table (``"59118001"`` is the 2021 class ``"713427006|59118001"``); the
    others (STD, STE, LVH, ...) are outside the metric, as the official scorer ignores labels
    that are not scored.

    Returns
    -------
    columns : list of int
        Positions of the scored classes in ``classes``.
    weights : ndarray, shape (len(columns), len(columns))
        Their rewards (two classes matching one table class share its row and column).
    """
    shipped, w = load_challenge_weights(challenge)
    code_to_idx = {code.strip(): i for i, c in enumerate(shipped) for code in c.split("|")}
    cols, idx = [], []
    for j, c in enumerate(classes):
        hits = {code_to_idx.get(code.strip()) for code in str(c).split("|")}
        if None in hits or len(hits) != 1:
            continue
        cols.append(j)
        idx.append(hits.pop())
    return cols, w[np.ix_(idx, idx)]


def modified_confusion_matrix(labels, outputs) -> np.ndarray:
    """The Challenge's multi-label "confusion" matrix.

    For each recording ``r`` with label set ``L_r`` and output set ``O_r``, every pair
    (label class ``i`` in ``L_r``, output class ``j`` in ``O_r``) adds
    ``1 / max(|L_r ∪ O_r|, 1)`` to ``A[i, j]``.

    Parameters
    ----------
    labels, outputs : array_like of 0/1 or bool, shape (n_recordings, n_classes)

    Returns
    -------
    A : ndarray, float64, shape (n_classes, n_classes)
        Rows are label classes, columns output classes.
    """
    lab = _as_binary(labels, "labels")
    out = _as_binary(outputs, "outputs")
    _check_same_shape(lab, out, "labels", "outputs")
    norm = np.maximum((lab | out).sum(axis=1), 1).astype(np.float64)
    return lab.astype(np.float64).T @ (out.astype(np.float64) / norm[:, None])


def _score_parts(lab: np.ndarray, weights: np.ndarray, normal_index: int) -> tuple[np.ndarray, float, float]:
    """``L @ W`` (per recording reward per output class), correct and inactive scores."""
    w = np.nan_to_num(weights, nan=0.0)  # the official scorer sums with np.nansum
    lw = lab.astype(np.float64) @ w
    correct = _observed(lw, lab, lab)
    inactive_out = np.zeros_like(lab)
    inactive_out[:, normal_index] = True
    inactive = _observed(lw, lab, inactive_out)
    return lw, correct, inactive


def _observed(lw: np.ndarray, lab: np.ndarray, out: np.ndarray) -> float:
    """``sum(W * A)`` = sum over recordings of ``(L W)_r · O_r / max(|L_r ∪ O_r|, 1)``."""
    norm = np.maximum((lab | out).sum(axis=1), 1)
    return float(np.sum((lw * out).sum(axis=1) / norm))


def _normalised(observed: float, correct: float, inactive: float) -> float:
    if correct == inactive:
        return 0.0
    return (observed - inactive) / (correct - inactive)


def challenge_score(labels, outputs, weights, classes, normal_class: str = NORMAL_CLASS) -> float:
    """PhysioNet/CinC Challenge 2021 metric of binary outputs.

    Definition (Challenge 2021; same as the official ``evaluate_model.py``):

    1. ``A = modified_confusion_matrix(labels, outputs)``: each recording adds
       ``1 / max(|L ∪ O|, 1)`` to ``A[i, j]`` for every label class ``i`` and output class
       ``j`` it has (``L``, ``O``: its sets of positive labels and outputs);
    2. ``observed = Σ_ij W_ij A_ij`` (NaN weights count as 0);
    3. ``correct``: the same with ``outputs = labels``;
    4. ``inactive``: the same with outputs that are only ``normal_class`` for every recording;
    5. score ``= (observed - inactive) / (correct - inactive)``, and ``0.0`` when
       ``correct == inactive`` (e.g. every recording labelled only normal).

    A perfect classifier scores 1, the always-normal classifier 0; worse ones go negative.

    Parameters
    ----------
    labels : array_like of 0/1 or bool, shape (n_recordings, n_classes)
    outputs : array_like of 0/1 or bool, shape (n_recordings, n_classes)
        Binary decisions (see :func:`apply_thresholds`).
    weights : array_like, shape (n_classes, n_classes)
        Reward matrix, rows = label class, columns = output class
        (:func:`load_challenge_weights`).
    classes : sequence of str, length n_classes
        Class ids of the columns.
    normal_class : str, default ``"426783006"`` (sinus rhythm)
        A class id, or a code contained in a ``"|"``-joined class id.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Shapes disagree, values other than 0/1, no recordings, or ``normal_class`` is not
        among ``classes``.
    """
    lab = _as_binary(labels, "labels")
    out = _as_binary(outputs, "outputs")
    _check_same_shape(lab, out, "labels", "outputs")
    if lab.shape[0] == 0:
        raise ValueError("labels has no recordings (shape (0, C)); the Challenge score needs at least one")
    cls = _check_classes(classes, lab.shape[1])
    w = _check_weights(weights, lab.shape[1])
    k = _class_index(cls, normal_class)
    lw, correct, inactive = _score_parts(lab, w, k)
    return _normalised(_observed(lw, lab, out), correct, inactive)


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
    p = _as_scores(probs, "probs")
    t = _check_thresholds(thresholds, p.shape[1])
    normal_index = None
    if normal_excludes_abnormal:
        if classes is None:
            raise ValueError("normal_excludes_abnormal=True needs classes (the class ids of the columns)")
        cls = _check_classes(classes, p.shape[1])
        normal_index = _class_index(cls, NORMAL_CLASS if normal_class is None else normal_class)
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
    p = _as_scores(probs, "probs")
    lab = _as_binary(labels, "labels")
    _check_same_shape(p, lab, "probs", "labels")
    if lab.shape[0] == 0:
        raise ValueError("probs has no recordings (shape (0, C)); threshold tuning needs at least one")
    cls = _check_classes(classes, lab.shape[1])
    w = _check_weights(weights, lab.shape[1])
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or not np.isfinite(g).all():
        raise ValueError(f"grid must be a non-empty 1-D array of finite thresholds; got {np.asarray(grid)!r}")
    g = np.unique(g)
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, numbers.Integral) or n_rounds < 1:
        raise ValueError(f"n_rounds={n_rounds!r} is not valid; accepted: an integer >= 1")
    k_normal = _class_index(cls, normal_class)
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
        return _class_index(sub, normal_class)
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
    p = _as_scores(np.asarray(prob)[:, None], "prob")[:, 0]
    yb = _as_binary(np.asarray(y)[:, None], "y")[:, 0]
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
    p = _as_scores(np.asarray(prob)[:, None], "prob")[:, 0]
    yb = _as_binary(np.asarray(y)[:, None], "y")[:, 0]
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
    p = _as_scores(probs, "probs")
    lab = _as_binary(labels, "labels")
    _check_same_shape(p, lab, "probs", "labels")
    cls = _check_classes(classes, lab.shape[1])
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
    lab = _as_binary(labels, "labels")
    out = _as_binary(outputs, "outputs")
    _check_same_shape(lab, out, "labels", "outputs")
    cls = _check_classes(classes, lab.shape[1])
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
    lab = _as_binary(labels, "labels")
    p = _as_scores(probs, "probs")
    _check_same_shape(lab, p, "labels", "probs")
    if lab.shape[0] == 0:
        raise ValueError("labels has no recordings (shape (0, C))")
    cls = _check_classes(classes, lab.shape[1])
    if outputs is not None:  # decisions already made (e.g. files_post.csv): thresholds unused
        out = _as_binary(outputs, "outputs")
        _check_same_shape(lab, out, "labels", "outputs")
        t = np.full(lab.shape[1], np.nan) if thresholds is None else _check_thresholds(thresholds, lab.shape[1])
        return lab, p, t, cls, out
    if thresholds is None:
        raise ValueError("thresholds is None; give thresholds, or the decisions themselves as outputs=")
    t = _check_thresholds(thresholds, lab.shape[1])
    normal_index = None
    if normal_excludes_abnormal:
        normal_index = _class_index(cls, normal_class)
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
        cols, w = list(range(len(cls))), _check_weights(weights, len(cls))
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

    from sigvision.loaders.dx import code_to_abbreviation

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
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    yy = np.asarray(y)
    pp = np.asarray(prob)
    if yy.ndim != 1 or pp.ndim != 1 or yy.shape != pp.shape or yy.size == 0:
        raise ValueError(f"y and prob must be non-empty 1-D arrays of equal length; got shapes {yy.shape}, {pp.shape}")
    yb = _as_binary(yy[:, None], "y")[:, 0]
    ps = _as_scores(pp[:, None], "prob")[:, 0]
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
        raise ValueError(f"threshold={threshold!r} is not valid; accepted: a finite number")
    if pred is None:
        pred = ps >= float(threshold)
    else:
        pr = np.asarray(pred)
        if pr.shape != yy.shape:
            raise ValueError(f"pred has shape {pr.shape} but y has shape {yy.shape}; they must match")
        pred = _as_binary(pr[:, None], "pred")[:, 0]
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


# ============================================================================ class weights
_WEIGHT_KINDS = ("inv_log", "hefei", "inv", "inv_sqrt", "none")
#: Smallest count the ``"hefei"`` weights take literally: log(count) <= 0 below it.
HEFEI_MIN_COUNT = 2


def class_weights_from_counts(counts, kind: str = "inv_log", *, normalize: bool = True) -> np.ndarray:
    """Per-class loss weights from positive counts, normalised to mean 1 (``normalize=True``).

    ``kind="hefei"`` is the Hefei (Tianchi 2019) write-up's formula as written,
    ``w = 1 / log(count + 1e-5)``, for every count >= 2 (:data:`HEFEI_MIN_COUNT`). Below 2
    the formula breaks down: one positive gives ``1 / log(1.00001)`` = 100,000 (a single
    record would outweigh the rest of the loss) and none gives a negative weight (the loss
    would reward predicting the class), so counts 0 and 1 get the weight of a count of 2,
    ``1 / log(2.00001)`` = 1.4427: the largest weight, the formula's trend continued flat.
    With ``normalize=False`` the raw write-up weights come back (what
    ``train.loss: class_weighted_bce`` uses).

    ``kind="inv_log"`` is a smoothed variant, ``w = 1 / log(max(count, e))``: finite, at most
    1 (reached by every class with fewer than 3 positives, zero included) and never
    increasing with the count. Other kinds: ``"inv"`` ``1 / max(count, 1)``, ``"inv_sqrt"``
    ``1 / sqrt(max(count, 1))``, ``"none"`` all ones.

    Use the result as the per-class ``weight`` (or ``pos_weight``) of
    ``torch.nn.BCEWithLogitsLoss``.

    Parameters
    ----------
    counts : array_like, shape (n_classes,)
        Positive recordings per class (>= 0), e.g. ``labels.sum(axis=0)``.
    kind : {"inv_log", "hefei", "inv", "inv_sqrt", "none"}
    normalize : bool, default True
        Divide by the mean so the weights average 1; False returns the raw formula.

    Returns
    -------
    ndarray, float64, shape (n_classes,)
        Mean exactly 1 when ``normalize``; all finite and positive.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array (n_classes,); got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"counts must be finite and >= 0; got {c.tolist()}")
    if kind == "inv_log":
        w = 1.0 / np.log(np.maximum(c, math.e))
    elif kind == "hefei":
        w = 1.0 / np.log(np.maximum(c, HEFEI_MIN_COUNT) + 1e-5)
    elif kind == "inv":
        w = 1.0 / np.maximum(c, 1.0)
    elif kind == "inv_sqrt":
        w = 1.0 / np.sqrt(np.maximum(c, 1.0))
    elif kind == "none":
        w = np.ones_like(c)
    else:
        raise ValueError(f"kind={kind!r} is not valid; accepted: {', '.join(map(repr, _WEIGHT_KINDS))}")
    return w / w.mean() if normalize else w


# ============================================================================ augmentations
def baseline_wander(x, fs_hz: float, rng: np.random.Generator, max_mv: float = 0.2, max_hz: float = 0.5) -> np.ndarray:
    """Add a slow sinusoidal baseline drift (respiration-like).

    One frequency ``f ~ U(min(0.05, max_hz), max_hz)`` Hz and phase ``~ U(0, 2π)`` shared
    by all leads; each lead gets its own amplitude ``~ U(-max_mv, max_mv)`` mV, so
    ``|added| <= max_mv`` everywhere.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    fs_hz : float
        Sampling rate in Hz.
    rng : numpy.random.Generator
    max_mv : float, default 0.2
        Largest drift amplitude in mV (>= 0).
    max_hz : float, default 0.5
        Highest drift frequency in Hz (> 0, below ``fs_hz / 2``).

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = _check_signal(x)
    rng = _check_rng(rng)
    fs = _check_positive(fs_hz, "fs_hz")
    amp = _check_positive(max_mv, "max_mv", allow_zero=True)
    hz = _check_positive(max_hz, "max_hz")
    if hz >= fs / 2:
        raise ValueError(f"max_hz={max_hz!r} must be below the Nyquist frequency fs_hz/2 = {fs / 2}")
    f = rng.uniform(min(0.05, hz), hz)
    phase = rng.uniform(0.0, 2 * np.pi)
    gains = rng.uniform(-amp, amp, size=(a.shape[0], 1))
    t = np.arange(a.shape[1]) / fs
    return (a + gains * np.sin(2 * np.pi * f * t + phase)[None, :]).astype(a.dtype, copy=False)


def gaussian_noise(x, rng: np.random.Generator, sd_mv: float = 0.02) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sd_mv`` mV to every sample.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    sd_mv : float, default 0.02
        Noise standard deviation in mV (>= 0).

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = _check_signal(x)
    rng = _check_rng(rng)
    sd = _check_positive(sd_mv, "sd_mv", allow_zero=True)
    return (a + rng.normal(0.0, sd, size=a.shape)).astype(a.dtype, copy=False)


def amplitude_scale(x, rng: np.random.Generator, low: float = 0.8, high: float = 1.2, *,
                    per_lead: bool = False) -> np.ndarray:
    """Multiply the signal by a random gain ``~ U(low, high)``.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    low, high : float, default 0.8, 1.2
        Gain range, ``0 <= low <= high``.
    per_lead : bool, default False
        ``False``: one gain for the whole recording (keeps lead relations such as
        ``III = II - I``); ``True``: one gain per lead.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = _check_signal(x)
    rng = _check_rng(rng)
    lo = _check_positive(low, "low", allow_zero=True)
    hi = _check_positive(high, "high", allow_zero=True)
    if lo > hi:
        raise ValueError(f"low={low!r} is above high={high!r}; accepted: 0 <= low <= high")
    g = rng.uniform(lo, hi, size=(a.shape[0] if per_lead else 1, 1))
    return (a * g).astype(a.dtype, copy=False)


def time_shift(x, rng: np.random.Generator, max_shift: int, *, mode: str = "circular") -> np.ndarray:
    """Shift all leads together by ``s ~ U{-max_shift, ..., max_shift}`` samples.

    A positive ``s`` moves the signal later in time.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    max_shift : int
        Largest shift in samples (>= 0).
    mode : {"circular", "zero"}, default "circular"
        ``"circular"``: samples pushed off one end re-enter at the other (``np.roll``);
        ``"zero"``: the vacated samples are 0 mV.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = _check_signal(x)
    rng = _check_rng(rng)
    if isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Integral) or max_shift < 0:
        raise ValueError(f"max_shift={max_shift!r} is not valid; accepted: an integer number of samples >= 0")
    if mode not in ("circular", "zero"):
        raise ValueError(f"mode={mode!r} is not valid; accepted: 'circular', 'zero'")
    s = int(rng.integers(-int(max_shift), int(max_shift) + 1))
    if mode == "circular":
        return np.roll(a, s, axis=1)
    out = np.zeros_like(a)
    n = a.shape[1]
    if abs(s) >= n:
        return out
    if s >= 0:
        out[:, s:] = a[:, : n - s]
    else:
        out[:, : n + s] = a[:, -s:]
    return out


def lead_dropout(x, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Set whole leads to 0 mV, each independently with probability ``p``.

    Never drops every lead: when the draw would, one lead chosen at random is kept.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    p : float, default 0.1
        Drop probability per lead, in [0, 1].

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = _check_signal(x)
    rng = _check_rng(rng)
    p = _check_prob(p, "p")
    drop = rng.random(a.shape[0]) < p
    if drop.all():
        drop[int(rng.integers(a.shape[0]))] = False
    out = a.copy()
    out[drop] = 0
    return out


class ECGAugment:
    """Random composition of the ECG augmentations, deterministic given the generator.

    Order: amplitude scale, baseline wander, Gaussian noise, time shift, lead dropout. Each
    step is applied with its own probability; one uniform number is drawn per step whether
    or not it is applied, so a given generator state always yields the same result.

    Parameters
    ----------
    fs_hz : float, default 500
        Sampling rate of the signals (Hz).
    p : float, default 0.5
        Probability of every step whose own probability is not given.
    p_scale, p_wander, p_noise, p_shift, p_dropout : float, optional
        Per-step probabilities (``p_dropout`` defaults to ``p`` as well).
    scale_range : (float, float), default (0.8, 1.2)
    wander_mv, wander_hz : float, default 0.2, 0.5
    noise_sd_mv : float, default 0.02
    max_shift_s : float, default 0.5
        Largest time shift in seconds.
    shift_mode : {"circular", "zero"}, default "circular"
    dropout_p : float, default 0.1
        Per-lead drop probability when the dropout step is applied.
    seed : int, optional
        Seed of the generator used when a call passes no ``rng``.

    Examples
    --------
    >>> aug = ECGAugment(fs_hz=500, p=0.5)
    >>> y = aug(x, np.random.default_rng(0))   # x: (12, 5000) float32 mV
    """

    def __init__(
        self,
        fs_hz: float = 500.0,
        p: float = 0.5,
        *,
        p_scale: float | None = None,
        p_wander: float | None = None,
        p_noise: float | None = None,
        p_shift: float | None = None,
        p_dropout: float | None = None,
        scale_range: tuple[float, float] = (0.8, 1.2),
        wander_mv: float = 0.2,
        wander_hz: float = 0.5,
        noise_sd_mv: float = 0.02,
        max_shift_s: float = 0.5,
        shift_mode: str = "circular",
        dropout_p: float = 0.1,
        seed: int | None = None,
    ):
        self.fs_hz = _check_positive(fs_hz, "fs_hz")
        p = _check_prob(p, "p")
        self.p = {
            name: p if value is None else _check_prob(value, f"p_{name}")
            for name, value in (("scale", p_scale), ("wander", p_wander), ("noise", p_noise),
                                ("shift", p_shift), ("dropout", p_dropout))
        }
        if len(tuple(scale_range)) != 2:
            raise ValueError(f"scale_range={scale_range!r} is not valid; accepted: (low, high)")
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        if not 0 <= self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range={scale_range!r} is not valid; accepted: 0 <= low <= high")
        self.wander_mv = _check_positive(wander_mv, "wander_mv", allow_zero=True)
        self.wander_hz = _check_positive(wander_hz, "wander_hz")
        self.noise_sd_mv = _check_positive(noise_sd_mv, "noise_sd_mv", allow_zero=True)
        self.max_shift = int(round(_check_positive(max_shift_s, "max_shift_s", allow_zero=True) * self.fs_hz))
        if shift_mode not in ("circular", "zero"):
            raise ValueError(f"shift_mode={shift_mode!r} is not valid; accepted: 'circular', 'zero'")
        self.shift_mode = shift_mode
        self.dropout_p = _check_prob(dropout_p, "dropout_p")
        self._rng = np.random.default_rng(seed)

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        """Augment one recording.

        Parameters
        ----------
        x : ndarray, float, shape (n_leads, n_samples)
            Signal in mV (not modified).
        rng : numpy.random.Generator, optional
            Default: the instance's own generator (from ``seed``).

        Returns
        -------
        ndarray, same shape and dtype as ``x``
        """
        out = _check_signal(x).copy()
        rng = self._rng if rng is None else _check_rng(rng)
        u = rng.random(5)
        if u[0] < self.p["scale"]:
            out = amplitude_scale(out, rng, *self.scale_range)
        if u[1] < self.p["wander"]:
            out = baseline_wander(out, self.fs_hz, rng, self.wander_mv, self.wander_hz)
        if u[2] < self.p["noise"]:
            out = gaussian_noise(out, rng, self.noise_sd_mv)
        if u[3] < self.p["shift"]:
            out = time_shift(out, rng, self.max_shift, mode=self.shift_mode)
        if u[4] < self.p["dropout"]:
            out = lead_dropout(out, rng, self.dropout_p)
        return out

    def __repr__(self) -> str:
        return (f"ECGAugment(fs_hz={self.fs_hz}, p={self.p}, scale_range={self.scale_range}, "
                f"wander_mv={self.wander_mv}, wander_hz={self.wander_hz}, noise_sd_mv={self.noise_sd_mv}, "
                f"max_shift={self.max_shift} samples ({self.shift_mode}), dropout_p={self.dropout_p})")


# ============================================================================ R peaks
def _bandpass(x: np.ndarray, fs: float, lo: float, hi: float, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    hi = min(hi, 0.45 * fs)
    sos = butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


def _mwi(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Pan-Tompkins stages on one lead: band-pass 5-15 Hz, squared derivative, 150 ms MWI."""
    bp = _bandpass(x, fs, 5.0, 15.0)
    sq = (np.gradient(bp) * fs) ** 2
    w = max(1, int(round(0.15 * fs)))
    mwi = np.convolve(sq, np.ones(w) / w, mode="same")  # centred window: no delay
    return bp, mwi


def detect_r_peaks(signal, fs_hz: float, *, refractory_s: float = 0.2) -> np.ndarray:
    """R-peak sample indices of one ECG lead (Pan-Tompkins-like).

    Steps: zero-phase Butterworth band-pass 5-15 Hz; squared derivative; 150 ms centred
    moving-window integration (MWI); local maxima of the MWI at least ``refractory_s``
    apart are candidates; a candidate is a QRS when it exceeds the adaptive threshold
    ``NPK + 0.25 (SPK - NPK)`` (running signal/noise peak levels, updated with weight 1/8,
    initialised from the first 2 s) and lies more than ``refractory_s`` after the previous
    QRS; when the gap since the previous QRS exceeds 1.66 x the mean of the last 8 RR
    intervals, the largest skipped candidate above half the threshold is taken (search
    back). Each detection is then moved to the largest absolute deflection of the
    0.5-40 Hz filtered lead within ±80 ms (the R or dominant QRS peak).

    Parameters
    ----------
    signal : array_like, float, shape (n_samples,)
        One lead in mV (lead II is customary); must be finite.
    fs_hz : float
        Sampling rate in Hz (>= 50).
    refractory_s : float, default 0.2
        Minimum RR interval in seconds.

    Returns
    -------
    ndarray, int64, shape (n_beats,)
        Increasing sample indices; empty for flat or too short (< 0.5 s) signals.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"signal must be a 1-D array (n_samples,); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("signal contains NaN or infinite samples; accepted: finite values in mV")
    fs = _check_positive(fs_hz, "fs_hz")
    if fs < 50:
        raise ValueError(f"fs_hz={fs_hz!r} is too low for QRS detection; accepted: >= 50 Hz")
    refr = int(round(_check_positive(refractory_s, "refractory_s") * fs))
    if x.size < max(int(0.5 * fs), 30) or np.ptp(x) == 0:
        return np.zeros(0, dtype=np.int64)
    from scipy.signal import find_peaks

    _, mwi = _mwi(x, fs)
    cand, _ = find_peaks(mwi, distance=max(refr, 1))
    if cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    head = mwi[: int(2 * fs)]
    spk = float(head.max()) / 3.0
    npk = float(head.mean()) / 2.0
    beats: list[int] = []
    for ci, c in enumerate(cand):
        v = float(mwi[c])
        thr = npk + 0.25 * (spk - npk)
        if v > thr and (not beats or c - beats[-1] > refr):
            if len(beats) >= 2:  # search back over a long gap before accepting c
                rr = np.diff(beats[-9:]).mean()
                if c - beats[-1] > 1.66 * rr:
                    gap = cand[(cand > beats[-1] + refr) & (cand < c - refr)]
                    if gap.size:
                        best = gap[np.argmax(mwi[gap])]
                        if mwi[best] > 0.5 * thr:
                            beats.append(int(best))
                            spk = 0.25 * float(mwi[best]) + 0.75 * spk
            beats.append(int(c))
            spk = 0.125 * v + 0.875 * spk
        else:
            npk = 0.125 * v + 0.875 * npk
    raw = _bandpass(x, fs, 0.5, 40.0)
    half = max(1, int(round(0.08 * fs)))
    refined: list[int] = []
    for b in beats:
        lo, hi = max(0, b - half), min(x.size, b + half + 1)
        r = lo + int(np.argmax(np.abs(raw[lo:hi])))
        if refined and r - refined[-1] <= refr:
            if abs(raw[r]) > abs(raw[refined[-1]]):
                refined[-1] = r
            continue
        refined.append(r)
    return np.asarray(refined, dtype=np.int64)


# ============================================================================ features
def ecg_feature_names(n_leads: int = 12, lead_names: Sequence[str] | None = None) -> list[str]:
    """Names of the :func:`ecg_features` vector, in order.

    Parameters
    ----------
    n_leads : int, default 12
    lead_names : sequence of str, optional
        Default: the standard 12-lead names when ``n_leads == 12``, else ``lead0``, ...

    Returns
    -------
    list of str
        10 rhythm features, then per lead three log band powers, QRS peak-to-peak and net
        QRS deflection (``10 + 5 * n_leads`` names).
    """
    if lead_names is None:
        if n_leads == 12:
            from sigvision.loaders.ecg import STANDARD_LEADS

            lead_names = STANDARD_LEADS
        else:
            lead_names = [f"lead{i}" for i in range(n_leads)]
    if len(lead_names) != n_leads:
        raise ValueError(f"lead_names has {len(lead_names)} names for n_leads={n_leads}")
    names = list(_RHYTHM_FEATURES)
    for lead in lead_names:
        names += [f"logpow_{lo:g}-{hi:g}Hz_{lead}" for lo, hi in FEATURE_BANDS_HZ]
        names += [f"qrs_ptp_mv_{lead}", f"qrs_net_mv_{lead}"]
    return names


def ecg_features(signals, fs_hz: float, *, lead: int = 1) -> np.ndarray:
    """Hand-crafted rhythm and morphology features of one recording.

    Parameters
    ----------
    signals : array_like, float, shape (n_leads, n_samples)
        ECG in mV (12 leads in standard order for the default ``lead``); at least 2 s long,
        finite.
    fs_hz : float
        Sampling rate in Hz (>= 100, so the 15-40 Hz band exists).
    lead : int, default 1
        Row used for R-peak detection (1 = lead II in standard order).

    Returns
    -------
    ndarray, float64, shape (10 + 5 * n_leads,)
        Names from :func:`ecg_feature_names`. Rhythm features (from the R peaks of ``lead``,
        :func:`detect_r_peaks`): heart rate (bpm), RR mean / SD / RMSSD (s), pNN50
        (fraction of successive RR differences > 50 ms), RR coefficient of variation,
        irregularity (mean |ΔRR| / mean RR), RR range (s), ``rr_valid`` (1 when at least
        3 beats were found, else 0 and the RR features are 0), and a QRS width proxy (median
        width in s of the integrated-energy peak above half its height). Per lead: log10
        Welch band power (mV², + 1e-10) in 0.5-5, 5-15 and 15-40 Hz, median QRS
        peak-to-peak amplitude and median net QRS deflection (max + min) within ±60 ms of
        each R peak (mV; without beats: the 1st-99th percentile range and 0). Always finite.
    """
    from scipy.signal import welch

    x = _check_signal(signals, "signals").astype(np.float64)
    fs = _check_positive(fs_hz, "fs_hz")
    if fs < 100:
        raise ValueError(f"fs_hz={fs_hz!r} is too low; accepted: >= 100 Hz (band powers reach 40 Hz)")
    n_leads, n = x.shape
    if n < 2 * fs:
        raise ValueError(f"signals has {n} samples ({n / fs:.2f} s at {fs:g} Hz); accepted: at least 2 s")
    if isinstance(lead, bool) or not isinstance(lead, numbers.Integral) or not 0 <= lead < n_leads:
        raise ValueError(f"lead={lead!r} is not valid; accepted: a row index 0..{n_leads - 1}")
    if not np.isfinite(x).all():
        raise ValueError("signals contains NaN or infinite samples; accepted: finite values in mV")

    peaks = detect_r_peaks(x[lead], fs)
    rhythm = np.zeros(len(_RHYTHM_FEATURES))
    if peaks.size >= 3:
        rr = np.diff(peaks) / fs
        drr = np.diff(rr)
        mean = rr.mean()
        rhythm[:9] = [
            60.0 / mean, mean, rr.std(), np.sqrt(np.mean(drr ** 2)),
            np.mean(np.abs(drr) > 0.05), rr.std() / mean, np.mean(np.abs(drr)) / mean,
            rr.max() - rr.min(), 1.0,
        ]
    if peaks.size:
        _, mwi = _mwi(x[lead], fs)
        widths = []
        for b in peaks:
            lo, hi = max(0, b - int(0.25 * fs)), min(n, b + int(0.25 * fs) + 1)
            seg = mwi[lo:hi]
            top = seg.max()
            if top > 0:
                widths.append(np.count_nonzero(seg > 0.5 * top) / fs)
        rhythm[9] = float(np.median(widths)) if widths else 0.0

    f, pxx = welch(x, fs=fs, nperseg=min(n, int(round(2 * fs))), axis=-1)
    df = f[1] - f[0]
    band = np.stack([pxx[:, (f >= lo) & (f < hi)].sum(axis=1) * df for lo, hi in FEATURE_BANDS_HZ], axis=1)
    logpow = np.log10(band + 1e-10)

    filt = _bandpass(x, fs, 0.5, 40.0)
    if peaks.size:
        half = max(1, int(round(0.06 * fs)))
        ptp = np.empty((n_leads, peaks.size))
        net = np.empty((n_leads, peaks.size))
        for i, b in enumerate(peaks):
            seg = filt[:, max(0, b - half): min(n, b + half + 1)]
            ptp[:, i] = seg.max(axis=1) - seg.min(axis=1)
            net[:, i] = seg.max(axis=1) + seg.min(axis=1)
        amp = np.stack([np.median(ptp, axis=1), np.median(net, axis=1)], axis=1)
    else:
        q = np.percentile(filt, [1, 99], axis=1)
        amp = np.stack([q[1] - q[0], np.zeros(n_leads)], axis=1)
    per_lead = np.concatenate([logpow, amp], axis=1).reshape(-1)
    out = np.concatenate([rhythm, per_lead])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


# ============================================================================ baseline
class BaselineClassifier:
    """Classical multi-label baseline: :func:`ecg_features` + one-vs-rest logistic regression.

    RR-interval and band-power features, standardised (``StandardScaler``), then one
    ``LogisticRegression(class_weight="balanced")`` per class: the floor the deep models
    must beat. A class with a single label value in the training data gets a constant
    probability equal to its training prevalence (0 or 1). Deterministic (lbfgs).

    Parameters
    ----------
    C : float, default 1.0
        Inverse L2 regularisation strength.
    max_iter : int, default 2000
    lead : int, default 1
        Row used for R-peak detection (lead II).
    default_fs_hz : float, default 500
        Sampling rate used for arrays given without one.

    Attributes
    ----------
    n_classes_ : int
    prevalence_ : ndarray, shape (n_classes,)
        Training prevalence per class.
    constant_classes_ : ndarray of int
        Columns predicted by their prevalence (single label value in training).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, lead: int = 1, default_fs_hz: float = 500.0):
        self.C = _check_positive(C, "C")
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
            raise ValueError(f"max_iter={max_iter!r} is not valid; accepted: an integer >= 1")
        self.max_iter = int(max_iter)
        self.lead = lead
        self.default_fs_hz = _check_positive(default_fs_hz, "default_fs_hz")
        self._scaler = None
        self._models: list = []

    def features(self, signals, fs_hz=None) -> np.ndarray:
        """Feature matrix of a list of recordings.

        Parameters
        ----------
        signals : sequence
            Each item a ``(n_leads, n_samples)`` mV array or an object with ``signals``
            and ``fs_hz`` attributes (:class:`~sigvision.loaders.base.ECGRecord`).
        fs_hz : float or sequence of float, optional
            Sampling rate(s) of arrays; default: the record's own, else ``default_fs_hz``.

        Returns
        -------
        ndarray, float64, shape (n_recordings, n_features)
        """
        if isinstance(signals, np.ndarray) and signals.ndim == 2:
            raise ValueError("signals must be a list of recordings; got one 2-D array (wrap it in a list)")
        items = list(signals)
        if not items:
            raise ValueError("signals is empty; accepted: a non-empty list of (n_leads, n_samples) arrays")
        if fs_hz is None or isinstance(fs_hz, numbers.Real):
            rates = [fs_hz] * len(items)
        else:
            rates = list(fs_hz)
            if len(rates) != len(items):
                raise ValueError(f"fs_hz has {len(rates)} rates for {len(items)} recordings")
        rows = []
        for item, fs in zip(items, rates):
            if hasattr(item, "signals") and hasattr(item, "fs_hz"):
                sig, rec_fs = item.signals, item.fs_hz
            else:
                sig, rec_fs = item, None
            fs_use = fs if fs is not None else rec_fs if rec_fs is not None else self.default_fs_hz
            rows.append(ecg_features(sig, fs_use, lead=self.lead))
        lengths = {r.size for r in rows}
        if len(lengths) != 1:
            raise ValueError(f"recordings give feature vectors of different lengths {sorted(lengths)} "
                             "(different lead counts); use the same leads for every recording")
        return np.stack(rows)

    def fit(self, signals, labels, fs_hz=None) -> "BaselineClassifier":
        """Fit on recordings and their multi-hot labels.

        Parameters
        ----------
        signals : sequence of arrays or ECGRecord, length n
        labels : array_like of 0/1 or bool, shape (n, n_classes)
        fs_hz : float or sequence of float, optional

        Returns
        -------
        self
        """
        return self.fit_features(self.features(signals, fs_hz), labels)

    def fit_features(self, X, labels) -> "BaselineClassifier":
        """Fit on a precomputed feature matrix ``X`` (n, n_features) and labels (n, n_classes)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        X = _as_scores(X, "X")
        y = _as_binary(labels, "labels")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"{X.shape[0]} feature rows but {y.shape[0]} label rows; they must match")
        self._scaler = StandardScaler().fit(X)
        Z = self._scaler.transform(X)
        self.n_features_ = X.shape[1]
        self.n_classes_ = y.shape[1]
        self.prevalence_ = y.mean(axis=0)
        self._models = []
        constant = []
        for k in range(y.shape[1]):
            if y[:, k].all() or not y[:, k].any():
                self._models.append(None)
                constant.append(k)
                continue
            clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter)
            self._models.append(clf.fit(Z, y[:, k].astype(int)))
        self.constant_classes_ = np.asarray(constant, dtype=int)
        return self

    def predict_proba(self, signals, fs_hz=None) -> np.ndarray:
        """Class probabilities, ndarray float64 of shape (n, n_classes), in [0, 1]."""
        return self.predict_proba_features(self.features(signals, fs_hz))

    def predict_proba_features(self, X) -> np.ndarray:
        """Class probabilities from a precomputed feature matrix ``X`` (n, n_features)."""
        if self._scaler is None:
            raise ValueError("BaselineClassifier is not fitted; call fit(signals, labels) first")
        X = _as_scores(X, "X")
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted on {self.n_features_}")
        Z = self._scaler.transform(X)
        out = np.empty((X.shape[0], self.n_classes_))
        for k, model in enumerate(self._models):
            out[:, k] = self.prevalence_[k] if model is None else model.predict_proba(Z)[:, 1]
        return out
