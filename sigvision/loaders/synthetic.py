"""Seeded synthetic polysomnography (PSG) driven by a real hypnogram.

:func:`synthesize_night` turns a hypnogram (one stage per 30-s epoch) into four Sleep-EDF
channels at 100 Hz, in microvolts:

==================  =====  ============================================================
channel             type   content
==================  =====  ============================================================
``EEG Fpz-Cz``      eeg    fronto-central: slow waves, K-complexes, spindles, vertex
                           waves, theta, sawtooth waves; alpha attenuated; blinks
``EEG Pz-Oz``       eeg    parieto-occipital: strongest alpha, weaker delta/spindles
``EOG horizontal``  eog    eye position (saccades, slow and rapid eye movements, blinks)
                           plus frontal EEG by volume conduction
``EMG submental``   emg    chin muscle tone (high in wake, low in NREM, atonic in REM),
                           REM twitches, ECG and EEG by volume conduction
==================  =====  ============================================================

Physiology per stage (AASM / Rechtschaffen & Kales definitions):

* **W** -- alternating relaxed eyes-closed periods (posterior alpha at a per-night
  frequency of 8.5-11.5 Hz, strongest on Pz-Oz) and eyes-open periods (alpha blocked, more
  beta, blinks, saccades, higher chin tone); movement artefacts.
* **N1** -- alpha drops out, low-amplitude 4-7 Hz theta, vertex sharp waves, slow rolling
  eye movements (0.2-0.6 Hz), chin tone below wake.
* **N2** -- sleep spindles (11-16 Hz, 0.5-2 s, waxing-waning, per-night density and
  frequency), K-complexes (biphasic, >0.5 s, often followed by a spindle), more delta.
* **N3** -- high-amplitude 0.5-2 Hz slow waves (>75 uV peak to peak most of the epoch on
  Fpz-Cz), fewer and slower spindles.
* **REM** -- low-amplitude mixed-frequency EEG with theta and sawtooth-wave trains, alpha
  bursts 1-2 Hz slower than wake alpha, rapid eye movements in phasic bursts, chin
  atonia with brief twitches.
* **unscored (-1)** -- wake-like signal with frequent movement artefacts (Sleep-EDF's
  "Movement time" / "Sleep stage ?").

Background activity is 1/f^beta noise whose slope steepens with depth of sleep; stage
changes are blended with smooth envelopes over several seconds (slow-wave activity over
longer), not switched at epoch boundaries. Scalp-muscle (frontalis/temporalis) activity
reaches the EEG and EOG leads in wake, cortical EEG reaches the EOG and chin leads by volume
conduction. Artefacts: movement bursts, blinks, electrode pops, ECG in every lead, brief
arousals inside sleep. Inter-night variation (channel
gains, alpha and spindle frequency, spindle density, slow-wave amplitude, chin-tone level,
noise level, eye-movement density, heart rate) is drawn from the seed.

Every random draw comes from ``numpy.random.default_rng(seed)`` in a fixed order, so the
same seed gives bit-identical signals (same platform and numpy/scipy versions), and
:func:`write_synthetic_night` writes byte-identical EDF files. A 1,000-epoch night takes
about 1-3 s (vectorised numpy/FFT; envelopes are built at 10 Hz and interpolated).

Realism check: ``benchmarks/synthetic_realism.py`` stages synthetic nights blind with
YASA's pre-trained classifier (``eeg_name="EEG Fpz-Cz"``, the fronto-central lead, closest
to the central leads YASA was trained on) and reports Cohen's kappa against the driving
hypnogram.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft as sfft
from scipy import signal as sps
from scipy.ndimage import uniform_filter1d

from .edf_write import write_edf, write_hypnogram_edf

__all__ = [
    "CHANNEL_NAMES",
    "CHANNEL_TYPES",
    "DEFAULT_START",
    "SyntheticNight",
    "draw_night_params",
    "synthesize_night",
    "write_synthetic_night",
]

#: Sleep-EDF channel labels produced by the generator (row order of ``signals``).
CHANNEL_NAMES: tuple[str, ...] = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")
CHANNEL_TYPES: tuple[str, ...] = ("eeg", "eeg", "eog", "emg")
#: Start time written into the EDF headers unless another is given (fixed for determinism).
DEFAULT_START = datetime(2001, 1, 1, 22, 30, 0)

_N_CAT = 6  # W, N1, N2, N3, REM, unscored/movement
_W, _N1, _N2, _N3, _REM, _MT = range(_N_CAT)
_TICK_HZ = 10.0  # resolution of envelopes and event sampling


@dataclass
class SyntheticNight:
    """One synthetic PSG night.

    Attributes
    ----------
    signals : ndarray, float32, shape (4, n_samples)
        ``EEG Fpz-Cz``, ``EEG Pz-Oz``, ``EOG horizontal``, ``EMG submental`` in microvolts;
        ``n_samples = n_epochs * epoch_s * fs_hz``.
    fs_hz : float
        Sampling rate of every channel (100 Hz by default).
    channel_names, channel_types : list of str
        Sleep-EDF labels and ``eeg``/``eog``/``emg`` per row.
    hypnogram : ndarray, int64, shape (n_epochs,)
        The driving stages: -1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM.
    epoch_s : float
        Epoch length in seconds.
    seed : int
        Seed the night was drawn from.
    params : dict
        The per-night parameters (gains, alpha/spindle frequency, densities, ...).
    events : dict of str to ndarray
        Onset times in seconds of the discrete events placed (``spindles``,
        ``k_complexes``, ``rapid_eye_movements``, ``blinks``, ``movements``, ...).
    units : str
        Always ``"uV"``.
    """

    signals: np.ndarray
    fs_hz: float
    channel_names: list[str]
    channel_types: list[str]
    hypnogram: np.ndarray
    epoch_s: float = 30.0
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    events: dict[str, np.ndarray] = field(default_factory=dict)
    units: str = "uV"

    @property
    def n_epochs(self) -> int:
        return int(self.hypnogram.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[1])


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------
def _check_hypnogram(hypnogram) -> np.ndarray:
    arr = np.asarray(hypnogram)
    if arr.ndim != 1:
        raise ValueError(f"hypnogram must be 1-D (one stage per epoch), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("hypnogram is empty: need at least one epoch")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(
            f"hypnogram must hold integers (-1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM), "
            f"got dtype {arr.dtype}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("hypnogram holds non-integer values; use ints -1..4")
    out = arr.astype(np.int64)
    bad = ~np.isin(out, (-1, 0, 1, 2, 3, 4))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"hypnogram epoch {i} has invalid stage {out[i]}; allowed: -1 (unscored), 0 W, "
            f"1 N1, 2 N2, 3 N3, 4 REM ({int(bad.sum())} invalid epochs)"
        )
    return out


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return int(seed)


# --------------------------------------------------------------------------------------
# per-night parameters
# --------------------------------------------------------------------------------------
def draw_night_params(rng: np.random.Generator) -> dict[str, float]:
    """Draw the inter-night parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (consumed in a fixed order).

    Returns
    -------
    dict
        ``gain_fpz, gain_pz, gain_eog, gain_emg`` (channel gains), ``alpha_hz``,
        ``alpha_gain``, ``spindle_hz``, ``spindle_density`` (multiplier),
        ``sw_gain`` (slow-wave amplitude), ``noise_uv`` (amplifier noise),
        ``eyes_closed_frac`` (wake), ``rem_density``, ``heart_rate_bpm``, ``ecg_uv``,
        ``eog_leak``, ``emg_leak``, ``kc_density``, ``theta_gain``, ``emg_tone_nrem``.
    """
    ln = rng.lognormal
    p = {
        "gain_fpz": float(ln(0.0, 0.12)),
        "gain_pz": float(ln(0.0, 0.15)),
        "gain_eog": float(ln(0.0, 0.2)),
        "gain_emg": float(ln(0.0, 0.3)),
        "alpha_hz": float(np.clip(rng.normal(10.0, 0.6), 8.5, 11.5)),
        "alpha_gain": float(ln(0.0, 0.25)),
        "spindle_hz": float(np.clip(rng.normal(13.0, 0.5), 11.8, 14.5)),
        "spindle_density": float(ln(0.0, 0.2)),
        "sw_gain": float(ln(0.0, 0.15)),
        "noise_uv": float(ln(np.log(1.0), 0.3)),
        "eyes_closed_frac": float(rng.uniform(0.45, 0.8)),
        "rem_density": float(ln(0.0, 0.25)),
        "heart_rate_bpm": float(np.clip(rng.normal(62.0, 6.0), 48.0, 85.0)),
        "ecg_uv": float(ln(np.log(5.0), 0.4)),
        "eog_leak": float(rng.uniform(0.25, 0.45)),
        "emg_leak": float(rng.uniform(0.1, 0.25)),
        "kc_density": float(ln(0.0, 0.25)),
        "theta_gain": float(ln(0.0, 0.15)),
        "emg_tone_nrem": float(rng.uniform(0.4, 0.6)),
    }
    return p


# --------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------
class _NoiseSource:
    """Gaussian noise of a given spectral shape for one signal length (grid cached)."""

    def __init__(self, rng: np.random.Generator, n: int, fs: float):
        self.rng, self.n = rng, n
        self.nfft = sfft.next_fast_len(n, real=True)
        self.f = np.fft.rfftfreq(self.nfft, 1.0 / fs).astype(np.float32)

    def __call__(self, amp_fn) -> np.ndarray:
        """Noise with amplitude spectrum ``amp_fn(f)`` scaled to unit standard deviation."""
        amp = amp_fn(self.f).astype(np.float32, copy=False)
        amp[0] = 0.0
        m = self.f.size
        spec = np.empty(m, dtype=np.complex64)
        spec.real = self.rng.standard_normal(m, dtype=np.float32)
        spec.imag = self.rng.standard_normal(m, dtype=np.float32)
        spec *= amp
        x = sfft.irfft(spec, self.nfft)[: self.n].astype(np.float32, copy=False)
        sd = float(x.std())
        return x / np.float32(sd) if sd > 0 else x


def _band(f, lo, hi, order=2):
    """Butterworth-like magnitude: high-pass at ``lo`` and low-pass at ``hi``."""
    with np.errstate(divide="ignore", over="ignore"):
        hp = 1.0 / np.sqrt(1.0 + (lo / np.maximum(f, 1e-6)) ** (2 * order)) if lo > 0 else 1.0
        lp = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order)) if hi else 1.0
    return hp * lp


def _power_law(beta, lo, hi):
    return lambda f: np.maximum(f, 1e-3) ** (-beta / 2.0) * _band(f, lo, hi)


def _gauss(center, width):
    return lambda f: np.exp(-0.5 * ((f - center) / width) ** 2)


def _log_gauss(center, width_ln):
    return lambda f: np.exp(-0.5 * (np.log(np.maximum(f, 1e-3) / center) / width_ln) ** 2)


def _slow_process(rng, n_ticks, tau_s, sd):
    """Smooth random log-modulation exp(sd * z(t)) with correlation time ~tau_s."""
    z = _NoiseSource(rng, n_ticks, _TICK_HZ)(_gauss(0.0, 1.0 / (2 * np.pi * tau_s)))
    return np.exp(sd * z - 0.5 * sd * sd).astype(np.float32)


def _smooth(x, width_ticks, passes=2):
    """Repeated moving average (triangular/near-Gaussian kernel) along the last axis."""
    w = max(1, int(round(width_ticks)))
    for _ in range(passes):
        x = uniform_filter1d(x, size=w, axis=-1, mode="nearest")
    return x


def _events(rng, rate_per_s):
    """Poisson event times (in seconds) from a per-tick rate (events per second)."""
    p = np.clip(rate_per_s / _TICK_HZ, 0.0, 1.0)
    u = rng.random(p.size, dtype=np.float64)
    ticks = np.flatnonzero(u < p)
    jitter = rng.random(ticks.size)
    return (ticks + jitter) / _TICK_HZ


def _add_waveforms(x: np.ndarray, starts: np.ndarray, waves: np.ndarray) -> None:
    """Add ``waves[i]`` (n_events, L) into ``x`` at sample ``starts[i]`` (in place)."""
    if starts.size == 0:
        return
    n = x.shape[0]
    idx = starts[:, None] + np.arange(waves.shape[1])[None, :]
    ok = (idx >= 0) & (idx < n)
    x += np.bincount(idx[ok], weights=waves[ok].astype(np.float64), minlength=n).astype(
        np.float32
    )


def _stage_weights(hyp: np.ndarray, epoch_s: float, n_ticks: int) -> np.ndarray:
    """One-hot stage per tick, shape (6, n_ticks): W, N1, N2, N3, REM, unscored."""
    per_epoch = int(round(epoch_s * _TICK_HZ))
    cat = np.where(hyp < 0, _MT, hyp)
    tick_cat = np.repeat(cat, per_epoch)[:n_ticks]
    if tick_cat.size < n_ticks:
        tick_cat = np.pad(tick_cat, (0, n_ticks - tick_cat.size), mode="edge")
    w = np.zeros((_N_CAT, n_ticks), dtype=np.float32)
    w[tick_cat, np.arange(n_ticks)] = 1.0
    return w


def _markov_binary(rng, n_ticks, p_on, mean_on_s, mean_off_s):
    """Alternating on/off renewal process at tick resolution (exponential durations)."""
    n_seg = int(4 * n_ticks / (_TICK_HZ * (mean_on_s + mean_off_s))) + 16
    d_on = rng.exponential(mean_on_s, n_seg)
    d_off = rng.exponential(mean_off_s, n_seg)
    first_on = bool(rng.random() < p_on)
    durs = np.empty(2 * n_seg)
    durs[0::2], durs[1::2] = (d_on, d_off) if first_on else (d_off, d_on)
    edges = np.cumsum(np.maximum(1.0, np.rint(durs * _TICK_HZ)))
    seg = np.searchsorted(edges, np.arange(n_ticks), side="right")
    on = (seg % 2 == 0) == first_on
    return on.astype(np.float32)


# --------------------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------------------
def synthesize_night(
    hypnogram,
    *,
    seed: int,
    fs_hz: float = 100.0,
    epoch_s: float = 30.0,
    artifacts: bool = True,
    params: dict[str, float] | None = None,
) -> SyntheticNight:
    """Synthesise one night of 4-channel PSG that follows ``hypnogram``.

    Parameters
    ----------
    hypnogram : array_like of int, shape (n_epochs,)
        Stage per epoch: -1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM.
    seed : int
        Non-negative seed; the same seed (and arguments) gives identical signals.
    fs_hz : float
        Sampling rate in Hz (100 like Sleep-EDF; at least 60 Hz).
        ``fs_hz * epoch_s`` must be a whole number.
    epoch_s : float
        Epoch length in seconds (30).
    artifacts : bool
        Add movement bursts, electrode pops and blinks (default). ``False`` gives clean
        signals (ECG, eye movements and arousals are physiology and stay).
    params : dict, optional
        Overrides for the per-night parameters drawn by :func:`draw_night_params`.

    Returns
    -------
    SyntheticNight
        ``signals`` float32 (4, n_epochs * epoch_s * fs_hz) in microvolts.

    Raises
    ------
    ValueError
        Empty hypnogram, a stage outside -1..4, bad seed or sampling rate.
    """
    hyp = _check_hypnogram(hypnogram)
    seed = _check_seed(seed)
    fs = float(fs_hz)
    epoch_s = float(epoch_s)
    if not (np.isfinite(fs) and fs >= 60.0):
        raise ValueError(f"fs_hz must be at least 60 Hz, got {fs_hz!r}")
    if not (np.isfinite(epoch_s) and epoch_s > 0):
        raise ValueError(f"epoch_s must be positive, got {epoch_s!r}")
    spe = fs * epoch_s
    if abs(spe - round(spe)) > 1e-9 or abs(epoch_s * _TICK_HZ - round(epoch_s * _TICK_HZ)) > 1e-9:
        raise ValueError(
            f"fs_hz * epoch_s = {spe} must be a whole number of samples and epoch_s a "
            "multiple of 0.1 s"
        )
    spe = int(round(spe))
    n = hyp.size * spe
    n_ticks = int(round(hyp.size * epoch_s * _TICK_HZ))

    rng = np.random.default_rng(seed)
    p = draw_night_params(rng)
    if params:
        unknown = set(params) - set(p)
        if unknown:
            raise ValueError(f"unknown night parameters {sorted(unknown)}; known: {sorted(p)}")
        p.update({k: float(v) for k, v in params.items()})

    t_tick = np.arange(n_ticks, dtype=np.float64) / _TICK_HZ
    t_samp = np.arange(n, dtype=np.float64) / fs

    noise = _NoiseSource(rng, n, fs)

    def up(env_ticks: np.ndarray) -> np.ndarray:
        """Tick-rate envelope -> sample rate (linear interpolation)."""
        return np.interp(t_samp, t_tick, env_ticks).astype(np.float32)

    # ---------------- stage envelopes (tick resolution) ------------------------------
    w_raw = _stage_weights(hyp, epoch_s, n_ticks)
    w = _smooth(w_raw, 3.0 * _TICK_HZ)  # ~6 s transitions
    w_slow = _smooth(w_raw, 8.0 * _TICK_HZ)  # slow-wave activity builds up over ~15 s
    W, N1, N2, N3, REM, MT = w
    wake_like = W + MT

    # Wake sub-states: eyes closed (alpha) vs eyes open (beta, blinks, saccades).
    eyes_closed = _markov_binary(
        rng, n_ticks, p["eyes_closed_frac"], 60.0 * p["eyes_closed_frac"],
        60.0 * (1 - p["eyes_closed_frac"]),
    )
    # Wake next to sleep is drowsy, eyes closed.
    near_sleep = _smooth((1.0 - w_raw[_W] - w_raw[_MT]), 120.0 * _TICK_HZ, passes=1) > 0.02
    eyes_closed = np.maximum(eyes_closed, near_sleep.astype(np.float32))
    eyes_closed = _smooth(eyes_closed, 1.0 * _TICK_HZ)
    eyes_open = 1.0 - eyes_closed
    wc = wake_like * eyes_closed  # relaxed wake
    wo = wake_like * eyes_open  # active wake

    # Phasic vs tonic REM.
    phasic = _smooth(_markov_binary(rng, n_ticks, 0.45, 20.0, 25.0), 1.0 * _TICK_HZ)

    # Brief arousals inside sleep (3-15 s): alpha + chin tone + beta burst.
    sleep_w = N1 + N2 + N3 + REM
    ar_t = _events(rng, sleep_w * (8.0 / 3600.0))
    arousal = np.zeros(n_ticks, dtype=np.float32)
    if ar_t.size:
        dur = rng.uniform(3.0, 15.0, ar_t.size)
        for t0, d in zip(ar_t, dur):
            a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
            arousal[a:b] = 1.0
    arousal = _smooth(arousal, 1.0 * _TICK_HZ) * sleep_w

    # Slow within-stage fluctuations.
    mod_delta = _slow_process(rng, n_ticks, 60.0, 0.15)
    mod_alpha = _slow_process(rng, n_ticks, 4.0, 0.45)
    mod_spin = _slow_process(rng, n_ticks, 90.0, 0.2)
    mod_emg = _slow_process(rng, n_ticks, 120.0, 0.2)
    mod_bg = _slow_process(rng, n_ticks, 120.0, 0.1)
    mod_spin_bg = _slow_process(rng, n_ticks, 2.0, 0.6)

    # ---------------- continuous EEG components --------------------------------------
    # Amplitudes are the standard deviation (uV) of each component on Fpz-Cz before the
    # per-night gain. Order of the stage vectors: W, N1, N2, N3, REM, unscored.
    def stage_mix(values, weights=w):
        v = np.asarray(values, dtype=np.float32)
        return (v[:, None] * weights).sum(axis=0)

    a_pink = stage_mix([7.0, 7.0, 6.0, 6.5, 6.5, 7.0]) * mod_bg
    a_brown = stage_mix([5.0, 8.0, 9.0, 12.0, 7.0, 6.0]) * mod_bg
    a_delta = stage_mix([1.5, 4.0, 8.0, 42.0, 4.0, 3.0], w_slow) * mod_delta * p["sw_gain"]
    a_theta = stage_mix([3.0, 4.5, 4.0, 7.0, 4.0, 3.0]) * p["theta_gain"]
    a_beta = stage_mix([2.5, 2.0, 1.3, 1.5, 2.2, 3.0]) + 2.5 * wo + 2.0 * arousal
    a_alpha = (7.0 * wc + 1.5 * wo + 1.2 * N1 + 0.8 * N2 + 0.8 * N3 + 6.0 * arousal) * mod_alpha
    a_alpha *= p["alpha_gain"]
    a_sigma = stage_mix([0.0, 0.5, 2.5, 3.0, 0.0, 0.0]) * mod_spin_bg
    a_ralpha = 3.5 * REM * _slow_process(rng, n_ticks, 3.0, 0.6) * p["alpha_gain"]

    fa = p["alpha_hz"]
    # Each rhythm is a shared (s) plus an independent (i) noise process so that Fpz-Cz and
    # Pz-Oz are partially correlated: (spectral shape, amplitude envelope, gain on Pz-Oz
    # relative to Fpz-Cz, correlation between the two leads).
    components = (
        (_power_law(1.0, 0.3, 40.0), a_pink, 0.9, 0.3),  # 1/f background
        (_power_law(2.0, 0.3, 40.0), a_brown, 0.8, 0.4),  # 1/f^2 background
        (_log_gauss(0.95, 0.42), a_delta, 0.45, 0.7),  # slow waves 0.5-2 Hz
        (_gauss(5.5, 1.1), a_theta, 0.7, 0.5),  # theta 4-7 Hz
        (_gauss(fa, 0.45), a_alpha, 2.5, 0.6),  # posterior alpha
        (_gauss(p["spindle_hz"], 0.8), a_sigma, 0.55, 0.6),  # sigma background
        (_gauss(20.0, 4.5), a_beta, 0.7, 0.2),  # beta
    )
    fpz = np.zeros(n, dtype=np.float32)
    pz = np.zeros(n, dtype=np.float32)
    for shape, amp_ticks, g_pz, rho in components:
        env = up(amp_ticks)
        shared = noise(shape)
        fpz += env * shared
        shared *= rho
        shared += np.float32(np.sqrt(1.0 - rho * rho)) * noise(shape)
        pz += (g_pz * env) * shared
        del shared
    env = up(a_ralpha)  # REM alpha bursts, 1-2 Hz slower than wake alpha
    ralpha = noise(_gauss(fa - 1.5, 0.5))
    fpz += 0.6 * env * ralpha
    pz += 1.2 * env * ralpha
    del ralpha

    # ---------------- discrete EEG events --------------------------------------------
    events: dict[str, np.ndarray] = {}
    dens = p["spindle_density"]
    # spindles: per-minute density per stage, suppressed during arousals
    sp_rate = (0.3 * N1 + 5.0 * N2 + 2.0 * N3) * dens * mod_spin * (1 - arousal)
    sp_rate = np.minimum(sp_rate, 8.0) / 60.0  # at most ~8 (+ K-complex ones) per minute
    sp_t = _events(rng, sp_rate)
    # K-complexes
    kc_rate = (0.2 * N1 + 1.3 * N2 + 0.4 * N3) * p["kc_density"] / 60.0 * (1 - arousal)
    kc_t = _events(rng, kc_rate)
    # about a third of the K-complexes are followed by a spindle
    follow = kc_t[rng.random(kc_t.size) < 0.35]
    follow = follow + rng.uniform(0.5, 0.9, follow.size)
    sp_t = np.sort(np.concatenate([sp_t, follow]))
    sp_t = sp_t[sp_t < hyp.size * epoch_s - 2.5]
    events["spindles"] = sp_t
    events["k_complexes"] = kc_t

    if sp_t.size:
        L = int(2.2 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = np.clip(rng.lognormal(np.log(0.95), 0.3, sp_t.size), 0.5, 2.0)
        # slower spindles in N3, per-spindle jitter
        n3_at = np.interp(sp_t, t_tick, N3)
        f0 = p["spindle_hz"] - 1.0 * n3_at + rng.normal(0.0, 0.5, sp_t.size)
        f0 = np.clip(f0, 11.0, 16.0)
        amp = rng.lognormal(np.log(28.0), 0.3, sp_t.size)  # peak amplitude (uV)
        phase = rng.uniform(0, 2 * np.pi, sp_t.size)
        x = tt[None, :] / dur[:, None]
        envs = np.where(x < 1.0, np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)
        # slight acceleration within the spindle (~0.5 Hz)
        inst = f0[:, None] * tt[None, :] + 0.25 * tt[None, :] ** 2 / dur[:, None]
        waves = amp[:, None] * envs * np.sin(2 * np.pi * inst + phase[:, None])
        starts = np.rint(sp_t * fs).astype(np.int64)
        _add_waveforms(fpz, starts, waves)
        _add_waveforms(pz, starts, 0.55 * waves)

    if kc_t.size:
        L = int(1.6 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(70.0), 0.25, kc_t.size)  # negative peak (uV)
        width = rng.uniform(0.8, 1.2, kc_t.size)
        # sharp negative (surface-negative = upward) wave then slower positive wave
        neg = np.exp(-0.5 * ((tt[None, :] - 0.35 * width[:, None]) / (0.1 * width[:, None])) ** 2)
        pos = np.exp(-0.5 * ((tt[None, :] - 0.8 * width[:, None]) / (0.2 * width[:, None])) ** 2)
        waves = amp[:, None] * (-neg + 0.7 * pos)
        starts = np.rint(kc_t * fs).astype(np.int64)
        _add_waveforms(fpz, starts, waves)
        _add_waveforms(pz, starts, 0.4 * waves)

    # vertex sharp waves (N1, some in N2)
    vx_t = _events(rng, (3.0 * N1 + 0.4 * N2) / 60.0)
    events["vertex_waves"] = vx_t
    if vx_t.size:
        L = int(0.5 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(45.0), 0.25, vx_t.size)
        neg = np.exp(-0.5 * ((tt - 0.2) / 0.045) ** 2)
        pos = np.exp(-0.5 * ((tt - 0.32) / 0.07) ** 2)
        waves = amp[:, None] * (-neg + 0.35 * pos)[None, :]
        starts = np.rint(vx_t * fs).astype(np.int64)
        _add_waveforms(fpz, starts, waves)
        _add_waveforms(pz, starts, 0.25 * waves)

    # sawtooth-wave trains (REM, 2-5 Hz, 2-6 s)
    st_t = _events(rng, REM * (1.5 + 2.0 * phasic) / 60.0)
    events["sawtooth_trains"] = st_t
    if st_t.size:
        L = int(6.0 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = rng.uniform(2.0, 6.0, st_t.size)
        f0 = rng.uniform(2.5, 4.5, st_t.size)
        amp = rng.lognormal(np.log(18.0), 0.25, st_t.size)
        x = tt[None, :] / dur[:, None]
        envs = np.where(x < 1.0, np.sin(np.pi * np.clip(x, 0, 1)) ** 0.5, 0.0)
        saw = sps.sawtooth(2 * np.pi * f0[:, None] * tt[None, :], width=0.25)
        waves = amp[:, None] * envs * saw
        starts = np.rint(st_t * fs).astype(np.int64)
        _add_waveforms(fpz, starts, waves)
        _add_waveforms(pz, starts, 0.5 * waves)

    brain_fpz = fpz.copy()  # cortical signal reaching the EOG/EMG leads

    # ---------------- eyes: position signal (saccades, REMs), SEM, blinks ------------
    eog = np.zeros(n, dtype=np.float32)
    rem_rate = REM * (0.08 + 1.0 * phasic) * p["rem_density"] + 0.02 * N1
    sac_rate = wo * 0.6 + wc * 0.03 + MT * 0.3
    rem_t = _events(rng, rem_rate)
    sac_t = _events(rng, sac_rate)
    events["rapid_eye_movements"] = rem_t
    events["saccades"] = sac_t
    mv_t = np.concatenate([rem_t, sac_t])
    kind = np.concatenate([np.ones(rem_t.size), np.zeros(sac_t.size)])
    order = np.argsort(mv_t, kind="stable")
    mv_t, kind = mv_t[order], kind[order]
    if mv_t.size:
        # targets of gaze (horizontal EOG uV), mean-reverting around straight ahead
        target = rng.normal(0.0, 1.0, mv_t.size) * np.where(kind > 0, 55.0, 120.0)
        steps = np.diff(np.concatenate([[0.0], target]))
        # saccade velocity profile: 40-80 ms (REMs) raised-cosine
        L = int(0.12 * fs) + 2
        tt = np.arange(L, dtype=np.float64) / fs
        dur = np.where(kind > 0, rng.uniform(0.05, 0.1, mv_t.size), rng.uniform(0.04, 0.08, mv_t.size))
        x = tt[None, :] / dur[:, None]
        vel = np.where(x < 1.0, 1.0 - np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)
        vel /= vel.sum(axis=1, keepdims=True)
        velocity = np.zeros(n, dtype=np.float32)
        _add_waveforms(velocity, np.rint(mv_t * fs).astype(np.int64), steps[:, None] * vel)
        pos = np.cumsum(velocity, dtype=np.float64)
        # return towards the primary position after each REM burst / fixation (~1 s)
        b, a = sps.butter(1, 0.3 / (fs / 2), btype="high")  # amplifier time constant
        eog += sps.lfilter(b, a, pos).astype(np.float32)
    # slow eye movements (drowsy wake, N1; fading into N2)
    sem_env = up((22.0 * N1 + 10.0 * wc + 4.0 * N2) * _slow_process(rng, n_ticks, 15.0, 0.5))
    eog += sem_env * noise(_gauss(0.35, 0.15))
    # blinks (eyes open wake mainly)
    bl_t = _events(rng, wo * 0.3 + wc * 0.02 + MT * 0.2) if artifacts else np.zeros(0)
    events["blinks"] = bl_t
    blink_fpz = np.zeros(n, dtype=np.float32)
    if bl_t.size:
        L = int(0.6 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(90.0), 0.3, bl_t.size)
        shape = np.where(tt < 0.12, np.sin(np.pi * tt / 0.24) ** 2, np.exp(-(tt - 0.12) / 0.09))
        waves = amp[:, None] * shape[None, :]
        starts = np.rint(bl_t * fs).astype(np.int64)
        _add_waveforms(blink_fpz, starts, waves)
    eye = eog.copy()
    eog += 0.8 * blink_fpz

    # ---------------- chin EMG -------------------------------------------------------
    tone = (
        stage_mix([1.0, 0.75, p["emg_tone_nrem"], 0.85 * p["emg_tone_nrem"], 0.12, 1.3])
        + 0.5 * wo
        + 0.8 * arousal * (1.0 - REM)
    ) * mod_emg
    emg_sd_uv = 9.0
    fs_hi = min(45.0, 0.45 * fs)
    emg = up(tone * emg_sd_uv) * noise(lambda f: _band(f, 10.0, fs_hi, 3))
    # REM twitches (phasic bursts, 50-250 ms)
    tw_t = _events(rng, REM * (0.1 + 0.3 * phasic))
    events["twitches"] = tw_t
    if tw_t.size:
        L = int(0.25 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = rng.uniform(0.05, 0.25, tw_t.size)
        envs = np.where(tt[None, :] < dur[:, None], 1.0, 0.0)
        carrier = rng.standard_normal((tw_t.size, L))
        amp = rng.lognormal(np.log(12.0), 0.4, tw_t.size)
        _add_waveforms(emg, np.rint(tw_t * fs).astype(np.int64), amp[:, None] * envs * carrier)

    # scalp muscles (frontalis, temporalis) reach the EEG and EOG leads, mostly in wake
    scalp_env = stage_mix([1.5, 0.8, 0.4, 0.3, 0.2, 3.0]) + 1.5 * wo + 1.0 * arousal * (1.0 - REM)
    scalp = up(scalp_env * mod_emg) * noise(lambda f: _band(f, 15.0, fs_hi, 2))
    fpz += scalp
    pz += 0.5 * scalp
    eog += 0.8 * scalp
    del scalp

    # ---------------- movement artefacts, electrode pops ----------------------------
    mv_env = np.zeros(n_ticks, dtype=np.float32)
    if artifacts:
        mov_t = _events(rng, W * (0.2 / 60.0) + MT * (4.0 / 60.0) + sleep_w * (0.3 / 3600.0))
        events["movements"] = mov_t
        if mov_t.size:
            dur = rng.uniform(1.0, 8.0, mov_t.size)
            mag = rng.lognormal(0.0, 0.4, mov_t.size)
            for t0, d, m in zip(mov_t, dur, mag):
                a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
                mv_env[a:b] = np.maximum(mv_env[a:b], m)
            mv_env = _smooth(mv_env, 0.5 * _TICK_HZ)
    else:
        events["movements"] = np.zeros(0)
    if artifacts and mv_env.any():
        env = up(mv_env)
        low = noise(_power_law(2.0, 0.2, 5.0))
        high = noise(lambda f: _band(f, 15.0, fs_hi, 2))
        fpz += env * (60.0 * low + 15.0 * high)
        pz += env * (40.0 * np.roll(low, int(0.05 * fs)) + 10.0 * high)
        eog += env * (70.0 * -low + 15.0 * high)
        emg += env * 40.0 * high * (1.0 + 0.5 * np.abs(low))

    # ---------------- volume conduction, ECG, amplifier noise ------------------------
    fpz += blink_fpz + 0.04 * eye
    eog += p["eog_leak"] * brain_fpz
    b_hp, a_hp = sps.butter(1, 10.0 / (fs / 2), btype="high")
    emg += p["emg_leak"] * sps.lfilter(b_hp, a_hp, brain_fpz).astype(np.float32)

    # ECG: beat times from a heart rate that follows the stage, plus HRV
    hr = stage_mix([1.08, 1.0, 0.97, 0.94, 1.02, 1.1]) * p["heart_rate_bpm"] / 60.0
    hr = hr * _slow_process(rng, n_ticks, 20.0, 0.04)
    phase = np.cumsum(hr) / _TICK_HZ
    beats = np.searchsorted(phase, np.arange(1, int(phase[-1]))) / _TICK_HZ
    beats = beats + rng.uniform(0.0, 1.0 / _TICK_HZ, beats.size)
    events["heart_beats"] = beats
    if beats.size:
        L = int(0.3 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        qrs = (
            np.exp(-0.5 * ((tt - 0.1) / 0.012) ** 2)
            - 0.25 * np.exp(-0.5 * ((tt - 0.125) / 0.015) ** 2)
            + 0.15 * np.exp(-0.5 * ((tt - 0.27) / 0.04) ** 2)
        )
        ecg = np.zeros(n, dtype=np.float32)
        waves = np.broadcast_to(qrs, (beats.size, L)).copy()
        _add_waveforms(ecg, np.rint(beats * fs).astype(np.int64), waves)
        e = p["ecg_uv"]
        fpz += 0.3 * e * ecg
        pz += 0.2 * e * ecg
        eog += 0.4 * e * ecg
        emg += 1.0 * e * ecg

    # electrode pops: sudden step with exponential recovery on one EEG/EOG lead
    sigs = [fpz, pz, eog]
    pops = []
    if artifacts:
        for ch in range(3):
            pt = _events(rng, np.full(n_ticks, 0.8 / 3600.0, dtype=np.float32))
            pops.append(pt)
            if pt.size:
                L = int(3.0 * fs)
                tt = np.arange(L, dtype=np.float64) / fs
                tau = rng.uniform(0.15, 0.6, pt.size)
                amp = rng.choice([-1.0, 1.0], pt.size) * rng.uniform(80.0, 250.0, pt.size)
                waves = amp[:, None] * np.exp(-tt[None, :] / tau[:, None])
                _add_waveforms(sigs[ch], np.rint(pt * fs).astype(np.int64), waves)
    events["electrode_pops"] = np.sort(np.concatenate(pops)) if pops else np.zeros(0)

    # per-night channel gains and amplifier noise
    noise_uv = p["noise_uv"]
    out = np.empty((4, n), dtype=np.float32)
    out[0] = p["gain_fpz"] * fpz
    out[1] = p["gain_fpz"] * p["gain_pz"] * pz
    out[2] = p["gain_eog"] * eog
    out[3] = p["gain_emg"] * emg
    out += noise_uv * rng.standard_normal((4, n), dtype=np.float32) * np.array(
        [[1.0], [1.0], [1.0], [0.5]], dtype=np.float32
    )
    return SyntheticNight(
        signals=out,
        fs_hz=fs,
        channel_names=list(CHANNEL_NAMES),
        channel_types=list(CHANNEL_TYPES),
        hypnogram=hyp,
        epoch_s=epoch_s,
        seed=seed,
        params=p,
        events=events,
    )


# --------------------------------------------------------------------------------------
# EDF output
# --------------------------------------------------------------------------------------
def _physical_range(x: np.ndarray) -> tuple[float, float]:
    """Symmetric range rounded up to 100 uV (at least +-200 uV), Sleep-EDF-like."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    m = max(200.0, 100.0 * np.ceil(m / 100.0))
    return -m, m


