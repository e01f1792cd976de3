import os
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sigvision.config import ModelConfig
from sigvision.config.load import config_from_dict, save_config
from sigvision.config import config_to_dict
from sigvision.errors import ConfigError, InputFileError
from sigvision.steps.infer import infer
from sigvision.io.probs import load_probs, save_probs
from sigvision.models.factory import PretrainedWeightsError, build_model, meta_vector
from sigvision.io.runs import load_prepared
from sigvision.steps.prepare import prepare_dataset
from sigvision.train.loaders import ShardSampler
from sigvision.train.folds import assign_folds, load_or_make_folds
from sigvision.train.checkpoints import checkpoint_path
from sigvision.steps.train import train
from sigvision.train.loop import train_fold
from tests.paths import REPO



def _cfg(prepared, weights, **over):
    d = {"name": "t", "seed": 3, "prepared_dir": str(prepared), "weights_dir": str(weights),
         "data": {"root": str(prepared)}, "render": {"height": 32, "width": 32},
         "model": {"name": "test_vit"},
         "train": {"folds": 2, "epochs": 2, "batch_size": 16, "lr": 0.002, "t0_epochs": 2,
                   "fmix_p": 0.5, "cutout_p": 0.5}}
    for k, v in over.items():
        sec, key = k.split(".")
        d.setdefault(sec, {})[key] = v
    return config_from_dict(d)


