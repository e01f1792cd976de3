"""``sigvision train`` (``mainViT.py`` / ``mainEff.py``): k-fold training of one model. Checks
the prepared folder and the output folder (refusing one that holds checkpoints unless
``--resume`` or ``--overwrite``), assigns the subject-wise folds once, saves the resolved
config and the run's versions next to the weights, and trains each fold
(:func:`sigvision.train.loop.train_fold`); works under ``torchrun``."""
from __future__ import annotations

import contextlib
import logging
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .._version import __version__
from ..config import Config
from ..config.load import save_config
from ..errors import ConfigError, InputFileError
from ..io.artifacts import (
    LOCK_NAME,
    disk_full_again,
    folder_lock,
    remove_stale_temps,
    write_csv,
    write_json,
)
from ..runtime import (
    Progress,
    check_compile_toolchain,
    cleanup_distributed,
    dist_info,
    init_distributed,
    resolve_device,
    share_from_primary,
)
from ..tasks import task_for
from ..train.checkpoints import (
    model_dir,
)
from ..train.data import load_training_index
from ..train.folds import load_or_make_folds
from ..train.loop import task_spec, train_fold

log = logging.getLogger(__name__)


def _warn_model_selection(cfg: Config, results: list[dict], folds) -> None:
    """Say when the checkpoint picked by a validation score cannot be trusted: validation folds
    of a few dozen records pick noise (every fold's best at epoch 0 is the tell-tale)."""
    sizes = folds["fold"].value_counts()
    smallest = int(sizes.min()) if len(sizes) else 0
    ran = [r for r in results if r.get("epochs_run", 0) > 1]
    if len(ran) > 1 and all(r["best_epoch"] == 0 for r in ran):
        log.warning("every fold kept epoch 0 as its best (%s on validation folds of %d-%d records): the validation "
                    "score picks noise at this size; predict with the last epoch of a schedule (infer.checkpoint: "
                    "last, blend.checkpoint: last, as configs/ecg_real_1d.yaml does)", results[0].get("monitor"),
                    smallest, int(sizes.max()))
    try:
        which = cfg.infer_checkpoint
    except ConfigError:
        return
    if not (len(ran) > 1 and all(r["best_epoch"] == 0 for r in ran)) and which == "best" and smallest < 50 and ran:
        log.warning("infer.checkpoint=best picks each fold's epoch on a validation fold of as few as %d records, "
                    "which rewards noise; consider infer.checkpoint: last with a decaying schedule", smallest)


def run_info() -> dict:
    """Provenance saved beside every trained model: package and library versions, the git
    commit of the code when it runs from a checkout, the machine."""
    info = {"sigvision": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "numpy": np.__version__}
    for mod in ("timm", "albumentations", "mne", "scipy", "sklearn", "pandas"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            info[mod] = None
    try:
        repo = Path(__file__).resolve().parents[2]
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=5)
        info["git_commit"] = commit.stdout.strip() or None
        info["git_dirty"] = bool(dirty.stdout.strip()) if commit.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False, progress: Progress | None = None,
          epoch_callback=None) -> list[dict]:
    """Train every fold in ``cfg.train.train_folds`` (all folds when empty)."""
    info = dist_info()
    if cfg.train.compile:
        check_compile_toolchain()  # before --overwrite deletes anything
    index = load_training_index(cfg)
    spec = task_spec(cfg, index)
    mdir = model_dir(cfg)
    with contextlib.ExitStack() as stack:
        # one training run per model folder at a time (two models of one experiment may train
        # side by side); rank 0 holds the lock and every rank learns whether it got it
        refused: InputFileError | None = None
        if info.primary:
            try:
                stack.enter_context(folder_lock(mdir, "sigvision train"))
            except InputFileError as exc:
                refused = exc
        if info.enabled:
            init_distributed(resolve_device(cfg.train.device))
            shared = share_from_primary((refused.path, refused.problem, refused.fix) if refused else None)
            refused = InputFileError(*shared) if shared else None
        if refused is not None:
            cleanup_distributed()
            raise refused
        if info.primary:
            remove_stale_temps(mdir)  # left by a killed run; no live writer holds the lock
        if overwrite and info.primary:
            for child in mdir.iterdir():
                if child.name == LOCK_NAME:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        try:
            return _train_locked(cfg, index, spec, mdir, info, resume=resume, progress=progress,
                                 epoch_callback=epoch_callback)
        except InputFileError as exc:
            again = disk_full_again(exc, "free space on that disk, then run the same train with --resume to "
                                         "continue from the last complete epoch")
            if again is not exc:
                raise again from None
            raise


def _train_locked(cfg: Config, index, spec, mdir: Path, info, *, resume, progress, epoch_callback) -> list[dict]:
    folds = load_or_make_folds(cfg.prepared_path, index, cfg.train.folds, cfg.seed, write=info.primary)
    if info.enabled:
        dist.barrier()
        folds = load_or_make_folds(cfg.prepared_path, index, cfg.train.folds, cfg.seed, write=False)
    if info.primary:
        save_config(cfg, mdir / "config.yaml")
        write_csv(mdir / "folds.csv", folds)

        write_json(mdir / "run_info.json", run_info())
    todo = list(cfg.train.train_folds) or list(range(cfg.train.folds))
    handler = None
    if info.primary:  # the log goes to the run folder too
        mdir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(mdir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        pkg = logging.getLogger("sigvision")
        pkg.addHandler(handler)
        if pkg.getEffectiveLevel() > logging.INFO:
            pkg.setLevel(logging.INFO)
        log.info("training %s on %s: %d fold(s) of %d", cfg.model.key, cfg.prepared_path, len(todo), cfg.train.folds)
    try:
        results = [train_fold(cfg, k, index, folds, resume=resume, progress=progress, spec=spec,
                              epoch_callback=epoch_callback) for k in todo]
        if info.primary and task_for(cfg.data).few_validation_rows:
            _warn_model_selection(cfg, results, folds)
        if info.enabled:
            # no rank tears the process group down while rank 0 still writes its last checkpoint:
            # a gloo rank that did aborted now and then ('terminate called without an active exception')
            dist.barrier()
    finally:
        if handler is not None:
            logging.getLogger("sigvision").removeHandler(handler)
            handler.close()
        cleanup_distributed()
    return results
