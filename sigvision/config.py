"""Experiment configuration: one YAML per experiment -> a frozen dataclass.

* Unknown keys are rejected with the closest valid key suggested.
* Values are type-checked (``int`` where an int is expected, ...), with the key named.
* Overrides from the command line use dotted keys: ``render.width=128``.
* :func:`config_hash` fingerprints the sections that determine an artifact (for example
  ``data`` + ``render`` for the image cache).

Nothing here touches the file system except :func:`load_config` and :func:`save_config`.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .errors import ConfigError

__all__ = [
    "DataConfig",
    "RenderConfig",
    "PrepareConfig",
    "ModelConfig",
    "TrainConfig",
    "InferConfig",
    "BlendConfig",
    "PostprocessConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "apply_overrides",
    "config_to_dict",
    "config_hash",
    "save_config",
    "checkpoint_choice",
    "resolve_checkpoint",
    "check_checkpoint_choice",
    "parse_checkpoint_arg",
]

SLEEP_CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")
ECG_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class DataConfig:
    """Where recordings are and how to read them.

    ``task``: ``sleep`` or ``ecg``. ``format``: ``sleep_edf`` (EDF/EDF+ + hypnogram files),
    ``image_folder`` (MAIC layout), ``wfdb`` (CinC .hea + .mat/.dat), ``aiwin`` (.mat folder +
    label CSV) or ``hefei`` (8-lead text files + label table ``labels_csv``, the contest's
    ``<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...`` or labels only; see
    :func:`sigvision.loaders.ecg.read_hefei_label_table`).

    ECG: ``ecg_task`` ``multilabel`` (one sigmoid per class) or ``binary`` (normal vs
    abnormal; normal = every label of the record is in ``normal_labels``, by default sinus
    rhythm alone; with ``positive_labels``, records carrying any of them vs the rest, e.g.
    ``[164889003]`` for AF vs rest). ``label_set``: ``cinc2021_scored`` (the 2021 Challenge's
    26 scored classes, equivalent codes merged), ``cinc2020_scored`` (the 2020 Challenge's 24)
    or ``present`` (every label found in the data, for AIWIN/Hefei or any label table);
    ``classes``, when given, is the class list itself (codes, ``a|b`` for codes counted as one
    class). ``challenge``: whose metric scores, tunes thresholds and monitors training (2021
    or 2020; a ``cinc20XX_scored`` label set must name the same year).
    ``label_map``: a YAML file ``text or abbreviation: code(s)`` extending the packaged
    ``sigvision/resources/dx_mapping/label_map.yaml`` (CinC 2020 abbreviations, LUDB text).
    ``on_unknown_label``: a diagnosis nothing maps (``raise``; ``warn`` logs the labels with
    their counts and keeps them as written; ``ignore`` keeps them silently). The earlier
    spelling ``on_unknown_code`` is read as this key, with a warning.
    ``on_missing_labels``: training on records whose header names no diagnosis (``raise``,
    the default: ``sigvision train`` refuses, naming them; ``drop``: train on the labelled
    ones; ``negative``: they carry no finding, every class negative). Prediction folders
    need no labels.
    ``ecg_long_records``: ``windows`` (keep each record whole; training draws a random
    ``ecg_length_s`` window per record and epoch, prediction averages (``ecg_window_aggregate:
    mean``) or takes the maximum (``max``) of the probabilities of windows every half window
    across the record, as the CinC 2020 leaders did) or ``crop`` (centre crop / zero pad to
    ``ecg_length_s`` once, at prepare). Image models see the centre window either way.
    rhythm alone). ``label_set``: ``cinc2021_scored`` (the Challenge's 26 scored classes,
    equivalent codes merged) or ``present`` (every label found in the data, for AIWIN/Hefei
    or any label table).

    Reading recordings as they come (each may also be set by ``sigvision predict --set``):
    ``channel_aliases`` (run channel -> names it may have in a file; extends
    :data:`sigvision.loaders.psg.DEFAULT_CHANNEL_ALIASES`), ``channel_units`` (channel -> the
    unit to read it in when its EDF unit field is empty or wrong, e.g. ``{EEG Fpz-Cz: uV}``),
    ``file_pattern`` (a glob narrowing the recordings of ``root``, e.g. ``*-PSG.edf``; default
    every ``.edf``/``.bdf``/``.fif``), ``on_epoch_mismatch`` (``raise`` | ``resample`` an
    EDF+ hypnogram scored in other epochs than ``epoch_s``).

    Signal quality (:mod:`sigvision.quality`): ``on_bad_signal`` (``flag`` | ``drop`` |
    ``raise`` epochs/records with a flat, clipped, non-finite or implausibly scaled channel;
    ``flag`` keeps them, logged and marked in the ``quality`` column), ``amplitude_bounds``
    (plausible standard deviation per channel type, ``{eeg_uv: [0.5, 1000], ecg_mv: [0.005,
    10], ...}``, overriding :data:`sigvision.quality.DEFAULT_AMPLITUDE_BOUNDS`),
    ``max_bad_fraction`` (a night, or an ECG folder, with more of its epochs/records flagged
    is refused).
    """

    task: str = "sleep"
    format: str = "sleep_edf"
    root: str = ""
    labels_csv: str = ""
    channels: tuple[str, ...] = SLEEP_CHANNELS
    channel_types: tuple[str, ...] = ()
    channel_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fs_hz: float = 100.0
    epoch_s: float = 30.0
    trim_wake_edges_min: Optional[float] = 30.0
    on_length_mismatch: str = "raise"
    on_start_mismatch: str = "raise"
    min_fs_hz: float = 50.0
    on_low_sampling_rate: str = "warn"
    leads: tuple[str, ...] = ECG_LEADS
    ecg_length_s: float = 10.0
    ecg_long_records: str = "windows"
    ecg_window_aggregate: str = "mean"
    on_unknown_label: str = "warn"
    label_map: str = ""
    on_missing_labels: str = "raise"
    ecg_task: str = "multilabel"
    label_set: str = "cinc2021_scored"
    channel_units: dict[str, str] = field(default_factory=dict)
    file_pattern: str = ""
    on_epoch_mismatch: str = "raise"
    on_bad_signal: str = "flag"
    amplitude_bounds: dict[str, tuple[float, ...]] = field(default_factory=dict)
    max_bad_fraction: float = 0.5
    # codes are digits, which YAML reads as numbers: these take numbers or strings (__post_init__)
    classes: tuple[object, ...] = ()
    challenge: object = "2021"
    normal_labels: tuple[object, ...] = ("426783006",)
    positive_labels: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        c = self.challenge
        if isinstance(c, (int, str)) and not isinstance(c, bool):
            object.__setattr__(self, "challenge", str(c).strip())
        for key in ("classes", "normal_labels", "positive_labels"):
            values = getattr(self, key)
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).strip():
                    raise ConfigError(f"data.{key} holds {v!r}; give label codes or names (e.g. 426783006)")
            object.__setattr__(self, key, tuple(str(v).strip() for v in values))

    def validate(self) -> None:
        _one_of("data.task", self.task, ("sleep", "ecg"))
        _one_of("data.format", self.format, ("sleep_edf", "image_folder", "wfdb", "aiwin", "hefei"))
        _one_of("data.ecg_task", self.ecg_task, ("multilabel", "binary"))
        _one_of("data.label_set", self.label_set, ("cinc2021_scored", "cinc2020_scored", "present"))
        _one_of("data.challenge", str(self.challenge), ("2021", "2020"))
        if self.ecg_task == "multilabel" and not self.classes and self.label_set not in ("present",
                                                                                       f"cinc{self.challenge}_scored"):
            raise ConfigError(f"data.label_set={self.label_set} names the {self.label_set[4:8]} Challenge's classes but "
                              f"data.challenge={self.challenge} scores them; set data.challenge: {self.label_set[4:8]}")
        _one_of("data.ecg_long_records", self.ecg_long_records, ("windows", "crop"))
        _one_of("data.ecg_window_aggregate", self.ecg_window_aggregate, ("mean", "max"))
        _one_of("data.on_missing_labels", self.on_missing_labels, ("raise", "drop", "negative"))
        if self.ecg_length_s <= 0:
            raise ConfigError(f"data.ecg_length_s={self.ecg_length_s} must be positive (seconds)")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"data.classes={list(self.classes)} lists a class twice")
        if self.positive_labels and self.ecg_task != "binary":
            raise ConfigError(f"data.positive_labels={list(self.positive_labels)} defines a binary task; set "
                              "data.ecg_task: binary (or drop positive_labels)")
        if self.classes and self.ecg_task != "multilabel":
            raise ConfigError("data.classes lists the classes of a multi-label task; set data.ecg_task: multilabel "
                              "(binary tasks use normal_labels or positive_labels)")
        for k in ("on_length_mismatch", "on_start_mismatch", "on_unknown_label", "on_low_sampling_rate"):
            _one_of(f"data.{k}", getattr(self, k), ("raise", "warn", "ignore"))
        _one_of("data.on_bad_signal", self.on_bad_signal, ("flag", "drop", "raise"))
        _one_of("data.on_epoch_mismatch", self.on_epoch_mismatch, ("raise", "resample"))
        if not 0 <= self.max_bad_fraction <= 1:
            raise ConfigError(f"data.max_bad_fraction={self.max_bad_fraction} must be a fraction in [0, 1]")
        from .quality import check_bounds_table

        check_bounds_table(self.amplitude_bounds)
        if self.fs_hz <= 0:
            raise ConfigError(f"data.fs_hz={self.fs_hz} must be positive (Hz)")
        if self.epoch_s <= 0:
            raise ConfigError(f"data.epoch_s={self.epoch_s} must be positive (seconds)")
        if self.channel_types and len(self.channel_types) != len(self.channels):
            raise ConfigError(f"data.channel_types has {len(self.channel_types)} entries for "
                              f"{len(self.channels)} channels; give one type per channel or none")


@dataclass(frozen=True)
class RenderConfig:
    """How a window of signal becomes an image (see :mod:`sigvision.render`)."""

    name: str = "traces"
    height: int = 224
    width: int = 224
    context_epochs: int = 1
    eeg_scale_uv: float = 75.0
    eog_scale_uv: float = 150.0
    emg_scale_uv: float = 40.0
    ecg_scale_mv: float = 1.5
    line_px: int = 1
    spec_fmax_hz: float = 30.0
    ecg_grid: bool = True
    #: per-night normalisation for transfer across recording setups (sleep only): ``none``,
    #: ``amplitude`` (one gain per channel and night) or ``spectral`` (spectrogram: log-power
    #: relative to the night's median per frequency); see :mod:`sigvision.render`
    night_norm: str = "none"

    def validate(self) -> None:
        if self.height < 8 or self.width < 8:
            raise ConfigError(f"render size {self.height}x{self.width} is too small; use at least 8x8")
        if self.context_epochs < 0:
            raise ConfigError(f"render.context_epochs={self.context_epochs} must be >= 0")
        if self.line_px < 1:
            raise ConfigError(f"render.line_px={self.line_px} must be >= 1")
        for k in ("eeg_scale_uv", "eog_scale_uv", "emg_scale_uv", "ecg_scale_mv", "spec_fmax_hz"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"render.{k}={getattr(self, k)} must be positive")
        if self.night_norm not in NIGHT_NORMS:
            raise ConfigError(f"render.night_norm={self.night_norm!r} is not one of {', '.join(NIGHT_NORMS)}")
        if self.night_norm == "spectral" and self.name != "spectrogram":
            raise ConfigError(f"render.night_norm=spectral needs render.name: spectrogram, not {self.name!r}; "
                              "use night_norm: amplitude for other renderers")


#: values of ``render.night_norm``
NIGHT_NORMS: tuple[str, ...] = ("none", "amplitude", "spectral")


@dataclass(frozen=True)
class PrepareConfig:
    """What ``sigvision prepare`` writes besides the index."""

    cache_images: bool = True
    save_signals: bool = True
    batch_size: int = 64


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a timm model name (``vit_base_patch16_224``, ``test_vit`` ...) or a
    model registered in :mod:`sigvision.models`.

    ``pretrained`` asks for ImageNet weights: from ``pretrained_file`` when set, else from
    ``$SIGVISION_WEIGHTS/<name>.(safetensors|pth|bin)`` when present, else timm's hub; if none
    is reachable training stops with an error (never a silent start from scratch).
    ``meta_features`` (``age``, ``sex``) are joined to the image features before the head.
    ``alias``: the name this model goes by in the run (its weights folder, prediction files and
    ``blend.models`` entry; default ``name``), so one run can hold variants of one network, as
    the Hefei write-up's ``ResNet50``, ``ResNet50_noweight`` and ``ResNet50_basic`` (no
    age/sex): e.g. ``model: {name: resnet1d50, alias: resnet1d50_basic, meta_features: []}``.
    """

    name: str = "test_vit"
    pretrained: bool = False
    pretrained_file: str = ""
    drop_rate: float = 0.0
    meta_features: tuple[str, ...] = ()
    alias: str = ""

    @property
    def key(self) -> str:
        """The model's name in the run: ``alias`` when set, else ``name``."""
        return self.alias or self.name

    def validate(self) -> None:
        if self.alias and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", self.alias):
            raise ConfigError(f"model.alias={self.alias!r} names a folder and files: use letters, digits and _ . + - "
                              "(e.g. resnet1d50_basic)")
        for m in self.meta_features:
            _one_of("model.meta_features[]", m, ("age", "sex"))
        if not 0 <= self.drop_rate < 1:
            raise ConfigError(f"model.drop_rate={self.drop_rate} must be in [0, 1)")


