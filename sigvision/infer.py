"""Prediction with trained folds (``sigvision infer``; ``inferblend.py``).

For the experiment's model and checkpoint choice (``infer.checkpoint``: best, last or an
epoch number) it writes, under ``<weights_dir>/<experiment>/preds/``:

* ``<model>_oof_<checkpoint>.npy``: out-of-fold probabilities for every training row, each
  predicted by the fold model that did not see it (the blender fits weights on these);
* with ``infer.test_dir`` (a prepared folder of test recordings):
  ``<model>_fold_<k>_<epoch>.npy`` per fold (named as in the MAIC seed, e.g.
  ``vit_base_patch16_224_fold_0_4.npy``) and ``<model>_test_<checkpoint>.npy``, their mean.

Every ``.npy`` has a sidecar ``.json`` naming the class order, the row ids (record, epoch),
the model, the checkpoints and the config hash; :func:`load_probs` checks them on reading.
Images are read from the memory-mapped render cache batch by batch (a night is never held
whole); test-time augmentation re-renders windows shifted in time from the cached signals.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .artifacts import save_npy, write_json
from .config import Config, config_hash
from .errors import InputFileError
from .train import (checkpoint_path, load_checkpoint_model, load_or_make_folds, load_training_index, make_dataset,
                    predict_dataset, task_spec)

__all__ = ["infer", "predict_rows", "load_probs", "save_probs", "preds_dir"]

log = logging.getLogger(__name__)


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


def predict_rows(model, mmeta: dict, cfg: Config, prepared_dir, rows, *, device, shift_s: float = 0.0) -> np.ndarray:
    """Probabilities for ``rows`` of a prepared folder; ``shift_s`` != 0 re-renders shifted windows."""
    kind = mmeta.get("input", "image")
    if shift_s == 0.0 or kind == "signal":
        ds = make_dataset(kind, prepared_dir, rows, mean=mmeta["mean"], std=mmeta["std"],
                          meta_features=tuple(mmeta["meta_features"]))
        return predict_dataset(model, ds, batch_size=cfg.infer.batch_size, device=device,
                               multilabel=bool(mmeta.get("multilabel", False)))
    return _predict_shifted(model, mmeta, cfg, prepared_dir, rows, device=device, shift_s=shift_s)


@torch.inference_mode()
def _predict_shifted(model, mmeta, cfg, prepared_dir, rows, *, device, shift_s):
    """TTA: windows moved by ``shift_s`` seconds (zeros past the night's ends), rendered per batch."""
    from .render import context_windows, get_renderer

    d = cfg.data
    renderer = get_renderer(cfg.render, fs_hz=d.fs_hz)
    mean = np.asarray(mmeta["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(mmeta["std"], np.float32).reshape(1, 3, 1, 1)
    types = list(d.channel_types) or None
    out = np.zeros((len(rows), len(mmeta["classes"])), np.float32)
    shift = int(round(shift_s * d.fs_hz))
    for rec, grp in rows.groupby("record", sort=False):
        sig = np.load(Path(prepared_dir) / "signals" / f"{rec}.npy", mmap_mode="r")
        if types is None:
            from .loaders.psg import channel_type_of

            types = [channel_type_of(c) for c in d.channels]
        pos = grp.index.to_numpy()
        eps = grp["epoch"].to_numpy()
        for s in range(0, len(eps), cfg.infer.batch_size):
            w, valid = context_windows(sig, eps[s:s + cfg.infer.batch_size], max(renderer.context, 1))
            w = np.roll(w, -shift, axis=-1)
            if shift > 0:
                w[..., -shift:] = 0
            elif shift < 0:
                w[..., :-shift] = 0
            if renderer.context == 0:  # context 1 was used only to have samples to shift in
                n = sig.shape[-1]
                w = w[..., n:2 * n]
                valid = valid[:, 1:2]
            imgs = renderer.render(w, types, valid)
            x = (imgs.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std
            logits = model(torch.from_numpy(x).to(device), None)
            out[pos[s:s + len(imgs)]] = torch.softmax(logits.float(), 1).cpu().numpy()
    return out


def _ckpt_epoch(path: Path) -> int:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    return int(ck["epoch"])


def infer(cfg: Config, *, progress: Callable | None = None) -> dict:
    """Write OOF (and, with ``infer.test_dir``, test) probabilities for ``cfg.model``."""
    from .prepare import load_prepared
    from .runtime import resolve_device

    progress = progress or (lambda it, total=None, desc="": it)
    device = resolve_device(cfg.train.device)
    index = load_training_index(cfg)
    spec = task_spec(cfg, index)
    if "epoch" not in index:
        index = index.assign(epoch=0)
    folds = load_or_make_folds(cfg.prepared_path, index, cfg.train.folds, cfg.seed, write=False)
    fold_of = dict(zip(folds["record"].astype(str), folds["fold"]))
    which = cfg.infer.checkpoint
    todo = list(cfg.train.train_folds) or list(range(cfg.train.folds))
    out_dir = preds_dir(cfg)
    name = cfg.model.name
    chash = config_hash(cfg, ("data", "render", "model"))
    shifts = (0.0,) + tuple(cfg.infer.tta_shifts_s)
    oof = np.full((len(index), len(spec.classes)), np.nan, np.float32)
    test_probs, test_rows, written, classes = [], None, {}, None
    if cfg.infer.test_dir:
        test_rows, _ = load_prepared(cfg.infer.test_dir)
        test_rows = test_rows.reset_index(drop=True)
        if "epoch" not in test_rows:
            test_rows = test_rows.assign(epoch=0)
    ckpts = {}
    for k in progress(todo, total=len(todo), desc=f"infer {name}"):
        ck = checkpoint_path(cfg, k, which)
        model, mmeta = load_checkpoint_model(ck, device)
        if mmeta["config_hash"] != chash:
            raise InputFileError(ck, "was trained with different data/render/model settings than this config",
                                 "use the config the model was trained with")
        classes = mmeta["classes"]
        ckpts[k] = str(ck)
        va = index[index["record"].astype(str).map(fold_of) == k]
        oof[va.index.to_numpy()] = np.mean([predict_rows(model, mmeta, cfg, cfg.prepared_path, va.reset_index(drop=True),
                                                         device=device, shift_s=s) for s in shifts], axis=0)
        if test_rows is not None:
            p = np.mean([predict_rows(model, mmeta, cfg, cfg.infer.test_dir, test_rows, device=device, shift_s=s)
                         for s in shifts], axis=0)
            ep = _ckpt_epoch(ck)
            f = save_probs(out_dir / f"{name}_fold_{k}_{ep}.npy", p, classes=classes, records=test_rows["record"],
                           epochs=test_rows["epoch"], model=name, fold=k, checkpoint=str(ck), config_hash=chash,
                           kind="test", tta_shifts_s=list(shifts))
            written[f"fold_{k}"] = f
            test_probs.append(p)
    done = ~np.isnan(oof).any(1)
    f = save_probs(out_dir / f"{name}_oof_{which}.npy", oof[done], classes=classes,
                   records=index["record"][done], epochs=index["epoch"][done], model=name, folds=todo,
                   checkpoints=ckpts, config_hash=chash, kind="oof", tta_shifts_s=list(shifts),
                   multilabel=spec.multilabel, labels=spec.targets[done].tolist())
    written["oof"] = f
    if test_probs:
        written["test"] = save_probs(out_dir / f"{name}_test_{which}.npy", np.mean(test_probs, 0), classes=classes,
                                     records=test_rows["record"], epochs=test_rows["epoch"], model=name,
                                     folds=todo, checkpoints=ckpts, config_hash=chash, kind="test",
                                     tta_shifts_s=list(shifts))
    return written
