"""ECG signal augmentations for 1-D models, on ``(n_leads, n_samples)`` arrays in millivolts:
baseline wander, Gaussian noise, amplitude scaling, time shift (circular or zero-filled) and
lead dropout, combined by :class:`ECGAugment`."""
from __future__ import annotations

import numbers

import numpy as np

from ..arraycheck import check_positive, check_prob, check_rng, check_signal


# ============================================================================ augmentations
def baseline_wander(x, fs_hz: float, rng: np.random.Generator, max_mv: float = 0.2, max_hz: float = 0.5) -> np.ndarray:
    """Add a slow sinusoidal baseline drift (respiration-like).

    One frequency ``f ~ U(min(0.05, max_hz), max_hz)`` Hz and phase ``~ U(0, 2π)`` shared
    by all leads; each lead gets its own amplitude ``~ U(-max_mv, max_mv)`` mV, so
    ``|added| <= max_mv`` everywhere.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    fs_hz : float
        Sampling rate in Hz.
    rng : numpy.random.Generator
    max_mv : float, default 0.2
        Largest drift amplitude in mV (>= 0).
    max_hz : float, default 0.5
        Highest drift frequency in Hz (> 0, below ``fs_hz / 2``).

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = check_signal(x)
    rng = check_rng(rng)
    fs = check_positive(fs_hz, "fs_hz")
    amp = check_positive(max_mv, "max_mv", allow_zero=True)
    hz = check_positive(max_hz, "max_hz")
    if hz >= fs / 2:
        raise ValueError(f"max_hz={max_hz!r} must be below the Nyquist frequency fs_hz/2 = {fs / 2}")
    f = rng.uniform(min(0.05, hz), hz)
    phase = rng.uniform(0.0, 2 * np.pi)
    gains = rng.uniform(-amp, amp, size=(a.shape[0], 1))
    t = np.arange(a.shape[1]) / fs
    return (a + gains * np.sin(2 * np.pi * f * t + phase)[None, :]).astype(a.dtype, copy=False)


def gaussian_noise(x, rng: np.random.Generator, sd_mv: float = 0.02) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sd_mv`` mV to every sample.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    sd_mv : float, default 0.02
        Noise standard deviation in mV (>= 0).

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = check_signal(x)
    rng = check_rng(rng)
    sd = check_positive(sd_mv, "sd_mv", allow_zero=True)
    return (a + rng.normal(0.0, sd, size=a.shape)).astype(a.dtype, copy=False)


def amplitude_scale(x, rng: np.random.Generator, low: float = 0.8, high: float = 1.2, *,
                    per_lead: bool = False) -> np.ndarray:
    """Multiply the signal by a random gain ``~ U(low, high)``.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    low, high : float, default 0.8, 1.2
        Gain range, ``0 <= low <= high``.
    per_lead : bool, default False
        ``False``: one gain for the whole recording (keeps lead relations such as
        ``III = II - I``); ``True``: one gain per lead.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = check_signal(x)
    rng = check_rng(rng)
    lo = check_positive(low, "low", allow_zero=True)
    hi = check_positive(high, "high", allow_zero=True)
    if lo > hi:
        raise ValueError(f"low={low!r} is above high={high!r}; accepted: 0 <= low <= high")
    g = rng.uniform(lo, hi, size=(a.shape[0] if per_lead else 1, 1))
    return (a * g).astype(a.dtype, copy=False)