@dataclass(frozen=True)
class TrainConfig:
    """k-fold training (``sigvision train``; ``mainViT.py`` / ``mainEff.py``).

    ``num_workers``: DataLoader processes; -1 chooses from the machine (0 on CPUs with <= 2
    cores, where a worker competes with the model's threads; else half the cores, at most 8,
    shared between the node's torchrun processes). ``prefetch_factor``: batches each worker
    keeps ready; -1 chooses from the machine (4, fewer when the queued batches would take more
    than 1/16 of the RAM).
    ``deterministic``: deterministic kernels on GPU (``torch.use_deterministic_algorithms``;
    slower). CPU runs are deterministic anyway (tested bit for bit).
    ``loss``: ``auto`` (``ce`` for single-label tasks, ``weighted_bce`` for multi-label),
    ``ce`` (cross-entropy, ``label_smoothing``), ``bce`` (plain binary cross-entropy, the
    Hefei write-up's "_noweight" models), ``weighted_bce`` (BCE whose positive term only is
    weighted per class by ``1 / log(count + e)``, rescaled to mean 1 over the classes present:
    a smoothed variant of the Hefei weighting, not the write-up's formula) or
    ``class_weighted_bce`` (the Hefei
    write-up's loss as written: the whole BCE of class c, both terms, times
    ``1 / log(count_c + 1e-5)``, unnormalised; ``count_c`` = positive records of the
    training folds; classes with fewer than 2 take the weight of 2, 1.4427, since the formula
    gives 100,000 for one record and a negative weight for none; see
    :func:`sigvision.ecg.class_weights_from_counts`).
    ``sampler``: ``shuffle`` (each row once per epoch) or ``balanced`` (as many draws with
    replacement, each row weighted by 1 / count of its rarest positive class, so that rare
    diagnoses are seen about as often as common ones; :func:`sigvision.train.balanced_weights`).
    """

    folds: int = 5
    train_folds: tuple[int, ...] = ()
    epochs: int = 5
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 1e-6
    scheduler: str = "cosine_warm_restarts"
    t0_epochs: int = 10
    t_mult: int = 1
    min_lr: float = 1e-6
    warmup_epochs: float = 0.0
    poly_power: float = 0.9
    label_smoothing: float = 0.1
    fmix_p: float = 0.5
    fmix_alpha: float = 1.0
    fmix_decay_power: float = 3.0
    fmix_max_soft: float = 0.0
    cutout_p: float = 0.5
    cutout_holes: int = 8
    cutout_size_frac: float = 0.1
    coarse_dropout_p: float = 0.0
    coarse_holes_range: tuple[int, ...] = (1, 8)
    coarse_size_range: tuple[float, ...] = (0.02, 0.1)
    cutout_backend: str = "numpy"
    amp: str = "auto"
    grad_clip_norm: float = 1.0
    monitor: str = "auto"
    loss: str = "auto"
    early_stopping_patience: int = 0
    keep_every_epoch: bool = True
    num_workers: int = -1
    prefetch_factor: int = -1
    deterministic: bool = False
    device: str = "auto"
    channels_last: bool = False
    compile: bool = False
    max_steps_per_epoch: int = 0
    sampler: str = "shuffle"

    def validate(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"train.folds={self.folds} must be >= 2 (subject-wise cross-validation)")
        for f in self.train_folds:
            if not 0 <= f < self.folds:
                raise ConfigError(f"train.train_folds has fold {f}; folds are 0..{self.folds - 1}")
        _check_workers("train.num_workers", self.num_workers)
        _check_prefetch("train.prefetch_factor", self.prefetch_factor)
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("train.epochs and train.batch_size must be >= 1")
        _one_of("train.optimizer", self.optimizer, ("adam", "adamw", "adamp", "sgd"))
        _one_of("train.scheduler", self.scheduler, ("cosine_warm_restarts", "cosine", "poly", "none"))
        _one_of("train.amp", self.amp, ("auto", "off", "bf16", "fp16"))
        _one_of("train.cutout_backend", self.cutout_backend, ("albumentations", "numpy"))
        _one_of("train.monitor", self.monitor, ("auto", "kappa", "macro_f1", "accuracy", "auroc", "challenge", "loss"))
        _one_of("train.loss", self.loss, ("auto", "ce", "bce", "weighted_bce", "class_weighted_bce"))
        _one_of("train.sampler", self.sampler, ("shuffle", "balanced"))
        _one_of("train.device", self.device.split(":")[0], ("auto", "cpu", "cuda"))
        if self.lr <= 0:
            raise ConfigError(f"train.lr={self.lr} must be positive")
        if self.weight_decay < 0:
            raise ConfigError(f"train.weight_decay={self.weight_decay} must be >= 0")
        if self.t0_epochs < 1 or self.t_mult < 1:
            raise ConfigError(f"train.t0_epochs={self.t0_epochs} and train.t_mult={self.t_mult} must be >= 1 "
                              "(cosine warm restarts)")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"train.warmup_epochs={self.warmup_epochs} must be >= 0 and less than "
                              f"train.epochs={self.epochs}")
        if self.poly_power <= 0:
            raise ConfigError(f"train.poly_power={self.poly_power} must be positive (poly decay)")
        if self.min_lr < 0:
            raise ConfigError(f"train.min_lr={self.min_lr} must be >= 0")
        for k in ("early_stopping_patience", "max_steps_per_epoch"):
            if getattr(self, k) < 0:
                raise ConfigError(f"train.{k}={getattr(self, k)} must be >= 0 (0 = off)")
        if len(self.coarse_holes_range) != 2 or not 1 <= self.coarse_holes_range[0] <= self.coarse_holes_range[1]:
            raise ConfigError(f"train.coarse_holes_range={list(self.coarse_holes_range)} must be [min, max] "
                              "with 1 <= min <= max")
        if len(self.coarse_size_range) != 2 or not 0 < self.coarse_size_range[0] <= self.coarse_size_range[1] < 1:
            raise ConfigError(f"train.coarse_size_range={list(self.coarse_size_range)} must be [min, max] "
                              "fractions of the image side with 0 < min <= max < 1")
        if not 0 < self.cutout_size_frac < 1:
            raise ConfigError(f"train.cutout_size_frac={self.cutout_size_frac} must be a fraction in (0, 1)")
        if self.cutout_holes < 1:
            raise ConfigError(f"train.cutout_holes={self.cutout_holes} must be >= 1")
        for k in ("fmix_p", "cutout_p", "coarse_dropout_p"):
            if not 0 <= getattr(self, k) <= 1:
                raise ConfigError(f"train.{k}={getattr(self, k)} must be a probability in [0, 1]")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"train.label_smoothing={self.label_smoothing} must be in [0, 1)")
        if self.fmix_alpha <= 0:
            raise ConfigError(f"train.fmix_alpha={self.fmix_alpha} must be positive")
        if self.fmix_decay_power <= 0:
            raise ConfigError(f"train.fmix_decay_power={self.fmix_decay_power} must be positive")
        if not 0 <= self.fmix_max_soft <= 0.5:
            raise ConfigError(f"train.fmix_max_soft={self.fmix_max_soft} must be in [0, 0.5] (0 = hard FMix mask)")


