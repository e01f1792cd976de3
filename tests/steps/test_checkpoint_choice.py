"""Each blended model at its own checkpoint, as the MAIC 2021 write-up's final submission
("model 1 = ViT at epoch 4, model 2 = EfficientNet at epoch 1", square-root weighted mean):
infer writes each model's files for its checkpoint, blend reads exactly those, the report
records them, and `predict` / `stage()` reuse them (or a --checkpoint override)."""
from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sigvision.cli import main
from sigvision.config.load import load_config
from sigvision.errors import ConfigError, InputFileError
from tests.paths import REPO

ROOT = REPO
A, B = "test_vit", "test_efficientnet"
STAGE_COLS = [f"prob_{s}" for s in ("W", "N1", "N2", "N3", "REM")]


@pytest.fixture(scope="module")
def run(tmp_path_factory, synth_dir4):
    """Two tiny models, 2 folds x 2 epochs with every epoch kept; inferblend.py over both
    model configs with a per-model infer.checkpoint ([1, 0]: A at epoch 1, B at epoch 0), then
    `sigvision infer --set infer.checkpoint=N` per model for the other epoch (files the blend
    must not read); blend of A@1 + B@0 with fixed weights, uncalibrated."""
    from sigvision.steps.blend import run_blend
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.steps.train import train

    base = tmp_path_factory.mktemp("ckrun")
    (base / "run.yaml").write_text(
        f"name: ck\nseed: 3\nprepared_dir: {base / 'prep'}\nweights_dir: {base / 'w'}\n"
        f"data: {{root: {synth_dir4}}}\nrender: {{height: 32, width: 32}}\n"
        "train: {folds: 2, epochs: 2, batch_size: 32, lr: 0.003, fmix_p: 0.0, cutout_p: 0.0, "
        "keep_every_epoch: true}\n"
        f"blend: {{models: [{A}, {B}], weights: [0.3, 0.7], calibrate: false}}\n"
        "postprocess: {method: argmax}\n")
    for m in (A, B):
        (base / f"{m}.yaml").write_text(f"base: run.yaml\nmodel: {{name: {m}}}\n")
    cfg = load_config(base / "run.yaml")
    prepare_dataset(cfg, cfg.prepared_path)
    for m in (A, B):
        train(load_config(base / f"{m}.yaml"))
    # the README's one-command flow: one shared per-model infer.checkpoint for both configs
    argv = sys.argv
    try:
        sys.argv = ["inferblend.py", str(base / f"{A}.yaml"), str(base / f"{B}.yaml"), "--quiet",
                    "--set", "infer.checkpoint=[1, 0]"]
        runpy.run_path(str(ROOT / "inferblend.py"), run_name="__main__")
    finally:
        sys.argv = argv
    # one model at a time, the documented `--set infer.checkpoint=N` (unquoted number)
    assert main(["--quiet", "infer", "-c", str(base / f"{A}.yaml"), "--set", "infer.checkpoint=0"]) == 0
    assert main(["--quiet", "infer", "-c", str(base / f"{B}.yaml"), "--set", "infer.checkpoint=1"]) == 0
    blend_cfg = load_config(base / "run.yaml", ["blend.checkpoint=[1, 0]"])
    res = run_blend(blend_cfg)
    return {"base": base, "cfg": blend_cfg, "res": res, "csv": res["csv"].read_text()}


def _oof(cfg, model, ck):
    p = cfg.run_path / "preds" / f"{model}_oof_{ck}.npy"
    return np.load(p).astype(np.float64), json.loads(p.with_suffix(".json").read_text())


def _sqrt_mean(pa, pb, wa=0.3, wb=0.7):
    """The write-up's blend by hand: weighted mean of square roots, squared, rows renormalised."""
    m = (wa * np.sqrt(pa) + wb * np.sqrt(pb)) / (wa + wb)
    m = m ** 2
    return m / m.sum(1, keepdims=True)


def test_infer_wrote_each_models_checkpoint_from_its_weights(run):
    cfg = run["cfg"]
    for model, ck in ((A, "1"), (A, "0"), (B, "0"), (B, "1")):
        _, side = _oof(cfg, model, ck)
        assert side["model"] == model
        assert sorted(Path(p).name for p in side["checkpoints"].values()) == [f"epoch_{ck}.pt"] * 2
    # the two epochs of a model predict differently, so reading the wrong file would show
    assert not np.allclose(_oof(cfg, A, "1")[0], _oof(cfg, A, "0")[0], atol=1e-4)
    assert not np.allclose(_oof(cfg, B, "0")[0], _oof(cfg, B, "1")[0], atol=1e-4)


