"""The PhysioNet/CinC Challenge metric (2021 and 2020): class weights, the scored subset of a
class list, the modified confusion matrix and the normalised Challenge score, on plain
NumPy arrays (labels and outputs ``(n_recordings, n_classes)`` 0/1)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sigvision.loaders.dx import challenge_weights

from ..arraycheck import (
    as_binary,
    check_classes,
    check_same_shape,
    check_weights,
    class_index,
)

#: SNOMED CT code of sinus rhythm, the Challenge's "normal" (inactive) class.
NORMAL_CLASS = "426783006"


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
    lab = as_binary(labels, "labels")
    out = as_binary(outputs, "outputs")
    check_same_shape(lab, out, "labels", "outputs")
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
    lab = as_binary(labels, "labels")
    out = as_binary(outputs, "outputs")
    check_same_shape(lab, out, "labels", "outputs")
    if lab.shape[0] == 0:
        raise ValueError("labels has no recordings (shape (0, C)); the Challenge score needs at least one")
    cls = check_classes(classes, lab.shape[1])
    w = check_weights(weights, lab.shape[1])
    k = class_index(cls, normal_class)
    lw, correct, inactive = _score_parts(lab, w, k)
    return _normalised(_observed(lw, lab, out), correct, inactive)