@dataclass(frozen=True)
class InferConfig:
    """Prediction (``sigvision infer``; ``inferblend.py``).

    ``checkpoint``: which weights to predict with, ``best``, ``last`` or an epoch number;
    or, so that one config serves every model of a blend, the same per-model forms as
    ``blend.checkpoint`` (a list in the order of ``blend.models``, or a mapping model ->
    checkpoint), of which ``model.name``'s entry is used (the seed predicted with ViT at
    epoch 4 and EfficientNet at epoch 1: ``[4, 1]``). The resolved value names the files
    written (``<model>_oof_<checkpoint>.npy``); see :attr:`Config.infer_checkpoint`.
    ``tta_shifts_s``: extra passes with the
    context window shifted by these many seconds (averaged); empty = off. ``amp``: autocast
    for prediction (``auto``: bf16 on CUDA when supported, else fp16; off on CPU).
    ``num_workers``: loader processes (-1: chosen from the machine, as ``train.num_workers``);
    ``prefetch_factor`` as ``train.prefetch_factor``.
    """

    checkpoint: object = "best"  # see checkpoint_choice(): str, tuple of str or dict model -> str
    test_dir: str = ""
    batch_size: int = 64
    tta_shifts_s: tuple[float, ...] = ()
    amp: str = "auto"
    num_workers: int = -1
    prefetch_factor: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoint", checkpoint_choice(self.checkpoint, "infer.checkpoint"))

    def validate(self) -> None:
        _one_of("infer.amp", self.amp, ("auto", "off", "bf16", "fp16"))
        _check_workers("infer.num_workers", self.num_workers)
        _check_prefetch("infer.prefetch_factor", self.prefetch_factor)
        if self.batch_size < 1:
            raise ConfigError(f"infer.batch_size={self.batch_size} must be >= 1")


