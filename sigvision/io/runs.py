"""Where a run's files are, and the readers of the files the steps share.

* a prepared folder: its index and ``prepare.json`` (:func:`load_prepared`), its render cache
  (:func:`open_cached_images`);
* every path under a run (``<weights_dir>/<experiment>/``): the blended CSV,
  ``files_post.csv``, each model's probability files, and the rows of the prepared index they
  refer to.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import ConfigError, InputFileError

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

__all__ = ["load_prepared", "open_cached_images", "cache_layout", "JOURNAL_NAME", "CACHE_LAYOUT", "blend_csv_path", "post_csv_path", "blend_paths", "infer_hint", "row_table", "record_quality",
           "truth_matrix"]


#: The journal an unfinished ``prepare`` leaves in its folder (:mod:`sigvision.steps.prepare`).
JOURNAL_NAME = ".prepare-journal.jsonl"
CACHE_LAYOUT = "chw"  # how this version writes the render cache (see :mod:`sigvision.steps.prepare`)


def load_prepared(prepared_dir: str | os.PathLike):
    """Read a prepared folder's index and metadata: ``(index DataFrame, prepare.json dict)``.
    A folder whose prepare was interrupted (or is still running) is refused."""
    import pandas as pd
    d = Path(prepared_dir)
    if (d / JOURNAL_NAME).is_file():
        raise InputFileError(d, "holds an interrupted (or still running) prepare",
                             "let it finish, or run the same 'sigvision prepare' command with --update to resume it")
    idx, meta = d / "index.csv", d / "prepare.json"
    for p in (idx, meta):
        if not p.is_file():
            raise InputFileError(p, "missing", f"run 'sigvision prepare' to create {d}")
    return pd.read_csv(idx, keep_default_na=False), json.loads(meta.read_text())


def open_cached_images(prepared_dir: str | os.PathLike, record: str) -> np.ndarray:
    """The cached images of one record, memory-mapped read-only, as (n_epochs, H, W, 3) or
    (H, W, 3): a transposed view of a planar cache, so callers see one layout."""
    d = Path(prepared_dir)
    _, meta = load_prepared(d)
    return _cached_images(d, meta, record)


def _cached_images(d: Path, meta: dict, record: str) -> np.ndarray:
    """:func:`open_cached_images` with the folder's ``prepare.json`` already read (reading the
    index again per image cost 10 s at 1,000 nights for a contact sheet)."""
    if not meta.get("cache_dir"):
        raise InputFileError(d, "was prepared without an image cache", "prepare again with prepare.cache_images: true")
    p = d / meta["cache_dir"] / f"{record}.npy"
    if not p.is_file():
        raise InputFileError(p, "cached images missing", "prepare again with --overwrite")
    arr = np.load(p, mmap_mode="r")
    return np.moveaxis(arr, -3, -1) if cache_layout(meta) == "chw" else arr


def cache_layout(meta: dict) -> str:
    """The render cache layout of a prepared folder's ``prepare.json`` (``"hwc"`` when unrecorded)."""
    layout = meta.get("cache_layout", "hwc")
    if layout not in ("hwc", "chw"):
        raise ValueError(f"unknown cache_layout {layout!r} in prepare.json; prepare again with --overwrite")
    return layout


def blend_csv_path(cfg: Config) -> Path:
    return cfg.run_path / f"files_blend_{cfg.blend.method}_{cfg.blend.split}.csv"


def post_csv_path(cfg: Config) -> Path:
    return cfg.run_path / "files_post.csv"


def blend_paths(cfg: Config) -> list[Path]:
    """The probability files to blend, in the order of ``blend.models``: each model's
    ``<model>_<split>_<checkpoint>.npy`` for its own ``blend.checkpoint``."""
    preds = cfg.run_path / "preds"
    b = cfg.blend
    if b.models:
        paths = []
        for m in b.models:
            ck = b.checkpoint_for(m)
            p = preds / f"{m}_{b.split}_{ck}.npy"
            if not p.is_file():
                raise InputFileError(p, "prediction file not found", infer_hint(cfg, m, ck))
            paths.append(p)
        return paths
    suffix = f"_{b.split}_{b.checkpoint}.npy"  # one checkpoint (per-model forms need blend.models)
    paths = sorted(preds.glob(f"*{suffix}")) if preds.is_dir() else []
    if not paths:
        raise InputFileError(preds, f"no '*{suffix}' prediction files", "run inferblend.py (sigvision infer) first")
    return paths


def infer_hint(cfg: Config, model: str, checkpoint: str) -> str:
    """The fix for a missing ``<model>_<split>_<checkpoint>.npy``: the infer command that writes
    it (with the model's saved training config when the run has one), and which checkpoints
    the model has predictions for."""
    saved = cfg.run_path / model / "config.yaml"
    src = str(saved) if saved.is_file() else f"<{model}'s config>"
    cmd = f"sigvision infer -c {src} --set infer.checkpoint={checkpoint}"
    if cfg.blend.split == "test" and cfg.infer.test_dir:
        cmd += f" --set infer.test_dir={cfg.infer.test_dir}"
    tag = f"{model}_{cfg.blend.split}_"
    have = sorted(p.name[len(tag):-4] for p in (cfg.run_path / "preds").glob(f"{tag}*.npy"))
    found = f" ({model} has predictions for checkpoint(s) {', '.join(have)} only)" if have else ""
    return (f"run inferblend.py for {model} at checkpoint {checkpoint}: {cmd}{found}; "
            "or fix blend.models / blend.checkpoint")


def row_table(cfg: Config, records, epochs):
    """onset_s (and file) for (record, epoch) rows from the prepared index of the split."""
    import pandas as pd
    prepared = cfg.infer.test_dir if cfg.blend.split == "test" else cfg.prepared_path
    if cfg.blend.split == "test" and not prepared:
        raise ConfigError("blend.split=test reads the test rows from infer.test_dir, which is not set; "
                          "set infer.test_dir to the prepared test folder used by infer")
    index, _ = load_prepared(prepared)
    index = index.assign(record=index["record"].astype(str))
    rows = pd.DataFrame({"record": [str(r) for r in records], "epoch": np.asarray(epochs, dtype=np.int64)})
    cols = ["record", "epoch", "onset_s"] + (["file"] if "file" in index else []) + \
        (["label"] if "label" in index else []) + (["quality"] if "quality" in index else [])
    merged = rows.merge(index[cols], on=["record", "epoch"], how="left", validate="one_to_one")
    if merged["onset_s"].isna().any():
        raise InputFileError(prepared, "predictions name epochs the prepared index does not have",
                             "blend predictions made from this prepared folder")
    return merged


def record_quality(cfg: Config, records):
    """Each ECG record's ``quality`` from the prepared index of the split (None when the
    folder was prepared before quality was recorded)."""
    prepared = cfg.infer.test_dir if cfg.blend.split == "test" else cfg.prepared_path
    try:
        index, _ = load_prepared(prepared)
    except InputFileError:
        return None
    if "quality" not in index:
        return None
    q = dict(zip(index["record"].astype(str), index["quality"].astype(str)))
    return [q.get(str(r), "") for r in records]


def truth_matrix(labels, n_classes: int) -> np.ndarray:
    """True labels of a blend sidecar as (n, n_classes) bool: multi-hot rows as they are, the
    class indices of a single-label task (``data.ecg_task: binary``) one-hot."""
    y = np.asarray(labels)
    if y.ndim == 1:
        y = np.eye(n_classes, dtype=bool)[y.astype(np.int64)]
    return y.astype(bool)
