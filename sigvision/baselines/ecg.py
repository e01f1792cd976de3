"""The classical ECG baseline the deep models must beat: R-peak detection (band-pass,
moving-window integration, adaptive threshold), RR-interval and band-power features per lead,
and :class:`BaselineClassifier` (standardised features, logistic regression)."""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ..arraycheck import as_binary, as_scores, check_positive, check_signal
from sigvision.loaders.ecg import STANDARD_LEADS

# scipy.signal and scikit-learn are imported where features are computed or fitted (heavy).

#: Frequency bands (Hz) of the per-lead band powers of :func:`ecg_features`.
FEATURE_BANDS_HZ: tuple[tuple[float, float], ...] = ((0.5, 5.0), (5.0, 15.0), (15.0, 40.0))


_RHYTHM_FEATURES: tuple[str, ...] = (
    "hr_bpm", "rr_mean_s", "rr_sd_s", "rr_rmssd_s", "rr_pnn50", "rr_cv", "rr_irregularity",
    "rr_range_s", "rr_valid", "qrs_width_proxy_s",
)


# ============================================================================ R peaks
def _bandpass(x: np.ndarray, fs: float, lo: float, hi: float, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    hi = min(hi, 0.45 * fs)
    sos = butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


def _mwi(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Pan-Tompkins stages on one lead: band-pass 5-15 Hz, squared derivative, 150 ms MWI."""
    bp = _bandpass(x, fs, 5.0, 15.0)
    sq = (np.gradient(bp) * fs) ** 2
    w = max(1, int(round(0.15 * fs)))
    mwi = np.convolve(sq, np.ones(w) / w, mode="same")  # centred window: no delay
    return bp, mwi


def detect_r_peaks(signal, fs_hz: float, *, refractory_s: float = 0.2) -> np.ndarray:
    """R-peak sample indices of one ECG lead (Pan-Tompkins-like).

    Steps: zero-phase Butterworth band-pass 5-15 Hz; squared derivative; 150 ms centred
    moving-window integration (MWI); local maxima of the MWI at least ``refractory_s``
    apart are candidates; a candidate is a QRS when it exceeds the adaptive threshold
    ``NPK + 0.25 (SPK - NPK)`` (running signal/noise peak levels, updated with weight 1/8,
    initialised from the first 2 s) and lies more than ``refractory_s`` after the previous
    QRS; when the gap since the previous QRS exceeds 1.66 x the mean of the last 8 RR
    intervals, the largest skipped candidate above half the threshold is taken (search
    back). Each detection is then moved to the largest absolute deflection of the
    0.5-40 Hz filtered lead within ±80 ms (the R or dominant QRS peak).

    Parameters
    ----------
    signal : array_like, float, shape (n_samples,)
        One lead in mV (lead II is customary); must be finite.
    fs_hz : float
        Sampling rate in Hz (>= 50).
    refractory_s : float, default 0.2
        Minimum RR interval in seconds.

    Returns
    -------
    ndarray, int64, shape (n_beats,)
        Increasing sample indices; empty for flat or too short (< 0.5 s) signals.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"signal must be a 1-D array (n_samples,); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("signal contains NaN or infinite samples; accepted: finite values in mV")
    fs = check_positive(fs_hz, "fs_hz")
    if fs < 50:
        raise ValueError(f"fs_hz={fs_hz!r} is too low for QRS detection; accepted: >= 50 Hz")
    refr = int(round(check_positive(refractory_s, "refractory_s") * fs))
    if x.size < max(int(0.5 * fs), 30) or np.ptp(x) == 0:
        return np.zeros(0, dtype=np.int64)
    from scipy.signal import find_peaks

    _, mwi = _mwi(x, fs)
    cand, _ = find_peaks(mwi, distance=max(refr, 1))
    if cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    head = mwi[: int(2 * fs)]
    spk = float(head.max()) / 3.0
    npk = float(head.mean()) / 2.0
    beats: list[int] = []
    for ci, c in enumerate(cand):
        v = float(mwi[c])
        thr = npk + 0.25 * (spk - npk)
        if v > thr and (not beats or c - beats[-1] > refr):
            if len(beats) >= 2:  # search back over a long gap before accepting c
                rr = np.diff(beats[-9:]).mean()
                if c - beats[-1] > 1.66 * rr:
                    gap = cand[(cand > beats[-1] + refr) & (cand < c - refr)]
                    if gap.size:
                        best = gap[np.argmax(mwi[gap])]
                        if mwi[best] > 0.5 * thr:
                            beats.append(int(best))
                            spk = 0.25 * float(mwi[best]) + 0.75 * spk
            beats.append(int(c))
            spk = 0.125 * v + 0.875 * spk
        else:
            npk = 0.125 * v + 0.875 * npk
    raw = _bandpass(x, fs, 0.5, 40.0)
    half = max(1, int(round(0.08 * fs)))
    refined: list[int] = []
    for b in beats:
        lo, hi = max(0, b - half), min(x.size, b + half + 1)
        r = lo + int(np.argmax(np.abs(raw[lo:hi])))
        if refined and r - refined[-1] <= refr:
            if abs(raw[r]) > abs(raw[refined[-1]]):
                refined[-1] = r
            continue
        refined.append(r)
    return np.asarray(refined, dtype=np.int64)


# ============================================================================ features
def ecg_feature_names(n_leads: int = 12, lead_names: Sequence[str] | None = None) -> list[str]:
    """Names of the :func:`ecg_features` vector, in order.

    Parameters
    ----------
    n_leads : int, default 12
    lead_names : sequence of str, optional
        Default: the standard 12-lead names when ``n_leads == 12``, else ``lead0``, ...

    Returns
    -------
    list of str
        10 rhythm features, then per lead three log band powers, QRS peak-to-peak and net
        QRS deflection (``10 + 5 * n_leads`` names).
    """
    if lead_names is None:
        if n_leads == 12:
            lead_names = STANDARD_LEADS
        else:
            lead_names = [f"lead{i}" for i in range(n_leads)]
    if len(lead_names) != n_leads:
        raise ValueError(f"lead_names has {len(lead_names)} names for n_leads={n_leads}")
    names = list(_RHYTHM_FEATURES)
    for lead in lead_names:
        names += [f"logpow_{lo:g}-{hi:g}Hz_{lead}" for lo, hi in FEATURE_BANDS_HZ]
        names += [f"qrs_ptp_mv_{lead}", f"qrs_net_mv_{lead}"]
    return names


def ecg_features(signals, fs_hz: float, *, lead: int = 1) -> np.ndarray:
    """Hand-crafted rhythm and morphology features of one recording.

    Parameters
    ----------
    signals : array_like, float, shape (n_leads, n_samples)
        ECG in mV (12 leads in standard order for the default ``lead``); at least 2 s long,
        finite.
    fs_hz : float
        Sampling rate in Hz (>= 100, so the 15-40 Hz band exists).
    lead : int, default 1
        Row used for R-peak detection (1 = lead II in standard order).

    Returns
    -------
    ndarray, float64, shape (10 + 5 * n_leads,)
        Names from :func:`ecg_feature_names`. Rhythm features (from the R peaks of ``lead``,
        :func:`detect_r_peaks`): heart rate (bpm), RR mean / SD / RMSSD (s), pNN50
        (fraction of successive RR differences > 50 ms), RR coefficient of variation,
        irregularity (mean |ΔRR| / mean RR), RR range (s), ``rr_valid`` (1 when at least
        3 beats were found, else 0 and the RR features are 0), and a QRS width proxy (median
        width in s of the integrated-energy peak above half its height). Per lead: log10
        Welch band power (mV², + 1e-10) in 0.5-5, 5-15 and 15-40 Hz, median QRS
        peak-to-peak amplitude and median net QRS deflection (max + min) within ±60 ms of
        each R peak (mV; without beats: the 1st-99th percentile range and 0). Always finite.
    """
    from scipy.signal import welch

    x = check_signal(signals, "signals").astype(np.float64)
    fs = check_positive(fs_hz, "fs_hz")
    if fs < 100:
        raise ValueError(f"fs_hz={fs_hz!r} is too low; accepted: >= 100 Hz (band powers reach 40 Hz)")
    n_leads, n = x.shape
    if n < 2 * fs:
        raise ValueError(f"signals has {n} samples ({n / fs:.2f} s at {fs:g} Hz); accepted: at least 2 s")
    if isinstance(lead, bool) or not isinstance(lead, numbers.Integral) or not 0 <= lead < n_leads:
        raise ValueError(f"lead={lead!r} is not valid; accepted: a row index 0..{n_leads - 1}")
    if not np.isfinite(x).all():
        raise ValueError("signals contains NaN or infinite samples; accepted: finite values in mV")

    peaks = detect_r_peaks(x[lead], fs)
    rhythm = np.zeros(len(_RHYTHM_FEATURES))
    if peaks.size >= 3:
        rr = np.diff(peaks) / fs
        drr = np.diff(rr)
        mean = rr.mean()
        rhythm[:9] = [
            60.0 / mean, mean, rr.std(), np.sqrt(np.mean(drr ** 2)),
            np.mean(np.abs(drr) > 0.05), rr.std() / mean, np.mean(np.abs(drr)) / mean,
            rr.max() - rr.min(), 1.0,
        ]
    if peaks.size:
        _, mwi = _mwi(x[lead], fs)
        widths = []
        for b in peaks:
            lo, hi = max(0, b - int(0.25 * fs)), min(n, b + int(0.25 * fs) + 1)
            seg = mwi[lo:hi]
            top = seg.max()
            if top > 0:
                widths.append(np.count_nonzero(seg > 0.5 * top) / fs)
        rhythm[9] = float(np.median(widths)) if widths else 0.0

    f, pxx = welch(x, fs=fs, nperseg=min(n, int(round(2 * fs))), axis=-1)
    df = f[1] - f[0]
    band = np.stack([pxx[:, (f >= lo) & (f < hi)].sum(axis=1) * df for lo, hi in FEATURE_BANDS_HZ], axis=1)
    logpow = np.log10(band + 1e-10)

    filt = _bandpass(x, fs, 0.5, 40.0)
    if peaks.size:
        half = max(1, int(round(0.06 * fs)))
        ptp = np.empty((n_leads, peaks.size))
        net = np.empty((n_leads, peaks.size))
        for i, b in enumerate(peaks):
            seg = filt[:, max(0, b - half): min(n, b + half + 1)]
            ptp[:, i] = seg.max(axis=1) - seg.min(axis=1)
            net[:, i] = seg.max(axis=1) + seg.min(axis=1)
        amp = np.stack([np.median(ptp, axis=1), np.median(net, axis=1)], axis=1)
    else:
        q = np.percentile(filt, [1, 99], axis=1)
        amp = np.stack([q[1] - q[0], np.zeros(n_leads)], axis=1)
    per_lead = np.concatenate([logpow, amp], axis=1).reshape(-1)
    out = np.concatenate([rhythm, per_lead])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


# ============================================================================ baseline
class BaselineClassifier:
    """Classical multi-label baseline: :func:`ecg_features` + one-vs-rest logistic regression.

    RR-interval and band-power features, standardised (``StandardScaler``), then one
    ``LogisticRegression(class_weight="balanced")`` per class: the floor the deep models
    must beat. A class with a single label value in the training data gets a constant
    probability equal to its training prevalence (0 or 1). Deterministic (lbfgs).

    Parameters
    ----------
    C : float, default 1.0
        Inverse L2 regularisation strength.
    max_iter : int, default 2000
    lead : int, default 1
        Row used for R-peak detection (lead II).
    default_fs_hz : float, default 500
        Sampling rate used for arrays given without one.

    Attributes
    ----------
    n_classes_ : int
    prevalence_ : ndarray, shape (n_classes,)
        Training prevalence per class.
    constant_classes_ : ndarray of int
        Columns predicted by their prevalence (single label value in training).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, lead: int = 1, default_fs_hz: float = 500.0):
        self.C = check_positive(C, "C")
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
            raise ValueError(f"max_iter={max_iter!r} is not valid; accepted: an integer >= 1")
        self.max_iter = int(max_iter)
        self.lead = lead
        self.default_fs_hz = check_positive(default_fs_hz, "default_fs_hz")
        self._scaler = None
        self._models: list = []

    def features(self, signals, fs_hz=None) -> np.ndarray:
        """Feature matrix of a list of recordings.

        Parameters
        ----------
        signals : sequence
            Each item a ``(n_leads, n_samples)`` mV array or an object with ``signals``
            and ``fs_hz`` attributes (:class:`~sigvision.loaders.base.ECGRecord`).
        fs_hz : float or sequence of float, optional
            Sampling rate(s) of arrays; default: the record's own, else ``default_fs_hz``.

        Returns
        -------
        ndarray, float64, shape (n_recordings, n_features)
        """
        if isinstance(signals, np.ndarray) and signals.ndim == 2:
            raise ValueError("signals must be a list of recordings; got one 2-D array (wrap it in a list)")
        items = list(signals)
        if not items:
            raise ValueError("signals is empty; accepted: a non-empty list of (n_leads, n_samples) arrays")
        if fs_hz is None or isinstance(fs_hz, numbers.Real):
            rates = [fs_hz] * len(items)
        else:
            rates = list(fs_hz)
            if len(rates) != len(items):
                raise ValueError(f"fs_hz has {len(rates)} rates for {len(items)} recordings")
        rows = []
        for item, fs in zip(items, rates):
            if hasattr(item, "signals") and hasattr(item, "fs_hz"):
                sig, rec_fs = item.signals, item.fs_hz
            else:
                sig, rec_fs = item, None
            fs_use = fs if fs is not None else rec_fs if rec_fs is not None else self.default_fs_hz
            rows.append(ecg_features(sig, fs_use, lead=self.lead))
        lengths = {r.size for r in rows}
        if len(lengths) != 1:
            raise ValueError(f"recordings give feature vectors of different lengths {sorted(lengths)} "
                             "(different lead counts); use the same leads for every recording")
        return np.stack(rows)

    def fit(self, signals, labels, fs_hz=None) -> "BaselineClassifier":
        """Fit on recordings and their multi-hot labels.

        Parameters
        ----------
        signals : sequence of arrays or ECGRecord, length n
        labels : array_like of 0/1 or bool, shape (n, n_classes)
        fs_hz : float or sequence of float, optional

        Returns
        -------
        self
        """
        return self.fit_features(self.features(signals, fs_hz), labels)

    def fit_features(self, X, labels) -> "BaselineClassifier":
        """Fit on a precomputed feature matrix ``X`` (n, n_features) and labels (n, n_classes)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        X = as_scores(X, "X")
        y = as_binary(labels, "labels")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"{X.shape[0]} feature rows but {y.shape[0]} label rows; they must match")
        self._scaler = StandardScaler().fit(X)
        Z = self._scaler.transform(X)
        self.n_features_ = X.shape[1]
        self.n_classes_ = y.shape[1]
        self.prevalence_ = y.mean(axis=0)
        self._models = []
        constant = []
        for k in range(y.shape[1]):
            if y[:, k].all() or not y[:, k].any():
                self._models.append(None)
                constant.append(k)
                continue
            clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter)
            self._models.append(clf.fit(Z, y[:, k].astype(int)))
        self.constant_classes_ = np.asarray(constant, dtype=int)
        return self

    def predict_proba(self, signals, fs_hz=None) -> np.ndarray:
        """Class probabilities, ndarray float64 of shape (n, n_classes), in [0, 1]."""
        return self.predict_proba_features(self.features(signals, fs_hz))

    def predict_proba_features(self, X) -> np.ndarray:
        """Class probabilities from a precomputed feature matrix ``X`` (n, n_features)."""
        if self._scaler is None:
            raise ValueError("BaselineClassifier is not fitted; call fit(signals, labels) first")
        X = as_scores(X, "X")
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted on {self.n_features_}")
        Z = self._scaler.transform(X)
        out = np.empty((X.shape[0], self.n_classes_))
        for k, model in enumerate(self._models):
            out[:, k] = self.prevalence_[k] if model is None else model.predict_proba(Z)[:, 1]
        return out