@dataclass(frozen=True)
class BlendConfig:
    """Ensembling (``sigvision blend``; ``blend.py``).

    ``models``: model names whose predictions to blend (empty = every model with predictions
    in ``<weights_dir>/<name>/preds``). ``checkpoint``: whose predictions each model
    contributes (``<model>_<split>_<checkpoint>.npy``): one value for every model (``best``,
    ``last`` or an epoch number), a list with one value per entry of ``models`` (same
    order), or a mapping model -> checkpoint naming every model of ``models``; the seed
    blended ViT at epoch 4 with EfficientNet at epoch 1: ``[4, 1]``. ``split``: ``oof`` (cross-validated training rows) or
    ``test``. ``weights``: one per model; empty = fitted on the OOF predictions to maximise
    ``fit_metric`` (``none`` = equal weights): for sleep ``kappa`` or ``macro_f1`` of the
    blend's argmax; for ECG ``auroc`` (macro ROC AUC, free of the thresholds tuned later) or
    ``macro_f1`` at 0.5; ``auto`` = ``kappa`` for sleep, ``none`` for ECG. ``calibrate``: rescale the blended probabilities
    with a temperature fitted on the OOF blend (minimum log-loss), so that post-processing
    sees calibrated confidences (the square-root blend of label-smoothed models is much too flat).
    """

    models: tuple[str, ...] = ()
    checkpoint: object = "best"  # see checkpoint_choice(): str, tuple of str or dict model -> str
    split: str = "oof"
    method: str = "sqrt"
    weights: tuple[float, ...] = ()
    fit_metric: str = "auto"
    calibrate: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoint", checkpoint_choice(self.checkpoint, "blend.checkpoint"))

    def checkpoint_for(self, model: str) -> str:
        """The checkpoint whose predictions ``model`` contributes to the blend."""
        return resolve_checkpoint(self.checkpoint, model, self.models, "blend.checkpoint")

    def validate(self) -> None:
        _one_of("blend.split", self.split, ("oof", "test"))
        check_checkpoint_choice(self.checkpoint, self.models, "blend.checkpoint")
        _one_of("blend.fit_metric", self.fit_metric, ("auto", "kappa", "macro_f1", "auroc", "none"))
        if self.weights and len(self.weights) != len(self.models):
            raise ConfigError(f"blend.weights has {len(self.weights)} values for {len(self.models)} models; "
                              "list the models in blend.models, one weight each")
        if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
            raise ConfigError(f"blend.weights={list(self.weights)} must be non-negative and not all zero")