def test_blend_is_the_sqrt_mean_of_exactly_each_models_checkpoint(run):
    cfg, res = run["cfg"], run["res"]
    table = pd.read_csv(res["csv"], dtype={"record": str})
    (pa, side), (pb, _) = _oof(cfg, A, "1"), _oof(cfg, B, "0")
    assert table["record"].tolist() == side["records"] and table["epoch"].tolist() == side["epochs"]
    want = _sqrt_mean(pa, pb)
    np.testing.assert_allclose(table[STAGE_COLS].to_numpy(), want, atol=1e-6)
    for wrong in ((A, "0", B, "0"), (A, "1", B, "1"), (A, "0", B, "1")):
        other = _sqrt_mean(_oof(cfg, *wrong[:2])[0], _oof(cfg, *wrong[2:])[0])
        assert np.abs(other - want).max() > 1e-4, wrong
    rep = res["report"]
    assert rep["checkpoints"] == {A: "1", B: "0"}
    assert [Path(p).name for p in rep["inputs"]] == [f"{A}_oof_1.npy", f"{B}_oof_0.npy"]
    saved = json.loads(res["csv"].with_suffix(".json").read_text())
    assert saved["checkpoints"] == {A: "1", B: "0"} and saved["weights"] == {A: 0.3, B: 0.7}
    from sigvision.report.html import _run_section

    html = _run_section(cfg, saved)
    assert "checkpoint test_vit" in html and "checkpoint test_efficientnet" in html


def test_blend_mapping_form_via_blend_py_gives_the_same_file(run, capsys):
    base = run["base"]
    csv = run["res"]["csv"]
    argv = sys.argv
    try:
        sys.argv = ["blend.py", "--quiet", "-c", str(base / "run.yaml"),
                    "--set", f"blend.checkpoint={{{B}: 0, {A}: 1}}"]
        with pytest.raises(SystemExit) as ei:
            runpy.run_path(str(ROOT / "blend.py"), run_name="__main__")
    finally:
        sys.argv = argv
    assert ei.value.code == 0
    assert f"checkpoints: {A} 1, {B} 0" in capsys.readouterr().out
    assert csv.read_text() == run["csv"]


def test_missing_prediction_names_the_command_that_writes_it(run, capsys):
    from sigvision.io.runs import blend_paths

    cfg = load_config(run["base"] / "run.yaml", ["blend.checkpoint=[last, 0]"])
    with pytest.raises(InputFileError) as ei:
        blend_paths(cfg)
    msg = str(ei.value)
    saved = cfg.run_path / A / "config.yaml"
    cmd = f"sigvision infer -c {saved} --set infer.checkpoint=last"
    assert f"{A}_oof_last.npy: prediction file not found" in msg and "run inferblend.py" in msg
    assert cmd in msg and f"{A} has predictions for checkpoint(s) 0, 1 only" in msg
    # the named command works and writes the file the blend needs
    assert main(["--quiet", *cmd.split()[1:]]) == 0
    paths = blend_paths(cfg)
    assert [p.name for p in paths] == [f"{A}_oof_last.npy", f"{B}_oof_0.npy"]
    _, side = _oof(cfg, A, "last")
    assert {Path(p).name for p in side["checkpoints"].values()} == {"last.pt"}


def _night_folder(run, tmp_path):
    psg = sorted(Path(load_config(run["base"] / "run.yaml").data.root).glob("*-PSG.edf"))[0]
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(psg, folder)
    return folder, psg


def _spy_loads(monkeypatch):
    """Record which checkpoint files predict / stage load, as (model, fold, file)."""
    import sigvision.ensemble as train_mod  # the one loop that loads every checkpoint

    seen = []
    real = train_mod.load_checkpoint_model

    def spy(path, device="cpu"):
        p = Path(path)
        seen.append((p.parent.parent.name, p.parent.name, p.name))
        return real(path, device)

    monkeypatch.setattr(train_mod, "load_checkpoint_model", spy)
    return seen


def test_predict_uses_the_blends_checkpoints_and_accepts_overrides(run, tmp_path, capsys, monkeypatch):
    from sigvision.steps.predict import predict_folder

    cfg = run["cfg"]
    folder, psg = _night_folder(run, tmp_path)
    seen = _spy_loads(monkeypatch)
    default = predict_folder(cfg.run_path, folder, tmp_path / "default.csv")
    assert sorted(seen) == sorted([(A, f"fold_{k}", "epoch_1.pt") for k in (0, 1)]
                                  + [(B, f"fold_{k}", "epoch_0.pt") for k in (0, 1)])
    seen.clear()
    assert main(["--quiet", "predict", "--run", str(cfg.run_path), "--input", str(folder), "--out",
                 str(tmp_path / "swapped.csv"), "--checkpoint", f"{A}=0,{B}=1"]) == 0
    assert sorted(seen) == sorted([(A, f"fold_{k}", "epoch_0.pt") for k in (0, 1)]
                                  + [(B, f"fold_{k}", "epoch_1.pt") for k in (0, 1)])
    seen.clear()
    assert main(["--quiet", "predict", "--run", str(cfg.run_path), "--input", str(folder), "--out",
                 str(tmp_path / "list.csv"), "--checkpoint", "1,0"]) == 0
    assert {(m, f) for m, _, f in seen} == {(A, "epoch_1.pt"), (B, "epoch_0.pt")}
    assert (tmp_path / "list.csv").read_text() == default.read_text()  # the same choice, the same output
    seen.clear()
    assert main(["--quiet", "predict", "--run", str(cfg.run_path), "--input", str(folder), "--out",
                 str(tmp_path / "last.csv"), "--checkpoint", "last"]) == 0
    assert {f for _, _, f in seen} == {"last.pt"}

    # sigvision.stage() follows the blend's checkpoints the same way
    import mne

    from sigvision.steps.stage import stage

    seen.clear()
    stage(mne.io.read_raw_edf(psg, preload=True, verbose="error"), run_dir=cfg.run_path)
    assert {(m, f) for m, _, f in seen} == {(A, "epoch_1.pt"), (B, "epoch_0.pt")}


