"""The ECG chain on the real shipped CinC 2021 records: prepare -> image and 1-D models ->
OOF probabilities -> blend -> tuned thresholds -> files_post.csv -> evaluation."""
import json

import numpy as np
import pandas as pd
import pytest

from sigvision.config.load import load_config
from sigvision.steps.infer import infer
from sigvision.io.probs import load_probs
from sigvision.steps.blend import run_blend
from sigvision.steps.evaluate import run_evaluate
from sigvision.steps.postprocess import run_postprocess
from sigvision.steps.prepare import prepare_dataset
from sigvision.synth.samples import sample_ecg_dir
from sigvision.train.data import load_training_index
from sigvision.train.loop import task_spec
from sigvision.steps.train import train

from tests.paths import REPO


@pytest.fixture(scope="module")
def ecg_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ecg")
    over = [f"data.root={sample_ecg_dir()}", f"prepared_dir={tmp}/prep", f"weights_dir={tmp}/w", "train.epochs=1",
            "train.folds=3", "render.height=64", "render.width=64"]
    cfgs = [load_config(REPO / "configs" / f"{n}.yaml", over) for n in ("ecg_demo_img", "ecg_demo_1d")]
    prepare_dataset(cfgs[0], cfgs[0].prepared_path)
    for c in cfgs:
        train(c)
        infer(c)
    return cfgs[0]


def test_multilabel_targets_from_real_headers(ecg_run):
    index = load_training_index(ecg_run)
    spec = task_spec(ecg_run, index)
    assert spec.multilabel and len(spec.classes) == 26 and spec.targets.shape == (35, 26)
    nsr = spec.classes.index("426783006")
    assert spec.targets[:, nsr].sum() == 10  # NSR on 10 records (shared README)
    pac = spec.classes.index("284470004|63593006")
    assert spec.targets[:, pac].sum() == 14


def test_oof_sigmoid_probabilities(ecg_run):
    p, meta = load_probs(ecg_run.run_path / "preds" / "resnet1d_tiny_oof_best.npy")
    assert p.shape == (35, 26) and meta["multilabel"] and ((p >= 0) & (p <= 1)).all()
    assert np.asarray(meta["labels"]).shape == (35, 26)


def test_blend_thresholds_files_post_and_evaluation(ecg_run):
    b = run_blend(ecg_run)
    assert b["report"]["weights"] == {"test_efficientnet": 0.5, "resnet1d_tiny": 0.5}
    post = pd.read_csv(run_postprocess(ecg_run), dtype={"record": str})
    assert post.shape == (35, 2 + 2 * 26) and post.columns[0] == "record" and post.columns[-1] == "quality"
    # two real Ningbo records of the shipped sample have leads V2, V4 and V6 all zero
    flagged = post[post["quality"] != "ok"]
    assert dict(zip(flagged["record"], flagged["quality"])) == {"JS20004": "flat:V2,V4,V6", "JS20008": "flat:V2,V4,V6"}
    assert "prob_426783006" in post and "label_713427006|59118001" in post
    labels = post[[c for c in post if c.startswith("label_")]].to_numpy()
    assert set(np.unique(labels)) <= {0, 1} and (labels.sum(1) >= 1).all()  # at least one label per record
    th = json.loads((ecg_run.run_path / "thresholds.json").read_text())
    assert {"fold_0", "fold_1", "fold_2", "all"} <= set(th["thresholds"])  # nested per fold
    ev = run_evaluate(ecg_run)
    o = ev["overall"]
    assert -1.0 <= o["challenge_score"] <= 1.0 and 0 <= o["macro_f1"] <= 1
    assert (ev["out_dir"] / "per_class.csv").is_file()


