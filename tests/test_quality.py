"""Signal quality (sigvision.quality) and the loaders that use it: flat, clipped, non-finite
and implausibly scaled signals are flagged per epoch and channel, never staged silently;
truncated EDFs are refused as damaged; EDF units are read case-insensitively."""
from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from sigvision.errors import ConfigError, InputFileError
from sigvision.loaders.psg import load_sleep_night
from sigvision.quality import (AMPLITUDE, CLIPPED, FLAT, NONFINITE, amplitude_bounds_for, apply_policy, assess,
                               parse_labels)

from tests.conftest import write_test_edf, write_test_hypnogram

FS = 100.0
NAMES = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental"]
TYPES = ["eeg", "eeg", "eog", "emg"]


def _sig(n_epochs, seed=0):
    """EEG/EOG/EMG-like noise in µV (std about 20, 20, 40, 5)."""
    rng = np.random.default_rng(seed)
    n = int(n_epochs * 30 * FS)
    return rng.normal(0, 1, (4, n)) * np.array([20, 20, 40, 5])[:, None]


def _epochs(sig):
    return sig.reshape(4, -1, int(30 * FS)).transpose(1, 0, 2)


# ---------------------------------------------------------------------------- pure functions
def test_assess_flags_each_kind_per_epoch_and_channel():
    sig = _sig(6)
    x = _epochs(sig).copy()
    x[1, 3] = 0.0                      # flat EMG
    x[2, 0, :2000] = 80.0              # EEG stuck at its upper limit for 2/3 of the epoch
    x[3, 1, 10] = np.nan               # one NaN sample
    x[4, 2] *= 1000                    # EOG 1000x too large (mV read as µV)
    rails = np.array([[-80, 80], [-200, 200], [-1e6, 1e6], [-50, 50]], float)
    q = assess(x, TYPES, unit="uV", names=NAMES, rails=rails)
    assert q.flags[0].sum() == 0 and q.flags[5].sum() == 0
    assert q.flags[1, 3] == FLAT and q.flags[2, 0] == CLIPPED and q.flags[3, 1] == NONFINITE
    assert q.flags[4, 2] == AMPLITUDE
    assert q.labels() == ["ok", "flat:EMG submental", "clipped:EEG Fpz-Cz", "nonfinite:EEG Pz-Oz",
                          "amplitude:EOG horizontal", "ok"]
    assert parse_labels(q.labels()) == {"flat": {"EMG submental": 1}, "clipped": {"EEG Fpz-Cz": 1},
                                        "nonfinite": {"EEG Pz-Oz": 1}, "amplitude": {"EOG horizontal": 1}}
    assert "EOG horizontal (1; std up to" in q.describe() and "plausible 0.5-2000 µV" in q.describe()


def test_a_channel_stuck_at_a_limit_is_clipped_never_flat():
    """The issue: clipped epochs were counted as flat. A whole epoch at the physical maximum
    has a peak-to-peak of 0, yet it is clipped."""
    x = _epochs(_sig(3)).copy()
    x[:, 0] = 192.0  # the whole night at Sleep-EDF's EEG physical maximum
    q = assess(x, TYPES, unit="uV", names=NAMES, rails=np.array([[-192, 192]] * 4, float))
    assert (q.flags[:, 0] == CLIPPED).all()
    # without the file's limits, a channel constant all night cannot be told from a flat one
    q = assess(x, TYPES, unit="uV", names=NAMES)
    assert (q.flags[:, 0] == FLAT).all()


def test_the_peaks_of_a_wave_are_not_clipping():
    t = np.arange(int(30 * 200)) / 200
    for f in (0.5, 2.0, 30.0):  # a 30-Hz sine at 200 Hz hits its exact maximum every 20 samples
        x = (40 * np.sin(2 * np.pi * f * t))[None, None, :]
        assert assess(x, ["eog"], unit="uV", rails=np.array([[-40, 40]], float)).flags.sum() == 0
        assert assess(x, ["eog"], unit="uV").flags.sum() == 0


