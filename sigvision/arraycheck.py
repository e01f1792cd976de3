"""Argument checks shared by the array functions of the metrics, thresholds, augmentations and
baselines: shapes, 0/1 labels, probabilities in [0, 1], class lists, weights, generators and
signals; each raises ``ValueError`` naming the argument."""
from __future__ import annotations

import math
import numbers
from typing import Sequence
import numpy as np


# ============================================================================ validation
def as_2d(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_recordings, n_classes); got shape {arr.shape}")
    return arr


def as_binary(a, name: str) -> np.ndarray:
    """0/1 or bool matrix -> bool matrix; anything else is refused."""
    arr = as_2d(a, name)
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


def as_scores(a, name: str) -> np.ndarray:
    arr = as_2d(a, name)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        i, j = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite; found {arr[i, j]} at [{i}, {j}]")
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{na} has shape {a.shape} but {nb} has shape {b.shape}; they must match")


def check_classes(classes, n_classes: int) -> list[str]:
    if classes is None:
        raise ValueError("classes must be a sequence of class ids (e.g. scored_classes()), got None")
    if isinstance(classes, (str, bytes)):
        raise ValueError(f"classes must be a sequence of class ids, got the single string {classes!r}")
    out = [str(c) for c in classes]
    if len(out) != n_classes:
        raise ValueError(f"classes has {len(out)} ids but the arrays have {n_classes} columns")
    return out


def class_index(classes: Sequence[str], code: str) -> int:
    """Column of ``code``: an exact class id, else the class whose ``|``-joined codes contain it."""
    code = str(code).strip()
    if code in classes:
        return list(classes).index(code)
    parts = set(code.split("|"))
    for i, cls in enumerate(classes):
        if parts & {p.strip() for p in str(cls).split("|")}:
            return i
    raise ValueError(f"normal_class={code!r} is not among the classes; accepted: one of {list(classes)[:30]}")


def check_weights(weights, n_classes: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_classes, n_classes):
        raise ValueError(f"weights must have shape ({n_classes}, {n_classes}) to match the classes; got {w.shape}")
    return w


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)); got {type(rng).__name__}"
        )
    return rng


def check_signal(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_leads, n_samples); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a floating-point array in mV; got dtype {arr.dtype}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one lead and one sample; got shape {arr.shape}")
    return arr


def check_prob(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name}={p!r} is not a probability; accepted: a number in [0, 1]")
    return float(p)


def check_positive(v: float, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{name}={v!r} is not valid; accepted: a finite number")
    if float(v) < 0 or (float(v) == 0 and not allow_zero):
        raise ValueError(f"{name}={v!r} is not valid; accepted: a number {'>= 0' if allow_zero else '> 0'}")
    return float(v)
