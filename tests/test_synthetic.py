"""Synthetic PSG generator: shapes, determinism, stage physiology, EDF output, input checks."""
from __future__ import annotations

import warnings

import mne
import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, welch

from sigvision.loaders.synthetic import (
    CHANNEL_NAMES,
    DEFAULT_START,
    SyntheticNight,
    synthesize_night,
    write_synthetic_night,
)

FS = 100.0
EP = 3000  # samples per 30-s epoch at 100 Hz
# Blocks of each stage (W, N1, N2, N3, REM) like a compressed night.
HYP = np.array([0] * 8 + [1] * 6 + [2] * 8 + [3] * 8 + [4] * 8)
FPZ, PZ, EOG, EMG = range(4)


@pytest.fixture(scope="module", params=[0, 1])
def night(request) -> SyntheticNight:
    return synthesize_night(HYP, seed=request.param)


def _interior(stage: int) -> np.ndarray:
    """Epoch indices of ``stage`` without the first/last epoch of each block."""
    idx = np.flatnonzero(HYP == stage)
    return idx[1:-1]


def _band_power(night: SyntheticNight, ch: int, lo: float, hi: float, stage: int,
                average=np.median) -> float:
    """Median (or ``average``) over the stage's epochs of the ``lo``-``hi`` Hz power (uV^2)."""
    ep = night.signals[ch].reshape(-1, EP)[_interior(stage)]
    f, p = welch(ep, FS, nperseg=400, axis=-1)
    m = (f >= lo) & (f < hi)
    return float(average(p[:, m].sum(axis=-1) * (f[1] - f[0])))


def test_shapes_dtypes_metadata(night):
    assert isinstance(night, SyntheticNight)
    assert night.signals.dtype == np.float32
    assert night.signals.shape == (4, HYP.size * EP)
    assert night.fs_hz == FS and night.epoch_s == 30.0
    assert night.channel_names == ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental"]
    assert night.channel_types == ["eeg", "eeg", "eog", "emg"]
    assert night.hypnogram.dtype == np.int64
    np.testing.assert_array_equal(night.hypnogram, HYP)
    assert np.isfinite(night.signals).all()
    # microvolts, not volts: EEG standard deviation of tens of uV
    assert 5.0 < float(night.signals[FPZ].std()) < 200.0
    assert night.n_epochs == HYP.size and night.n_samples == HYP.size * EP


def test_determinism():
    a = synthesize_night(HYP[:20], seed=5)
    b = synthesize_night(HYP[:20], seed=5)
    c = synthesize_night(HYP[:20], seed=6)
    np.testing.assert_array_equal(a.signals, b.signals)
    assert a.params == b.params
    assert not np.array_equal(a.signals, c.signals)
    assert a.params != c.params  # inter-night variation comes from the seed


def test_n3_has_high_amplitude_delta(night):
    # much more 0.5-2 Hz power than wake
    assert _band_power(night, FPZ, 0.5, 2.0, 3) > 5 * _band_power(night, FPZ, 0.5, 2.0, 0)
    # AASM: slow waves > 75 uV peak to peak (0.5-2 Hz) in most 2-s windows of N3
    sos = butter(4, [0.5, 2.0], "bandpass", fs=FS, output="sos")
    x = sosfiltfilt(sos, night.signals[FPZ].astype(np.float64))
    win = x.reshape(-1, 200)
    p2p = win.max(axis=1) - win.min(axis=1)
    per_epoch = p2p.reshape(HYP.size, -1)
    assert np.mean(per_epoch[_interior(3)] > 75.0) > 0.5
    assert np.mean(per_epoch[_interior(0)] > 75.0) < 0.25


def test_wake_alpha_is_posterior(night):
    # wake alternates eyes-closed (alpha) and eyes-open (alpha blocked) periods: take the
    # upper quartile of the wake epochs (relaxed, eyes closed)
    def q75(x):
        return np.percentile(x, 75)

    alpha_w_pz = _band_power(night, PZ, 8.0, 12.0, 0, average=q75)
    assert alpha_w_pz > 2 * _band_power(night, PZ, 8.0, 12.0, 2)
    assert alpha_w_pz > 2 * _band_power(night, PZ, 8.0, 12.0, 3)
    assert alpha_w_pz > 1.5 * _band_power(night, FPZ, 8.0, 12.0, 0, average=q75)