#: ``postprocess.method`` values of the ECG task: tuned per-class thresholds, or 0.5.
ECG_DECISIONS: tuple[str, ...] = ("thresholds", "argmax")


@dataclass(frozen=True)
class PostprocessConfig:
    """Context post-processing of blended sleep probabilities (``postprocess.py``).

    ``method``: sleep: ``argmax``, ``mode``, ``rules`` (clinician rules), ``hmm`` (Viterbi) or
    a method registered in :mod:`sigvision.postprocess`; ECG: ``thresholds`` or ``argmax``
    (:data:`ECG_DECISIONS`). ``options``: keyword options of that method (see
    :mod:`sigvision.postprocess`). Both are checked when the config is read
    (:meth:`validate_for`), with the closest valid name suggested.
    ``submission``: a competition answer file written beside ``files_post.csv`` from its
    decisions: ``none``, or ``aiwin`` (ECG: ``answer.csv``; binary ``name,tag`` with tag 0/1,
    which of them is normal given by ``data.normal_labels``; multi-label ``name`` plus one 0/1
    column per class; see :mod:`sigvision.submission`).
    """

    method: str = "rules"
    options: dict[str, object] = field(default_factory=dict)
    submission: str = "none"

    def validate(self) -> None:
        _one_of("postprocess.submission", self.submission, ("none", "aiwin"))

    def validate_for(self, task: str) -> None:
        """Check ``method`` and ``options`` against what ``task`` can do with them.

        Sleep: a method of the post-processor registry (:mod:`sigvision.postprocess`, so one
        registered in Python before the config is loaded counts) with options it accepts.
        ECG: ``thresholds`` (tuned on out-of-fold predictions) or ``argmax`` (0.5); the
        dataclass default ``rules`` means ``thresholds`` there, as it always has.
        Refused when the config is read, not after train, infer and blend have run.
        """
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"postprocess.options must be a mapping of option: value, not "
                              f"{type(self.options).__name__}")
        if task != "sleep":
            if self.method != "rules":
                _one_of("postprocess.method", str(self.method), ECG_DECISIONS)
            return
        # imported here: config is read by every command first and stays stdlib-only (postprocess
        # pulls numpy); postprocess itself never imports config
        from . import postprocess

        _one_of("postprocess.method", str(self.method), postprocess.available_postprocessors())
        try:
            postprocess.check_options(self.method, self.options)
        except ValueError as exc:
            raise ConfigError(f"postprocess.options: {exc}") from None


@dataclass(frozen=True)
class Config:
    """A whole experiment. Models trained under one ``name`` share folds and predictions."""

    name: str = "experiment"
    seed: int = 42
    output_dir: str = "runs"
    weights_dir: str = "weights"
    prepared_dir: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def validate(self) -> None:
        self.data.validate()
        self.render.validate()
        self.model.validate()
        self.train.validate()
        self.infer.validate()
        self.blend.validate()
        self.postprocess.validate()
        if self.postprocess.submission == "aiwin":
            if self.data.task != "ecg":
                raise ConfigError("postprocess.submission=aiwin writes the AIWIN ECG answer file; "
                                  f"data.task={self.data.task}: set postprocess.submission: none")
            if self.data.ecg_task == "binary" and tuple(self.data.normal_labels) not in (("0",), ("1",)):
                raise ConfigError(f"postprocess.submission=aiwin writes tag 0/1 and needs data.normal_labels to say "
                                  f"which of them is normal, not {list(self.data.normal_labels)}; set "
                                  "data.normal_labels: ['0'] (AIWIN: 0 normal, 1 abnormal)")
        if self.render.night_norm != "none" and self.data.task != "sleep":
            raise ConfigError(f"render.night_norm={self.render.night_norm} normalises sleep nights; for "
                              f"data.task={self.data.task} set render.night_norm: none")
        if self.data.task == "sleep" and self.blend.fit_metric == "auroc":
            raise ConfigError("blend.fit_metric=auroc scores ECG blends; for data.task=sleep use kappa, macro_f1, "
                              "none or auto")
        if not isinstance(self.infer.checkpoint, str):
            # the form only: whether this model has an entry matters to infer and export alone
            # (Config.infer_checkpoint), not to blend, postprocess or evaluate loading the config
            check_checkpoint_choice(self.infer.checkpoint, self.blend.models, "infer.checkpoint", partial=True)
        self.postprocess.validate_for(self.data.task)

    @property
    def blend_fit_metric(self) -> str:
        """``blend.fit_metric`` with ``auto`` resolved for the task."""
        m = self.blend.fit_metric
        if self.data.task != "sleep" and m == "kappa":
            # the default before 'auto': configs saved by earlier runs hold it; ECG blends then had
            # equal weights, and still do (the blend report says so)
            import logging

            logging.getLogger(__name__).warning("blend.fit_metric=kappa does not score an ECG blend: equal weights; "
                                                "set blend.fit_metric: auroc or macro_f1 to fit them")
            return "none"
        return ("kappa" if self.data.task == "sleep" else "none") if m == "auto" else m

    @property
    def infer_checkpoint(self) -> str:
        """The checkpoint ``infer`` (and ``export``) use for this model (``model.key``):
        ``infer.checkpoint``, or its entry for this model when it is given per model."""
        return resolve_checkpoint(self.infer.checkpoint, self.model.key, self.blend.models, "infer.checkpoint")

    @property
    def prepared_path(self) -> Path:
        """Where ``prepare`` writes and ``train``/``infer`` read (default runs/<name>/prepared)."""
        return Path(self.prepared_dir) if self.prepared_dir else Path(self.output_dir) / self.name / "prepared"

    @property
    def run_path(self) -> Path:
        """Weights and predictions of this experiment: ``<weights_dir>/<name>``."""
        return Path(self.weights_dir) / self.name


