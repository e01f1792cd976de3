"""Building blocks of the synthetic signals: coloured noise sources, band and power-law
spectral shapes, slow processes, event trains and waveforms, Markov on/off processes,
eye-position traces and the blurring of epochs towards neighbouring stages."""
from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy import signal as sps
from scipy.ndimage import uniform_filter1d

from .montages import _MT, _N1, _N2, _N3, _N_CAT, _REM, _TICK_HZ, _W


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


def _gaze_trace(times: np.ndarray, targets: np.ndarray, dur: np.ndarray, n: int, fs: float) -> np.ndarray:
    """Eye-position trace (µV) of saccades to ``targets`` at ``times`` (s), each lasting
    ``dur`` (s, at most 0.12): raised-cosine velocity pulses, integrated, then drifting back
    to the primary position (first-order high-pass at 0.3 Hz)."""
    steps = np.diff(np.concatenate([[0.0], targets]))
    L = int(0.12 * fs) + 2
    tt = np.arange(L, dtype=np.float64) / fs
    x = tt[None, :] / dur[:, None]
    vel = np.where(x < 1.0, 1.0 - np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)
    vel /= vel.sum(axis=1, keepdims=True)
    velocity = np.zeros(n, dtype=np.float32)
    _add_waveforms(velocity, np.rint(times * fs).astype(np.int64), steps[:, None] * vel)
    b, a = sps.butter(1, 0.3 / (fs / 2), btype="high")
    return sps.lfilter(b, a, np.cumsum(velocity, dtype=np.float64)).astype(np.float32)
