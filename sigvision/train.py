"""k-fold training of one model (``sigvision train``; ``mainViT.py`` / ``mainEff.py``).

For each fold: a timm model, Adam/AdamW/AdamP/SGD from timm's optimiser factory
(:mod:`sigvision.optim`; weight decay skipped for 1-D parameters), a learning-rate schedule stepped per iteration (cosine warm restarts by
default; cosine or poly decay, optional linear warmup: :mod:`sigvision.schedule`), label-smoothing
cross-entropy, FMix and cutout, AMP (bf16/fp16 on CUDA, off or bf16 on CPU), gradient
clipping and early stopping on a validation metric. Outputs under
``<weights_dir>/<experiment>/<model>/fold_<k>/``::

    epoch_<e>.pt     checkpoint after each epoch (train.keep_every_epoch)
    last.pt          latest state, used by --resume (model, optimiser, scheduler, scaler)
    best.pt          best validation checkpoint by train.monitor
    metrics.csv      one row per epoch: losses, accuracy, macro-F1, kappa, lr, images/s

Folds are assigned once per prepared dataset by subject (``<prepared>/folds_<k>.csv``),
stratified by stage (ECG: by source database and label) where possible, and reused by every model so out-of-fold predictions
line up. Randomness is derived from (seed, fold, epoch, rank) at the start of every epoch,
so a resumed run ends with the same weights as an uninterrupted one (on CPU).

Under ``torchrun`` each process trains on its shard of every batch (DistributedDataParallel,
nccl on CUDA, gloo on CPU); only rank 0 writes. ``train.batch_size`` is per process.
"""
from __future__ import annotations

import contextlib
import logging
import math
import mmap
import os
import pickle
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .artifacts import LOCK_NAME, atomic_path, disk_full_again, folder_lock, remove_stale_temps, write_csv
from .config import Config, config_hash, config_to_dict, save_config
from .errors import ConfigError, InputFileError
from .loaders.base import STAGES
from .metrics import classification_metrics
from .optim import make_optimizer
from .runtime import (autocast_context, check_compile_toolchain, cleanup_distributed, epoch_seed, init_distributed,
                      resolve_amp, resolve_device, seed_everything)
from .schedule import EpochSchedule
from .tasks import TaskSpec, task_for
from .tasks.ecg import (binary_class_names, challenge_scorable, ecg_class_list,  # noqa: F401  (re-exported)
                        ecg_targets, index_label_codes)

__all__ = ["train", "train_fold", "assign_folds", "load_or_make_folds", "ImageRowsDataset", "ShardSampler",
           "normalize_batch", "batch_to_device", "optimizer_step", "make_fmix",
           "make_optimizer", "predict_dataset", "checkpoint_path", "load_checkpoint_model", "model_dir"]

log = logging.getLogger(__name__)

Progress = Callable[..., Iterable]


def _no_progress(it, total=None, desc=""):
    return it


# ---------------------------------------------------------------------------- task
def task_spec(cfg: Config, index) -> TaskSpec:
    """Classes and targets for the prepared ``index`` under ``cfg.data`` (asks the task)."""
    return task_for(cfg.data).spec(cfg.data, index)


def is_signal_model(name: str) -> bool:
    """sigvision's own registered models take 1-D signals; timm models take images."""
    from .models import MODELS

    return name in MODELS


# ---------------------------------------------------------------------------- folds
def assign_folds(index, n_folds: int, seed: int):
    """One fold per subject (all of a subject's nights together), stratified by sleep stage,
    or for ECGs by source database and label (:func:`ecg_strata`).

    Returns a DataFrame with columns ``record, subject, fold``.
    """
    import pandas as pd
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    subjects = index["subject"].astype(str).to_numpy()
    n_subj = len(set(subjects))
    if n_subj < n_folds:
        raise InputFileError(None, f"{n_subj} subject(s) cannot fill {n_folds} subject-wise folds",
                             f"set train.folds to at most {n_subj} or add recordings" if n_subj >= 2 else
                             "add recordings of a second subject (train.folds must be >= 2)")
    if "label" in index:
        y = index["label"].to_numpy()
    elif "source_db" in index or "labels" in index:  # ECG: one row per record
        y = ecg_strata(index, n_folds)
    else:
        y = np.zeros(len(index), int)
    try:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(len(y)), y, subjects))
    except ValueError:  # a class with fewer members than folds
        splits = list(GroupKFold(n_splits=n_folds).split(np.zeros(len(y)), y, subjects))
    fold_of = {}
    for k, (_, val) in enumerate(splits):
        for s in set(subjects[val]):
            fold_of[s] = k
    recs = index[["record", "subject"]].drop_duplicates("record").copy()
    recs["subject"] = recs["subject"].astype(str)
    recs["fold"] = recs["subject"].map(fold_of).astype(int)
    return recs.reset_index(drop=True)


def ecg_strata(index, n_folds: int) -> np.ndarray:
    """A stratum per ECG record for the folds: its source database and its rarest label (the
    usual stand-in for multi-label stratification; a binary table's one label, e.g. AIWIN's
    normal/abnormal tag, is its own rarest). Strata with fewer records than folds fall back to
    their database alone, so each fold gets its share of every label common enough to split,
    and of every database."""
    import pandas as pd

    n = len(index)
    src = (index["source_db"].astype(str) if "source_db" in index else pd.Series([""] * n)).to_numpy()
    if "labels" in index:
        codes = index_label_codes(index)
        freq = Counter(c for cs in codes for c in set(cs))
        rare = [min(cs, key=lambda c: (freq[c], c)) if cs else "" for cs in codes]
    else:
        rare = [""] * n
    key = pd.Series([f"{a}|{b}" for a, b in zip(src, rare)])
    small = key.map(key.value_counts()).to_numpy() < n_folds
    key[small] = [f"{a}|" for a in src[small]]
    # a database's leftover still too small to split joins that database's largest stratum
    counts = key.value_counts()
    for db in np.unique(src):
        left = f"{db}|"
        others = counts[[k for k in counts.index if k.startswith(left) and k != left]]
        if 0 < counts.get(left, 0) < n_folds and len(others):
            key[key == left] = others.idxmax()
    return key.astype("category").cat.codes.to_numpy()


def load_or_make_folds(prepared_dir: str | os.PathLike, index, n_folds: int, seed: int, *, write: bool = True):
    """Read ``<prepared>/folds_<n_folds>.csv`` or create it once (rank 0 writes)."""
    import pandas as pd

    p = Path(prepared_dir) / f"folds_{n_folds}.csv"
    if p.is_file():
        folds = pd.read_csv(p, dtype={"record": str, "subject": str})
        missing = set(index["record"].astype(str)) - set(folds["record"])
        if missing:
            raise InputFileError(p, f"has no fold for {len(missing)} record(s) (e.g. {sorted(missing)[0]})",
                                 "delete the folds file to reassign folds, knowing earlier models used the old ones")
        return folds
    folds = assign_folds(index, n_folds, seed)
    if write:
        write_csv(p, folds)
    return folds


# ---------------------------------------------------------------------------- data
def meta_rows(rows, meta_features) -> np.ndarray:
    """float32 (len(rows), n_meta): the model's meta features (age, sex) of each index row, as
    :func:`sigvision.models.meta_vector` encodes them; (len(rows), 0) without meta features."""
    if not meta_features:
        return np.zeros((len(rows), 0), np.float32)
    from .models import meta_vector

    ages = rows["age"].tolist() if "age" in rows else [None] * len(rows)
    sexes = rows["sex"].tolist() if "sex" in rows else [None] * len(rows)
    return np.asarray([meta_vector(tuple(meta_features), a, s) for a, s in zip(ages, sexes)], dtype=np.float32)