def test_amplitude_bounds_per_type_and_unit():
    assert amplitude_bounds_for("eeg", "uV") == (0.5, 1000.0)
    assert amplitude_bounds_for("ecg", "uV") == (5.0, 10000.0)  # ECG bounds are given in mV
    assert amplitude_bounds_for("ecg", "mV", {"ecg_mv": [0.01, 3]}) == (0.01, 3.0)
    assert amplitude_bounds_for("other", "uV") is None
    from sigvision.config.load import load_config

    with pytest.raises(ConfigError, match="amplitude_bounds.eeg"):
        load_config(None, ["data.amplitude_bounds={eeg: [1, 2]}"])
    with pytest.raises(ConfigError, match="0 <= low < high"):
        load_config(None, ["data.amplitude_bounds={eeg_uv: [5, 2]}"])


def test_policy_flag_drop_raise_and_mostly_unusable(caplog):
    x = _epochs(_sig(10)).copy()
    x[:3, 3] = 0.0
    q = assess(x, TYPES, unit="uV", names=NAMES)
    with caplog.at_level(logging.WARNING):
        assert apply_policy(q, policy="flag", max_bad_fraction=0.5, source="n.edf").all()
    assert "3 of 10 epochs have bad signals (flat: EMG submental (3))" in caplog.text
    assert apply_policy(q, policy="drop", max_bad_fraction=0.5, source="n.edf").tolist() == [False] * 3 + [True] * 7
    with pytest.raises(InputFileError, match="n.edf: 3 of 10 epochs .* --set data.on_bad_signal=flag"):
        apply_policy(q, policy="raise", max_bad_fraction=0.5, source="n.edf")
    with pytest.raises(InputFileError, match="mostly unusable: 3 of 10 .*max_bad_fraction=1.0"):
        apply_policy(q, policy="flag", max_bad_fraction=0.2, source="n.edf", syntax="python")


# ---------------------------------------------------------------------------- EDF files
def test_all_zero_night_is_refused_naming_file_and_channels(tmp_path):
    sig = np.zeros((4, int(6 * 30 * FS)))
    psg = write_test_edf(tmp_path / "z-PSG.edf", sig, FS, NAMES, record_duration_s=30.0)
    with pytest.raises(InputFileError) as ei:
        load_sleep_night(psg, None)
    msg = str(ei.value)
    assert "z-PSG.edf: mostly unusable: 6 of 6 epochs" in msg and "flat: EEG Fpz-Cz (6), EEG Pz-Oz (6)" in msg


def test_night_clipped_at_the_digital_limits_is_clipped_not_flat(tmp_path):
    sig = _sig(6)
    sig[:2] = 300.0  # both EEG channels pinned above the range: written at the physical (digital) maximum
    from sigvision.synth.edf import write_edf

    psg = write_edf(tmp_path / "c-PSG.edf", sig, FS, NAMES, ["uV"] * 4, physical_min=[-192, -192, -1000, -50],
                    physical_max=[192, 192, 1000, 50], digital_min=-2048, digital_max=2047, record_duration_s=30.0)
    with pytest.raises(InputFileError, match="clipped: EEG Fpz-Cz \\(6\\), EEG Pz-Oz \\(6\\)") as ei:
        load_sleep_night(psg, None)
    assert "flat" not in str(ei.value)
    n = load_sleep_night(psg, None, max_bad_fraction=1.0)
    assert n.quality == ["clipped:EEG Fpz-Cz,EEG Pz-Oz"] * 6 and n.summary["flat_channel_epochs"] == 0
    assert n.summary["clipped_channel_epochs"] == 6


def test_flagged_and_dropped_epochs_through_prepare(tmp_path):
    from sigvision.config.load import config_from_dict
    from sigvision.steps.prepare import prepare_dataset

    sig = _sig(8)
    sig[3, int(2 * 30 * FS):int(4 * 30 * FS)] = 0.0  # EMG flat in epochs 2 and 3
    write_test_edf(tmp_path / "in" / "a-PSG.edf", sig, FS, NAMES, record_duration_s=30.0)
    write_test_hypnogram(tmp_path / "in" / "a-Hypnogram.edf", [0, 1, 2, 2, 3, 2, 4, 0])
    d = {"data": {"root": str(tmp_path / "in"), "trim_wake_edges_min": None},
         "render": {"height": 16, "width": 16}}
    res = prepare_dataset(config_from_dict(d), tmp_path / "p")
    idx = pd.read_csv(tmp_path / "p" / "index.csv")
    assert idx["quality"].tolist() == ["ok", "ok"] + ["flat:EMG submental"] * 2 + ["ok"] * 4
    assert res.summary["quality"]["flagged"] == 2 and res.summary["quality"]["counts"] == \
        {"flat": {"EMG submental": 2}}
    d["data"]["on_bad_signal"] = "drop"
    res = prepare_dataset(config_from_dict(d), tmp_path / "p2")
    idx = pd.read_csv(tmp_path / "p2" / "index.csv")
    assert idx["onset_s"].tolist() == [0, 30, 120, 150, 180, 210] and (idx["quality"] == "ok").all()
    assert res.summary["quality"]["dropped"] == 2


