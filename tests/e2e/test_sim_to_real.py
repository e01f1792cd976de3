"""benchmarks/sim_to_real.py and configs/sleep_sim2real.yaml: channel slots by alias across
montages, the real excerpt shipped as a fixture, DREAMS conversion, the end-to-end run."""
from __future__ import annotations

import json
import sys

import mne
import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks import sim_to_real as s2r  # noqa: E402
from sigvision.config.load import load_config
from sigvision.loaders.psg import load_sleep_night
from sigvision.loaders.pairing import pair_sleep_edf_files
from sigvision.synth.montages import MONTAGES
from sigvision.synth.generator import synthesize_night
from sigvision.synth.nights import write_synthetic_night

CFG = REPO / "configs" / "sleep_sim2real.yaml"


@pytest.mark.parametrize("montage, eeg", [("sleep_edf", "EEG Fpz-Cz"), ("aasm", "EEG C4-M1"),
                                           ("aasm_left", "EEG C3-M2"), ("central", "EEG C3-A2"),
                                           ("cz", "EEG Cz-A1"), ("frontal", "EEG F4-M1")])
def test_the_eeg_slot_reads_central_before_frontal(tmp_path, montage, eeg):
    """One model config reads every montage: the EEG slot takes the central lead when there is
    one (C3-M2, C4-M1, C3-A2, Cz-A1), else the frontal one; EOG and EMG slots likewise."""
    cfg = load_config(CFG)
    hyp = np.array([0, 0, 2, 2, 3, 4])
    psg, hp = write_synthetic_night(tmp_path, "N", hyp, seed=3, montage=montage)
    night = load_sleep_night(psg, hp, channels=cfg.data.channels, aliases=cfg.data.channel_aliases,
                             trim_wake_edges_min=None)
    ref = synthesize_night(hyp, seed=3, montage=montage)
    row = ref.channel_names.index(eeg)
    np.testing.assert_allclose(night.epochs[:, 0].ravel(), ref.signals[row], atol=0.05)
    assert night.channel_types == ["eeg", "eog", "emg"]
    names = mne.io.read_raw_edf(psg, verbose="error").ch_names
    assert s2r.resolve_slot(names, list(cfg.data.channel_aliases["EEG"])) == eeg


def test_every_montage_fills_every_slot():
    cfg = load_config(CFG)
    for montage, spec in MONTAGES.items():
        names = [c for c, _, _ in spec]
        for slot in s2r.SLOTS:
            assert s2r.resolve_slot(names, list(cfg.data.channel_aliases[slot])), (montage, slot)
    # other systems' spellings (Nox A1, DREAMS, older EDF exports) are found too
    assert s2r.resolve_slot(["C3", "C3-M2", "E1-M2"], list(cfg.data.channel_aliases["EEG"])) == "C3-M2"
    assert s2r.resolve_slot(["CZ-A1"], list(cfg.data.channel_aliases["EEG"])) == "CZ-A1"
    assert s2r.resolve_slot(["Resp"], list(cfg.data.channel_aliases["EEG"])) is None


def test_shipped_real_excerpt_pairs_and_loads():
    """The real Sleep-EDF excerpt: 300 s of signal, a whole-night hypnogram; the overlap is
    10 scored wake epochs, and its 1-Hz EMG envelope is read like the synthetic one."""
    cfg = load_config(CFG)
    (psg, hyp), = pair_sleep_edf_files(s2r.DEFAULT_REAL, pattern="*-PSG.edf")
    night = load_sleep_night(psg, hyp, channels=cfg.data.channels, aliases=cfg.data.channel_aliases,
                             trim_wake_edges_min=None, on_length_mismatch="ignore",
                             on_low_sampling_rate="ignore")
    assert night.labels.tolist() == [0] * 10
    assert night.epochs.shape == (10, 3, 3000)
    assert s2r.kappa_or_none(night.labels, night.labels) is None  # one stage: kappa undefined