@pytest.mark.parametrize("arg,needle", [
    (f"{A}=1", f"--checkpoint has no checkpoint for {B}"),
    ("1,0,1", "--checkpoint has 3 value(s) for 2 model(s) (the run's blended models="),
    (f"test_vt=1,{B}=0", "--checkpoint names 'test_vt' (did you mean 'test_vit'?)"),
    ("bset", "--checkpoint='bset' is not a checkpoint (did you mean 'best'?)"),
])
def test_predict_checkpoint_errors_are_one_line(run, tmp_path, capsys, arg, needle):
    rc = main(["--quiet", "predict", "--run", str(run["cfg"].run_path), "--input", str(tmp_path), "--out",
               str(tmp_path / "o.csv"), "--checkpoint", arg])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("sigvision: error:") and "\n" not in err
    assert needle in err, err
    assert not (tmp_path / "o.csv").exists()


def test_run_checkpoints_fall_back_for_reports_without_checkpoints():
    """A blend report written before blends recorded checkpoints: the model's saved
    blend.checkpoint for it, else best (what predict always used)."""
    from sigvision.config.load import config_from_dict
    from sigvision.ensemble import run_checkpoints

    two = {"blend": {"models": [A, B], "checkpoint": [3, "last"]}}
    cfgs = {A: config_from_dict({**two, "model": {"name": A}}), B: config_from_dict({"model": {"name": B}})}
    old = {"models": [A, B], "weights": {A: 0.5, B: 0.5}}
    assert run_checkpoints(old, cfgs) == {A: "3", B: "best"}
    assert run_checkpoints({**old, "checkpoints": {A: "1", B: "0"}}, cfgs) == {A: "1", B: "0"}
    assert run_checkpoints(old, cfgs, {A: 2, B: 0}) == {A: "2", B: "0"}
    assert run_checkpoints(old, cfgs, ["last", 4]) == {A: "last", B: "4"}
    with pytest.raises(ConfigError, match="--checkpoint has no checkpoint for test_efficientnet"):
        run_checkpoints(old, cfgs, {A: 2})


def test_test_split_blend_reads_each_models_checkpoint(run):
    """The submission's path: test predictions per model at its own epoch (per-fold files named
    as in the write-up, <model>_fold_<k>_<epoch>.npy), blended with the OOF-fitted pieces of
    the same checkpoints."""
    from sigvision.steps.blend import run_blend

    base, cfg = run["base"], run["cfg"]
    test_dir = str(cfg.prepared_path)  # the training nights stand in for held-out ones
    argv = sys.argv
    try:
        sys.argv = ["inferblend.py", str(base / f"{A}.yaml"), str(base / f"{B}.yaml"), "--quiet",
                    "--set", "infer.checkpoint=[1, 0]", "--set", f"infer.test_dir={test_dir}"]
        runpy.run_path(str(ROOT / "inferblend.py"), run_name="__main__")
    finally:
        sys.argv = argv
    preds = cfg.run_path / "preds"
    for name in (f"{A}_fold_0_1.npy", f"{A}_fold_1_1.npy", f"{B}_fold_0_0.npy", f"{B}_fold_1_0.npy"):
        assert (preds / name).is_file(), name
    tcfg = load_config(base / "run.yaml", ["blend.checkpoint=[1, 0]", "blend.split=test",
                                           f"infer.test_dir={test_dir}"])
    res = run_blend(tcfg)
    assert res["csv"].name == "files_blend_sqrt_test.csv" and res["report"]["checkpoints"] == {A: "1", B: "0"}
    pa = np.mean([np.load(preds / f"{A}_fold_{k}_1.npy") for k in (0, 1)], 0).astype(np.float64)
    pb = np.mean([np.load(preds / f"{B}_fold_{k}_0.npy") for k in (0, 1)], 0).astype(np.float64)
    table = pd.read_csv(res["csv"], dtype={"record": str})
    np.testing.assert_allclose(table[STAGE_COLS].to_numpy(), _sqrt_mean(pa, pb), atol=1e-5)
