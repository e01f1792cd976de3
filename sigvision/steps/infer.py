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

import logging
from typing import Callable, Iterable

import numpy as np

from ..config import Config
from ..ensemble import fold_members, predict_rows_tta, run_members
from ..errors import ConfigError
from ..io.probs import load_probs, preds_dir, save_probs
from ..io.runs import load_prepared
from ..runtime import cleanup_distributed, dist_info, init_distributed, resolve_device
from ..tasks import task_for
from ..train.checkpoints import model_config_hash
from ..train.data import load_training_index
from ..train.folds import load_or_make_folds
from ..train.loop import is_signal_model, task_spec

__all__ = ["infer", "load_probs", "save_probs", "preds_dir", "shard_records"]

log = logging.getLogger(__name__)










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
    if cfg.infer.tta_shifts_s and not task_for(cfg.data).context_windows:
        raise ConfigError(f"infer.tta_shifts_s={list(cfg.infer.tta_shifts_s)} shifts the context window of sleep "
                          f"epochs; data.task={cfg.data.task} has none: set infer.tta_shifts_s: []")
    if cfg.infer.tta_shifts_s and is_signal_model(cfg.model.name):
        # the shifted windows are re-rendered images; a 1-D model reads the saved signals, so every
        # pass would be the same and the sidecar would list shifts that were never applied
        raise ConfigError(f"infer.tta_shifts_s={list(cfg.infer.tta_shifts_s)} re-renders shifted images; "
                          f"{name} is a 1-D signal model: set infer.tta_shifts_s: []")
    oof = np.full((len(index), len(spec.classes)), np.nan, np.float32)
    test_probs, test_rows, written = [], None, {}
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
    oof_parts, test_parts, ckpts, epochs_of = [], {}, {}, {}

    def predict_fold(m, model, mmeta):
        """The fold's validation rows (this process's shard) and, with a test folder, the test rows."""
        k = m.fold
        ckpts[k] = str(m.checkpoint)
        va = _rows_of(index[index["record"].astype(str).map(fold_of) == k], mine)
        if len(va):
            p = predict_rows_tta(model, mmeta, cfg, cfg.prepared_path, va.reset_index(drop=True), device=device)
            if dist_on:
                oof_parts.append((va.index.to_numpy(), p))
            else:
                oof[va.index.to_numpy()] = p
        if test_rows is None:
            return
        epochs_of[k] = mmeta["epoch"]
        if not dist_on:
            test_parts[k] = predict_rows_tta(model, mmeta, cfg, cfg.infer.test_dir, test_rows, device=device)
            return
        p = (predict_rows_tta(model, mmeta, cfg, cfg.infer.test_dir, my_test.reset_index(drop=True), device=device)
             if len(my_test) else np.zeros((0, len(spec.classes)), np.float32))
        test_parts[k] = [(my_test.index.to_numpy(), p)]

    members = fold_members({name: cfg}, which)
    _, classes = run_members(members, predict_fold, device=device, progress=progress, desc=f"infer {name}")
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
