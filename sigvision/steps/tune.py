"""Hyper-parameter search (``sigvision tune``) with Optuna, as the ECM solution's AutoTuneML
searched: by default learning rate, weight decay, augmentation strengths (cutout), label
smoothing and FMix (probability and alpha) on one cross-validation fold, pruning on the
validation metric.

* ``sampler``: ``tpe`` (Optuna's default, learns from earlier trials) or ``random`` (ECM's
  "samples randomly from the defined ranges").
* ``space``: the ranges, any ``train.*`` setting: ``lr=1e-5:1e-2:log`` (a float range, log
  scale), ``cutout_holes=4:12`` (an int range for an int setting), ``batch_size=16,32,64`` (a
  choice); see :func:`parse_space`.
* ``standard``: a score a trial must reach (ECM's "models and scores satisfying the
  standard"): trials that reach it keep their weights and are listed in
  ``tune_kept_<model>.csv``; the others' weights are deleted and their settings are appended
  to ``tune_avoid_<model>.csv`` (ECM's ``avoid.txt``); the study itself keeps every trial, so
  TPE learns to stay away from them.

Trials are stored in an SQLite file (default ``<weights>/<experiment>/tune_<model>.db``), so
a study can be resumed and run by several workers at once (each runs ``sigvision tune`` with
the same ``--storage``). The best trial is written as a ready-to-use YAML config.
"""
from __future__ import annotations

import difflib
import logging
import shutil
from dataclasses import fields, replace

import pandas as pd

from ..config import Config, TrainConfig
from ..config.load import save_config, validate_train
from ..errors import ConfigError, SigvisionError
from ..io.artifacts import write_csv
from ..tasks import task_for
from .train import train

# optuna is imported when a search runs (heavy, and only this step needs it).

__all__ = ["tune", "SEARCH_SPACE", "parse_space"]

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


#: train settings a search must not vary: the fold layout and the metric (trials would score on
#: different terms), and where or how a trial runs rather than what it learns
NOT_SEARCHED = ("folds", "train_folds", "monitor", "device", "compile", "deterministic")


def parse_space(items) -> dict:
    """``["lr=1e-5:1e-2:log", "batch_size=16,32", ...]`` -> ``{name: (low, high, log) or [choices]}``.

    Names are ``train.*`` settings (the ``train.`` prefix is optional). ``low:high[:log]`` is a
    range (ints for an int setting); ``a,b,c`` is a choice among values of the setting's type.
    """
    types = {f.name: type(getattr(TrainConfig(), f.name)) for f in fields(TrainConfig)}
    space: dict = {}
    for item in items:
        name, sep, spec = str(item).partition("=")
        name = name.strip().removeprefix("train.")
        if not sep or not spec.strip():
            raise ConfigError(f"tune space {item!r}: expected NAME=LOW:HIGH[:log] or NAME=A,B,C")
        if name not in types or types[name] not in (int, float, bool, str):
            close = difflib.get_close_matches(name, [k for k, t in types.items() if t in (int, float, bool, str)], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"tune space {item!r}: {name!r} is not a train setting that takes one value{hint}")
        if name in NOT_SEARCHED:
            raise ConfigError(f"tune space {item!r}: train.{name} is not searched (trials must share folds and "
                              f"metric and differ only in what they learn); set it in the config instead")
        kind = types[name]

        def conv(v: str):
            v = v.strip()
            try:
                if kind is bool:
                    if v.lower() not in ("true", "false"):
                        raise ValueError(v)
                    return v.lower() == "true"
                return kind(float(v)) if kind is int and float(v).is_integer() else kind(v)
            except ValueError:
                raise ConfigError(f"tune space {item!r}: {v!r} is not a {kind.__name__} value of train.{name}") from None

        if ":" in spec and kind in (int, float):
            parts = spec.split(":")
            log = len(parts) == 3 and parts[2].strip() == "log"
            if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
                raise ConfigError(f"tune space {item!r}: a range is LOW:HIGH or LOW:HIGH:log")
            lo, hi = conv(parts[0]), conv(parts[1])
            if not lo < hi or (log and lo <= 0):
                raise ConfigError(f"tune space {item!r}: needs LOW < HIGH" + (" and LOW > 0 on a log scale" if log else ""))
            space[name] = (lo, hi, log)
        else:
            space[name] = [conv(v) for v in spec.split(",")]
    return space


def _distribution(spec, optuna):
    """The Optuna distribution a space entry samples from."""
    d = optuna.distributions
    if isinstance(spec, list):
        return d.CategoricalDistribution(spec)
    lo, hi, log = spec
    if isinstance(lo, int) and isinstance(hi, int):
        return d.IntDistribution(lo, hi, log=log)
    return d.FloatDistribution(lo, hi, log=log)