def test_truncated_edf_is_named_and_called_damaged(tmp_path):
    """A file shorter than its header says was read as a shorter recording, and the error then
    blamed the hypnogram (suggesting on_length_mismatch: warn, which kept 29 of 60 epochs)."""
    psg = write_test_edf(tmp_path / "t-PSG.edf", _sig(60), FS, NAMES, record_duration_s=30.0)
    hyp = write_test_hypnogram(tmp_path / "t-Hypnogram.edf", [0] * 60)
    data = psg.read_bytes()
    psg.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as ei:
        load_sleep_night(psg, hyp, on_length_mismatch="warn")
    msg = str(ei.value)
    assert msg.startswith(str(psg)) and "EDF is damaged (truncated)" in msg and "header says 60 data records" in msg
    assert "hypnogram" not in msg.split("fix:")[0].lower() and "copy it again" in msg


def test_edf_with_unknown_record_count(tmp_path):
    psg = write_test_edf(tmp_path / "u-PSG.edf", _sig(4), FS, NAMES, record_duration_s=30.0)
    data = bytearray(psg.read_bytes())
    data[236:244] = b"-1      "  # a recording that was not closed: the count is left unset
    psg.write_bytes(bytes(data))
    assert load_sleep_night(psg, None).n_epochs == 4  # whole records: fine
    psg.write_bytes(bytes(data[:-100]))
    with pytest.raises(InputFileError, match="damaged \\(truncated\\).*unset \\(-1\\)"):
        load_sleep_night(psg, None)


def test_upper_case_uv_unit_is_microvolts(tmp_path, caplog):
    """MNE scales only 'uV'/'µV'/'mV'; an EDF whose unit field says 'UV' was read as volts:
    EEG with a standard deviation of 2e7 µV, one stage for the whole night."""
    import mne

    from sigvision.steps.stage import load_signals
    from sigvision.config import DataConfig

    sig = _sig(4)
    sig_mv = sig.copy()  # the last channel is written in mV
    sig_mv[3] /= 1000.0
    psg = write_test_edf(tmp_path / "U-PSG.edf", sig_mv, FS, NAMES, dims=["UV", "uV", "UV", "mV"],
                         record_duration_s=30.0)
    n = load_sleep_night(psg, None)
    np.testing.assert_allclose(n.epochs.std(axis=(0, 2)), sig.std(axis=1), rtol=0.01)
    assert n.quality == ["ok"] * 4
    raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
    assert raw.get_data(picks=[0], units="uV").std() > 1e6  # what MNE gives
    with caplog.at_level(logging.WARNING):
        x, _ = load_signals(raw, DataConfig())
    np.testing.assert_allclose(x.std(axis=1), sig.std(axis=1), rtol=0.01)
    assert "'UV'" in caplog.text and "rescaled" in caplog.text


def test_a_wrong_unit_is_caught_by_the_amplitude_bounds(tmp_path):
    """A header that says V for signals stored in µV (x1e6): every epoch's EEG is implausible."""
    psg = write_test_edf(tmp_path / "V-PSG.edf", _sig(4), FS, NAMES, dims=["V", "uV", "uV", "uV"],
                         record_duration_s=30.0)
    with pytest.raises(InputFileError) as ei:
        load_sleep_night(psg, None)
    msg = str(ei.value)
    assert "mostly unusable: 4 of 4 epochs" in msg and "amplitude: EEG Fpz-Cz (4; std up to 2" in msg
    assert "plausible 0.5-1000 µV" in msg
    # a channel whose unit field is wrong is read right with data.channel_units
    n = load_sleep_night(psg, None, channel_units={"EEG Fpz-Cz": "uV"})
    assert n.quality == ["ok"] * 4 and 15 < n.epochs[:, 0].std() < 25