@pytest.fixture(scope="module")
def prepared(synth_dir4, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep")
    cfg = config_from_dict({"data": {"root": str(synth_dir4)}, "render": {"height": 32, "width": 32}})
    prepare_dataset(cfg, out)
    return out


def _fix_root(cfg, synth_dir4):
    # the prepared folder was made from synth_dir4; the config hash must match it
    d = config_to_dict(cfg)
    d["data"]["root"] = str(synth_dir4)
    return config_from_dict(d)


def test_folds_by_subject_saved_and_reused(prepared, synth_dir4):
    index, _ = load_prepared(prepared)
    f1 = load_or_make_folds(prepared, index, 2, seed=0)
    assert (prepared / "folds_2.csv").is_file()
    per_subject = f1.groupby("subject")["fold"].nunique()
    assert (per_subject == 1).all() and set(f1["fold"]) == {0, 1}
    f2 = load_or_make_folds(prepared, index, 2, seed=99)  # reused, not reassigned
    pd.testing.assert_frame_equal(f1, f2)
    with pytest.raises(InputFileError, match="subject-wise folds"):
        assign_folds(index, 5, 0)


def test_ecg_folds_stratified_by_database_and_label():
    """ECG records: each fold gets its share of every source database and of every label common
    enough to split (a record counts under its rarest label); rarer strata fall back to their
    database. Before, only the database was stratified: a fold could hold no normal record."""
    from sigvision.train.folds import ecg_strata

    rng = np.random.default_rng(0)
    n = 60
    labels = ["164889003;426783006" if i % 3 == 0 else ("426783006" if i % 3 == 1 else "270492004")
              for i in range(n)]
    labels[5] = "9999"  # a label on one record only
    idx = pd.DataFrame({"record": [f"r{i:02d}" for i in range(n)], "subject": [f"r{i:02d}" for i in range(n)],
                        "source_db": np.where(np.arange(n) < 40, "A", "B"), "labels": labels})
    idx = idx.sample(frac=1, random_state=1).reset_index(drop=True)
    strata = ecg_strata(idx, 4)
    key = pd.Series(strata).groupby(idx["source_db"] + idx["labels"]).nunique()
    assert (key == 1).all() and len(set(strata)) == 6  # one per (database, label set) here
    assert np.bincount(strata).min() >= 4  # the one-record label joined a stratum of its database
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns of strata smaller than the folds
        folds = assign_folds(idx, 4, seed=int(rng.integers(100))).merge(idx, on=["record", "subject"])
    per = folds.groupby(["fold", "source_db", "labels"]).size().unstack([1, 2]).fillna(0)
    common = [c for c in per.columns if c[1] != "9999"]
    assert (per[common].max() - per[common].min()).max() <= 1  # balanced to one record


def test_shard_sampler_covers_permutation():
    full = list(ShardSampler(20, shuffle=True, seed=1))
    parts = [list(ShardSampler(20, shuffle=True, seed=1, rank=r, world=2)) for r in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(full) == list(range(20))
    assert full[:2] == [parts[0][0], parts[1][0]]


def test_train_two_folds_outputs_and_resume_is_identical(prepared, synth_dir4, tmp_path):
    cfg = _fix_root(_cfg(prepared, tmp_path / "a", **{"train.epochs": 3}), synth_dir4)
    res = train(cfg)
    assert [r["epochs_run"] for r in res] == [3, 3]
    fold_dir = tmp_path / "a" / "t" / "test_vit" / "fold_0"
    for f in ("epoch_0.pt", "epoch_1.pt", "epoch_2.pt", "last.pt", "best.pt", "metrics.csv"):
        assert (fold_dir / f).is_file()
    m = pd.read_csv(fold_dir / "metrics.csv")
    assert list(m["epoch"]) == [0, 1, 2]
    assert {"train_loss", "val_loss", "accuracy", "macro_f1", "kappa", "train_img_s"} <= set(m.columns)
    assert (tmp_path / "a" / "t" / "test_vit" / "config.yaml").is_file()
    # refuses to train over existing checkpoints without --resume/--overwrite, saying what they are
    with pytest.raises(InputFileError, match="checkpoints of a finished training run; fix: --overwrite retrains it"):
        train(cfg)

    # interrupted after epoch 1, then resumed: same final weights as uninterrupted
    cfg_b = _fix_root(_cfg(prepared, tmp_path / "b", **{"train.epochs": 3}), synth_dir4)
    index, _ = load_prepared(prepared)
    index = index[index["label"] >= 0].reset_index(drop=True)
    folds = load_or_make_folds(prepared, index, 2, cfg_b.seed)
    with pytest.raises(KeyboardInterrupt):
        train_fold(cfg_b, 0, index, folds, _stop_after_epoch=1)
    assert torch.load(tmp_path / "b" / "t" / "test_vit" / "fold_0" / "last.pt", weights_only=False)["epoch"] == 1
    with pytest.raises(InputFileError, match=r"interrupted training run \(it stopped after epoch 1 of 3\); "
                                             r"fix: --resume continues it, --overwrite starts over"):
        train(cfg_b)
    train(cfg_b, resume=True)
    a = torch.load(fold_dir / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "t" / "test_vit" / "fold_0" / "last.pt", weights_only=False)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k

    # inference: OOF covers every scored row, sidecar checked, deterministic
    w = infer(cfg)
    probs, meta = load_probs(w["oof"])
    assert probs.shape == (len(index), 5) and meta["classes"] == ["W", "N1", "N2", "N3", "REM"]
    assert sorted(zip(meta["records"], meta["epochs"])) == sorted(zip(index["record"], index["epoch"]))
    w2 = infer(_fix_root(_cfg(prepared, tmp_path / "b", **{"train.epochs": 3}), synth_dir4))
    np.testing.assert_array_equal(probs, load_probs(w2["oof"])[0])  # bit-identical across runs


def test_infer_test_dir_names_files_like_the_seed(prepared, synth_dir4, tmp_path):
    cfg = _fix_root(_cfg(prepared, tmp_path / "w", **{"train.epochs": 1, "infer.test_dir": str(prepared),
                                                      "infer.tta_shifts_s": [3.0]}), synth_dir4)
    train(cfg)
    w = infer(cfg)
    assert Path(w["fold_0"]).name == "test_vit_fold_0_0.npy" and Path(w["test"]).name == "test_vit_test_best.npy"
    p0, _ = load_probs(w["fold_0"])
    p1, _ = load_probs(w["fold_1"])
    pt, meta = load_probs(w["test"])
    np.testing.assert_allclose(pt, (p0 + p1) / 2, atol=1e-6)
    assert meta["tta_shifts_s"] == [0.0, 3.0]
    # bf16 autocast and a loader worker process: close to the fp32 in-process result, not equal
    cfg2 = _fix_root(_cfg(prepared, tmp_path / "w", **{"train.epochs": 1, "infer.test_dir": str(prepared),
                                                       "infer.tta_shifts_s": [3.0], "infer.amp": "bf16",
                                                       "infer.num_workers": 1}), synth_dir4)
    pb, _ = load_probs(infer(cfg2)["test"])
    assert pb.shape == pt.shape and not np.array_equal(pb, pt)
    np.testing.assert_allclose(pb, pt, atol=0.05)


def test_probability_files_are_checked(tmp_path):
    p = save_probs(tmp_path / "m.npy", np.full((3, 5), 0.2), classes=list("abcde"), records=["r"] * 3, epochs=[0, 1, 2])
    assert load_probs(p)[0].shape == (3, 5)
    np.save(tmp_path / "m.npy", np.full((3, 5), 0.5))
    with pytest.raises(InputFileError, match="sum to one"):
        load_probs(p)
    np.save(tmp_path / "m.npy", np.full((4, 5), 0.2))
    with pytest.raises(InputFileError, match="disagrees with its sidecar"):
        load_probs(p)
    bad = np.full((3, 5), 0.2)
    bad[0, 0] = np.nan
    np.save(tmp_path / "m.npy", bad)
    with pytest.raises(InputFileError, match="non-finite"):
        load_probs(p)
    with pytest.raises(ValueError, match="do not match"):
        save_probs(tmp_path / "x.npy", np.zeros((2, 4)), classes=list("abcde"), records=["r"] * 2, epochs=[0, 1])


def test_pretrained_unavailable_is_an_error_naming_both_ways_out(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("SIGVISION_WEIGHTS", raising=False)
    with pytest.raises(PretrainedWeightsError) as ei:
        build_model(ModelConfig(name="test_vit", pretrained=True), 5)
    msg = str(ei.value)
    assert "model.pretrained_file" in msg and "SIGVISION_WEIGHTS" in msg and "pretrained: false" in msg


def test_pretrained_from_local_file_and_weights_folder(monkeypatch, tmp_path):
    import timm
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = timm.create_model("test_efficientnet", pretrained=False, num_classes=1000)
    torch.nn.init.constant_(ref.conv_stem.weight, 0.123)
    save_file(ref.state_dict(), str(tmp_path / "test_efficientnet.safetensors"))
    m = build_model(ModelConfig(name="test_efficientnet", pretrained=True,
                                pretrained_file=str(tmp_path / "test_efficientnet.safetensors")), 5)
    assert torch.allclose(m.backbone.conv_stem.weight, torch.full_like(m.backbone.conv_stem.weight, 0.123))
    monkeypatch.setenv("SIGVISION_WEIGHTS", str(tmp_path))
    m2 = build_model(ModelConfig(name="test_efficientnet", pretrained=True), 5)
    assert torch.allclose(m2.backbone.conv_stem.weight, m.backbone.conv_stem.weight)
    with pytest.raises(PretrainedWeightsError, match="not found"):
        build_model(ModelConfig(name="test_vit", pretrained=True, pretrained_file=str(tmp_path / "nope.pth")), 5)


def test_unknown_model_and_meta_features():
    with pytest.raises(ConfigError, match="did you mean"):
        build_model(ModelConfig(name="test_vitt"), 5)
    m = build_model(ModelConfig(name="test_efficientnet", meta_features=("age", "sex")), 3)
    x = torch.randn(2, 3, 32, 32)
    meta = torch.tensor([meta_vector(("age", "sex"), 64, "F"), meta_vector(("age", "sex"), None, "Unknown")])
    assert m(x, meta).shape == (2, 3)
    assert meta_vector(("age", "sex"), float("nan"), None) == [0.0, 1.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="pass meta"):
        m(x)


def test_every_parameter_gets_a_gradient_no_nans():
    for name in ("test_vit", "test_efficientnet"):
        m = build_model(ModelConfig(name=name), 5, img_size=32)
        out = m(torch.randn(2, 3, 32, 32))
        out.sum().backward()
        assert out.shape == (2, 5) and torch.isfinite(out).all()
        assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


_TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:  # a free rendezvous port
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun_train(cfg_path) -> None:
    """``sigvision train`` in 2 CPU processes under torchrun (gloo)."""
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(_free_port()), "-m", "sigvision", "--quiet", "train", "-c", str(cfg_path)],
                       capture_output=True, text=True, env=_TORCHRUN_ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_torchrun_two_processes_match_single_process(prepared, synth_dir4, tmp_path):
    over = {"train.epochs": 1, "train.fmix_p": 0.0, "train.cutout_p": 0.0, "train.max_steps_per_epoch": 3,
            "train.train_folds": [0], "train.grad_clip_norm": 0.0}
    single = _fix_root(_cfg(prepared, tmp_path / "single", **{**over, "train.batch_size": 8}), synth_dir4)
    train(single)
    ddp = _fix_root(_cfg(prepared, tmp_path / "ddp", **{**over, "train.batch_size": 4}), synth_dir4)
    cfg_path = save_config(ddp, tmp_path / "ddp.yaml")
    _torchrun_train(cfg_path)
    a = torch.load(checkpoint_path(single, 0, "last"), weights_only=False)["model"]
    b = torch.load(checkpoint_path(ddp, 0, "last"), weights_only=False)["model"]
    diffs = [float((a[k] - b[k]).abs().max()) for k in a]
    assert max(diffs) < 1e-4, f"max abs weight difference {max(diffs)}"
    # metrics.csv holds the job's training loss, not rank 0's half of the batches
    ma, mb = (pd.read_csv(checkpoint_path(c, 0, "last").parent / "metrics.csv") for c in (single, ddp))
    np.testing.assert_allclose(mb["train_loss"], ma["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(mb["val_loss"], ma["val_loss"], rtol=1e-4)

    # the same job again, over its checkpoints, started without torchrun's agent (which kills
    # the other ranks when one fails; a cluster launcher does not): every rank stops with the
    # clear error. Only rank 0 checked: rank 1 went on into its first all-reduce and failed
    # there with a gloo connection error (with NCCL it waits for the collective timeout)
    env, port = _TORCHRUN_ENV, _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "sigvision", "--quiet", "train", "-c", str(cfg_path)],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                   "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        outs = [pr.communicate(timeout=120) for pr in procs]
    finally:
        for pr in procs:
            pr.kill()
    assert [pr.returncode for pr in procs] == [2, 2]
    assert all("already holds checkpoints" in err for _, err in outs), outs


@pytest.mark.slow
def test_torchrun_validation_scores_the_checkpointed_batchnorm_statistics(prepared, synth_dir4, tmp_path):
    """Under DDP each rank's BatchNorm running statistics follow its own batches. Validation
    (sharded over the ranks) uses rank 0's, the ones saved in the checkpoint, so the val_loss in
    metrics.csv is the saved model's: it used to mix in rank 1's statistics for rank 1's shard."""
    from sigvision.ensemble import predict_rows
    from sigvision.train.checkpoints import load_checkpoint_model
    from sigvision.train.data import load_training_index

    over = {"train.epochs": 1, "train.max_steps_per_epoch": 3, "train.train_folds": [0], "train.batch_size": 4,
            "train.fmix_p": 0.0, "model.name": "test_efficientnet"}
    cfg = _fix_root(_cfg(prepared, tmp_path / "bn", **over), synth_dir4)
    _torchrun_train(save_config(cfg, tmp_path / "bn.yaml"))
    model, mmeta = load_checkpoint_model(checkpoint_path(cfg, 0, "last"), torch.device("cpu"))
    index = load_training_index(cfg)
    folds = load_or_make_folds(cfg.prepared_path, index, 2, seed=cfg.seed)
    val = index[index["record"].astype(str).map(dict(zip(folds["record"].astype(str), folds["fold"]))) == 0]
    probs = predict_rows(model, mmeta, cfg, cfg.prepared_path, val, device=torch.device("cpu"))
    y = val["label"].to_numpy()
    want = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1))))
    got = float(pd.read_csv(checkpoint_path(cfg, 0, "last").parent / "metrics.csv")["val_loss"].iloc[0])
    assert abs(got - want) < 1e-5, (got, want)