def test_ecg_blend_weights_fitted_on_oof_auroc(ecg_run, caplog):
    """blend.fit_metric was silently ignored for ECG (equal weights whatever it said); auroc or
    macro_f1 now fit the per-class weighted mean on the OOF predictions; kappa is refused."""
    from dataclasses import replace

    from sigvision.blend import multilabel_score
    from sigvision.config.load import config_from_dict
    from sigvision.config import config_to_dict
    from sigvision.errors import ConfigError

    cfg = replace(ecg_run, blend=replace(ecg_run.blend, fit_metric="auroc"))
    rep = run_blend(cfg)["report"]
    assert rep["weights_from"] == "fitted on OOF (auroc)" and rep["fit"]["n_evaluated"] >= 21
    w = np.array([rep["weights"][m] for m in ("test_efficientnet", "resnet1d_tiny")])
    a, meta = load_probs(cfg.run_path / "preds" / "test_efficientnet_oof_best.npy")
    b, _ = load_probs(cfg.run_path / "preds" / "resnet1d_tiny_oof_best.npy")
    table = pd.read_csv(cfg.run_path / "files_blend_mean_oof.csv", dtype={"record": str})
    got = table[[f"prob_{c}" for c in meta["classes"]]].to_numpy()
    np.testing.assert_allclose(got, w[0] * a + w[1] * b, atol=1e-6)
    y = np.asarray(meta["labels"], dtype=bool)
    assert rep["fit"]["blend_score"] == pytest.approx(multilabel_score(y, got, "auroc"), abs=1e-6)
    assert rep["fit"]["blend_score"] >= max(rep["fit"]["single_scores"].values())
    # kappa (the default before 'auto', so in configs saved by earlier runs) scores no ECG blend:
    # equal weights, said in a warning and in the report; auroc on a sleep run is refused
    d = config_to_dict(ecg_run)
    d["blend"]["fit_metric"] = "kappa"
    with caplog.at_level("WARNING"):
        rep = run_blend(config_from_dict(d))["report"]
    assert rep["weights_from"] == "equal" and "does not score an ECG blend" in caplog.text
    d = config_to_dict(ecg_run)
    d["blend"]["fit_metric"], d["data"] = "auroc", {"task": "sleep"}
    with pytest.raises(ConfigError, match="blend.fit_metric=auroc scores ECG blends"):
        config_from_dict(d)


def test_binary_normal_vs_abnormal(ecg_run):
    from dataclasses import replace

    cfg = replace(ecg_run, data=replace(ecg_run.data, ecg_task="binary"))
    spec = task_spec(cfg, load_training_index(ecg_run))
    assert spec.classes == ["normal", "abnormal"] and not spec.multilabel
    # records labelled with sinus rhythm and nothing else are normal
    assert int((spec.targets == 0).sum()) == spec.summary["normal"] >= 1


def test_predict_new_records_with_a_trained_run(ecg_run, tmp_path):
    import shutil

    from sigvision.cli import main

    run_blend(ecg_run)
    run_postprocess(ecg_run)
    new = tmp_path / "new"
    new.mkdir()
    for stem in ("E07500", "HR06000", "JS20000"):
        for ext in (".hea", ".mat"):
            shutil.copy(sample_ecg_dir() / f"{stem}{ext}", new)
    out = tmp_path / "pred.csv"
    assert main(["--quiet", "predict", "--run", str(ecg_run.run_path), "--input", str(new), "--out", str(out)]) == 0
    pred = pd.read_csv(out, dtype={"record": str})
    assert pred["record"].tolist() == ["E07500", "HR06000", "JS20000"]
    (tmp_path / "list.txt").write_text("E07500.txt\t40\tMALE\n")  # --labels is for AIWIN/Hefei tables
    assert main(["--quiet", "predict", "--run", str(ecg_run.run_path), "--input", str(new), "--out",
                 str(tmp_path / "x.csv"), "--labels", str(tmp_path / "list.txt")]) == 2
    labels = pred[[c for c in pred if c.startswith("label_")]].to_numpy()
    assert labels.shape == (3, 26) and (labels.sum(1) >= 1).all()
    assert main(["predict", "--run", str(tmp_path / "nope"), "--input", str(new), "--out", str(out)]) == 2


