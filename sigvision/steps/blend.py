"""``sigvision blend`` (``blend.py``): each model's probability file
(``<weights>/<experiment>/preds/<model>_<split>_<checkpoint>.npy`` + sidecar, each model at its
own ``blend.checkpoint``) -> checks they line up -> a blend (weights from the config or fitted
on the OOF predictions; the task's rule: weighted mean of transformed softmax rows, or of
per-class sigmoids) -> ``<weights>/<experiment>/files_blend_<method>_<split>.csv`` plus a JSON
report (weights, checkpoints, each model's OOF score beside the blend's)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..blend import (
    apply_temperature,
    blend,
    blend_models,
    fit_temperature,
    fit_weights,
    fit_weights_multilabel,
)
from ..config import Config
from ..errors import InputFileError
from ..io.artifacts import write_csv, write_json
from ..io.probs import load_aligned
from ..io.runs import blend_csv_path, blend_paths, row_table, truth_matrix
from ..metrics.classification import classification_metrics
from ..tasks import task_for

__all__ = ["run_blend"]

log = logging.getLogger(__name__)


def _oof_with_labels(cfg: Config, names, probs, meta, paths, *, multilabel: bool, purpose: str, fix: str):
    """The blended models' OOF probabilities and sidecar meta, for weight fitting and
    calibration: the blend's inputs themselves when the OOF split is blended, else each
    model's OOF file at its own checkpoint. Refused when the sidecar holds no labels."""
    if cfg.blend.split == "oof":
        arrays, ometa, src = probs, meta, paths[0]
    else:
        oof_paths = [cfg.run_path / "preds" / f"{n}_oof_{cfg.blend.checkpoint_for(n)}.npy" for n in names]
        (arrays, ometa), src = load_aligned(oof_paths, multilabel=multilabel), oof_paths[0]
    if ometa.get("labels") is None:
        raise InputFileError(src, f"OOF sidecar has no labels to {purpose}", fix)
    return arrays, ometa


def run_blend(cfg: Config) -> dict:
    """Blend the configured models' predictions; write files_blend CSV + report JSON."""
    paths = blend_paths(cfg)
    probs, meta = load_aligned(paths, multilabel=not task_for(cfg.data).rows_sum_to_one)
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

    metric = task_for(cfg.data).resolve_fit_metric(cfg.blend.fit_metric)
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
    rows = row_table(cfg, meta["records"], meta["epochs"])
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
    metric = task_for(cfg.data).resolve_fit_metric(cfg.blend.fit_metric)
    if cfg.blend.weights:
        w, source = np.asarray(cfg.blend.weights, dtype=np.float64), "config"
    elif metric != "none" and len(probs) > 1:
        oof, ometa = _oof_with_labels(cfg, names, probs, meta, paths, multilabel=True, purpose="fit weights on",
                                      fix="re-run inference to rewrite it, or set blend.weights or blend.fit_metric: none")
        w, fit_report = fit_weights_multilabel(oof, truth_matrix(ometa["labels"], len(ometa["classes"])),
                                               metric=metric, model_names=names)
        source = f"fitted on OOF ({metric})"
        report["fit"] = fit_report
    else:
        w, source = np.ones(len(probs)), "equal"
    out = blend_models(probs, w, method=cfg.blend.method, multilabel=True)
    w = w / w.sum()  # as the report states them
    report.update({"weights": dict(zip(names, w.tolist())), "weights_from": source,
                   "note": "multi-label: weighted mean of per-class probabilities"})
    table = pd.DataFrame({"record": [str(r) for r in meta["records"]], "epoch": meta["epochs"]})
    for j, c in enumerate(meta["classes"]):
        table[f"prob_{c}"] = out[:, j]
    csv = write_csv(blend_csv_path(cfg), table)
    write_json(csv.with_suffix(".json"), {**report, "classes": meta["classes"], "labels": meta.get("labels"),
                                          "multilabel": True})
    return {"csv": csv, "report": report}
