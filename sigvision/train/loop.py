"""The training of one fold (the verb, its folders and checks: :mod:`sigvision.steps.train`).

For each fold: a timm model, Adam/AdamW/AdamP/SGD from timm's optimiser factory
(:mod:`sigvision.train.optim`; weight decay skipped for 1-D parameters), a learning-rate schedule
stepped per iteration (cosine warm restarts by default; cosine or poly decay, optional linear
warmup: :mod:`sigvision.schedule`), the task's loss (label-smoothing cross-entropy for sleep:
:mod:`sigvision.train.losses`), FMix and cutout, AMP (bf16/fp16 on CUDA, off or bf16 on CPU),
gradient clipping and early stopping on a validation metric. Outputs under
``<weights_dir>/<experiment>/<model>/fold_<k>/``: the checkpoints of
:mod:`sigvision.train.checkpoints` and ``metrics.csv`` (one row per epoch: losses, accuracy,
macro-F1, kappa, lr, images/s).

Randomness is derived from (seed, fold, epoch, rank) at the start of every epoch, so a resumed
run ends with the same weights as an uninterrupted one (on CPU). Under ``torchrun`` each process
trains on its shard of every batch (DistributedDataParallel, nccl on CUDA, gloo on CPU); only
rank 0 writes. ``train.batch_size`` is per process."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..augment.fmix import mixed_loss
from ..config import Config
from ..errors import ConfigError, InputFileError
from ..io.artifacts import write_csv
from ..metrics.classification import classification_metrics
from ..metrics.ecg import multilabel_metrics
from ..models.factory import build_model
from ..registry import MODELS
from ..runtime import (
    Progress,
    autocast_context,
    check_compile_toolchain,
    epoch_seed,
    init_distributed,
    no_progress,
    resolve_amp,
    resolve_device,
    seed_everything,
    share_from_primary,
)
from ..schedule import EpochSchedule
from ..tasks import TaskSpec, task_for
from ..tasks.ecg import challenge_scorable
from .checkpoints import (
    CheckpointSaver,
    held_checkpoints,
    model_dir,
    model_img_size,
    model_meta,
)
from .data import (
    balanced_weights,
    batch_to_device,
    image_augment,
    make_dataset,
    make_fmix,
    signal_augment,
)
from .forward import predict_dataset
from .loaders import ShardSampler, make_loader
from .losses import make_loss
from .optim import make_optimizer

log = logging.getLogger(__name__)


def task_spec(cfg: Config, index) -> TaskSpec:
    """Classes and targets for the prepared ``index`` under ``cfg.data`` (asks the task)."""
    return task_for(cfg.data).spec(cfg.data, index)


def is_signal_model(name: str) -> bool:
    """sigvision's own registered models take 1-D signals; timm models take images."""

    return name in MODELS


def optimizer_step(model, x, y, meta, opt, loss_fn, *, mix=None, amp=None, scaler=None,
                   grad_clip_norm: float = 0.0) -> torch.Tensor:
    """One training step on a device batch (:func:`batch_to_device`): forward under autocast,
    loss (FMix's mixed loss when ``mix = (perm, lam)`` is given), backward (scaled with an
    fp16 ``scaler``), optional gradient clipping, optimiser step. Returns the loss. The
    trainer's step, shared with the throughput benchmark so that it times exactly what
    training runs."""

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
        out["challenge"] = float(multilabel_metrics(y > 0.5, probs, None, spec.classes, outputs=pred,
                                                    challenge=spec.challenge)["challenge_score"])
    return out


def _monitor(tcfg, spec: TaskSpec, task) -> str:
    return tcfg.monitor if tcfg.monitor != "auto" else task.default_monitor(spec)


