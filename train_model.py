#!/usr/bin/env python
"""PhysioNet/CinC-style training entry point: ``python train_model.py DATA MODELS``.

Trains the ECG models of the given configs (default: the image and 1-D demo models,
configs/ecg_demo_img.yaml and configs/ecg_demo_1d.yaml; ``-c FILE`` once per model for
others, e.g. ``-c configs/ecg_cinc2020_resnet1d18.yaml``) on the WFDB records in DATA with
subject-wise cross-validation, writes their out-of-fold predictions, the blend of every
trained model and the per-class thresholds into MODELS/<experiment>/, and names that run in
MODELS/sigvision_run.json for driver.py. ``--set key=value`` overrides apply to every config.
"""
import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent
DEFAULT_CONFIGS = [str(REPO / "configs" / f"{n}.yaml") for n in ("ecg_demo_img", "ecg_demo_1d")]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(usage="python train_model.py DATA MODELS [-c CONFIG ...] [--set key=value ...]",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("models")
    ap.add_argument("-c", "--config", action="append", default=None,
                    help="config of one model to train (repeat for an ensemble; default: the two demo models)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override in every config")
    args = ap.parse_args()

    from sigvision.io.artifacts import write_json
    from sigvision.cli import main
    from sigvision.config.load import load_config
    from sigvision.errors import ConfigError

    configs = args.config or DEFAULT_CONFIGS
    models = Path(args.models)
    sets = [f"data.root={args.data}", f"weights_dir={models}", f"prepared_dir={models / 'prepared'}", *args.set]
    try:
        cfgs = [load_config(c, sets) for c in configs]
    except ConfigError as exc:
        sys.exit(f"train_model.py: {exc}")
    names = [c.model.key for c in cfgs]
    if len(set(names)) < len(names):
        sys.exit(f"train_model.py: the configs train the same model twice ({', '.join(names)}); "
                 "give each config its own model.name or model.alias (a --set applies to every config)")
    if len({c.name for c in cfgs}) > 1:
        sys.exit("train_model.py: the configs name different experiments; give them one name (--set name=...)")
    # the blend takes every model trained here, whatever the first config lists
    sets.append(f"blend.models=[{','.join(names)}]")
    over = [a for s in sets for a in ("--set", s)]
    steps = [["prepare", "-c", configs[0], "--overwrite", "--out", str(models / "prepared"), *over]]
    for c in configs:
        steps += [["train", "-c", c, "--overwrite", *over], ["infer", "-c", c, *over]]
    steps += [["blend", "-c", configs[0], *over], ["postprocess", "-c", configs[0], *over]]
    for s in steps:
        rc = main(["--quiet", *s])
        if rc:
            sys.exit(rc)
    write_json(models / "sigvision_run.json", {"run": cfgs[0].name, "models": names, "configs": configs})
