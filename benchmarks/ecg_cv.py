"""Cross-validated ECG results on the real CinC 2021 sample shipped with sigvision.

Runs, in a temporary folder, the documented chain on the 35 shipped records (5 folds by
record, stratified by source database and label; here by database, as every label stratum of
35 records is too small to split): prepare -> a tiny image model (rendered 6x2 ECGs) and
a tiny 1-D ResNet -> out-of-fold probabilities -> their mean blend; then scores, on the same
folds: each model alone (0.5 thresholds), the blend with 0.5 thresholds and with per-class
thresholds tuned on the other folds (nested), a classical baseline (RR-interval and
band-power features, logistic regression) and the always-normal classifier.

The sample is tiny and source-confounded (every JS record carries PAC, every HR record NSR),
so the figures say the code path works, not how well the models would do on the Challenge.

    python benchmarks/ecg_cv.py [--epochs 8]

Last line: one JSON object with the table.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _scores(y, probs, outputs, classes, W):
    from sklearn.metrics import f1_score, roc_auc_score

    from sigvision.metrics.challenge import challenge_score

    have = [j for j in range(len(classes)) if 0 < y[:, j].sum() < len(y)]
    auroc = float(np.mean([roc_auc_score(y[:, j], probs[:, j]) for j in have])) if probs is not None else float("nan")
    present = [j for j in range(len(classes)) if y[:, j].any() or outputs[:, j].any()]
    return {"challenge": round(float(challenge_score(y, outputs, W, classes)), 3),
            "macro_f1": round(float(f1_score(y[:, present], outputs[:, present], average="macro", zero_division=0)), 3),
            "macro_auroc": None if auroc != auroc else round(auroc, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()

    from sigvision.config.load import load_config
    from sigvision.baselines.ecg import BaselineClassifier
    from sigvision.postprocess.thresholds import apply_thresholds, tune_thresholds
    from sigvision.metrics.challenge import load_challenge_weights
    from sigvision.steps.infer import infer
    from sigvision.io.probs import load_probs
    from sigvision.loaders.wfdb import load_wfdb_folder
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.synth.samples import sample_ecg_dir
    from sigvision.train.folds import load_or_make_folds
    from sigvision.train.data import load_training_index
    from sigvision.train.loop import task_spec
    from sigvision.steps.train import train

    t0 = time.perf_counter()
    classes, W = load_challenge_weights()
    normal = "426783006"
    with tempfile.TemporaryDirectory() as tmp:
        over = [f"data.root={sample_ecg_dir()}", f"prepared_dir={tmp}/prep", f"weights_dir={tmp}/w",
                f"train.epochs={args.epochs}"]
        cfgs = {n: load_config(REPO / "configs" / f"{n}.yaml", over) for n in ("ecg_demo_img", "ecg_demo_1d")}
        base = cfgs["ecg_demo_img"]
        prepare_dataset(base, base.prepared_path)
        probs = {}
        for name, cfg in cfgs.items():
            train(cfg)
            p, meta = load_probs(infer(cfg)["oof"])
            probs[cfg.model.name] = p
        index = load_training_index(base)
        spec = task_spec(base, index)
        folds = load_or_make_folds(base.prepared_path, index, base.train.folds, base.seed, write=False)
        fold_of = dict(zip(folds["record"].astype(str), folds["fold"]))
        # rows of the OOF files follow the index order
        recs = [str(r) for r in meta["records"]]
        order = {r: i for i, r in enumerate(index["record"].astype(str))}
        y = spec.targets[[order[r] for r in recs]] > 0.5
        f = np.asarray([fold_of[r] for r in recs])
        blend = np.mean(list(probs.values()), axis=0)
        kw = {"normal_class": normal}
        half = np.full(len(classes), 0.5)
        rows = {}
        for name, p in probs.items():
            rows[f"{name} (0.5 thresholds)"] = _scores(y, p, apply_thresholds(p, half, classes=classes, **kw), classes, W)
        rows["blend (0.5 thresholds)"] = _scores(y, blend, apply_thresholds(blend, half, classes=classes, **kw), classes, W)
        tuned = np.zeros_like(y)
        for k in np.unique(f):
            t = tune_thresholds(blend[f != k], y[f != k], W, classes, **kw)
            tuned[f == k] = apply_thresholds(blend[f == k], t, classes=classes, **kw)
        rows["blend (thresholds tuned on other folds)"] = _scores(y, blend, tuned, classes, W)
        records = {r.record_id: r for r in load_wfdb_folder(sample_ecg_dir())}
        sigs = [records[r] for r in recs]
        bp = np.zeros(y.shape, dtype=np.float64)
        for k in np.unique(f):
            clf = BaselineClassifier()
            clf.fit([sigs[i] for i in np.flatnonzero(f != k)], y[f != k])
            bp[f == k] = clf.predict_proba([sigs[i] for i in np.flatnonzero(f == k)])
        rows["classical baseline (RR + band power, LR)"] = _scores(
            y, bp, apply_thresholds(bp, half, classes=classes, **kw), classes, W)
        always = np.zeros_like(y)
        always[:, classes.index(normal)] = True
        rows["always normal"] = _scores(y, None, always, classes, W)
    print(f"{'model':44s} {'challenge':>9s} {'macro-F1':>9s} {'macro-AUROC':>11s}")
    for k, v in rows.items():
        auc = "n/a" if v["macro_auroc"] is None else f"{v['macro_auroc']:.3f}"
        print(f"{k:44s} {v['challenge']:9.3f} {v['macro_f1']:9.3f} {auc:>11s}")
    print(f"({len(y)} records, 5 folds by record stratified by source and label, {args.epochs} epochs, "
          f"{time.perf_counter() - t0:.0f} s)")
    print(json.dumps({"ecg_cv": rows, "n_records": int(len(y)), "epochs": args.epochs,
                      "runtime_s": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