def test_early_stopping_and_bf16_autocast_on_cpu(prepared, synth_dir4, tmp_path):
    # lr 0: the validation score never improves after epoch 0, so patience 1 stops after epoch 1
    cfg = _fix_root(_cfg(prepared, tmp_path / "es", **{"train.epochs": 5, "train.lr": 1e-12,
                                                       "train.early_stopping_patience": 1,
                                                       "train.train_folds": [0], "train.amp": "bf16",
                                                       "train.scheduler": "none"}), synth_dir4)
    res = train(cfg)
    assert res[0]["epochs_run"] == 2 and res[0]["best_epoch"] == 0
    m = pd.read_csv(checkpoint_path(cfg, 0, "last").parent / "metrics.csv")
    assert np.isfinite(m["train_loss"]).all() and np.isfinite(m["val_loss"]).all()


def test_fp16_on_cpu_is_refused(prepared, synth_dir4, tmp_path):
    cfg = _fix_root(_cfg(prepared, tmp_path / "fp", **{"train.amp": "fp16", "train.device": "cpu"}), synth_dir4)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        train(cfg)


def test_warmup_then_poly_decay_in_training(prepared, synth_dir4, tmp_path):
    """The AIWIN write-up's "Warmup + Decay": the rate climbs to train.lr over the warmup epoch,
    then decays (poly) to train.min_lr at the end of the last epoch; metrics.csv logs it."""
    cfg = _fix_root(_cfg(prepared, tmp_path / "wu", **{"train.epochs": 2, "train.train_folds": [0],
                                                         "train.scheduler": "poly", "train.warmup_epochs": 1,
                                                         "train.min_lr": 1e-5}), synth_dir4)
    train(cfg)
    m = pd.read_csv(tmp_path / "wu" / "t" / "test_vit" / "fold_0" / "metrics.csv")
    assert m["lr"].tolist() == pytest.approx([0.002, 1e-5])