_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None) if hasattr(mmap.mmap, "madvise") else None


def _open_files_budget() -> int:
    """Cache files a dataset keeps mapped: half the soft open-files limit, 64 to 4,096."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):  # pragma: no cover - platforms without resource
        return 64
    if soft == resource.RLIM_INFINITY:
        return 4096
    return int(min(4096, max(64, soft // 2)))


class ImageRowsDataset(torch.utils.data.Dataset):
    """Rows of a prepared index -> batches of (uint8 images (B, 3, H, W), targets (B,), meta (B, n_meta)).

    Indexed by a *list* of row positions (a whole batch at once, see :func:`_loader`), so a
    batch costs one call and one copy per image, with no per-image collation. Images come from
    the prepared render cache: sleep caches hold (n_epochs, 3, H, W) per record, ECG caches
    (3, H, W) (planar, the model's layout; caches of older versions hold (H, W, 3) images and
    are transposed per batch), read through memory maps whose pages are released from the process every
    ``resident_budget`` bytes (:meth:`_gather`): a map's read pages count in the process's
    resident memory, which otherwise grew by one night of images per night predicted.
    Normalisation happens on the batch tensor (:func:`normalize_batch`), on the GPU when
    there is one.
    """

    kind = "image"

    def __init__(self, prepared_dir, rows, *, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), augment=None,
                 meta_features=(), seed: int = 0, targets=None):
        import json

        self.prepared_dir = Path(prepared_dir)
        meta = json.loads((self.prepared_dir / "prepare.json").read_text())
        self._set_source(meta)
        self.records = rows["record"].astype(str).to_numpy()
        self.epochs = rows["epoch"].to_numpy(dtype=np.int64) if "epoch" in rows else np.zeros(len(rows), np.int64)
        if targets is None:
            targets = rows["label"].to_numpy(dtype=np.int64) if "label" in rows else np.zeros(len(rows), np.int64)
        self.targets = np.asarray(targets)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.augment = augment
        self.seed = seed
        # a tensor, moved to shared memory when loader workers use this dataset (see _loader):
        # workers persist across epochs with copies made once, and must see set_epoch
        self._epoch = torch.zeros((), dtype=torch.int64)
        self.meta = meta_rows(rows, meta_features)
        self._maps: dict[str, np.ndarray] = {}  # record -> its cache file, memory-mapped (see _map)
        # maps kept open (each holds a file descriptor): with 64, a shuffled epoch over 2,000
        # nights reopened a file for almost every image (220 instead of 5 us an image)
        self.max_open_files = _open_files_budget()
        self._copied = 0
        self.resident_budget = 64 * 2**20  # bytes copied out of the maps between page releases

    def _set_source(self, meta: dict) -> None:
        if not meta.get("cache_dir"):
            raise InputFileError(self.prepared_dir, "has no image cache",
                                 "prepare again with prepare.cache_images: true")
        from .runfiles import cache_layout

        self.cache_dir = self.prepared_dir / meta["cache_dir"]
        self.layout = cache_layout(meta)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(int(epoch))

    def _map(self, rec: str) -> np.ndarray:
        """``rec``'s cache file as a read-only array over a memory map, kept open (at most
        ``max_open_files``, least recently used dropped first). A plain ndarray view of the
        ``np.memmap``: indexing it skips the memmap subclass's per-call bookkeeping."""
        arr = self._maps.pop(rec, None)
        if arr is None:
            p = self.cache_dir / f"{rec}.npy"
            if not p.is_file():
                raise InputFileError(p, "cached images missing", "run 'sigvision prepare --overwrite' again")
            try:
                arr = np.asarray(np.load(p, mmap_mode="r"))
            except (ValueError, EOFError) as exc:  # e.g. 'mmap length is greater than file size', an empty file
                raise InputFileError(p, f"truncated or unreadable ({exc or type(exc).__name__})",
                                     "run 'sigvision prepare --overwrite' again") from None
            axis = {"chw": -3, "hwc": -1}.get(getattr(self, "layout", None))  # images only (not signals)
            if axis is not None and (arr.ndim not in (3, 4) or arr.shape[axis] != 3):
                raise InputFileError(p, f"holds images of shape {arr.shape[-3:]}, not the {self.layout!r} "
                                     "layout prepare.json records", "prepare again with --overwrite")
        self._maps[rec] = arr  # (re-)inserted last: the dict's order is the recency order
        while len(self._maps) > max(1, self.max_open_files):
            # dropped, not closed: a batch being gathered may still read it; the map goes with
            # its last reference (closing an mmap under a live array would crash)
            del self._maps[next(iter(self._maps))]
        return arr

    def _gather(self, idx, item_ndim: int, dtype) -> np.ndarray:
        """Items for row positions ``idx``. Per-record files hold either one item
        (ndim == item_ndim) or one per epoch (ndim == item_ndim + 1).

        Items are copied one by one out of read-only memory maps kept open per record (at
        most ``max_open_files``, least recently used dropped first): no system call and one
        copy per item (fancy indexing per record copied twice, through a temporary). Pages
        of a map that have been read count in the process's resident memory while it is
        mapped, so once ``resident_budget`` bytes have been copied since the last time, every
        map is told the pages are not needed (``madvise(MADV_DONTNEED)``): they leave the
        process and stay in the kernel's page cache, and the next read maps them again. The
        resident memory of the image cache stays bounded whatever the number of nights.
        """
        idx = np.asarray(idx, dtype=np.int64)
        recs = self.records[idx].tolist()
        srcs = {rec: self._map(rec) for rec in dict.fromkeys(recs)}
        first = srcs[recs[0]]
        shape = first.shape[1:] if first.ndim == item_ndim + 1 else first.shape
        for rec, src in srcs.items():
            item_shape = src.shape[1:] if src.ndim == item_ndim + 1 else src.shape
            if tuple(item_shape) != tuple(shape):
                raise InputFileError(self.cache_dir / f"{rec}.npy", f"holds items of shape {tuple(item_shape)}, "
                                     f"other records {tuple(shape)}", "prepare again with --overwrite")
        out = np.empty((len(idx),) + tuple(shape), dtype=dtype)
        for i, (rec, e) in enumerate(zip(recs, self.epochs[idx].tolist())):
            src = srcs[rec]
            if src.ndim == item_ndim:
                out[i] = src
            elif 0 <= e < src.shape[0]:
                out[i] = src[e]
            else:
                raise IndexError(f"epoch {e} out of range for record {rec} ({src.shape[0]} epochs)")
        self._copied += out.nbytes
        if self._copied > self.resident_budget:
            self._release_pages()
        return out

    def _release_pages(self) -> None:
        """Drop the mapped cache pages from this process (they stay in the page cache)."""
        self._copied = 0
        if _MADV_DONTNEED is None:  # pragma: no cover - platforms without madvise
            return
        for arr in self._maps.values():
            base = arr.base
            while base is not None and not isinstance(base, mmap.mmap):
                base = getattr(base, "base", None)
            if base is not None:
                base.madvise(_MADV_DONTNEED)

    def close(self) -> None:
        """Drop the memory maps of the cache files (each unmaps with its last reference)."""
        self._maps = {}

    def __getstate__(self):  # maps are per process: a pickled copy (a spawned worker) opens its own
        state = dict(self.__dict__)
        state["_maps"], state["_copied"] = {}, 0
        return state

    def images(self, idx) -> np.ndarray:
        """uint8 (len(idx), 3, H, W) for row positions ``idx``."""
        imgs = self._gather(idx, 3, np.uint8)
        return imgs if self.layout == "chw" else np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))

    def image(self, i: int) -> np.ndarray:
        return self.images([i])[0]

    def __getitem__(self, idx):
        single = np.isscalar(idx)
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        imgs = self.images(idx)
        if isinstance(self.augment, BatchCutout):
            imgs = self.augment(imgs, epoch_seed(self.seed, self.epoch, int(idx[0]), len(idx)))
        elif self.augment is not None:  # per image, on (H, W, 3) views
            for j, i in enumerate(idx):
                img = np.ascontiguousarray(imgs[j].transpose(1, 2, 0))
                imgs[j] = self.augment(img, epoch_seed(self.seed, self.epoch, int(i))).transpose(2, 0, 1)
        x, y, m = torch.from_numpy(imgs), torch.from_numpy(self.targets[idx]), torch.from_numpy(self.meta[idx])
        return (x[0], y[0], m[0]) if single else (x, y, m)


