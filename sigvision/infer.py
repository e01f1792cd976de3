"""Prediction with trained folds (``sigvision infer``; ``inferblend.py``).

For the experiment's model and checkpoint choice (``infer.checkpoint``: best, last or an
epoch number, or a per-model list/mapping of which the model's entry (``model.alias`` or ``model.name``) is used: see
:attr:`sigvision.config.Config.infer_checkpoint`) it writes, under
``<weights_dir>/<experiment>/preds/``:

* ``<model>_oof_<checkpoint>.npy``: out-of-fold probabilities for every training row, each
  predicted by the fold model that did not see it (the blender fits weights on these);
* with ``infer.test_dir`` (a prepared folder of test recordings):
  ``<model>_fold_<k>_<epoch>.npy`` per fold (named as in the MAIC seed, e.g.
  ``vit_base_patch16_224_fold_0_4.npy``) and ``<model>_test_<checkpoint>.npy``, their mean.

Every ``.npy`` has a sidecar ``.json`` naming the class order, the row ids (record, epoch),
the model, the checkpoints and the config hash; :func:`load_probs` checks them on reading.
Images are read from the memory-mapped render cache batch by batch (a night is never held
whole); test-time augmentation re-renders windows shifted in time from the cached signals.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the work is sharded by record: records are sorted and
rank ``r`` predicts records ``r, r + world, ...`` whole (every fold model it needs), the
per-row probabilities are gathered on rank 0, and only rank 0 writes the files (the other
ranks return an empty dict). The merged files hold the same rows in the same order as a
single-process run.
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
from .config import Config
from .errors import ConfigError, InputFileError
from .runtime import autocast_context, resolve_amp
from .train import (check_checkpoint_agrees, checkpoint_path, is_signal_model, load_checkpoint_model,
                    load_or_make_folds, load_training_index, make_dataset, meta_rows, model_config_hash,
                    normalize_batch, predict_dataset, task_spec)

__all__ = ["infer", "predict_rows", "load_probs", "save_probs", "preds_dir", "shard_records"]

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
                               amp=resolve_amp(cfg.infer.amp, device, "infer.amp"), num_workers=cfg.infer.num_workers,
                               multilabel=bool(mmeta.get("multilabel", False)), prefetch=cfg.infer.prefetch_factor)
    return _predict_shifted(model, mmeta, cfg, prepared_dir, rows, device=device, shift_s=shift_s)


def tta_shifts(cfg: Config, mmeta: dict) -> tuple[float, ...]:
    """The passes a prediction averages: 0 s plus ``infer.tta_shifts_s`` for image models of a
    sleep run (shifted windows are re-rendered), 0 s alone otherwise."""
    if cfg.data.task != "sleep" or mmeta.get("input", "image") == "signal":
        return (0.0,)
    return (0.0,) + tuple(float(s) for s in cfg.infer.tta_shifts_s)


def predict_rows_tta(model, mmeta: dict, cfg: Config, prepared_dir, rows, *, device) -> np.ndarray:
    """:func:`predict_rows` averaged over the :func:`tta_shifts` passes: what ``infer`` writes,
    so ``predict`` and ``stage`` give the probabilities the blend weights were fitted on."""
    return np.mean([predict_rows(model, mmeta, cfg, prepared_dir, rows, device=device, shift_s=s)
                    for s in tta_shifts(cfg, mmeta)], axis=0)


@torch.inference_mode()
def _predict_shifted(model, mmeta, cfg, prepared_dir, rows, *, device, shift_s):
    """TTA: windows moved by ``shift_s`` seconds (zeros past the night's ends), rendered per batch."""
    from .render import context_windows, get_renderer, night_reference

    d = cfg.data
    renderer = get_renderer(cfg.render, fs_hz=d.fs_hz)
    amp = resolve_amp(cfg.infer.amp, device, "infer.amp")
    types = list(d.channel_types) or None
    feats = tuple(mmeta["meta_features"])
    out = np.zeros((len(rows), len(mmeta["classes"])), np.float32)
    shift = int(round(shift_s * d.fs_hz))
    for rec, grp in rows.groupby("record", sort=False):
        sig = np.load(Path(prepared_dir) / "signals" / f"{rec}.npy", mmap_mode="r")
        if types is None:
            from .loaders.psg import channel_type_of

            types = [channel_type_of(c) for c in d.channels]
        # render.night_norm: the statistics of the whole prepared night, as render_night took them
        ref = night_reference(renderer, sig, types)
        kw = {} if ref is None else {"ref": ref}
        pos = grp.index.to_numpy()
        eps = grp["epoch"].to_numpy()
        meta = torch.from_numpy(meta_rows(grp, feats)) if feats else None  # as the dataset builds them
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
            imgs = renderer.render(w, types, valid, **kw)
            x = normalize_batch(torch.from_numpy(imgs).to(device).permute(0, 3, 1, 2), mmeta["mean"], mmeta["std"])
            with autocast_context(amp, device):
                logits = model(x, None if meta is None else meta[s:s + len(imgs)].to(device))
            out[pos[s:s + len(imgs)]] = torch.softmax(logits.float(), 1).cpu().numpy()
    return out


def shard_records(records: Iterable, rank: int, world: int) -> list[str]:
    """The records rank ``rank`` of ``world`` predicts: sorted unique ids, every ``world``-th from ``rank``."""
    return sorted({str(r) for r in records})[rank::world]


def _rows_of(rows, mine: set[str] | None):
    """``rows`` restricted to the records in ``mine`` (all rows when ``mine`` is None)."""
    if mine is None:
        return rows
    return rows[rows["record"].astype(str).isin(mine).to_numpy()]


def _gather_rows(parts: list, n_rows: int, n_cls: int, dst: int = 0):
    """Gather ``[(positions, probs), ...]`` from every rank onto ``dst``: a (n_rows, n_cls) array
    (NaN where no rank predicted) on ``dst``, None elsewhere."""
    import torch.distributed as dist

    world = dist.get_world_size()
    got = [None] * world if dist.get_rank() == dst else None
    dist.gather_object(parts, got, dst=dst)
    if got is None:
        return None
    full = np.full((n_rows, n_cls), np.nan, np.float32)
    seen = np.zeros(n_rows, bool)
    for rank_parts in got:
        for pos, p in rank_parts:
            pos = np.asarray(pos, dtype=np.int64)
            if seen[pos].any() or len(np.unique(pos)) != len(pos):  # shards must not overlap
                raise RuntimeError(f"{int(seen[pos].sum())} row(s) predicted by more than one process")
            seen[pos] = True
            full[pos] = p
    return full


def infer(cfg: Config, *, progress: Callable | None = None) -> dict:
    """Write OOF (and, with ``infer.test_dir``, test) probabilities for ``cfg.model``.

    Under torchrun each process predicts its shard of the records (:func:`shard_records`);
    rank 0 gathers and writes; the other ranks return ``{}``.
    """
    from .runtime import cleanup_distributed, dist_info, init_distributed, resolve_device

    info = dist_info()
    device = resolve_device(cfg.train.device)
    if not info.enabled:
        return _infer(cfg, progress=progress, device=device, info=info)
    import torch.distributed as dist

    owned = not dist.is_initialized()
    init_distributed(device)
    try:
        written = _infer(cfg, progress=progress, device=device, info=info)
        dist.barrier()  # every rank returns after rank 0 has written the files
        return written
    finally:
        if owned:
            cleanup_distributed()


def _infer(cfg: Config, *, progress: Callable | None, device, info) -> dict:
    from .prepare import load_prepared

    progress = progress or (lambda it, total=None, desc="": it)
    dist_on = info.enabled
    index = load_training_index(cfg)
    spec = task_spec(cfg, index)
    if "epoch" not in index:
        index = index.assign(epoch=0)
    folds = load_or_make_folds(cfg.prepared_path, index, cfg.train.folds, cfg.seed, write=False)
    fold_of = dict(zip(folds["record"].astype(str), folds["fold"]))
    which = cfg.infer_checkpoint
    todo = list(cfg.train.train_folds) or list(range(cfg.train.folds))
    out_dir = preds_dir(cfg)
    name = cfg.model.key  # the model's name in the run (its files)
    chash = model_config_hash(cfg)
    shifts = (0.0,) + tuple(cfg.infer.tta_shifts_s)
    if cfg.infer.tta_shifts_s and cfg.data.task != "sleep":
        raise ConfigError(f"infer.tta_shifts_s={list(cfg.infer.tta_shifts_s)} shifts the context window of sleep "
                          f"epochs; data.task={cfg.data.task} has none: set infer.tta_shifts_s: []")
    if cfg.infer.tta_shifts_s and is_signal_model(cfg.model.name):
        # the shifted windows are re-rendered images; a 1-D model reads the saved signals, so every
        # pass would be the same and the sidecar would list shifts that were never applied
        raise ConfigError(f"infer.tta_shifts_s={list(cfg.infer.tta_shifts_s)} re-renders shifted images; "
                          f"{name} is a 1-D signal model: set infer.tta_shifts_s: []")
    oof = np.full((len(index), len(spec.classes)), np.nan, np.float32)
    test_probs, test_rows, written, classes = [], None, {}, None
    if cfg.infer.test_dir:
        test_rows, _ = load_prepared(cfg.infer.test_dir)
        test_rows = test_rows.reset_index(drop=True)
        if "epoch" not in test_rows:
            test_rows = test_rows.assign(epoch=0)
    # record-level shards (None: this process predicts everything)
    mine = set(shard_records(index["record"], info.rank, info.world_size)) if dist_on else None
    mine_test = (set(shard_records(test_rows["record"], info.rank, info.world_size))
                 if dist_on and test_rows is not None else None)
    my_test = _rows_of(test_rows, mine_test) if test_rows is not None else None
    oof_parts, test_parts = [], {}
    ckpts, epochs_of = {}, {}
    for k in progress(todo, total=len(todo), desc=f"infer {name}"):
        ck = checkpoint_path(cfg, k, which)
        model, mmeta = load_checkpoint_model(ck, device)
        classes = check_checkpoint_agrees(ck, mmeta, config_hash=chash, classes=classes)
        ckpts[k] = str(ck)
        va = _rows_of(index[index["record"].astype(str).map(fold_of) == k], mine)
        if len(va):
            p = predict_rows_tta(model, mmeta, cfg, cfg.prepared_path, va.reset_index(drop=True), device=device)
            if dist_on:
                oof_parts.append((va.index.to_numpy(), p))
            else:
                oof[va.index.to_numpy()] = p
        if test_rows is not None:
            epochs_of[k] = mmeta["epoch"]
            if dist_on:
                p = (predict_rows_tta(model, mmeta, cfg, cfg.infer.test_dir, my_test.reset_index(drop=True),
                                      device=device)
                     if len(my_test) else np.zeros((0, len(classes)), np.float32))
                test_parts[k] = [(my_test.index.to_numpy(), p)]
            else:
                p = predict_rows_tta(model, mmeta, cfg, cfg.infer.test_dir, test_rows, device=device)
                test_parts[k] = p
    if dist_on:  # gather every shard on rank 0; only rank 0 writes
        oof = _gather_rows(oof_parts, len(index), len(spec.classes))
        test_parts = {k: _gather_rows(v, len(test_rows), len(classes)) for k, v in test_parts.items()}
        if not info.primary:
            return {}
    for k, p in test_parts.items():
        f = save_probs(out_dir / f"{name}_fold_{k}_{epochs_of[k]}.npy", p, classes=classes, records=test_rows["record"],
                       epochs=test_rows["epoch"], model=name, fold=k, checkpoint=ckpts[k], config_hash=chash,
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
