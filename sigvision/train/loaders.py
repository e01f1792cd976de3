"""Batches for training and prediction: the sampler that shards rows across ``torchrun`` ranks
(optionally balanced by class), DataLoader construction with worker and prefetch budgets
sized to the machine's memory, and the in-process batches used without workers."""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from ..runtime import (
    epoch_seed,
)
from ..tasks.ecg import (  # noqa: F401  (re-exported)
    binary_class_names,
    challenge_scorable,
    ecg_class_list,
    ecg_targets,
    index_label_codes,
)


class ShardSampler(torch.utils.data.Sampler):
    """Seeded per-epoch permutation, split across ``world`` processes (rank ``r`` takes
    positions r, r+world, ...). Padded by wrapping so every rank gets as many indices.
    With ``weights`` (one per row), each epoch is ``n`` draws with replacement in proportion
    to them instead (``train.sampler: balanced``, :func:`balanced_weights`)."""

    def __init__(self, n: int, *, shuffle: bool, seed: int, rank: int = 0, world: int = 1, weights=None):
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world
        self.epoch = 0
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        if self.weights is not None:  # balanced: n draws with replacement, rare classes more often
            rng = np.random.default_rng(epoch_seed(self.seed, self.epoch, 3))
            order = rng.choice(self.n, size=self.n, replace=True, p=self.weights)
        elif self.shuffle:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).numpy()
        else:
            order = np.arange(self.n)
        total = int(math.ceil(self.n / self.world)) * self.world
        if total > self.n:
            order = np.concatenate([order, order[: total - self.n]])
        return order

    def __iter__(self):
        return iter(self._order()[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return int(math.ceil(self.n / self.world))


def resolve_workers(num_workers: int) -> int:
    """-1 -> from the machine: 0 on <= 2 cores, else half the cores (at most 8); under torchrun
    the cores are shared by the node's processes (``LOCAL_WORLD_SIZE``) first, so 8 ranks on
    a 16-core node take 1 worker each, not 8."""
    if num_workers >= 0:
        return num_workers
    n = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1) or 1))
    return 0 if n <= 2 else min(8, n // 2)


class _InlineBatches:
    """The batches of ``batch_sampler`` fetched in this process, for CPU runs without loader
    workers: what a DataLoader with ``num_workers=0`` and ``batch_size=None`` yields, without
    its per-batch fetcher, conversion and profiler bookkeeping (about 0.1 ms a batch)."""

    def __init__(self, ds, batch_sampler):
        self.dataset, self.batch_sampler = ds, batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        for idx in self.batch_sampler:
            yield self.dataset[idx]


def _ram_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without sysconf
        return 8 * 2**30


def resolve_prefetch(prefetch: int, num_workers: int, batch_bytes: int | None) -> int:
    """-1 -> batches each loader worker keeps ready, from the machine: 4, fewer (at least 1)
    when ``num_workers x prefetch`` queued batches of ``batch_bytes`` would take more than 1/16
    of the RAM (large renders, big batches, many workers); 4 when the size is unknown."""
    if prefetch >= 1:
        return prefetch
    if not batch_bytes or num_workers < 1:
        return 4
    return int(min(4, max(1, _ram_bytes() // 16 // (num_workers * batch_bytes))))


def _batch_bytes(ds, batch_size: int) -> int | None:
    """Bytes of one batch of ``ds`` (from its first row), or None when it cannot tell."""
    try:
        x = ds[[0]][0]
        return int(x.numel() * x.element_size()) * batch_size
    except Exception:  # noqa: BLE001 - any dataset: the size is a hint only
        return None


def make_loader(ds, sampler, batch_size, num_workers, device, drop_last=False, persistent: bool = True,
            prefetch: int = -1):
    """Batches are fetched whole (the dataset takes a list of indices): no per-image collation.
    ``persistent``: workers stay between epochs (the training loader); a loader read once
    (prediction) lets them exit when it is done. ``prefetch``: batches per worker
    (:func:`resolve_prefetch`)."""
    num_workers = resolve_workers(num_workers)
    batches = torch.utils.data.BatchSampler(sampler, batch_size, drop_last)
    if num_workers == 0 and device.type != "cuda":
        return _InlineBatches(ds, batches)
    kw = {}
    if num_workers > 0:
        size = _batch_bytes(ds, batch_size) if prefetch < 1 else None
        kw.update(persistent_workers=persistent, prefetch_factor=resolve_prefetch(prefetch, num_workers, size))
        if isinstance(getattr(ds, "_epoch", None), torch.Tensor):
            ds._epoch.share_memory_()  # the persistent workers read the epoch of set_epoch
    return torch.utils.data.DataLoader(ds, batch_size=None, sampler=batches, num_workers=num_workers,
                                       pin_memory=device.type == "cuda", **kw)