class SignalRowsDataset(ImageRowsDataset):
    """Rows of a prepared index -> batches of float32 signals (B, n_channels, n_samples).

    Reads ``<prepared>/signals/<record>.npy`` (sleep: (n_epochs, C, S) µV, scaled by 1/100;
    ECG: (C, L) mV). ``augment(x (C, L), rng) -> x`` is applied per sample when given.

    ECG folders prepared with ``data.ecg_long_records: windows`` hold whole records of
    different lengths: a batch then holds one ``ecg_length_s`` window per row, drawn at random
    per (seed, epoch, row) when ``random_windows`` (training), else the centre window;
    :func:`predict_dataset` predicts every window of a row instead (:meth:`windows`) and
    aggregates them (``data.ecg_window_aggregate``).
    """

    kind = "signal"

    def __init__(self, prepared_dir, rows, *, random_windows: bool = False, **kw):
        super().__init__(prepared_dir, rows, **kw)
        self.random_windows = bool(random_windows)

    def _set_source(self, meta: dict) -> None:
        self.cache_dir = self.prepared_dir / "signals"
        if not self.cache_dir.is_dir():
            raise InputFileError(self.prepared_dir, "has no saved signals",
                                 "prepare again with prepare.save_signals: true")
        d = meta["config"]["data"]
        self.scale = task_for(d).signal_scale
        self.window = None  # samples per window of whole ECG records; None: fixed-length items
        if task_for(d).signal_kind == "ecg" and d.get("ecg_long_records", "crop") == "windows":
            self.window = int(round(float(d["ecg_length_s"]) * float(d["fs_hz"])))
            self.aggregate = d.get("ecg_window_aggregate", "mean")

    @property
    def windowed(self) -> bool:
        return self.window is not None

    def images(self, idx) -> np.ndarray:
        """float32 (len(idx), n_channels, n_samples) signals for row positions ``idx``."""
        if self.window is None:
            return self._gather(idx, 2, np.float32) * self.scale
        idx = np.asarray(idx, dtype=np.int64)
        out = None
        for j, i in enumerate(idx.tolist()):
            rec = self._map(str(self.records[i]))
            n = rec.shape[-1]
            if n < self.window:
                raise InputFileError(self.cache_dir / f"{self.records[i]}.npy", f"holds {n} samples, fewer than one "
                                     f"window of {self.window}", "prepare again with --overwrite")
            if self.random_windows:
                start = int(np.random.default_rng(epoch_seed(self.seed, self.epoch, i, 11)).integers(0, n - self.window + 1))
            else:
                start = (n - self.window) // 2
            if out is None:
                out = np.empty((len(idx), rec.shape[0], self.window), np.float32)
            out[j] = rec[:, start:start + self.window]
        return out if out is not None else np.zeros((0, 0, self.window), np.float32)

    def windows(self, i: int) -> np.ndarray:
        """Every window of row ``i`` for prediction: (n_windows, C, window) float32, starting
        every half window, the last one ending at the record's end (a record of one window
        length gives one)."""
        rec = self._map(str(self.records[i]))
        n, w = rec.shape[-1], self.window
        starts = list(range(0, max(n - w, 0) + 1, max(w // 2, 1)))
        if starts[-1] != n - w:
            starts.append(n - w)
        return np.stack([np.asarray(rec[:, s:s + w], dtype=np.float32) for s in starts])

    def __getitem__(self, idx):
        single = np.isscalar(idx)
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        x = self.images(idx)
        if self.augment is not None:
            for j, i in enumerate(idx):
                x[j] = self.augment(x[j], np.random.default_rng(epoch_seed(self.seed, self.epoch, int(i))))
        x, y, m = torch.from_numpy(x), torch.from_numpy(self.targets[idx]), torch.from_numpy(self.meta[idx])
        return (x[0], y[0], m[0]) if single else (x, y, m)


def balanced_weights(targets: np.ndarray, multilabel: bool) -> np.ndarray:
    """Sampling weight per training row for ``train.sampler: balanced``: ``1 / count`` of its
    class (single-label), or of its rarest positive class (multi-label; a row without any
    positive class counts as one more class). Every class is then drawn about equally often."""
    y = np.asarray(targets)
    if not multilabel:
        counts = np.bincount(y.astype(np.int64))
        return 1.0 / counts[y.astype(np.int64)]
    pos = y > 0.5
    counts = pos.sum(0).astype(np.float64)
    none = ~pos.any(1)
    w = np.where(pos, 1.0 / np.maximum(counts, 1), 0.0).max(1)
    w[none] = 1.0 / max(int(none.sum()), 1)
    return w


def make_dataset(kind: str, prepared_dir, rows, **kw) -> ImageRowsDataset:
    return (SignalRowsDataset if kind == "signal" else ImageRowsDataset)(prepared_dir, rows, **kw)


def _prepare_input(x: torch.Tensor, ds, *, channels_last: bool = False) -> torch.Tensor:
    """Device batch -> model input: normalised images, or signals as they are."""
    return normalize_batch(x, ds.mean, ds.std, channels_last=channels_last) if ds.kind == "image" else x


def normalize_batch(x_uint8: torch.Tensor, mean, std, *, dtype=torch.float32, channels_last: bool = False) -> torch.Tensor:
    """(B, 3, H, W) uint8 (any strides: a permuted (B, H, W, 3) batch too) -> (B, 3, H, W)
    normalised floats: x * (1/(255 std)) - mean/std.

    One conversion straight into the model's memory layout (contiguous NCHW, or channels-last
    with ``channels_last``), then an in-place multiply and subtract. Converting into the final
    layout first matters on CPU: the per-channel broadcast over a contiguous tensor is about
    10x cheaper than over a channels-last one, and no second copy is needed for the model. From
    a planar batch (the render cache's layout) the conversion is a straight copy, about 5x
    cheaper on CPU than from (B, H, W, 3), which needs a transposition.
    """
    if x_uint8.ndim != 4 or x_uint8.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) image batch, got shape {tuple(x_uint8.shape)}")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = x_uint8.to(dtype=dtype, memory_format=fmt)
    inv = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=dtype, device=x.device).view(1, 3, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], dtype=dtype, device=x.device).view(1, 3, 1, 1)
    return x.mul_(inv).sub_(shift)


