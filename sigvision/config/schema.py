"""The experiment configuration as frozen dataclasses, one per section (``data``, ``render``,
``prepare``, ``model``, ``train``, ``infer``, ``blend``, ``postprocess``), each with the checks
of its own values (``validate``). Values are type-checked when a config is read
(:mod:`sigvision.config.load`); what depends on the task (post-processing methods, blend
metrics, answer files) is checked by the task (:meth:`sigvision.tasks.Task.check_config`)."""
from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..errors import ConfigError
from ..quality import check_bounds_table
from .checkpoints import check_checkpoint_choice, checkpoint_choice, resolve_checkpoint

log = logging.getLogger(__name__)


SLEEP_CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")


ECG_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class DataConfig:
    """Where recordings are and how to read them.

    ``task``: ``sleep`` or ``ecg``. ``format``: ``sleep_edf`` (EDF/EDF+ + hypnogram files),
    ``image_folder`` (MAIC layout), ``wfdb`` (CinC .hea + .mat/.dat), ``aiwin`` (.mat folder +
    label CSV) or ``hefei`` (8-lead text files + label table ``labels_csv``, the contest's
    ``<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...`` or labels only; see
    :func:`sigvision.loaders.hefei.read_hefei_label_table`).

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
        one_of("data.task", self.task, ("sleep", "ecg"))
        one_of("data.format", self.format, ("sleep_edf", "image_folder", "wfdb", "aiwin", "hefei"))
        one_of("data.ecg_task", self.ecg_task, ("multilabel", "binary"))
        one_of("data.label_set", self.label_set, ("cinc2021_scored", "cinc2020_scored", "present"))
        one_of("data.challenge", str(self.challenge), ("2021", "2020"))
        if self.ecg_task == "multilabel" and not self.classes and self.label_set not in ("present",
                                                                                       f"cinc{self.challenge}_scored"):
            raise ConfigError(f"data.label_set={self.label_set} names the {self.label_set[4:8]} Challenge's classes but "
                              f"data.challenge={self.challenge} scores them; set data.challenge: {self.label_set[4:8]}")
        one_of("data.ecg_long_records", self.ecg_long_records, ("windows", "crop"))
        one_of("data.ecg_window_aggregate", self.ecg_window_aggregate, ("mean", "max"))
        one_of("data.on_missing_labels", self.on_missing_labels, ("raise", "drop", "negative"))
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
            one_of(f"data.{k}", getattr(self, k), ("raise", "warn", "ignore"))
        one_of("data.on_bad_signal", self.on_bad_signal, ("flag", "drop", "raise"))
        one_of("data.on_epoch_mismatch", self.on_epoch_mismatch, ("raise", "resample"))
        if not 0 <= self.max_bad_fraction <= 1:
            raise ConfigError(f"data.max_bad_fraction={self.max_bad_fraction} must be a fraction in [0, 1]")

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
    #: lowest frequency the spectrogram shows; below about 0.5 Hz EEG power is set by the
    #: amplifier's high-pass filter and electrode drift, which differ between recording systems
    spec_fmin_hz: float = 0.0
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
        if not 0 <= self.spec_fmin_hz < self.spec_fmax_hz:
            raise ConfigError(f"render.spec_fmin_hz={self.spec_fmin_hz} must be >= 0 and below "
                              f"render.spec_fmax_hz={self.spec_fmax_hz}")
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
            one_of("model.meta_features[]", m, ("age", "sex"))
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
    :func:`sigvision.train.losses.class_weights_from_counts`).
    ``sampler``: ``shuffle`` (each row once per epoch) or ``balanced`` (as many draws with
    replacement, each row weighted by 1 / count of its rarest positive class, so that rare
    diagnoses are seen about as often as common ones; :func:`sigvision.train.data.balanced_weights`).
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
        # the name is checked against the optimiser registry when the config is read
        # (sigvision.config.load): the schema does not import the stages
        one_of("train.scheduler", self.scheduler, ("cosine_warm_restarts", "cosine", "poly", "none"))
        one_of("train.amp", self.amp, ("auto", "off", "bf16", "fp16"))
        one_of("train.cutout_backend", self.cutout_backend, ("albumentations", "numpy"))
        one_of("train.monitor", self.monitor, ("auto", "kappa", "macro_f1", "accuracy", "auroc", "challenge", "loss"))
        one_of("train.loss", self.loss, ("auto", "ce", "bce", "weighted_bce", "class_weighted_bce"))
        one_of("train.sampler", self.sampler, ("shuffle", "balanced"))
        one_of("train.device", self.device.split(":")[0], ("auto", "cpu", "cuda"))
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
        one_of("infer.amp", self.amp, ("auto", "off", "bf16", "fp16"))
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
        one_of("blend.split", self.split, ("oof", "test"))
        check_checkpoint_choice(self.checkpoint, self.models, "blend.checkpoint")
        one_of("blend.fit_metric", self.fit_metric, ("auto", "kappa", "macro_f1", "auroc", "none"))
        if self.weights and len(self.weights) != len(self.models):
            raise ConfigError(f"blend.weights has {len(self.weights)} values for {len(self.models)} models; "
                              "list the models in blend.models, one weight each")
        if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
            raise ConfigError(f"blend.weights={list(self.weights)} must be non-negative and not all zero")


@dataclass(frozen=True)
class PostprocessConfig:
    """Context post-processing of blended sleep probabilities (``postprocess.py``).

    ``method``: sleep: ``argmax``, ``mode``, ``rules`` (clinician rules), ``hmm`` (Viterbi) or
    a method registered in :mod:`sigvision.postprocess`; ECG: ``thresholds`` or ``argmax``
    (:data:`sigvision.tasks.ecg.ECG_DECISIONS`). ``options``: keyword options of that method
    (see :mod:`sigvision.postprocess`). Both are checked when the config is read, by the
    task (:meth:`sigvision.tasks.Task.check_config`), with the closest valid name suggested.
    ``submission``: a competition answer file written beside ``files_post.csv`` from its
    decisions: ``none``, or ``aiwin`` (ECG: ``answer.csv``; binary ``name,tag`` with tag 0/1,
    which of them is normal given by ``data.normal_labels``; multi-label ``name`` plus one 0/1
    column per class; see :mod:`sigvision.io.submission`).
    """

    method: str = "rules"
    options: dict[str, object] = field(default_factory=dict)
    submission: str = "none"

    def validate(self) -> None:
        one_of("postprocess.submission", self.submission, ("none", "aiwin"))


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
        if not isinstance(self.infer.checkpoint, str):
            # the form only: whether this model has an entry matters to infer and export alone
            # (Config.infer_checkpoint), not to blend, postprocess or evaluate loading the config
            check_checkpoint_choice(self.infer.checkpoint, self.blend.models, "infer.checkpoint", partial=True)

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


def _check_workers(key: str, n: int) -> None:
    if n < -1:
        raise ConfigError(f"{key}={n}; use -1 (chosen from the machine) or >= 0")


def _check_prefetch(key: str, n: int) -> None:
    if n == 0 or n < -1:
        raise ConfigError(f"{key}={n}; use -1 (chosen from the machine) or >= 1 batches per loader worker")


def one_of(key: str, value: str, accepted: Sequence[str]) -> None:
    """Refuse ``value`` unless it is in ``accepted``, naming the closest accepted value."""
    accepted = list(accepted)
    if value not in accepted:
        close = difflib.get_close_matches(str(value), accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key}={value!r} is not valid{hint}; accepted: {', '.join(accepted)}")