_CHECKPOINT_FORMS = ("best, last or an epoch number (one for every model), a list with one per entry of "
                     "blend.models (same order), or a mapping model: checkpoint")


def _checkpoint_value(v: Any, key: str) -> str:
    """One checkpoint: ``best``, ``last`` or an epoch number (int or digits; ``'04'`` -> ``'4'``)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return str(v)
    if isinstance(v, str):
        t = v.strip()
        if t in ("best", "last"):
            return t
        if t.isdigit():
            return str(int(t))
    close = difflib.get_close_matches(str(v), ("best", "last"), n=1) if isinstance(v, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if isinstance(v, str) and "," in v:
        hint = f" (one per model is a list: '[{v}]', or a mapping '{{model: 4, other: 1}}')"
    elif isinstance(v, str) and v.strip().lower().startswith("epoch_") and v.strip()[6:].isdigit():
        hint = f" (did you mean {int(v.strip()[6:])}? epoch_N.pt is chosen by its number)"
    raise ConfigError(f"{key}={v!r} is not a checkpoint{hint}; accepted: best, last or an epoch number (0, 1, ...)")


def checkpoint_choice(value: Any, key: str) -> str | tuple[str, ...] | dict[str, str]:
    """Normalise a checkpoint choice (``blend.checkpoint``, ``infer.checkpoint``, ``predict
    --checkpoint``): one value -> ``str``; a list -> ``tuple`` of ``str``; a mapping model ->
    checkpoint -> ``dict`` of ``str``. Epoch numbers become digit strings (``4`` -> ``'4'``),
    the form used in file names (``<model>_oof_4.npy``)."""
    if isinstance(value, Mapping):
        if not value:
            raise ConfigError(f"{key} is an empty mapping; give {_CHECKPOINT_FORMS}")
        return {str(m): _checkpoint_value(v, f"{key}.{m}") for m, v in value.items()}
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"{key} is an empty list; give {_CHECKPOINT_FORMS}")
        return tuple(_checkpoint_value(v, f"{key}[{i}]") for i, v in enumerate(value))
    return _checkpoint_value(value, key)


def check_checkpoint_choice(choice, models: Sequence[str], key: str, *, models_key: str = "blend.models",
                            partial: bool = False) -> None:
    """Check a per-model checkpoint choice against the models it is for (``models``, named
    ``models_key`` in messages): a list needs one value per model, a mapping names only those
    models and (unless ``partial``) every one of them. Whether a given model has an entry is
    :func:`resolve_checkpoint`'s check."""
    if isinstance(choice, str):
        return
    models = list(models)
    shown = f"{models_key}={models}" if models else f"{models_key} is empty"
    if isinstance(choice, tuple):
        if not models:
            raise ConfigError(f"{key}=[{', '.join(choice)}] gives one checkpoint per model, but {shown}; fix: list the "
                              f"models in {models_key} in the same order, or give one value for every model")
        if len(choice) != len(models):
            raise ConfigError(f"{key} has {len(choice)} value(s) for {len(models)} model(s) ({shown}); fix: give "
                              f"{len(models)} checkpoints in the order of {models_key}, or a mapping model: checkpoint")
        return
    if partial:
        return
    if not models:
        raise ConfigError(f"{key} maps models to checkpoints, but {shown}; fix: list the blended models in "
                          f"{models_key}, or give one value for every model")
    for m in choice:
        if m not in models:
            close = difflib.get_close_matches(m, models, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{key} names {m!r}{hint}, which is not in {shown}; fix: use the model names of "
                              f"{models_key}")
    missing = [m for m in models if m not in choice]
    if missing:
        raise ConfigError(f"{key} has no checkpoint for {', '.join(missing)}; fix: give every model of "
                          f"{models_key} a checkpoint ({', '.join(f'{m}: <best|last|epoch>' for m in missing)}), "
                          "or one value for every model")


def resolve_checkpoint(choice, model: str, models: Sequence[str], key: str) -> str:
    """The checkpoint ``choice`` (normalised by :func:`checkpoint_choice`) gives ``model``; a
    list is read in the order of ``models``."""
    if isinstance(choice, str):
        return choice
    if isinstance(choice, tuple):
        models = list(models)
        if model not in models or len(models) != len(choice):
            raise ConfigError(f"{key}=[{', '.join(choice)}] is read in the order of blend.models={models}, which does not "
                              f"give {model!r} one; fix: use a mapping {{{model}: <checkpoint>}} or one value")
        return choice[models.index(model)]
    if model not in choice:
        raise ConfigError(f"{key} has no checkpoint for {model!r} (it names {', '.join(choice)}); fix: add "
                          f"{model}: <best|last|epoch>, or give one value for every model")
    return choice[model]


def parse_checkpoint_arg(text: str, key: str = "--checkpoint") -> str | tuple[str, ...] | dict[str, str]:
    """A checkpoint choice from the command line: ``4`` (every model), ``4,1`` (one per
    blended model, in order) or ``vit_base_patch16_224=4,tf_efficientnet_b4_ns=1``."""
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p for p in parts):
        raise ConfigError(f"{key}={text!r} has an empty entry; fix: e.g. {key} 4, {key} 4,1 or "
                          f"{key} MODEL_A=4,MODEL_B=1")
    if any("=" in p for p in parts):
        pairs = [p.split("=", 1) for p in parts]
        bad = [p for p, kv in zip(parts, pairs) if len(kv) != 2 or not kv[0].strip() or not kv[1].strip()]
        if bad:
            raise ConfigError(f"{key}={text!r}: {bad[0]!r} is not MODEL=CHECKPOINT; fix: name every model, e.g. "
                              f"{key} MODEL_A=4,MODEL_B=1")
        names = [k.strip() for k, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigError(f"{key}={text!r} names a model twice; fix: one MODEL=CHECKPOINT per model")
        return checkpoint_choice({k.strip(): v.strip() for k, v in pairs}, key)
    return checkpoint_choice(parts if len(parts) > 1 else parts[0], key)


def _check_workers(key: str, n: int) -> None:
    if n < -1:
        raise ConfigError(f"{key}={n}; use -1 (chosen from the machine) or >= 0")


def _check_prefetch(key: str, n: int) -> None:
    if n == 0 or n < -1:
        raise ConfigError(f"{key}={n}; use -1 (chosen from the machine) or >= 1 batches per loader worker")


def _one_of(key: str, value: str, accepted: Sequence[str]) -> None:
    if value not in accepted:
        close = difflib.get_close_matches(str(value), accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key}={value!r} is not valid{hint}; accepted: {', '.join(accepted)}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    if tp is object:  # free-form options, checked by whoever consumes them
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping of {tp.__name__} fields, got {type(value).__name__}")
        return _build(tp, value, key + ".")
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {type(value).__name__}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):
            # YAML 1.1 reads an unquoted off/on (also no/yes) as a boolean: `amp: off` and
            # `--set train.amp=off` must give the string 'off' that the option accepts
            return "on" if value else "off"
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


