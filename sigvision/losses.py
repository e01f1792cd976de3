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
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .ecg import HEFEI_MIN_COUNT, class_weights_from_counts
from .errors import ConfigError
from .registry import Registry

__all__ = ["LossSpec", "LOSSES", "make_loss"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LossSpec:
    """A loss builder ``build(tcfg, classes, counts, device) -> nn.Module`` and whether it
    takes multi-hot targets (True) or class indices (False)."""

    multilabel: bool
    build: Callable[..., nn.Module]


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