def test_empty_unit_field_is_refused_with_the_channel_units_fix(tmp_path):
    psg = write_test_edf(tmp_path / "E-PSG.edf", _sig(2), FS, NAMES, dims=["uV", "", "uV", "uV"],
                         record_duration_s=30.0)
    with pytest.raises(InputFileError, match="physical unit '', not a voltage.*data.channel_units="):
        load_sleep_night(psg, None)
    assert load_sleep_night(psg, None, channel_units={"EEG Pz-Oz": "uV"}).n_epochs == 2


def test_nan_samples_in_arrays_are_flagged_per_epoch():
    from sigvision.steps.stage import _night_quality
    from sigvision.config import DataConfig

    sig = _sig(3)
    sig[1, 3500] = np.nan  # epoch 1 of EEG Pz-Oz
    epochs, q = _night_quality(sig, FS, DataConfig(), NAMES, 3)
    assert q.labels() == ["ok", "nonfinite:EEG Pz-Oz", "ok"] and np.isfinite(epochs).all()


def test_ecg_gain_off_by_1000_is_flagged_and_a_folder_of_them_refused(tmp_path):
    """A WFDB header whose gain is 1 adu/mV instead of 1000 gives signals of hundreds of mV."""
    import shutil

    from sigvision.config.load import load_config
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.synth.samples import sample_ecg_dir

    src = tmp_path / "ecg"
    src.mkdir()
    for stem in ("E07500", "E07501", "HR06000"):
        for ext in (".hea", ".mat"):
            shutil.copy(sample_ecg_dir() / f"{stem}{ext}", src)
    def gain_1(stem):
        h = src / f"{stem}.hea"
        h.write_text(re.sub(r" 1000(\.0)?\(0\)/m[vV]", " 1(0)/mV", h.read_text()))

    gain_1("E07500")
    over = ["data.root=" + str(src), "render.height=32", "render.width=32"]
    res = prepare_dataset(load_config("configs/ecg_cinc2021.yaml", over), tmp_path / "p")
    idx = pd.read_csv(tmp_path / "p" / "index.csv", dtype={"record": str})
    q = dict(zip(idx["record"], idx["quality"]))
    assert q["E07501"] == "ok" and q["HR06000"] == "ok"
    assert q["E07500"].startswith("amplitude:I,II,III")
    assert res.summary["quality"]["flagged"] == 1
    with pytest.raises(InputFileError, match="E07500.hea: 1 of 1 record has bad signals \\(amplitude: I"):
        prepare_dataset(load_config("configs/ecg_cinc2021.yaml", over + ["data.on_bad_signal=raise"]),
                        tmp_path / "p2")
    res = prepare_dataset(load_config("configs/ecg_cinc2021.yaml", over + ["data.on_bad_signal=drop"]),
                          tmp_path / "p3")
    assert sorted(pd.read_csv(tmp_path / "p3" / "index.csv", dtype={"record": str})["record"]) == ["E07501", "HR06000"]
    assert res.summary["quality"]["dropped"] == 1
    gain_1("E07501")
    gain_1("HR06000")
    with pytest.raises(InputFileError, match="mostly unusable: 3 of 3 records have bad signals"):
        prepare_dataset(load_config("configs/ecg_cinc2021.yaml", over), tmp_path / "p4")


def test_ecg_lead_stuck_at_the_adc_limit_is_clipped(tmp_path):
    """WFDB: the recordable range is the storage format's ADC range through the header's gain."""
    from sigvision.loaders.wfdb import read_wfdb_record
    from sigvision.synth.wfdb import write_wfdb_mat_record
    from sigvision.steps.prepare import _wfdb_rails_mv

    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (12, 5000))
    x[1, 1000:3000] = 32.767  # lead II saturated for 4 of 10 s (int16 maximum at 1000 adu/mV)
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    write_wfdb_mat_record(tmp_path / "R1", x, 500.0, leads)
    rec = read_wfdb_record(tmp_path / "R1.hea")
    rails = _wfdb_rails_mv(rec)
    np.testing.assert_allclose(rails[1], [-32.767, 32.767])
    q = assess(rec.signals[None], ["ecg"] * 12, unit="mV", names=leads, rails=rails)
    assert q.labels() == ["clipped:II"]
