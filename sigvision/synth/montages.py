"""What a synthetic night is made of, before any signal: the electrode montages and the gain of
each generator on each derivation, the per-night parameters drawn for domain randomisation
(:func:`draw_night_params`), human-scorer label noise (:func:`scorer_labels`, with the
confusion tables measured on the shipped multi-scorer nights) and the night container
(:class:`SyntheticNight`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from scipy.special import ndtr

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
    # spindle gains (sigma, spin_slow, spin_fast) raised to match real Sleep-EDF N2 at Fpz-Cz
    # (benchmarks/sleepedf_snippets.py --gain, chosen on subjects SC400-SC409; before: 0.55, 0.40, -0.70);
    # eye gain 0.60 -> 0.80 after them (real Fpz-Cz wake is louder than N2 and spikier: blinks and
    # vertical gaze; chosen the same way among 0.8 / 1.0 / 1.4; the transfer gain was later traced
    # to the horizontal quarter of this gain, not to the blinks: README, "Which part of the eye signal")
    "Fpz-Cz": dict(zip(_KEYS, (1.00, 1.10, 0.85, 0.22, 1.10, 0.90, 1.20, -1.60, -0.60, -0.6, 0.80, 1.20, 0.25, 0.2))),
    # fitted to real Sleep-EDF nights (benchmarks/sleepedf_calibrate.py; hand-set before:
    # 0.65, 0.30, 0.50, 0.60, 0.30, 0.60, 0.15, 0.35, 0.25, 0.30, 0.01, 0.50, 0.20)
    "Pz-Oz": dict(zip(_KEYS, (0.66, 0.59, 0.56, 0.53, 0.34, 0.58, 0.15, 0.38, 0.25, 0.30, 0.01, 0.50, 0.20, 1.4))),
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


def draw_added_night_params(rng: np.random.Generator) -> dict[str, float]:
    """Per-night parameters added after :func:`draw_night_params`, drawn from their own
    stream (:func:`~sigvision.synth.generator.synthesize_night` passes one seeded from the
    night's seed) so that the original draws, and every night they made, stay the same.

    ``vertical_eye_uv``: SD (µV at the eye, before the derivation's ``eye`` gain) of the
    vertical gaze targets in eyes-open wake, log-normal around 200 µV (factor e^0.5). A
    vertical shift of 10-20 degrees gives some 100-400 µV at a supraorbital electrode; with it
    the wake epochs of six synthetic Sleep-EDF-montage nights have a median SD of 12-42 µV per
    night at Fpz-Cz (12-24 µV without; the real Sleep-EDF SC4001 wake: 17-36 µV per epoch).
    """
    return {"vertical_eye_uv": float(rng.lognormal(np.log(200.0), 0.5))}


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
