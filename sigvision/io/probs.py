"""Probability files: ``<name>.npy`` (float32, rows x classes) with a ``<name>.json`` sidecar
naming the class order, the row ids (record, epoch), the model, the checkpoints and the config
hash; written atomically by :func:`save_probs`, checked on reading by :func:`load_probs`
(shape, finiteness, rows summing to one for softmax outputs)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import Config
from ..errors import InputFileError
from .artifacts import save_npy, write_json

__all__ = ["preds_dir", "save_probs", "load_probs", "load_aligned"]


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


def load_aligned(paths: Sequence[str | os.PathLike], *, multilabel: bool = False) -> tuple[list[np.ndarray], dict]:
    """Read probability files (``.npy`` + sidecar ``.json``) and check they line up row by row.

    Each file is read with :func:`sigvision.io.probs.load_probs`; every file after the first
    must have the same class order, the same row ids (record, epoch) in the same order, the
    same shape and the same ``kind`` (``oof``/``test``) as the first, and, where both carry
    ``labels``, the same labels.

    Parameters
    ----------
    paths : sequence of path
        Probability ``.npy`` files, one per model (in blend-weight order).
    multilabel : bool
        Passed to :func:`~sigvision.io.probs.load_probs` (skip the row-sum check).

    Returns
    -------
    arrays : list of ndarray, each (n, C) float32
        The probabilities in the order of ``paths``.
    meta : dict
        ``classes``, ``records``, ``epochs``, ``kind`` and ``labels`` (or None) shared by all
        files; ``paths``, ``models`` (sidecar ``model`` or the file stem) and
        ``config_hashes`` per file.

    Raises
    ------
    InputFileError
        A file is missing or unreadable, given twice, or disagrees with the first file (the
        message names both files).
    """

    if isinstance(paths, (str, os.PathLike)) or not len(paths):
        raise ValueError("paths must be a non-empty list of probability .npy files, one per model")
    paths = [Path(p) for p in paths]
    seen: dict[Path, Path] = {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise InputFileError(p, "is given twice", "list each model's probability file once")
        seen[key] = p
    arrays, metas = [], []
    for p in paths:
        probs, meta = load_probs(p, multilabel=multilabel)
        if len(meta.get("epochs", [])) != len(meta.get("records", [])):
            raise InputFileError(p.with_suffix(".json"), "sidecar has different numbers of records and epochs",
                                 "re-run inference to rewrite it")
        arrays.append(probs)
        metas.append(meta)
    ref, ref_meta = paths[0], metas[0]
    ref_rows = np.asarray(ref_meta["records"], dtype=str)
    ref_eps = np.asarray(ref_meta["epochs"], dtype=np.int64)
    fix_rows = "blend predictions of the same prepared data and rows (same infer.test_dir, or OOF with OOF)"
    for p, probs, meta in zip(paths[1:], arrays[1:], metas[1:]):
        against = f"disagrees with {ref}"
        if list(meta["classes"]) != list(ref_meta["classes"]):
            same_set = sorted(meta["classes"]) == sorted(ref_meta["classes"])
            what = "class order" if same_set else "classes"
            raise InputFileError(p, f"{what} {list(meta['classes'])} {against} ({list(ref_meta['classes'])})",
                                 "re-run inference so every model uses the same classes in the same order")
        if ref_meta.get("kind") and meta.get("kind") and meta["kind"] != ref_meta["kind"]:
            raise InputFileError(p, f"is a {meta['kind']!r} file but {ref} is {ref_meta['kind']!r}",
                                 "blend OOF files with OOF files and test files with test files")
        rows = np.asarray(meta["records"], dtype=str)
        eps = np.asarray(meta["epochs"], dtype=np.int64)
        if probs.shape != arrays[0].shape or rows.size != ref_rows.size:
            raise InputFileError(p, f"shape {probs.shape} {against} (shape {arrays[0].shape})", fix_rows)
        bad = np.flatnonzero((rows != ref_rows) | (eps != ref_eps))
        if bad.size:
            same_set = set(zip(rows.tolist(), eps.tolist())) == set(zip(ref_rows.tolist(), ref_eps.tolist()))
            i = int(bad[0])
            detail = (f"row {i} is ({rows[i]}, epoch {eps[i]}) but ({ref_rows[i]}, epoch {ref_eps[i]}) in {ref}; "
                      f"{bad.size} rows differ")
            if same_set:
                raise InputFileError(p, f"has the same row ids as {ref} in a different order ({detail})",
                                     "write both with the same prepared index (re-run inference)")
            raise InputFileError(p, f"row ids (record, epoch) {against}: {detail}", fix_rows)
        if "labels" in meta and "labels" in ref_meta:
            la, lb = np.asarray(meta["labels"]), np.asarray(ref_meta["labels"])
            if la.shape != lb.shape or (la != lb).any():
                n_bad = int((la != lb).sum()) if la.shape == lb.shape else la.size
                raise InputFileError(p, f"labels {against} on {n_bad} rows",
                                     "re-run inference of both models on the same prepared data")
    labels = ref_meta.get("labels")
    common = {
        "classes": list(ref_meta["classes"]), "records": ref_rows.tolist(), "epochs": ref_eps.tolist(),
        "kind": ref_meta.get("kind"),
        "labels": None if labels is None else (np.asarray(labels).astype(int).tolist()),
        "multilabel": bool(multilabel or ref_meta.get("multilabel", False)),
        "paths": [str(p) for p in paths],
        "models": [str(mt.get("model") or p.stem) for p, mt in zip(paths, metas)],
        "config_hashes": [mt.get("config_hash") for mt in metas],
    }
    return arrays, common
