import logging
from datetime import timedelta

import numpy as np
import pytest

from sigvision.errors import InputFileError
from sigvision.loaders.hypnogram import Hypnogram
from sigvision.loaders.psg import load_sleep_night, trim_wake_edges
from sigvision.loaders.pairing import pair_sleep_edf_files, subject_of

from tests.conftest import START, write_test_edf, write_test_hypnogram

FS_FILE = 200.0
NAMES = ["Fpz-Cz", "Pz-Oz", "EOG horizontal", "EMG submental"]
WANT = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental"]


def _signals(n_epochs, fs=FS_FILE):
    t = np.arange(int(n_epochs * 30 * fs)) / fs
    epoch_no = np.floor(t / 30.0)
    # EEG: a 2 Hz sine whose amplitude encodes the epoch number (10 + epoch µV)
    eeg = (10.0 + epoch_no) * np.sin(2 * np.pi * 2.0 * t)
    return np.stack([eeg, 0.5 * eeg, 40 * np.sin(2 * np.pi * 0.5 * t), 5 * np.sin(2 * np.pi * 30 * t)])


def _write_pair(d, stages, n_sig_epochs=None, *, hyp_start=START, rid="SC4001E0", hyp_rid="SC4001EC"):
    n_sig_epochs = n_sig_epochs or len(stages)
    psg = write_test_edf(d / f"{rid}-PSG.edf", _signals(n_sig_epochs), FS_FILE, NAMES, record_duration_s=30.0)
    hyp = write_test_hypnogram(d / f"{hyp_rid}-Hypnogram.edf", stages, start=hyp_start)
    return psg, hyp


def test_units_resampling_alignment_and_aliases(tmp_path):
    stages = [0, 0, 1, 2, 2, 3, 4, 2, 0, 0]
    psg, hyp = _write_pair(tmp_path, stages)
    n = load_sleep_night(psg, hyp, channels=WANT, fs_hz=100.0, trim_wake_edges_min=None)
    assert n.epochs.shape == (10, 4, 3000) and n.epochs.dtype == np.float32
    assert n.labels.tolist() == stages
    assert n.onsets_s.tolist() == [30.0 * i for i in range(10)]
    assert n.channel_types == ["eeg", "eeg", "eog", "emg"]
    assert n.units == "uV" and n.fs_hz == 100.0
    # amplitude of epoch i's EEG is 10 + i µV: units survived MNE's volts and resampling
    amp = np.abs(n.epochs[:, 0, 100:-100]).max(axis=1)
    np.testing.assert_allclose(amp, 10.0 + np.arange(10), rtol=0.02)
    assert n.record_id == "SC4001E0" and n.subject_id == "SC400"


def test_millivolt_channels_are_converted(tmp_path):
    sig = _signals(2)
    sig[0] /= 1000.0  # store EEG in mV
    psg = write_test_edf(tmp_path / "a-PSG.edf", sig, FS_FILE, NAMES, dims=["mV", "uV", "uV", "uV"])
    n = load_sleep_night(psg, Hypnogram(np.array([0, 1])), channels=WANT, fs_hz=FS_FILE, trim_wake_edges_min=None)
    np.testing.assert_allclose(np.abs(n.epochs[1, 0]).max(), 11.0, rtol=0.01)


def test_non_voltage_unit_is_refused(tmp_path):
    psg = write_test_edf(tmp_path / "a-PSG.edf", _signals(2), FS_FILE, NAMES, dims=["degC", "uV", "uV", "uV"])
    with pytest.raises(InputFileError, match="not a voltage"):
        load_sleep_night(psg, Hypnogram(np.array([0, 1])), channels=WANT)


def test_movement_and_unscored_excluded_and_counted(tmp_path):
    stages = ["Sleep stage W", "Sleep stage 1", "Movement time", "Sleep stage 2", "Sleep stage ?", "Sleep stage 4"]
    psg, hyp = _write_pair(tmp_path, stages)
    n = load_sleep_night(psg, hyp, channels=WANT, trim_wake_edges_min=None)
    assert n.labels.tolist() == [0, 1, 2, 3]
    assert n.onsets_s.tolist() == [0.0, 30.0, 90.0, 150.0]
    assert n.summary["movement_epochs"] == 1 and n.summary["unscored_epochs"] == 1