@pytest.mark.slow
def test_physionet_entry_points(tmp_path):
    import shutil
    import subprocess
    import sys

    new = tmp_path / "new"
    new.mkdir()
    for ext in (".hea", ".mat"):
        shutil.copy(sample_ecg_dir() / f"E07500{ext}", new)
    env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(REPO / "train_model.py"), str(sample_ecg_dir()), str(tmp_path / "m"),
                        "--set", "train.epochs=1", "--set", "train.folds=2", "--set", "render.height=48",
                        "--set", "render.width=48", "--set", "name=my_run"], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    # driver.py finds the run by the file train_model.py leaves (it assumed the demo's name)
    run = json.loads((tmp_path / "m" / "sigvision_run.json").read_text())
    assert run["run"] == "my_run" and run["models"] == ["test_efficientnet", "resnet1d_tiny"]
    r = subprocess.run([sys.executable, str(REPO / "driver.py"), str(tmp_path / "m"), str(new), str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = (tmp_path / "o" / "E07500.csv").read_text().splitlines()
    assert lines[0] == "#E07500" and len(lines[1].split(",")) == 26
    assert set(lines[2].split(",")) <= {"0", "1"} and all(0 <= float(v) <= 1 for v in lines[3].split(","))
    # a folder trained before train_model.py wrote the run file: its one blended experiment
    (tmp_path / "m" / "sigvision_run.json").unlink()
    r = subprocess.run([sys.executable, str(REPO / "driver.py"), str(tmp_path / "m"), str(new), str(tmp_path / "o2")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "o2" / "E07500.csv").read_text() == (tmp_path / "o" / "E07500.csv").read_text()


def test_binary_task_thresholds_partial_folds_and_tta(tmp_path):
    """data.ecg_task: binary through blend -> postprocess -> evaluate: the sidecar's labels are
    class indices, which threshold tuning and evaluation read as multi-hot rows ('labels must be
    a 2-D array'). OOF predictions of one fold (train.train_folds: [0]) cannot tune nested
    thresholds: a clear error instead of 'probs has no recordings'. TTA shifts are sleep-only."""
    from dataclasses import replace

    from sigvision.errors import ConfigError, InputFileError

    over = [f"data.root={sample_ecg_dir()}", f"prepared_dir={tmp_path}/prep", f"weights_dir={tmp_path}/w",
            "train.epochs=1", "train.folds=2", "train.max_steps_per_epoch=2", "render.height=32",
            "render.width=32", "data.ecg_task=binary", "blend.models=[resnet1d_tiny]"]
    cfg = load_config(REPO / "configs" / "ecg_demo_1d.yaml", over)
    prepare_dataset(cfg, cfg.prepared_path)
    one = replace(cfg, train=replace(cfg.train, train_folds=(0,)))
    train(one)
    infer(one)
    run_blend(one)
    with pytest.raises(InputFileError, match="fold 0 only"):
        run_postprocess(one)
    with pytest.raises(ConfigError, match="infer.tta_shifts_s"):
        infer(replace(one, infer=replace(one.infer, tta_shifts_s=(1.0,))))
    train(cfg, resume=True)  # fold 0 is done; fold 1 trains
    infer(cfg)
    run_blend(cfg)
    post = pd.read_csv(run_postprocess(cfg), dtype={"record": str})
    assert post.shape == (35, 6) and {"label_normal", "label_abnormal", "quality"} <= set(post)
    o = run_evaluate(cfg)["overall"]
    assert 0 <= o["macro_f1"] <= 1
    # predict writes the same columns as files_post.csv, decided by the tuned thresholds
    # (it wrote an argmax `label` column and ignored thresholds.json)
    import shutil

    from sigvision.postprocess.thresholds import apply_thresholds
    from sigvision.steps.predict import predict_folder

    new = tmp_path / "new"
    new.mkdir()
    for stem in ("E07500", "HR06000", "JS20000", "JS20001"):
        for ext in (".hea", ".mat"):
            shutil.copy(sample_ecg_dir() / f"{stem}{ext}", new)
    th_path = cfg.run_path / "thresholds.json"
    th = json.loads(th_path.read_text())
    th["thresholds"]["all"] = [0.999, 0.001]  # far from 0.5: every record is abnormal
    th_path.write_text(json.dumps(th))
    pred = pd.read_csv(predict_folder(cfg.run_path, new, tmp_path / "p.csv"), dtype={"record": str})
    assert list(pred.columns) == list(post.columns)
    p = pred[["prob_normal", "prob_abnormal"]].to_numpy()
    assert np.allclose(p.sum(1), 1) and pred["label_abnormal"].tolist() == [1, 1, 1, 1]
    assert np.array_equal(pred[["label_normal", "label_abnormal"]].to_numpy().astype(bool),
                          apply_thresholds(p, [0.999, 0.001]))


def test_physionet_entry_points_refuse_bad_use_with_the_fix(tmp_path):
    import subprocess
    import sys

    env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(REPO / "driver.py"), str(tmp_path / "m"), str(tmp_path), str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0 and "sigvision_run.json: not found" in r.stderr and "train_model.py" in r.stderr
    # one --set model.name=... would make both default configs train one model twice
    r = subprocess.run([sys.executable, str(REPO / "train_model.py"), str(sample_ecg_dir()), str(tmp_path / "m"),
                        "--set", "model.name=resnet1d18"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0 and "same model twice" in r.stderr and not (tmp_path / "m").exists()


def test_bag_of_tricks_preset_through_the_physionet_entry_points(tmp_path):
    """train_model.py -c configs/ecg_cinc2020_resnet1d18.yaml (1-D ResNet-18, the CinC 2020
    write-up's model) trains, blends and tunes thresholds for that model alone, and driver.py
    predicts with it (CPU size: 3 folds of 2 steps)."""
    import shutil
    import subprocess
    import sys

    env = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(REPO / "train_model.py"), str(sample_ecg_dir()), str(tmp_path / "m"),
                        "-c", str(REPO / "configs" / "ecg_cinc2020_resnet1d18.yaml"), "--set", "train.folds=3",
                        "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2", "--set",
                        "train.batch_size=8", "--set", "train.num_workers=0"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    run = json.loads((tmp_path / "m" / "sigvision_run.json").read_text())
    assert run["run"] == "cinc" and run["models"] == ["resnet1d18"]
    assert (tmp_path / "m" / "cinc" / "preds" / "resnet1d18_oof_best.npy").is_file()
    new = tmp_path / "new"
    new.mkdir()
    for ext in (".hea", ".mat"):
        shutil.copy(sample_ecg_dir() / f"HR06000{ext}", new)
    r = subprocess.run([sys.executable, str(REPO / "driver.py"), str(tmp_path / "m"), str(new), str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = (tmp_path / "o" / "HR06000.csv").read_text().splitlines()
    assert lines[0] == "#HR06000" and len(lines[1].split(",")) == 26


def test_hefei_run_with_age_and_sex_predicts_new_records_with_their_own_list(tmp_path):
    """A Hefei run trained with meta_features [age, sex]: predict reads the new records' age and
    sex from their own list (--labels, the contest's test list), never from the training table,
    and without a list the records get the 'missing' meta values (different probabilities)."""
    from sigvision.cli import main
    from sigvision.config.load import config_from_dict
    from sigvision.steps.predict import predict_folder

    rng = np.random.default_rng(2)

    def folder(name, ids):
        d = tmp_path / name
        d.mkdir()
        for i in ids:
            body = "\n".join(" ".join(str(int(v)) for v in row) for row in rng.integers(-300, 300, (1000, 8)))
            (d / f"{i}.txt").write_text("I II V1 V2 V3 V4 V5 V6\n" + body + "\n")
        return d

    train_dir = folder("train", range(8))
    (tmp_path / "label.txt").write_text("".join(f"{i}.txt\t{20 + 7 * i}\t{'MALE' if i % 2 else 'FEMALE'}\t"
                                                f"{'窦性心律' if i % 2 else '心房颤动'}\n" for i in range(8)),
                                        encoding="utf-8")
    cfg = config_from_dict({
        "name": "hf", "seed": 0, "prepared_dir": str(tmp_path / "prep"), "weights_dir": str(tmp_path / "w"),
        "data": {"task": "ecg", "format": "hefei", "root": str(train_dir), "labels_csv": str(tmp_path / "label.txt"),
                 "fs_hz": 250.0, "ecg_length_s": 2.0, "label_set": "present"},
        "prepare": {"cache_images": False},
        "model": {"name": "resnet1d_tiny", "meta_features": ["age", "sex"]},
        "train": {"folds": 2, "epochs": 1, "batch_size": 4, "num_workers": 0},
        "blend": {"models": ["resnet1d_tiny"], "method": "mean", "calibrate": False},
        "postprocess": {"method": "thresholds"}})
    prepare_dataset(cfg, cfg.prepared_path)
    train(cfg)
    infer(cfg)
    run_blend(cfg)
    new = folder("new", (100, 101))
    (tmp_path / "subA.txt").write_text("100.txt\t85\tMALE\n101.txt\t3\tFEMALE\n", encoding="utf-8")
    with_list = pd.read_csv(predict_folder(cfg.run_path, new, tmp_path / "a.csv", labels_csv=tmp_path / "subA.txt"))
    without = pd.read_csv(predict_folder(cfg.run_path, new, tmp_path / "b.csv"))
    probs = [c for c in with_list if c.startswith("prob_")]
    assert with_list["record"].tolist() == [100, 101] and len(probs) == 2
    assert not np.allclose(with_list[probs].to_numpy(), without[probs].to_numpy())
    assert main(["predict", "--run", str(cfg.run_path), "--input", str(new), "--out", str(tmp_path / "c.csv"),
                 "--labels", str(tmp_path / "subA.txt")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv"), with_list)
    assert main(["predict", "--run", str(cfg.run_path), "--input", str(new), "--out", str(tmp_path / "d.csv"),
                 "--labels", str(tmp_path / "nope.txt")]) == 2