class SeededAugment:
    """Apply an albumentations pipeline with a seed per sample, so augmentations depend on
    (seed, epoch, sample) only: not on worker scheduling, batch order or resumes."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def __call__(self, img: np.ndarray, seed: int) -> np.ndarray:
        self.pipeline.set_random_seed(seed)
        return self.pipeline(image=img)["image"]


class BatchCutout:
    """Vectorised Cutout and CoarseDropout for a planar uint8 batch (B, 3, H, W): the numpy backend
    (``train.cutout_backend: numpy``, the default) of the albumentations pipeline of
    :func:`sigvision.augment.build_image_augment`, with the same distributions:

    * Cutout: with probability ``p`` per image, exactly ``holes`` squares of side
      ``int(size_frac x side)`` (at least 1 px);
    * CoarseDropout: with probability ``coarse_p`` per image, a number of holes drawn
      uniformly from ``coarse_holes_range`` (inclusive), each with height and width drawn
      uniformly from ``coarse_size_range`` x the side (truncated, at least 1 px).

    Holes lie wholly inside the image and cover every channel, filled with ``fill``. About 20x cheaper on CPU
    than the albumentations pipeline (one generator per batch instead of a seeded pipeline
    call per image); randomness from (seed, epoch, first index of the batch), so batches are
    reproducible whatever the loader's worker count.
    """

    def __init__(self, p: float, holes: int, size_frac: float, fill: int = 0, *, coarse_p: float = 0.0,
                 coarse_holes_range=(1, 8), coarse_size_range=(0.02, 0.1)):
        self.p, self.holes, self.size_frac, self.fill = float(p), int(holes), float(size_frac), int(fill)
        self.coarse_p = float(coarse_p)
        self.coarse_holes_range = (int(coarse_holes_range[0]), int(coarse_holes_range[1]))
        self.coarse_size_range = (float(coarse_size_range[0]), float(coarse_size_range[1]))

    def _fill(self, imgs, hit, ys, xs, hs, ws) -> None:
        for k, i in enumerate(hit):
            img = imgs[i]
            for y, x, hh, ww in zip(ys[k], xs[k], hs[k], ws[k]):
                img[:, y:y + hh, x:x + ww] = self.fill

    def __call__(self, imgs: np.ndarray, seed: int) -> np.ndarray:
        if imgs.ndim != 4 or imgs.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) image batch, got shape {imgs.shape}")
        b, _, h, w = imgs.shape
        rng = np.random.default_rng(seed)
        if self.p > 0:
            hit = np.flatnonzero(rng.random(b) < self.p)
            hh, ww = max(1, int(h * self.size_frac)), max(1, int(w * self.size_frac))
            shape = (len(hit), self.holes)
            ys, xs = rng.integers(0, h - hh + 1, shape), rng.integers(0, w - ww + 1, shape)
            if len(hit):
                # equal-sized holes: a view whose element [b, y, x] is the 3 x hh x ww window at
                # (y, x) of image b; one fancy-indexed assignment fills every hole (5x cheaper
                # than a loop)
                sb, sc, sy, sx = imgs.strides
                windows = np.lib.stride_tricks.as_strided(
                    imgs, (b, h - hh + 1, w - ww + 1, 3, hh, ww), (sb, sy, sx, sc, sy, sx))
                windows[np.repeat(hit, self.holes), ys.ravel(), xs.ravel()] = self.fill
        if self.coarse_p > 0:
            hit = np.flatnonzero(rng.random(b) < self.coarse_p)
            lo, hi = self.coarse_holes_range
            n_holes = rng.integers(lo, hi + 1, len(hit))
            shape = (len(hit), hi)  # draw for the most holes, use the first n_holes of each row
            hs = np.maximum(1, (h * rng.uniform(*self.coarse_size_range, shape)).astype(np.int64))
            ws = np.maximum(1, (w * rng.uniform(*self.coarse_size_range, shape)).astype(np.int64))
            ys, xs = rng.integers(0, h - hs + 1), rng.integers(0, w - ws + 1)
            self._fill(imgs, hit, [y[:n] for y, n in zip(ys, n_holes)], xs, hs, ws)
        return imgs


def image_augment(tcfg):
    """The training image augmentation of ``train.*`` (Cutout, then CoarseDropout), or None
    when both are off: :class:`BatchCutout` (numpy backend) or the seeded albumentations
    pipeline (``cutout_backend: albumentations``, the seed write-up's package)."""
    if tcfg.cutout_p == 0 and tcfg.coarse_dropout_p == 0:
        return None
    from .augment import build_image_augment

    if tcfg.cutout_backend == "numpy":
        return BatchCutout(tcfg.cutout_p, tcfg.cutout_holes, tcfg.cutout_size_frac, coarse_p=tcfg.coarse_dropout_p,
                           coarse_holes_range=tcfg.coarse_holes_range, coarse_size_range=tcfg.coarse_size_range)
    return SeededAugment(build_image_augment(
        cutout_p=tcfg.cutout_p, cutout_holes=tcfg.cutout_holes, cutout_size_frac=tcfg.cutout_size_frac,
        coarse_dropout=tcfg.coarse_dropout_p > 0, coarse_p=tcfg.coarse_dropout_p,
        coarse_holes_range=tuple(tcfg.coarse_holes_range), coarse_size_range=tuple(tcfg.coarse_size_range)))


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


# ---------------------------------------------------------------------------- paths
def model_dir(cfg: Config) -> Path:
    return cfg.run_path / cfg.model.key


def checkpoint_path(cfg: Config, fold: int, which: str) -> Path:
    """``which`` is ``best``, ``last`` or an epoch number."""
    d = model_dir(cfg) / f"fold_{fold}"
    return d / (f"epoch_{int(which)}.pt" if str(which).isdigit() else f"{which}.pt")


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def model_config_hash(cfg: Config) -> str:
    """The hash of the settings a checkpoint depends on (data, render, model): written into
    every checkpoint by training, compared by :func:`check_checkpoint_agrees` when one is loaded."""
    return config_hash(cfg, ("data", "render", "model"))


def _model_meta(cfg: Config, classes, mean, std, img_size) -> dict:
    return {"model": cfg.model.name, "classes": list(classes), "meta_features": list(cfg.model.meta_features),
            "mean": list(mean), "std": list(std), "img_size": img_size,
            "config_hash": model_config_hash(cfg), "config": config_to_dict(cfg)}


def _model_img_size(height: int, width: int):
    """The ``img_size`` of a ViT-like model for rendered images: the side when square, else
    (height, width) (a square model refuses wider images: "Input width ... doesn't match")."""
    return int(height) if int(height) == int(width) else (int(height), int(width))


def load_checkpoint_model(path: str | os.PathLike, device="cpu"):
    """Rebuild a trained model from a checkpoint: ``(model, meta)``; ``meta["epoch"]`` is the
    epoch the checkpoint was saved after."""
    from .config import ModelConfig
    from .models import build_model

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "checkpoint not found", "train the model first or pick another infer.checkpoint")
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise InputFileError(path, f"cannot read checkpoint ({type(exc).__name__})",
                             "the file is truncated or corrupt: retrain or resume this fold") from None
    meta = {**ck["meta"], "epoch": int(ck["epoch"])}
    mcfg = ModelConfig(**{**meta["config"]["model"], "pretrained": False, "pretrained_file": "",
                          "meta_features": tuple(meta["meta_features"])})
    width = ((meta.get("config") or {}).get("render") or {}).get("width", meta["img_size"])
    model = build_model(mcfg, len(meta["classes"]), img_size=_model_img_size(meta["img_size"], width),
                        in_chans=meta.get("in_chans", 3))
    model.load_state_dict(ck["model"])
    return model.to(device).eval(), meta


def check_checkpoint_agrees(path: str | os.PathLike, meta: dict, *, config_hash: str | None = None,
                            classes: Sequence[str] | None = None) -> list[str]:
    """Refuse a loaded checkpoint that does not belong with the others of an ensemble.

    ``config_hash``: the hash the checkpoint must have been trained with
    (:func:`model_config_hash` of its model's config); ``classes``:
    the class order every other model and fold of the ensemble predicts (None for the first).
    Returns the checkpoint's classes. Every path that averages folds and blends models (infer,
    predict, ``stage()``) calls it for each checkpoint it loads.
    """
    if config_hash is not None and meta.get("config_hash") != config_hash:
        raise InputFileError(path, "was trained with different data/render/model settings than this config",
                             "use the config the model was trained with")
    got = [str(c) for c in meta["classes"]]
    if classes is not None and got != [str(c) for c in classes]:
        raise InputFileError(path, f"predicts the classes {got}, the other models of this ensemble "
                             f"{list(classes)} (order matters)",
                             "blend only models trained on the same labels, or retrain this one")
    return got