def test_trim_long_wake_at_edges(tmp_path):
    stages = [0] * 70 + [2, 2, 3, 4] + [0] * 65
    assert trim_wake_edges(np.array(stages), 60) == (10, 134)
    psg, hyp = _write_pair(tmp_path, stages)
    n = load_sleep_night(psg, hyp, channels=WANT, trim_wake_edges_min=30)
    assert n.n_epochs == 124 and n.onsets_s[0] == 300.0
    assert n.summary["trimmed_wake_epochs"] == 139 - 124


def test_missing_channel_lists_available(tmp_path):
    psg, hyp = _write_pair(tmp_path, [0, 1])
    with pytest.raises(InputFileError) as ei:
        load_sleep_night(psg, hyp, channels=["EEG C4-M1"])
    msg = str(ei.value)
    assert "EEG C4-M1" in msg and "Fpz-Cz" in msg and "SC4001E0-PSG.edf" in msg


def test_hypnogram_longer_than_signal(tmp_path):
    psg, hyp = _write_pair(tmp_path, [0, 1, 2, 2, 2, 3], n_sig_epochs=4)
    with pytest.raises(InputFileError, match="longer than the signal") as ei:
        load_sleep_night(psg, hyp, channels=WANT)
    assert "Hypnogram.edf" in str(ei.value)


def test_hypnogram_shorter_than_signal_and_warn_policy(tmp_path, caplog):
    psg, hyp = _write_pair(tmp_path, [0, 1, 2], n_sig_epochs=6)
    with pytest.raises(InputFileError, match="shorter than the signal"):
        load_sleep_night(psg, hyp, channels=WANT)
    with caplog.at_level(logging.WARNING):
        n = load_sleep_night(psg, hyp, channels=WANT, on_length_mismatch="warn", trim_wake_edges_min=None)
    assert n.n_epochs == 3 and "shorter" in caplog.text


def test_trailing_unscored_beyond_signal_is_fine(tmp_path):
    # Sleep-EDF hypnograms often end with a long 'Sleep stage ?' past the signal's end
    psg, hyp = _write_pair(tmp_path, [0, 1, 2, 2, -1, -1, -1], n_sig_epochs=4)
    n = load_sleep_night(psg, hyp, channels=WANT, trim_wake_edges_min=None)
    assert n.labels.tolist() == [0, 1, 2, 2]


def test_start_time_mismatch(tmp_path):
    psg, hyp = _write_pair(tmp_path, [0, 1, 2, 2], n_sig_epochs=5, hyp_start=START + timedelta(seconds=30))
    with pytest.raises(InputFileError, match="starts \\+30 s after"):
        load_sleep_night(psg, hyp, channels=WANT)
    n = load_sleep_night(psg, hyp, channels=WANT, on_start_mismatch="warn", trim_wake_edges_min=None)
    assert n.onsets_s.tolist() == [30.0, 60.0, 90.0, 120.0]
    np.testing.assert_allclose(np.abs(n.epochs[:, 0, 100:-100]).max(axis=1), [11, 12, 13, 14], rtol=0.02)


def test_truncated_and_corrupt_edf(tmp_path):
    psg, hyp = _write_pair(tmp_path, [0, 1, 2])
    data = psg.read_bytes()
    t = tmp_path / "T-PSG.edf"
    t.write_bytes(data[:100])
    with pytest.raises(InputFileError, match="truncated") as ei:
        load_sleep_night(t, hyp, channels=WANT)
    assert "T-PSG.edf" in str(ei.value)
    c = tmp_path / "C-PSG.edf"
    c.write_bytes(b"X" * 4096)
    with pytest.raises(InputFileError, match="C-PSG.edf"):
        load_sleep_night(c, hyp, channels=WANT)


