"""The one ensemble loop: models x folds x test-time augmentation.

:func:`fold_members` lists the fold models of a run's models (each model's
``train.train_folds``, or every fold, at the checkpoint chosen for it);
:func:`run_members` loads each in turn, checks it belongs with the others (the config hash
it was trained under and the class order every other model and fold predicts) and hands it
to the caller's prediction; :func:`predict_rows_tta` is that prediction for rows of a prepared
folder, averaged over the test-time shifts (:func:`tta_shifts`) as ``infer`` writes them.
:func:`sigvision.blend.blend_models` combines the models' fold means with the run's blend rule and
temperature, as ``blend`` did.

``infer`` (out-of-fold and test rows, sharded under ``torchrun``), ``predict`` (a folder of new
recordings), :func:`sigvision.steps.stage.stage` (one night in memory) and ``export`` (ONNX files)
all go through :func:`run_members`, so all four check every checkpoint the same way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .config import Config
from .config.checkpoints import (
    check_checkpoint_choice,
    checkpoint_choice,
    parse_checkpoint_arg,
    resolve_checkpoint,
)
from .config.load import load_config
from .errors import ConfigError, InputFileError
from .loaders.psg import channel_type_of
from .render import context_windows, get_renderer, night_reference
from .runtime import Progress, autocast_context, no_progress, resolve_amp
from .tasks import task_for
from .train.checkpoints import (
    check_checkpoint_agrees,
    checkpoint_path,
    load_checkpoint_model,
    model_config_hash,
)
from .train.data import make_dataset, meta_rows, normalize_batch
from .train.forward import predict_dataset

__all__ = ["Member", "TrainedRun", "read_run", "run_checkpoints", "fold_members", "run_members", "predict_rows",
           "tta_shifts", "predict_rows_tta"]


@dataclass(frozen=True)
class Member:
    """One fold model of an ensemble: the run's model ``name`` (its folder), the config it
    predicts with, the fold, its checkpoint file and the config hash it must have been trained
    under (that of the model's training config, before any ``--set`` of ``predict``)."""

    name: str
    cfg: Config
    fold: int
    checkpoint: Path
    config_hash: str


def fold_members(cfgs: Mapping[str, Config], which: Mapping[str, str] | str,
                 trained: Mapping[str, Config] | None = None) -> list[Member]:
    """Every fold model of the models ``cfgs`` (name -> config to predict with), in order:
    each model's ``train.train_folds`` (or all ``train.folds``) at its checkpoint ``which``
    (one for all, or name -> checkpoint). ``trained``: the configs the models were trained with,
    when ``cfgs`` carries overrides (the hash is checked against those)."""
    out = []
    for name, cfg in cfgs.items():
        ck = which if isinstance(which, str) else which[name]
        chash = model_config_hash((trained or cfgs)[name])
        for k in list(cfg.train.train_folds) or list(range(cfg.train.folds)):
            out.append(Member(name, cfg, int(k), checkpoint_path(cfg, k, ck), chash))
    return out


def run_members(members: Sequence[Member], predict: Callable, *, device, classes: Sequence[str] | None = None,
                progress: Progress = no_progress, desc: str = "predict") -> tuple[list, list[str]]:
    """Load each member's checkpoint, check it (:func:`check_checkpoint_agrees`: config hash and
    class order, against ``classes`` when given, else the first member's), and call
    ``predict(member, model, meta)``. Returns ``(the results in member order, the classes)``.
    One model is held at a time."""
    results = []
    for m in progress(members, total=len(members), desc=desc):
        model, mmeta = load_checkpoint_model(m.checkpoint, device)
        classes = check_checkpoint_agrees(m.checkpoint, mmeta, config_hash=m.config_hash, classes=classes)
        results.append(predict(m, model, mmeta))
        del model  # freed before the next is loaded (no gc.collect: a full collection per fold cost seconds)
    return results, list(classes or [])


@dataclass(frozen=True)
class TrainedRun:
    """A trained run (``<weights_dir>/<experiment>`` after train -> infer -> blend): its blend
    report (``files_blend_*_oof.json``: models, weights, method, checkpoints, temperature) and
    each blended model's training config, pointed at the run folder."""

    path: Path
    report: dict
    report_path: Path
    configs: dict  # model name -> Config as trained

    @property
    def models(self) -> list[str]:
        return list(self.report["models"])

    @property
    def weights(self) -> list[float]:
        return [float(self.report["weights"][m]) for m in self.models]


def read_run(run_dir, *, how: str = "pass the run folder <weights_dir>/<experiment>") -> TrainedRun:
    """Read a trained run's blend report and its models' configs (``predict``, ``stage()``);
    ``how`` is the fix named when the folder does not exist."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputFileError(run, "run folder not found", how)
    reps = sorted(run.glob("files_blend_*_oof.json"))
    if not reps:
        raise InputFileError(run, "holds no blend report (files_blend_*_oof.json)",
                             "run blend.py on the trained run first (train -> infer -> blend)")
    report = json.loads(reps[0].read_text())
    configs = {}
    for m in report["models"]:
        p = run / m / "config.yaml"
        if not p.is_file():
            raise InputFileError(p, "missing", "the run folder must hold each model's training config")
        configs[m] = replace(load_config(p), weights_dir=str(run.parent), name=run.name)
    return TrainedRun(run, report, reps[0], configs)


def run_checkpoints(report: dict, cfgs: dict, override=None) -> dict[str, str]:
    """The checkpoint each blended model of a run predicts with: ``override`` (one value, a
    list in the order of ``report["models"]``, a mapping model -> checkpoint, or the
    command-line text of one of these), else the blend report's ``checkpoints``, else the
    model's saved ``blend.checkpoint`` for it, else ``best``. ``cfgs``: model -> its config."""

    models = list(report["models"])
    if override is not None:
        key = "--checkpoint"
        choice = parse_checkpoint_arg(override, key) if isinstance(override, str) else checkpoint_choice(override, key)
        check_checkpoint_choice(choice, models, key, models_key="the run's blended models")
        return {m: resolve_checkpoint(choice, m, models, key) for m in models}
    recorded = report.get("checkpoints") or {}
    out = {}
    for m in models:
        if m in recorded:
            out[m] = str(recorded[m])
            continue
        b = cfgs[m].blend
        try:  # a report written before blends recorded their checkpoints
            out[m] = b.checkpoint_for(m)
        except ConfigError:
            out[m] = "best"
    return out


def fold_means(members: Sequence[Member], results: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The mean of each model's fold probabilities, by model name (in member order)."""
    by: dict[str, list] = {}
    for m, p in zip(members, results):
        by.setdefault(m.name, []).append(p)
    return {name: np.mean(ps, axis=0) for name, ps in by.items()}


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
    if not task_for(cfg.data).context_windows or mmeta.get("input", "image") == "signal":
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