def test_n2_has_spindle_power(night):
    sigma_n2 = _band_power(night, FPZ, 11.0, 16.0, 2)
    assert sigma_n2 > 1.5 * _band_power(night, FPZ, 11.0, 16.0, 1)
    assert sigma_n2 > 1.5 * _band_power(night, FPZ, 11.0, 16.0, 4)
    # spindles and K-complexes are placed in N2 at a plausible density
    t = night.events["spindles"]
    in_n2 = np.isin((t // 30).astype(int), np.flatnonzero(HYP == 2))
    per_min = in_n2.sum() / (np.sum(HYP == 2) * 0.5)
    assert 1.0 < per_min < 12.0
    assert night.events["k_complexes"].size > 0


def test_rem_atonia_and_eye_movements(night):
    emg = night.signals[EMG].reshape(-1, EP)
    rms = emg.std(axis=1)
    assert np.median(rms[_interior(4)]) < 0.6 * np.median(rms[_interior(0)])
    # chin tone below NREM too (median |x| ignores sparse twitches and ECG spikes)
    tone = np.median(np.abs(emg), axis=1)
    assert np.median(tone[_interior(4)]) < np.median(tone[_interior(2)])
    assert _band_power(night, EOG, 0.5, 5.0, 4) > 1.2 * _band_power(night, EOG, 0.5, 5.0, 2)
    assert night.events["rapid_eye_movements"].size > 0


def test_n1_theta_and_slow_eye_movements(night):
    # theta dominates the low-amplitude N1 EEG more than the wake EEG (relative power)
    def rel_theta(stage):
        return _band_power(night, FPZ, 4.0, 8.0, stage) / _band_power(night, FPZ, 0.5, 30.0, stage)

    assert rel_theta(1) > 1.2 * rel_theta(0)
    assert rel_theta(1) > 1.2 * rel_theta(3)
    assert _band_power(night, EOG, 0.15, 0.6, 1) > 1.3 * _band_power(night, EOG, 0.15, 0.6, 2)


def test_eeg_reaches_eog_lead(night):
    # volume conduction: N3 slow waves are visible on the EOG lead (same waveform)
    sos = butter(4, [0.5, 2.0], "bandpass", fs=FS, output="sos")
    idx = _interior(3)
    eeg = sosfiltfilt(sos, night.signals[FPZ].astype(np.float64)).reshape(-1, EP)[idx].ravel()
    eog = sosfiltfilt(sos, night.signals[EOG].astype(np.float64)).reshape(-1, EP)[idx].ravel()
    assert np.corrcoef(eeg, eog)[0, 1] > 0.5
    assert _band_power(night, EOG, 0.5, 2.0, 3) > 3 * _band_power(night, EOG, 0.5, 2.0, 2)


def test_transitions_are_smooth():
    hyp = np.array([0] * 6 + [3] * 6)
    n = synthesize_night(hyp, seed=3, artifacts=False)
    sos = butter(4, [0.5, 2.0], "bandpass", fs=FS, output="sos")
    x = sosfiltfilt(sos, n.signals[FPZ].astype(np.float64))
    env = np.sqrt(np.convolve(x**2, np.ones(200) / 200, mode="same"))
    b = 6 * EP
    deep_wake = env[b - 20 * 100 : b - 15 * 100].mean()
    just_before = env[b - 4 * 100 : b - 1 * 100].mean()
    just_after = env[b + 1 * 100 : b + 4 * 100].mean()
    deep_n3 = env[b + 15 * 100 : b + 20 * 100].mean()
    assert deep_wake < just_before < deep_n3
    assert just_after < deep_n3  # still building up after the boundary


def test_unscored_epochs_are_handled():
    hyp = np.array([0, 0, -1, -1, 2, 2, 2, -1, 4, 4])
    n = synthesize_night(hyp, seed=2)
    assert np.isfinite(n.signals).all()
    np.testing.assert_array_equal(n.hypnogram, hyp)
    emg = n.signals[EMG].reshape(-1, EP).std(axis=1)
    assert emg[[2, 3]].mean() > emg[[4, 5, 6]].mean()  # movement-like, not sleep


def test_artifacts_switch_and_params_override():
    clean = synthesize_night(HYP[:10], seed=4, artifacts=False)
    assert clean.events["movements"].size == 0 and clean.events["blinks"].size == 0
    n = synthesize_night(HYP[:10], seed=4, params={"alpha_hz": 9.0})
    assert n.params["alpha_hz"] == 9.0
    with pytest.raises(ValueError, match="unknown night parameters"):
        synthesize_night(HYP[:10], seed=4, params={"alpha": 9.0})


@pytest.mark.parametrize(
    "hyp, match",
    [
        ([0, 1, 7], "invalid stage 7"),
        ([], "empty"),
        ([[0, 1], [2, 3]], "1-D"),
        ([0.5, 1.0], "non-integer"),
        (["W", "N1"], "integers"),
    ],
)
def test_bad_hypnograms(hyp, match):
    with pytest.raises(ValueError, match=match):
        synthesize_night(hyp, seed=0)


def test_bad_seed_and_rate():
    with pytest.raises(ValueError, match="seed"):
        synthesize_night([0, 1], seed=-1)
    with pytest.raises(ValueError, match="seed"):
        synthesize_night([0, 1], seed=1.5)
    with pytest.raises(ValueError, match="fs_hz"):
        synthesize_night([0, 1], seed=0, fs_hz=10.0)


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mne.io.read_raw_edf(path, preload=True, verbose="error")


def test_write_synthetic_night_round_trip(tmp_path):
    hyp = np.array([0, 1, 2, 2, 3, -1, 4, 0])
    psg, hyp_path = write_synthetic_night(tmp_path, "SYN001", hyp, seed=9, extra_wake_epochs=2)
    assert psg.name == "SYN001-PSG.edf" and hyp_path.name == "SYN001-Hypnogram.edf"
    raw = _read(psg)
    assert raw.ch_names == list(CHANNEL_NAMES)
    assert raw.info["sfreq"] == FS
    assert raw.n_times == (hyp.size + 4) * EP
    assert raw.info["meas_date"].replace(tzinfo=None) == DEFAULT_START
    ref = synthesize_night(np.concatenate([[0, 0], hyp, [0, 0]]), seed=9)
    np.testing.assert_allclose(raw.get_data() * 1e6, ref.signals, atol=0.05)
    ann = mne.read_annotations(hyp_path)
    assert list(ann.description) == [
        "Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3", "Sleep stage ?",
        "Sleep stage R", "Sleep stage W",
    ]
    np.testing.assert_allclose(ann.onset, [0, 90, 120, 180, 210, 240, 270])
    np.testing.assert_allclose(ann.duration, [90, 30, 60, 30, 30, 30, 90])


def test_write_is_byte_identical_for_same_seed(tmp_path):
    hyp = HYP[::3]
    a = write_synthetic_night(tmp_path / "a", "N", hyp, seed=11)
    b = write_synthetic_night(tmp_path / "b", "N", hyp, seed=11)
    c = write_synthetic_night(tmp_path / "c", "N", hyp, seed=12)
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a[1].read_bytes() == b[1].read_bytes()
    assert a[0].read_bytes() != c[0].read_bytes()


def test_write_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="record_id"):
        write_synthetic_night(tmp_path, "a/b", [0, 1], seed=0)
    with pytest.raises(ValueError, match="extra_wake_epochs"):
        write_synthetic_night(tmp_path, "x", [0, 1], seed=0, extra_wake_epochs=-1)
    with pytest.raises(ValueError, match="invalid stage 9"):
        write_synthetic_night(tmp_path, "x", [0, 9], seed=0)
    assert list(tmp_path.iterdir()) == []
