"""The file-level steps after inference: blend -> post-process -> evaluate.

* :func:`run_blend` (``sigvision blend``; ``blend.py``) reads each model's probability file
  (``<weights>/<experiment>/preds/<model>_<split>_<checkpoint>.npy`` + sidecar, each model at
  its own ``blend.checkpoint``), checks they
  line up, blends them (weights from the config or fitted on the OOF predictions) and writes
  ``<weights>/<experiment>/files_blend_<method>_<split>.csv`` (before post-processing) plus a
  JSON report (weights, checkpoints, each model's OOF score beside the blend's).
* :func:`run_postprocess` (``sigvision postprocess``; ``postprocess.py``) smooths each night
  and writes ``files_post.csv``.
* :func:`run_evaluate` (``sigvision evaluate``) compares ``files_post.csv`` with the truth.

``files_post.csv`` format (one row per 30-s epoch, nights in the order of the prepared index):

==========  =======================================================================
column      meaning
==========  =======================================================================
record      night id (for Sleep-EDF files, e.g. ``SC4001E0``)
epoch       position of the epoch among the night's scored epochs (0, 1, 2, ...)
onset_s     epoch onset in seconds from the start of the signal file
stage       predicted stage: ``W``, ``N1``, ``N2``, ``N3`` or ``REM``
stage_code  the same as an integer (0 W, 1 N1, 2 N2, 3 N3, 4 REM: YASA's coding)
file        image file name (image-folder input only)
quality     ``ok``, or the epoch's signal-quality flags, e.g. ``flat:EMG submental``
            (:mod:`sigvision.quality`; signal input prepared by this version)
==========  =======================================================================

ECG ``files_post.csv`` has one row per record (``record``, ``prob_<class>``,
``label_<class>``) and the record's ``quality`` likewise.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .artifacts import write_csv, write_json
from .config import Config
from .errors import ConfigError, InputFileError
from .loaders.base import STAGES

__all__ = ["blend_paths", "run_blend", "run_postprocess", "run_evaluate", "blend_csv_path", "post_csv_path",
           "fit_temperature", "apply_temperature", "ecg_decision_rule", "ecg_decide", "tune_ecg_thresholds",
           "nested_ecg_decisions"]

log = logging.getLogger(__name__)


def blend_csv_path(cfg: Config) -> Path:
    return cfg.run_path / f"files_blend_{cfg.blend.method}_{cfg.blend.split}.csv"


def post_csv_path(cfg: Config) -> Path:
    return cfg.run_path / "files_post.csv"


def blend_paths(cfg: Config) -> list[Path]:
    """The probability files to blend, in the order of ``blend.models``: each model's
    ``<model>_<split>_<checkpoint>.npy`` for its own ``blend.checkpoint``."""
    preds = cfg.run_path / "preds"
    b = cfg.blend
    if b.models:
        paths = []
        for m in b.models:
            ck = b.checkpoint_for(m)
            p = preds / f"{m}_{b.split}_{ck}.npy"
            if not p.is_file():
                raise InputFileError(p, "prediction file not found", _infer_hint(cfg, m, ck))
            paths.append(p)
        return paths
    suffix = f"_{b.split}_{b.checkpoint}.npy"  # one checkpoint (per-model forms need blend.models)
    paths = sorted(preds.glob(f"*{suffix}")) if preds.is_dir() else []
    if not paths:
        raise InputFileError(preds, f"no '*{suffix}' prediction files", "run inferblend.py (sigvision infer) first")
    return paths


def _oof_with_labels(cfg: Config, names, probs, meta, paths, *, multilabel: bool, purpose: str, fix: str):
    """The blended models' OOF probabilities and sidecar meta, for weight fitting and
    calibration: the blend's inputs themselves when the OOF split is blended, else each
    model's OOF file at its own checkpoint. Refused when the sidecar holds no labels."""
    from .blend import load_aligned

    if cfg.blend.split == "oof":
        arrays, ometa, src = probs, meta, paths[0]
    else:
        oof_paths = [cfg.run_path / "preds" / f"{n}_oof_{cfg.blend.checkpoint_for(n)}.npy" for n in names]
        (arrays, ometa), src = load_aligned(oof_paths, multilabel=multilabel), oof_paths[0]
    if ometa.get("labels") is None:
        raise InputFileError(src, f"OOF sidecar has no labels to {purpose}", fix)
    return arrays, ometa