def test_torch_compile_trains_like_eager_and_saves_plain_weights(prepared, synth_dir4, tmp_path):
    """train.compile (torch.compile, inductor's C++ kernels on CPU) takes the same steps as eager
    training, and the checkpoint holds the model's own weight names (no '_orig_mod.' prefix of
    the compiled wrapper), so a plain model loads it."""
    over = {"train.epochs": 1, "train.train_folds": [0], "train.fmix_p": 0.5}
    runs = {}
    for name, comp in (("eager", False), ("compiled", True)):
        cfg = _fix_root(_cfg(prepared, tmp_path / name, **over, **{"train.compile": comp}), synth_dir4)
        train(cfg)
        fold = tmp_path / name / "t" / "test_vit" / "fold_0"
        runs[name] = (pd.read_csv(fold / "metrics.csv"), torch.load(fold / "best.pt", weights_only=False)["model"])
    (m_e, w_e), (m_c, w_c) = runs["eager"], runs["compiled"]
    assert list(w_c) == list(w_e)
    assert np.isclose(m_c["train_loss"][0], m_e["train_loss"][0], rtol=1e-3)
    assert np.isclose(m_c["val_loss"][0], m_e["val_loss"][0], rtol=1e-3)
    for k in w_e:
        torch.testing.assert_close(w_c[k], w_e[k], rtol=1e-3, atol=1e-4)
    build_model(ModelConfig(name="test_vit"), 5, img_size=32).load_state_dict(w_c)  # strict: the same names


def test_torch_compile_without_a_compiler_is_refused_before_training(prepared, synth_dir4, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("CC", raising=False)
    cfg = _fix_root(_cfg(prepared, tmp_path / "nc", **{"train.compile": True}), synth_dir4)
    with pytest.raises(ConfigError, match="train.compile=true needs a C/C\\+\\+ compiler"):
        train(cfg)
    assert not list((tmp_path / "nc").rglob("*.pt"))
    # with --overwrite, earlier weights are not deleted before the refusal
    old = tmp_path / "nc" / "t" / "test_vit" / "fold_0" / "best.pt"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"earlier run")
    with pytest.raises(ConfigError, match="needs a C/C"):
        train(cfg, overwrite=True)
    assert old.read_bytes() == b"earlier run"


def test_run_provenance_files(prepared, synth_dir4, tmp_path):
    import json

    cfg = _fix_root(_cfg(prepared, tmp_path / "p", **{"train.epochs": 1, "train.train_folds": [0]}), synth_dir4)
    train(cfg)
    mdir = tmp_path / "p" / "t" / "test_vit"
    info = json.loads((mdir / "run_info.json").read_text())
    assert info["sigvision"] and info["torch"] and info["timm"] and "git_commit" in info
    assert set(pd.read_csv(mdir / "folds.csv")["fold"]) == {0, 1}


