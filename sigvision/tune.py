"""Hyper-parameter search (``sigvision tune``) with Optuna, as the ECM solution's AutoTuneML
searched: learning rate, weight decay, augmentation strengths (cutout), label smoothing and
FMix (probability and alpha) on one cross-validation fold, pruning on the validation metric.

Trials are stored in an SQLite file (default ``<weights>/<experiment>/tune_<model>.db``), so
a study can be resumed and run by several workers at once (each runs ``sigvision tune`` with
the same ``--storage``). The best trial is written as a ready-to-use YAML config.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from .config import Config, save_config

__all__ = ["tune", "SEARCH_SPACE"]

log = logging.getLogger(__name__)

#: name -> (low, high, log scale); the train.* field each sets.
SEARCH_SPACE = {
    "lr": (1e-5, 1e-2, True),
    "weight_decay": (1e-7, 1e-2, True),
    "cutout_p": (0.0, 0.8, False),
    "label_smoothing": (0.0, 0.2, False),
    "fmix_p": (0.0, 1.0, False),
    "fmix_alpha": (0.2, 2.0, False),
}


def tune(cfg: Config, *, n_trials: int = 20, storage: str | None = None, study_name: str | None = None,
         fold: int = 0, timeout_s: float | None = None, seed: int | None = None, progress=None) -> dict:
    """Run (or resume) a study; returns ``{"best_params", "best_value", "n_trials", "best_config"}``."""
    import optuna

    from .train import train

    run = cfg.run_path
    run.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(run / f'tune_{cfg.model.name}.db').resolve()}"
    study_name = study_name or f"{cfg.name}_{cfg.model.name}"
    task = cfg.data.task
    monitor = cfg.train.monitor if cfg.train.monitor != "auto" else ("kappa" if task == "sleep" else "macro_f1")
    direction = "minimize" if monitor == "loss" else "maximize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True, direction=direction,
                                sampler=optuna.samplers.TPESampler(seed=cfg.seed if seed is None else seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))

    def objective(trial: optuna.Trial) -> float:
        params = {k: trial.suggest_float(k, lo, hi, log=lg) for k, (lo, hi, lg) in SEARCH_SPACE.items()}
        tcfg = replace(cfg.train, **params, train_folds=(fold,), monitor=monitor)
        tcfg.validate()
        tcfg_cfg = replace(cfg, train=tcfg, weights_dir=str(run / "tune_trials" / f"trial_{trial.number}"))

        def report(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        res = train(tcfg_cfg, overwrite=True, epoch_callback=report, progress=progress)
        return float(res[0]["best"])

    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, catch=())
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        from .errors import SigvisionError

        raise SigvisionError(f"tuning study {study_name!r} has no completed trial yet; run more trials")
    best = study.best_trial
    best_cfg = replace(cfg, train=replace(cfg.train, **best.params))
    out = save_config(best_cfg, run / f"tune_best_{cfg.model.name}.yaml")
    return {"best_params": best.params, "best_value": best.value, "n_trials": len(study.trials),
            "n_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
            "best_config": out, "storage": storage, "study": study_name}