def _infer_hint(cfg: Config, model: str, checkpoint: str) -> str:
    """The fix for a missing ``<model>_<split>_<checkpoint>.npy``: the infer command that writes
    it (with the model's saved training config when the run has one), and which checkpoints
    the model has predictions for."""
    saved = cfg.run_path / model / "config.yaml"
    src = str(saved) if saved.is_file() else f"<{model}'s config>"
    cmd = f"sigvision infer -c {src} --set infer.checkpoint={checkpoint}"
    if cfg.blend.split == "test" and cfg.infer.test_dir:
        cmd += f" --set infer.test_dir={cfg.infer.test_dir}"
    tag = f"{model}_{cfg.blend.split}_"
    have = sorted(p.name[len(tag):-4] for p in (cfg.run_path / "preds").glob(f"{tag}*.npy"))
    found = f" ({model} has predictions for checkpoint(s) {', '.join(have)} only)" if have else ""
    return (f"run inferblend.py for {model} at checkpoint {checkpoint}: {cmd}{found}; "
            "or fix blend.models / blend.checkpoint")


def _row_table(cfg: Config, records, epochs):
    """onset_s (and file) for (record, epoch) rows from the prepared index of the split."""
    import pandas as pd

    from .prepare import load_prepared

    prepared = cfg.infer.test_dir if cfg.blend.split == "test" else cfg.prepared_path
    if cfg.blend.split == "test" and not prepared:
        raise ConfigError("blend.split=test reads the test rows from infer.test_dir, which is not set; "
                          "set infer.test_dir to the prepared test folder used by infer")
    index, _ = load_prepared(prepared)
    index = index.assign(record=index["record"].astype(str))
    rows = pd.DataFrame({"record": [str(r) for r in records], "epoch": np.asarray(epochs, dtype=np.int64)})
    cols = ["record", "epoch", "onset_s"] + (["file"] if "file" in index else []) + \
        (["label"] if "label" in index else []) + (["quality"] if "quality" in index else [])
    merged = rows.merge(index[cols], on=["record", "epoch"], how="left", validate="one_to_one")
    if merged["onset_s"].isna().any():
        raise InputFileError(prepared, "predictions name epochs the prepared index does not have",
                             "blend predictions made from this prepared folder")
    return merged


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p_i ** (1/T), renormalised per row (T < 1 sharpens, T > 1 flattens). (n, C) -> (n, C)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / float(temperature)
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the mean log-loss of ``apply_temperature(probs, T)`` on
    labels ``y`` (grid over 0.02..20, log-spaced, then a finer grid around the best)."""
    y = np.asarray(y, dtype=np.int64)
    rows = np.arange(len(y))

    def nll(t):
        return -float(np.mean(np.log(apply_temperature(probs, t)[rows, y] + 1e-12)))

    grid = np.exp(np.linspace(np.log(0.02), np.log(20.0), 61))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.12, 0.12, 25))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def run_blend(cfg: Config) -> dict:
    """Blend the configured models' predictions; write files_blend CSV + report JSON."""
    import pandas as pd

    from .blend import blend, fit_weights, load_aligned
    from .metrics import classification_metrics

    paths = blend_paths(cfg)
    probs, meta = load_aligned(paths, multilabel=cfg.data.task == "ecg")
    names = [Path(p).name.rsplit(f"_{cfg.blend.split}_", 1)[0] for p in paths]
    classes = meta["classes"]
    report: dict = {"inputs": [str(p) for p in paths], "models": names, "method": cfg.blend.method,
                    "checkpoints": {n: cfg.blend.checkpoint_for(n) for n in names}}
    if meta.get("multilabel"):
        return _blend_multilabel(cfg, probs, meta, names, paths, report)
    oof_cache: dict = {}

    def oof_inputs():
        """The blended models' OOF probabilities and labels (read once; the inputs themselves
        when blending the OOF split). Weight fitting and calibration both need them."""
        if not oof_cache:
            arrays, ometa = _oof_with_labels(
                cfg, names, probs, meta, paths, multilabel=False, purpose="fit weights or calibrate on",
                fix="re-run inference to rewrite it, or set blend.weights and blend.calibrate: false")
            oof_cache.update(arrays=arrays, labels=np.asarray(ometa["labels"]))
        return oof_cache["arrays"], oof_cache["labels"]

    metric = cfg.blend_fit_metric
    if cfg.blend.weights:
        weights = list(cfg.blend.weights)
        report["weights_from"] = "config"
    elif metric != "none" and len(paths) > 1:
        oof, oof_y = oof_inputs()
        weights, fit_report = fit_weights(oof, oof_y, method=cfg.blend.method, metric=metric)
        weights = [float(w) for w in weights]
        report["weights_from"] = f"fitted on OOF ({metric})"
        report["fit"] = fit_report
    else:
        weights = [1.0 / len(paths)] * len(paths)
        report["weights_from"] = "equal"
    out = blend(probs, weights=weights, method=cfg.blend.method)
    report["weights"] = dict(zip(names, weights))
    if cfg.blend.calibrate:
        oof, oof_y = oof_inputs()
        oof_blend = out if cfg.blend.split == "oof" else blend(oof, weights=weights, method=cfg.blend.method)
        temperature = fit_temperature(oof_blend, oof_y)
        out = apply_temperature(out, temperature)
        report["temperature"] = temperature
    rows = _row_table(cfg, meta["records"], meta["epochs"])
    table = rows.drop(columns=[c for c in ("label",) if c in rows])
    for j, c in enumerate(classes):
        table[f"prob_{c}"] = out[:, j]
    pred = out.argmax(1)
    table["stage"] = [classes[k] for k in pred]
    if "label" in rows and (rows["label"] >= 0).all():
        y = rows["label"].to_numpy()
        report["scores"] = {n: classification_metrics(y, p.argmax(1), len(classes), classes)
                            for n, p in zip(names, probs)}
        report["scores"]["blend"] = classification_metrics(y, pred, len(classes), classes)
    csv = write_csv(blend_csv_path(cfg), table)
    write_json(csv.with_suffix(".json"), report)
    return {"csv": csv, "report": report}


