"""ECG classification tasks: multi-label (one sigmoid per class: CinC 2020/2021 SNOMED codes,
or any label table) and binary (normal vs abnormal, or one class against the rest), decided
by per-class thresholds tuned on out-of-fold predictions (or 0.5: ``argmax``)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..config.schema import one_of
from ..errors import ConfigError, InputFileError
from ..io.artifacts import write_csv, write_json, write_text
from ..io.runs import (
    blend_csv_path,
    load_prepared,
    post_csv_path,
    record_quality,
    truth_matrix,
)
from ..loaders.dx import code_to_abbreviation, labels_to_multihot, scored_classes
from ..metrics.challenge import NORMAL_CLASS, scored_subset
from ..metrics.ecg import (
    binary_metrics,
    degenerate_decisions,
    multilabel_metrics,
    per_class_table,
)
from ..postprocess.thresholds import (
    apply_thresholds,
    tune_binary_threshold,
    tune_decision_thresholds,
)
from .base import Task, TaskSpec, quality_summary

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

__all__ = ["ECGMultilabelTask", "ECGBinaryTask", "ECG_DECISIONS", "index_label_codes", "binary_class_names",
           "ecg_class_list", "ecg_targets", "challenge_scorable", "ecg_decision_rule", "ecg_decide",
           "tune_ecg_thresholds", "nested_ecg_decisions", "postprocess_ecg", "evaluate_ecg"]

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


def ecg_decision_rule(cfg: Config, classes) -> dict:
    """How an ECG run turns probabilities into decisions: the rule options of
    ``postprocess.options`` and, for a binary task, that one threshold on the positive class
    decides (``binary``)."""
    opts = dict(cfg.postprocess.options)
    nx = bool(opts.pop("normal_excludes_abnormal", False))
    if opts:
        raise InputFileError(None, f"unknown ECG post-processing option(s) {', '.join(opts)}",
                             "accepted: normal_excludes_abnormal")
    normal = next((c for c in classes if "426783006" in str(c).split("|")), classes[0])
    binary = cfg.data.ecg_task == "binary" and len(classes) == 2
    return {"normal_class": normal, "normal_excludes_abnormal": nx and not binary, "binary": binary}


def ecg_decide(probs: np.ndarray, thresholds, classes, rule: dict) -> np.ndarray:
    """Decisions (n, C) bool from probabilities and the thresholds of :func:`tune_ecg_thresholds`: the
    positive class when its probability reaches the threshold, else the other (binary), or
    per class (:func:`sigvision.postprocess.thresholds.apply_thresholds`)."""
    t = np.asarray(thresholds, dtype=np.float64)
    if rule.get("binary"):
        pos = probs[:, 1] >= t[1]
        return np.stack([~pos, pos], axis=1)
    return apply_thresholds(probs, t, classes=classes, normal_class=rule["normal_class"],
                            normal_excludes_abnormal=rule["normal_excludes_abnormal"])


def tune_ecg_thresholds(probs: np.ndarray, y: np.ndarray, classes, rule: dict, challenge: str) -> np.ndarray:
    """Thresholds tuned on labelled (OOF) probabilities: binary tasks one threshold on the
    positive class (mean F1 of both decisions, never a constant answer); multi-label tasks the
    Challenge score for its scored classes and F1 for the others
    (:func:`sigvision.postprocess.thresholds.tune_decision_thresholds`)."""
    if rule.get("binary"):  # the negative class's entry: the same rule seen from its side (p0 > 1 - t)
        t = tune_binary_threshold(probs[:, 1], y[:, 1])
        return np.asarray([1.0 - t, t])
    t, _ = tune_decision_thresholds(probs, y, classes, challenge=challenge, normal_class=rule["normal_class"],
                                    normal_excludes_abnormal=rule["normal_excludes_abnormal"])
    return t


def nested_ecg_decisions(probs: np.ndarray, y: np.ndarray, fold_of_row: np.ndarray, classes, rule: dict,
                         challenge: str) -> tuple[np.ndarray, dict]:
    """Out-of-fold decisions: the rows of fold k decided with thresholds tuned on the other
    folds' rows (:func:`tune_ecg_thresholds`). Returns the (n, C) bool decisions and the
    thresholds per fold plus ``all`` (tuned on every row, for new records)."""
    labels_out = np.zeros_like(probs, dtype=bool)
    thresholds = {}
    for k in np.unique(fold_of_row):
        t = tune_ecg_thresholds(probs[fold_of_row != k], y[fold_of_row != k], classes, rule, challenge)
        labels_out[fold_of_row == k] = ecg_decide(probs[fold_of_row == k], t, classes, rule)
        thresholds[f"fold_{int(k)}"] = t.tolist()
    thresholds["all"] = tune_ecg_thresholds(probs, y, classes, rule, challenge).tolist()
    return labels_out, thresholds


def postprocess_ecg(cfg: Config, src: Path, out_csv) -> Path:
    """Decision thresholds tuned on OOF predictions -> files_post.csv (:func:`tune_ecg_thresholds`).

    For the OOF split the thresholds applied to fold k's records are tuned on the other
    folds only (nested), so the reported scores are not tuned on the rows they score.
    """
    import pandas as pd
    table = pd.read_csv(src, dtype={"record": str})
    side = json.loads(src.with_suffix(".json").read_text())
    classes = side["classes"]
    probs = table[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
    rule = ecg_decision_rule(cfg, classes)
    challenge = str(cfg.data.challenge)
    if cfg.postprocess.method == "argmax" or side.get("labels") is None and cfg.blend.split == "oof":
        t = np.full(len(classes), 0.5)
        thresholds = {"all": t.tolist()}
        labels_out = ecg_decide(probs, t, classes, rule)
    elif cfg.blend.split == "oof":
        y = truth_matrix(side["labels"], len(classes))
        folds = pd.read_csv(cfg.prepared_path / f"folds_{cfg.train.folds}.csv", dtype={"record": str})
        fold_of = dict(zip(folds["record"], folds["fold"]))
        f = table["record"].map(fold_of).to_numpy()
        if len(np.unique(f)) < 2:
            raise InputFileError(src, f"holds out-of-fold predictions of fold {int(f[0])} only; the thresholds of "
                                 "a fold are tuned on the other folds' predictions",
                                 "train and infer at least 2 folds (train.train_folds), or set "
                                 "postprocess.method: argmax (thresholds 0.5)")
        labels_out, thresholds = nested_ecg_decisions(probs, y, f, classes, rule, challenge)
    else:
        oof_csv = src.with_name(src.name.replace("_test.csv", "_oof.csv"))
        oside = json.loads(oof_csv.with_suffix(".json").read_text())
        otable = pd.read_csv(oof_csv, dtype={"record": str})
        t = tune_ecg_thresholds(otable[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64),
                      truth_matrix(oside["labels"], len(classes)), classes, rule, challenge)
        thresholds = {"all": t.tolist()}
        labels_out = ecg_decide(probs, t, classes, rule)
    write_json(cfg.run_path / "thresholds.json", {"classes": classes, "thresholds": thresholds, **rule,
                                                  "challenge": challenge})
    out = pd.DataFrame({"record": table["record"]})
    for j, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, j]
    for j, c in enumerate(classes):
        out[f"label_{c}"] = labels_out[:, j].astype(int)
    quality = record_quality(cfg, out["record"])
    if quality is not None:
        out["quality"] = quality
    return write_csv(Path(out_csv) if out_csv else post_csv_path(cfg), out)


def test_truth(cfg: Config, src: Path, records, classes) -> tuple[np.ndarray, str]:
    """True labels of test records, read from the labels of the prepared test folder
    (``infer.test_dir``, prepared from the test recordings as the training folder was: WFDB
    ``Dx`` headers, or ``data.labels_csv`` for AIWIN/Hefei) and encoded in the model's
    ``classes``. Returns the (n, C) bool matrix in the order of ``records`` and its source."""
    if not cfg.infer.test_dir:
        raise ConfigError("evaluating blend.split=test reads the true labels from the prepared test folder "
                          "infer.test_dir, which is not set; set infer.test_dir to the folder used by infer")
    test_dir = Path(cfg.infer.test_dir)
    index, _ = load_prepared(test_dir)
    how = ("prepare the test recordings with their labels (WFDB: '# Dx:' header lines; AIWIN/Hefei: "
           "--set data.labels_csv=<test label table>) into infer.test_dir, or evaluate the OOF predictions "
           "(blend.split=oof)")
    if "labels" not in index:
        raise InputFileError(test_dir / "index.csv", "has no labels column (not an ECG prepared folder)", how)
    index = index.assign(record=index["record"].astype(str)).drop_duplicates("record").set_index("record")
    records = [str(r) for r in records]
    missing = [r for r in records if r not in index.index]
    if missing:
        raise InputFileError(test_dir / "index.csv", f"lacks {len(missing)} record(s) of {src.name}: "
                             f"{', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
                             "evaluate predictions made from this test folder (re-run infer, blend and postprocess)")
    codes = index_label_codes(index.loc[records].reset_index())
    unlabelled = [r for r, c in zip(records, codes) if not c]
    if unlabelled:
        what = ("no true labels for any test record" if len(unlabelled) == len(records) else
                f"no true labels for {len(unlabelled)} of {len(records)} test records "
                f"({', '.join(unlabelled[:5])}{' ...' if len(unlabelled) > 5 else ''})")
        raise InputFileError(test_dir / "index.csv", what, how)
    spec = ecg_targets(cfg.data, codes, records, classes=classes)
    if list(spec.classes) != list(classes):
        raise InputFileError(src, f"classes {list(classes)} are not those of data.ecg_task={cfg.data.ecg_task} "
                             f"({list(spec.classes)})", "evaluate with the config the predictions were made with")
    if spec.multilabel:
        known = {c for cls in classes for c in str(cls).split("|")}
        other = sorted({c for cs in codes for c in cs} - known)
        if other and cfg.data.label_set == "present":
            log.warning("test labels %s are not among the model's classes; they count as absent", ", ".join(other[:10]))
    return truth_matrix(spec.targets, len(classes)), str(test_dir / "index.csv")


def evaluate_ecg(cfg: Config, src: Path, out: Path) -> dict:
    """files_post.csv's decisions (the ``label_`` columns, as written) and probabilities
    against the true labels: those in the blend sidecar (OOF), or for ``blend.split=test``
    those of the prepared test folder."""
    import pandas as pd
    post = pd.read_csv(src, dtype={"record": str})
    side_path = blend_csv_path(cfg).with_suffix(".json")
    if not side_path.is_file():
        raise InputFileError(side_path, "blend report not found", "run blend.py (sigvision blend) first")
    side = json.loads(side_path.read_text())
    classes = side["classes"]
    cols = [f"prob_{c}" for c in classes] + [f"label_{c}" for c in classes]
    missing = [c for c in cols if c not in post]
    if missing:
        raise InputFileError(src, f"missing columns {', '.join(missing[:4])}", "post-process this blend again")
    if cfg.blend.split == "test":
        y, truth = test_truth(cfg, src, post["record"], classes)
    elif side.get("labels") is None:
        raise InputFileError(side_path, "holds no true labels for these records",
                             "re-run infer and blend to rewrite the OOF predictions with their labels")
    else:
        y, truth = truth_matrix(side["labels"], len(classes)), str(side_path)
        if len(y) != len(post):
            raise InputFileError(src, f"has {len(post)} rows but {side_path.name} labels {len(y)}",
                                 "post-process this blend again")
    probs = post[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
    labels_out = post[[f"label_{c}" for c in classes]].to_numpy().astype(bool)
    # the decisions as written (thresholds may differ by fold): F1, precision, recall and
    # accuracy of the label_ columns; AUROC/AUPRC of the probabilities
    binary = cfg.data.ecg_task == "binary" and len(classes) == 2
    m = multilabel_metrics(y, probs, None, classes, outputs=labels_out, challenge=str(cfg.data.challenge))
    if binary:  # the decision is the positive class's label (what an AIWIN answer's tag holds); no Challenge score
        pos = str(classes[1])
        m["binary"] = {"positive_class": pos, **binary_metrics(y[:, 1], probs[:, 1], pred=labels_out[:, 1])}
        m["challenge_score"], m["challenge_note"] = float("nan"), "binary task: no Challenge score"
        m["degenerate_decisions"] = degenerate_decisions(y[:, 1:], labels_out[:, 1:], classes[1:])
    for finding in m["degenerate_decisions"]:
        log.warning("evaluate: DEGENERATE DECISION RULE: %s (%s)", finding, src)
    tab = per_class_table(y, probs, None, classes, outputs=labels_out)
    write_csv(out / "per_class.csv", tab)
    quality = quality_summary(post["quality"].fillna("")) if "quality" in post else None
    write_json(out / "metrics.json", {"overall": m, "n_records": int(len(y)), "split": cfg.blend.split,
                                      "source": str(src), "truth": truth,
                                      **({"quality": quality} if quality else {})})
    keys = ("challenge_score", "accuracy", "macro_f1", "macro_precision", "macro_recall", "sensitivity",
            "specificity", "macro_auroc", "macro_auprc")
    lines = [f"| {k} | {m[k]:.3f} |" for k in keys]
    if binary:
        lines += [f"| {pos} {k} | {m['binary'][k]:.3f} |"
                  for k in ("accuracy", "precision", "recall", "specificity", "f1", "auroc")]
    warn = "".join(f"\n**WARNING: degenerate decision rule.** {f}\n" for f in m["degenerate_decisions"])
    write_text(out / "metrics.md", "| metric | value |\n|---|---|\n" + "\n".join(lines) + "\n" + warn)
    return {"overall": m, "out_dir": out, "per_night": [], "quality": quality}


@dataclass(frozen=True)
class _ECGTask(Task):
    unit: str = "records"
    signal_kind: str = "ecg"
    fit_metrics: tuple[str, ...] = ("auroc", "macro_f1", "none", "kappa")
    default_fit_metric: str = "none"
    search_monitor: str = "macro_f1"
    few_validation_rows: bool = True
    rows_sum_to_one: bool = False  # sigmoids, and binary files are read the same way

    def spec(self, data, index) -> TaskSpec:
        return ecg_targets(data, index_label_codes(index), index["record"].astype(str).tolist())

    def input_channels(self, data) -> tuple[str, ...]:
        return tuple(data.leads)

    def index_summary(self, index, recs: list[dict]) -> dict:
        """Records per label code, most frequent first."""
        if not len(index) or "labels" not in index:
            return {}
        counts: dict[str, int] = {}
        for labs in index["labels"].fillna(""):
            for code in filter(None, str(labs).split(";")):
                counts[code] = counts.get(code, 0) + 1
        return {"label_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}

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

    def postprocess(self, cfg, src: Path, out_csv) -> Path:
        """Tuned decision thresholds -> ``files_post.csv`` (:func:`postprocess_ecg`)."""
        return postprocess_ecg(cfg, src, out_csv)

    def decide_new(self, cfg, run, rows, probs, classes):
        """Multi-label and binary alike: the thresholds ``postprocess`` tuned on the OOF
        predictions (``thresholds.json``), else 0.5 as ``postprocess.method: argmax``; the same
        ``prob_``/``label_`` columns as ``files_post.csv``."""
        import pandas as pd
        th_path = Path(run) / "thresholds.json"
        th = json.loads(th_path.read_text()) if th_path.is_file() else {}
        t = np.asarray(th["thresholds"]["all"]) if th else np.full(len(classes), 0.5)
        if th and list(th.get("classes", classes)) != list(classes):
            raise InputFileError(th_path, "classes differ from the run's models'",
                                 "run postprocess again on this run to re-tune the thresholds")
        rule = {"normal_class": th.get("normal_class"), "binary": bool(th.get("binary", False)),
                "normal_excludes_abnormal": th.get("normal_excludes_abnormal", False)}
        labels = ecg_decide(probs, t, classes, rule)
        out = pd.DataFrame({"record": rows["record"].astype(str)})
        for j, c in enumerate(classes):
            out[f"prob_{c}"] = probs[:, j]
        for j, c in enumerate(classes):
            out[f"label_{c}"] = labels[:, j].astype(int)
        return out, {}

    def evaluate(self, cfg, src: Path, out: Path) -> dict:
        """``files_post.csv``'s decisions and probabilities against the true labels
        (:func:`evaluate_ecg`)."""
        return evaluate_ecg(cfg, src, out)

    def check_config(self, cfg) -> None:
        super().check_config(cfg)
        if cfg.render.night_norm != "none":
            raise ConfigError(f"render.night_norm={cfg.render.night_norm} normalises sleep nights; for "
                              f"data.task={cfg.data.task} set render.night_norm: none")
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
