"""EDF/EDF+ writer: round trips through MNE's readers, header layout, input checks."""
from __future__ import annotations

import datetime as dt
import warnings

import mne
import numpy as np
import pytest

from sigvision.synth.edf import SLEEP_EDF_STAGE_TEXT, stage_descriptions, write_edf, write_hypnogram_edf

START = dt.datetime(1989, 4, 24, 16, 13, 5)
NAMES = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"]


def _read_raw(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mne.io.read_raw_edf(path, preload=True, verbose="error")


def _header_field(data: bytes, start: int, width: int) -> str:
    return data[start : start + width].decode("ascii").strip()


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 30.0, (3, 1050))  # 10.5 s at 100 Hz: last record is padded
    x[1] *= 3.0
    return x


def test_round_trip_values_rate_names_date(tmp_path, signals):
    path = write_edf(tmp_path / "a.edf", signals, 100.0, NAMES, "uV", start=START)
    raw = _read_raw(path)
    assert raw.info["sfreq"] == 100.0
    assert raw.ch_names == NAMES
    assert raw.info["meas_date"] == START.replace(tzinfo=dt.timezone.utc)
    assert raw.n_times == 1100  # 11 records of 1 s
    data_uv = raw.get_data() * 1e6  # MNE returns volts
    for i in range(3):
        lo, hi = signals[i].min(), signals[i].max()
        step = (hi - lo) / 65535 * 1.01 + 1e-3  # ranges are rounded outwards to 8 chars
        np.testing.assert_allclose(data_uv[i, :1050], signals[i], atol=step)
        np.testing.assert_allclose(data_uv[i, 1050:], 0.0, atol=step)  # zero padding


def test_header_layout(tmp_path, signals):
    path = write_edf(tmp_path / "h.edf", signals[:, :1000], 100.0, NAMES, "uV", start=START)
    data = path.read_bytes()
    ns = 4  # three signals + EDF Annotations
    assert data[:8] == b"0       "
    assert _header_field(data, 168, 8) == "24.04.89"
    assert _header_field(data, 176, 8) == "16.13.05"
    assert int(_header_field(data, 184, 8)) == 256 * (ns + 1)
    assert _header_field(data, 192, 44) == "EDF+C"
    assert _header_field(data, 88, 80) == "Startdate 24-APR-1989 X X X"
    assert int(_header_field(data, 236, 8)) == 10
    assert float(_header_field(data, 244, 8)) == 1.0
    assert int(_header_field(data, 252, 4)) == ns
    labels = [_header_field(data, 256 + 16 * i, 16) for i in range(ns)]
    assert labels == NAMES + ["EDF Annotations"]
    spr_at = 256 + ns * (16 + 80 + 8 * 5 + 80)
    spr = [int(_header_field(data, spr_at + 8 * i, 8)) for i in range(ns)]
    assert spr[:3] == [100, 100, 100]
    assert len(data) == 256 * (ns + 1) + 10 * sum(spr) * 2
    # every data record starts its annotation block with a time-keeping TAL
    rec_bytes = sum(spr) * 2
    for k in (0, 7):
        rec = data[256 * (ns + 1) + k * rec_bytes : 256 * (ns + 1) + (k + 1) * rec_bytes]
        assert rec[300 * 2 :].startswith(f"+{k}\x14\x14\x00".encode())


def test_annotations_round_trip(tmp_path, signals):
    ann = [(1.5, 2.0, "Arousal"), (3.0, None, "Blink"), (9.25, 0.5, "Pop é")]
    path = write_edf(tmp_path / "ann.edf", signals, 100.0, NAMES, "uV", start=START,
                     annotations=ann)
    for a in (_read_raw(path).annotations, mne.read_annotations(path)):
        assert list(a.description) == ["Arousal", "Blink", "Pop é"]
        np.testing.assert_allclose(a.onset, [1.5, 3.0, 9.25])
        np.testing.assert_allclose(a.duration, [2.0, 0.0, 0.5])