def _fold_split(index, folds, fold: int, spec: TaskSpec):
    """The training and validation rows of ``fold`` and their targets."""
    fold_of = dict(zip(folds["record"].astype(str), folds["fold"]))
    in_val = (index["record"].astype(str).map(fold_of) == fold).to_numpy()
    tr_rows, va_rows = index[~in_val].reset_index(drop=True), index[in_val].reset_index(drop=True)
    if len(tr_rows) == 0 or len(va_rows) == 0:
        raise InputFileError(None, f"fold {fold} has an empty training or validation set",
                             "use fewer folds or more subjects")
    return tr_rows, va_rows, spec.targets[~in_val], spec.targets[in_val]


def _check_monitor(tcfg, spec: TaskSpec, monitor: str, va_y: np.ndarray) -> None:
    """Refuse a monitored metric this task lacks before an epoch is spent."""
    if monitor == "loss":
        return
    n_cls = len(spec.classes)
    known = _epoch_metrics(spec, va_y, np.full((len(va_y), n_cls), 1.0 / n_cls, np.float32))
    if monitor not in known:
        raise ConfigError(f"train.monitor={tcfg.monitor!r} is not computed for this task; use one of "
                          f"{', '.join(list(known) + ['loss'])}")


def _fold_model(cfg: Config, kind: str, n_classes: int, device):
    """The fold's model on ``device`` and its input normalisation and augmentation:
    ``(model, mean, std, augment, in_chans)``."""
    in_chans = len(task_for(cfg.data).input_channels(cfg.data)) if kind == "signal" else 3
    model = build_model(cfg.model, n_classes, img_size=model_img_size(int(cfg.render.height), cfg.render.width),
                        in_chans=in_chans).to(device)
    if cfg.train.channels_last and kind == "image":
        model = model.to(memory_format=torch.channels_last)
    if kind != "image":
        return model, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), signal_augment(cfg), in_chans
    import timm.data  # heavy (1.6 s); a fold of an image model needs it, nothing else here does

    dcfg = timm.data.resolve_data_config({}, model=model.backbone)
    return model, tuple(dcfg["mean"]), tuple(dcfg["std"]), image_augment(cfg.train), in_chans


def _fold_optimisation(tcfg, model, steps_per_epoch: int, amp):
    """Optimiser, per-iteration learning-rate schedule (None when constant) and fp16 scaler."""
    opt = make_optimizer(tcfg, model)
    sched = (EpochSchedule(opt, tcfg.scheduler, epochs=tcfg.epochs, steps_per_epoch=steps_per_epoch,
                           min_lr=tcfg.min_lr, t0_epochs=tcfg.t0_epochs, t_mult=tcfg.t_mult,
                           warmup_epochs=tcfg.warmup_epochs, poly_power=tcfg.poly_power)
             if tcfg.scheduler != "none" or tcfg.warmup_epochs > 0 else None)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    return opt, sched, scaler


@dataclass
class _Progress:
    """Where a fold stands: the next epoch, the best monitored score and its epoch, epochs
    without improvement, and the per-epoch history (``last.pt`` holds it for ``--resume``)."""

    start: int = 0
    best: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list = field(default_factory=list)

    def update(self, epoch: int, score: float, higher_better: bool) -> bool:
        improved = self.best is None or (score > self.best if higher_better else score < self.best)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
        else:
            self.bad_epochs += 1
        return improved


def _resume(last: Path, model, opt, sched, scaler, device, fold: int) -> _Progress:
    """Load ``last.pt`` into the model, optimiser, schedule and scaler (before DDP wraps the
    model, so DDP starts every rank from rank 0's weights); the fold's progress."""
    ck = torch.load(last, map_location=device, weights_only=False)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    if sched is not None and ck.get("scheduler"):
        sched.load_state_dict(ck["scheduler"])
    if scaler is not None and ck.get("scaler"):
        scaler.load_state_dict(ck["scaler"])
    log.info("fold %d: resumed after epoch %d", fold, ck["epoch"])
    return _Progress(ck["epoch"] + 1, ck["best"], ck["best_epoch"], ck["bad_epochs"], ck.get("history", []))


