"""Evaluating ECG test predictions (blend.split=test) against the labels of the prepared test
folder (infer.test_dir), with precision and recall: a tiny 1-D model trained on the shipped
CinC 2021 sample, a labelled copy of 8 of its records as the test set, and the metrics checked
against a hand computation from files_post.csv, the test probabilities and the headers' Dx."""
import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from sigvision.cli import main
from sigvision.config.load import load_config
from sigvision.errors import ConfigError, InputFileError
from sigvision.steps.infer import infer
from sigvision.steps.blend import run_blend
from sigvision.steps.evaluate import run_evaluate
from sigvision.steps.postprocess import run_postprocess
from sigvision.steps.prepare import prepare_dataset
from sigvision.synth.samples import sample_ecg_dir
from sigvision.steps.train import train

from tests.paths import REPO

TEST_RECORDS = ("E07506", "E07510", "E07512", "HR06000", "HR06004", "HR06009", "JS20000", "JS20008")
NSR = "426783006"


def _copy_records(dst, unlabel=False):
    dst.mkdir()
    for stem in TEST_RECORDS:
        shutil.copy(sample_ecg_dir() / f"{stem}.mat", dst)
        text = (sample_ecg_dir() / f"{stem}.hea").read_text()
        if unlabel:
            text = "\n".join("# Dx: Unknown" if line.startswith("# Dx:") else line for line in text.splitlines()) + "\n"
        (dst / f"{stem}.hea").write_text(text)
    return dst


def _dx(stem):
    line = next(l for l in (sample_ecg_dir() / f"{stem}.hea").read_text().splitlines() if l.startswith("# Dx:"))
    return set(line.split(":", 1)[1].strip().split(","))


def _overrides(tmp, task):
    return [f"data.root={sample_ecg_dir()}", f"prepared_dir={tmp}/prep", f"weights_dir={tmp}/w", "train.epochs=1",
            "train.folds=2", "train.max_steps_per_epoch=2", "render.height=32", "render.width=32",
            "prepare.cache_images=false", f"data.ecg_task={task}", "blend.models=[resnet1d_tiny]",
            f"infer.test_dir={tmp}/prep_test"]


@pytest.fixture(scope="module", params=["multilabel", "binary"])
def test_run(request, tmp_path_factory):
    """(config with blend.split=test, overrides, tmp): trained, inferred on the test folder,
    blended (OOF and test) and post-processed on the test split."""
    task = request.param
    tmp = tmp_path_factory.mktemp(f"ecg_test_{task}")
    over = _overrides(tmp, task)
    cfg = load_config(REPO / "configs" / "ecg_demo_1d.yaml", over)
    prepare_dataset(cfg, cfg.prepared_path)
    test_src = _copy_records(tmp / "test_records")
    prepare_dataset(replace(cfg, data=replace(cfg.data, root=str(test_src))), tmp / "prep_test")
    train(cfg)
    infer(cfg)
    run_blend(cfg)  # the OOF blend: the test split's thresholds are tuned on it
    cfg_t = replace(cfg, blend=replace(cfg.blend, split="test"))
    run_blend(cfg_t)
    run_postprocess(cfg_t)
    return cfg_t, over, tmp


def _truth(classes, task):
    if task == "binary":
        abn = np.array([not _dx(s) <= {NSR} for s in TEST_RECORDS])
        return np.stack([~abn, abn], axis=1)
    return np.array([[bool(set(c.split("|")) & _dx(s)) for c in classes] for s in TEST_RECORDS])