# ---------------------------------------------------------------------------- loops
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


def _loader(ds, sampler, batch_size, num_workers, device, drop_last=False, persistent: bool = True,
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
    for x, _, m in _loader(ds, sampler, batch_size, num_workers, device, persistent=False, prefetch=prefetch):
        x = _prepare_input(x.to(device, non_blocking=True), ds)
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
    import torch.distributed as dist

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


def make_fmix(tcfg):
    """The FMix of ``train.fmix_*`` for image batches, or None when ``train.fmix_p`` is 0."""
    from .augment import FMix

    if tcfg.fmix_p <= 0:
        return None
    return FMix(alpha=tcfg.fmix_alpha, decay_power=tcfg.fmix_decay_power, max_soft=tcfg.fmix_max_soft,
                p=tcfg.fmix_p)


def batch_to_device(batch, ds, device, *, channels_last: bool = False, fmix=None, rng=None):
    """A loader batch (x, y, meta) -> ``(x, y, meta, mix)`` on ``device``: model input
    (normalised images, or signals as they are), targets, the meta features (None when there
    are none), and ``mix = (perm, lam)`` when ``fmix`` mixed the batch (drawn from ``rng``),
    else None.

    FMix with a hard mask (the default) mixes the uint8 images before they are normalised:
    the result is the same as mixing the normalised images (the mask selects pixels, and
    normalisation is per pixel) for a quarter of the memory traffic, and normalisation, the
    last step, leaves the batch in the model's memory layout. A soft mask mixes the
    normalised floats. The meta features are mixed with the targets' ``lam``: a mixed input
    keeps no record's age/sex whole while its target is lam-weighted.
    """
    x, y, m = batch
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    meta = m.to(device, non_blocking=True) if m.shape[1] else None
    if fmix is None:
        return _prepare_input(x, ds, channels_last=channels_last), y, meta, None
    if x.dtype == torch.uint8 and fmix.max_soft == 0:
        x, perm, lam = fmix(x, rng)
        x = _prepare_input(x, ds, channels_last=channels_last)
    else:
        x, perm, lam = fmix(_prepare_input(x, ds, channels_last=channels_last), rng)
        if channels_last:  # the mixed batch comes in the gathered copy's layout
            x = x.contiguous(memory_format=torch.channels_last)
    if meta is not None and lam < 1.0:
        meta = torch.lerp(meta[perm], meta, lam)
    return x, y, meta, (perm, lam)


def optimizer_step(model, x, y, meta, opt, loss_fn, *, mix=None, amp=None, scaler=None,
                   grad_clip_norm: float = 0.0) -> torch.Tensor:
    """One training step on a device batch (:func:`batch_to_device`): forward under autocast,
    loss (FMix's mixed loss when ``mix = (perm, lam)`` is given), backward (scaled with an
    fp16 ``scaler``), optional gradient clipping, optimiser step. Returns the loss. The
    trainer's step, shared with the throughput benchmark so that it times exactly what
    training runs."""
    from .augment import mixed_loss

    with autocast_context(amp, x.device):
        logits = model(x, meta)
        loss = mixed_loss(loss_fn, logits.float(), y, *mix) if mix is not None else loss_fn(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
    else:
        loss.backward()
    if grad_clip_norm > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    return loss


def _train_one_epoch(model, loader, opt, sched, scaler, loss_fn, fmix, tcfg, device, amp, rng, step0,
                     steps_per_epoch, progress, desc, ds):
    model.train()
    tot, n_seen, t0 = 0.0, 0, time.perf_counter()
    bar = progress(loader, total=min(len(loader), tcfg.max_steps_per_epoch or len(loader)), desc=desc)
    for step, batch in enumerate(bar):
        if tcfg.max_steps_per_epoch and step >= tcfg.max_steps_per_epoch:
            break
        x, y, meta, mix = batch_to_device(batch, ds, device, channels_last=tcfg.channels_last, fmix=fmix, rng=rng)
        loss = optimizer_step(model, x, y, meta, opt, loss_fn, mix=mix, amp=amp, scaler=scaler,
                              grad_clip_norm=tcfg.grad_clip_norm)
        if sched is not None:
            sched.step((step0 + step + 1) / steps_per_epoch)
        tot += float(loss.detach()) * x.shape[0]
        n_seen += x.shape[0]
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{tot / n_seen:.3f}", img_s=f"{n_seen / (time.perf_counter() - t0):.1f}")
    dt = time.perf_counter() - t0
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        # the job's loss and images/s, not rank 0's shard's (metrics.csv is written by rank 0)
        t = torch.tensor([tot, n_seen], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        tot, n_seen = float(t[0]), float(t[1])
    return tot / max(n_seen, 1), n_seen / max(dt, 1e-9), dt


def _epoch_metrics(spec: TaskSpec, y: np.ndarray, probs: np.ndarray) -> dict:
    """Validation metrics: single-label (accuracy, macro-F1, kappa; AUROC of the second class
    for two classes) or multi-label (macro-F1 at 0.5, macro-AUROC over classes with both
    values, the Challenge score over the classes ``spec.challenge`` scores when its normal
    class is among them)."""
    from sklearn.metrics import f1_score, roc_auc_score

    if not spec.multilabel:
        m = classification_metrics(y, probs.argmax(1), len(spec.classes), [str(c) for c in spec.classes])
        out = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "kappa": m["kappa"]}
        if len(spec.classes) == 2:
            out["auroc"] = float(roc_auc_score(y, probs[:, 1])) if 0 < np.sum(y == 1) < len(y) else float("nan")
        return out
    pred = probs >= 0.5
    have = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    auroc = float(np.mean([roc_auc_score(y[:, j], probs[:, j]) for j in have])) if have else float("nan")
    present = [j for j in range(y.shape[1]) if y[:, j].any() or pred[:, j].any()]
    f1 = float(f1_score(y[:, present], pred[:, present], average="macro", zero_division=0)) if present else float("nan")
    out = {"accuracy": float((pred == (y > 0.5)).all(1).mean()), "macro_f1": f1, "auroc": auroc}
    if challenge_scorable(spec):
        from .ecg import multilabel_metrics

        out["challenge"] = float(multilabel_metrics(y > 0.5, probs, None, spec.classes, outputs=pred,
                                                    challenge=spec.challenge)["challenge_score"])
    return out


def _monitor(tcfg, spec: TaskSpec, task) -> str:
    return tcfg.monitor if tcfg.monitor != "auto" else task.default_monitor(spec)


def _loss_fn(tcfg, spec: TaskSpec, train_targets: np.ndarray, device):
    kind = tcfg.loss if tcfg.loss != "auto" else ("weighted_bce" if spec.multilabel else "ce")  # the task's default
    if kind == "ce":
        if spec.multilabel:
            raise ConfigError("train.loss=ce needs a single-label task; use bce, weighted_bce or class_weighted_bce "
                              "for multi-label ECG")
        return nn.CrossEntropyLoss(label_smoothing=tcfg.label_smoothing)
    if not spec.multilabel:
        raise ConfigError(f"train.loss={kind} needs a multi-label task; use ce (or auto)")
    if tcfg.label_smoothing > 0:
        log.warning("train.label_smoothing=%s applies to the cross-entropy of single-label tasks only; the %s "
                    "loss of this multi-label task trains on the plain 0/1 targets (set it to 0 to silence this)",
                    tcfg.label_smoothing, kind)
    if kind == "bce":
        return nn.BCEWithLogitsLoss()
    counts = train_targets.sum(0)
    if kind == "class_weighted_bce":
        # the Hefei write-up's loss as written: w_c = 1 / log(count_c + 1e-5) on the whole BCE
        # of class c (both terms), raw weights; counts below 2 take the count-2 weight
        from .ecg import HEFEI_MIN_COUNT, class_weights_from_counts

        w = class_weights_from_counts(counts, "hefei", normalize=False)
        few = [str(c) for c, n in zip(spec.classes, counts) if n < HEFEI_MIN_COUNT]
        if few:
            log.warning("train.loss=class_weighted_bce: %d class(es) with fewer than %d positive training records "
                        "(%s) take the weight of a count of %d, 1/log(%d + 1e-5) = %.4f (1/log(count + 1e-5) is 1e5 for "
                        "one record, negative for none)", len(few), HEFEI_MIN_COUNT, ", ".join(few[:5]),
                        HEFEI_MIN_COUNT, HEFEI_MIN_COUNT, w.max())
        return nn.BCEWithLogitsLoss(weight=torch.as_tensor(w, dtype=torch.float32, device=device))
    # weighted_bce: a smoothed variant of the Hefei weighting on the positive term only,
    # pos_weight_c = 1 / log(count_c + e), rescaled to mean 1 over the classes with positives
    w = 1.0 / np.log(np.maximum(counts, 1.0) + np.e)
    w = w / w[counts > 0].mean() if (counts > 0).any() else np.ones_like(w)
    return nn.BCEWithLogitsLoss(pos_weight=torch.as_tensor(w, dtype=torch.float32, device=device))


def train_fold(cfg: Config, fold: int, index, folds, *, resume: bool = False, progress: Progress | None = None,
               spec: TaskSpec | None = None, epoch_callback=None, _stop_after_epoch: int | None = None) -> dict:
    """Train one fold; returns ``{"best": metric, "best_epoch": e, "epochs_run": n}``.

    ``epoch_callback(epoch, score)`` is called after each epoch with the monitored validation
    score (hyper-parameter search uses it to prune); an exception it raises stops the fold.
    """
    import pandas as pd
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from .models import build_model

    progress = progress or _no_progress
    tcfg = cfg.train
    device = resolve_device(tcfg.device)
    info = init_distributed(device)
    amp = resolve_amp(tcfg.amp, device)
    spec = spec or task_spec(cfg, index)
    classes = list(spec.classes)
    if tcfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
    kind = "signal" if is_signal_model(cfg.model.name) else "image"
    fold_of = dict(zip(folds["record"].astype(str), folds["fold"]))
    in_val = (index["record"].astype(str).map(fold_of) == fold).to_numpy()
    tr_rows, va_rows = index[~in_val].reset_index(drop=True), index[in_val].reset_index(drop=True)
    tr_y, va_y = spec.targets[~in_val], spec.targets[in_val]
    if len(tr_rows) == 0 or len(va_rows) == 0:
        raise InputFileError(None, f"fold {fold} has an empty training or validation set",
                             "use fewer folds or more subjects")
    monitor = _monitor(tcfg, spec, task_for(cfg.data))
    if monitor != "loss":  # refuse a metric this task lacks before an epoch is spent
        n_cls = len(classes)
        known = _epoch_metrics(spec, va_y, np.full((len(va_y), n_cls), 1.0 / n_cls, np.float32))
        if monitor not in known:
            raise ConfigError(f"train.monitor={tcfg.monitor!r} is not computed for this task; use one of "
                              f"{', '.join(list(known) + ['loss'])}")
    out = model_dir(cfg) / f"fold_{fold}"
    seed_everything(epoch_seed(cfg.seed, fold), 0)  # same initial weights on every rank
    img_size = int(cfg.render.height)
    in_chans = len(task_for(cfg.data).input_channels(cfg.data)) if kind == "signal" else 3
    model = build_model(cfg.model, len(classes), img_size=_model_img_size(img_size, cfg.render.width),
                        in_chans=in_chans).to(device)
    if tcfg.channels_last and kind == "image":
        model = model.to(memory_format=torch.channels_last)
    if kind == "image":
        import timm.data

        dcfg = timm.data.resolve_data_config({}, model=model.backbone)
        mean, std = tuple(dcfg["mean"]), tuple(dcfg["std"])
        aug = image_augment(tcfg)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        aug = _signal_augment(cfg)
    common = {"mean": mean, "std": std, "meta_features": cfg.model.meta_features}
    ds_tr = make_dataset(kind, cfg.prepared_path, tr_rows, augment=aug, seed=epoch_seed(cfg.seed, fold, 1),
                         targets=tr_y, **common, **({"random_windows": True} if kind == "signal" else {}))
    ds_va = make_dataset(kind, cfg.prepared_path, va_rows, targets=va_y, **common)
    if getattr(model, "classical", False):
        meta = {**_model_meta(cfg, classes, mean, std, img_size), "multilabel": spec.multilabel, "input": kind,
                "in_chans": in_chans}
        return _fit_classical_fold(cfg, fold, model, ds_tr, ds_va, spec, meta, out, resume=resume, info=info,
                                   device=device, monitor=monitor)
    sampler = ShardSampler(len(ds_tr), shuffle=True, seed=epoch_seed(cfg.seed, fold, 2), rank=info.rank,
                           world=info.world_size,
                           weights=balanced_weights(tr_y, spec.multilabel) if tcfg.sampler == "balanced" else None)
    # a last batch of one image fails in batch norm over a 1x1 map (small renders, CNNs): drop it
    loader = _loader(ds_tr, sampler, tcfg.batch_size, tcfg.num_workers, device,
                     drop_last=tcfg.batch_size > 1 and len(sampler) % tcfg.batch_size == 1,
                     prefetch=tcfg.prefetch_factor)
    steps_per_epoch = min(len(loader), tcfg.max_steps_per_epoch or len(loader))
    opt = make_optimizer(tcfg, model)
    sched = (EpochSchedule(opt, tcfg.scheduler, epochs=tcfg.epochs, steps_per_epoch=steps_per_epoch,
                           min_lr=tcfg.min_lr, t0_epochs=tcfg.t0_epochs, t_mult=tcfg.t_mult,
                           warmup_epochs=tcfg.warmup_epochs, poly_power=tcfg.poly_power)
             if tcfg.scheduler != "none" or tcfg.warmup_epochs > 0 else None)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    loss_fn = _loss_fn(tcfg, spec, tr_y, device)
    fmix = make_fmix(tcfg) if kind == "image" else None
    start, best, best_epoch, bad_epochs, history = 0, None, -1, 0, []
    last = out / "last.pt"
    # every rank raises together (rank 0's view of the folder): a rank left behind would wait in
    # its first all-reduce until the collective timeout
    held = _held_checkpoints(out, tcfg) if not resume and info.primary else ""
    if info.enabled:
        box = [held]
        dist.broadcast_object_list(box, src=0)
        held = str(box[0])
    if held:
        raise InputFileError(out, *held.split("|", 1))
    if resume and last.is_file():
        # loaded before DDP wraps the model, so DDP starts every rank from rank 0's weights
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck.get("scheduler"):
            sched.load_state_dict(ck["scheduler"])
        if scaler is not None and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        start, best, best_epoch, bad_epochs = ck["epoch"] + 1, ck["best"], ck["best_epoch"], ck["bad_epochs"]
        history = ck.get("history", [])
        log.info("fold %d: resumed after epoch %d", fold, ck["epoch"])
    net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None) if info.enabled else model
    if tcfg.compile:
        check_compile_toolchain()
        net = torch.compile(net)
    meta = _model_meta(cfg, classes, mean, std, img_size)
    meta.update({"multilabel": spec.multilabel, "input": kind, "in_chans": in_chans})
    higher_better = monitor != "loss"
    eval_bce = nn.BCELoss()
    for epoch in range(start, tcfg.epochs):
        seed_everything(epoch_seed(cfg.seed, fold, epoch), info.rank)
        rng = np.random.default_rng(epoch_seed(cfg.seed, fold, epoch, info.rank, 7))
        sampler.set_epoch(epoch)
        ds_tr.set_epoch(epoch)
        tr_loss, img_s, secs = _train_one_epoch(
            net, loader, opt, sched, scaler, loss_fn, fmix, tcfg, device, amp, rng, epoch * steps_per_epoch,
            steps_per_epoch, progress if info.primary else _no_progress, f"fold {fold} epoch {epoch}", ds_tr)
        if info.enabled:
            # each rank's BatchNorm statistics moved with its own last batch; every shard is
            # scored with rank 0's, the ones the checkpoint holds
            for buf in model.buffers():
                dist.broadcast(buf, src=0)
        probs = predict_dataset(model, ds_va, batch_size=max(tcfg.batch_size, 32), device=device, amp=amp, info=info,
                                num_workers=tcfg.num_workers, multilabel=spec.multilabel,
                                prefetch=tcfg.prefetch_factor)
        y = ds_va.targets
        if spec.multilabel:
            va_loss = float(eval_bce(torch.from_numpy(np.clip(probs, 1e-7, 1 - 1e-7)), torch.from_numpy(y)))
        else:
            va_loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1))))
        mets = _epoch_metrics(spec, y, probs)
        row = {"epoch": epoch, "train_loss": tr_loss, "val_loss": va_loss, **mets, "lr": opt.param_groups[0]["lr"],
               "train_img_s": img_s, "seconds": secs}
        history.append(row)
        score = va_loss if monitor == "loss" else mets[monitor]
        improved = best is None or (score > best if higher_better else score < best)
        if improved:
            best, best_epoch, bad_epochs = score, epoch, 0
        else:
            bad_epochs += 1
        if info.primary:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict() if sched is not None else None,
                     "scaler": scaler.state_dict() if scaler is not None else None,
                     "epoch": epoch, "best": best, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                     "history": history, "meta": meta}
            if tcfg.keep_every_epoch:
                _save_checkpoint(out / f"epoch_{epoch}.pt", {"model": state["model"], "epoch": epoch, "meta": meta})
            if improved:
                _save_checkpoint(out / "best.pt", {"model": state["model"], "epoch": epoch, "meta": meta})
            _save_checkpoint(last, state)
            write_csv(out / "metrics.csv", pd.DataFrame(history))
            log.info("fold %d epoch %d: train_loss %.4f val_loss %.4f %s", fold, epoch, tr_loss, va_loss,
                     " ".join(f"{k} {v:.3f}" for k, v in mets.items()))
        if epoch_callback is not None:
            epoch_callback(epoch, score)
        if _stop_after_epoch is not None and epoch >= _stop_after_epoch:
            raise KeyboardInterrupt(f"stopped after epoch {epoch} (test hook)")
        if tcfg.early_stopping_patience and bad_epochs >= tcfg.early_stopping_patience:
            log.info("fold %d: early stop after epoch %d (best %s at epoch %d)", fold, epoch, best, best_epoch)
            break
    return {"fold": fold, "best": best, "best_epoch": best_epoch, "epochs_run": len(history), "monitor": monitor}


