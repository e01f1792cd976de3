"""Forward passes of one model over a dataset (validation during training, and inference):
batched, under autocast, sharded across ``torchrun`` ranks and gathered; ECG records read by
windows averaged per record."""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.distributed as dist

from ..runtime import (
    autocast_context,
)
from ..tasks.ecg import (  # noqa: F401  (re-exported)
    binary_class_names,
    challenge_scorable,
    ecg_class_list,
    ecg_targets,
    index_label_codes,
)
from .data import prepare_input
from .loaders import ShardSampler, make_loader

log = logging.getLogger(__name__)


@torch.inference_mode()
def predict_dataset(model, ds, *, batch_size: int, device, amp=None, info=None, num_workers: int = 0,
                    multilabel: bool = False, prefetch: int = -1) -> np.ndarray:
    """Probabilities (n, n_classes) for every row of ``ds``: softmax, or sigmoid per class when
    ``multilabel`` (sharded under torchrun, gathered on every rank). Windowed ECG datasets
    (:class:`SignalRowsDataset`) are predicted window by window and aggregated per row."""
    model.eval()
    world = info.world_size if info is not None else 1
    rank = info.rank if info is not None else 0
    sampler = ShardSampler(len(ds), shuffle=False, seed=0, rank=rank, world=world)
    idx = np.asarray(list(iter(sampler)), dtype=np.int64)
    if getattr(ds, "windowed", False):
        probs = _predict_windows(model, ds, idx, batch_size=batch_size, device=device, amp=amp,
                                 multilabel=multilabel)
        return _gather_predictions(idx, probs, len(ds), world)
    # One output array filled batch by batch, and each batch's tensors freed before the next batch
    # is read. A list of small per-batch results kept alive between the large, short-lived batch
    # buffers pinned the C heap, so freed batch memory could not be reused or returned and the
    # peak RSS grew with the number of batches (nights) predicted.
    probs, pos = None, 0
    for x, _, m in make_loader(ds, sampler, batch_size, num_workers, device, persistent=False, prefetch=prefetch):
        x = prepare_input(x.to(device, non_blocking=True), ds)
        with autocast_context(amp, device):
            logits = model(x, m.to(device) if m.shape[1] else None)
        act = torch.sigmoid(logits.float()) if multilabel else torch.softmax(logits.float(), dim=1)
        if probs is None:
            probs = np.empty((len(idx), act.shape[1]), np.float32)
        probs[pos:pos + len(act)] = act.cpu().numpy()
        pos += len(act)
        del x, m, logits, act
    if probs is None:
        probs = np.zeros((0, 0), np.float32)
    elif pos != len(probs):  # the loader yields exactly the sampler's rows
        raise RuntimeError(f"predicted {pos} rows, expected {len(probs)}")
    return _gather_predictions(idx, probs, len(ds), world)


def _gather_predictions(idx: np.ndarray, probs: np.ndarray, n_rows: int, world: int) -> np.ndarray:
    """This process's rows ``idx`` -> every row, gathered from every rank under torchrun."""
    if world <= 1:
        return probs
    parts = [None] * world
    dist.all_gather_object(parts, (idx, probs))
    n_cls = max((p.shape[1] for _, p in parts if p.size), default=0)
    full = np.zeros((n_rows, n_cls), np.float32)
    for i, p in parts:
        if len(i):
            full[i] = p
    return full


def _predict_windows(model, ds, idx: np.ndarray, *, batch_size: int, device, amp, multilabel: bool) -> np.ndarray:
    """Probabilities of rows ``idx`` of a windowed ECG dataset: every window of a row
    (:meth:`SignalRowsDataset.windows`) through the model, batch by batch, then the mean (or
    the maximum, ``ds.aggregate``) of the window probabilities per row."""
    out, pending, owners = None, [], []

    def flush():
        nonlocal out
        x = torch.from_numpy(np.concatenate([p[0] for p in pending])).to(device)
        m = torch.from_numpy(np.concatenate([p[1] for p in pending])).to(device)
        with autocast_context(amp, device):
            logits = model(x, m if m.shape[1] else None)
        act = (torch.sigmoid(logits.float()) if multilabel else torch.softmax(logits.float(), dim=1)).cpu().numpy()
        if out is None:
            out = np.full((len(idx), act.shape[1]), -np.inf if ds.aggregate == "max" else 0.0, np.float32)
        pos = 0
        for j, n in owners:
            chunk = act[pos:pos + n]
            out[j] = np.maximum(out[j], chunk.max(0)) if ds.aggregate == "max" else out[j] + chunk.sum(0)
            pos += n
        pending.clear()
        owners.clear()

    counts = np.zeros(len(idx), np.int64)
    for j, i in enumerate(idx.tolist()):
        w = ds.windows(i)
        counts[j] = len(w)
        for s0 in range(0, len(w), batch_size):
            part = w[s0:s0 + batch_size]
            pending.append((part, np.repeat(ds.meta[[i]], len(part), axis=0)))
            owners.append((j, len(part)))
            if sum(len(p[0]) for p in pending) >= batch_size:
                flush()
    if pending:
        flush()
    if out is None:
        return np.zeros((0, 0), np.float32)
    if ds.aggregate == "mean":
        out /= counts[:, None]
    if not multilabel:  # the mean of softmax rows sums to one; the maximum is renormalised
        out /= out.sum(1, keepdims=True)
    return out