@pytest.mark.slow
def test_sigkill_mid_training_then_resume(prepared, synth_dir4, tmp_path):
    """A run killed with SIGKILL leaves no truncated file; --resume finishes it."""
    import signal
    import time as _time

    cfg = _fix_root(_cfg(prepared, tmp_path / "k", **{"train.epochs": 40, "train.train_folds": [0],
                                                      "train.keep_every_epoch": True}), synth_dir4)
    cfg_path = save_config(cfg, tmp_path / "k.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "sigvision", "--quiet", "train", "-c", str(cfg_path)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fold_dir = tmp_path / "k" / "t" / "test_vit" / "fold_0"
    deadline = _time.time() + 120
    while _time.time() < deadline and not (fold_dir / "epoch_1.pt").exists():
        _time.sleep(0.05)
    _time.sleep(0.3)  # now mid-epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    for f in fold_dir.glob("[!.]*.pt"):  # every visible checkpoint is complete and loadable
        torch.load(f, weights_only=False)
    done = torch.load(fold_dir / "last.pt", weights_only=False)["epoch"]
    assert done < 39
    short = _fix_root(_cfg(prepared, tmp_path / "k", **{"train.epochs": done + 3, "train.train_folds": [0]}), synth_dir4)
    train(short, resume=True)
    assert torch.load(fold_dir / "last.pt", weights_only=False)["epoch"] == done + 2
    m = pd.read_csv(fold_dir / "metrics.csv")
    assert list(m["epoch"]) == list(range(done + 3))


def test_tune_stores_resumes_and_writes_best_yaml(prepared, synth_dir4, tmp_path):
    from sigvision.config.load import load_config
    from sigvision.steps.tune import SEARCH_SPACE, tune

    cfg = _fix_root(_cfg(prepared, tmp_path / "tn", **{"train.epochs": 2}), synth_dir4)
    r1 = tune(cfg, n_trials=2)
    assert (tmp_path / "tn" / "t" / "tune_test_vit.db").is_file() and r1["n_trials"] == 2
    r2 = tune(cfg, n_trials=1)  # resumes the stored study
    assert r2["n_trials"] == 3
    best = load_config(r2["best_config"])
    for k, (lo, hi, _) in SEARCH_SPACE.items():
        assert lo <= getattr(best.train, k) <= hi
    assert best.model == cfg.model and best.data == cfg.data


def test_model_alias_holds_two_variants_of_one_network_in_a_run(prepared, synth_dir4, tmp_path, monkeypatch):
    """The Hefei write-up ensembles variants of one network (ResNet50, ResNet50_noweight,
    ResNet50_basic): model.alias names each in the run (folder, prediction files, blend entry),
    so a second test_vit no longer collides with the first; predict reads both."""
    import shutil

    from sigvision.steps.blend import run_blend
    from sigvision.steps.predict import predict_folder

    base = {"train.epochs": 1, "blend.models": ["test_vit", "test_vit_ls0"], "blend.fit_metric": "none"}
    a = _fix_root(_cfg(prepared, tmp_path / "al", **base), synth_dir4)
    b = _fix_root(_cfg(prepared, tmp_path / "al", **base, **{"model.alias": "test_vit_ls0",
                                                             "train.label_smoothing": 0.0}), synth_dir4)
    for c in (a, b):
        train(c)
        infer(c)
    run = tmp_path / "al" / "t"
    assert (run / "test_vit" / "fold_0" / "best.pt").is_file() and (run / "test_vit_ls0" / "fold_0" / "best.pt").is_file()
    pa, ma = load_probs(run / "preds" / "test_vit_oof_best.npy")
    pb, mb = load_probs(run / "preds" / "test_vit_ls0_oof_best.npy")
    assert ma["model"] == "test_vit" and mb["model"] == "test_vit_ls0" and not np.allclose(pa, pb)
    assert ma["config_hash"] == mb["config_hash"]  # same network and data: the alias is only a name
    rep = run_blend(a)["report"]
    assert rep["models"] == ["test_vit", "test_vit_ls0"]
    new = tmp_path / "new"
    new.mkdir()
    for f in sorted(Path(synth_dir4).glob("*"))[:2]:
        shutil.copy(f, new)
    import sigvision.ensemble as T  # the one loop that loads every checkpoint

    loaded, real = [], T.load_checkpoint_model
    monkeypatch.setattr(T, "load_checkpoint_model", lambda p, *a, **k: loaded.append(Path(p)) or real(p, *a, **k))
    out = pd.read_csv(predict_folder(run, new, tmp_path / "p.csv"))
    assert len(out) > 0  # every fold of both variants, from their own folders
    assert sorted(str(p.relative_to(run)) for p in loaded) == [
        f"{m}/fold_{k}/best.pt" for m in ("test_vit", "test_vit_ls0") for k in (0, 1)]
    with pytest.raises(ConfigError, match="model.alias='a/b'"):
        _cfg(prepared, tmp_path, **{"model.alias": "a/b"})


def test_tune_space_parsing_and_errors():
    from sigvision.steps.tune import parse_space

    sp = parse_space(["lr=1e-5:1e-2:log", "train.cutout_holes=4:12", "batch_size=16,32", "fmix_p=0:1",
                      "channels_last=true,false", "optimizer=adam,adamp"])
    assert sp == {"lr": (1e-5, 1e-2, True), "cutout_holes": (4, 12, False), "batch_size": [16, 32],
                  "fmix_p": (0.0, 1.0, False), "channels_last": [True, False], "optimizer": ["adam", "adamp"]}
    assert isinstance(sp["cutout_holes"][0], int) and isinstance(sp["fmix_p"][0], float)
    for bad, match in (("lrr=1:2", "did you mean 'lr'"), ("lr=0:1e-2:log", "LOW > 0"), ("lr=1:0.5", "LOW < HIGH"),
                       ("batch_size=8,x", "'x' is not a int"), ("lr", "NAME=LOW:HIGH"), ("lr=1:2:ln", "LOW:HIGH:log"),
                       ("train_folds=0,1", "not a train setting that takes one value"),
                       ("monitor=kappa,loss", "train.monitor is not searched"), ("folds=2:5", "train.folds is not")):
        with pytest.raises(ConfigError, match=match):
            parse_space([bad])


def test_tune_random_search_over_given_ranges_keeps_trials_that_meet_the_standard(prepared, synth_dir4, tmp_path):
    """ECM's search: random draws from the user's ranges (an int choice among them); trials short
    of the standard lose their weights and are listed to avoid, the others are kept and listed."""
    from sigvision.steps.tune import parse_space, tune

    cfg = _fix_root(_cfg(prepared, tmp_path / "rs", **{"train.epochs": 1}), synth_dir4)
    space = parse_space(["lr=1e-4:1e-2:log", "batch_size=8,16"])
    r = tune(cfg, n_trials=3, sampler="random", space=space, standard=2.0)  # kappa never reaches 2
    run = tmp_path / "rs" / "t"
    avoid = pd.read_csv(run / "tune_avoid_test_vit.csv")
    assert r["n_kept"] == 0 and len(avoid) == 3 and not (run / "tune_kept_test_vit.csv").exists()
    assert set(avoid["batch_size"]) <= {8, 16} and avoid["lr"].between(1e-4, 1e-2).all()
    assert set(r["best_params"]) == {"lr", "batch_size"}
    assert not any((run / "tune_trials").glob("trial_*/**/*.pt"))  # their weights are gone
    r = tune(cfg, n_trials=2, sampler="random", space=space, standard=-1.0)  # every trial meets it
    kept = pd.read_csv(run / "tune_kept_test_vit.csv")
    assert r["n_kept"] == 2 and r["n_trials"] == 5
    for w in kept["weights"]:
        assert any(Path(w).glob("**/best.pt"))
    # the same through the command line
    from sigvision.cli import main

    cfg_file = save_config(cfg, tmp_path / "rs.yaml")
    assert main(["--quiet", "tune", "-c", str(cfg_file), "--trials", "1", "--sampler", "random",
                 "--space", "lr=1e-4:1e-2:log", "--space", "batch_size=8,16", "--standard", "-1"]) == 0
    assert len(pd.read_csv(run / "tune_kept_test_vit.csv")) == 3
    # a range end that makes an invalid config is refused before any trial
    with pytest.raises(ConfigError, match="tune space train.epochs=1 makes an invalid config: train.warmup_epochs"):
        tune(replace(cfg, train=replace(cfg.train, warmup_epochs=1.5, epochs=3)), space=parse_space(["epochs=1:3"]))
    # resuming the stored study with another range for lr: a clear error (optuna's says neither)
    with pytest.raises(ConfigError, match="searched train.lr as .* give the same space, or a new --study name"):
        tune(cfg, n_trials=1, sampler="random", space=parse_space(["lr=1e-3:1e-2"]))


def test_train_log_file_in_run_folder(prepared, synth_dir4, tmp_path):
    cfg = _fix_root(_cfg(prepared, tmp_path / "lg", **{"train.epochs": 1, "train.train_folds": [0]}), synth_dir4)
    train(cfg)
    text = (tmp_path / "lg" / "t" / "test_vit" / "train.log").read_text()
    assert "fold 0 epoch 0" in text and "training test_vit" in text


def _from_maps(folder, ds, idx):
    """The items of row positions ``idx`` indexed out of memory-mapped ``.npy`` files (the reference)."""
    return np.stack([np.load(folder / f"{ds.records[i]}.npy", mmap_mode="r")[ds.epochs[i]] for i in idx])


def test_render_cache_is_planar_and_old_hwc_caches_still_read(prepared, tmp_path):
    """New caches hold (n_epochs, 3, H, W) images (the model's layout); a folder prepared
    before the layout was recorded holds (n_epochs, H, W, 3) and gives the same batches, and
    open_cached_images shows (H, W, 3) images for both."""
    import json
    import shutil

    from sigvision.io.runs import open_cached_images
    from sigvision.train.data import ImageRowsDataset

    index, meta = load_prepared(prepared)
    assert meta["cache_layout"] == "chw"
    rec = str(index["record"].iloc[0])
    raw = np.load(prepared / meta["cache_dir"] / f"{rec}.npy", mmap_mode="r")
    assert raw.ndim == 4 and raw.shape[1] == 3
    old = tmp_path / "old"
    shutil.copytree(prepared, old)
    for f in (old / meta["cache_dir"]).glob("*.npy"):
        np.save(f, np.ascontiguousarray(np.load(f).transpose(0, 2, 3, 1)))
    old_meta = json.loads((old / "prepare.json").read_text())
    del old_meta["cache_layout"]
    (old / "prepare.json").write_text(json.dumps(old_meta))
    idx = np.random.default_rng(1).permutation(len(index))[:29]
    new_ds, old_ds = ImageRowsDataset(prepared, index), ImageRowsDataset(old, index)
    assert old_ds.layout == "hwc" and new_ds.layout == "chw"
    a, b = new_ds.images(idx), old_ds.images(idx)
    assert a.shape[1] == 3 and a.flags.c_contiguous and b.flags.c_contiguous and np.array_equal(a, b)
    np.testing.assert_array_equal(open_cached_images(prepared, rec), open_cached_images(old, rec))
    assert open_cached_images(prepared, rec).shape[-1] == 3


def test_dataset_batches_equal_plain_indexing(prepared):
    """Batches gathered from the kept maps equal plain memory-map indexing, for runs of
    consecutive epochs, shuffled rows and repeated rows; maps are bounded in number (LRU)."""
    from sigvision.train.data import ImageRowsDataset, SignalRowsDataset

    index, meta = load_prepared(prepared)
    ds = ImageRowsDataset(prepared, index)
    n = len(ds)
    rng = np.random.default_rng(0)
    for idx in (np.arange(n), rng.permutation(n)[:37], np.array([3, 4, 5, 5, 4, 0, n - 1]), np.array([n - 1])):
        got = ds.images(idx)
        assert got.dtype == np.uint8 and np.array_equal(got, _from_maps(prepared / meta["cache_dir"], ds, idx))
    x, y, _ = ds[np.arange(5)]
    assert x.shape[0] == 5 and np.array_equal(y.numpy(), index["label"].to_numpy()[:5])
    assert 0 < len(ds._maps) <= ds.max_open_files
    ds.max_open_files = 1
    assert np.array_equal(ds.images(np.arange(n)), _from_maps(prepared / meta["cache_dir"], ds, np.arange(n)))
    assert len(ds._maps) == 1  # least recently used maps closed
    import pickle

    clone = pickle.loads(pickle.dumps(ds))  # a spawned loader worker maps the files itself
    assert clone._maps == {} and np.array_equal(clone.images([0, 1]), ds.images([0, 1]))
    ds.close()
    assert ds._maps == {}
    sig = SignalRowsDataset(prepared, index)
    idx = rng.permutation(n)[:20]
    np.testing.assert_array_equal(sig.images(idx), _from_maps(prepared / "signals", sig, idx) * sig.scale)
    with pytest.raises(IndexError, match="out of range"):
        ImageRowsDataset(prepared, index.assign(epoch=index["epoch"] + 10_000)).images([0])


def _mapped_rss_kib(path) -> int:
    """Resident KiB of the process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line
            inside = line.rstrip().endswith(str(path))
        elif inside and head and head[0] == "Rss:":
            total += int(head[1])
    return total


def test_dataset_releases_read_pages_from_the_process(prepared):
    """Pages of the cache read through the maps leave the process's resident memory every
    ``resident_budget`` bytes copied (they stay in the page cache), so RSS stays bounded."""
    from sigvision.train.data import ImageRowsDataset

    index, meta = load_prepared(prepared)
    ds = ImageRowsDataset(prepared, index)
    rec = str(index["record"].iloc[0])
    path = (prepared / meta["cache_dir"] / f"{rec}.npy").resolve()
    rows = np.flatnonzero(index["record"].astype(str).to_numpy() == rec)
    ds.resident_budget = 1 << 40  # never released
    ds.images(rows)
    if not Path("/proc/self/smaps").exists():  # not Linux: the bound is the budget, unobservable here
        return
    full = _mapped_rss_kib(path)
    assert full >= 0.9 * len(rows) * ds.images([rows[0]]).nbytes / 1024
    ds.resident_budget = 1  # release after every batch
    ds.images(rows)
    assert _mapped_rss_kib(path) == 0 < full
    assert np.array_equal(ds.images(rows[:3]), _from_maps(prepared / meta["cache_dir"], ds, rows[:3]))


def test_dataset_odd_cache_files(prepared, tmp_path):
    """A Fortran-ordered cache file gives the same images; a truncated one is a clear error,
    not garbage."""
    import shutil

    from sigvision.train.data import ImageRowsDataset

    index, meta = load_prepared(prepared)
    copy = tmp_path / "prep"
    shutil.copytree(prepared, copy)
    cache = copy / meta["cache_dir"]
    recs = list(dict.fromkeys(index["record"].astype(str)))
    arr = np.load(cache / f"{recs[0]}.npy")
    np.save(cache / f"{recs[0]}.npy", np.asfortranarray(arr))
    ds = ImageRowsDataset(copy, index)
    idx = np.arange(len(ds))
    np.testing.assert_array_equal(ds.images(idx), _from_maps(prepared / meta["cache_dir"], ds, idx))
    assert ds._maps[recs[0]].flags.f_contiguous  # mapped as it is, like the others
    f = cache / f"{recs[1]}.npy"
    f.write_bytes(f.read_bytes()[:-100])
    ds = ImageRowsDataset(copy, index)
    with pytest.raises(InputFileError, match="truncated"):
        ds.images(np.flatnonzero(index["record"].astype(str).to_numpy() == recs[1]))
    f.write_bytes(b"")  # empty
    with pytest.raises(InputFileError, match="truncated or unreadable"):
        ImageRowsDataset(copy, index).images(np.flatnonzero(index["record"].astype(str).to_numpy() == recs[1]))
    # a file of the old (H, W, 3) layout in a folder whose prepare.json says planar
    np.save(f, np.ascontiguousarray(np.load(prepared / meta["cache_dir"] / f.name).transpose(0, 2, 3, 1)))
    with pytest.raises(InputFileError, match=f"{f.name}.*not the 'chw' layout"):
        ImageRowsDataset(copy, index).images(np.flatnonzero(index["record"].astype(str).to_numpy() == recs[1]))


def test_predict_dataset_fills_one_array_batch_by_batch(prepared):
    """Probabilities do not depend on the batch size (the last batch may be short)."""
    from sigvision.train.data import ImageRowsDataset
    from sigvision.train.forward import predict_dataset

    index, _ = load_prepared(prepared)
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="test_vit"), 5, img_size=32)
    ds = ImageRowsDataset(prepared, index, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    whole = predict_dataset(model, ds, batch_size=len(ds), device=torch.device("cpu"))
    small = predict_dataset(model, ds, batch_size=7, device=torch.device("cpu"))
    assert whole.shape == small.shape == (len(ds), 5) and small.dtype == np.float32
    np.testing.assert_allclose(small, whole, atol=1e-5)
    np.testing.assert_allclose(small.sum(1), 1.0, atol=1e-5)
    multi = predict_dataset(model, ds, batch_size=7, device=torch.device("cpu"), multilabel=True)
    assert multi.shape == (len(ds), 5) and ((multi > 0) & (multi < 1)).all()
    empty = predict_dataset(model, ImageRowsDataset(prepared, index.iloc[:0]), batch_size=7,
                            device=torch.device("cpu"))
    assert empty.shape == (0, 0)


@pytest.mark.parametrize("name", ["adamp", "adam", "adamw", "sgd"])
def test_optimizers_step_channels_last_weights_like_contiguous_ones(name):
    """Every optimiser moves a channels-last model (train.channels_last) to the same weights as
    the contiguous one. AdamP's projection took .view of the weights, which raises on
    channels-last ones: the EfficientNet-B4 preset (adamp + channels_last) failed at step 1."""
    import copy

    from torch import nn

    from sigvision.config.load import config_from_dict
    from sigvision.train.optim import make_optimizer

    torch.manual_seed(0)
    # no bias before the norm: its gradient is 0 up to rounding, which Adam scales up to full steps
    a = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
    init = [p.detach().clone() for p in a.parameters()]
    b = copy.deepcopy(a).to(memory_format=torch.channels_last)
    assert b[0].weight.is_contiguous(memory_format=torch.channels_last) and not b[0].weight.is_contiguous()
    tcfg = config_from_dict({"train": {"optimizer": name, "lr": 0.01, "weight_decay": 0.01}}).train
    x = torch.randn(4, 3, 12, 12)
    for m, xin in ((a, x), (b, x.contiguous(memory_format=torch.channels_last))):
        opt = make_optimizer(tcfg, m)
        for _ in range(3):
            loss = m(xin).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-4, atol=1e-5)
    assert all(not torch.equal(p, p0) for p, p0 in zip(a.parameters(), init))  # every weight was updated


def test_loader_workers_see_each_epoch_like_inline_batches(prepared):
    """train.num_workers > 0: the loader's workers persist across epochs with their own copy of
    the dataset, so set_epoch of later epochs never reached them and every epoch reused epoch 0's
    cutout masks (batches differed from a num_workers=0 run from epoch 1 on)."""
    from sigvision.train.data import BatchCutout, ImageRowsDataset
    from sigvision.train.loaders import make_loader

    index, _ = load_prepared(prepared)
    index = index[index["label"] >= 0].reset_index(drop=True)

    def epochs(num_workers):
        ds = ImageRowsDataset(prepared, index, augment=BatchCutout(1.0, 4, 0.2), seed=5)
        sampler = ShardSampler(len(ds), shuffle=True, seed=1)
        loader = make_loader(ds, sampler, 16, num_workers, torch.device("cpu"))
        out = []
        for e in range(2):
            sampler.set_epoch(e)
            ds.set_epoch(e)
            out.append(torch.cat([b[0] for b in loader]))
        return out

    inline, workers = epochs(0), epochs(1)
    assert not torch.equal(inline[0], inline[1])
    for a, b in zip(inline, workers):
        assert torch.equal(a, b)


def test_tta_shifts_with_meta_features(prepared, synth_dir4, tmp_path):
    """infer.tta_shifts_s with model.meta_features: the shifted passes called the model without
    its meta features ('this model was built with meta features ...; pass meta')."""
    from sigvision.ensemble import _predict_shifted
    from sigvision.train.checkpoints import load_checkpoint_model

    cfg = _fix_root(_cfg(prepared, tmp_path / "w", **{"train.epochs": 1, "train.train_folds": [0],
                                                      "train.max_steps_per_epoch": 2,
                                                      "model.meta_features": ["age", "sex"],
                                                      "infer.tta_shifts_s": [3.0]}), synth_dir4)
    train(cfg)
    p, meta = load_probs(infer(cfg)["oof"])
    assert meta["tta_shifts_s"] == [0.0, 3.0] and np.isfinite(p).all()
    # a shift of 0 through the re-rendering path gives the cached images' prediction
    model, mmeta = load_checkpoint_model(checkpoint_path(cfg, 0, "best"))
    index, _ = load_prepared(prepared)
    rows = index.iloc[:9].reset_index(drop=True)
    from sigvision.ensemble import predict_rows

    np.testing.assert_allclose(_predict_shifted(model, mmeta, cfg, prepared, rows, device=torch.device("cpu"),
                                                shift_s=0.0),
                               predict_rows(model, mmeta, cfg, prepared, rows, device=torch.device("cpu")), atol=1e-4)


def test_vit_on_non_square_renders(synth_dir4, tmp_path):
    """render.height != render.width with a ViT (the card's vit_base_patch16_224 preset): the
    model was built for height x height images and refused the first batch ('Input width (64)
    doesn't match model (32)'); training and inference now build it for height x width."""
    d = {"name": "t", "seed": 3, "prepared_dir": str(tmp_path / "p"), "weights_dir": str(tmp_path / "w"),
         "data": {"root": str(synth_dir4)}, "render": {"height": 32, "width": 64},
         "model": {"name": "vit_tiny_patch16_224"},
         "train": {"folds": 2, "train_folds": [0], "epochs": 1, "batch_size": 8, "max_steps_per_epoch": 1}}
    cfg = config_from_dict(d)
    prepare_dataset(cfg, cfg.prepared_path)
    train(cfg)
    p, _ = load_probs(infer(cfg)["oof"])
    assert p.shape[1] == 5 and np.isfinite(p).all()


def test_monitor_the_task_lacks_is_refused_before_training(prepared, synth_dir4, tmp_path, monkeypatch):
    """train.monitor=auroc on sleep stages (not computed for single-label tasks) was refused
    only after a whole epoch had been trained."""
    import sigvision.train.loop as T

    steps = []
    real = T._train_one_epoch
    monkeypatch.setattr(T, "_train_one_epoch", lambda *a, **k: steps.append(1) or real(*a, **k))
    cfg = _fix_root(_cfg(prepared, tmp_path / "m", **{"train.monitor": "auroc", "train.epochs": 1,
                                                      "train.train_folds": [0]}), synth_dir4)
    with pytest.raises(ConfigError, match="train.monitor='auroc' is not computed"):
        train(cfg)
    assert steps == []


def test_last_training_batch_of_one_image(prepared, synth_dir4, tmp_path):
    """A fold whose training rows leave a last batch of one image: an EfficientNet on 32 px
    renders (1x1 final map) failed in batch norm ('Expected more than 1 value per channel when
    training'). That batch is dropped (a different image each epoch: the order is shuffled)."""
    index, _ = load_prepared(prepared)
    index = index[index["label"] >= 0]
    folds = load_or_make_folds(prepared, index, 2, seed=3)
    val = set(folds.loc[folds["fold"] == 0, "record"].astype(str))
    n_train = int((~index["record"].astype(str).isin(val)).sum())
    cfg = _fix_root(_cfg(prepared, tmp_path / "w", **{"model.name": "test_efficientnet", "train.epochs": 1,
                                                      "train.train_folds": [0], "train.batch_size": n_train - 1,
                                                      "train.fmix_p": 0.0}), synth_dir4)
    assert n_train % cfg.train.batch_size == 1
    (res,) = train(cfg)
    assert res["epochs_run"] == 1


def test_tta_shifts_with_a_signal_model_are_refused(prepared, synth_dir4, tmp_path):
    """infer.tta_shifts_s re-renders shifted images; a 1-D model reads the saved signals, so the
    passes were identical while the sidecar listed the shifts as applied."""
    cfg = _fix_root(_cfg(prepared, tmp_path / "s", **{"model.name": "resnet1d_tiny", "infer.tta_shifts_s": [3.0]}),
                    synth_dir4)
    with pytest.raises(ConfigError, match="resnet1d_tiny is a 1-D signal model"):
        infer(cfg)


def test_label_smoothing_with_a_bce_loss_is_said_not_ignored_silently(caplog):
    """train.label_smoothing (default 0.1) shapes the cross-entropy only; a multi-label BCE run
    used to drop it without a word."""
    import logging

    from sigvision.tasks import TaskSpec
    from sigvision.train.losses import make_loss

    spec = TaskSpec(classes=["a", "b"], multilabel=True, targets=np.eye(2, dtype=np.float32), summary={})
    with caplog.at_level(logging.WARNING, logger="sigvision.train"):
        make_loss(config_from_dict({"train": {"loss": "bce"}}).train, spec, spec.targets, torch.device("cpu"),
                  "weighted_bce")
    assert "label_smoothing=0.1 applies to the cross-entropy of single-label tasks only" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sigvision.train"):
        make_loss(config_from_dict({"train": {"loss": "weighted_bce", "label_smoothing": 0.0}}).train, spec,
                  spec.targets, torch.device("cpu"), "weighted_bce")
    assert caplog.text == ""


def test_class_weighted_bce_is_the_hefei_formula_by_hand(caplog):
    """train.loss=class_weighted_bce: mean over records and classes of w_c * BCE, with
    w_c = 1 / log(count_c + 1e-5) on both terms (the Hefei write-up); counts below 2 take the
    weight of 2 (1 / log(1 + 1e-5) would be 1e5, 1 / log(1e-5) negative)."""
    import logging
    import math

    from sigvision.tasks import TaskSpec
    from sigvision.train.losses import make_loss

    y = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32)  # counts 3, 1, 0
    logits = np.array([[0.5, -1.0, 2.0], [-0.3, 0.8, 0.0], [1.5, 0.2, -2.5], [-1.2, 0.4, 1.0]])
    spec = TaskSpec(classes=["AF", "PVC", "LBBB"], multilabel=True, targets=y, summary={})
    with caplog.at_level(logging.WARNING, logger="sigvision.train"):
        fn = make_loss(config_from_dict({"train": {"loss": "class_weighted_bce", "label_smoothing": 0.0}}).train,
                       spec, y, torch.device("cpu"), "weighted_bce")
    assert "2 class(es) with fewer than 2 positive training records (PVC, LBBB)" in caplog.text
    w = [1 / math.log(3 + 1e-5), 1 / math.log(2 + 1e-5), 1 / math.log(2 + 1e-5)]
    total = 0.0
    for i in range(4):
        for c in range(3):
            p = 1 / (1 + math.exp(-logits[i, c]))
            total += w[c] * -(y[i, c] * math.log(p) + (1 - y[i, c]) * math.log(1 - p))
    got = float(fn(torch.tensor(logits, dtype=torch.float32), torch.tensor(y)))
    assert got == pytest.approx(total / 12, rel=1e-6)
    # not the positive-term-only weighting of weighted_bce
    other = make_loss(config_from_dict({"train": {"loss": "weighted_bce", "label_smoothing": 0.0}}).train,
                      spec, y, torch.device("cpu"), "weighted_bce")
    assert abs(float(other(torch.tensor(logits, dtype=torch.float32), torch.tensor(y))) - got) > 1e-3
    with pytest.raises(ConfigError, match="class_weighted_bce"):
        config_from_dict({"train": {"loss": "class_weigthed_bce"}})