def _classical_features(model, ds, rows: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Features of rows of a signal dataset for a classical model: every window of a windowed
    ECG record (each a sample with its record's target), else the row's one item. Returns
    ``(features (n_samples, n_features), row of each sample)``."""
    feats, owner = [], []
    for i in rows.tolist():
        x = ds.windows(i) if getattr(ds, "windowed", False) else ds.images([i])
        feats.append(model.features(x, np.repeat(ds.meta[[i]], len(x), axis=0), fs_hz=fs_hz))
        owner += [i] * len(x)
    return np.concatenate(feats), np.asarray(owner, dtype=np.int64)


def _fit_classical_fold(cfg: Config, fold: int, model, ds_tr, ds_va, spec: TaskSpec, meta: dict, out: Path, *,
                        resume: bool, info, device, monitor: str) -> dict:
    """One fold of a classical model (``ecg_baseline``): fitted once in closed form on the
    training records (every window of each), scored on the validation fold, and saved as
    ``epoch_0.pt``, ``best.pt`` and ``last.pt`` with a one-row ``metrics.csv``, the files a
    deep model's fold leaves, so that infer, blend and predict treat it alike."""
    import pandas as pd

    last = out / "last.pt"
    if resume and last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        log.info("fold %d: %s already fitted (resume)", fold, cfg.model.key)
        return {"fold": fold, "best": ck["best"], "best_epoch": 0, "epochs_run": 1, "monitor": monitor}
    if out.exists() and any(out.glob("*.pt")):
        raise InputFileError(out, "already holds checkpoints",
                             "pass --resume to continue, --overwrite to start again, or change the experiment name")
    t0 = time.perf_counter()
    X, owner = _classical_features(model, ds_tr, np.arange(len(ds_tr)), float(cfg.data.fs_hz))
    fit = model.fit(X, ds_tr.targets[owner], fs_hz=float(cfg.data.fs_hz), multilabel=spec.multilabel)
    secs = time.perf_counter() - t0
    probs = predict_dataset(model, ds_va, batch_size=max(cfg.train.batch_size, 32), device=torch.device("cpu"),
                            multilabel=spec.multilabel)
    y = ds_va.targets
    if spec.multilabel:
        va_loss = float(nn.BCELoss()(torch.from_numpy(np.clip(probs, 1e-7, 1 - 1e-7)), torch.from_numpy(y)))
    else:
        va_loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1))))
    mets = _epoch_metrics(spec, y, probs)
    score = va_loss if monitor == "loss" else mets.get(monitor, float("nan"))
    row = {"epoch": 0, "train_loss": fit["train_loss"], "val_loss": va_loss, **mets, "lr": float("nan"),
           "train_img_s": len(X) / max(secs, 1e-9), "seconds": secs}
    if fit["constant_classes"]:
        log.info("fold %d: %d class(es) have one label value in the training records and are predicted by their "
                 "prevalence: %s", fold, len(fit["constant_classes"]),
                 ", ".join(str(spec.classes[k]) for k in fit["constant_classes"][:8]))
    if info.primary:
        state = {"model": model.state_dict(), "epoch": 0, "meta": meta}
        for name in (["epoch_0"] if cfg.train.keep_every_epoch else []) + ["best"]:
            _save_checkpoint(out / f"{name}.pt", state)
        _save_checkpoint(last, {**state, "best": score, "best_epoch": 0, "bad_epochs": 0, "history": [row]})
        write_csv(out / "metrics.csv", pd.DataFrame([row]))
        log.info("fold %d: %s fitted on %d sample(s) of %d record(s) in %.1f s: val_loss %.4f %s", fold,
                 cfg.model.key, len(X), len(ds_tr), secs, va_loss, " ".join(f"{k} {v:.3f}" for k, v in mets.items()))
    return {"fold": fold, "best": score, "best_epoch": 0, "epochs_run": 1, "monitor": monitor}


