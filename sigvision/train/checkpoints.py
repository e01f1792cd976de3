"""Checkpoints of a fold: where they are, what they hold, saving them (serialised once, replaced
atomically, the epoch and best copies hard-linked) and loading them with the checks that
they belong to the config (hash) and classes they are used with.

``<weights_dir>/<experiment>/<model>/fold_<k>/``::
    epoch_<e>.pt     weights after each epoch (train.keep_every_epoch)
    best.pt          weights of the best validation epoch by train.monitor
    last.pt          latest state, used by --resume (model, optimiser, scheduler, scaler)"""
from __future__ import annotations

import logging
import os
import pickle
import shutil
from pathlib import Path
from typing import Sequence

import torch

from ..config import Config, ModelConfig, config_hash, config_to_dict
from ..errors import InputFileError
from ..io.artifacts import atomic_path
from ..models.factory import build_model
from ..tasks.ecg import (  # noqa: F401  (re-exported)
    binary_class_names,
    challenge_scorable,
    ecg_class_list,
    ecg_targets,
    index_label_codes,
)

log = logging.getLogger(__name__)


def model_dir(cfg: Config) -> Path:
    return cfg.run_path / cfg.model.key


def checkpoint_path(cfg: Config, fold: int, which: str) -> Path:
    """``which`` is ``best``, ``last`` or an epoch number."""
    d = model_dir(cfg) / f"fold_{fold}"
    return d / (f"epoch_{int(which)}.pt" if str(which).isdigit() else f"{which}.pt")


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save(state)`` to a temporary file beside ``path``, renamed over it when complete."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def _place(src: Path, dest: Path) -> None:
    """Put the complete file ``src`` at ``dest`` as well, atomically: a hard link (a copy where
    the file system has none) made under a temporary name and renamed over ``dest``."""
    with atomic_path(dest, suffix=".pt") as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


class CheckpointSaver:
    """Writes a fold's checkpoints, serialising the weights once per epoch.

    ``save(epoch, weights, state, keep_epoch=..., is_best=...)`` writes the weights-only
    checkpoint ``{"model", "epoch", "meta"}`` once and links it as ``epoch_<e>.pt`` and/or
    ``best.pt``; ``last.pt`` gets the full ``state`` (optimiser, scheduler, scaler, history)
    for ``--resume``. Every file is replaced atomically: an interrupted save leaves the previous
    one whole. Files are replaced, never rewritten in place, so a ``best.pt`` linked to an
    ``epoch_<e>.pt`` keeps its content when later epochs are saved.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def save(self, epoch: int, weights: dict, state: dict | None = None, *, keep_epoch: bool,
             is_best: bool) -> None:
        names = ([f"epoch_{epoch}.pt"] if keep_epoch else []) + (["best.pt"] if is_best else [])
        if names:
            first = self.folder / names[0]
            with atomic_path(first, suffix=".pt") as tmp:
                torch.save(weights, tmp)
                for other in names[1:]:
                    _place(tmp, self.folder / other)
        if state is not None:
            save_checkpoint(self.folder / "last.pt", state)


def model_config_hash(cfg: Config) -> str:
    """The hash of the settings a checkpoint depends on (data, render, model): written into
    every checkpoint by training, compared by :func:`check_checkpoint_agrees` when one is loaded."""
    return config_hash(cfg, ("data", "render", "model"))


def model_meta(cfg: Config, classes, mean, std, img_size) -> dict:
    return {"model": cfg.model.name, "classes": list(classes), "meta_features": list(cfg.model.meta_features),
            "mean": list(mean), "std": list(std), "img_size": img_size,
            "config_hash": model_config_hash(cfg), "config": config_to_dict(cfg)}


def model_img_size(height: int, width: int):
    """The ``img_size`` of a ViT-like model for rendered images: the side when square, else
    (height, width) (a square model refuses wider images: "Input width ... doesn't match")."""
    return int(height) if int(height) == int(width) else (int(height), int(width))


def load_checkpoint_model(path: str | os.PathLike, device="cpu"):
    """Rebuild a trained model from a checkpoint: ``(model, meta)``; ``meta["epoch"]`` is the
    epoch the checkpoint was saved after."""

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "checkpoint not found", "train the model first or pick another infer.checkpoint")
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise InputFileError(path, f"cannot read checkpoint ({type(exc).__name__})",
                             "the file is truncated or corrupt: retrain or resume this fold") from None
    meta = {**ck["meta"], "epoch": int(ck["epoch"])}
    mcfg = ModelConfig(**{**meta["config"]["model"], "pretrained": False, "pretrained_file": "",
                          "meta_features": tuple(meta["meta_features"])})
    width = ((meta.get("config") or {}).get("render") or {}).get("width", meta["img_size"])
    model = build_model(mcfg, len(meta["classes"]), img_size=model_img_size(meta["img_size"], width),
                        in_chans=meta.get("in_chans", 3))
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as exc:  # weights of another model version (shapes, a changed feature set)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(path, f"its weights do not fit {meta['model']} as this sigvision builds it ({first})",
                             "retrain this fold with this version (sigvision train)") from None
    return model.to(device).eval(), meta


def check_checkpoint_agrees(path: str | os.PathLike, meta: dict, *, config_hash: str | None = None,
                            classes: Sequence[str] | None = None) -> list[str]:
    """Refuse a loaded checkpoint that does not belong with the others of an ensemble.

    ``config_hash``: the hash the checkpoint must have been trained with
    (:func:`model_config_hash` of its model's config); ``classes``:
    the class order every other model and fold of the ensemble predicts (None for the first).
    Returns the checkpoint's classes. Every path that averages folds and blends models (infer,
    predict, ``stage()``) calls it for each checkpoint it loads.
    """
    if config_hash is not None and meta.get("config_hash") != config_hash:
        raise InputFileError(path, "was trained with different data/render/model settings than this config",
                             "use the config the model was trained with")
    got = [str(c) for c in meta["classes"]]
    if classes is not None and got != [str(c) for c in classes]:
        raise InputFileError(path, f"predicts the classes {got}, the other models of this ensemble "
                             f"{list(classes)} (order matters)",
                             "blend only models trained on the same labels, or retrain this one")
    return got


def held_checkpoints(out: Path, tcfg) -> str:
    """``""`` when the fold folder ``out`` holds no checkpoint, else ``"problem|fix"`` saying
    whether they are a finished training run or an interrupted one (read from ``last.pt``:
    its epoch against ``train.epochs`` and early stopping)."""
    if not (out.exists() and any(out.glob("*.pt"))):
        return ""
    done, epoch = False, None
    try:
        ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        epoch = int(ck["epoch"])
        patience = tcfg.early_stopping_patience
        done = epoch + 1 >= tcfg.epochs or bool(patience and int(ck.get("bad_epochs", 0)) >= patience)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError):
        pass  # no (complete) last.pt: the run stopped before or while writing it
    if done:
        return ("already holds checkpoints of a finished training run|--overwrite retrains it, or change the "
                "experiment name (--set name=...)")
    where = f" after epoch {epoch} of {tcfg.epochs}" if epoch is not None else " before its first last.pt"
    return (f"already holds checkpoints of an interrupted training run (it stopped{where})|--resume continues it, "
            "--overwrite starts over")