def test_pairing_sleep_edf_names(tmp_path):
    _write_pair(tmp_path, [0, 1], rid="SC4001E0", hyp_rid="SC4001EC")
    _write_pair(tmp_path, [0, 1], rid="SC4002E0", hyp_rid="SC4002E0")
    pairs = pair_sleep_edf_files(tmp_path)
    assert [(p.name, h.name) for p, h in pairs] == [("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf"),
                                                    ("SC4002E0-PSG.edf", "SC4002E0-Hypnogram.edf")]
    write_test_edf(tmp_path / "SC4011E0-PSG.edf", _signals(1), FS_FILE, NAMES)
    with pytest.raises(InputFileError, match="no hypnogram"):
        pair_sleep_edf_files(tmp_path)


def test_empty_folder(tmp_path):
    with pytest.raises(InputFileError, match="no recordings"):
        pair_sleep_edf_files(tmp_path)


def test_subject_ids():
    assert subject_of("SC4012E0") == "SC401"
    assert subject_of("ST7022J0") == "ST702"
    assert subject_of("night_a") == "night_a"


def test_flat_and_nan_epochs_are_flagged_not_fatal(tmp_path):
    sig = _signals(3)
    sig[:, int(30 * FS_FILE):int(60 * FS_FILE)] = 0.0  # epoch 1 flat on every channel
    psg = write_test_edf(tmp_path / "f-PSG.edf", sig, FS_FILE, NAMES)
    n = load_sleep_night(psg, Hypnogram(np.array([0, 1, 2])), channels=WANT, fs_hz=FS_FILE,
                         trim_wake_edges_min=None)
    assert n.summary["flat_channel_epochs"] >= 1 and np.isfinite(n.epochs).all()


def test_synthetic_sample_goes_through_real_edf_path(synth_dir):
    pairs = pair_sleep_edf_files(synth_dir)
    assert len(pairs) == 2
    n = load_sleep_night(*pairs[0])
    assert n.epochs.shape[1:] == (4, 3000)
    assert set(np.unique(n.labels)) <= {0, 1, 2, 3, 4}
    assert 10 < np.std(n.epochs[:, 0]) < 200  # EEG in µV, not volts


def test_clipped_epochs_are_flagged(tmp_path):
    sig = _signals(3)
    sig[0, int(30 * FS_FILE):int(60 * FS_FILE)] = np.clip(sig[0, int(30 * FS_FILE):int(60 * FS_FILE)] * 50, -100, 100)
    psg = write_test_edf(tmp_path / "c-PSG.edf", sig, FS_FILE, NAMES)
    n = load_sleep_night(psg, Hypnogram(np.array([0, 1, 2])), channels=WANT, fs_hz=FS_FILE, trim_wake_edges_min=None)
    assert n.summary["clipped_channel_epochs"] == 1 and np.isfinite(n.epochs).all()


