"""Cross-validated ECG results on the 280 real records shipped with sigvision.

The records: 105 CPSC2018 (CinC 2020 release, ``sample_data/ecg/cinc2020_cpsc2018``), 140 LUDB
(``sample_data/ecg/ludb``) and the package's 35 CinC 2021 records, read as they are (label map,
windows over 10-60 s records). One prepared folder, one set of record-wise folds stratified by
source database and rarest label (``folds_<k>.csv``, shared by every task and model), and for
each seed task, the documented chain as a user runs it (``configs/ecg_real_1d.yaml``,
``configs/ecg_real_baseline.yaml``):

* ``af``: AF vs rest (the ECM write-up's task), ``data.ecg_task: binary``,
  ``data.positive_labels: [164889003]``;
* ``normal``: normal vs abnormal (AIWIN 2021 task 1), ``data.ecg_task: binary``, normal = sinus
  rhythm and nothing else;
* ``cpsc``: CPSC multi-label (CinC 2020): the nine CPSC2018 diagnoses, scored with the CinC 2020
  metric over the seven it scores.

For each task: the deep ensemble (``resnet1d18_small`` from two seeds, ``configs/ecg_real_1d.yaml``
and ``configs/ecg_real_1d_b.yaml``, k folds each, their mean), the classical baseline
(``ecg_baseline``, same folds) and their blend (deep ensemble and baseline half each, the
weights of ``configs/ecg_real.yaml``), scored on the
out-of-fold predictions: AUROC (macro for multi-label), F1 (of the positive class; macro for
multi-label), sensitivity and specificity of the thresholded decisions (thresholds tuned on
the other folds, as ``postprocess`` does), the CinC 2020 challenge score (multi-label), and
whether any decision rule is constant (the guard of ``sigvision evaluate``). Wall time per task.

    python benchmarks/ecg_real.py [--epochs 30] [--folds 5] [--tasks af,normal,cpsc] [--records N]

Last line: one JSON object with every figure.
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
SAMPLE = REPO / "sample_data" / "ecg"

TASKS = {
    "af": ("AF vs rest (ECM)", ["data.ecg_task=binary", "data.classes=[]", "train.loss=auto", "data.positive_labels=[164889003]"]),
    "normal": ("normal vs abnormal (AIWIN task 1)", ["data.ecg_task=binary", "data.classes=[]", "train.loss=auto"]),
    "cpsc": ("CPSC multi-label (CinC 2020)", []),
}
MEMBERS = ("deep", "baseline", "blend")


def gather_records(dest: Path, limit: int | None = None) -> dict[str, int]:
    """Link the shipped records into one folder (names do not collide); ``limit`` takes every
    n-th record of each source for a quick run. Returns the count per source."""
    from sigvision.synth.samples import sample_ecg_dir

    dest.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, folder in (("cpsc2018", SAMPLE / "cinc2020_cpsc2018"), ("ludb", SAMPLE / "ludb"),
                         ("cinc2021", sample_ecg_dir())):
        heads = sorted(folder.glob("*.hea"))
        if limit:
            heads = heads[:: max(1, len(heads) // max(1, limit))][:limit]
        for hea in heads:
            for f in folder.glob(hea.stem + ".*"):
                if f.suffix.lower() in (".hea", ".mat", ".dat"):
                    os.symlink(f, dest / f.name)
        counts[name] = len(heads)
    return counts


def score(y: np.ndarray, probs: np.ndarray, decisions: np.ndarray, classes, binary: bool) -> dict:
    """The table's figures for one member of one task."""
    from sigvision.metrics.ecg import binary_metrics, degenerate_decisions, multilabel_metrics

    if binary:
        m = binary_metrics(y[:, 1], probs[:, 1], pred=decisions[:, 1])
        flags = degenerate_decisions(y[:, 1:], decisions[:, 1:], classes[1:])
        out = {"auroc": m["auroc"], "f1": m["f1"], "sensitivity": m["sensitivity"], "specificity": m["specificity"],
               "challenge": None, "n_pred_pos": m["n_pred_pos"]}
    else:
        m = multilabel_metrics(y, probs, None, classes, outputs=decisions, challenge="2020")
        flags = m["degenerate_decisions"]
        out = {"auroc": m["macro_auroc"], "f1": m["macro_f1"], "sensitivity": m["sensitivity"],
               "specificity": m["specificity"], "challenge": m["challenge_score"]}
    out["constant_rules"] = flags
    def clean(v):  # NaN (undefined: a class without positives) is null in the JSON
        if isinstance(v, (float, np.floating)):
            return None if v != v else round(float(v), 3)
        return v

    return {k: clean(v) for k, v in out.items()}