def _refuse_held(out: Path, tcfg, resume: bool, info) -> None:
    """Refuse a folder that already holds checkpoints (unless resuming), on every rank at once:
    rank 0 looks and broadcasts, since a rank left behind would wait in its first all-reduce
    until the collective timeout."""
    held = held_checkpoints(out, tcfg) if not resume and info.primary else ""
    if info.enabled:
        held = str(share_from_primary(held))
    if held:
        raise InputFileError(out, *held.split("|", 1))


def _validate(model, ds_va, spec: TaskSpec, tcfg, device, amp, info) -> tuple[float, dict]:
    """The validation loss (BCE or cross-entropy of the probabilities) and metrics."""
    probs = predict_dataset(model, ds_va, batch_size=max(tcfg.batch_size, 32), device=device, amp=amp, info=info,
                            num_workers=tcfg.num_workers, multilabel=spec.multilabel, prefetch=tcfg.prefetch_factor)
    y = ds_va.targets
    if spec.multilabel:
        va_loss = float(nn.BCELoss()(torch.from_numpy(np.clip(probs, 1e-7, 1 - 1e-7)), torch.from_numpy(y)))
    else:
        va_loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1))))
    return va_loss, _epoch_metrics(spec, y, probs)


def train_fold(cfg: Config, fold: int, index, folds, *, resume: bool = False, progress: Progress | None = None,
               spec: TaskSpec | None = None, epoch_callback=None, _stop_after_epoch: int | None = None) -> dict:
    """Train one fold; returns ``{"best": metric, "best_epoch": e, "epochs_run": n}``.

    ``epoch_callback(epoch, score)`` is called after each epoch with the monitored validation
    score (hyper-parameter search uses it to prune); an exception it raises stops the fold.
    """
    tcfg = cfg.train
    device = resolve_device(tcfg.device)
    info = init_distributed(device)
    amp = resolve_amp(tcfg.amp, device)
    spec = spec or task_spec(cfg, index)
    if tcfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
    kind = "signal" if is_signal_model(cfg.model.name) else "image"
    tr_rows, va_rows, tr_y, va_y = _fold_split(index, folds, fold, spec)
    monitor = _monitor(tcfg, spec, task_for(cfg.data))
    _check_monitor(tcfg, spec, monitor, va_y)
    out = model_dir(cfg) / f"fold_{fold}"
    seed_everything(epoch_seed(cfg.seed, fold), 0)  # same initial weights on every rank
    model, mean, std, aug, in_chans = _fold_model(cfg, kind, len(spec.classes), device)
    common = {"mean": mean, "std": std, "meta_features": cfg.model.meta_features}
    ds_tr = make_dataset(kind, cfg.prepared_path, tr_rows, augment=aug, seed=epoch_seed(cfg.seed, fold, 1),
                         targets=tr_y, **common, **({"random_windows": True} if kind == "signal" else {}))
    ds_va = make_dataset(kind, cfg.prepared_path, va_rows, targets=va_y, **common)
    meta = {**model_meta(cfg, list(spec.classes), mean, std, int(cfg.render.height)),
            "multilabel": spec.multilabel, "input": kind, "in_chans": in_chans}
    if getattr(model, "classical", False):
        return _fit_classical_fold(cfg, fold, model, ds_tr, ds_va, spec, meta, out, resume=resume, info=info,
                                   device=device, monitor=monitor)
    sampler = ShardSampler(len(ds_tr), shuffle=True, seed=epoch_seed(cfg.seed, fold, 2), rank=info.rank,
                           world=info.world_size,
                           weights=balanced_weights(tr_y, spec.multilabel) if tcfg.sampler == "balanced" else None)
    # a last batch of one image fails in batch norm over a 1x1 map (small renders, CNNs): drop it
    loader = make_loader(ds_tr, sampler, tcfg.batch_size, tcfg.num_workers, device,
                         drop_last=tcfg.batch_size > 1 and len(sampler) % tcfg.batch_size == 1,
                         prefetch=tcfg.prefetch_factor)
    steps_per_epoch = min(len(loader), tcfg.max_steps_per_epoch or len(loader))
    opt, sched, scaler = _fold_optimisation(tcfg, model, steps_per_epoch, amp)
    loss_fn = make_loss(tcfg, spec, tr_y, device, task_for(cfg.data).default_loss())
    fmix = make_fmix(tcfg) if kind == "image" else None
    _refuse_held(out, tcfg, resume, info)
    state = _resume(out / "last.pt", model, opt, sched, scaler, device, fold) \
        if resume and (out / "last.pt").is_file() else _Progress()
    net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None) if info.enabled else model
    if tcfg.compile:
        check_compile_toolchain()
        net = torch.compile(net)
    parts = {"net": net, "model": model, "loader": loader, "sampler": sampler, "ds_tr": ds_tr, "ds_va": ds_va,
             "opt": opt, "sched": sched, "scaler": scaler, "loss_fn": loss_fn, "fmix": fmix}
    _run_epochs(cfg, fold, parts, state, spec=spec, meta=meta, out=out, monitor=monitor, device=device, amp=amp,
                info=info, steps_per_epoch=steps_per_epoch, progress=progress or no_progress,
                epoch_callback=epoch_callback, stop_after=_stop_after_epoch)
    return {"fold": fold, "best": state.best, "best_epoch": state.best_epoch, "epochs_run": len(state.history),
            "monitor": monitor}