def test_evaluate_test_split_equals_hand_computation(test_run, capsys):
    cfg, over, tmp = test_run
    task = cfg.data.ecg_task
    post = pd.read_csv(cfg.run_path / "files_post.csv", dtype={"record": str})
    assert post["record"].tolist() == list(TEST_RECORDS)
    classes = [c[len("label_"):] for c in post.columns if c.startswith("label_")]
    # files_post's probabilities are the test .npy's (one model: the blend is its mean of folds)
    test_npy = np.load(cfg.run_path / "preds" / "resnet1d_tiny_test_best.npy")
    probs = post[[f"prob_{c}" for c in classes]].to_numpy()
    assert np.allclose(probs, test_npy, atol=1e-6)
    out = post[[f"label_{c}" for c in classes]].to_numpy().astype(bool)
    y = _truth(classes, task)

    assert main(["--quiet", "evaluate", "-c", str(REPO / "configs" / "ecg_demo_1d.yaml"),
                 *[a for o in over for a in ("--set", o)], "--set", "blend.split=test"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((cfg.run_path / "eval" / "metrics.json").read_text())
    o = metrics["overall"]
    assert metrics["split"] == "test" and metrics["n_records"] == 8
    assert metrics["truth"] == str(tmp / "prep_test" / "index.csv")

    present = (y | out).any(axis=0)
    for key, fn in (("macro_precision", precision_score), ("macro_recall", recall_score), ("macro_f1", f1_score)):
        assert o[key] == pytest.approx(fn(y[:, present], out[:, present], average="macro", zero_division=0)), key
    assert o["accuracy"] == pytest.approx(np.mean((y == out).all(axis=1)))
    tab = pd.read_csv(cfg.run_path / "eval" / "per_class.csv", dtype={"class": str})
    assert tab["class"].tolist() == classes and tab["support"].tolist() == y.sum(0).tolist()
    for col, fn in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        hand = fn(y, out, average=None, zero_division=0)
        got = tab[col].to_numpy()
        assert np.allclose(got[present], hand[present]) and np.isnan(got[~present]).all(), col
    md = (cfg.run_path / "eval" / "metrics.md").read_text()
    assert f"| macro_precision | {o['macro_precision']:.3f} |" in md and "| macro_recall |" in md
    assert f"macro precision {o['macro_precision']:.3f}  macro recall {o['macro_recall']:.3f}" in printed
    assert "test split, 8 records" in printed

    if task == "binary":
        b = o["binary"]
        ya, pa = y[:, 1], out[:, 1]
        assert 0 < ya.sum() < len(ya)  # both classes among the test records
        assert b["positive_class"] == "abnormal" and (b["n"], b["n_pos"]) == (8, int(ya.sum()))
        assert b["accuracy"] == pytest.approx(accuracy_score(ya, pa))
        assert b["precision"] == pytest.approx(precision_score(ya, pa, zero_division=0))
        assert b["recall"] == pytest.approx(recall_score(ya, pa, zero_division=0))
        assert b["f1"] == pytest.approx(f1_score(ya, pa, zero_division=0))
        assert b["auroc"] == pytest.approx(roc_auc_score(ya, test_npy[:, 1]))
        assert f"precision {b['precision']:.3f}  recall {b['recall']:.3f}" in printed
        assert f"| abnormal recall | {b['recall']:.3f} |" in md
    else:
        assert "binary" not in o and "challenge score" in printed


def test_test_split_without_labels_says_how_to_give_them(test_run, capsys):
    cfg, over, tmp = test_run
    nolab = tmp / "prep_nolab"
    if not nolab.exists():
        src = _copy_records(tmp / "test_nolab", unlabel=True)
        prepare_dataset(replace(cfg, data=replace(cfg.data, root=str(src))), nolab)
    with pytest.raises(InputFileError, match="no true labels for any test record.*fix: prepare the test recordings "
                                             "with their labels.*data.labels_csv"):
        run_evaluate(replace(cfg, infer=replace(cfg.infer, test_dir=str(nolab))))
    # the CLI: one line, exit code 2
    assert main(["evaluate", "-c", str(REPO / "configs" / "ecg_demo_1d.yaml"), *[a for o in over for a in ("--set", o)],
                 "--set", "blend.split=test", "--set", f"infer.test_dir={nolab}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no true labels" in err and "index.csv" in err
    with pytest.raises(ConfigError, match="infer.test_dir"):
        run_evaluate(replace(cfg, infer=replace(cfg.infer, test_dir="")))
