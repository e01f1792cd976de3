#!/usr/bin/env python
"""PhysioNet/CinC-style training entry point: ``python train_model.py DATA MODELS``.

Trains the ECG image model and 1-D model (configs/ecg_demo_img.yaml, configs/ecg_demo_1d.yaml;
pass ``--set`` overrides after the two folders) on the WFDB records in DATA with subject-wise
cross-validation, writes their out-of-fold predictions, the blend and the per-class
thresholds into MODELS/<experiment>/, ready for driver.py.
"""
import sys
from pathlib import Path

from sigvision.cli import main

if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python train_model.py DATA MODELS [--set key=value ...]")
    data, models, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    configs = [str(Path(__file__).resolve().parent / "configs" / f"{n}.yaml") for n in ("ecg_demo_img", "ecg_demo_1d")]
    over = ["--set", f"data.root={data}", "--set", f"weights_dir={models}",
            "--set", f"prepared_dir={Path(models) / 'prepared'}", *rest]
    steps = [["prepare", "-c", configs[0], "--overwrite", "--out", str(Path(models) / "prepared"), *over]]
    for c in configs:
        steps += [["train", "-c", c, "--overwrite", *over], ["infer", "-c", c, *over]]
    steps += [["blend", "-c", configs[0], *over], ["postprocess", "-c", configs[0], *over]]
    for s in steps:
        rc = main(["--quiet", *s])
        if rc:
            sys.exit(rc)