def run_task(task: str, base_over: list[str], args, tmp: Path) -> dict:
    from sigvision.config.load import load_config
    from sigvision.steps.infer import infer
    from sigvision.io.probs import load_probs
    from sigvision.tasks.ecg import ecg_decision_rule, nested_ecg_decisions
    from sigvision.io.runs import truth_matrix as _truth_matrix
    from sigvision.train.folds import load_or_make_folds
    from sigvision.train.data import load_training_index
    from sigvision.steps.train import train

    t0 = time.perf_counter()
    over = base_over + [f"name=ecg_real_{task}"] + TASKS[task][1]
    deep = load_config(REPO / "configs" / "ecg_real_1d.yaml", over + [f"train.epochs={args.epochs}"])
    deep_b = load_config(REPO / "configs" / "ecg_real_1d_b.yaml", over + [f"train.epochs={args.epochs}"])
    base = load_config(REPO / "configs" / "ecg_real_baseline.yaml", over)
    timing = {}
    probs = {}
    for member, cfg in (("deep_a", deep), ("deep_b", deep_b), ("baseline", base)):
        t = time.perf_counter()
        train(cfg)
        p, meta = load_probs(infer(cfg)["oof"], multilabel=True)
        probs[member] = p
        timing[member] = round(time.perf_counter() - t, 1)
    probs["deep"] = (probs["deep_a"] + probs["deep_b"]) / 2
    probs["blend"] = (probs["deep"] + probs["baseline"]) / 2
    classes = meta["classes"]
    y = _truth_matrix(meta["labels"], len(classes))
    index = load_training_index(deep)
    folds = load_or_make_folds(deep.prepared_path, index, deep.train.folds, deep.seed, write=False)
    fold_of = dict(zip(folds["record"].astype(str), folds["fold"]))
    f = np.asarray([fold_of[str(r)] for r in meta["records"]])
    rule = ecg_decision_rule(deep, classes)
    res = {"task": TASKS[task][0], "classes": classes, "n_records": int(len(y)),
           "n_positive": [int(v) for v in y.sum(0)], "seconds": timing}
    for member in MEMBERS:
        decisions, _ = nested_ecg_decisions(probs[member], y, f, classes, rule, str(deep.data.challenge))
        res[member] = score(y, probs[member], decisions, classes, rule["binary"])
    # each seed alone (AUROC only): how much one network moves with its seed
    res["deep_seeds_auroc"] = [score(y, probs[m], probs[m] >= 0.5, classes, rule["binary"])["auroc"]
                               for m in ("deep_a", "deep_b")]
    res["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    return res


def fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and v != v) else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30, help="deep model epochs (the preset's 30 by default)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--tasks", default="af,normal,cpsc")
    ap.add_argument("--records", type=int, default=None, help="at most this many records per source (quick runs)")
    args = ap.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; accepted: {', '.join(TASKS)}")

    import torch

    from sigvision.config.load import load_config
    from sigvision.steps.prepare import prepare_dataset

    t0 = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        counts = gather_records(tmp / "records", args.records)
        base_over = [f"data.root={tmp / 'records'}", f"prepared_dir={tmp / 'prep'}", f"weights_dir={tmp / 'w'}",
                     f"train.folds={args.folds}"]
        t = time.perf_counter()
        prep = prepare_dataset(load_config(REPO / "configs" / "ecg_real.yaml", base_over), tmp / "prep")
        prepare_s = round(time.perf_counter() - t, 1)
        for task in tasks:
            results[task] = run_task(task, base_over, args, tmp)
    total = round(time.perf_counter() - t0, 1)

    print(f"{'task':36s} {'model':9s} {'AUROC':>6s} {'F1':>6s} {'sens':>6s} {'spec':>6s} {'CinC2020':>8s}  constant?")
    for task, r in results.items():
        for member in MEMBERS:
            m = r[member]
            flag = "YES: " + "; ".join(m["constant_rules"]) if m["constant_rules"] else "no"
            print(f"{r['task'][:36]:36s} {member:9s} {fmt(m['auroc']):>6s} {fmt(m['f1']):>6s} "
                  f"{fmt(m['sensitivity']):>6s} {fmt(m['specificity']):>6s} {fmt(m['challenge']):>8s}  {flag}")
        print(f"{'':36s} ({r['n_records']} records; deep AUROC of each seed {r['deep_seeds_auroc']}; "
              f"seconds: {r['seconds']})")
    print(f"records {counts}; prepare {prepare_s} s; total {total} s on {os.cpu_count()} CPU core(s), "
          f"torch {torch.__version__}, {args.folds} folds, {args.epochs} epochs")
    print(json.dumps({"ecg_real": results, "records": counts, "prepare_s": prepare_s, "runtime_s": total,
                      "folds": args.folds, "epochs": args.epochs, "summary": prep.summary.get("label_counts")}))


if __name__ == "__main__":
    main()