def test_dreams_conversion(tmp_path):
    src = tmp_path / "DatabaseSpindles"
    src.mkdir()
    rng = np.random.default_rng(0)
    fs = 50
    x = rng.normal(0, 10, 90 * 5 * fs)  # 90 five-second labels = 15 epochs of 30 s
    np.savetxt(src / "excerpt1.txt", x, header="[CZ-A1]", comments="", fmt="%.4f")
    codes = np.array([5] * 12 + [3] * 6 + [2] * 40 + [1] * 8 + [0] * 10 + [4] * 14)
    np.savetxt(src / "Hypnogram_excerpt1.txt", codes, header="[hypnogram]", comments="", fmt="%d")
    out = tmp_path / "edf"
    s2r.convert_dreams(src, out)
    (psg, hyp), = pair_sleep_edf_files(out)
    from sigvision.loaders.hypnogram import read_hypnogram

    assert read_hypnogram(hyp).stages.tolist() == [0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4]
    raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
    assert raw.ch_names == ["CZ-A1"] and raw.info["sfreq"] == fs
    np.testing.assert_allclose(raw.get_data()[0] * 1e6, x, atol=0.05)
    # 5-s labels: ties go to the earlier label, epochs without a stage are unscored
    assert s2r.dreams_epochs(np.array([2, 2, 2, 3, 3, 3])).tolist() == [2]
    assert s2r.dreams_epochs(np.array([-1] * 6)).tolist() == [-1]


def test_end_to_end_on_the_shipped_excerpt(tmp_path, capsys):
    """Tiny run: synthetic training nights -> model -> the real excerpt; kappa is reported
    as undefined (one stage) with the accuracy instead, for every post-processing method."""
    rc = s2r.main(["--nights", "3", "--feature-nights", "4", "--epochs-per-night", "20", "--no-yasa",
                   "--keep", str(tmp_path / "w"),
                   "--set", "train.epochs=1", "--set", "render.width=32", "--set", "render.height=32",
                   "--set", "render.context_epochs=1"])
    assert rc == 0
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert res["n_records"] == 1 and res["n_epochs"] == 10 and res["slots"] == ["EEG", "EOG", "EMG"]
    assert res["kappa_pooled"] is None and 0.0 <= res["accuracy_pooled"] <= 1.0
    assert "kappa is undefined here" in out
    rec = res["per_record"]["SC4001E0"]
    assert set(rec["postprocess_accuracy"]) == set(s2r.METHODS)
    # the feature stager, fitted on the same synthetic epochs, is reported beside ours
    assert 0.0 <= res["features_accuracy_pooled"] <= 1.0 and set(rec["features_postprocess_accuracy"]) == set(s2r.METHODS)
    assert "feat_k" in out and "confusion, features" in out
    assert isinstance(res["flags"], list) and all(f"WARNING: {f}" in out for f in res["flags"])
    d = np.load(tmp_path / "w" / "real_probs.npz")
    assert d["features_probs"].shape == d["probs"].shape == (10, 5)
    assert np.allclose(d["features_probs"].sum(1), 1.0)
    assert res["features_accuracy_pooled"] == pytest.approx(np.mean(d["features_probs"].argmax(1) == d["labels"]))
    # --feature-nights 4: the feature stager fitted on a set of its own, 4 nights of 20 epochs
    from sigvision.io.runs import load_prepared

    own, _ = load_prepared(tmp_path / "w" / "prepared_synth_features")
    assert own["record"].nunique() == 4 and len(own) == 80
    assert "trained on 4 synthetic nights" in out and res["feature_nights"] == 4
    assert load_prepared(tmp_path / "w" / "prepared_synth")[0]["record"].nunique() == 3
    # only its signals are kept: no image cache, no EDF copies
    assert (tmp_path / "w" / "prepared_synth_features" / "signals").is_dir()
    assert not (tmp_path / "w" / "prepared_synth_features" / "cache").exists()
    assert not (tmp_path / "w" / "synthetic_features").exists()


