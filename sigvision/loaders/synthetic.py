"""Seeded synthetic polysomnography (PSG) driven by a real hypnogram, calibrated to real EEG.

:func:`synthesize_night` turns a hypnogram (one stage per 30-s epoch) into PSG channels in
microvolts, in one of several electrode montages (:data:`MONTAGES`):

==============  ==========================================================================
montage         channels
==============  ==========================================================================
``sleep_edf``   ``EEG Fpz-Cz``, ``EEG Pz-Oz`` (bipolar), ``EOG horizontal``, ``EMG
                submental`` (Sleep-EDF Expanded; the default)
``sleep_edf_sc``  the same, with the chin EMG written as Sleep-EDF SC's 1-Hz envelope
                (high-pass 16 Hz, rectified, low-pass 0.7 Hz)
``aasm``        ``EEG F4-M1``, ``EEG C4-M1``, ``EEG O2-M1``, ``EOG E1-M2``, ``EMG chin``
                (AASM recommended derivations, mastoid references)
``aasm_left``   ``EEG F3-M2``, ``EEG C3-M2``, ``EEG O1-M2``, ``EOG E1-M2``, ``EMG chin``
``central``     ``EEG C3-A2``, ``EEG O1-A2``, ``EOG LOC-A2``, ``EMG chin`` (older naming)
``cz``          ``EEG Cz-A1``, ``EOG E1-M2``, ``EMG chin`` (one central lead)
``frontal``     ``EEG F4-M1``, ``EOG E2-M1``, ``EMG chin`` (frontal-only systems)
``random``      one of the above, drawn from the seed (domain randomisation)
==============  ==========================================================================

How the signals are built
-------------------------
Each EEG derivation is a weighted sum of shared generators (1/f background, slow waves,
theta, alpha, sigma, beta) and discrete events (slow and fast spindles, K-complexes,
vertex waves, sawtooth waves, arousals), with a gain per generator and derivation
(:data:`DERIVATIONS`: slow waves frontal-maximal, spindles and K-complexes central, alpha
occipital; a bipolar derivation such as Fpz-Cz sees the difference of its two electrodes,
so a vertex K-complex appears inverted and smaller on it). Derivations share the same
generators with a derivation-specific phase mix, so they are correlated but not identical.
Eye movements and blinks reach the frontal leads, ECG the mastoid-referenced ones, scalp
muscle the frontal and temporal ones.

Amplitudes are calibrated on a central-mastoid derivation (C3-A1/C4-M1/Cz-A1) to these
references (0.5-30 Hz, medians per 30-s epoch; relative power = band / 0.5-30 Hz power):

=====  ======  =======  =======  =======  =======  =======  ================================
stage  RMS uV  delta    theta    alpha    sigma    beta     source
=====  ======  =======  =======  =======  =======  =======  ================================
W      7-19    .47-.86  .04-.23  .03-.21  .02-.12  .01-.09  DREAMS, 6 subjects (see below)
N1     8-16    .48-.84  .06-.28  .03-.20  .02-.05  .01-.12  DREAMS
N2     15-22   .69-.84  .07-.17  .03-.09  .02-.05  .01-.02  DREAMS; YASA N2 snippet .047
N3     21-31   .77-.90  .06-.14  .03-.04  .01-.03  <=.01    DREAMS; YASA N3 snippet 18.6 uV
R      ~10     --       high     some     low      some     AASM: low-voltage mixed frequency
=====  ======  =======  =======  =======  =======  =======  ================================

DREAMS: the DREAMS Sleep Spindles database (Devuyst et al. 2011, University of Mons; 8
30-min central-EEG excerpts, R&K hypnograms, CC BY-NC-ND: used for measurement only, not
shipped); YASA snippets: the N2 and N3 example EEG of YASA's notebooks (Vallat & Walker,
eLife 2021). Physiological definitions follow the AASM Manual v2.6 (N3: >= 20 % of the
epoch with 0.5-2 Hz waves >= 75 uV peak to peak, frontal; spindles 11-16 Hz, >= 0.5 s;
K-complexes >= 0.5 s; alpha 8-13 Hz posterior, attenuated by eye opening), spindle density
and frequency follow Purcell et al. (Nat Commun 2017; 2-7 per minute in N2, slow frontal
~12 Hz and fast centro-parietal ~13.5 Hz spindles), slow-wave activity decays across the
night (process S; Borbely 1982) and the background spectrum steepens with depth of sleep
(Lendner et al., eLife 2020). ``benchmarks/synthetic_realism.py --spectra`` prints these
statistics for synthetic nights next to the real snippets.

Variability instead of textbook stages
--------------------------------------
Everything varies between nights (:func:`draw_night_params`): overall EEG amplitude (age,
skull), alpha frequency and prominence (some people have almost none), the share of
eyes-closed wake, spindle density, frequency and amplitude, slow-wave amplitude and its
decay over the night, K-complex rate, 1/f slope, chin-EMG tone in NREM and REM, eye-movement
density, heart rate, ECG pick-up, amplifier noise, recording filters (high-pass 0.1-0.5 Hz,
low-pass 25-45 Hz when the sampling rate allows), mains interference (50 or 60 Hz, when the
sampling rate can carry it), sweat artefacts, movement, electrode pops, arousal rate, and
how ambiguous transitional epochs are: every epoch's physiology leaks towards its
neighbours' stages (strongly at stage changes), N1 keeps some wake alpha or borrows N2
features. ``label_noise`` relabels epochs the way a single human scorer departs from the
consensus of four others on the Dreem DOD-H/DOD-O nights shipped in
``resources/sample/hypnograms`` (:data:`SCORER_CONFUSION_STABLE`,
:data:`SCORER_CONFUSION_TRANSITION`; overall agreement 83 %).

Every random draw comes from ``numpy.random.default_rng(seed)`` in a fixed order, so the
same seed gives bit-identical signals (same platform and numpy/scipy versions), and
:func:`write_synthetic_night` writes byte-identical EDF files. A 1,000-epoch night takes
about 2-4 s (vectorised numpy/FFT; envelopes are built at 10 Hz and interpolated).
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
from scipy.special import ndtr

from .edf_write import write_edf, write_hypnogram_edf

__all__ = [
    "CHANNEL_NAMES",
    "CHANNEL_TYPES",
    "DEFAULT_START",
    "DERIVATIONS",
    "MONTAGES",
    "RANDOM_MONTAGES",
    "SCORER_CONFUSION_STABLE",
    "SCORER_CONFUSION_TRANSITION",
    "SyntheticNight",
    "draw_night_params",
    "montage_channels",
    "scorer_labels",
    "synthesize_night",
    "write_synthetic_night",
]

#: Sleep-EDF channel labels of the default montage (row order of ``signals``).
CHANNEL_NAMES: tuple[str, ...] = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")
CHANNEL_TYPES: tuple[str, ...] = ("eeg", "eeg", "eog", "emg")
#: Start time written into the EDF headers unless another is given (fixed for determinism).
DEFAULT_START = datetime(2001, 1, 1, 22, 30, 0)

_N_CAT = 6  # W, N1, N2, N3, REM, unscored/movement
_W, _N1, _N2, _N3, _REM, _MT = range(_N_CAT)
_TICK_HZ = 10.0  # resolution of envelopes and event sampling

# Generators and events each derivation mixes (columns of DERIVATIONS).
_KEYS = ("bg", "delta", "theta", "alpha", "sigma", "beta", "spin_slow", "spin_fast", "kc",
         "saw", "eye", "muscle", "ecg", "phase")

#: Gain of each generator on each derivation, relative to a central-mastoid derivation
#: (alpha: relative to occipital-mastoid). Negative gains: the event is larger at the
#: derivation's reference electrode (Cz in Fpz-Cz), so it appears inverted. ``phase``
#: (radians) sets how the derivation mixes the two copies of each shared generator:
#: derivations with close phases are strongly correlated.
DERIVATIONS: dict[str, dict[str, float]] = {
    #         bg    delta theta alpha sigma beta  sp_sl sp_fa  kc    saw   eye   musc  ecg   phase
    "Fpz-Cz": dict(zip(_KEYS, (1.00, 1.10, 0.85, 0.22, 0.55, 0.90, 0.40, -0.70, -0.60, -0.6, 0.60, 1.20, 0.25, 0.2))),
    "Pz-Oz": dict(zip(_KEYS, (0.65, 0.30, 0.50, 0.60, 0.30, 0.60, 0.15, 0.35, 0.25, 0.30, 0.01, 0.50, 0.20, 1.4))),
    "F-M": dict(zip(_KEYS, (1.00, 1.15, 1.00, 0.30, 0.75, 1.00, 1.00, 0.60, 0.90, 0.85, 0.20, 1.10, 0.80, 0.0))),
    "C-M": dict(zip(_KEYS, (1.00, 1.00, 1.00, 0.40, 1.00, 0.90, 0.75, 1.00, 1.00, 1.00, 0.06, 0.70, 0.80, 0.5))),
    "Cz-M": dict(zip(_KEYS, (1.00, 1.05, 1.00, 0.40, 1.05, 0.90, 0.80, 1.00, 1.15, 1.05, 0.05, 0.55, 0.80, 0.6))),
    "O-M": dict(zip(_KEYS, (0.90, 0.60, 0.80, 1.00, 0.50, 0.80, 0.30, 0.60, 0.45, 0.55, 0.02, 0.80, 0.80, 1.2))),
}

#: montage name -> ((channel label, type, derivation or sensor), ...). EOG sensors:
#: ``hEOG`` (bipolar across the outer canthi, Sleep-EDF), ``E-M`` (one eye electrode
#: against a mastoid: horizontal and vertical movements plus frontal EEG); EMG ``chin``.
MONTAGES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sleep_edf": (("EEG Fpz-Cz", "eeg", "Fpz-Cz"), ("EEG Pz-Oz", "eeg", "Pz-Oz"),
                  ("EOG horizontal", "eog", "hEOG"), ("EMG submental", "emg", "chin")),
    "sleep_edf_sc": (("EEG Fpz-Cz", "eeg", "Fpz-Cz"), ("EEG Pz-Oz", "eeg", "Pz-Oz"),
                     ("EOG horizontal", "eog", "hEOG"), ("EMG submental", "emg", "chin_envelope")),
    "aasm": (("EEG F4-M1", "eeg", "F-M"), ("EEG C4-M1", "eeg", "C-M"), ("EEG O2-M1", "eeg", "O-M"),
             ("EOG E1-M2", "eog", "E-M"), ("EMG chin", "emg", "chin")),
    "aasm_left": (("EEG F3-M2", "eeg", "F-M"), ("EEG C3-M2", "eeg", "C-M"), ("EEG O1-M2", "eeg", "O-M"),
                  ("EOG E1-M2", "eog", "E-M"), ("EMG chin", "emg", "chin")),
    "central": (("EEG C3-A2", "eeg", "C-M"), ("EEG O1-A2", "eeg", "O-M"), ("EOG LOC-A2", "eog", "E-M"),
                ("EMG chin", "emg", "chin")),
    "cz": (("EEG Cz-A1", "eeg", "Cz-M"), ("EOG E1-M2", "eog", "E-M"), ("EMG chin", "emg", "chin")),
    "frontal": (("EEG F4-M1", "eeg", "F-M"), ("EOG E2-M1", "eog", "E-M"), ("EMG chin", "emg", "chin")),
}
#: Montages ``montage="random"`` draws from (uniformly).
RANDOM_MONTAGES: tuple[str, ...] = ("sleep_edf", "sleep_edf_sc", "aasm", "aasm_left", "central", "cz",
                                    "frontal")

#: P(label a single scorer gives | consensus of the other four), rows/columns W, N1, N2, N3,
#: REM, for epochs whose consensus neighbours have the same stage. Computed from the 60
#: Dreem DOD-H/DOD-O nights (5 scorers each) shipped in resources/sample/hypnograms
#: (tests/test_synthetic.py recomputes it); 256,614 epochs.
SCORER_CONFUSION_STABLE = np.array([
    [0.932, 0.037, 0.024, 0.001, 0.007],
    [0.208, 0.364, 0.368, 0.004, 0.055],
    [0.014, 0.042, 0.866, 0.059, 0.020],
    [0.001, 0.001, 0.229, 0.768, 0.002],
    [0.015, 0.027, 0.055, 0.000, 0.903],
])
#: The same for epochs next to a consensus stage change (52,298 epochs).
SCORER_CONFUSION_TRANSITION = np.array([
    [0.747, 0.125, 0.092, 0.007, 0.030],
    [0.177, 0.513, 0.259, 0.005, 0.047],
    [0.058, 0.126, 0.649, 0.117, 0.050],
    [0.008, 0.004, 0.424, 0.563, 0.000],
    [0.033, 0.089, 0.186, 0.002, 0.691],
])


@dataclass
class SyntheticNight:
    """One synthetic PSG night.

    Attributes
    ----------
    signals : ndarray, float32, shape (n_channels, n_samples)
        One row per channel of the montage, in microvolts; ``n_samples = n_epochs *
        epoch_s * fs_hz``. A channel written at a lower rate (``channel_fs_hz``) holds its
        low-rate samples repeated to ``fs_hz``.
    fs_hz : float
        Sampling rate of ``signals`` (100 Hz by default).
    channel_names, channel_types : list of str
        EDF labels and ``eeg``/``eog``/``emg`` per row.
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
    montage : str
        The montage (a key of :data:`MONTAGES`; the drawn one when ``"random"`` was asked).
    scored : ndarray, int64, shape (n_epochs,)
        Labels a human scorer would give (:func:`scorer_labels`); equal to ``hypnogram``
        when ``label_noise=0``. :func:`write_synthetic_night` writes these.
    channel_fs_hz : list of float
        Rate each channel is written at in EDF (``fs_hz``, or 1 Hz for an EMG envelope).
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
    montage: str = "sleep_edf"
    scored: np.ndarray | None = None
    channel_fs_hz: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.scored is None:
            self.scored = self.hypnogram
        if not self.channel_fs_hz:
            self.channel_fs_hz = [float(self.fs_hz)] * len(self.channel_names)

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