def test_multi_rate_channels(tmp_path):
    rng = np.random.default_rng(1)
    eeg = rng.normal(0, 20, 3000)
    emg = np.abs(rng.normal(5, 1, 30))  # 1 Hz envelope like Sleep-EDF SC EMG
    path = write_edf(tmp_path / "mr.edf", [eeg, emg], [100, 1], ["EEG Fpz-Cz", "EMG submental"],
                     ["uV", "uV"], start=START)
    raw = _read_raw(path)
    assert raw.info["sfreq"] == 100.0
    assert raw.n_times == 3000
    step = (eeg.max() - eeg.min()) / 65535 * 1.01 + 1e-3
    np.testing.assert_allclose(raw.get_data(picks=[0])[0] * 1e6, eeg, atol=step)


def test_record_duration_and_plain_edf(tmp_path, signals):
    x = signals[:, :1000]
    p30 = write_edf(tmp_path / "r.edf", x, 100.0, NAMES, "uV", record_duration_s=0.5)
    assert _read_raw(p30).n_times == 1000
    plain = write_edf(tmp_path / "plain.edf", x, 100.0, NAMES, "uV", edf_plus=False)
    data = plain.read_bytes()
    assert _header_field(data, 192, 44) == ""
    assert int(_header_field(data, 252, 4)) == 3
    raw = _read_raw(plain)
    assert raw.ch_names == NAMES
    assert len(raw.annotations) == 0


def test_explicit_physical_range_and_mv(tmp_path):
    x = np.array([[0.0, 0.5, -0.5, 1.0, -1.0] * 20])
    path = write_edf(tmp_path / "mv.edf", x, 100.0, ["ECG II"], "mV", physical_min=-5.0,
                     physical_max=5.0)
    raw = _read_raw(path)
    np.testing.assert_allclose(raw.get_data()[0] * 1e3, x[0], atol=10 / 65535)


def test_hypnogram_round_trip(tmp_path):
    stages = [0, 0, 1, 2, 2, -1, 3, 4, 4, 0]
    path = write_hypnogram_edf(tmp_path / "X-Hypnogram.edf", stages, start=START)
    a = mne.read_annotations(path)
    assert list(a.description) == [
        "Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage ?",
        "Sleep stage 3", "Sleep stage R", "Sleep stage W",
    ]
    np.testing.assert_allclose(a.onset, [0, 60, 90, 150, 180, 210, 270])
    np.testing.assert_allclose(a.duration, [60, 30, 60, 30, 30, 60, 30])
    data = path.read_bytes()
    assert _header_field(data, 192, 44) == "EDF+C"
    assert _header_field(data, 168, 8) == "24.04.89"
    assert float(_header_field(data, 244, 8)) == 0.0  # annotation-only file


def test_hypnogram_accepts_rk_strings(tmp_path):
    stages = ["W", "Sleep stage 4", "S4", "Movement time", "R", "N2"]
    assert stage_descriptions(stages) == [
        "Sleep stage W", "Sleep stage 4", "Sleep stage 4", "Movement time",
        "Sleep stage R", "Sleep stage 2",
    ]
    path = write_hypnogram_edf(tmp_path / "h.edf", stages, start=START, epoch_s=20.0)
    a = mne.read_annotations(path)
    assert list(a.description) == ["Sleep stage W", "Sleep stage 4", "Movement time",
                                   "Sleep stage R", "Sleep stage 2"]
    np.testing.assert_allclose(a.duration, [20, 40, 20, 20, 20])


def test_atomic_no_leftovers(tmp_path, signals):
    write_edf(tmp_path / "ok.edf", signals, 100.0, NAMES, "uV")
    with pytest.raises(ValueError):
        write_edf(tmp_path / "bad.edf", signals, 100.0, NAMES, "µV")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.edf"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(channel_names=["A-very-long-label-name", "B", "C"]), "at most 16"),
        (dict(physical_dims="µV"), "printable"),
        (dict(fs_hz=33.3), "whole number"),
        (dict(channel_names=["A", "B"]), "2 channel names for 3 channels"),
        (dict(annotations=[(1.0, 1.0, "bad\x14text")]), "reserved"),
        (dict(start=dt.datetime(2090, 1, 1)), "1985..2084"),
        (dict(record_duration_s=0.0), "record_duration_s"),
        (dict(physical_min=10.0, physical_max=-10.0), "greater than"),
        (dict(physical_min=-1e9, physical_max=1e9), "rescale"),
        (dict(annotations=[(1.0, 1.0, "x")], edf_plus=False), "EDF\\+"),
    ],
)
def test_bad_inputs(tmp_path, signals, kwargs, match):
    args = dict(signals=signals, fs_hz=100.0, channel_names=NAMES, physical_dims="uV")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        write_edf(tmp_path / "x.edf", args.pop("signals"), args.pop("fs_hz"),
                  args.pop("channel_names"), args.pop("physical_dims"), **args)


