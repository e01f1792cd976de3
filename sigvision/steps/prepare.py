"""``sigvision prepare``: a folder of recordings -> a dataset index and a render cache.

Output folder layout::
    <out>/index.csv           one row per sample (sleep: per 30-s epoch; ECG: per record)
    <out>/records.csv         one row per recording: id, subject, counts, source size/mtime
    <out>/signals/<rec>.npy   float32 signals (sleep: (n_epochs, C, S) µV; ECG: (12, L) mV)
    <out>/cache/<hash>/<rec>.npy   uint8 rendered images, planar ((n_epochs, 3, H, W) or (3, H, W))
    <out>/cache/<hash>/render.json the render config the cache was made with
    <out>/prepare.json        resolved config, config hash, summary, versions (written last)
    <out>/.prepare-journal.jsonl   while a prepare runs: one line per finished recording
    <out>/.sigvision.lock     held (flock) while a prepare writes the folder

Recordings are processed one at a time and images are streamed into memory-mapped
``.npy`` files, so memory stays flat however many nights there are. Every file is written
under a temporary name and renamed when complete.

A prepare that stops half-way (killed, disk full, a bad file) leaves its journal: the next
plain ``prepare`` says an interrupted run is here; ``--update`` resumes it (recordings the
journal lists as finished, with unchanged sources and complete arrays, are kept), and
``--overwrite`` starts over. Two prepares of one folder at once: the second is refused
(:func:`sigvision.io.artifacts.folder_lock`).

The cache is planar (``"cache_layout": "chw"`` in ``prepare.json``): the layout the models
take, so a training batch becomes model input by one contiguous conversion instead of a
transposition. Folders prepared before the layout was recorded hold (H, W, 3) images
(``"hwc"``, the default when the key is missing) and still read correctly;
:func:`sigvision.io.runs.open_cached_images` gives (H, W, 3) views of either.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .._version import __version__
from ..config import Config, config_hash, config_to_dict
from ..config.load import save_config
from ..errors import InputFileError
from ..io.artifacts import (
    LOCK_NAME,
    atomic_path,
    disk_full_again,
    folder_lock,
    remove_stale_temps,
    save_npy,
    write_csv,
    write_json,
)
from ..io.runs import (
    CACHE_LAYOUT,
    JOURNAL_NAME,
    cache_layout,
)
from ..loaders.aiwin import iter_aiwin_folder
from ..loaders.base import STAGES
from ..loaders.ecg import fix_length, match_leads, resample_ecg
from ..loaders.edfinfo import unit_to_uv
from ..loaders.hefei import iter_hefei_folder
from ..loaders.images import load_image_folder, read_image
from ..loaders.pairing import _record_id_of, pair_sleep_edf_files
from ..loaders.psg import load_sleep_night
from ..loaders.wfdb import iter_wfdb_folder
from ..loaders.wfdb_header import parse_wfdb_header
from ..quality import OK, apply_policy, assess, check_folder, parse_labels
from ..render import get_renderer, render_night
from ..runtime import Progress, no_progress
from ..tasks import task_for

__all__ = ["prepare_dataset", "PrepareResult", "check_output_dir", "cache_dir_of"]

log = logging.getLogger(__name__)


@dataclass
class PrepareResult:
    out_dir: Path
    index_csv: Path
    n_records: int
    n_samples: int
    cache_dir: Path | None
    seconds: float
    summary: dict


def _children(path: Path) -> list[Path]:
    return [c for c in path.iterdir() if c.name != LOCK_NAME] if path.is_dir() else []


def folder_state(path: str | os.PathLike) -> str:
    """What an output folder holds: ``"empty"`` (or missing), ``"finished"`` (a complete
    prepare), ``"interrupted"`` (a prepare that stopped before writing ``prepare.json``, or
    whose journal is still there) or ``"foreign"`` (other files)."""
    path = Path(path)
    kids = _children(path)
    if not kids:
        return "empty"
    names = {c.name for c in kids}
    if JOURNAL_NAME in names:
        return "interrupted"
    if "prepare.json" in names:
        return "finished"
    if names & {"signals", "cache", "index.csv", "records.csv", "config.yaml"}:
        return "interrupted"
    return "foreign"


def _journal_count(path: Path) -> int:
    try:
        with open(path / JOURNAL_NAME, encoding="utf-8") as fh:
            return max(0, sum(1 for line in fh if line.endswith("\n")) - 1)
    except OSError:
        return 0


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse a non-empty output folder unless ``overwrite``; then clear it (the lock file of
    :func:`~sigvision.io.artifacts.folder_lock` stays). The refusal says what the folder holds:
    a finished prepare, an interrupted one (``--update`` resumes it) or other files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputFileError(path, "exists and is not a folder", "choose another --out")
    state = folder_state(path)
    if state != "empty" and not overwrite:
        if state == "interrupted":
            done = _journal_count(path)
            held = f" ({done} recording(s) finished before it stopped)" if done else ""
            raise InputFileError(path, f"an interrupted prepare is here{held}",
                                 "--update resumes it, --overwrite starts over")
        if state == "finished":
            raise InputFileError(path, "already holds a finished prepare",
                                 "--update refreshes it (new or changed recordings only), --overwrite starts "
                                 "over, or choose another --out")
        raise InputFileError(path, "output folder already holds other files",
                             "choose another --out, or pass --overwrite to delete them")
    for child in _children(path):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


class _Journal:
    """Append-only record of the recordings a running prepare has finished (one JSON line
    each, flushed and fsynced), so an interrupted prepare can be resumed by ``--update``."""

    def __init__(self, out: Path, cfg_hash: str):
        self.count = 0  # recordings this run has journaled
        self.path = out / JOURNAL_NAME
        fresh = not self.path.is_file()
        self.fh = open(self.path, "a", encoding="utf-8")
        if fresh:
            self._write({"config_hash": cfg_hash, "started": time.strftime("%Y-%m-%d %H:%M:%S")})

    def _write(self, obj: dict) -> None:
        self.fh.write(json.dumps(obj, default=str) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def add(self, rec: dict, rows: list[dict]) -> None:
        self._write({"rec": rec, "rows": rows})
        self.count += 1

    def close(self, *, remove: bool) -> None:
        self.fh.close()
        if remove:
            self.path.unlink(missing_ok=True)


def _journal_entries(out: Path, cfg_hash: str) -> dict:
    """record -> (records.csv row, index rows) that an interrupted prepare with the same config
    hash journaled as finished; a last line cut short by a crash is ignored."""

    entries: dict = {}
    try:
        with open(out / JOURNAL_NAME, encoding="utf-8") as fh:
            lines = [line for line in fh if line.endswith("\n")]
    except OSError:
        return entries
    try:
        head = json.loads(lines[0]) if lines else {}
    except ValueError:
        return entries
    if head.get("config_hash") != cfg_hash:
        return entries
    for line in lines[1:]:
        try:
            item = json.loads(line)
            rec = item["rec"]
        except (ValueError, KeyError, TypeError):
            continue
        entries[str(rec["record"])] = (rec, pd.DataFrame(item["rows"]))
    return entries


def cache_dir_of(out_dir: str | os.PathLike, cfg: Config) -> Path:
    return Path(out_dir) / "cache" / config_hash(cfg, ("data", "render"))


def _save_memmap_images(path: Path, shape: tuple[int, ...], fill: Callable[[np.ndarray], None]) -> None:
    """Create ``path`` as a uint8 .npy memory map, let ``fill`` write into it, then rename.

    The file's blocks are allocated before the map is written: a full disk then fails here
    with ENOSPC (a clear error) instead of killing the process with SIGBUS on a page write."""
    with atomic_path(path, suffix=".npy") as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        fd = os.open(tmp, os.O_RDWR)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        fill(mm)
        mm.flush()
        del mm


def _source_stats(path: str | os.PathLike) -> dict:
    st = Path(path).stat()
    return {"source_size": int(st.st_size), "source_mtime": float(st.st_mtime)}


def _previous(out: Path, cfg: Config) -> dict:
    """record -> (records.csv row, index rows) of an earlier prepare with the same config hash,
    and of the recordings an interrupted prepare journaled as finished."""

    cfg_hash = config_hash(cfg, ("data", "render"))
    found: dict = {}
    try:
        meta = json.loads((out / "prepare.json").read_text())
        if meta.get("config_hash") == cfg_hash and not (meta.get("cache_dir") and cache_layout(meta) != CACHE_LAYOUT):
            # (another config, or a cache in an older layout: rebuild every record)
            recs = pd.read_csv(out / "records.csv", dtype={"record": str}, keep_default_na=False)
            index = pd.read_csv(out / "index.csv", dtype={"record": str}, keep_default_na=False)
            groups = {r: g for r, g in index.groupby("record", sort=False)}
            found = {str(r["record"]): (r.to_dict(), groups.get(str(r["record"]))) for _, r in recs.iterrows()}
    except (OSError, ValueError, KeyError):
        found = {}
    found.update(_journal_entries(out, cfg_hash))
    return found


def _entry_valid(out: Path, cache: Path | None, rid: str, rec_row: dict, source: Path, hyp: Path | None) -> bool:
    """An earlier record is reusable when its sources are unchanged (size, mtime) and its
    cached arrays load with the expected number of epochs."""
    try:
        if int(rec_row.get("source_size", -1)) != source.stat().st_size or \
                abs(float(rec_row.get("source_mtime", -1)) - source.stat().st_mtime) > 1e-6:
            return False
        if hyp is not None and (int(rec_row.get("hyp_size", -1)) != hyp.stat().st_size or
                                abs(float(rec_row.get("hyp_mtime", -1)) - hyp.stat().st_mtime) > 1e-6):
            return False
        n = int(rec_row["n_epochs"])
        sig = out / "signals" / f"{rid}.npy"
        if sig.exists() and np.load(sig, mmap_mode="r").shape[0] != n:
            return False
        if cache is not None:
            shape = np.load(cache / f"{rid}.npy", mmap_mode="r").shape
            if shape[:2] != (n, 3):  # (n, 3, H, W); (n, H, W, 3) is the old layout
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def prepare_dataset(cfg: Config, out_dir: str | os.PathLike, *, overwrite: bool = False, update: bool = False,
                    progress: Progress | None = None, limit: int | None = None,
                    labels_required: bool = True) -> PrepareResult:
    """Build the index (and signal/image caches) for ``cfg.data`` under ``out_dir``.

    Parameters
    ----------
    cfg : resolved configuration.
    out_dir : output folder; must be empty unless ``overwrite`` or ``update``.
    update : reuse an earlier prepare of the same folder: records whose source files
        (size, mtime) and config hash are unchanged and whose cached arrays are complete are
        kept; partial, stale or new ones are (re)built; caches of other configs are removed.
    progress : optional wrapper ``progress(iterable, total, desc)`` (the CLI passes tqdm).
    limit : process only the first ``limit`` recordings (quick looks).
    labels_required : False for new recordings to predict: sleep recordings without a
        hypnogram are cut into unlabelled 30-s epochs (label -1) over the whole signal.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputFileError(out, "exists and is not a folder", "choose another --out")
    with folder_lock(out, "sigvision prepare"):
        remove_stale_temps(out)  # left by a killed run; no live writer holds the lock
        return _prepare_locked(cfg, out, overwrite=overwrite, update=update, progress=progress or no_progress,
                               limit=limit, labels_required=labels_required, t0=t0)


