"""From the command line alone, on the real CPSC2018 and LUDB records as shipped (a few of each):
prepare -> train the deep model and the classical baseline -> infer -> blend -> postprocess ->
evaluate -> predict, with the labels, age and sex of the headers in the index."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sigvision.cli import main
from tests.paths import REPO

SAMPLE = REPO / "sample_data" / "ecg"
CPSC_PICK = ["A0001", "A0003", "A0008", "A0009", "A0010", "A0011", "A0013", "A0015", "A0016", "A0017", "A0018", "A0021",
             "A0022"]
LUDB_PICK = ["2", "3", "5", "7", "10", "11"]


def _copy(src: Path, dest: Path, stems, exts) -> Path:
    dest.mkdir()
    for stem in stems:
        for ext in exts:
            shutil.copy(src / f"{stem}{ext}", dest)
    return dest


@pytest.mark.slow
def test_cli_prepare_train_predict_on_cpsc_and_ludb_as_shipped(tmp_path, capsys):
    cpsc = _copy(SAMPLE / "cinc2020_cpsc2018", tmp_path / "cpsc", CPSC_PICK, (".hea", ".mat"))
    ludb = _copy(SAMPLE / "ludb", tmp_path / "ludb", LUDB_PICK, (".hea", ".dat"))
    common = ["--set", f"output_dir={tmp_path}/runs", "--set", f"weights_dir={tmp_path}/w", "--set", "train.folds=2",
              "--set", f"data.root={cpsc}"]
    tiny = ["--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=2", "--set", "train.batch_size=8"]
    cfg = lambda name: ["-c", str(REPO / "configs" / name)]  # noqa: E731

    assert main(["--quiet", "prepare", *cfg("ecg_real.yaml"), *common]) == 0
    index = pd.read_csv(tmp_path / "runs" / "ecg_real" / "prepared" / "index.csv",
                        dtype={"record": str, "labels": str}).set_index("record")
    assert index.loc["A0001", ["age", "sex", "labels"]].tolist() == [74.0, "M", "59118001"]  # '#Dx: RBBB'
    assert set(index["labels"]) <= {"59118001", "164889003", "429622005", "426783006", "164931005", "284470004",
                                    "427172004", "164909002", "270492004", "164889003;59118001"}
    for name in ("ecg_real_1d.yaml", "ecg_real_1d_b.yaml"):  # the deep ensemble: two seeds
        assert main(["--quiet", "train", *cfg(name), *common, *tiny]) == 0
    assert main(["--quiet", "train", *cfg("ecg_real_baseline.yaml"), *common]) == 0
    for name in ("ecg_real_1d.yaml", "ecg_real_1d_b.yaml", "ecg_real_baseline.yaml"):
        assert main(["--quiet", "infer", *cfg(name), *common]) == 0
    for step in ("blend", "postprocess", "evaluate"):
        assert main(["--quiet", step, *cfg("ecg_real.yaml"), *common]) == 0
    run = tmp_path / "w" / "ecg_real"
    blend = json.loads((run / "files_blend_mean_oof.json").read_text())
    assert blend["weights"] == {"resnet1d18_small": 0.25, "resnet1d18_small_b": 0.25, "ecg_baseline": 0.5}
    metrics = json.loads((run / "eval" / "metrics.json").read_text())["overall"]
    assert metrics["n_recordings"] == len(CPSC_PICK) and metrics["n_scored_classes"] == 7
    assert "degenerate_decisions" in metrics
    post = pd.read_csv(run / "files_post.csv", dtype={"record": str})
    assert post["record"].tolist() == CPSC_PICK and "label_164889003" in post

    out = tmp_path / "ludb_pred.csv"
    assert main(["--quiet", "predict", "--run", str(run), "--input", str(ludb), "--out", str(out)]) == 0
    pred = pd.read_csv(out, dtype={"record": str})
    assert sorted(pred["record"]) == sorted(LUDB_PICK)
    labels = pred[[c for c in pred if c.startswith("label_")]]
    assert labels.shape[1] == 9 and (labels.sum(axis=1) >= 1).all()

    # LUDB as a training folder: free text -> codes, <age>/<sex> -> the index
    assert main(["--quiet", "prepare", *cfg("ecg_real.yaml"), *common, "--set", f"data.root={ludb}", "--set",
                 "name=ludb"]) == 0
    lindex = pd.read_csv(tmp_path / "runs" / "ludb" / "prepared" / "index.csv",
                         dtype={"record": str, "labels": str}).set_index("record")
    assert lindex.loc["7", ["age", "sex"]].tolist() == [50.0, "M"]
    assert lindex.loc["7", "labels"].split(";")[:2] == ["426783006", "284470004"]  # sinus rhythm, PAC
    assert lindex.loc["2", ["age", "sex"]].tolist() == [64.0, "M"]
