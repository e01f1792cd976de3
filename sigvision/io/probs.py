"""Probability files: ``<name>.npy`` (float32, rows x classes) with a ``<name>.json`` sidecar
naming the class order, the row ids (record, epoch), the model, the checkpoints and the config
hash; written atomically by :func:`save_probs`, checked on reading by :func:`load_probs`
(shape, finiteness, rows summing to one for softmax outputs)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import InputFileError
from .artifacts import save_npy, write_json

__all__ = ["preds_dir", "save_probs", "load_probs"]


def preds_dir(cfg: Config) -> Path:
    return cfg.run_path / "preds"


def save_probs(path: str | os.PathLike, probs: np.ndarray, *, classes, records, epochs, **meta) -> Path:
    """Write probabilities (n_rows, n_classes) and their sidecar JSON (both atomically)."""
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[1] != len(classes) or probs.shape[0] != len(records):
        raise ValueError(f"probabilities of shape {probs.shape} do not match {len(records)} rows x {len(classes)} classes")
    path = Path(path)
    save_npy(path, probs)
    write_json(path.with_suffix(".json"), {"classes": list(classes), "records": [str(r) for r in records],
                                           "epochs": [int(e) for e in epochs], **meta})
    return path


def load_probs(path: str | os.PathLike, *, multilabel: bool = False) -> tuple[np.ndarray, dict]:
    """Read a probability ``.npy`` and its sidecar, checking shape, finiteness and row sums."""
    path = Path(path)
    side = path.with_suffix(".json")
    for p in (path, side):
        if not p.is_file():
            raise InputFileError(p, "missing", "run 'sigvision infer' (inferblend.py) to write predictions")
    try:
        probs = np.load(path, allow_pickle=False)
        meta = json.loads(side.read_text())
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"unreadable ({type(exc).__name__})", "re-run inference to rewrite it") from None
    n_cls, n_rows = len(meta.get("classes", [])), len(meta.get("records", []))
    if probs.ndim != 2 or probs.shape != (n_rows, n_cls):
        raise InputFileError(path, f"shape {probs.shape} disagrees with its sidecar ({n_rows} rows x {n_cls} classes)",
                             "re-run inference; do not mix files from different runs")
    if not np.isfinite(probs).all():
        raise InputFileError(path, f"{int((~np.isfinite(probs)).sum())} non-finite probabilities",
                             "re-run inference (check the model for NaN weights)")
    multilabel = multilabel or bool(meta.get("multilabel", False))
    if not multilabel and n_rows and not np.allclose(probs.sum(1), 1.0, atol=1e-3):
        raise InputFileError(path, "rows do not sum to one", "write softmax probabilities, not logits")
    return probs, meta