def _run_epochs(cfg: Config, fold: int, p: dict, state: _Progress, *, spec, meta, out: Path, monitor: str,
                device, amp, info, steps_per_epoch: int, progress, epoch_callback, stop_after) -> None:
    """The epochs of a fold from ``state.start``: train, validate, save (rank 0), stop early."""
    tcfg = cfg.train
    saver = CheckpointSaver(out)
    opt, sched, scaler = p["opt"], p["sched"], p["scaler"]
    for epoch in range(state.start, tcfg.epochs):
        seed_everything(epoch_seed(cfg.seed, fold, epoch), info.rank)
        rng = np.random.default_rng(epoch_seed(cfg.seed, fold, epoch, info.rank, 7))
        p["sampler"].set_epoch(epoch)
        p["ds_tr"].set_epoch(epoch)
        tr_loss, img_s, secs = _train_one_epoch(
            p["net"], p["loader"], opt, sched, scaler, p["loss_fn"], p["fmix"], tcfg, device, amp, rng,
            epoch * steps_per_epoch, steps_per_epoch, progress if info.primary else no_progress,
            f"fold {fold} epoch {epoch}", p["ds_tr"])
        if info.enabled:
            # each rank's BatchNorm statistics moved with its own last batch; every shard is
            # scored with rank 0's, the ones the checkpoint holds
            for buf in p["model"].buffers():
                dist.broadcast(buf, src=0)
        va_loss, mets = _validate(p["model"], p["ds_va"], spec, tcfg, device, amp, info)
        state.history.append({"epoch": epoch, "train_loss": tr_loss, "val_loss": va_loss, **mets,
                              "lr": opt.param_groups[0]["lr"], "train_img_s": img_s, "seconds": secs})
        score = va_loss if monitor == "loss" else mets[monitor]
        improved = state.update(epoch, score, higher_better=monitor != "loss")
        if info.primary:
            weights = p["model"].state_dict()
            full = {"model": weights, "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "scaler": scaler.state_dict() if scaler is not None else None, "epoch": epoch,
                    "best": state.best, "best_epoch": state.best_epoch, "bad_epochs": state.bad_epochs,
                    "history": state.history, "meta": meta}
            saver.save(epoch, {"model": weights, "epoch": epoch, "meta": meta}, full,
                       keep_epoch=tcfg.keep_every_epoch, is_best=improved)
            write_csv(out / "metrics.csv", pd.DataFrame(state.history))
            log.info("fold %d epoch %d: train_loss %.4f val_loss %.4f %s", fold, epoch, tr_loss, va_loss,
                     " ".join(f"{k} {v:.3f}" for k, v in mets.items()))
        if epoch_callback is not None:
            epoch_callback(epoch, score)
        if stop_after is not None and epoch >= stop_after:
            raise KeyboardInterrupt(f"stopped after epoch {epoch} (test hook)")
        if tcfg.early_stopping_patience and state.bad_epochs >= tcfg.early_stopping_patience:
            log.info("fold %d: early stop after epoch %d (best %s at epoch %d)", fold, epoch, state.best,
                     state.best_epoch)
            break


