"""``make demo`` / ``sigvision demo``: the whole chain on the shipped sample data, on CPU.

synthetic PSG nights (EDF+, driven by real Sleep-EDF hypnograms) -> prepare (EDF read,
epochs, rendering, image cache) -> tiny ViT (Adam), tiny EfficientNet (AdamP) and the
classical feature stager (random forest on EEG/EOG/EMG features), 2 subject-wise folds each
(``mainViT.py`` / ``mainEff.py``) -> out-of-fold probabilities
(``inferblend.py``) -> square-root blend with fitted weights (``blend.py``) -> clinician-rule
post-processing (``postprocess.py``) -> ``files_post.csv`` -> metrics, sleep statistics and
plots (``sigvision evaluate``).

Every step calls the same entry point a user would, with the demo configs
(``configs/sleep_demo_vit.yaml``, ``configs/sleep_demo_eff.yaml``,
``configs/sleep_demo_features.yaml``) and their outputs
redirected into the demo folder.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..config.load import load_config
from ..errors import ConfigError
from ..io.artifacts import write_bytes
from ..io.probs import load_probs
from ..loaders.pairing import subject_of
from ..metrics.classification import classification_metrics
from ..report.images import encode_png
from ..report.plots import training_curves_png
from ..runtime import tqdm_progress
from ..synth.samples import list_sample_hypnograms, write_sample_psg
from .blend import run_blend
from .evaluate import run_evaluate
from .postprocess import run_postprocess
from ..tasks import task_for
from ..train.checkpoints import model_dir
from .infer import infer
from .prepare import check_output_dir, prepare_dataset
from .contact_sheet import contact_sheet_from_prepared
from .train import train

__all__ = ["run_demo", "run_ecg_demo", "ECG_DEMO_CONFIGS"]

DEMO_CONFIGS = ("sleep_demo_vit.yaml", "sleep_demo_eff.yaml", "sleep_demo_features.yaml")
#: Members fitted in closed form (no optimiser, no epochs).
CLASSICAL_MODELS = ("sleep_features", "ecg_baseline")
#: The ECG demo: the experiment's config (prepare, blend, postprocess, evaluate), then its models.
ECG_DEMO_CONFIGS = ("ecg_cinc2021.yaml", ("ecg_demo_img.yaml", "ecg_demo_1d.yaml"))


def _find_config(name: str) -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        p = base / "configs" / name
        if p.is_file():
            return p

    raise ConfigError(f"configs/{name} not found; fix: run the demo from the sigvision repository")


def run_demo(out_dir: str | os.PathLike = "demo_out", *, nights: int = 6, max_epochs: int | None = None,
             overwrite: bool = False, progress: bool = True, epochs: int | None = None) -> dict:
    """Run the demo into ``out_dir``; returns the paths it wrote."""
    n_subj = len({subject_of(n) for n in list_sample_hypnograms("sleep_edf")[:nights]})
    if n_subj < 2:  # the demo configs' folds are subject-wise: 2 folds need 2 subjects

        raise ConfigError(f"--nights {nights} gives {n_subj} subject(s) (2 nights each); the demo's "
                          "subject-wise folds need 2: use --nights 3 or more")
    t0 = time.perf_counter()
    out = check_output_dir(out_dir, overwrite).resolve()
    psg_dir = out / "psg"
    steps = 7
    print(f"[1/{steps}] synthesising {nights} PSG night(s) as EDF+ from real Sleep-EDF hypnograms -> {psg_dir}")
    write_sample_psg(psg_dir, nights, seed=0, max_epochs=max_epochs)
    overrides = [f"data.root={psg_dir}", f"prepared_dir={out / 'prepared'}", f"weights_dir={out / 'weights'}"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    cfgs = [load_config(_find_config(n), overrides) for n in DEMO_CONFIGS]
    cfg = cfgs[0]
    print(f"[2/{steps}] prepare: EDF -> uV epochs -> {cfg.render.name} images {cfg.render.height}x{cfg.render.width} "
          f"(context {cfg.render.context_epochs}) -> {cfg.prepared_path}")
    res = prepare_dataset(cfg, cfg.prepared_path, progress=tqdm_progress(progress))
    sheet_path = out / "contact_sheet.png"
    write_bytes(sheet_path, encode_png(contact_sheet_from_prepared(cfg.prepared_path)))
    for i, c in enumerate(cfgs):
        classical = c.model.name in CLASSICAL_MODELS
        how = "classical, fitted once per fold" if classical else c.train.optimizer
        runs = f"{c.train.folds} folds" + ("" if classical else f" x {c.train.epochs} epochs")
        print(f"[3/{steps}] train {c.model.name} ({how}), {runs} [{i + 1}/{len(cfgs)}]")
        for r in train(c, progress=tqdm_progress(progress, unit="batch")):
            print(f"      fold {r['fold']}: best {r['monitor']} {r['best']:.3f} (epoch {r['best_epoch']})")
    print(f"[4/{steps}] inferblend: out-of-fold probabilities per model (.npy + sidecar JSON)")
    preds = {}
    for c in cfgs:
        written = infer(c, progress=tqdm_progress(progress, unit="fold"))
        probs, meta = load_probs(written["oof"])
        m = classification_metrics(meta["labels"], probs.argmax(1), 5)
        preds[c.model.key] = written["oof"]
        print(f"      {c.model.key}: {written['oof'].name}  OOF kappa {m['kappa']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
              f"accuracy {m['accuracy']:.3f}")

    fit_metric = task_for(cfg.data).resolve_fit_metric(cfg.blend.fit_metric)
    print(f"[5/{steps}] blend.py: {cfg.blend.method} blend, weights fitted on OOF ({fit_metric}), "
          f"temperature-calibrated")
    b = run_blend(cfg)
    print("      weights " + ", ".join(f"{k} {v:.2f}" for k, v in b["report"]["weights"].items())
          + f"; kappa blend {b['report']['scores']['blend']['kappa']:.3f} -> {b['csv'].name}")
    print(f"[6/{steps}] postprocess.py: {cfg.postprocess.method} -> files_post.csv")
    post = run_postprocess(cfg)
    print(f"[7/{steps}] evaluate: metrics, per-night sleep statistics, hypnograms, confusion matrix")
    ev = run_evaluate(cfg)
    _write_curves(cfgs, ev["out_dir"])
    o = ev["overall"]
    counts = res.summary.get("stage_counts", {})
    print()
    print(f"demo finished in {time.perf_counter() - t0:.0f} s")
    print(f"  synthetic EDF nights : {psg_dir}")
    print(f"  dataset index        : {res.index_csv}  ({res.n_samples} epochs: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    print(f"  contact sheet        : {sheet_path}")
    for c in cfgs:
        print(f"  {c.model.key:20s} : {model_dir(c)}  (per-fold weights, metrics.csv)")
    print(f"  predictions          : {cfg.run_path / 'preds'}")
    print(f"  blend (before post)  : {b['csv']}")
    print(f"  files_post.csv       : {post}")
    print(f"  evaluation           : {ev['out_dir']}  (metrics.md, per_night.csv, sleep_statistics.csv, *.png)")
    print()
    print("  cross-validated, subject-wise, synthetic signals:")
    print(f"    {'':22s} {'kappa':>7s} {'macro-F1':>9s} {'accuracy':>9s}")
    for name, sc in b["report"]["scores"].items():
        print(f"    {name:22s} {sc['kappa']:7.3f} {sc['macro_f1']:9.3f} {sc['accuracy']:9.3f}")
    print(f"    {'files_post.csv':22s} {o['kappa']:7.3f} {o['macro_f1']:9.3f} {o['accuracy']:9.3f}")
    print("  note: the signals are synthetic (made from real human hypnograms); accuracy on them is not "
          "real-PSG accuracy")
    return {"psg": psg_dir, "prepared": cfg.prepared_path, "contact_sheet": sheet_path, "preds": preds,
            "files_post": post, "eval": ev["out_dir"], "overall": o}


def _write_curves(cfgs, out_dir: Path) -> None:
    """Training curves per model (all folds) next to the evaluation."""
    for c in cfgs:
        frames = []
        for f in sorted(model_dir(c).glob("fold_*/metrics.csv")):
            frames.append(pd.read_csv(f).assign(fold=int(f.parent.name.split("_")[1])))
        if frames:
            write_bytes(Path(out_dir) / f"training_curves_{c.model.key}.png",
                        training_curves_png(pd.concat(frames, ignore_index=True), title=c.model.key))


def run_ecg_demo(overrides: Sequence[str] = (), *, progress: bool = True) -> dict:
    """The ECG chain on the 35 real CinC 2021 records shipped with sigvision (``make ecg-demo``,
    ``sigvision ecg-demo``): prepare -> train a tiny image model and a 1-D ResNet (2 folds)
    -> out-of-fold probabilities -> blend -> tuned thresholds (``files_post.csv``,
    ``thresholds.json``) -> evaluation. ``overrides`` (``--set`` values) apply to every config,
    e.g. ``output_dir=...`` and ``weights_dir=...`` to write elsewhere. Every folder it writes
    is overwritten. Returns the paths it wrote."""
    base_name, model_names = ECG_DEMO_CONFIGS
    base = load_config(_find_config(base_name), overrides)
    prepare_dataset(base, base.prepared_path, overwrite=True, progress=tqdm_progress(progress))
    models = [load_config(_find_config(n), overrides) for n in model_names]
    for c in models:
        train(c, overwrite=True, progress=tqdm_progress(progress, unit="batch"))
    for c in models:
        infer(c, progress=tqdm_progress(progress, unit="fold"))
    blended = run_blend(base)
    post = run_postprocess(base)
    res = run_evaluate(base)
    return {"blend": blended["csv"], "files_post": post, "thresholds": base.run_path / "thresholds.json",
            "eval": res["out_dir"], "report": res["report"]}