def _blend_multilabel(cfg: Config, probs, meta, names, paths, report) -> dict:
    """Multi-label (sigmoid) outputs: a weighted mean per class, no row renormalisation."""
    import pandas as pd

    from .blend import fit_weights_multilabel

    metric = cfg.blend_fit_metric
    if cfg.blend.weights:
        w, source = np.asarray(cfg.blend.weights, dtype=np.float64), "config"
    elif metric != "none" and len(probs) > 1:
        oof, ometa = _oof_with_labels(cfg, names, probs, meta, paths, multilabel=True, purpose="fit weights on",
                                      fix="re-run inference to rewrite it, or set blend.weights or blend.fit_metric: none")
        w, fit_report = fit_weights_multilabel(oof, _truth_matrix(ometa["labels"], len(ometa["classes"])),
                                               metric=metric, model_names=names)
        source = f"fitted on OOF ({metric})"
        report["fit"] = fit_report
    else:
        w, source = np.ones(len(probs)), "equal"
    w = w / w.sum()
    out = np.tensordot(w, np.stack(probs), axes=1)
    report.update({"weights": dict(zip(names, w.tolist())), "weights_from": source,
                   "note": "multi-label: weighted mean of per-class probabilities"})
    table = pd.DataFrame({"record": [str(r) for r in meta["records"]], "epoch": meta["epochs"]})
    for j, c in enumerate(meta["classes"]):
        table[f"prob_{c}"] = out[:, j]
    csv = write_csv(blend_csv_path(cfg), table)
    write_json(csv.with_suffix(".json"), {**report, "classes": meta["classes"], "labels": meta.get("labels"),
                                          "multilabel": True})
    return {"csv": csv, "report": report}


