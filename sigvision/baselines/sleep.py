"""The classical sleep-staging baseline: per-epoch EEG features and a random forest.

Features of one 30-s EEG epoch (µV) in the spirit of YASA's (Vallat & Walker 2021, eLife
10:e70092): amplitude statistics, Hjorth parameters and relative band powers, computed here
from their definitions, and four that follow the AASM scoring rules' events (slow waves of
75 µV, spindles). On sim-to-real transfer this baseline matters: trained only on
synthetic nights it staged the real DREAMS excerpts better than the image models (README,
*Sim-to-real*); a likely reason is that a few summary numbers per epoch carry less of the
generator's fine texture than a spectrogram image does.

:func:`sleep_epoch_features` computes the matrix; :class:`SleepFeatureStager` fits
scikit-learn's ``RandomForestClassifier`` (balanced class weights) on it, keeps the trees as
plain arrays (:class:`Forest`) and returns probabilities in
:data:`~sigvision.loaders.base.STAGES` order.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..arraycheck import check_positive

# scipy.signal and scikit-learn are imported where features are computed or fitted (heavy).

#: Frequency bands (Hz) of the relative band powers: slow delta, fast delta, theta, alpha,
#: sigma (spindles), beta. Their union is the total-power band.
SLEEP_BANDS_HZ: tuple[tuple[str, float, float], ...] = (
    ("sdelta", 0.4, 1.0), ("fdelta", 1.0, 4.0), ("theta", 4.0, 8.0),
    ("alpha", 8.0, 12.0), ("sigma", 12.0, 16.0), ("beta", 16.0, 30.0),
)

#: Column names of :func:`sleep_epoch_features`, in order.
SLEEP_FEATURE_NAMES: tuple[str, ...] = (
    "log_abspow", "log_std", "log_iqr", "skew", "kurt", "zero_crossings", "hjorth_mobility",
    "hjorth_complexity", "perm_entropy", "higuchi_fd", *(f"rel_{name}" for name, _, _ in SLEEP_BANDS_HZ),
    "sw_frac_75uv", "log_sw_p2p80", "sigma_burst_max", "sigma_burst_p95",
)

#: The scoring rules behind the four event features (AASM Manual v2.6): N3 is scored when
#: at least 20 % of the epoch holds 0.5-2 Hz waves of at least 75 µV peak to peak (frontal);
#: N2 by spindles, 11-16 Hz trains of at least 0.5 s.
SLOW_WAVE_HZ = (0.5, 2.0)
SLOW_WAVE_P2P_UV = 75.0
SLOW_WAVE_WINDOW_S = 1.0
SPINDLE_HZ = (11.0, 16.0)
SPINDLE_WINDOW_S = 0.5

#: The largest interval of Higuchi's fractal dimension (the permutation entropy's order 3 and
#: delay 1 are fixed by :func:`permutation_entropy`'s pattern codes).
HIGUCHI_KMAX = 10

_EPS = 1e-12


def sleep_epoch_features(epochs, fs_hz: float) -> np.ndarray:
    """Features of single-channel EEG epochs.

    Each epoch is band-passed 0.4-30 Hz (zero-phase Butterworth, order 4); band powers come
    from Welch's periodogram of the filtered epoch with the *median* over 5-s Hamming windows
    (half overlap, 0.2 Hz resolution), which a movement artefact or an electrode pop in one
    window does not dominate (on the real DREAMS excerpts the median gained 0.03 kappa over
    the mean).

    Columns (:data:`SLEEP_FEATURE_NAMES`): ``log_abspow`` log10 of the 0.4-30 Hz power
    (µV²); ``log_std``, ``log_iqr`` log10 of the standard deviation and interquartile range
    (µV); ``skew``, ``kurt`` (excess); ``zero_crossings`` per epoch; Hjorth mobility (Hz,
    ``sqrt(var(x') / var(x))`` with x' the derivative in µV/s, divided by 2π) and complexity
    (mobility of x' over mobility of x); ``perm_entropy`` the normalised permutation entropy
    (Bandt & Pompe 2002; order 3, delay 1: Shannon entropy of the 6 ordinal patterns of
    three successive samples, divided by log 6); ``higuchi_fd`` Higuchi's (1988) fractal
    dimension (curve lengths L(k) for k = 1..10, minus the slope of log L(k) on log k);
    ``rel_<band>`` the fraction of the 0.4-30 Hz power
    in each band of :data:`SLEEP_BANDS_HZ`.

    Four features follow the scoring rules' events rather than the epoch's average
    (:data:`SLOW_WAVE_HZ`, :data:`SPINDLE_HZ`), each from its own band of the epoch (not of
    the 0.4-30 Hz one, whose edge would shave the slowest waves): on the 0.5-2 Hz band
    (zero-phase Butterworth, order 2) the peak-to-peak amplitude in a centred 1-s window at every sample gives
    ``sw_frac_75uv``, the share of the epoch where it reaches 75 µV (AASM's N3 criterion is
    >= 20 %), and ``log_sw_p2p80``, log10(1 + its 80th percentile in µV); on the 11-16 Hz band
    (order 3) the RMS in a centred 0.5-s window gives ``sigma_burst_max`` and
    ``sigma_burst_p95``, log10 of its maximum and of its 95th percentile over its median
    (about 0 without spindles whatever the gain; a spindle standing out of the background
    raises both). Fitted on synthetic nights and tested on the real DREAMS excerpts they
    added about 0.02 kappa to the 16 others (README, *Sim-to-real*).

    Parameters
    ----------
    epochs : array_like, float, shape (n_epochs, n_samples)
        One EEG channel in µV, cut into epochs (30 s each, or any length >= 5 s).
    fs_hz : float
        Sampling rate; at least 64 Hz so that the 30-Hz band edge lies below Nyquist.

    Returns
    -------
    ndarray, float64, shape (n_epochs, len(SLEEP_FEATURE_NAMES))
        Finite everywhere: a flat epoch gets zero relative powers, zero Hjorth parameters
        and log amplitudes at log10(1e-12).
    """
    from scipy.signal import butter, sosfiltfilt, welch
    from scipy.stats import kurtosis, skew

    fs = check_positive(fs_hz, "fs_hz")
    x = np.asarray(epochs, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"epochs must be a 2-D array (n_epochs, n_samples) of one EEG channel; got shape {x.shape} "
                         "(pass one channel's epochs, e.g. signals[:, 0])")
    if fs < 64.0:
        raise ValueError(f"fs_hz={fs_hz!r} is too low for 0.4-30 Hz EEG features; accepted: >= 64 Hz "
                         "(resample first; in a run: data.fs_hz: 100)")
    nper = int(round(5.0 * fs))
    if x.shape[1] < nper:
        raise ValueError(f"epochs of {x.shape[1]} samples ({x.shape[1] / fs:.1f} s) are too short; accepted: >= 5 s")
    if not np.isfinite(x).all():
        raise ValueError("epochs contain NaN or infinite samples; drop or repair those epochs first")
    if x.shape[0] == 0:
        return np.zeros((0, len(SLEEP_FEATURE_NAMES)), dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    sos = butter(4, [0.4, 30.0], btype="bandpass", fs=fs, output="sos")
    xf = sosfiltfilt(sos, x, axis=1)

    f, pxx = welch(xf, fs=fs, window="hamming", nperseg=nper, noverlap=nper // 2, average="median", axis=1)
    df = f[1] - f[0]
    lo, hi = SLEEP_BANDS_HZ[0][1], SLEEP_BANDS_HZ[-1][2]
    total = pxx[:, (f >= lo) & (f < hi)].sum(axis=1) * df
    q75, q25 = np.percentile(xf, [75, 25], axis=1)
    d1 = np.diff(xf, axis=1) * fs
    d2 = np.diff(d1, axis=1) * fs
    v0, v1, v2 = xf.var(axis=1), d1.var(axis=1), d2.var(axis=1)
    flat = v0 <= _EPS
    mob = np.where(flat, 0.0, np.sqrt(v1 / np.maximum(v0, _EPS)))
    mob1 = np.sqrt(v2 / np.maximum(v1, _EPS))
    signs = np.signbit(xf)

    col = {
        "log_abspow": np.log10(np.maximum(total, _EPS)),
        "log_std": np.log10(np.maximum(np.sqrt(v0), _EPS)),  # np.std is sqrt(var)
        "log_iqr": np.log10(np.maximum(q75 - q25, _EPS)),
        "zero_crossings": np.where(flat, 0.0, (signs[:, 1:] != signs[:, :-1]).sum(axis=1)),
        "hjorth_mobility": mob / (2 * np.pi),
        "hjorth_complexity": np.where(flat | (v1 <= _EPS), 0.0, mob1 / np.maximum(mob, _EPS)),
        "perm_entropy": np.where(flat, 0.0, permutation_entropy(xf)),
        "higuchi_fd": np.where(flat, 0.0, higuchi_fd(xf)),
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        col["skew"] = np.where(flat, 0.0, np.nan_to_num(skew(xf, axis=1)))
        col["kurt"] = np.where(flat, 0.0, np.nan_to_num(kurtosis(xf, axis=1)))
    for name, a, b in SLEEP_BANDS_HZ:
        band = pxx[:, (f >= a) & (f < b)].sum(axis=1) * df
        col[f"rel_{name}"] = np.where(total > _EPS, band / np.maximum(total, _EPS), 0.0)
    col.update(_event_features(x, fs, flat))  # their own bands, from the unfiltered epoch
    return np.column_stack([col[name] for name in SLEEP_FEATURE_NAMES]).astype(np.float64)


def _event_features(x: np.ndarray, fs: float, flat: np.ndarray) -> dict[str, np.ndarray]:
    """Slow-wave and spindle features of epochs (see :func:`sleep_epoch_features`)."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
    from scipy.signal import butter, sosfiltfilt

    sw = sosfiltfilt(butter(2, SLOW_WAVE_HZ, btype="bandpass", fs=fs, output="sos"), x, axis=1)
    w = max(1, int(round(SLOW_WAVE_WINDOW_S * fs)))
    p2p = maximum_filter1d(sw, w, axis=1) - minimum_filter1d(sw, w, axis=1)
    sp = sosfiltfilt(butter(3, SPINDLE_HZ, btype="bandpass", fs=fs, output="sos"), x, axis=1)
    rms = np.sqrt(np.maximum(uniform_filter1d(sp * sp, max(1, int(round(SPINDLE_WINDOW_S * fs))), axis=1), 0.0))
    med = np.median(rms, axis=1) + 1e-3  # µV: a flat epoch gives 0, not a ratio of rounding errors
    return {
        "sw_frac_75uv": np.where(flat, 0.0, (p2p >= SLOW_WAVE_P2P_UV).mean(axis=1)),
        "log_sw_p2p80": np.where(flat, 0.0, np.log10(1.0 + np.percentile(p2p, 80, axis=1))),
        "sigma_burst_max": np.where(flat, 0.0, np.log10((rms.max(axis=1) + 1e-3) / med)),
        "sigma_burst_p95": np.where(flat, 0.0, np.log10((np.percentile(rms, 95, axis=1) + 1e-3) / med)),
    }


def permutation_entropy(x: np.ndarray) -> np.ndarray:
    """Normalised permutation entropy (0-1) of each row of ``x`` (order 3, delay 1)."""
    x = np.asarray(x, dtype=np.float64)
    a, b, c = x[:, :-2], x[:, 1:-1], x[:, 2:]
    # each ordinal pattern of (a, b, c) gets a code; the 6 strict orderings are 6 distinct codes
    code = (a < b).astype(np.int8) * 4 + (b < c).astype(np.int8) * 2 + (a < c).astype(np.int8)
    p = np.stack([(code == k).mean(axis=1) for k in range(8)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
    return h / np.log(6.0)


def higuchi_fd(x: np.ndarray, kmax: int = HIGUCHI_KMAX) -> np.ndarray:
    """Higuchi's fractal dimension of each row of ``x`` (1 for a line, 2 for white noise)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    ks = np.arange(1, kmax + 1)
    logl = np.empty((x.shape[0], kmax))
    for i, k in enumerate(ks):
        lengths = []
        for m in range(k):
            seg = x[:, m::k]
            steps = seg.shape[1] - 1
            if steps >= 1:  # normalised length of the curve sampled every k from m
                lengths.append(np.abs(np.diff(seg, axis=1)).sum(axis=1) * (n - 1) / (steps * k) / k)
        logl[:, i] = np.log(np.maximum(np.mean(lengths, axis=0), _EPS))
    lk = np.log(ks) - np.log(ks).mean()
    return -(logl - logl.mean(axis=1, keepdims=True)) @ lk / (lk @ lk)


#: Names of the arrays of :class:`Forest`, in the order of its fields.
FOREST_FIELDS: tuple[str, ...] = ("feature", "threshold", "left", "right", "value", "roots")


@dataclass
class Forest:
    """A fitted forest as plain arrays (no pickled estimator): every tree's nodes concatenated.

    ``feature`` (int64, -1 at leaves) and ``threshold`` (float64) of each split (a sample goes
    left when ``feature value <= threshold``, the value taken as float32 like scikit-learn's
    trees), ``left``/``right`` the children's global node indices (-1 at leaves), ``value`` the
    class probabilities of each node (n_nodes, n_classes), ``roots`` each tree's first node.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray

    @classmethod
    def from_sklearn(cls, forest, n_classes: int) -> "Forest":
        """Export a fitted scikit-learn forest classifier through the public ``tree_`` arrays;
        columns follow ``forest.classes_`` into a ``n_classes``-wide value (absent classes 0)."""
        parts, offset, roots = [], 0, []
        cols = np.asarray(forest.classes_, dtype=np.int64)
        for est in forest.estimators_:
            t = est.tree_
            leaf = t.children_left < 0
            val = np.zeros((t.node_count, n_classes))
            v = t.value[:, 0, :].astype(np.float64)
            val[:, cols] = v / np.maximum(v.sum(axis=1, keepdims=True), _EPS)
            parts.append((np.where(leaf, -1, t.feature).astype(np.int64), t.threshold.astype(np.float64),
                          np.where(leaf, -1, t.children_left + offset).astype(np.int64),
                          np.where(leaf, -1, t.children_right + offset).astype(np.int64), val))
            roots.append(offset)
            offset += t.node_count
        return cls(*(np.concatenate([p[i] for p in parts]) for i in range(5)), np.asarray(roots, dtype=np.int64))

    @property
    def n_trees(self) -> int:
        return int(self.roots.size)

    def predict_proba(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Mean over trees of the class probabilities of the leaf each row reaches (n, n_classes);
        rows go through in chunks so that memory stays flat however many there are."""
        X = np.asarray(X, dtype=np.float32)
        if X.shape[0] <= chunk:
            return self._predict_chunk(X)
        return np.concatenate([self._predict_chunk(X[i:i + chunk]) for i in range(0, X.shape[0], chunk)])

    def _predict_chunk(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        node = np.broadcast_to(self.roots, (n, self.n_trees)).copy()
        rows = np.arange(n)[:, None]
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                break
            f = np.where(inner, self.feature[node], 0)
            go_left = X[rows, f] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        return self.value[node].mean(axis=1)


class SleepFeatureStager:
    """:func:`sleep_epoch_features` + a random forest, five stages.

    ``RandomForestClassifier`` with balanced class weights (rare N1 and REM count as much as
    N2), ``n_trees`` trees whose leaves hold at least ``min_samples_leaf`` epochs, each split
    choosing among ``max_features`` features drawn at random; seeded, so a fit is reproducible.
    Predictions go through :class:`Forest` (the same arrays a checkpoint
    of :class:`sigvision.models.sleep_features.SleepFeatureNet` holds). A stage absent from
    the training labels gets probability 0.

    Why a forest: fitted on synthetic nights and tested on the real DREAMS excerpts it
    transferred better and more evenly across synthetic training sets than gradient-boosted
    trees (README, *Sim-to-real*); large leaves and averaging fit the synthetic signals' details
    less closely. One random feature per split (``max_features=1``, Breiman's "Forest-RI"
    with F = 1) rather than scikit-learn's square root of the feature count: each tree leans
    less on the few features that separate the synthetic stages best. Fitted on synthetic nights,
    it staged the real DREAMS EEG better on average (+0.010 to +0.033 mean kappa over three
    families of five synthetic training sets) and more evenly across them, with held-out
    synthetic kappa unchanged (README, *Sim-to-real*, sixth round).

    Parameters
    ----------
    n_trees : int, default 100
    min_samples_leaf : int, default 20
    max_features : int or "sqrt", default 1
        Features drawn at random for each split (at most the feature count).
    seed : int, default 0
    """

    n_classes = 5

    def __init__(self, n_trees: int = 100, min_samples_leaf: int = 20, seed: int = 0, max_features: int | str = 1):
        for name, v in (("n_trees", n_trees), ("min_samples_leaf", min_samples_leaf)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name}={v!r} is not valid; accepted: an integer >= 1")
        if max_features != "sqrt" and (isinstance(max_features, bool) or not isinstance(max_features, numbers.Integral)
                                       or max_features < 1):
            raise ValueError(f"max_features={max_features!r} is not valid; accepted: an integer >= 1 or 'sqrt'")
        self.n_trees, self.min_samples_leaf = int(n_trees), int(min_samples_leaf)
        self.max_features = max_features if max_features == "sqrt" else int(max_features)
        self.seed = int(seed)
        self.forest_: Forest | None = None

    def fit(self, features, labels) -> "SleepFeatureStager":
        """Fit on a feature matrix (n, n_features) and stages 0-4 (n,); other labels are refused."""
        from sklearn.ensemble import RandomForestClassifier

        X = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"features must be (n, n_features) and labels (n,); got {X.shape} and {y.shape}")
        if X.shape[0] == 0:
            raise ValueError("no training epochs: features and labels are empty")
        if not np.isfinite(X).all():
            raise ValueError("features contain NaN or infinite values; compute them with sleep_epoch_features")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"labels must be integer stages 0-{self.n_classes - 1} (W, N1, N2, N3, REM); "
                             f"got values {np.unique(y)[:10].tolist()} (leave unscored epochs out)")
        if np.unique(y).size < 2:
            raise ValueError(f"labels hold a single stage ({int(y[0])}); a stager needs at least two")
        max_features = self.max_features if self.max_features == "sqrt" else min(self.max_features, X.shape[1])
        rf = RandomForestClassifier(n_estimators=self.n_trees, min_samples_leaf=self.min_samples_leaf,
                                    max_features=max_features, class_weight="balanced", random_state=self.seed,
                                    n_jobs=1).fit(X, y)
        self.forest_ = Forest.from_sklearn(rf, self.n_classes)
        self.n_features_ = X.shape[1]
        return self

    def predict_proba(self, features) -> np.ndarray:
        """Probabilities (n, 5) in W, N1, N2, N3, REM order; rows sum to 1."""
        if self.forest_ is None:
            raise RuntimeError("SleepFeatureStager is not fitted; call fit() first")
        X = np.asarray(features, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ValueError(f"features must be (n, {self.n_features_}) like the training features; got shape {X.shape} "
                             "(compute them with sleep_epoch_features on the same channels)")
        return self.forest_.predict_proba(X)

    def predict(self, features) -> np.ndarray:
        """Most probable stage per row (n,)."""
        return self.predict_proba(features).argmax(axis=1)