def _signal_augment(cfg: Config):
    """ECG augmentations for 1-D models (amplitude scaling, baseline wander, noise, time shift,
    lead dropout); off when ``train.cutout_p`` is 0 (the augmentation switch for signals).
    Records read by windows (``data.ecg_long_records: windows``) are shifted with zeros, not
    circularly: a circular shift's wrap-around puts one irregular RR interval in a regular
    rhythm, which is what AF looks like."""
    if task_for(cfg.data).signal_kind != "ecg" or cfg.train.cutout_p == 0:
        return None
    from .ecg import ECGAugment

    windows = cfg.data.ecg_long_records == "windows"
    return ECGAugment(fs_hz=cfg.data.fs_hz, p=cfg.train.cutout_p, shift_mode="zero" if windows else "circular")


def load_training_index(cfg: Config):
    """The prepared index restricted to rows that can be trained on (scored sleep epochs)."""
    from .runfiles import load_prepared

    index, pmeta = load_prepared(cfg.prepared_path)
    prep_hash = pmeta.get("config_hash")
    if prep_hash and prep_hash != config_hash(cfg, ("data", "render")):
        raise InputFileError(cfg.prepared_path, "was prepared with different data/render settings than this config",
                             "run 'sigvision prepare' with this config (or point prepared_dir at the right folder)")
    if cfg.data.format == "hefei" and "labels" in index:
        if {c for cs in index_label_codes(index) for c in cs} & {"MALE", "FEMALE"}:
            raise InputFileError(cfg.prepared_path, "was prepared before the Hefei table's age and sex columns were "
                                 "read (its labels hold MALE/FEMALE)", "run 'sigvision prepare --overwrite' again")
    return task_for(cfg.data).training_rows(cfg, index).reset_index(drop=True)


