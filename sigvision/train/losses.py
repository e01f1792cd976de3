"""Training losses by name (``train.loss``).

=======================  ===========================================================  ============
name                     what                                                         targets
=======================  ===========================================================  ============
``ce``                   cross-entropy with ``train.label_smoothing`` (the seed's)    class index
``bce``                  plain binary cross-entropy per class                         multi-hot
``weighted_bce``         BCE with ``pos_weight_c = 1 / log(count_c + e)``, rescaled   multi-hot
                         to mean 1 over the classes with positives (a smoothed Hefei
                         weighting on the positive term only)
``class_weighted_bce``   the Hefei write-up's loss as written: ``w_c = 1 /            multi-hot
                         log(count_c + 1e-5)`` on the whole BCE of class c, raw
                         weights; counts below 2 take the count-2 weight
=======================  ===========================================================  ============

``auto`` is the task's first loss (:attr:`sigvision.tasks.Task.losses`): ``ce`` for sleep and
binary ECG, ``weighted_bce`` for multi-label ECG. Each loss declares whether it trains on
class indices or multi-hot targets; a loss of the other kind is refused naming the ones that fit.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry

__all__ = ["LossSpec", "LOSSES", "make_loss", "class_weights_from_counts", "HEFEI_MIN_COUNT"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LossSpec:
    """A loss builder ``build(tcfg, classes, counts, device) -> nn.Module`` and whether it
    takes multi-hot targets (True) or class indices (False)."""

    multilabel: bool
    build: Callable[..., nn.Module]


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


#: ``train.loss`` values.
LOSSES: Registry[LossSpec] = Registry("loss", "train.loss")


def _register(name: str, multilabel: bool):
    def deco(fn):
        LOSSES.register(name, LossSpec(multilabel, fn))
        return fn
    return deco


@_register("ce", multilabel=False)
def _ce(tcfg, classes, counts, device):
    return nn.CrossEntropyLoss(label_smoothing=tcfg.label_smoothing)


@_register("bce", multilabel=True)
def _bce(tcfg, classes, counts, device):
    return nn.BCEWithLogitsLoss()


@_register("class_weighted_bce", multilabel=True)
def _class_weighted_bce(tcfg, classes, counts, device):
    w = class_weights_from_counts(counts, "hefei", normalize=False)
    few = [str(c) for c, n in zip(classes, counts) if n < HEFEI_MIN_COUNT]
    if few:
        log.warning("train.loss=class_weighted_bce: %d class(es) with fewer than %d positive training records "
                    "(%s) take the weight of a count of %d, 1/log(%d + 1e-5) = %.4f (1/log(count + 1e-5) is 1e5 for "
                    "one record, negative for none)", len(few), HEFEI_MIN_COUNT, ", ".join(few[:5]),
                    HEFEI_MIN_COUNT, HEFEI_MIN_COUNT, w.max())
    return nn.BCEWithLogitsLoss(weight=torch.as_tensor(w, dtype=torch.float32, device=device))


@_register("weighted_bce", multilabel=True)
def _weighted_bce(tcfg, classes, counts, device):
    w = 1.0 / np.log(np.maximum(counts, 1.0) + np.e)
    w = w / w[counts > 0].mean() if (counts > 0).any() else np.ones_like(w)
    return nn.BCEWithLogitsLoss(pos_weight=torch.as_tensor(w, dtype=torch.float32, device=device))


def make_loss(tcfg, spec, train_targets: np.ndarray, device, default: str) -> nn.Module:
    """The loss ``tcfg.loss`` (``auto``: ``default``, the task's) for the task ``spec``
    (:class:`~sigvision.tasks.TaskSpec`), weighted by the training targets where it is."""
    name = tcfg.loss if tcfg.loss != "auto" else default
    loss = LOSSES.get(name)
    if loss.multilabel != spec.multilabel:
        fits = [n for n in LOSSES.available() if LOSSES[n].multilabel == spec.multilabel]
        if spec.multilabel:
            raise ConfigError(f"train.loss={name} needs a single-label task; use {', '.join(fits)} "
                              "for multi-label ECG")
        raise ConfigError(f"train.loss={name} needs a multi-label task; use {', '.join(fits)} (or auto)")
    if spec.multilabel and tcfg.label_smoothing > 0:
        log.warning("train.label_smoothing=%s applies to the cross-entropy of single-label tasks only; the %s "
                    "loss of this multi-label task trains on the plain 0/1 targets (set it to 0 to silence this)",
                    tcfg.label_smoothing, name)
    counts = train_targets.sum(0) if spec.multilabel else None
    return loss.build(tcfg, spec.classes, counts, device)