def tune(cfg: Config, *, n_trials: int = 20, storage: str | None = None, study_name: str | None = None,
         fold: int = 0, timeout_s: float | None = None, seed: int | None = None, progress=None,
         sampler: str = "tpe", space: dict | None = None, standard: float | None = None) -> dict:
    """Run (or resume) a study; returns ``{"best_params", "best_value", "n_trials", "best_config"}``
    (and ``n_kept`` with a ``standard``)."""
    import optuna


    if sampler not in ("tpe", "random"):
        raise ConfigError(f"tune sampler {sampler!r}; accepted: tpe, random")
    space = dict(SEARCH_SPACE if space is None else space)
    if not space:
        raise ConfigError("tune space is empty; give at least one NAME=LOW:HIGH or NAME=A,B")
    for k, spec in space.items():  # every end of every range must make a valid config, before any trial
        for v in (spec if isinstance(spec, list) else spec[:2]):
            try:
                validate_train(replace(cfg.train, **{k: v}))
            except ConfigError as exc:
                raise ConfigError(f"tune space train.{k}={v} makes an invalid config: {exc}") from None


    run = cfg.run_path
    run.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(run / f'tune_{cfg.model.key}.db').resolve()}"
    study_name = study_name or f"{cfg.name}_{cfg.model.key}"
    monitor = cfg.train.monitor if cfg.train.monitor != "auto" else task_for(cfg.data).search_monitor
    direction = "minimize" if monitor == "loss" else "maximize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    study = optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True, direction=direction,
                                sampler=samplers[sampler](seed=cfg.seed if seed is None else seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))

    def objective(trial: optuna.Trial) -> float:
        params = {}
        for k, spec in space.items():
            dist = _distribution(spec, optuna)
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                params[k] = trial.suggest_categorical(k, spec)
            elif isinstance(dist, optuna.distributions.IntDistribution):
                params[k] = trial.suggest_int(k, spec[0], spec[1], log=spec[2])
            else:
                params[k] = trial.suggest_float(k, spec[0], spec[1], log=spec[2])
        tcfg = replace(cfg.train, **params, train_folds=(fold,), monitor=monitor)
        validate_train(tcfg)
        trial_dir = run / "tune_trials" / f"trial_{trial.number}"
        tcfg_cfg = replace(cfg, train=tcfg, weights_dir=str(trial_dir))

        reported: list[float] = []

        def report(epoch: int, score: float) -> None:
            reported.append(float(score))
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        def record(met: bool, score: float, state: str) -> None:
            # kept in the study's storage, and both tables rebuilt from it: workers sharing a study
            # each rewrite whole tables, so none loses another's rows
            trial.set_user_attr("standard", {"trial": trial.number, "state": state, "met": met, monitor: score,
                                             **params, "weights": str(trial_dir) if met else ""})
            if not met:
                shutil.rmtree(trial_dir, ignore_errors=True)
            rows = [t.user_attrs["standard"] for t in study.get_trials(deepcopy=False) if "standard" in t.user_attrs]
            for kind, want in (("kept", True), ("avoid", False)):
                mine = [{k: v for k, v in r.items() if k != "met"} for r in rows if r["met"] == want]
                if mine:
                    write_csv(run / f"tune_{kind}_{cfg.model.key}.csv", pd.DataFrame(mine).sort_values("trial"))

        try:
            res = train(tcfg_cfg, overwrite=True, epoch_callback=report, progress=progress)
        except optuna.TrialPruned:
            if standard is not None:  # stopped early: it did not show it meets the standard
                record(False, reported[-1] if reported else float("nan"), "pruned")
            raise
        score = float(res[0]["best"])
        if standard is not None:
            record(score <= standard if direction == "minimize" else score >= standard, score, "complete")
        return score

    for t in study.trials:  # a resumed study must search each setting the way it did
        for k, d in t.distributions.items():
            if k in space and _distribution(space[k], optuna) != d:
                raise ConfigError(f"tuning study {study_name!r} ({storage}) searched train.{k} as {d}, not as "
                                  f"{space[k]}; give the same space, or a new --study name")
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, catch=())
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise SigvisionError(f"tuning study {study_name!r} has no completed trial yet; run more trials")
    best = study.best_trial
    best_cfg = replace(cfg, train=replace(cfg.train, **best.params))
    out = save_config(best_cfg, run / f"tune_best_{cfg.model.key}.yaml")
    kept = run / f"tune_kept_{cfg.model.key}.csv"
    return {"best_params": best.params, "best_value": best.value, "n_trials": len(study.trials),
            "n_kept": None if standard is None else (len(pd.read_csv(kept)) if kept.is_file() else 0),
            "n_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
            "best_config": out, "storage": storage, "study": study_name}