def _classical_features(model, ds, rows: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Features of rows of a signal dataset for a classical model: every window of a windowed
    ECG record (each a sample with its record's target), else the row's one item. Returns
    ``(features (n_samples, n_features), row of each sample)``."""
    feats, owner = [], []
    if not getattr(ds, "windowed", False):  # one item per row: in chunks (sleep epochs are many)
        step = max(1, min(512, getattr(ds, "max_open_files", 512) // 2))  # a chunk maps its records' files
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            feats.append(model.features(ds.images(chunk), ds.meta[chunk], fs_hz=fs_hz))
        return np.concatenate(feats), np.asarray(rows, dtype=np.int64)
    for i in rows.tolist():
        x = ds.windows(i)
        feats.append(model.features(x, np.repeat(ds.meta[[i]], len(x), axis=0), fs_hz=fs_hz))
        owner += [i] * len(x)
    return np.concatenate(feats), np.asarray(owner, dtype=np.int64)


def _fit_classical_fold(cfg: Config, fold: int, model, ds_tr, ds_va, spec: TaskSpec, meta: dict, out: Path, *,
                        resume: bool, info, device, monitor: str) -> dict:
    """One fold of a classical model (``ecg_baseline``, ``sleep_features``): fitted once in closed form on the
    training records (every window of each), scored on the validation fold, and saved as
    ``epoch_0.pt``, ``best.pt`` and ``last.pt`` with a one-row ``metrics.csv``, the files a
    deep model's fold leaves, so that infer, blend and predict treat it alike."""

    last = out / "last.pt"
    if resume and last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        log.info("fold %d: %s already fitted (resume)", fold, cfg.model.key)
        return {"fold": fold, "best": ck["best"], "best_epoch": 0, "epochs_run": 1, "monitor": monitor}
    if out.exists() and any(out.glob("*.pt")):
        raise InputFileError(out, "already holds checkpoints",
                             "pass --resume to continue, --overwrite to start again, or change the experiment name")
    if hasattr(model, "seed"):  # a seeded fit (sleep_features' forest): reproducible, different per fold
        model.seed = int(cfg.seed) + int(fold)
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
        log.info("fold %d: %d class(es) have one label value in the training rows and are predicted as there "
                 "(their prevalence, or probability 0 for a stage never seen): %s", fold, len(fit["constant_classes"]),
                 ", ".join(str(spec.classes[k]) for k in fit["constant_classes"][:8]))
    if info.primary:
        state = {"model": model.state_dict(), "epoch": 0, "meta": meta}
        CheckpointSaver(out).save(0, state, {**state, "best": score, "best_epoch": 0, "bad_epochs": 0,
                                             "history": [row]}, keep_epoch=cfg.train.keep_every_epoch, is_best=True)
        write_csv(out / "metrics.csv", pd.DataFrame([row]))
        log.info("fold %d: %s fitted on %d sample(s) of %d training row(s) in %.1f s: val_loss %.4f %s", fold,
                 cfg.model.key, len(X), len(ds_tr), secs, va_loss, " ".join(f"{k} {v:.3f}" for k, v in mets.items()))
    return {"fold": fold, "best": score, "best_epoch": 0, "epochs_run": 1, "monitor": monitor}