def _truth_matrix(labels, n_classes: int) -> np.ndarray:
    """True labels of a blend sidecar as (n, n_classes) bool: multi-hot rows as they are, the
    class indices of a single-label task (``data.ecg_task: binary``) one-hot."""
    y = np.asarray(labels)
    if y.ndim == 1:
        y = np.eye(n_classes, dtype=bool)[y.astype(np.int64)]
    return y.astype(bool)


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
    per class (:func:`sigvision.ecg.apply_thresholds`)."""
    from .ecg import apply_thresholds

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
    (:func:`sigvision.ecg.tune_decision_thresholds`)."""
    from .ecg import tune_binary_threshold, tune_decision_thresholds

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


def _postprocess_ecg(cfg: Config, src: Path, out_csv) -> Path:
    """Decision thresholds tuned on OOF predictions -> files_post.csv (:func:`tune_ecg_thresholds`).

    For the OOF split the thresholds applied to fold k's records are tuned on the other
    folds only (nested), so the reported scores are not tuned on the rows they score.
    """
    import json

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
        y = _truth_matrix(side["labels"], len(classes))
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
                      _truth_matrix(oside["labels"], len(classes)), classes, rule, challenge)
        thresholds = {"all": t.tolist()}
        labels_out = ecg_decide(probs, t, classes, rule)
    write_json(cfg.run_path / "thresholds.json", {"classes": classes, "thresholds": thresholds, **rule,
                                                  "challenge": challenge})
    out = pd.DataFrame({"record": table["record"]})
    for j, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, j]
    for j, c in enumerate(classes):
        out[f"label_{c}"] = labels_out[:, j].astype(int)
    quality = _record_quality(cfg, out["record"])
    if quality is not None:
        out["quality"] = quality
    return write_csv(Path(out_csv) if out_csv else post_csv_path(cfg), out)


def _record_quality(cfg: Config, records):
    """Each ECG record's ``quality`` from the prepared index of the split (None when the
    folder was prepared before quality was recorded)."""
    from .prepare import load_prepared

    prepared = cfg.infer.test_dir if cfg.blend.split == "test" else cfg.prepared_path
    try:
        index, _ = load_prepared(prepared)
    except InputFileError:
        return None
    if "quality" not in index:
        return None
    q = dict(zip(index["record"].astype(str), index["quality"].astype(str)))
    return [q.get(str(r), "") for r in records]


def _quality_summary(quality, y=None, p=None) -> dict:
    """Flagged counts of a ``quality`` column, and for sleep the metrics of the unflagged epochs."""
    from .quality import OK, parse_labels

    q = np.asarray([str(v) for v in quality])
    bad = (q != OK) & (q != "")
    out: dict = {"flagged": int(bad.sum()), "of": int(q.size), "counts": parse_labels(q[bad])}
    if y is not None and bad.any() and (~bad).any():
        from .metrics import classification_metrics

        out["overall_unflagged"] = classification_metrics(y[~bad], p[~bad], 5, list(STAGES))
    return out


