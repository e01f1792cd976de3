"""``sigvision predict --run RUN_DIR --input DIR --out FILE``: new recordings through a
trained run (every fold of every blended model, the blend weights, and the ECG thresholds or
the sleep post-processing), written as ``files_post.csv`` (plus, for an ECG run whose config
sets ``postprocess.submission``, the competition's answer file beside it).

``RUN_DIR`` is ``<weights_dir>/<experiment>`` after ``train`` + ``infer`` + ``blend`` (+
``postprocess`` for ECG thresholds). The input folder is prepared with the run's own data and
render settings in a temporary folder (nothing is written next to the input).

Each model predicts with the checkpoint whose predictions the blend weights were fitted on:
the blend report's ``checkpoints`` (else the model config's ``blend.checkpoint``, else
``best``). ``--checkpoint`` overrides it: ``4`` (every model), ``4,1`` (one per blended model,
in the report's order) or ``vit_base_patch16_224=4,tf_efficientnet_b4_ns=1``.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from .errors import ConfigError, InputFileError

__all__ = ["predict_folder", "run_checkpoints"]


def _blend_report(run: Path) -> tuple[dict, Path]:
    reps = sorted(run.glob("files_blend_*_oof.json"))
    if not reps:
        raise InputFileError(run, "holds no blend report (files_blend_*_oof.json)",
                             "run blend.py on the trained run first (train -> infer -> blend)")
    return json.loads(reps[0].read_text()), reps[0]


def run_checkpoints(report: dict, cfgs: dict, override=None) -> dict[str, str]:
    """The checkpoint each blended model of a run predicts with: ``override`` (one value, a
    list in the order of ``report["models"]``, a mapping model -> checkpoint, or the
    command-line text of one of these), else the blend report's ``checkpoints``, else the
    model's saved ``blend.checkpoint`` for it, else ``best``. ``cfgs``: model -> its config."""
    from .config import check_checkpoint_choice, checkpoint_choice, parse_checkpoint_arg, resolve_checkpoint

    models = list(report["models"])
    if override is not None:
        key = "--checkpoint"
        choice = parse_checkpoint_arg(override, key) if isinstance(override, str) else checkpoint_choice(override, key)
        check_checkpoint_choice(choice, models, key, models_key="the run's blended models")
        return {m: resolve_checkpoint(choice, m, models, key) for m in models}
    recorded = report.get("checkpoints") or {}
    out = {}
    for m in models:
        if m in recorded:
            out[m] = str(recorded[m])
            continue
        b = cfgs[m].blend
        try:  # a report written before blends recorded their checkpoints
            out[m] = b.checkpoint_for(m)
        except ConfigError:
            out[m] = "best"
    return out


