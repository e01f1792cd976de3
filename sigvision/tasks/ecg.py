"""ECG classification tasks: multi-label (one sigmoid per class: CinC 2020/2021 SNOMED codes,
or any label table) and binary (normal vs abnormal, or one class against the rest), decided
by per-class thresholds tuned on out-of-fold predictions (or 0.5: ``argmax``)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InputFileError
from ..ecg import NORMAL_CLASS, scored_subset
from ..loaders.dx import code_to_abbreviation, labels_to_multihot, scored_classes
from .base import Task, TaskSpec, one_of

__all__ = ["ECGMultilabelTask", "ECGBinaryTask", "ECG_DECISIONS", "index_label_codes", "binary_class_names",
           "ecg_class_list", "ecg_targets", "challenge_scorable"]

log = logging.getLogger(__name__)

#: ``postprocess.method`` values of the ECG tasks: tuned per-class thresholds, or 0.5.
ECG_DECISIONS: tuple[str, ...] = ("thresholds", "argmax")


def index_label_codes(index) -> list[list[str]]:
    """The label codes of each row of a prepared ECG index (its ``labels`` column, codes joined
    by ``;``); an unlabelled record has none."""
    return [[c for c in str(v).split(";") if c] for v in index["labels"].fillna("")]


def binary_class_names(d) -> list[str]:
    """The two classes of a binary ECG task: ``["normal", "abnormal"]``, or with
    ``data.positive_labels`` ``["rest", <their abbreviations joined by '+'>]`` (``["rest", "AF"]``)."""
    if not d.positive_labels:
        return ["normal", "abnormal"]
    return ["rest", "+".join(code_to_abbreviation(c, default=str(c)) for c in d.positive_labels)]


def ecg_class_list(d, codes=None) -> list[str]:
    """The classes of a multi-label ECG task under ``data`` settings ``d``: ``data.classes``,
    else the scored classes of ``label_set`` (2021: 26, 2020: 24), else (``present``) the
    labels found in ``codes``, sorted."""
    if d.classes:
        return [str(c) for c in d.classes]
    if d.label_set in ("cinc2021_scored", "cinc2020_scored"):
        return scored_classes(merge_equivalent=True, challenge=d.label_set[4:8])
    return sorted({c for cs in (codes or []) for c in cs})


def ecg_targets(d, codes, record_ids, classes=None) -> TaskSpec:
    """Classes and targets of ECG records from their label codes under ``data`` settings ``d``
    (``ecg_task``, ``label_set``/``classes``, ``normal_labels``/``positive_labels``).

    ``classes``: the class list of a trained model, to encode other records (a test set) in
    its columns; codes of other classes then set no bit. Default: :func:`ecg_class_list`.
    A record without labels is normal (binary) and negative for every class (multi-label):
    what ``data.on_missing_labels: negative`` asks for (:func:`load_training_index` refuses
    or drops such records otherwise).
    """
    if d.ecg_task == "binary":
        names = binary_class_names(d)
        if d.positive_labels:
            pos = set(map(str, d.positive_labels))
            y = np.asarray([1 if set(c) & pos else 0 for c in codes], dtype=np.int64)
        else:
            normal = set(d.normal_labels)
            y = np.asarray([0 if set(c) <= normal else 1 for c in codes], dtype=np.int64)
        return TaskSpec(names, False, y, {names[0]: int((y == 0).sum()), names[1]: int(y.sum())}, str(d.challenge))
    classes = ecg_class_list(d, codes) if classes is None else [str(c) for c in classes]
    if d.label_set == "present" and not d.classes:
        y = np.asarray([[c in set(cs) for c in classes] for cs in codes], dtype=np.float32)
        return TaskSpec(classes, True, y.reshape(len(codes), len(classes)), {}, str(d.challenge))
    y, counts = labels_to_multihot(codes, classes, on_unknown=d.on_unknown_label, record_ids=list(record_ids))
    return TaskSpec(classes, True, y.astype(np.float32), {k: dict(v) for k, v in counts.items()}, str(d.challenge))


def challenge_scorable(spec: TaskSpec) -> bool:
    """Whether the Challenge score is defined for these classes: at least two of them scored,
    sinus rhythm among them."""
    cols, _ = scored_subset(spec.classes, spec.challenge)
    return len(cols) >= 2 and any(NORMAL_CLASS in str(spec.classes[j]).split("|") for j in cols)


def check_missing_labels(cfg, index):
    """ECG records whose header named no diagnosis, by ``data.on_missing_labels``: refused
    (naming them), dropped, or kept as negatives (every class negative / normal)."""
    codes = index_label_codes(index)
    missing = [str(r) for r, c in zip(index["record"], codes) if not c]
    if not missing:
        return index
    policy = cfg.data.on_missing_labels
    what = (f"{len(missing)} of {len(index)} record(s) have no labels (their header names no diagnosis: no "
            f"'Dx:' line or LUDB diagnosis lines; e.g. {', '.join(missing[:5])})")
    if policy == "raise":
        if len(missing) == len(index):
            fix = ("label the records (a '# Dx:' header line, or data.labels_csv for AIWIN/Hefei), or use "
                   "'sigvision predict' for unlabelled records; data.on_missing_labels: negative trains on them "
                   "as records without any finding")
        else:
            fix = ("label them, or set data.on_missing_labels: drop (train on the labelled records) or negative "
                   "(they have no finding: every class negative)")
        raise InputFileError(cfg.prepared_path, what, fix)
    if policy == "drop":
        log.warning("%s: dropped from training (data.on_missing_labels: drop)", what)
        keep = np.asarray([bool(c) for c in codes])
        if not keep.any():
            raise InputFileError(cfg.prepared_path, what + "; none is left to train on",
                                 "label the records, or set data.on_missing_labels: negative")
        return index[keep]
    log.warning("%s: trained on as records without any finding (data.on_missing_labels: negative)", what)
    return index


@dataclass(frozen=True)
class _ECGTask(Task):
    data_task: str = "ecg"
    unit: str = "records"
    fit_metrics: tuple[str, ...] = ("auroc", "macro_f1", "none", "kappa")
    default_fit_metric: str = "none"
    search_monitor: str = "macro_f1"
    few_validation_rows: bool = True

    def spec(self, data, index) -> TaskSpec:
        return ecg_targets(data, index_label_codes(index), index["record"].astype(str).tolist())

    def input_channels(self, data) -> tuple[str, ...]:
        return tuple(data.leads)

    def training_rows(self, cfg, index):
        if "label" in index:
            index = index[index["label"] >= 0]
        return check_missing_labels(cfg, index) if "labels" in index else index

    def postprocess_methods(self) -> tuple[str, ...]:
        return ECG_DECISIONS

    def check_postprocess(self, pcfg) -> None:
        # the dataclass default ``rules`` means ``thresholds`` here, as it always has
        if pcfg.method != "rules":
            one_of("postprocess.method", str(pcfg.method), ECG_DECISIONS)

    def resolve_fit_metric(self, metric: str) -> str:
        if metric == "kappa":
            # the default before 'auto': configs saved by earlier runs hold it; ECG blends then had
            # equal weights, and still do (the blend report says so)
            log.warning("blend.fit_metric=kappa does not score an ECG blend: equal weights; "
                        "set blend.fit_metric: auroc or macro_f1 to fit them")
            return "none"
        return super().resolve_fit_metric(metric)

    def check_config(self, cfg) -> None:
        super().check_config(cfg)
        if cfg.postprocess.submission == "aiwin" and self.name == "ecg_binary" and \
                tuple(cfg.data.normal_labels) not in (("0",), ("1",)):
            raise ConfigError(f"postprocess.submission=aiwin writes tag 0/1 and needs data.normal_labels to say "
                              f"which of them is normal, not {list(cfg.data.normal_labels)}; set "
                              "data.normal_labels: ['0'] (AIWIN: 0 normal, 1 abnormal)")


@dataclass(frozen=True)
class ECGMultilabelTask(_ECGTask):
    name: str = "ecg_multilabel"
    multilabel: bool = True
    losses: tuple[str, ...] = ("weighted_bce", "bce", "class_weighted_bce")

    def default_monitor(self, spec: TaskSpec) -> str:
        """The Challenge score when it is defined for the classes, else macro F1."""
        return "challenge" if challenge_scorable(spec) else "macro_f1"


@dataclass(frozen=True)
class ECGBinaryTask(_ECGTask):
    name: str = "ecg_binary"
    multilabel: bool = False
    losses: tuple[str, ...] = ("ce",)
