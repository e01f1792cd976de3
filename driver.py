#!/usr/bin/env python
"""PhysioNet/CinC-style prediction entry point: ``python driver.py MODELS DATA OUTPUTS``.

Runs every record in DATA through the run trained by train_model.py (named in
MODELS/sigvision_run.json) and writes one CSV per record in the Challenge output format:
``#<record>``, the class codes, the binary labels, the probabilities (for merged equivalent
classes the first code is written).
"""
import json
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python driver.py MODELS DATA OUTPUTS")
    import pandas as pd

    from sigvision.io.artifacts import write_text
    from sigvision.steps.predict import predict_folder

    models, data, outputs = (Path(a) for a in sys.argv[1:])
    run_file = models / "sigvision_run.json"
    if run_file.is_file():
        try:
            name = json.loads(run_file.read_text())["run"]
        except (ValueError, KeyError, TypeError):
            sys.exit(f"driver.py: {run_file}: not a run file of train_model.py; fix: write "
                     '{"run": "<experiment>"} in it, or run python train_model.py again')
    else:  # a folder trained before train_model.py wrote the run file: its one blended experiment
        done = sorted({p.parent.name for p in models.glob("*/files_blend_*_oof.json")})
        if len(done) != 1:
            sys.exit(f"driver.py: {run_file}: not found, and {models} holds {len(done)} blended experiments "
                     f"({', '.join(done) or 'none'}); fix: train with python train_model.py DATA {models}, or write "
                     '{"run": "<experiment>"} in that file')
        name = done[0]
    with tempfile.TemporaryDirectory() as tmp:
        table = pd.read_csv(predict_folder(models / name, data, Path(tmp) / "p.csv"), dtype={"record": str})
    classes = [c[len("prob_"):] for c in table if c.startswith("prob_")]
    codes = [c.split("|")[0] for c in classes]
    for _, row in table.iterrows():
        labels = ",".join(str(int(row[f"label_{c}"])) for c in classes)
        probs = ",".join(f"{row[f'prob_{c}']:.4f}" for c in classes)
        write_text(outputs / f"{row['record']}.csv", f"#{row['record']}\n{','.join(codes)}\n{labels}\n{probs}\n")
    print(f"wrote {len(table)} output file(s) to {outputs}")