def test_feature_stager_reads_the_eeg_slot_of_each_prepared_record(tmp_path):
    """prepared_eeg_features takes the EEG row by the record's channel list, in the rows' order."""
    import pandas as pd

    t = np.arange(3000) / 100.0
    alpha, delta = 20 * np.sin(2 * np.pi * 10 * t), 20 * np.sin(2 * np.pi * 2 * t)
    (tmp_path / "signals").mkdir()
    np.save(tmp_path / "signals" / "a.npy", np.stack([np.stack([delta, alpha])] * 2).astype(np.float32))  # EOG, EEG
    np.save(tmp_path / "signals" / "b.npy", np.stack([np.stack([delta, alpha])] * 3).astype(np.float32))  # EEG, EOG
    pd.DataFrame({"record": ["a", "b"], "channels": ["EOG;EEG", "EEG;EOG"], "fs_hz": [100.0, 100.0]}).to_csv(
        tmp_path / "records.csv", index=False)
    rows = pd.DataFrame({"record": ["b", "a", "b"], "epoch": [2, 1, 0]})
    from sigvision.baselines.sleep import SLEEP_FEATURE_NAMES

    f = s2r.prepared_eeg_features(tmp_path, rows)
    alpha_col = SLEEP_FEATURE_NAMES.index("rel_alpha")
    assert f.shape == (3, len(SLEEP_FEATURE_NAMES))
    assert f[:, alpha_col].round(1).tolist() == [0.0, 1.0, 0.0]  # b's EEG is the delta row, a's the alpha row
    (tmp_path / "signals" / "a.npy").unlink()
    with pytest.raises(SystemExit, match="a.npy: missing.*prepare.save_signals"):
        s2r.prepared_eeg_features(tmp_path, rows)


@pytest.mark.parametrize("name, region", [("C3-A1", "central"), ("CZ-A1", "central"), ("EEG C4-M1", "central"),
                                          ("EEG Fpz-Cz", "frontal"), ("F4-M1", "frontal"), ("O2-M1", "occipital"),
                                          ("EEG Pz-Oz", "occipital"), ("EEG", None), ("Chin", None), ("Cheek", None)])
def test_channel_region(name, region):
    assert s2r.channel_region(name) == region


def test_matched_montages_follow_the_real_eeg_region():
    """--montage matched: training nights whose EEG slot (read with the same aliases) lies in the
    real leads' scalp region; every random montage when a real lead's region is unknown."""
    from sigvision.synth.montages import RANDOM_MONTAGES

    aliases = list(load_config(CFG).data.channel_aliases["EEG"])
    assert s2r.matched_montages(["C3-A1", "CZ-A1"], aliases) == ("aasm", "aasm_left", "central", "cz")
    assert s2r.matched_montages(["EEG Fpz-Cz"], aliases) == ("sleep_edf", "sleep_edf_sc", "frontal")
    assert s2r.matched_montages(["C3-A1", "EEG"], aliases) == RANDOM_MONTAGES


def test_training_set_with_matched_montages_and_wide_randomisation(tmp_path):
    """Nights drawn from a montage set hold a central EEG lead; --randomize wide passes its own
    per-night parameters (all known to the generator) without changing the hypnograms drawn."""
    s2r.synthesize_training_set(tmp_path / "a", 3, 12, 0, ("central", "cz"), 0.0, randomize="wide")
    assert s2r.synthesize_training_set(tmp_path / "b", 3, 12, 0, "random", 0.0) == 3  # nights written
    pa, pb = pair_sleep_edf_files(tmp_path / "a"), pair_sleep_edf_files(tmp_path / "b")
    assert [p.name for p, _ in pa] == [p.name for p, _ in pb]
    for psg, _ in pa:
        names = mne.io.read_raw_edf(psg, verbose="error").ch_names
        assert s2r.channel_region(s2r.resolve_slot(names, list(load_config(CFG).data.channel_aliases["EEG"]))) \
            == "central"
    p1 = s2r.wide_params(np.random.default_rng([0, 17, 1]))
    assert p1 == s2r.wide_params(np.random.default_rng([0, 17, 1])) and set(p1) == set(s2r.WIDE_RANDOMIZATION)
    assert 0.1 <= p1["hp_hz"] <= 1.0 and 15.0 <= p1["lp_hz"] <= 45.0
    night = synthesize_night(np.array([0, 2, 3]), seed=1, params=p1)  # every key is a generator parameter
    assert night.params["lp_hz"] == p1["lp_hz"]