def time_shift(x, rng: np.random.Generator, max_shift: int, *, mode: str = "circular") -> np.ndarray:
    """Shift all leads together by ``s ~ U{-max_shift, ..., max_shift}`` samples.

    A positive ``s`` moves the signal later in time.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    max_shift : int
        Largest shift in samples (>= 0).
    mode : {"circular", "zero"}, default "circular"
        ``"circular"``: samples pushed off one end re-enter at the other (``np.roll``);
        ``"zero"``: the vacated samples are 0 mV.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = check_signal(x)
    rng = check_rng(rng)
    if isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Integral) or max_shift < 0:
        raise ValueError(f"max_shift={max_shift!r} is not valid; accepted: an integer number of samples >= 0")
    if mode not in ("circular", "zero"):
        raise ValueError(f"mode={mode!r} is not valid; accepted: 'circular', 'zero'")
    s = int(rng.integers(-int(max_shift), int(max_shift) + 1))
    if mode == "circular":
        return np.roll(a, s, axis=1)
    out = np.zeros_like(a)
    n = a.shape[1]
    if abs(s) >= n:
        return out
    if s >= 0:
        out[:, s:] = a[:, : n - s]
    else:
        out[:, : n + s] = a[:, -s:]
    return out


def lead_dropout(x, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Set whole leads to 0 mV, each independently with probability ``p``.

    Never drops every lead: when the draw would, one lead chosen at random is kept.

    Parameters
    ----------
    x : ndarray, float, shape (n_leads, n_samples)
        Signal in mV (not modified).
    rng : numpy.random.Generator
    p : float, default 0.1
        Drop probability per lead, in [0, 1].

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    a = check_signal(x)
    rng = check_rng(rng)
    p = check_prob(p, "p")
    drop = rng.random(a.shape[0]) < p
    if drop.all():
        drop[int(rng.integers(a.shape[0]))] = False
    out = a.copy()
    out[drop] = 0
    return out


class ECGAugment:
    """Random composition of the ECG augmentations, deterministic given the generator.

    Order: amplitude scale, baseline wander, Gaussian noise, time shift, lead dropout. Each
    step is applied with its own probability; one uniform number is drawn per step whether
    or not it is applied, so a given generator state always yields the same result.

    Parameters
    ----------
    fs_hz : float, default 500
        Sampling rate of the signals (Hz).
    p : float, default 0.5
        Probability of every step whose own probability is not given.
    p_scale, p_wander, p_noise, p_shift, p_dropout : float, optional
        Per-step probabilities (``p_dropout`` defaults to ``p`` as well).
    scale_range : (float, float), default (0.8, 1.2)
    wander_mv, wander_hz : float, default 0.2, 0.5
    noise_sd_mv : float, default 0.02
    max_shift_s : float, default 0.5
        Largest time shift in seconds.
    shift_mode : {"circular", "zero"}, default "circular"
    dropout_p : float, default 0.1
        Per-lead drop probability when the dropout step is applied.
    seed : int, optional
        Seed of the generator used when a call passes no ``rng``.

    Examples
    --------
    >>> aug = ECGAugment(fs_hz=500, p=0.5)
    >>> y = aug(x, np.random.default_rng(0))   # x: (12, 5000) float32 mV
    """

    def __init__(
        self,
        fs_hz: float = 500.0,
        p: float = 0.5,
        *,
        p_scale: float | None = None,
        p_wander: float | None = None,
        p_noise: float | None = None,
        p_shift: float | None = None,
        p_dropout: float | None = None,
        scale_range: tuple[float, float] = (0.8, 1.2),
        wander_mv: float = 0.2,
        wander_hz: float = 0.5,
        noise_sd_mv: float = 0.02,
        max_shift_s: float = 0.5,
        shift_mode: str = "circular",
        dropout_p: float = 0.1,
        seed: int | None = None,
    ):
        self.fs_hz = check_positive(fs_hz, "fs_hz")
        p = check_prob(p, "p")
        self.p = {
            name: p if value is None else check_prob(value, f"p_{name}")
            for name, value in (("scale", p_scale), ("wander", p_wander), ("noise", p_noise),
                                ("shift", p_shift), ("dropout", p_dropout))
        }
        if len(tuple(scale_range)) != 2:
            raise ValueError(f"scale_range={scale_range!r} is not valid; accepted: (low, high)")
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        if not 0 <= self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range={scale_range!r} is not valid; accepted: 0 <= low <= high")
        self.wander_mv = check_positive(wander_mv, "wander_mv", allow_zero=True)
        self.wander_hz = check_positive(wander_hz, "wander_hz")
        self.noise_sd_mv = check_positive(noise_sd_mv, "noise_sd_mv", allow_zero=True)
        self.max_shift = int(round(check_positive(max_shift_s, "max_shift_s", allow_zero=True) * self.fs_hz))
        if shift_mode not in ("circular", "zero"):
            raise ValueError(f"shift_mode={shift_mode!r} is not valid; accepted: 'circular', 'zero'")
        self.shift_mode = shift_mode
        self.dropout_p = check_prob(dropout_p, "dropout_p")
        self._rng = np.random.default_rng(seed)

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        """Augment one recording.

        Parameters
        ----------
        x : ndarray, float, shape (n_leads, n_samples)
            Signal in mV (not modified).
        rng : numpy.random.Generator, optional
            Default: the instance's own generator (from ``seed``).

        Returns
        -------
        ndarray, same shape and dtype as ``x``
        """
        out = check_signal(x).copy()
        rng = self._rng if rng is None else check_rng(rng)
        u = rng.random(5)
        if u[0] < self.p["scale"]:
            out = amplitude_scale(out, rng, *self.scale_range)
        if u[1] < self.p["wander"]:
            out = baseline_wander(out, self.fs_hz, rng, self.wander_mv, self.wander_hz)
        if u[2] < self.p["noise"]:
            out = gaussian_noise(out, rng, self.noise_sd_mv)
        if u[3] < self.p["shift"]:
            out = time_shift(out, rng, self.max_shift, mode=self.shift_mode)
        if u[4] < self.p["dropout"]:
            out = lead_dropout(out, rng, self.dropout_p)
        return out

    def __repr__(self) -> str:
        return (f"ECGAugment(fs_hz={self.fs_hz}, p={self.p}, scale_range={self.scale_range}, "
                f"wander_mv={self.wander_mv}, wander_hz={self.wander_hz}, noise_sd_mv={self.noise_sd_mv}, "
                f"max_shift={self.max_shift} samples ({self.shift_mode}), dropout_p={self.dropout_p})")
