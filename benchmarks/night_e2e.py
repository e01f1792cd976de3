"""One full night end to end: EDF read -> render -> predict -> blend -> post-process, in seconds.

A tiny run is trained once (``configs/sleep_demo_vit.yaml``: timm ``test_vit`` at 96 px,
2 subject-wise folds, a few short synthetic nights, 1 epoch; then ``sigvision infer`` and the
blend, so the run folder holds everything ``sigvision predict`` needs), or reused with
``--run``. A new synthetic night of ``--epochs`` epochs (EDF+ PSG + hypnogram written by
``write_sample_psg``, a night the run never saw) then goes through
``sigvision.steps.predict.predict_folder``: EDF read (MNE) -> µV epochs -> rendered image cache ->
both fold models -> blend weights + temperature -> clinician-rule post-processing ->
``files_post.csv``. The first call is reported as ``night_end_to_end_cold_s`` (lazy imports,
first model load); ``night_end_to_end_s`` is the median of ``--repeats`` further calls.
``night_prepare_s`` times the prepare step alone (EDF read + render) on the same night.

    python benchmarks/night_e2e.py [--epochs 1000] [--repeats 3] [--run RUN_DIR] [--device auto]
    python benchmarks/night_e2e.py --train-only DIR     # just the tiny run (reused via --run)

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "sleep_demo_vit.yaml"


def train_tiny_run(work: str | os.PathLike, *, nights: int = 4, epochs_per_night: int = 60, size: int = 96,
                   seed: int = 0) -> Path:
    """Train the demo's tiny ViT (2 folds x 1 epoch) on short synthetic nights, infer and blend.

    Returns the run folder (``<weights>/<experiment>``) for :func:`sigvision.steps.predict.predict_folder`.
    """
    from sigvision.config.load import load_config
    from sigvision.steps.infer import infer
    from sigvision.steps.blend import run_blend
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.synth.samples import write_sample_psg
    from sigvision.steps.train import train

    work = Path(work)
    write_sample_psg(work / "train_psg", nights, seed=seed, max_epochs=epochs_per_night)
    cfg = load_config(CONFIG, [f"data.root={work / 'train_psg'}", f"prepared_dir={work / 'train_prep'}",
                               f"weights_dir={work / 'weights'}", "name=bench_tiny", "train.epochs=1",
                               "train.folds=2", "train.t0_epochs=1", "train.keep_every_epoch=false",
                               f"render.height={size}", f"render.width={size}", "blend.models=[test_vit]",
                               "train.device=cpu"])
    prepare_dataset(cfg, cfg.prepared_path)
    train(cfg)
    infer(cfg)
    run_blend(cfg)
    return cfg.run_path


def write_night(out_dir: str | os.PathLike, epochs: int, *, seed: int = 7, copies: int = 1) -> list[Path]:
    """One synthetic night (hypnogram cropped to ``epochs``) as EDF+, optionally copied ``copies``
    times under distinct record names (identical work per night). Returns the PSG paths."""
    from sigvision.synth.samples import write_sample_psg

    out_dir = Path(out_dir)
    tmp = out_dir / "_one"
    (psg, hyp), = write_sample_psg(tmp, 1, seed=seed, max_epochs=epochs, prefix="NEW_")
    out = []
    for i in range(copies):
        rid = f"N{i:02d}_{Path(psg).name[:-len('-PSG.edf')]}" if copies > 1 else Path(psg).name[:-len("-PSG.edf")]
        p = out_dir / f"{rid}-PSG.edf"
        shutil.copyfile(psg, p)
        shutil.copyfile(hyp, out_dir / f"{rid}-Hypnogram.edf")
        out.append(p)
    shutil.rmtree(tmp)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1000, help="epochs in the predicted night (default 1000)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="warm end-to-end runs, median reported (0: report the cold run)")
    ap.add_argument("--run", default=None, help="reuse a trained run folder (<weights>/<experiment>)")
    ap.add_argument("--train-nights", type=int, default=4)
    ap.add_argument("--train-epochs", type=int, default=60, help="epochs per training night")
    ap.add_argument("--train-size", type=int, default=96, help="image size of the tiny run (px)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--train-only", metavar="DIR", default=None,
                    help="only train the tiny run into DIR (kept) and print {\"run\": RUN_DIR}; "
                         "python -m benchmarks shares it with memory.py")
    args = ap.parse_args()
    if args.train_only:
        t0 = time.perf_counter()
        run = train_tiny_run(args.train_only, nights=args.train_nights, epochs_per_night=args.train_epochs,
                             size=args.train_size)
        print(json.dumps({"run": str(run), "train_s": round(time.perf_counter() - t0, 1)}))
        return

    import numpy as np
    import pandas as pd
    import torch

    from sigvision.config.load import load_config
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.steps.predict import predict_folder

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory(prefix="sigvision_e2e_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        run = Path(args.run) if args.run else train_tiny_run(tmp, nights=args.train_nights,
                                                             epochs_per_night=args.train_epochs,
                                                             size=args.train_size)
        train_s = time.perf_counter() - t0
        write_night(tmp / "night", args.epochs)

        t0 = time.perf_counter()
        out = predict_folder(run, tmp / "night", tmp / "post_cold.csv", device=device)
        cold = time.perf_counter() - t0
        warm = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            predict_folder(run, tmp / "night", tmp / f"post_{i}.csv", device=device)
            warm.append(time.perf_counter() - t0)
        post = pd.read_csv(out)
        assert len(post) > 0 and set(post["stage"]) <= {"W", "N1", "N2", "N3", "REM"}

        # the prepare step alone (EDF read -> epochs -> render cache), same settings as the run
        cfg = load_config(sorted(run.glob("*/config.yaml"))[0], [f"data.root={tmp / 'night'}"])
        prep = []
        for i in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            prepare_dataset(cfg, tmp / f"prep_{i}")
            prep.append(time.perf_counter() - t0)
        n_models = len(json.loads(next(run.glob("files_blend_*_oof.json")).read_text())["models"])
        n_folds = cfg.train.folds

    e2e = float(np.median(warm)) if warm else cold
    prep_s = float(np.median(prep))
    res = {
        "night_end_to_end_s": round(e2e, 3),
        "night_end_to_end_cold_s": round(cold, 3),
        "night_prepare_s": round(prep_s, 3),
        "night_predict_blend_post_s": round(max(e2e - prep_s, 0.0), 3),
        "night_epochs": int(len(post)),
        "night_epochs_s": round(len(post) / e2e, 1),
        "models": n_models, "folds": n_folds, "model": cfg.model.name,
        "image_px": cfg.render.height, "postprocess": cfg.postprocess.method,
        "train_s": round(train_s, 1) if not args.run else None,
        "device": device if device != "cuda" else torch.cuda.get_device_name(0),
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
    }
    print(f"one night, {res['night_epochs']} scored epochs, {n_models} model x {n_folds} folds "
          f"({cfg.model.name} at {cfg.render.height} px), post-processing {cfg.postprocess.method}, on {res['device']}")
    print(f"  end to end (EDF -> files_post.csv): {e2e:.2f} s warm (median of {len(warm)}), {cold:.2f} s cold")
    print(f"  of which prepare (EDF read + render): {prep_s:.2f} s; predict + blend + post-process: "
          f"{res['night_predict_blend_post_s']:.2f} s")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