def predict_folder(run_dir: str | os.PathLike, input_dir: str | os.PathLike, out_csv: str | os.PathLike,
                   *, checkpoint=None, device: str = "cpu", labels_csv: str | os.PathLike | None = None) -> Path:
    """Predict every recording in ``input_dir`` with the trained run; returns the CSV path.

    ``checkpoint``: None (each model's checkpoint of the blend, see :func:`run_checkpoints`)
    or an override in any form :func:`run_checkpoints` accepts. ``labels_csv``: the new
    records' own table for AIWIN/Hefei folders (e.g. Hefei's test list, whose age and sex
    columns feed models trained with ``model.meta_features``); the training table is never
    used for new records."""
    import pandas as pd
    import torch

    from .artifacts import write_csv
    from .blend import blend
    from .config import load_config
    from .infer import predict_rows_tta
    from .loaders.base import STAGES
    from .prepare import load_prepared, prepare_dataset
    from .train import checkpoint_path, load_checkpoint_model

    run = Path(run_dir)
    if not run.is_dir():
        raise InputFileError(run, "run folder not found", "point --run at <weights_dir>/<experiment>")
    report, rep_path = _blend_report(run)
    models = report["models"]
    weights = [report["weights"][m] for m in models]
    cfgs = {}
    for m in models:
        p = run / m / "config.yaml"
        if not p.is_file():
            raise InputFileError(p, "missing", "the run folder must hold each model's training config")
        cfg = load_config(p)
        cfgs[m] = replace(cfg, weights_dir=str(run.parent), data=replace(cfg.data, root=str(input_dir)))
    first = next(iter(cfgs.values()))
    which = run_checkpoints(report, cfgs, checkpoint)
    dev = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared"
        new_data = first.data
        if new_data.task == "ecg":  # the training table (AIWIN, Hefei) lists other records: only the new ones' own
            if labels_csv is not None and new_data.format not in ("aiwin", "hefei"):
                raise ConfigError(f"--labels reads an AIWIN or Hefei table; this run reads data.format="
                                  f"{new_data.format}, whose files carry their own labels, age and sex: drop --labels")
            if labels_csv is not None and not Path(labels_csv).is_file():
                raise InputFileError(labels_csv, "label table not found", "pass the new records' table, or no --labels")
            new_data = replace(new_data, labels_csv=str(labels_csv) if labels_csv else "")
        prepare_dataset(replace(first, prepared_dir=str(prepared), data=new_data), prepared, labels_required=False)
        rows, _ = load_prepared(prepared)
        if "epoch" not in rows:
            rows = rows.assign(epoch=0)
        per_model = []
        for m, cfg in cfgs.items():
            cfg = replace(cfg, prepared_dir=str(prepared))
            fold_probs = []
            for k in (list(cfg.train.train_folds) or range(cfg.train.folds)):
                model, mmeta = load_checkpoint_model(checkpoint_path(cfg, k, which[m]), dev)
                fold_probs.append(predict_rows_tta(model, mmeta, cfg, prepared, rows, device=dev))
            per_model.append(np.mean(fold_probs, axis=0))
            classes = mmeta["classes"]
            multilabel = bool(mmeta.get("multilabel", False))
    out = pd.DataFrame({"record": rows["record"].astype(str)})
    if multilabel:
        w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        probs = np.tensordot(w, np.stack(per_model), axes=1)
    else:
        probs = blend(per_model, weights=weights, method=report["method"])
        if report.get("temperature"):
            from .pipeline import apply_temperature

            probs = apply_temperature(probs, report["temperature"])
    if first.data.task == "ecg":
        # multi-label and binary ECG alike: the thresholds postprocess tuned on the OOF
        # predictions (thresholds.json), else 0.5 as `postprocess.method: argmax`; the same
        # prob_/label_ columns as files_post.csv
        from .pipeline import ecg_decide

        th_path = run / "thresholds.json"
        th = json.loads(th_path.read_text()) if th_path.is_file() else {}
        t = np.asarray(th["thresholds"]["all"]) if th else np.full(len(classes), 0.5)
        if th and list(th.get("classes", classes)) != list(classes):
            raise InputFileError(th_path, "classes differ from the run's models'",
                                 "run postprocess again on this run to re-tune the thresholds")
        rule = {"normal_class": th.get("normal_class"), "binary": bool(th.get("binary", False)),
                "normal_excludes_abnormal": th.get("normal_excludes_abnormal", False)}
        labels = ecg_decide(probs, t, classes, rule)
        for j, c in enumerate(classes):
            out[f"prob_{c}"] = probs[:, j]
        for j, c in enumerate(classes):
            out[f"label_{c}"] = labels[:, j].astype(int)
        written = write_csv(out_csv, out)
        if first.postprocess.submission != "none":  # the run's answer file (AIWIN answer.csv) beside it
            from .submission import write_submission

            write_submission(first, written)
        return written
    from .metrics import record_groups
    from .postprocess import smooth

    stages = np.zeros(len(rows), dtype=np.int64)
    for _, sel in record_groups(rows["record"].to_numpy()):
        stages[sel] = smooth(probs[sel], method=first.postprocess.method, **dict(first.postprocess.options))
    out["epoch"] = rows["epoch"].to_numpy()
    out["onset_s"] = rows["onset_s"].to_numpy()
    out["stage"] = [STAGES[k] for k in stages]
    out["stage_code"] = stages
    return write_csv(out_csv, out)
