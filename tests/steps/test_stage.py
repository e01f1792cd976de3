"""sigvision.steps.stage: stage an mne Raw / a NumPy array with a trained run; hypnograms for
YASA (integers) and Sleep-EDF tools (EDF+ annotations)."""
import shutil
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from sigvision.errors import InputFileError
from sigvision.steps.stage import load_signals, stage, to_stage_codes, write_hypnogram_edfplus, write_hypnogram_txt

from tests.report.test_html import trained_sleep_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return trained_sleep_run(tmp_path_factory)


@pytest.fixture(scope="module")
def night(run):
    _, base = run
    psg = sorted((base / "psg").glob("*-PSG.edf"))[0]
    hyp = psg.with_name(psg.name.replace("-PSG.edf", "-Hypnogram.edf"))
    return psg, hyp


def test_stage_raw_matches_predict_and_array(run, night, tmp_path):
    import mne

    from sigvision.steps.predict import predict_folder

    cfg, _ = run
    psg, hyp = night
    raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
    stages, probs = stage(raw, run_dir=cfg.run_path, return_probs=True)
    n = int(raw.n_times // (30 * raw.info["sfreq"]))
    assert stages.shape == (n,) and stages.dtype == np.int64 and set(np.unique(stages)) <= set(range(5))
    assert probs.shape == (n, 5) and np.allclose(probs.sum(1), 1, atol=1e-6)

    # the same night through `sigvision predict` (EDF folder -> files_post.csv) gives the same stages
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(psg, folder)
    shutil.copy(hyp, folder)
    post = pd.read_csv(predict_folder(cfg.run_path, folder, tmp_path / "p.csv"))
    idx = (post["onset_s"].to_numpy() / 30).round().astype(int)
    np.testing.assert_array_equal(stages[idx], post["stage_code"].to_numpy())

    # a NumPy array in µV with aliased channel names (EOG, Chin ...) in another row order
    data = raw.get_data(units="uV")
    order = [3, 1, 0, 2]
    names = ["Chin", "Pz-Oz", "Fpz-Cz", "EOG"]  # aliases of EMG submental, EEG Pz-Oz, EEG Fpz-Cz, EOG horizontal
    s2, p2 = stage(data[order], run_dir=cfg.run_path, fs_hz=raw.info["sfreq"], channels=names,
                   channel_types=["emg", "eeg", "eeg", "eog"], return_probs=True)
    np.testing.assert_array_equal(s2, stages)
    np.testing.assert_allclose(p2, probs, atol=1e-5)

    # a Raw with renamed channels, mapped explicitly
    raw2 = raw.copy().rename_channels({c: f"ch{i}" for i, c in enumerate(raw.ch_names)})
    s3 = stage(raw2, run_dir=cfg.run_path, channels=["ch0", "ch1", "ch2", "ch3"])
    np.testing.assert_array_equal(s3, stages)


def test_stage_input_errors(run, night):
    import mne

    cfg, _ = run
    raw = mne.io.read_raw_edf(night[0], preload=True, verbose="error")
    data = raw.get_data(units="uV")
    names = list(raw.ch_names)
    with pytest.raises(ValueError, match="fs_hz"):
        stage(data, run_dir=cfg.run_path, channels=names)
    with pytest.raises(ValueError, match="channels="):
        stage(data, run_dir=cfg.run_path, fs_hz=100)
    with pytest.raises(ValueError, match="look like volts; multiply by 1e6"):
        stage(data * 1e-6, run_dir=cfg.run_path, fs_hz=100, channels=names)
    with pytest.raises(ValueError, match="transpose"):
        stage(data.T, run_dir=cfg.run_path, fs_hz=100, channels=names)
    with pytest.raises(InputFileError, match="EMG submental not found.*Fpz-Cz"):
        stage(data[:3], run_dir=cfg.run_path, fs_hz=100, channels=names[:3])
    with pytest.raises(ValueError, match="run uses it as EEG Fpz-Cz"):
        stage(data, run_dir=cfg.run_path, fs_hz=100, channels=names, channel_types=["eog", "eeg", "eog", "emg"])
    with pytest.raises(ValueError, match="shorter than one 30-s epoch"):
        stage(data[:, :1000], run_dir=cfg.run_path, fs_hz=100, channels=names)
    with pytest.raises(ValueError, match="sampled at 100 Hz"):
        stage(raw, run_dir=cfg.run_path, fs_hz=256)
    with pytest.raises(InputFileError, match="not in the Raw"):
        stage(raw, run_dir=cfg.run_path, channels=["a", "b", "c", "d"])
    with pytest.raises(InputFileError, match="run folder not found"):
        stage(raw, run_dir=cfg.run_path.parent / "nope")
    with pytest.raises(InputFileError, match="no blend report"):
        stage(raw, run_dir=cfg.run_path / "test_vit")


def test_load_signals_resamples_nothing_and_keeps_uv(run, night):
    import mne

    cfg, _ = run
    raw = mne.io.read_raw_edf(night[0], preload=True, verbose="error")
    x, fs = load_signals(raw, cfg.data)
    assert fs == 100.0 and x.dtype == np.float32 and x.shape == (4, raw.n_times)
    assert 5 < np.std(x[0]) < 500  # EEG in µV, not volts
    y, _ = load_signals(np.where(np.arange(raw.n_times) == 5, np.nan, raw.get_data(units="uV")), cfg.data,
                        fs_hz=100, channels=raw.ch_names)
    assert np.isfinite(y).all() and y[0, 5] == 0


def test_yasa_integer_hypnogram_round_trip(tmp_path):
    from sigvision.loaders.hypnogram import read_hypnogram

    stages = np.array([0, 0, 1, 2, 2, 3, 4, 4, 0])
    p = write_hypnogram_txt(tmp_path / "hypno.txt", stages)
    assert p.read_text() == "0\n0\n1\n2\n2\n3\n4\n4\n0\n"
    np.testing.assert_array_equal(np.loadtxt(p, dtype=int), stages)
    np.testing.assert_array_equal(read_hypnogram(p).stages, stages)
    # labels, unscored and movement (YASA: -2 Uns, -1 Art)
    p = write_hypnogram_txt(tmp_path / "h2.txt", ["W", "N1", "Sleep stage 2", "REM", "?", "M"])
    assert p.read_text().split() == ["0", "1", "2", "4", "-2", "-1"]
    # YASA's integer coding: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 artefact, -2 unscored
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "h2.txt", dtype=int), [0, 1, 2, 4, -2, -1])
    for bad, match in (([], "empty"), ([7], "code 7"), (["X"], "unknown stage label"), ([1.5], "not a stage code"),
                       ("W", "single string")):
        with pytest.raises(ValueError, match=match):
            write_hypnogram_txt(tmp_path / "bad.txt", bad)
    assert not (tmp_path / "bad.txt").exists()