def run_postprocess(cfg: Config, blend_csv: str | Path | None = None, out_csv: str | Path | None = None) -> Path:
    """Smooth each night of a files_blend CSV (sleep), or apply tuned per-class thresholds
    (ECG), and write files_post.csv; with ``postprocess.submission`` (ECG) also the
    competition's answer file beside it (:mod:`sigvision.submission`)."""
    import pandas as pd

    from .postprocess import smooth

    if cfg.data.task == "ecg":
        src = Path(blend_csv) if blend_csv else blend_csv_path(cfg)
        if not src.is_file():
            raise InputFileError(src, "blend CSV not found", "run blend.py (sigvision blend) first")
        post = _postprocess_ecg(cfg, src, out_csv)
        if cfg.postprocess.submission != "none":
            from .submission import write_submission

            answer = write_submission(cfg, post)
            if cfg.blend.split == "oof":
                log.info("%s answers for the training records' out-of-fold predictions; the competition's "
                         "answer comes from blend.split=test", answer)
        return post

    src = Path(blend_csv) if blend_csv else blend_csv_path(cfg)
    if not src.is_file():
        raise InputFileError(src, "blend CSV not found", "run blend.py (sigvision blend) first")
    table = pd.read_csv(src, dtype={"record": str})
    prob_cols = [f"prob_{s}" for s in STAGES]
    missing = [c for c in prob_cols if c not in table]
    if missing:
        raise InputFileError(src, f"missing columns {', '.join(missing)}",
                             "post-processing needs the five stage probabilities W, N1, N2, N3, REM")
    if table.empty:
        raise InputFileError(src, "holds no rows", "blend non-empty predictions")
    out_parts = []
    for rec, night in table.groupby("record", sort=False):
        night = night.sort_values("epoch")
        stages = smooth(night[prob_cols].to_numpy(dtype=np.float64), method=cfg.postprocess.method,
                        **dict(cfg.postprocess.options))
        part = night[["record", "epoch", "onset_s"] + (["file"] if "file" in night else [])].copy()
        part["stage"] = [STAGES[int(k)] for k in stages]
        part["stage_code"] = np.asarray(stages, dtype=np.int64)
        if "quality" in night:
            part["quality"] = night["quality"].fillna("").astype(str).to_numpy()
        out_parts.append(part)
    post = pd.concat(out_parts, ignore_index=True)
    cols = ["record", "epoch", "onset_s", "stage", "stage_code"] + (["file"] if "file" in post else []) + \
        (["quality"] if "quality" in post else [])
    return write_csv(Path(out_csv) if out_csv else post_csv_path(cfg), post[cols])


def _test_truth(cfg: Config, src: Path, records, classes) -> tuple[np.ndarray, str]:
    """True labels of test records, read from the labels of the prepared test folder
    (``infer.test_dir``, prepared from the test recordings as the training folder was: WFDB
    ``Dx`` headers, or ``data.labels_csv`` for AIWIN/Hefei) and encoded in the model's
    ``classes``. Returns the (n, C) bool matrix in the order of ``records`` and its source."""
    from .prepare import load_prepared
    from .train import ecg_targets, index_label_codes

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
    return _truth_matrix(spec.targets, len(classes)), str(test_dir / "index.csv")


def _evaluate_ecg(cfg: Config, src: Path, out: Path) -> dict:
    """files_post.csv's decisions (the ``label_`` columns, as written) and probabilities
    against the true labels: those in the blend sidecar (OOF), or for ``blend.split=test``
    those of the prepared test folder."""
    import json

    import pandas as pd

    from .artifacts import write_text
    from .ecg import binary_metrics, degenerate_decisions, multilabel_metrics, per_class_table

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
        y, truth = _test_truth(cfg, src, post["record"], classes)
    elif side.get("labels") is None:
        raise InputFileError(side_path, "holds no true labels for these records",
                             "re-run infer and blend to rewrite the OOF predictions with their labels")
    else:
        y, truth = _truth_matrix(side["labels"], len(classes)), str(side_path)
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
    quality = _quality_summary(post["quality"].fillna("")) if "quality" in post else None
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