def test_recordings_need_not_be_named_psg_and_pairing_is_checked(tmp_path, caplog):
    """Any .edf/.bdf/.fif is a recording; the pairing rule is documented and ambiguity refused."""
    from sigvision.synth.edf import write_hypnogram_edf

    sig = _signals(2)
    write_test_edf(tmp_path / "night1.edf", sig, FS_FILE, NAMES)
    (tmp_path / "night1-hypnogram.TXT").write_text("W\nN1\n")
    write_test_edf(tmp_path / "night2.edf", sig, FS_FILE, NAMES)
    (tmp_path / "night2.txt").write_text("Stage\nW\nN2\n")  # a text hypnogram with the recording's name
    write_test_edf(tmp_path / "night3_PSG.edf", sig, FS_FILE, NAMES)
    write_hypnogram_edf(tmp_path / "night3.edf", [0, 0])  # annotation-only EDF+: a hypnogram, not a recording
    _write_pair(tmp_path, [0, 1], rid="SC4001E0", hyp_rid="SC4001EC")
    (tmp_path / "README.txt").write_text("not a hypnogram")
    pairs = {p.name: h.name for p, h in pair_sleep_edf_files(tmp_path)}
    assert pairs == {"night1.edf": "night1-hypnogram.TXT", "night2.edf": "night2.txt",
                     "night3_PSG.edf": "night3.edf", "SC4001E0-PSG.edf": "SC4001EC-Hypnogram.edf"}
    assert [h for _, h in pair_sleep_edf_files(tmp_path, use_hypnograms=False)] == [None] * 4
    assert [p.name for p, _ in pair_sleep_edf_files(tmp_path, pattern="night*")] == \
        ["night1.edf", "night2.edf", "night3_PSG.edf"]
    n = load_sleep_night(tmp_path / "night2.edf", tmp_path / "night2.txt", channels=WANT, trim_wake_edges_min=None)
    assert n.labels.tolist() == [0, 2] and n.record_id == "night2"

    # two hypnograms for one recording: the .edf used to win silently
    write_test_hypnogram(tmp_path / "SC4001E0-Hypnogram.edf", [0, 1])
    with pytest.raises(InputFileError) as ei:
        pair_sleep_edf_files(tmp_path)
    msg = str(ei.value)
    assert "SC4001E0-PSG.edf: 2 hypnograms pair with this recording" in msg
    assert "SC4001E0-Hypnogram.edf" in msg and "SC4001EC-Hypnogram.edf" in msg
    (tmp_path / "SC4001E0-Hypnogram.edf").unlink()

    # one hypnogram for two recordings (Sleep-EDF's last-character rule)
    write_test_edf(tmp_path / "SC4001E1-PSG.edf", sig, FS_FILE, NAMES)
    with pytest.raises(InputFileError, match="SC4001EC-Hypnogram.edf: pairs with 2 recordings: SC4001E0-PSG.edf, "
                                             "SC4001E1-PSG.edf"):
        pair_sleep_edf_files(tmp_path)
    (tmp_path / "SC4001E1-PSG.edf").unlink()

    # two recordings with one record id
    write_test_edf(tmp_path / "night1-PSG.edf", sig, FS_FILE, NAMES)
    with pytest.raises(InputFileError, match="two recordings have the record id .night1.*data.file_pattern=.\\*-PSG.edf."):
        pair_sleep_edf_files(tmp_path)
    (tmp_path / "night1-PSG.edf").unlink()

    # a hypnogram of no recording is named in a warning
    (tmp_path / "other-Hypnogram.txt").write_text("W\n")
    with caplog.at_level(logging.WARNING):
        pair_sleep_edf_files(tmp_path)
    assert "other-Hypnogram.txt pair with no recording" in caplog.text


def test_fif_recordings_are_read_through_mne(tmp_path):
    import mne

    psg, hyp = _write_pair(tmp_path, [0, 1, 2, 2])
    raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
    raw.set_channel_types({"Fpz-Cz": "eeg", "Pz-Oz": "eeg", "EOG horizontal": "eog", "EMG submental": "emg"})
    raw.save(tmp_path / "SC4001E0-PSG_raw.fif", verbose="error")
    psg.unlink()
    a = load_sleep_night(tmp_path / "SC4001E0-PSG_raw.fif", None, channels=WANT, fs_hz=100.0)
    assert a.epochs.shape == (4, 4, 3000) and a.quality == ["ok"] * 4
    amp = np.abs(a.epochs[:, 0, 100:-100]).max(axis=1)
    np.testing.assert_allclose(amp, 10.0 + np.arange(4), rtol=0.02)  # µV, as from the EDF
    assert [p.name for p, _ in pair_sleep_edf_files(tmp_path, require_hypnogram=False)] == ["SC4001E0-PSG_raw.fif"]


def test_aasm_channel_names_and_user_aliases(tmp_path):
    from sigvision.loaders.psg import find_channels

    have = ["C3-M2", "C4-M1", "E1-M2", "E2-M1", "Chin1-Chin2", "F4-M1", "O2-M1"]
    assert find_channels(have, ["EEG C4-M1", "EEG F4-M1", "EOG horizontal", "EOG E2-M1", "EMG submental"]) == \
        ["C4-M1", "F4-M1", "E1-M2", "E2-M1", "Chin1-Chin2"]
    # data.channel_aliases extends the table (it used to replace a channel's defaults)
    assert find_channels(have + ["Fp1-M2"], ["EEG Fpz-Cz", "EOG horizontal"],
                         aliases={"EEG Fpz-Cz": ["Fp1-M2"], "EOG horizontal": ["LOC"]}) == ["Fp1-M2", "E1-M2"]
