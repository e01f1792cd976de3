"""The AIWIN 2021 task 1 preset (configs/ecg_aiwin_resnet50.yaml) end to end on a small
synthetic AIWIN folder, at CPU size: .mat folder + trainreference.csv -> stacked-trace images ->
ResNet (warmup then poly decay) -> OOF -> tuned threshold -> files_post.csv + answer.csv."""
import csv

import numpy as np
import pandas as pd
import pytest
import scipy.io

from sigvision.config.load import load_config
from sigvision.steps.infer import infer
from sigvision.steps.blend import run_blend
from sigvision.steps.postprocess import run_postprocess
from sigvision.io.runs import load_prepared
from sigvision.steps.prepare import prepare_dataset
from sigvision.steps.train import train

from tests.paths import REPO


def _aiwin(tmp_path, n=12):
    """n records of 12 leads x 10 s at 500 Hz in mV: 'abnormal' ones (tag 1) beat fast."""
    rng = np.random.default_rng(0)
    d = tmp_path / "train"
    d.mkdir()
    t = np.arange(5000) / 500.0
    rows = []
    for i in range(n):
        tag = i % 2
        hr = 140 if tag else 60
        beat = np.exp(-((t * hr / 60) % 1 - 0.3) ** 2 / 0.0008)  # narrow R waves
        x = np.outer(rng.uniform(0.5, 1.5, 12), beat) + rng.normal(0, 0.03, (12, 5000))
        scipy.io.savemat(str(d / f"A{i:04d}.mat"), {"ecgdata": x})
        rows.append((f"A{i:04d}", tag))
    lab = tmp_path / "trainreference.csv"
    with open(lab, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("name", "tag"))
        w.writerows(rows)
    return d, lab


def test_aiwin_preset_end_to_end_at_cpu_size(tmp_path):
    d, lab = _aiwin(tmp_path)
    cfg = load_config(REPO / "configs" / "ecg_aiwin_resnet50.yaml", [
        f"data.root={d}", f"data.labels_csv={lab}", f"prepared_dir={tmp_path}/prep", f"weights_dir={tmp_path}/w",
        "model.name=test_resnet", "model.pretrained=false", "blend.models=[test_resnet]", "render.height=64",
        "render.width=64", "train.folds=3", "train.epochs=3", "train.warmup_epochs=1", "train.batch_size=4",
        "train.num_workers=0"])
    # the preset itself: the write-up's model, size, rate and schedule
    preset = load_config(REPO / "configs" / "ecg_aiwin_resnet50.yaml")
    assert (preset.model.name, preset.render.height, preset.train.lr) == ("resnet50", 640, 0.001)
    assert preset.train.scheduler == "poly" and preset.train.warmup_epochs > 0 and preset.data.ecg_task == "binary"

    prepare_dataset(cfg, cfg.prepared_path)
    index, _ = load_prepared(cfg.prepared_path)
    assert len(index) == 12
    train(cfg)
    # folds stratified by the tag: every fold validates on both classes (by source database
    # alone, one fold held no normal record)
    folds = pd.read_csv(cfg.prepared_path / "folds_3.csv", dtype={"record": str}).merge(
        index.astype({"record": str}), on="record")
    assert (folds.groupby("fold")["labels"].nunique() == 2).all()
    m = pd.read_csv(cfg.run_path / "test_resnet" / "fold_0" / "metrics.csv")
    # lr after each epoch: the peak once the warmup epoch is over, then the poly decay to min_lr 0
    assert m["lr"].iloc[0] == pytest.approx(0.001) and m["lr"].iloc[1] == pytest.approx(0.001 * 0.5 ** 0.9)
    assert m["lr"].iloc[2] == pytest.approx(0.0, abs=1e-12)
    infer(cfg)
    run_blend(cfg)
    post = pd.read_csv(run_postprocess(cfg), dtype={"record": str})
    assert post["record"].tolist() == [f"A{i:04d}" for i in range(12)]
    assert {"prob_normal", "prob_abnormal", "label_normal", "label_abnormal"} <= set(post)
    assert set(post["label_abnormal"]) <= {0, 1}
    # the preset writes the competition's answer file beside files_post.csv: name,tag with
    # tag 1 = abnormal (data.normal_labels: ['0']), the rows of files_post.csv in its order
    assert preset.postprocess.submission == "aiwin"
    ans = pd.read_csv(cfg.run_path / "answer.csv", dtype={"name": str})
    assert list(ans.columns) == ["name", "tag"]
    assert ans["name"].tolist() == post["record"].tolist()
    assert ans["tag"].tolist() == post["label_abnormal"].tolist()
    # `sigvision predict` on a new AIWIN folder (no label table: the training one lists other
    # records) writes the answer file beside its output too
    from sigvision.steps.predict import predict_folder

    new = tmp_path / "new"
    new.mkdir()
    for i in (0, 1, 2):
        (new / f"T{i:04d}.mat").write_bytes((d / f"A{i:04d}.mat").read_bytes())
    pred = pd.read_csv(predict_folder(cfg.run_path, new, tmp_path / "pred" / "files_post.csv"), dtype={"record": str})
    ans = pd.read_csv(tmp_path / "pred" / "answer.csv", dtype={"name": str})
    assert ans["name"].tolist() == pred["record"].tolist() == ["T0000", "T0001", "T0002"]
    assert ans["tag"].tolist() == pred["label_abnormal"].tolist()