def _check_label_noise(label_noise) -> float:
    try:
        v = float(label_noise)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(label_noise, bool) or not (0.0 <= v <= 1.0):
        raise ValueError(f"label_noise must be a number in [0, 1] (0: labels = driving hypnogram, "
                         f"1: a human scorer's disagreement), got {label_noise!r}")
    return v


def _resolve_montage(montage: str, seed: int) -> str:
    if not isinstance(montage, str) or (montage not in MONTAGES and montage != "random"):
        raise ValueError(f"unknown montage {montage!r}; accepted: {', '.join([*MONTAGES, 'random'])}")
    if montage == "random":
        # separate stream: drawing the montage does not shift the signal's random draws
        pick = np.random.default_rng([seed, 7919]).integers(len(RANDOM_MONTAGES))
        return RANDOM_MONTAGES[int(pick)]
    return montage


def montage_channels(montage: str) -> list[tuple[str, str]]:
    """(channel label, type) of a montage, in row order (``"random"`` is not a montage)."""
    if montage not in MONTAGES:
        raise ValueError(f"unknown montage {montage!r}; accepted: {', '.join(MONTAGES)}")
    return [(name, typ) for name, typ, _ in MONTAGES[montage]]


# --------------------------------------------------------------------------------------
# per-night parameters
# --------------------------------------------------------------------------------------
def draw_night_params(rng: np.random.Generator) -> dict[str, float]:
    """Draw the inter-night (and inter-subject) parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (consumed in a fixed order).

    Returns
    -------
    dict of str to float
        Amplitude gains (``gain_eeg``, ``gain_eog``, ``gain_emg``), ``alpha_hz``,
        ``alpha_gain``, ``eyes_closed_frac``, ``spindle_hz``, ``spindle_density``,
        ``spindle_amp``, ``slow_spindle_frac``, ``sw_gain``, ``sw_decay_h``,
        ``kc_density``, ``kc_amp``, ``theta_gain``, ``beta_gain``, ``bg_slope``,
        ``noise_uv``, ``emg_tone_nrem``, ``emg_tone_rem``, ``rem_density``,
        ``heart_rate_bpm``, ``ecg_uv``, ``eog_leak``, ``emg_leak``, ``hp_hz``, ``lp_hz``,
        ``line_hz``, ``line_uv``, ``sweat_per_h``, ``movement_gain``, ``arousal_per_h``,
        ``ambiguity``, ``n1_alpha``.
    """
    ln = rng.lognormal
    p = {
        "gain_eeg": float(ln(0.0, 0.25)),
        "gain_eog": float(ln(0.0, 0.25)),
        "gain_emg": float(ln(0.0, 0.5)),
        "alpha_hz": float(np.clip(rng.normal(10.0, 0.7), 8.0, 12.5)),
        "alpha_gain": float(ln(0.0, 0.55)),
        "eyes_closed_frac": float(rng.uniform(0.15, 0.85)),
        "spindle_hz": float(np.clip(rng.normal(13.5, 0.5), 12.3, 15.0)),
        "spindle_density": float(ln(0.0, 0.35)),
        "spindle_amp": float(ln(0.0, 0.3)),
        "slow_spindle_frac": float(rng.uniform(0.2, 0.6)),
        "sw_gain": float(ln(0.0, 0.2)),
        "sw_decay_h": float(rng.uniform(2.5, 8.0)),
        "kc_density": float(ln(0.0, 0.3)),
        "kc_amp": float(ln(0.0, 0.25)),
        "theta_gain": float(ln(0.0, 0.2)),
        "beta_gain": float(ln(0.0, 0.35)),
        "bg_slope": float(rng.normal(0.0, 0.15)),
        "noise_uv": float(ln(np.log(0.8), 0.4)),
        "emg_tone_nrem": float(rng.uniform(0.4, 0.8)),
        "emg_tone_rem": float(rng.uniform(0.05, 0.25)),
        "rem_density": float(ln(0.0, 0.3)),
        "heart_rate_bpm": float(np.clip(rng.normal(62.0, 7.0), 45.0, 90.0)),
        "ecg_uv": float(ln(np.log(4.0), 0.6)),
        "eog_leak": float(rng.uniform(0.2, 0.5)),
        "emg_leak": float(rng.uniform(0.05, 0.25)),
        "hp_hz": float(np.exp(rng.uniform(np.log(0.1), np.log(0.5)))),
        "lp_hz": float(rng.uniform(25.0, 45.0)),
        "line_hz": float(rng.choice([50.0, 60.0])),
        "line_uv": float(0.0 if rng.random() < 0.5 else ln(np.log(3.0), 0.8)),
        "sweat_per_h": float(0.0 if rng.random() < 0.6 else ln(np.log(0.5), 0.8)),
        "movement_gain": float(ln(0.0, 0.5)),
        "arousal_per_h": float(ln(np.log(8.0), 0.5)),
        "ambiguity": float(rng.uniform(0.2, 0.8)),
        "n1_alpha": float(rng.uniform(0.1, 0.6)),
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

    def __call__(self, amp_fn, count: int = 1) -> np.ndarray:
        """``count`` noises with amplitude spectrum ``amp_fn(f)``, each of unit standard
        deviation; shape (n,) for one, (count, n) for several (one batched FFT)."""
        amp = amp_fn(self.f).astype(np.float32, copy=False)
        amp[0] = 0.0
        m = self.f.size
        spec = np.empty((count, m), dtype=np.complex64)
        spec.real = self.rng.standard_normal((count, m), dtype=np.float32)
        spec.imag = self.rng.standard_normal((count, m), dtype=np.float32)
        spec *= amp
        x = sfft.irfft(spec, self.nfft, axis=-1)[:, : self.n].astype(np.float32, copy=False)
        sd = x.std(axis=1, keepdims=True)
        x /= np.where(sd > 0, sd, 1.0).astype(np.float32)
        return x[0] if count == 1 else x


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


# Depth order used to blur epochs towards neighbouring stages (REM sits next to N1).
_ADJACENT = {_W: (_N1,), _N1: (_W, _N2, _REM), _N2: (_N1, _N3), _N3: (_N2,), _REM: (_N1, _W), _MT: (_W,)}


def _epoch_mixtures(rng, cat: np.ndarray, ambiguity: float, n1_alpha: float) -> np.ndarray:
    """Per-epoch stage mixture, shape (n_epochs, 6): mostly the epoch's own stage, with a
    share of a neighbouring epoch's stage at stage changes (0.1-0.45) and a small share of
    an adjacent stage elsewhere; N1 keeps ``n1_alpha`` of wake on average."""
    n = cat.size
    mix = np.zeros((n, _N_CAT), dtype=np.float32)
    mix[np.arange(n), cat] = 1.0
    prev = np.concatenate([cat[:1], cat[:-1]])
    nxt = np.concatenate([cat[1:], cat[-1:]])
    u_side = rng.random(n)
    leak_tr = rng.beta(2.0, 4.0, n) * 0.7 * ambiguity
    leak_in = rng.beta(1.0, 12.0, n) * ambiguity
    pick = rng.random(n)
    wake_n1 = rng.beta(2.0, 2.0, n) * 2.0 * n1_alpha
    for i in range(n):
        c = cat[i]
        other = prev[i] if (prev[i] != c and (nxt[i] == c or u_side[i] < 0.5)) else nxt[i]
        if other != c:
            share = min(leak_tr[i], 0.45)
        else:
            adj = _ADJACENT[c]
            other = adj[int(pick[i] * len(adj))]
            share = min(leak_in[i], 0.3)
        if c == _N1:
            share_w = min(wake_n1[i], 0.6)
            mix[i, _W] += share_w
            mix[i, c] -= share_w
        mix[i, other] += share * mix[i, c]
        mix[i, c] -= share * mix[i, c]
    return mix


# --------------------------------------------------------------------------------------
# human-like labels
# --------------------------------------------------------------------------------------
def scorer_labels(hypnogram, rng: np.random.Generator, level: float = 1.0, *, rho: float = 0.6) -> np.ndarray:
    """Relabel a hypnogram the way one human scorer departs from a consensus.

    Parameters
    ----------
    hypnogram : array_like of int, shape (n_epochs,)
        Consensus stages (-1 unscored stays -1).
    rng : numpy.random.Generator
        Source of randomness.
    level : float in [0, 1]
        0 keeps every label; 1 uses the inter-scorer confusion of the Dreem nights as is
        (:data:`SCORER_CONFUSION_STABLE` away from stage changes,
        :data:`SCORER_CONFUSION_TRANSITION` next to them); in between, ``(1 - level) I +
        level C``.
    rho : float in [0, 1)
        Correlation of consecutive epochs' draws (a Gaussian AR(1) copula), so that a
        scorer's deviations come in runs as they do in real scorings.

    Returns
    -------
    ndarray, int64, shape (n_epochs,)
    """
    hyp = _check_hypnogram(hypnogram)
    level = _check_label_noise(level)
    n = hyp.size
    z = rng.standard_normal(n)
    for i in range(1, n):
        z[i] = rho * z[i - 1] + np.sqrt(1.0 - rho * rho) * z[i]
    u = ndtr(z)
    if level == 0.0:
        return hyp.copy()
    change = np.zeros(n, dtype=bool)
    d = np.flatnonzero(np.diff(hyp) != 0)
    change[d] = True
    change[np.minimum(d + 1, n - 1)] = True
    eye = np.eye(5)
    out = hyp.copy()
    for mat, m in ((SCORER_CONFUSION_STABLE, ~change), (SCORER_CONFUSION_TRANSITION, change)):
        p = (1.0 - level) * eye + level * mat
        cdf = np.cumsum(p / p.sum(1, keepdims=True), axis=1)
        idx = np.flatnonzero(m & (hyp >= 0))
        out[idx] = np.minimum((u[idx, None] > cdf[hyp[idx]]).sum(1), 4)
    return out


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
    montage: str = "sleep_edf",
    label_noise: float = 0.0,
) -> SyntheticNight:
    """Synthesise one night of PSG that follows ``hypnogram``.

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
        Add movement bursts, electrode pops, blinks, sweat and mains interference
        (default). ``False`` gives clean signals (ECG, eye movements and arousals are
        physiology and stay).
    params : dict, optional
        Overrides for the per-night parameters drawn by :func:`draw_night_params`.
    montage : str
        A key of :data:`MONTAGES` (default ``"sleep_edf"``) or ``"random"`` (drawn from
        the seed, from :data:`RANDOM_MONTAGES`).
    label_noise : float in [0, 1]
        Strength of human-scorer-like relabelling of ``scored`` (see
        :func:`scorer_labels`); 0 (default) keeps the driving hypnogram.

    Returns
    -------
    SyntheticNight
        ``signals`` float32 (n_channels, n_epochs * epoch_s * fs_hz) in microvolts.

    Raises
    ------
    ValueError
        Empty hypnogram, a stage outside -1..4, bad seed, sampling rate, montage or
        label_noise.
    """
    hyp = _check_hypnogram(hypnogram)
    seed = _check_seed(seed)
    label_noise = _check_label_noise(label_noise)
    montage = _resolve_montage(montage, seed)
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
    per_epoch = int(round(epoch_s * _TICK_HZ))
    n_ticks = hyp.size * per_epoch

    rng = np.random.default_rng(seed)
    p = draw_night_params(rng)
    if params:
        unknown = set(params) - set(p)
        if unknown:
            raise ValueError(f"unknown night parameters {sorted(unknown)}; known: {sorted(p)}")
        p.update({k: float(v) for k, v in params.items()})

    spec = MONTAGES[montage]
    eeg_rows = [i for i, (_, t, _) in enumerate(spec) if t == "eeg"]
    derivs = [DERIVATIONS[spec[i][2]] for i in eeg_rows]
    # the frontal-mastoid mixture reaches the EOG electrodes, the central one the chin
    leak_f, leak_c = DERIVATIONS["F-M"], DERIVATIONS["C-M"]
    targets = derivs + [leak_f, leak_c]  # accumulated together; the last two are leaks
    n_t = len(targets)
    gains = {k: np.array([d[k] for d in targets], dtype=np.float32)[:, None] for k in _KEYS}
    ch_jitter = rng.lognormal(0.0, 0.12, n_t).astype(np.float32)
    ch_jitter[-2:] = 1.0

    t_tick = np.arange(n_ticks, dtype=np.float64) / _TICK_HZ
    t_samp = np.arange(n, dtype=np.float64) / fs
    noise = _NoiseSource(rng, n, fs)

    def up(env_ticks: np.ndarray) -> np.ndarray:
        """Tick-rate envelope -> sample rate (linear interpolation)."""
        return np.interp(t_samp, t_tick, env_ticks).astype(np.float32)

    # ---------------- stage envelopes (tick resolution) ------------------------------
    cat = np.where(hyp < 0, _MT, hyp)
    mix = _epoch_mixtures(rng, cat, p["ambiguity"], p["n1_alpha"])
    w_raw = np.repeat(mix.T, per_epoch, axis=1)
    w = _smooth(w_raw, 3.0 * _TICK_HZ)  # ~6 s transitions
    w_slow = _smooth(w_raw, 8.0 * _TICK_HZ)  # slow-wave activity builds up over ~15 s
    W, N1, N2, N3, REM, MT = w
    wake_like = W + MT

    # Wake sub-states: eyes closed (alpha) vs eyes open (beta, blinks, saccades).
    ec = p["eyes_closed_frac"]
    eyes_closed = _markov_binary(rng, n_ticks, ec, 60.0 * ec, 60.0 * (1 - ec))
    # Wake next to sleep is drowsy, eyes mostly closed.
    near_sleep = _smooth((1.0 - w_raw[_W] - w_raw[_MT]), 120.0 * _TICK_HZ, passes=1) > 0.02
    eyes_closed = np.maximum(eyes_closed, 0.8 * near_sleep.astype(np.float32))
    eyes_closed = _smooth(eyes_closed, 1.0 * _TICK_HZ)
    eyes_open = 1.0 - eyes_closed
    wc = wake_like * eyes_closed  # relaxed wake
    wo = wake_like * eyes_open  # active wake

    # Phasic vs tonic REM.
    phasic = _smooth(_markov_binary(rng, n_ticks, 0.45, 20.0, 25.0), 1.0 * _TICK_HZ)

    # Brief arousals inside sleep (3-15 s): alpha + chin tone + beta burst.
    sleep_w = N1 + N2 + N3 + REM
    ar_t = _events(rng, sleep_w * (p["arousal_per_h"] / 3600.0))
    arousal = np.zeros(n_ticks, dtype=np.float32)
    if ar_t.size:
        dur = rng.uniform(3.0, 15.0, ar_t.size)
        for t0, d in zip(ar_t, dur):
            a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
            arousal[a:b] = 1.0
    arousal = _smooth(arousal, 1.0 * _TICK_HZ) * sleep_w

    # Process S: slow-wave amplitude decays from sleep onset (x1.2) towards x0.7.
    asleep = np.flatnonzero((cat >= _N1) & (cat <= _REM))
    onset_s = float(asleep[0] * epoch_s) if asleep.size else 0.0
    since = np.maximum(t_tick - onset_s, 0.0) / 3600.0
    swa_s = (0.7 + 0.5 * np.exp(-since / p["sw_decay_h"])).astype(np.float32)

    # Slow within-stage fluctuations.
    mod_delta = _slow_process(rng, n_ticks, 60.0, 0.2)
    mod_alpha = _slow_process(rng, n_ticks, 4.0, 0.45)
    mod_spin = _slow_process(rng, n_ticks, 90.0, 0.25)
    mod_emg = _slow_process(rng, n_ticks, 120.0, 0.25)
    mod_bg = _slow_process(rng, n_ticks, 120.0, 0.12)
    mod_spin_bg = _slow_process(rng, n_ticks, 2.0, 0.6)

    # ---------------- continuous EEG generators --------------------------------------
    # Amplitudes: standard deviation (uV) on a central-mastoid derivation before the
    # per-night gain; alpha on an occipital one. Stage order: W, N1, N2, N3, REM, unscored.
    def stage_mix(values, weights=w):
        v = np.asarray(values, dtype=np.float32)
        return (v[:, None] * weights).sum(axis=0)

    slope = p["bg_slope"]
    a_pink = stage_mix([6.5, 6.0, 5.0, 5.0, 5.5, 6.0]) * mod_bg
    a_brown = stage_mix([9.5, 8.5, 15.0, 13.0, 9.0, 9.0]) * mod_bg
    # a subject's slow-wave gain scales N3 fully, N2 partly (scorers' 75-uV criterion is absolute)
    sw = p["sw_gain"]
    a_delta = stage_mix([2.5, 4.5, 8.5 * np.sqrt(sw), 21.0 * sw, 3.5, 3.0], w_slow) * mod_delta * swa_s
    a_theta = stage_mix([2.0, 4.0, 4.0, 4.5, 3.3, 2.0]) * p["theta_gain"]
    a_beta = (stage_mix([2.8, 1.9, 0.7, 0.55, 1.3, 3.0]) + 1.2 * wo + 1.5 * arousal) * p["beta_gain"]
    a_alpha = (6.5 * wc + 1.5 * wo + 3.5 * N1 * (1 - wake_like) + 3.0 * N2 + 3.2 * N3
               + 1.5 * REM + 3.5 * arousal) * mod_alpha * p["alpha_gain"]
    a_sigma = stage_mix([0.6, 0.9, 1.8, 3.0, 0.5, 0.6]) * mod_spin_bg
    a_ralpha = 1.5 * REM * _slow_process(rng, n_ticks, 3.0, 0.6) * p["alpha_gain"]

    fa = p["alpha_hz"]
    # (key, spectral shape, amplitude envelope, how differently derivations mix the two copies)
    components = (
        # real background spectra are smooth power laws that steepen above ~15 Hz
        ("bg", lambda f: _power_law(1.0 + slope, 0.2, 45.0)(f) * _band(f, 0, 15.0, 1), a_pink, 1.0),
        ("bg", _power_law(2.0 + slope, 0.2, 45.0), a_brown, 0.8),
        ("delta", _log_gauss(1.0, 0.75), a_delta, 0.5),  # 0.5-3 Hz, no textbook notch at 3 Hz
        ("theta", _log_gauss(5.0, 0.3), a_theta, 0.7),
        ("alpha", _gauss(fa, 1.0), a_alpha, 0.5),
        ("sigma", _gauss(p["spindle_hz"], 0.9), a_sigma, 0.6),
        ("beta", _gauss(20.0, 5.0), a_beta, 1.0),
        ("alpha", _gauss(fa - 1.5, 0.5), a_ralpha, 0.5),  # REM alpha, 1-2 Hz slower
    )
    eeg = np.zeros((n_t, n), dtype=np.float32)
    ph = gains["phase"]
    for key, shape, amp_ticks, spread in components:
        env = up(amp_ticks)
        a, b = noise(shape, count=2)
        c, s = np.cos(ph * spread), np.sin(ph * spread)
        eeg += (gains[key] * env) * (c * a + s * b)
    del a, b

    # ---------------- discrete EEG events --------------------------------------------
    events: dict[str, np.ndarray] = {}
    dens = p["spindle_density"]
    # spindles: per-minute density per stage, suppressed during arousals
    sp_rate = (0.2 * N1 + 4.0 * N2 + 1.5 * N3) * dens * mod_spin * (1 - arousal)
    sp_rate = np.minimum(sp_rate, 8.0) / 60.0
    sp_t = _events(rng, sp_rate)
    # K-complexes
    kc_rate = (0.2 * N1 + 1.2 * N2 + 0.4 * N3) * p["kc_density"] / 60.0 * (1 - arousal)
    kc_t = _events(rng, kc_rate)
    # about a third of the K-complexes are followed by a spindle
    follow = kc_t[rng.random(kc_t.size) < 0.35]
    follow = follow + rng.uniform(0.5, 0.9, follow.size)
    sp_t = np.sort(np.concatenate([sp_t, follow]))
    sp_t = sp_t[sp_t < hyp.size * epoch_s - 2.5]
    events["spindles"] = sp_t
    events["k_complexes"] = kc_t

    def add_event(key: str, starts: np.ndarray, waves: np.ndarray) -> None:
        one = np.zeros(n, dtype=np.float32)
        _add_waveforms(one, starts, waves)
        np.add(eeg, gains[key] * one, out=eeg)

    if sp_t.size:
        L = int(2.2 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = np.clip(rng.lognormal(np.log(0.9), 0.3, sp_t.size), 0.5, 2.0)
        slow = rng.random(sp_t.size) < p["slow_spindle_frac"]
        n3_at = np.interp(sp_t, t_tick, N3)
        f0 = np.where(slow, p["spindle_hz"] - 1.5, p["spindle_hz"]) - 0.5 * n3_at
        f0 = np.clip(f0 + rng.normal(0.0, 0.4, sp_t.size), 11.0, 16.0)
        amp = rng.lognormal(np.log(14.0), 0.3, sp_t.size) * p["spindle_amp"]  # peak (uV)
        phase0 = rng.uniform(0, 2 * np.pi, sp_t.size)
        x = tt[None, :] / dur[:, None]
        envs = np.where(x < 1.0, np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)
        inst = f0[:, None] * tt[None, :] + 0.25 * tt[None, :] ** 2 / dur[:, None]
        waves = amp[:, None] * envs * np.sin(2 * np.pi * inst + phase0[:, None])
        starts = np.rint(sp_t * fs).astype(np.int64)
        add_event("spin_slow", starts[slow], waves[slow])
        add_event("spin_fast", starts[~slow], waves[~slow])

    if kc_t.size:
        L = int(1.6 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(50.0), 0.3, kc_t.size) * p["kc_amp"]  # negative peak (uV)
        width = rng.uniform(0.8, 1.2, kc_t.size)
        # sharp negative (surface-negative = upward) wave then slower positive wave
        neg = np.exp(-0.5 * ((tt[None, :] - 0.35 * width[:, None]) / (0.1 * width[:, None])) ** 2)
        pos = np.exp(-0.5 * ((tt[None, :] - 0.8 * width[:, None]) / (0.2 * width[:, None])) ** 2)
        add_event("kc", np.rint(kc_t * fs).astype(np.int64), amp[:, None] * (-neg + 0.7 * pos))

    # vertex sharp waves (N1, some in N2)
    vx_t = _events(rng, (2.5 * N1 + 0.3 * N2) / 60.0)
    events["vertex_waves"] = vx_t
    if vx_t.size:
        L = int(0.5 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(30.0), 0.3, vx_t.size)
        neg = np.exp(-0.5 * ((tt - 0.2) / 0.045) ** 2)
        pos = np.exp(-0.5 * ((tt - 0.32) / 0.07) ** 2)
        add_event("kc", np.rint(vx_t * fs).astype(np.int64), amp[:, None] * (-neg + 0.35 * pos)[None, :])

    # sawtooth-wave trains (REM, 2-5 Hz, 2-6 s)
    st_t = _events(rng, REM * (1.0 + 2.0 * phasic) / 60.0)
    events["sawtooth_trains"] = st_t
    if st_t.size:
        L = int(6.0 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = rng.uniform(2.0, 6.0, st_t.size)
        f0 = rng.uniform(2.5, 4.5, st_t.size)
        amp = rng.lognormal(np.log(9.0), 0.3, st_t.size)
        x = tt[None, :] / dur[:, None]
        envs = np.where(x < 1.0, np.sin(np.pi * np.clip(x, 0, 1)) ** 0.5, 0.0)
        saw = sps.sawtooth(2 * np.pi * f0[:, None] * tt[None, :], width=0.25)
        add_event("saw", np.rint(st_t * fs).astype(np.int64), amp[:, None] * envs * saw)

    # ---------------- eyes: position signal (saccades, REMs), SEM, blinks ------------
    eye = np.zeros(n, dtype=np.float32)
    rem_rate = REM * (0.08 + 1.0 * phasic) * p["rem_density"] + 0.02 * N1
    sac_rate = wo * 1.0 + wc * 0.05 + MT * 0.3
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
        target = rng.normal(0.0, 1.0, mv_t.size) * np.where(kind > 0, 75.0, 220.0)
        steps = np.diff(np.concatenate([[0.0], target]))
        L = int(0.12 * fs) + 2
        tt = np.arange(L, dtype=np.float64) / fs
        dur = np.where(kind > 0, rng.uniform(0.05, 0.1, mv_t.size), rng.uniform(0.04, 0.08, mv_t.size))
        x = tt[None, :] / dur[:, None]
        vel = np.where(x < 1.0, 1.0 - np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)
        vel /= vel.sum(axis=1, keepdims=True)
        velocity = np.zeros(n, dtype=np.float32)
        _add_waveforms(velocity, np.rint(mv_t * fs).astype(np.int64), steps[:, None] * vel)
        pos = np.cumsum(velocity, dtype=np.float64)
        b, a = sps.butter(1, 0.3 / (fs / 2), btype="high")  # return to primary position
        eye += sps.lfilter(b, a, pos).astype(np.float32)
    # slow eye movements (drowsy wake, N1; fading into N2)
    sem_env = up((22.0 * N1 + 10.0 * wc + 4.0 * N2) * _slow_process(rng, n_ticks, 15.0, 0.5))
    eye += sem_env * noise(_gauss(0.35, 0.15))
    # blinks (eyes open wake mainly): vertical, large on frontal and E-M leads
    bl_t = _events(rng, wo * 0.3 + wc * 0.02 + MT * 0.2) if artifacts else np.zeros(0)
    events["blinks"] = bl_t
    blink = np.zeros(n, dtype=np.float32)
    if bl_t.size:
        L = int(0.6 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(90.0), 0.3, bl_t.size)
        shape = np.where(tt < 0.12, np.sin(np.pi * tt / 0.24) ** 2, np.exp(-(tt - 0.12) / 0.09))
        _add_waveforms(blink, np.rint(bl_t * fs).astype(np.int64), amp[:, None] * shape[None, :])
    eeg += gains["eye"] * (blink + 0.25 * eye)

    # ---------------- chin EMG -------------------------------------------------------
    tone = (
        stage_mix([1.0, 0.75, p["emg_tone_nrem"], 0.85 * p["emg_tone_nrem"], p["emg_tone_rem"], 1.3])
        + 0.5 * wo
        + 0.8 * arousal * (1.0 - REM)
    ) * mod_emg
    fs_hi = min(90.0, 0.45 * fs)
    emg = up(tone * 9.0) * noise(lambda f: _band(f, 10.0, fs_hi, 3))
    tw_t = _events(rng, REM * (0.1 + 0.3 * phasic))  # REM twitches (phasic bursts)
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
    scalp_env = stage_mix([1.2, 0.6, 0.3, 0.25, 0.15, 3.0]) + 1.5 * wo + 1.0 * arousal * (1.0 - REM)
    scalp = up(scalp_env * mod_emg) * noise(lambda f: _band(f, 15.0, fs_hi, 2))
    eeg += gains["muscle"] * scalp

    # ---------------- movement artefacts ---------------------------------------------
    mv_env = np.zeros(n_ticks, dtype=np.float32)
    if artifacts:
        mrate = (W * (0.2 / 60.0) + MT * (4.0 / 60.0) + sleep_w * (0.3 / 3600.0)) * p["movement_gain"]
        mov_t = _events(rng, mrate)
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
    low = high = None
    if artifacts and mv_env.any():
        env = up(mv_env)
        low = env * noise(_power_law(2.0, 0.2, 5.0))
        high = env * noise(lambda f: _band(f, 15.0, fs_hi, 2))
        shift = np.roll(low, int(0.05 * fs))
        for k in range(n_t):
            eeg[k] += (55.0 if k % 2 == 0 else 40.0) * (low if k % 2 == 0 else shift) + 15.0 * high
        emg += 40.0 * high * (1.0 + 0.5 * np.abs(low))

    # ---------------- ECG ------------------------------------------------------------
    hr = stage_mix([1.08, 1.0, 0.97, 0.94, 1.02, 1.1]) * p["heart_rate_bpm"] / 60.0
    hr = hr * _slow_process(rng, n_ticks, 20.0, 0.04)
    phase = np.cumsum(hr) / _TICK_HZ
    beats = np.searchsorted(phase, np.arange(1, int(phase[-1]))) / _TICK_HZ
    beats = beats + rng.uniform(0.0, 1.0 / _TICK_HZ, beats.size)
    events["heart_beats"] = beats
    ecg = np.zeros(n, dtype=np.float32)
    if beats.size:
        L = int(0.3 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        qrs = (
            np.exp(-0.5 * ((tt - 0.1) / 0.012) ** 2)
            - 0.25 * np.exp(-0.5 * ((tt - 0.125) / 0.015) ** 2)
            + 0.15 * np.exp(-0.5 * ((tt - 0.27) / 0.04) ** 2)
        )
        _add_waveforms(ecg, np.rint(beats * fs).astype(np.int64), np.broadcast_to(qrs, (beats.size, L)).copy())
        ecg *= p["ecg_uv"]
        eeg += gains["ecg"] * ecg
        emg += ecg

    # ---------------- assemble channels ----------------------------------------------
    leak_eog, leak_emg = eeg[-2], eeg[-1]
    eeg = eeg[:-2] * (p["gain_eeg"] * ch_jitter[:-2, None])
    b_hp, a_hp = sps.butter(1, 10.0 / (fs / 2), btype="high")
    emg += p["emg_leak"] * sps.lfilter(b_hp, a_hp, leak_emg).astype(np.float32)
    rows: list[np.ndarray] = []
    channel_fs: list[float] = []
    k_eeg = 0
    for name, typ, sensor in spec:
        if typ == "eeg":
            rows.append(eeg[k_eeg])
            k_eeg += 1
        elif typ == "eog":
            if sensor == "hEOG":  # bipolar across both eyes: horizontal movements, little blink
                x = eye + 0.25 * blink + p["eog_leak"] * 0.7 * leak_eog + 0.3 * scalp
            else:  # one eye against a mastoid: blinks, frontal EEG and mastoid ECG too
                x = 0.8 * eye + 0.8 * blink + p["eog_leak"] * 1.6 * leak_eog + 0.5 * scalp + 0.6 * ecg
            if low is not None:
                x = x - 60.0 * low + 15.0 * high
            rows.append(p["gain_eog"] * x)
        else:
            rows.append(p["gain_emg"] * emg)
        channel_fs.append(fs)
    out = np.stack(rows).astype(np.float32)
    del eeg, rows

    # ---------------- sweat, mains, electrode pops, amplifier noise and filters -------
    n_ch = out.shape[0]
    ep_rows = [i for i, (_, t, _) in enumerate(spec) if t in ("eeg", "eog")]
    if artifacts and p["sweat_per_h"] > 0:
        sw_t = _events(rng, np.full(n_ticks, p["sweat_per_h"] / 3600.0, dtype=np.float32) * (1.0 - W))
        events["sweat"] = sw_t
        if sw_t.size:
            env_t = np.zeros(n_ticks, dtype=np.float32)
            for t0, d in zip(sw_t, rng.uniform(60.0, 600.0, sw_t.size)):
                a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
                env_t[a:b] = 1.0
            env = up(_smooth(env_t, 20.0 * _TICK_HZ))
            sway = env * noise(_power_law(2.0, 0.05, 0.6))
            for r in ep_rows:
                out[r] += rng.uniform(10.0, 80.0) * sway
    else:
        events["sweat"] = np.zeros(0)
    pops = []
    if artifacts:
        for r in ep_rows:
            pt = _events(rng, np.full(n_ticks, 0.8 / 3600.0, dtype=np.float32))
            pops.append(pt)
            if pt.size:
                L = int(3.0 * fs)
                tt = np.arange(L, dtype=np.float64) / fs
                tau = rng.uniform(0.15, 0.6, pt.size)
                amp = rng.choice([-1.0, 1.0], pt.size) * rng.uniform(80.0, 250.0, pt.size)
                _add_waveforms(out[r], np.rint(pt * fs).astype(np.int64), amp[:, None] * np.exp(-tt[None, :] / tau[:, None]))
    events["electrode_pops"] = np.sort(np.concatenate(pops)) if pops else np.zeros(0)
    scale = np.array([0.5 if t == "emg" else 1.0 for _, t, _ in spec], dtype=np.float32)[:, None]
    out += p["noise_uv"] * rng.standard_normal((n_ch, n), dtype=np.float32) * scale
    line_f = p["line_hz"]
    if artifacts and p["line_uv"] > 0 and fs > 2.2 * line_f:  # a 100-Hz recording's anti-alias filter removes mains
        line = np.sin(2 * np.pi * line_f * t_samp).astype(np.float32)
        for r in range(n_ch):
            out[r] += p["line_uv"] * rng.lognormal(0.0, 0.7) * up(_slow_process(rng, n_ticks, 600.0, 0.5)) * line
    # amplifier filters: first-order high-pass and a second-order low-pass on EEG/EOG
    sos = [sps.butter(1, p["hp_hz"] / (fs / 2), btype="high", output="sos")]
    if p["lp_hz"] < 0.45 * fs:
        sos.append(sps.butter(2, p["lp_hz"] / (fs / 2), output="sos"))
    sos = np.concatenate(sos)
    out[ep_rows] = sps.sosfilt(sos, out[ep_rows], axis=-1).astype(np.float32)
    for r, (_, typ, sensor) in enumerate(spec):
        if sensor == "chin_envelope":  # Sleep-EDF SC: HP 16 Hz, rectified, LP 0.7 Hz, 1 Hz
            hp16 = sps.sosfilt(sps.butter(2, 16.0 / (fs / 2), btype="high", output="sos"), out[r])
            env = sps.sosfilt(sps.butter(1, 0.7 / (fs / 2), output="sos"), np.abs(hp16))
            sec = int(round(fs))
            per_s = env[: n // sec * sec].reshape(-1, sec).mean(axis=1)
            out[r] = np.repeat(per_s, sec)[:n].astype(np.float32) if n % sec == 0 else \
                np.interp(t_samp, np.arange(per_s.size) + 0.5, per_s).astype(np.float32)
            channel_fs[r] = 1.0
    scored = scorer_labels(hyp, np.random.default_rng([seed, 104729]), label_noise)
    return SyntheticNight(
        signals=out,
        fs_hz=fs,
        channel_names=[c[0] for c in spec],
        channel_types=[c[1] for c in spec],
        hypnogram=hyp,
        epoch_s=epoch_s,
        seed=seed,
        params=p,
        events=events,
        montage=montage,
        scored=scored,
        channel_fs_hz=channel_fs,
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
        ``params``, ``montage``, ``label_noise``).

    Returns
    -------
    (psg_path, hypnogram_path) : tuple of Path
        The PSG file holds the montage's channels (physical dimension ``uV``) plus the
        EDF+ annotation signal, data records of 1 s; the hypnogram is annotation-only
        EDF+ and holds the night's ``scored`` labels (the driving hypnogram unless
        ``label_noise > 0``).
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
    fs = night.fs_hz
    signals, prefilters = [], []
    hp, lp = night.params["hp_hz"], night.params["lp_hz"]
    for x, typ, ch_fs in zip(night.signals, night.channel_types, night.channel_fs_hz):
        if ch_fs != fs:
            step = int(round(fs / ch_fs))
            signals.append(x[::step].astype(np.float64))
            prefilters.append("HP:16Hz Rectification LP:0.7Hz")
        else:
            signals.append(x.astype(np.float64))
            prefilters.append("HP:10Hz LP:45Hz" if typ == "emg" else
                              f"HP:{hp:.2g}Hz LP:{min(lp, fs / 2):.3g}Hz")
    ranges = [_physical_range(x) for x in signals]
    code = "_".join(record_id.split())
    write_edf(
        psg_path,
        signals,
        night.channel_fs_hz,
        night.channel_names,
        "uV",
        start=start,
        patient_id=f"{code} X X X",
        record_duration_s=1.0 if float(fs).is_integer() else night.epoch_s,
        physical_min=[r[0] for r in ranges],
        physical_max=[r[1] for r in ranges],
        prefilter=prefilters,
        transducer=["Ag-AgCl electrodes"] * len(signals),
    )
    write_hypnogram_edf(hyp_path, night.scored, start=start, epoch_s=night.epoch_s, patient_id=f"{code} X X X")
    return psg_path, hyp_path