def run_evaluate(cfg: Config, post_csv: str | Path | None = None, out_dir: str | Path | None = None) -> dict:
    """Metrics, per-night sleep statistics and plots of files_post.csv against the truth
    (ECG: Challenge score, accuracy, macro precision/recall/F1, macro-AUROC/AUPRC, a per-class
    table, and for binary runs the abnormal-vs-normal accuracy/precision/recall/F1/AUROC).

    With ``blend.split=test`` the truth is read from the prepared test folder
    (``infer.test_dir``) for both tasks: its hypnograms (sleep) or its records' labels (ECG).
    """
    import pandas as pd

    from .htmlreport import write_html_report

    if cfg.data.task == "ecg":
        src = Path(post_csv) if post_csv else post_csv_path(cfg)
        if not src.is_file():
            raise InputFileError(src, "not found", "run postprocess.py (sigvision postprocess) first")
        res = _evaluate_ecg(cfg, src, Path(out_dir) if out_dir else cfg.run_path / "eval")
        res["report"] = write_html_report(cfg, res["out_dir"])
        return res

    from .artifacts import write_bytes, write_text
    from .metrics import classification_metrics, confusion
    from .plots import confusion_png, hypnogram_png
    from .sleepstats import compare_statistics

    src = Path(post_csv) if post_csv else post_csv_path(cfg)
    if not src.is_file():
        raise InputFileError(src, "not found", "run postprocess.py (sigvision postprocess) first")
    post = pd.read_csv(src, dtype={"record": str})
    rows = _row_table(cfg, post["record"], post["epoch"])
    if "label" not in rows or (rows["label"] < 0).any():
        raise InputFileError(src, "some epochs have no true stage in the prepared index",
                             "evaluate predictions of labelled recordings")
    out = Path(out_dir) if out_dir else cfg.run_path / "eval"
    y, p = rows["label"].to_numpy(), post["stage_code"].to_numpy()
    overall = classification_metrics(y, p, 5, list(STAGES))
    per_night, stats = [], []
    from .metrics import record_groups

    for rec, sel in record_groups(post["record"].to_numpy()):
        m = classification_metrics(y[sel], p[sel], 5, list(STAGES))
        per_night.append({"record": rec, "epochs": int(sel.size), **m})
        st = compare_statistics(y[sel], p[sel], epoch_s=cfg.data.epoch_s)
        st.insert(0, "record", rec)
        stats.append(st.reset_index().rename(columns={"index": "statistic"}))
        write_bytes(out / f"hypnogram_{rec}.png",
                    hypnogram_png(y[sel], p[sel], epoch_s=cfg.data.epoch_s, title=f"{rec}: truth (top) vs prediction"))
    cm = confusion(y, p, 5)
    write_bytes(out / "confusion.png", confusion_png(cm, list(STAGES), title="files_post.csv vs truth"))
    write_csv(out / "per_night.csv", pd.DataFrame(per_night))
    write_csv(out / "sleep_statistics.csv", pd.concat(stats, ignore_index=True))
    write_csv(out / "confusion.csv", pd.DataFrame(cm, index=list(STAGES), columns=list(STAGES)).reset_index()
              .rename(columns={"index": "truth"}))
    quality = _quality_summary(rows["quality"].fillna(""), y, p) if "quality" in rows else None
    write_json(out / "metrics.json", {"overall": overall, "n_epochs": int(len(y)), "source": str(src),
                                      **({"quality": quality} if quality else {})})
    lines = ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in overall.items()]
    if quality and quality["flagged"]:
        lines.append(f"| epochs flagged for signal quality | {quality['flagged']} of {quality['of']} |")
        lines += [f"| {k} (unflagged epochs) | {v:.3f} |" for k, v in quality.get("overall_unflagged", {}).items()
                  if k in ("accuracy", "macro_f1", "kappa")]
    write_text(out / "metrics.md", "\n".join(lines) + "\n")
    res = {"overall": overall, "out_dir": out, "per_night": per_night, "quality": quality}
    res["report"] = write_html_report(cfg, out)
    return res