def _warn_model_selection(cfg: Config, results: list[dict], folds) -> None:
    """Say when the checkpoint picked by a validation score cannot be trusted: validation folds
    of a few dozen records pick noise (every fold's best at epoch 0 is the tell-tale)."""
    sizes = folds["fold"].value_counts()
    smallest = int(sizes.min()) if len(sizes) else 0
    ran = [r for r in results if r.get("epochs_run", 0) > 1]
    if len(ran) > 1 and all(r["best_epoch"] == 0 for r in ran):
        log.warning("every fold kept epoch 0 as its best (%s on validation folds of %d-%d records): the validation "
                    "score picks noise at this size; predict with the last epoch of a schedule (infer.checkpoint: "
                    "last, blend.checkpoint: last, as configs/ecg_real_1d.yaml does)", results[0].get("monitor"),
                    smallest, int(sizes.max()))
    try:
        which = cfg.infer_checkpoint
    except ConfigError:
        return
    if not (len(ran) > 1 and all(r["best_epoch"] == 0 for r in ran)) and which == "best" and smallest < 50 and ran:
        log.warning("infer.checkpoint=best picks each fold's epoch on a validation fold of as few as %d records, "
                    "which rewards noise; consider infer.checkpoint: last with a decaying schedule", smallest)


def run_info() -> dict:
    """Provenance saved beside every trained model: package and library versions, the git
    commit of the code when it runs from a checkout, the machine."""
    import platform
    import subprocess

    from . import __version__

    info = {"sigvision": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "numpy": np.__version__}
    for mod in ("timm", "albumentations", "mne", "scipy", "sklearn", "pandas"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            info[mod] = None
    try:
        repo = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=5)
        info["git_commit"] = commit.stdout.strip() or None
        info["git_dirty"] = bool(dirty.stdout.strip()) if commit.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _held_checkpoints(out: Path, tcfg) -> str:
    """``""`` when the fold folder ``out`` holds no checkpoint, else ``"problem|fix"`` saying
    whether they are a finished training run or an interrupted one (read from ``last.pt``:
    its epoch against ``train.epochs`` and early stopping)."""
    if not (out.exists() and any(out.glob("*.pt"))):
        return ""
    done, epoch = False, None
    try:
        ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        epoch = int(ck["epoch"])
        patience = tcfg.early_stopping_patience
        done = epoch + 1 >= tcfg.epochs or bool(patience and int(ck.get("bad_epochs", 0)) >= patience)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError):
        pass  # no (complete) last.pt: the run stopped before or while writing it
    if done:
        return ("already holds checkpoints of a finished training run|--overwrite retrains it, or change the "
                "experiment name (--set name=...)")
    where = f" after epoch {epoch} of {tcfg.epochs}" if epoch is not None else " before its first last.pt"
    return (f"already holds checkpoints of an interrupted training run (it stopped{where})|--resume continues it, "
            "--overwrite starts over")


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False, progress: Progress | None = None,
          epoch_callback=None) -> list[dict]:
    """Train every fold in ``cfg.train.train_folds`` (all folds when empty)."""
    import shutil

    from .runtime import dist_info

    info = dist_info()
    if cfg.train.compile:
        check_compile_toolchain()  # before --overwrite deletes anything
    index = load_training_index(cfg)
    spec = task_spec(cfg, index)
    mdir = model_dir(cfg)
    with contextlib.ExitStack() as stack:
        # one training run per model folder at a time (two models of one experiment may train
        # side by side); rank 0 holds the lock and every rank learns whether it got it
        refused: InputFileError | None = None
        if info.primary:
            try:
                stack.enter_context(folder_lock(mdir, "sigvision train"))
            except InputFileError as exc:
                refused = exc
        if info.enabled:
            import torch.distributed as dist

            init_distributed(resolve_device(cfg.train.device))
            box = [(refused.path, refused.problem, refused.fix) if refused else None]
            dist.broadcast_object_list(box, src=0)
            refused = InputFileError(*box[0]) if box[0] else None
        if refused is not None:
            cleanup_distributed()
            raise refused
        if info.primary:
            remove_stale_temps(mdir)  # left by a killed run; no live writer holds the lock
        if overwrite and info.primary:
            for child in mdir.iterdir():
                if child.name == LOCK_NAME:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        try:
            return _train_locked(cfg, index, spec, mdir, info, resume=resume, progress=progress,
                                 epoch_callback=epoch_callback)
        except InputFileError as exc:
            again = disk_full_again(exc, "free space on that disk, then run the same train with --resume to "
                                         "continue from the last complete epoch")
            if again is not exc:
                raise again from None
            raise


def _train_locked(cfg: Config, index, spec, mdir: Path, info, *, resume, progress, epoch_callback) -> list[dict]:
    folds = load_or_make_folds(cfg.prepared_path, index, cfg.train.folds, cfg.seed, write=info.primary)
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()
        folds = load_or_make_folds(cfg.prepared_path, index, cfg.train.folds, cfg.seed, write=False)
    if info.primary:
        save_config(cfg, mdir / "config.yaml")
        write_csv(mdir / "folds.csv", folds)
        from .artifacts import write_json

        write_json(mdir / "run_info.json", run_info())
    todo = list(cfg.train.train_folds) or list(range(cfg.train.folds))
    handler = None
    if info.primary:  # the log goes to the run folder too
        mdir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(mdir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        pkg = logging.getLogger("sigvision")
        pkg.addHandler(handler)
        if pkg.getEffectiveLevel() > logging.INFO:
            pkg.setLevel(logging.INFO)
        log.info("training %s on %s: %d fold(s) of %d", cfg.model.key, cfg.prepared_path, len(todo), cfg.train.folds)
    try:
        results = [train_fold(cfg, k, index, folds, resume=resume, progress=progress, spec=spec,
                              epoch_callback=epoch_callback) for k in todo]
        if info.primary and task_for(cfg.data).few_validation_rows:
            _warn_model_selection(cfg, results, folds)
        if info.enabled:
            # no rank tears the process group down while rank 0 still writes its last checkpoint:
            # a gloo rank that did aborted now and then ('terminate called without an active exception')
            import torch.distributed as dist

            dist.barrier()
    finally:
        if handler is not None:
            logging.getLogger("sigvision").removeHandler(handler)
            handler.close()
        cleanup_distributed()
    return results