def write_synthetic_night(
    out_dir: str | os.PathLike,
    record_id: str,
    hypnogram,
    *,
    seed: int,
    start: datetime | None = None,
    extra_wake_epochs: int = 0,
    **kw,
) -> tuple[Path, Path]:
    """Synthesise a night and write it as a Sleep-EDF-like EDF pair.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder (created if missing).
    record_id : str
        Record name; files are ``<record_id>-PSG.edf`` and ``<record_id>-Hypnogram.edf``.
    hypnogram : array_like of int, shape (n_epochs,)
        -1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM per 30-s epoch.
    seed : int
        Seed; the same seed and arguments give byte-identical files.
    start : datetime, optional
        Recording start written to both headers; default :data:`DEFAULT_START`.
    extra_wake_epochs : int
        Wake epochs added before and after the hypnogram (so that an edge-trimming step
        has something to trim); they appear in both files.
    **kw
        Passed to :func:`synthesize_night` (``fs_hz``, ``epoch_s``, ``artifacts``,
        ``params``).

    Returns
    -------
    (psg_path, hypnogram_path) : tuple of Path
        The PSG file holds 4 channels (physical dimension ``uV``) plus the EDF+
        annotation signal, data records of 1 s; the hypnogram is annotation-only EDF+.
    """
    if not isinstance(record_id, str) or not record_id or any(c in record_id for c in "/\\"):
        raise ValueError(f"record_id must be a non-empty file-name-safe string, got {record_id!r}")
    if (
        isinstance(extra_wake_epochs, bool)
        or not isinstance(extra_wake_epochs, (int, np.integer))
        or extra_wake_epochs < 0
    ):
        raise ValueError(f"extra_wake_epochs must be a non-negative int, got {extra_wake_epochs!r}")
    hyp = _check_hypnogram(hypnogram)
    pad = np.zeros(int(extra_wake_epochs), dtype=np.int64)
    hyp = np.concatenate([pad, hyp, pad])
    start = DEFAULT_START if start is None else start
    night = synthesize_night(hyp, seed=seed, **kw)
    out_dir = Path(out_dir)
    psg_path = out_dir / f"{record_id}-PSG.edf"
    hyp_path = out_dir / f"{record_id}-Hypnogram.edf"
    ranges = [_physical_range(x) for x in night.signals]
    fs = night.fs_hz
    prefilters = ["HP:0.3Hz LP:35Hz", "HP:0.3Hz LP:35Hz", "HP:0.3Hz LP:35Hz", "HP:10Hz LP:45Hz"]
    code = "_".join(record_id.split())
    write_edf(
        psg_path,
        night.signals,
        fs,
        night.channel_names,
        "uV",
        start=start,
        patient_id=f"{code} X X X",
        record_duration_s=1.0 if float(fs).is_integer() else night.epoch_s,
        physical_min=[r[0] for r in ranges],
        physical_max=[r[1] for r in ranges],
        prefilter=prefilters,
        transducer=["Ag-AgCl electrodes"] * 4,
    )
    write_hypnogram_edf(hyp_path, hyp, start=start, epoch_s=night.epoch_s, patient_id=f"{code} X X X")
    return psg_path, hyp_path