def test_edfplus_hypnogram_pairs_with_the_psg(run, night, tmp_path):
    import mne

    from sigvision.loaders.hypnogram import read_hypnogram
    from sigvision.loaders.psg import load_sleep_night

    cfg, _ = run
    psg, _ = night
    raw = mne.io.read_raw_edf(psg, preload=False, verbose="error")
    stages = stage(raw, run_dir=cfg.run_path)
    hyp = write_hypnogram_edfplus(tmp_path / "SYN-Hypnogram.edf", stages, raw.info["meas_date"])
    ann = mne.read_annotations(hyp)
    assert set(ann.description) <= {"Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3",
                                    "Sleep stage R"}
    assert ann.duration.sum() == 30 * len(stages) and ann.onset[0] == 0
    np.testing.assert_array_equal(read_hypnogram(hyp).stages, stages)
    # Sleep-EDF tools pair it with the recording: start times agree, every epoch aligned
    n = load_sleep_night(psg, hyp, trim_wake_edges_min=None)
    np.testing.assert_array_equal(n.labels, stages)

    codes = [0, 1, -1, -2, 4]
    p = write_hypnogram_edfplus(tmp_path / "h.edf", codes, datetime(2021, 3, 4, 22, 15, tzinfo=timezone.utc))
    assert list(mne.read_annotations(p).description) == ["Sleep stage W", "Sleep stage 1", "Sleep stage ?",
                                                          "Movement time", "Sleep stage R"]
    with pytest.raises(ValueError, match="datetime"):
        write_hypnogram_edfplus(tmp_path / "x.edf", codes, "2021-03-04")


def test_to_stage_codes():
    np.testing.assert_array_equal(to_stage_codes(["W", "n2", "R", 3, 1.0, "Movement time"]), [0, 2, 4, 3, 1, -2])
    np.testing.assert_array_equal(to_stage_codes(np.array([4, 0, -1])), [4, 0, -1])
    with pytest.raises(ValueError, match="boolean"):
        to_stage_codes([True])


def test_stage_and_predict_apply_the_runs_tta_shifts(run, night, tmp_path):
    """A run whose config sets infer.tta_shifts_s: its OOF predictions (and so its blend weights)
    average the shifted passes; `predict` and stage() ignored them and gave other probabilities."""
    import mne
    import yaml

    from sigvision.steps.predict import predict_folder

    cfg, _ = run
    psg, hyp = night
    tta_run = tmp_path / "weights" / cfg.run_path.name
    shutil.copytree(cfg.run_path, tta_run)
    for conf in tta_run.glob("*/config.yaml"):
        d = yaml.safe_load(conf.read_text())
        d.setdefault("infer", {})["tta_shifts_s"] = [6.0]
        conf.write_text(yaml.safe_dump(d))
    raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
    _, plain = stage(raw, run_dir=cfg.run_path, return_probs=True)
    stages, probs = stage(raw, run_dir=tta_run, return_probs=True)
    assert probs.shape == plain.shape and not np.allclose(probs, plain, atol=1e-4)
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(psg, folder)
    shutil.copy(hyp, folder)
    post = pd.read_csv(predict_folder(tta_run, folder, tmp_path / "p.csv"))
    idx = (post["onset_s"].to_numpy() / 30).round().astype(int)
    np.testing.assert_array_equal(stages[idx], post["stage_code"].to_numpy())
