"""The classical sleep stager as a model of the run (model.name: sleep_features): built by
the factory, fitted in closed form, its forest kept as tensors that round-trip through a
checkpoint, and the whole chain prepare -> train -> infer -> blend -> postprocess -> predict
through the CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sigvision.baselines.sleep import SLEEP_FEATURE_NAMES, SleepFeatureStager, sleep_epoch_features
from sigvision.cli import main
from sigvision.config import ModelConfig
from sigvision.models.factory import build_model
from sigvision.models.sleep_features import INPUT_SCALE, SleepFeatureNet
from sigvision.synth.generator import synthesize_night
from sigvision.tasks.sleep import SleepTask
from tests.paths import REPO

HYP = np.array(([0] * 6 + [1] * 4 + [2] * 10 + [3] * 8 + [2] * 4 + [4] * 8) * 2)


def _epochs(seed: int) -> np.ndarray:
    """(n_epochs, 2, 3000) µV: the aasm montage's EEG and EOG rows of a synthetic night."""
    night = synthesize_night(HYP, seed=seed, montage="aasm")
    rows = [night.channel_types.index("eeg"), night.channel_types.index("eog")]
    return np.stack([night.signals[r].reshape(HYP.size, -1) for r in rows], axis=1).astype(np.float32)


def _model() -> SleepFeatureNet:
    return build_model(ModelConfig(name="sleep_features", pretrained=False), 5, in_chans=2)


def test_input_scale_is_the_sleep_datasets():
    assert INPUT_SCALE == SleepTask().signal_scale


def test_factory_builds_it_and_refuses_what_it_cannot_do():
    m = _model()
    assert isinstance(m, SleepFeatureNet) and m.classical and not m.fitted
    assert m.num_features == 2 * len(SLEEP_FEATURE_NAMES)
    with pytest.raises(RuntimeError, match="not fitted.*sigvision train"):
        m(torch.zeros(1, 2, 3000))
    with pytest.raises(ValueError, match="num_classes must be 5"):
        build_model(ModelConfig(name="sleep_features", pretrained=False), 3, in_chans=1)
    with pytest.raises(ValueError, match="takes no meta features"):
        build_model(ModelConfig(name="sleep_features", pretrained=False, meta_features=("age",)), 5, in_chans=1)
    with pytest.raises(ValueError, match="multi-label"):
        m.fit(np.zeros((4, m.num_features)), np.eye(5)[:4], fs_hz=100.0, multilabel=True)
    n = len(SLEEP_FEATURE_NAMES)
    with pytest.raises(ValueError, match=rf"features must have shape \(n, {2 * n}\)"):
        m.fit(np.zeros((4, n)), np.arange(4), fs_hz=100.0, multilabel=False)


def test_fit_predicts_like_the_stager_on_microvolts_and_round_trips(tmp_path):
    x_tr, x_te = _epochs(0) * INPUT_SCALE, _epochs(1) * INPUT_SCALE  # as the signal dataset gives them
    m = SleepFeatureNet(5, 2, min_samples_leaf=5)
    feats = m.features(torch.from_numpy(x_tr), fs_hz=100.0)
    # the features are those of the µV signals, channel after channel
    uv = x_tr.astype(np.float64) / INPUT_SCALE
    n = len(SLEEP_FEATURE_NAMES)
    assert np.allclose(feats[:, :n], sleep_epoch_features(uv[:, 0], 100.0))
    assert np.allclose(feats[:, n:], sleep_epoch_features(uv[:, 1], 100.0))
    fit = m.fit(feats, HYP, fs_hz=100.0, multilabel=False)
    assert m.fitted and fit["constant_classes"] == [] and 0 < fit["train_loss"] < np.log(5)
    with torch.no_grad():
        logits = m(torch.from_numpy(x_te))
    p = torch.softmax(logits, 1).numpy()
    want = SleepFeatureStager(min_samples_leaf=5).fit(feats, HYP).predict_proba(
        m.features(torch.from_numpy(x_te)))
    assert np.allclose(p, np.clip(want, 1e-7, 1) / np.clip(want, 1e-7, 1).sum(1, keepdims=True), atol=1e-5)
    assert (p.argmax(1) == HYP).mean() > 0.6
    # the forest is tensors: a checkpoint loads into a fresh, unfitted model of another size
    torch.save(m.state_dict(), tmp_path / "m.pt")
    fresh = SleepFeatureNet(5, 2)
    fresh.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(fresh(torch.from_numpy(x_te)), logits)
    # a forest fitted on another feature set is refused, not fed the wrong columns
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    with pytest.raises(RuntimeError, match=rf"fitted on {2 * n - 2} features; this sigvision computes {2 * n}"):
        SleepFeatureNet(5, 2).load_state_dict({**saved, "feature_count": torch.tensor(2 * n - 2)})
    older = {k: v for k, v in saved.items() if k != "feature_count"}  # checkpoints from before the count was saved
    with pytest.raises(RuntimeError, match="older feature set"):
        SleepFeatureNet(5, 2).load_state_dict(older)


def test_the_pipeline_trains_infers_blends_and_predicts_with_it(tmp_path, capsys):
    psg = tmp_path / "psg"
    assert main(["synth", "--out", str(psg), "--nights", "4", "--max-epochs", "60", "--seed", "3"]) == 0
    cfg = ["-c", str(REPO / "configs" / "sleep_demo_features.yaml"), "--set", f"data.root={psg}",
           "--set", f"prepared_dir={tmp_path / 'prep'}", "--set", f"weights_dir={tmp_path / 'w'}",
           "--set", f"output_dir={tmp_path / 'runs'}", "--set", "blend.models=[sleep_features]"]
    for step in ("prepare", "train", "infer", "blend", "postprocess"):
        assert main(["--quiet", step, *cfg]) == 0, step
    run = tmp_path / "w" / "sleep_demo"
    assert (run / "sleep_features" / "fold_0" / "best.pt").is_file()
    oof = np.load(run / "preds" / "sleep_features_oof_best.npy")
    assert oof.shape[1] == 5 and np.allclose(oof.sum(1), 1.0, atol=1e-4)
    post = pd.read_csv(run / "files_post.csv")
    assert len(post) == len(oof) and set(post["stage"]) <= {"W", "N1", "N2", "N3", "REM"}
    new = tmp_path / "new"
    assert main(["synth", "--out", str(new), "--nights", "1", "--max-epochs", "40", "--seed", "9"]) == 0
    for f in new.glob("*Hypnogram*"):
        f.unlink()
    assert main(["--quiet", "predict", "--run", str(run), "--input", str(new), "--out", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 40 and np.allclose(pred[["p_W", "p_N1", "p_N2", "p_N3", "p_REM"]].sum(1), 1.0, atol=1e-4)
    # a fold whose forest was fitted on another feature set: one line naming the file and the fix
    from sigvision.errors import InputFileError
    from sigvision.train.checkpoints import load_checkpoint_model

    best = run / "sleep_features" / "fold_0" / "best.pt"
    ck = torch.load(best, weights_only=False)
    ck["model"]["feature_count"] = ck["model"]["feature_count"] - 4
    torch.save(ck, tmp_path / "old.pt")
    with pytest.raises(InputFileError, match=r"old\.pt: its weights do not fit sleep_features.*fix: retrain"):
        load_checkpoint_model(tmp_path / "old.pt")