#: long or common spellings of keys -> the key (compared after removing '_', '-' and case)
KEY_SYNONYMS: dict[str, str] = {
    "learningrate": "lr", "lrate": "lr", "minlearningrate": "min_lr", "batch": "batch_size",
    "batchsz": "batch_size", "bs": "batch_size", "nepochs": "epochs", "numepochs": "epochs", "maxepochs": "epochs",
    "weightdecay": "weight_decay", "wd": "weight_decay", "workers": "num_workers", "numworker": "num_workers",
    "nfolds": "folds", "numfolds": "folds", "kfold": "folds", "kfolds": "folds", "samplingrate": "fs_hz",
    "fs": "fs_hz", "sfreq": "fs_hz", "srate": "fs_hz", "samplerate": "fs_hz", "patience": "early_stopping_patience",
    "arch": "name", "architecture": "name", "modelname": "name", "optim": "optimizer", "opt": "optimizer",
    "labelsmoothing": "label_smoothing", "mixedprecision": "amp", "fp16": "amp", "size": "height",
    "imgsize": "height", "imagesize": "height", "ckpt": "checkpoint",
}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _all_keys(cls: type = None, prefix: str = "") -> list[str]:
    """Every dotted key of the config schema (``train.lr``, ``data.fs_hz``, ...)."""
    cls = cls or Config
    out = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _all_keys(tp, prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    return out


def suggest_key(key: str, section_keys: Sequence[str], prefix: str = "") -> str | None:
    """The closest valid key for an unknown ``key`` written under ``prefix`` (``"train."``):
    a known synonym or a close spelling in the same section first (``lerning_rate`` ->
    ``train.lr``), then the same name in another section (``train.fs_hz`` -> ``data.fs_hz``)."""
    names = list(section_keys)
    squashed = {_squash(n): n for n in names}
    k = _squash(key)
    if k in squashed:
        return prefix + squashed[k]
    syn_keys = list(KEY_SYNONYMS)
    for cand in ([k] if k in KEY_SYNONYMS else []) + difflib.get_close_matches(k, syn_keys, n=3, cutoff=0.8):
        if KEY_SYNONYMS[cand] in names:
            return prefix + KEY_SYNONYMS[cand]
    close = difflib.get_close_matches(k, list(squashed), n=1, cutoff=0.6)
    if close:
        return prefix + squashed[close[0]]
    elsewhere = [full for full in _all_keys() if not full.startswith(prefix) and
                 _squash(full.rsplit(".", 1)[-1]) in ({k} | {_squash(KEY_SYNONYMS.get(k, k))})]
    if elsewhere:
        return elsewhere[0]
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
    return prefix + close[0] if close else None


def _build(cls: type, mapping: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for k, v in mapping.items():
        if k not in names:
            close = suggest_key(str(k), names, prefix)
            hint = f"; did you mean {close!r}?" if close else ""
            raise ConfigError(f"unknown config key {prefix + str(k)!r}{hint} (valid keys: {', '.join(names)})")
        kwargs[k] = _coerce(v, hints[k], prefix + k)
    return cls(**kwargs)


#: Keys read under their current name, with a warning: (section, old) -> new. Configs saved by
#: earlier versions (``config.yaml`` beside prepared folders and trained models) hold them.
DEPRECATED_KEYS: dict[tuple[str, str], str] = {("data", "on_unknown_code"): "on_unknown_label"}


def _rename_deprecated(mapping: Mapping[str, Any]) -> dict:
    import logging

    out = dict(mapping)
    for (section, old), new in DEPRECATED_KEYS.items():
        sec = out.get(section)
        if not isinstance(sec, Mapping) or old not in sec:
            continue
        sec = dict(sec)
        value = sec.pop(old)
        if new in sec and sec[new] != value:
            raise ConfigError(f"{section}.{old}={value!r} and {section}.{new}={sec[new]!r} disagree; {old} is the "
                              f"earlier name of {new}: keep {section}.{new} alone")
        sec[new] = value
        out[section] = sec
        logging.getLogger(__name__).warning("config key %s.%s is deprecated: read as %s.%s=%r (rename it)",
                                            section, old, section, new, value)
    return out


def config_from_dict(mapping: Mapping[str, Any] | None) -> Config:
    """Build and validate a :class:`Config` from a plain mapping (as read from YAML).
    Deprecated keys (:data:`DEPRECATED_KEYS`) are read under their new name, with a warning."""
    cfg = _build(Config, _rename_deprecated(mapping or {}))
    cfg.validate()
    return cfg


def config_to_dict(cfg: Any) -> dict:
    """A plain, JSON/YAML-serialisable dict of a config (tuples become lists)."""

    def conv(o):
        if dataclasses.is_dataclass(o):
            return {f.name: conv(getattr(o, f.name)) for f in fields(o)}
        if isinstance(o, (tuple, list)):
            return [conv(v) for v in o]
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        return o

    return conv(cfg)


def _set_dotted(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {dotted!r}: {p!r} is not a section")
        cur = nxt
    cur[parts[-1]] = value


def apply_overrides(mapping: dict, overrides: Sequence[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a mapping, in place."""
    import yaml

    renamed: dict[str, tuple[str, object]] = {}  # new key -> (the override, its value) of a deprecated pair
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"--set {ov}: an override must look like section.key=value")
        k, v = ov.split("=", 1)
        try:
            value = yaml.safe_load(v)
        except yaml.YAMLError:
            raise ConfigError(f"--set {ov}: the value {v!r} is not valid YAML; fix: quote it "
                              f"(--set '{k}=\"{v}\"')") from None
        key = k.strip()
        sec, _, name = key.partition(".")
        new = DEPRECATED_KEYS.get((sec, name))
        if new is not None:  # the user's word wins over the file's key under its new name
            logging.getLogger(__name__).warning("--set %s: %s is deprecated: read as %s.%s", ov, key, sec, new)
            key = f"{sec}.{new}"
        if new is not None or (sec, name) in {(s, n) for (s, _), n in DEPRECATED_KEYS.items()}:
            if key in renamed and renamed[key][1] != value:
                raise ConfigError(f"--set {renamed[key][0]} and --set {ov} disagree; one is the earlier name of "
                                  f"the other: keep --set {key}=... alone")
            renamed[key] = (ov, value)
        try:
            _set_dotted(mapping, key, value)
        except ConfigError as exc:
            raise ConfigError(f"--set {ov}: {exc}") from None
    return mapping


def _override_culprit(exc: ConfigError, overrides: Sequence[str]) -> str:
    """``--set KEY=VALUE`` for the override an error is about (the one whose key the message
    names, the longest such key), else every override."""
    text = str(exc)
    named = [ov for ov in overrides if "=" in ov and ov.split("=", 1)[0].strip() in text]
    if named:
        return "--set " + max(named, key=lambda ov: len(ov.split("=", 1)[0]))
    return ", ".join(f"--set {ov}" for ov in overrides)


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config (or the defaults when ``path`` is None) and apply overrides.

    An error caused by an override names the override (``--set train.lerning_rate=0.1: ...``);
    one in the file names the file. Paths written ``sample:NAME`` resolve to the sample data
    shipped with sigvision (:func:`sigvision.samples.sample_path`), from any working folder.
    """
    import copy

    data: dict = _read_yaml_with_base(Path(path)) if path is not None else {}
    base = copy.deepcopy(data)
    overrides = list(overrides)
    apply_overrides(data, overrides)
    try:
        return _resolve_sample_paths(config_from_dict(data))
    except ConfigError as exc:
        if overrides:
            try:  # does the file alone load? then an override is to blame
                config_from_dict(base)
            except ConfigError:
                pass
            else:
                raise ConfigError(f"{_override_culprit(exc, overrides)}: {exc}") from None
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from None
        raise


SAMPLE_PREFIX = "sample:"


def _resolve_sample_paths(cfg: Config) -> Config:
    """``data.root`` / ``data.labels_csv`` / ``infer.test_dir`` written ``sample:NAME`` -> the
    shipped sample folder's absolute path."""
    def res(v: str) -> str:
        if isinstance(v, str) and v.startswith(SAMPLE_PREFIX):
            from .samples import sample_path

            return str(sample_path(v[len(SAMPLE_PREFIX):]))
        return v

    data = dataclasses.replace(cfg.data, root=res(cfg.data.root), labels_csv=res(cfg.data.labels_csv))
    infer = dataclasses.replace(cfg.infer, test_dir=res(cfg.infer.test_dir))
    if data == cfg.data and infer == cfg.infer:
        return cfg
    return dataclasses.replace(cfg, data=data, infer=infer)


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml_with_base(p: Path, _seen: tuple = ()) -> dict:
    """Read a YAML config; a top-level ``base: other.yaml`` (relative to this file) is read
    first and this file's values are merged over it."""
    import yaml

    if not p.is_file():
        raise ConfigError(f"{p}: config file not found; fix: give a YAML file (see configs/)")
    if p.resolve() in _seen:
        raise ConfigError(f"{p}: 'base' includes form a cycle")
    try:
        text = p.read_text(encoding="utf-8")
        _check_duplicate_keys(yaml.compose(text), p)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ConfigError(f"{p}: not valid YAML ({first}); fix: check indentation and colons") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections")
    base = data.pop("base", None)
    if base:
        data = _deep_merge(_read_yaml_with_base(p.parent / str(base), _seen + (p.resolve(),)), data)
    return data


def _check_duplicate_keys(node, path: Path, prefix: str = "") -> None:
    """Refuse a key written twice in one mapping (YAML loaders keep the last silently)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for knode, vnode in node.value:
            key = str(knode.value)
            if key in seen:
                raise ConfigError(f"{path}: key {prefix + key!r} is written twice (lines {seen[key] + 1} and "
                                  f"{knode.start_mark.line + 1}); fix: keep one of them")
            seen[key] = knode.start_mark.line
            _check_duplicate_keys(vnode, path, prefix + key + ".")
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, path, f"{prefix[:-1]}[{i}].")


#: Keys added after folders were prepared and models trained: left out of the hash while they
#: hold their default, so those folders and checkpoints keep their hash (and stay usable).
_HASH_IF_SET = {"data": ("channel_units", "file_pattern", "on_epoch_mismatch", "on_bad_signal", "amplitude_bounds",
                         "max_bad_fraction"),
               "render": ("night_norm",)}
#: ``data`` keys that say how a prepared folder's labels become targets or how window predictions
#: are aggregated, not what ``prepare`` writes: left out of the data+render hash of prepared
#: folders (one prepared folder serves binary and multi-label runs, either Challenge, ...), kept
#: in the hash of trained models (sections with ``model``).
TARGET_ONLY_DATA_KEYS: tuple[str, ...] = ("ecg_task", "label_set", "classes", "challenge", "normal_labels",
                                          "positive_labels", "on_missing_labels", "ecg_window_aggregate")


def config_hash(cfg: Config, sections: Sequence[str] = ("data", "render")) -> str:
    """12-hex-digit fingerprint of the given sections (stable across runs and machines)."""
    d = config_to_dict(cfg)
    d["model"].pop("alias", None)  # a name in the run, not part of what made the weights
    defaults = config_to_dict(Config())
    for sec, keys in _HASH_IF_SET.items():
        for k in keys:
            if d[sec].get(k) == defaults[sec][k]:
                d[sec].pop(k, None)
    if "model" not in sections:
        for k in TARGET_ONLY_DATA_KEYS:
            d["data"].pop(k, None)
    payload = json.dumps({s: d[s] for s in sections}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (atomically)."""
    import yaml

    from .artifacts import write_text

    return write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