def _prepare_locked(cfg: Config, out: Path, *, overwrite, update, progress, limit, labels_required, t0):
    n_dropped = None
    previous: dict = {}
    if update and folder_state(out) == "foreign":
        raise InputFileError(out, "holds other files, not a sigvision prepare, so --update has nothing to resume",
                             "choose another --out, or pass --overwrite to delete them")
    if update:
        previous = _previous(out, cfg)
        keep = cache_dir_of(out, cfg).name
        for old in (out / "cache").glob("*") if (out / "cache").is_dir() else []:
            if old.is_dir() and old.name != keep:
                shutil.rmtree(old)
    else:
        check_output_dir(out, overwrite)
    d = cfg.data
    if not d.root:
        raise InputFileError(None, "data.root is empty", "set data.root to the folder of recordings")
    cache = cache_dir_of(out, cfg) if cfg.prepare.cache_images else None
    extra: dict = {}
    resuming = (out / JOURNAL_NAME).is_file()
    journal = _Journal(out, config_hash(cfg, ("data", "render")))
    try:
        if d.format == "sleep_edf":
            rows, recs = _prepare_sleep_edf(cfg, out, cache, progress, limit, previous, labels_required, journal)
        elif d.format == "image_folder":
            rows, recs = _prepare_image_folder(cfg, out, cache, progress, limit)
        elif d.format in ("wfdb", "aiwin", "hefei"):
            rows, recs, n_dropped, extra = _prepare_ecg(cfg, out, cache, progress, limit)
        else:  # validated by the config already
            raise ValueError(d.format)
        index = pd.DataFrame(rows)
        index_csv = write_csv(out / "index.csv", index)
        write_csv(out / "records.csv", pd.DataFrame(recs))
        if cache is not None:
            write_json(cache / "render.json", {"hash": cache.name, "layout": CACHE_LAYOUT,
                                               "render": config_to_dict(cfg.render),
                                               "data": config_to_dict(cfg.data)})
        summary = {**_summary(cfg, index, recs, n_dropped), **extra}
        save_config(cfg, out / "config.yaml")
        write_json(out / "prepare.json", {
            "config": config_to_dict(cfg),
            "config_hash": config_hash(cfg, ("data", "render")),
            "cache_dir": str(cache.relative_to(out)) if cache is not None else None,
            "cache_layout": CACHE_LAYOUT,
            "summary": summary,
            "versions": _versions(),
        })
    except BaseException as exc:
        if journal.count or resuming:
            journal.close(remove=False)  # the next run says "interrupted" and --update resumes from it
        else:  # nothing finished: leave the folder as it was (empty, or the earlier finished prepare)
            journal.close(remove=True)
            if not update:
                check_output_dir(out, overwrite=True)
        again = disk_full_again(exc, "free space on that disk, then run the same prepare with --update to resume it")
        if again is not exc:
            raise again from None
        raise
    journal.close(remove=True)  # prepare.json is written: the folder is complete
    return PrepareResult(out_dir=out, index_csv=index_csv, n_records=len(recs), n_samples=len(index),
                         cache_dir=cache, seconds=time.perf_counter() - t0, summary=summary)