def test_training_nights_of_random_length_lie_in_the_sleep_period(tmp_path):
    """--epochs-per-night MIN-MAX: each night a random length in the range, drawn inside the
    sleep period (no all-wake excerpt of a 24-h Sleep-EDF recording)."""
    from sigvision.loaders.hypnogram import read_hypnogram

    s2r.synthesize_training_set(tmp_path, 5, 40, 0, "cz", 0.0, min_epochs=20)
    lengths = []
    for _, hyp in pair_sleep_edf_files(tmp_path):
        st = read_hypnogram(hyp).stages
        lengths.append(st.size)
        assert np.isin(st, [1, 2, 3, 4]).any()
    assert all(20 <= n <= 40 for n in lengths) and len(set(lengths)) > 1
    with pytest.raises(SystemExit):
        s2r.main(["--epochs-per-night", "300-60"])
    for flag in ("--nights", "--feature-nights"):
        with pytest.raises(SystemExit):
            s2r.main([flag, "0"])


def test_adapt_bn_end_to_end_and_a_model_without_batchnorm(tmp_path, capsys):
    """--adapt-bn record: a BatchNorm model's statistics are re-estimated on each real
    recording before it is staged; a model without BatchNorm is refused before training."""
    with pytest.raises(SystemExit, match="test_vit has no BatchNorm.*fix: --set model.name=test_efficientnet"):
        s2r.main(["--nights", "3", "--feature-nights", "3", "--no-yasa", "--adapt-bn", "record"])
    rc = s2r.main(["--nights", "3", "--feature-nights", "3", "--epochs-per-night", "20", "--no-yasa",
                   "--keep", str(tmp_path / "w"),
                   "--adapt-bn", "record", "--set", "model.name=test_efficientnet", "--set", "train.epochs=1",
                   "--set", "render.width=32", "--set", "render.height=32", "--set", "render.context_epochs=1"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n_epochs"] == 10 and 0.0 <= res["accuracy_pooled"] <= 1.0
    probs = np.load(tmp_path / "w" / "real_probs.npz")["probs"]
    assert probs.shape == (10, 5) and np.allclose(probs.sum(1), 1.0, atol=1e-4)


def test_keep_saves_the_reference_probabilities_aligned_with_the_epochs(tmp_path, capsys, monkeypatch):
    """--keep stores YASA's probabilities next to ours, row for row (the reference stager is
    replaced here by a fixed one: yasa is a benchmark-only dependency)."""
    ref = np.tile(np.eye(5)[[0, 2]], (6, 1))  # 12 epochs from the file start: W, N2, W, N2, ...
    monkeypatch.setattr(s2r, "yasa_probs", lambda psg, names: (ref, 100.0))
    rc = s2r.main(["--nights", "3", "--feature-nights", "3", "--epochs-per-night", "20", "--keep", str(tmp_path / "w"),
                   "--set", "train.epochs=1", "--set", "render.width=32", "--set", "render.height=32",
                   "--set", "render.context_epochs=1"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    d = np.load(tmp_path / "w" / "real_probs.npz")
    assert d["yasa_probs"].shape == d["probs"].shape == d["features_probs"].shape == (10, 5)
    # the excerpt's 10 scored epochs are all wake: the reference is right on every other one
    assert res["yasa_accuracy_pooled"] == pytest.approx(np.mean(d["yasa_probs"].argmax(1) == d["labels"]))
    assert 0.0 < res["yasa_accuracy_pooled"] < 1.0


def test_stage_flags_name_degenerate_staging():
    truth = np.array([0] * 6 + [1] * 4 + [2] * 10)
    assert s2r.stage_flags("ours", truth, truth) == []
    one = s2r.stage_flags("ours", truth, np.full(20, 2))
    assert one[0] == "ours predicts N2 for every one of the 20 epochs"
    assert one[1] == "ours finds none of the 6 true W epochs (called N2 6)"
    assert len(one) == 2  # N1 has 4 epochs, under the 5 that make a flag
    missed = s2r.stage_flags("feat", truth, np.array([1] * 3 + [4] * 3 + [1] * 4 + [2] * 10))
    assert missed == ["feat finds none of the 6 true W epochs (called N1 3, REM 3)"]
