"""Training data: datasets over a prepared folder's cached images or saved signals, image and
signal augmentation (seeded cutout, FMix, the ECG augmentations), samplers that shard rows
across ``torchrun`` ranks, and the loaders with their worker and prefetch budgets."""
from __future__ import annotations

import json
import logging
import mmap
from pathlib import Path

import numpy as np
import torch

from ..augment.fmix import FMix
from ..augment.image import build_image_augment
from ..augment.signal import ECGAugment
from ..config import Config, config_hash
from ..errors import InputFileError
from ..io.runs import cache_layout, load_prepared
from ..models.meta import meta_vector
from ..runtime import (
    epoch_seed,
)
from ..tasks import task_for
from ..tasks.ecg import (  # noqa: F401  (re-exported)
    binary_class_names,
    challenge_scorable,
    ecg_class_list,
    ecg_targets,
    index_label_codes,
)

log = logging.getLogger(__name__)


def meta_rows(rows, meta_features) -> np.ndarray:
    """float32 (len(rows), n_meta): the model's meta features (age, sex) of each index row, as
    :func:`sigvision.models.factory.meta_vector` encodes them; (len(rows), 0) without meta features."""
    if not meta_features:
        return np.zeros((len(rows), 0), np.float32)

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

    Indexed by a *list* of row positions (a whole batch at once, see :func:`make_loader`), so a
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
        # a tensor, moved to shared memory when loader workers use this dataset (see make_loader):
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


def prepare_input(x: torch.Tensor, ds, *, channels_last: bool = False) -> torch.Tensor:
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

    if tcfg.cutout_backend == "numpy":
        return BatchCutout(tcfg.cutout_p, tcfg.cutout_holes, tcfg.cutout_size_frac, coarse_p=tcfg.coarse_dropout_p,
                           coarse_holes_range=tcfg.coarse_holes_range, coarse_size_range=tcfg.coarse_size_range)
    return SeededAugment(build_image_augment(
        cutout_p=tcfg.cutout_p, cutout_holes=tcfg.cutout_holes, cutout_size_frac=tcfg.cutout_size_frac,
        coarse_dropout=tcfg.coarse_dropout_p > 0, coarse_p=tcfg.coarse_dropout_p,
        coarse_holes_range=tuple(tcfg.coarse_holes_range), coarse_size_range=tuple(tcfg.coarse_size_range)))


def make_fmix(tcfg):
    """The FMix of ``train.fmix_*`` for image batches, or None when ``train.fmix_p`` is 0."""

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
        return prepare_input(x, ds, channels_last=channels_last), y, meta, None
    if x.dtype == torch.uint8 and fmix.max_soft == 0:
        x, perm, lam = fmix(x, rng)
        x = prepare_input(x, ds, channels_last=channels_last)
    else:
        x, perm, lam = fmix(prepare_input(x, ds, channels_last=channels_last), rng)
        if channels_last:  # the mixed batch comes in the gathered copy's layout
            x = x.contiguous(memory_format=torch.channels_last)
    if meta is not None and lam < 1.0:
        meta = torch.lerp(meta[perm], meta, lam)
    return x, y, meta, (perm, lam)


def signal_augment(cfg: Config):
    """ECG augmentations for 1-D models (amplitude scaling, baseline wander, noise, time shift,
    lead dropout); off when ``train.cutout_p`` is 0 (the augmentation switch for signals).
    Records read by windows (``data.ecg_long_records: windows``) are shifted with zeros, not
    circularly: a circular shift's wrap-around puts one irregular RR interval in a regular
    rhythm, which is what AF looks like."""
    if task_for(cfg.data).signal_kind != "ecg" or cfg.train.cutout_p == 0:
        return None

    windows = cfg.data.ecg_long_records == "windows"
    return ECGAugment(fs_hz=cfg.data.fs_hz, p=cfg.train.cutout_p, shift_mode="zero" if windows else "circular")


def load_training_index(cfg: Config):
    """The prepared index restricted to rows that can be trained on (scored sleep epochs)."""

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