def _summary(cfg: Config, index, recs: list[dict], n_dropped: int | None = None) -> dict:
    s: dict = {"records": len(recs), "samples": int(len(index))}
    if "quality" in index:
        q = index["quality"].astype(str)
        s["quality"] = {"flagged": int((q != OK).sum()), "of": int(len(q)),
                        "unit": task_for(cfg.data).unit,
                        "policy": cfg.data.on_bad_signal,
                        "dropped": int(n_dropped if n_dropped is not None else
                                       sum(int(r.get("dropped_bad_epochs", 0) or 0) for r in recs)),
                        "counts": parse_labels(q)}
    s.update(task_for(cfg.data).index_summary(index, recs))
    return s


def _versions() -> dict:
    v = {"sigvision": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for mod in ("mne", "wfdb", "cv2", "scipy"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except ImportError:  # pragma: no cover
            pass
    return v


def _prepare_sleep_edf(cfg, out, cache, progress, limit, previous=None, labels_required=True, journal=None):
    d = cfg.data
    # new recordings to predict: no hypnogram is read (a folder's hypnograms may not fit them)
    pairs = pair_sleep_edf_files(d.root, require_hypnogram=labels_required, use_hypnograms=labels_required,
                                 pattern=d.file_pattern)[:limit]
    renderer = get_renderer(cfg.render, fs_hz=d.fs_hz) if cache is not None else None
    rows, recs = [], []
    reused = 0
    for psg, hyp in progress(pairs, len(pairs), "prepare"):
        old = (previous or {}).get(_record_id_of(psg))
        if old is not None and old[1] is not None and hyp is not None and "quality" in old[1] and \
                _entry_valid(out, cache, _record_id_of(psg), old[0], psg, hyp):
            rows.extend(old[1].to_dict("records"))
            recs.append(old[0])
            reused += 1
            continue
        night = load_sleep_night(
            psg, hyp, channels=d.channels, channel_types=d.channel_types or None,
            aliases=d.channel_aliases or None, fs_hz=d.fs_hz, epoch_s=d.epoch_s,
            trim_wake_edges_min=d.trim_wake_edges_min, on_length_mismatch=d.on_length_mismatch,
            on_start_mismatch=d.on_start_mismatch, min_fs_hz=d.min_fs_hz,
            on_low_sampling_rate=d.on_low_sampling_rate, channel_units=d.channel_units or None,
            on_bad_signal=d.on_bad_signal, amplitude_bounds=d.amplitude_bounds or None,
            max_bad_fraction=d.max_bad_fraction, on_epoch_mismatch=d.on_epoch_mismatch)
        if night.n_epochs == 0:
            raise InputFileError(psg, "no scored epochs left after excluding movement/unscored epochs"
                                 + (" and epochs with bad signals" if night.summary.get("dropped_bad_epochs") else ""),
                                 "check the hypnogram and the signals, or drop this recording")
        rid = night.record_id
        if cfg.prepare.save_signals:
            save_npy(out / "signals" / f"{rid}.npy", night.epochs)
        if renderer is not None:
            _save_memmap_images(cache / f"{rid}.npy",
                                (night.n_epochs, 3, renderer.height, renderer.width),
                                lambda mm: render_night(renderer, night.epochs, night.channel_types,
                                                        batch_size=cfg.prepare.batch_size, out=mm, planar=True))
        for i in range(night.n_epochs):
            rows.append({"record": rid, "subject": night.subject_id, "epoch": i,
                         "onset_s": float(night.onsets_s[i]), "label": int(night.labels[i]),
                         "stage": STAGES[int(night.labels[i])] if night.labels[i] >= 0 else "",
                         "quality": night.quality[i]})
        recs.append({"record": rid, "subject": night.subject_id, "n_epochs": night.n_epochs,
                     "source": str(psg), "hypnogram": str(hyp or ""), "fs_hz": night.fs_hz,
                     "channels": ";".join(night.channel_names),
                     "channel_types": ";".join(night.channel_types),
                     **{k: v for k, v in night.summary.items() if k != "hypnogram"},
                     **_source_stats(psg), "hyp_size": hyp.stat().st_size if hyp else -1,
                     "hyp_mtime": hyp.stat().st_mtime if hyp else -1})
        if journal is not None:
            journal.add(recs[-1], rows[len(rows) - night.n_epochs:])
        del night
    if reused:
        log.info("prepare: reused %d unchanged record(s), rebuilt %d", reused, len(pairs) - reused)
    return rows, recs


def _prepare_image_folder(cfg, out, cache, progress, limit):
    d = cfg.data
    nights = load_image_folder(d.root, d.labels_csv or None)[:limit]
    size = (cfg.render.height, cfg.render.width)
    rows, recs = [], []
    for night in progress(nights, len(nights), "prepare"):
        rid = night.record_id
        if cache is not None:
            def fill(mm, night=night):
                for i, f in enumerate(night.files):
                    mm[i] = read_image(f, size).transpose(2, 0, 1)

            _save_memmap_images(cache / f"{rid}.npy", (len(night.files), 3, size[0], size[1]), fill)
        for i, f in enumerate(night.files):
            lab = int(night.labels[i])
            rows.append({"record": rid, "subject": night.subject_id, "epoch": i,
                         "onset_s": i * d.epoch_s, "label": lab, "stage": STAGES[lab] if lab >= 0 else "",
                         "file": f.name})
        recs.append({"record": rid, "subject": night.subject_id, "n_epochs": len(night.files),
                     "source": str(Path(d.root) / rid)})
    return rows, recs


def _iter_ecg(cfg, stats: dict | None = None):
    d = cfg.data
    if d.format == "wfdb":
        yield from iter_wfdb_folder(d.root, on_unknown=d.on_unknown_label, label_map=d.label_map or None,
                                      stats=stats)
    elif d.format == "aiwin":
        yield from iter_aiwin_folder(d.root, d.labels_csv or None)  # one record in memory at a time
    else:  # hefei: labels, age and sex from the label table
        yield from iter_hefei_folder(d.root, d.labels_csv or None)


def _wfdb_rails_mv(rec) -> np.ndarray | None:
    """(n_leads, 2): the recordable range of each lead in mV (the WFDB storage format's ADC
    limits through the header's gain and baseline); None for other formats or odd headers."""

    bits = {"16": 16, "61": 16, "160": 16, "212": 12, "310": 10, "311": 10, "24": 24, "32": 32, "80": 8, "8": 8}
    if not str(rec.source).endswith(".hea"):
        return None
    try:
        hdr = parse_wfdb_header(rec.source)
        out = []
        for sp in hdr.signals:
            b = int(sp.adc_res) if sp.adc_res else bits.get(str(sp.fmt))
            per_mv = unit_to_uv(sp.units or "mV")
            if b is None or per_mv is None or not sp.gain:
                return None
            lo, hi = -(2 ** (b - 1)) + (1 if b == 16 else 0), 2 ** (b - 1) - 1  # -32768 marks a missing sample
            out.append(sorted(((lo - sp.baseline) / sp.gain * per_mv / 1e3, (hi - sp.baseline) / sp.gain * per_mv / 1e3)))
        return np.asarray(out, dtype=np.float64)
    except (InputFileError, OSError, ValueError, TypeError):
        return None


def _prepare_ecg(cfg, out, cache, progress, limit):
    """One index row per record. ``data.ecg_long_records: windows`` keeps each record whole
    (resampled, zero-padded to ``ecg_length_s`` when shorter) for window sampling at training
    and window averaging at prediction; ``crop`` cuts the centre ``ecg_length_s``. The image
    cache holds the centre window. Leads are picked by :func:`~sigvision.loaders.ecg.match_leads`
    (case-insensitive, aliases); resampling, dropped leads and records without labels are
    counted in the summary and logged."""
    d = cfg.data
    n_target = int(round(d.ecg_length_s * d.fs_hz))
    renderer = get_renderer(cfg.render, fs_hz=d.fs_hz) if cache is not None else None
    rows, recs = [], []
    stats: dict = {}
    rates, leads_out, lengths = Counter(), Counter(), []
    unlabelled = []
    flagged, dropped, seen = [], [], 0
    for k, rec in enumerate(progress(_iter_ecg(cfg, stats), None, "prepare")):
        if limit is not None and k >= limit:
            break
        take, extra = match_leads(rec.lead_names, d.leads, aliases=d.channel_aliases or None, source=rec.source)
        rails = _wfdb_rails_mv(rec)
        rails = rails[take] if rails is not None and len(rails) == len(rec.lead_names) else None
        signals = rec.signals[take]
        seen += 1
        q = assess(signals[None], ["ecg"] * len(d.leads), unit="mV", names=list(d.leads), rails=rails,
                   bounds=d.amplitude_bounds or None)
        if q.bad.any():  # one record, judged alone; the folder-level rule comes after the loop
            flagged.append(rec.record_id)
            if d.on_bad_signal == "raise":
                apply_policy(q, policy="raise", max_bad_fraction=1.0, source=rec.source, what="record")
            if d.on_bad_signal == "drop":
                dropped.append(q.labels()[0])
                continue
        rates[float(rec.fs_hz)] += 1
        leads_out.update(extra)
        x = resample_ecg(signals, rec.fs_hz, d.fs_hz)
        lengths.append(x.shape[1] / d.fs_hz)
        if d.ecg_long_records == "crop" or x.shape[1] < n_target:
            x = fix_length(x, n_target, mode="center")
        x = x.astype(np.float32)
        rid = rec.record_id
        if cfg.prepare.save_signals:
            save_npy(out / "signals" / f"{rid}.npy", x)
        if renderer is not None:
            img = renderer.render(fix_length(x, n_target, mode="center")[None], ["ecg"] * x.shape[0])[0]
            save_npy(cache / f"{rid}.npy", np.ascontiguousarray(img.transpose(2, 0, 1)))
        if not rec.labels:
            unlabelled.append(rid)
        rows.append({"record": rid, "subject": rec.subject_id, "source_db": _ecg_source_db(rid),
                     "age": rec.age, "sex": rec.sex or "", "labels": ";".join(rec.labels),
                     "duration_s": round(lengths[-1], 3), "quality": q.labels()[0]})
        recs.append({"record": rid, "subject": rec.subject_id, "fs_hz_file": rec.fs_hz,
                     "n_samples_file": int(rec.signals.shape[1]), "leads_file": ";".join(map(str, rec.lead_names)),
                     "source": rec.source, **_source_stats(rec.source)})
    counts = parse_labels([r["quality"] for r in rows] + dropped)
    check_folder(len(flagged), seen, counts, policy=d.on_bad_signal, max_bad_fraction=d.max_bad_fraction,
                 source=d.root, what="record", examples=flagged)
    if not rows:
        raise InputFileError(d.root, "no ECG records found", "set data.root to the folder of records")
    other = {f"{r:g}": n for r, n in rates.items() if r != d.fs_hz}
    if other:
        log.info("prepare: resampled %d record(s) to data.fs_hz=%g Hz (from %s Hz: records)", sum(other.values()),
                 d.fs_hz, other)
    if leads_out:
        log.info("prepare: leads not in data.leads were left out: %s (lead: records)", dict(leads_out))
    longer = sum(t > d.ecg_length_s + 1e-6 for t in lengths)
    if longer and d.ecg_long_records == "crop":
        log.warning("prepare: %d record(s) longer than data.ecg_length_s=%g s were cut to their centre %g s "
                    "(data.ecg_long_records: crop); 'windows' keeps them whole", longer, d.ecg_length_s,
                    d.ecg_length_s)
    if unlabelled:
        log.warning("prepare: %d of %d record(s) name no diagnosis (e.g. %s): fine for prediction; sigvision "
                    "train refuses them unless data.on_missing_labels is drop or negative", len(unlabelled),
                    len(rows), ", ".join(unlabelled[:5]))
    stats_out = {
        "fs_hz_file": {f"{r:g}": n for r, n in sorted(rates.items())},
        "leads_left_out": dict(leads_out),
        "duration_s": {"min": round(min(lengths), 3), "max": round(max(lengths), 3)},
        "records_longer_than_window": int(longer),
        "unlabelled_records": len(unlabelled),
        "unlabelled_examples": unlabelled[:10],
        "unknown_labels": dict(sorted(stats.get("unknown_labels", {}).items(), key=lambda kv: -kv[1])),
    }
    return rows, recs, len(dropped), stats_out


def _ecg_source_db(record_id: str) -> str:
    """CinC record-name prefix = source database (E Georgia, HR PTB-XL, JS Chapman/Ningbo, ...)."""
    prefix = ""
    for ch in record_id:
        if ch.isalpha():
            prefix += ch
        else:
            break
    return prefix or "?"