def test_bad_signal_values(tmp_path):
    x = np.zeros((1, 100))
    x[0, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_edf(tmp_path / "n.edf", x, 100.0, ["EEG"], "uV")
    with pytest.raises(ValueError, match="empty"):
        write_edf(tmp_path / "e.edf", [], 100.0, [], "uV")


def test_bad_hypnogram_inputs(tmp_path):
    with pytest.raises(ValueError, match="invalid stage code 7"):
        write_hypnogram_edf(tmp_path / "h.edf", [0, 7])
    with pytest.raises(ValueError, match="empty"):
        write_hypnogram_edf(tmp_path / "h.edf", [])
    with pytest.raises(ValueError, match="unknown stage"):
        write_hypnogram_edf(tmp_path / "h.edf", ["W", "deep"])
    assert not (tmp_path / "h.edf").exists()


def _edf_physical_ranges(path, n_signals):
    """(pmin, pmax) per signal as written in the header (what every reader calibrates with)."""
    data = path.read_bytes()
    ns = int(_header_field(data, 252, 4))
    pmin_at = 256 + ns * (16 + 80 + 8)
    pmax_at = pmin_at + ns * 8
    return [(float(_header_field(data, pmin_at + 8 * i, 8)), float(_header_field(data, pmax_at + 8 * i, 8)))
            for i in range(n_signals)]


@pytest.mark.parametrize("ranges", ["data", "explicit"])
def test_values_round_trip_within_one_digitisation_step(tmp_path, ranges):
    """Values written through edfio and read back by MNE differ by at most one step
    (pmax - pmin) / 65535 of each channel's written range (rounding to the nearest step is
    half of that); mixed rates, a channel not filling its last record, explicit ranges with
    more digits than the 8-character header field holds."""
    rng = np.random.default_rng(7)
    eeg = rng.normal(3.0, 41.7, 2550)  # 25.5 s: padded to 26 records
    eog = rng.normal(-10.0, 123.456789, 2550)
    emg = np.abs(rng.normal(5.0, 1.3, 26))  # 1-Hz envelope
    kw = {}
    if ranges == "explicit":
        kw = dict(physical_min=[-300.123456789, -700.5, 0.0], physical_max=[310.987654321, 700.5, 20.0])
    path = write_edf(tmp_path / "rt.edf", [eeg, eog, emg], [100, 100, 1], ["EEG C4-M1", "EOG E1-M2", "EMG env"],
                     "uV", start=START, **kw)
    written = _edf_physical_ranges(path, 3)
    raw = _read_raw(path)
    assert raw.n_times == 2600
    for i, x in enumerate((eeg, eog)):
        pmin, pmax = written[i]
        assert pmin <= x.min() and pmax >= x.max()  # rounded outwards, never clipping the data
        step = (pmax - pmin) / 65535
        err = np.max(np.abs(raw.get_data(picks=[i])[0, :2550] * 1e6 - x))
        assert err <= step, (i, err, step)
    # the 1-Hz channel: read it through edfio (MNE resamples it to 100 Hz)
    import edfio

    edf = edfio.read_edf(path)
    pmin, pmax = written[2]
    assert np.max(np.abs(edf.signals[2].data[:26] - emg)) <= (pmax - pmin) / 65535


def test_hypnogram_annotations_equal_stages_written(tmp_path):
    """Every epoch of a long random hypnogram comes back from MNE's annotation reader as
    the stage written (runs expanded back to 30-s epochs)."""
    rng = np.random.default_rng(3)
    stages = np.repeat(rng.integers(-1, 5, 200), rng.integers(1, 8, 200))
    path = write_hypnogram_edf(tmp_path / "R-Hypnogram.edf", stages, start=START.replace(microsecond=500000))
    a = mne.read_annotations(path)
    back = []
    for onset, duration, desc in zip(a.onset, a.duration, a.description):
        assert onset == pytest.approx(30.0 * len(back))
        back += [desc] * int(round(duration / 30.0))
    assert back == stage_descriptions(stages)
    assert back == [SLEEP_EDF_STAGE_TEXT[int(s)] for s in stages]
