"""sigvision.baselines.sleep: each EEG feature against a signal whose value is known, gain
invariance of the spectral features, real EEG (the stages ordered as physiology says), flat
and bad input, and the feature stager on synthetic nights (fit on one night, stage another)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from sigvision.baselines.sleep import (SLEEP_BANDS_HZ, SLEEP_FEATURE_NAMES, Forest, SleepFeatureStager,
                                       higuchi_fd, permutation_entropy, sleep_epoch_features)
from sigvision.synth.generator import synthesize_night

FS = 100.0
T = np.arange(3000) / FS  # one 30-s epoch
COL = {n: i for i, n in enumerate(SLEEP_FEATURE_NAMES)}


def _sine(f_hz: float, amp: float = 20.0, phase: float = 0.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f_hz * T + phase)


def test_names_match_columns_and_bands_tile_the_broad_band():
    x = np.random.default_rng(0).normal(0, 20, (4, 3000))
    f = sleep_epoch_features(x, FS)
    assert f.shape == (4, len(SLEEP_FEATURE_NAMES)) and np.isfinite(f).all()
    rel = f[:, [COL[f"rel_{b}"] for b, _, _ in SLEEP_BANDS_HZ]]
    assert np.allclose(rel.sum(1), 1.0)  # the bands partition 0.4-30 Hz
    assert all(a[2] == b[1] for a, b in zip(SLEEP_BANDS_HZ, SLEEP_BANDS_HZ[1:]))


@pytest.mark.parametrize("f_hz, band", [(0.7, "sdelta"), (2.0, "fdelta"), (6.0, "theta"), (10.0, "alpha"),
                                        (13.5, "sigma"), (22.0, "beta")])
def test_a_sine_puts_its_power_in_its_band(f_hz, band):
    f = sleep_epoch_features(_sine(f_hz)[None], FS)[0]
    assert f[COL[f"rel_{band}"]] > 0.9


def test_hjorth_of_a_sine_is_its_frequency_and_complexity_one():
    f = sleep_epoch_features(np.stack([_sine(5.0), _sine(11.0)]), FS)
    assert f[:, COL["hjorth_mobility"]] == pytest.approx([5.0, 11.0], rel=0.03)
    assert f[:, COL["hjorth_complexity"]] == pytest.approx([1.0, 1.0], abs=0.05)
    # 2 zero crossings per cycle over 30 s
    assert f[:, COL["zero_crossings"]] == pytest.approx([300, 660], abs=3)


def test_amplitude_features_follow_the_gain_and_spectral_ones_do_not():
    x = np.random.default_rng(1).normal(0, 10, (3, 3000)) + _sine(10.0, 15.0)
    a, b = sleep_epoch_features(x, FS), sleep_epoch_features(10 * x, FS)
    for name in ("log_std", "log_iqr"):
        assert b[:, COL[name]] - a[:, COL[name]] == pytest.approx(1.0, abs=1e-6)
    assert b[:, COL["log_abspow"]] - a[:, COL["log_abspow"]] == pytest.approx(2.0, abs=1e-6)
    # the 75-µV rule is absolute; the sigma-burst ratios carry a 0.001-µV floor (flat epochs)
    scale_free = [c for n, c in COL.items() if not n.startswith(("log_", "sw_", "sigma_burst"))]
    assert np.allclose(a[:, scale_free], b[:, scale_free], atol=1e-6)
    burst = [COL["sigma_burst_max"], COL["sigma_burst_p95"]]
    assert np.allclose(a[:, burst], b[:, burst], atol=1e-3)


def test_median_welch_ignores_a_pop_in_one_window():
    """An electrode pop (one 60-µV step of 0.2 s) in one 5-s window barely moves the band
    powers: the periodogram takes the median over windows."""
    clean = _sine(10.0) + np.random.default_rng(2).normal(0, 2, 3000)
    popped = clean.copy()
    popped[1000:1020] += 200.0
    a, b = sleep_epoch_features(np.stack([clean, popped]), FS)
    assert abs(a[COL["rel_alpha"]] - b[COL["rel_alpha"]]) < 0.05
    assert b[COL["kurt"]] > a[COL["kurt"]] + 5  # while the time-domain shape does see it


def test_slow_wave_features_follow_the_aasm_n3_criterion():
    """A 1-Hz wave of 100 µV peak to peak over 30 % of the epoch (the rest 20 µV): about 30 %
    of the epoch reaches 75 µV; the same wave at 60 µV never does; a 10-Hz wave of 100 µV is
    not a slow wave at all."""
    rng = np.random.default_rng(5)
    burst = np.where(T < 9.0, 50.0, 10.0)  # amplitude: 100 µV p-p for 9 s, then 20 µV p-p
    x = np.stack([burst * np.sin(2 * np.pi * T), 0.6 * burst * np.sin(2 * np.pi * T), _sine(10.0, 50.0)])
    f = sleep_epoch_features(x + rng.normal(0, 1, x.shape), FS)
    assert f[0, COL["sw_frac_75uv"]] == pytest.approx(0.3, abs=0.04)
    assert f[1, COL["sw_frac_75uv"]] == 0 and f[2, COL["sw_frac_75uv"]] == 0
    # the 80th percentile of the 1-s peak-to-peak lies in the loud 30 %: log10(1 + 100), log10(1 + 60)
    assert f[0, COL["log_sw_p2p80"]] == pytest.approx(np.log10(101.0), abs=0.03)
    assert f[1, COL["log_sw_p2p80"]] == pytest.approx(np.log10(61.0), abs=0.03)
    assert f[2, COL["log_sw_p2p80"]] < 0.5  # a 10-Hz wave leaves the 0.5-2 Hz band nearly empty


def test_spindle_features_see_a_burst_whatever_the_gain():
    """One 1-s, 13-Hz spindle in 1/f-ish noise raises the sigma-burst features; the noise alone
    stays near 0; multiplying the epoch by 10 changes neither (ratios)."""
    rng = np.random.default_rng(6)
    noise = np.cumsum(rng.normal(0, 3, (2, 3000)), axis=1)
    noise = noise - noise.mean(1, keepdims=True) + rng.normal(0, 3, (2, 3000))
    env = np.where((T >= 12) & (T < 13), np.sin(np.pi * (T - 12)) ** 2, 0.0)
    x = noise.copy()
    x[1] += 25.0 * env * np.sin(2 * np.pi * 13.0 * T)
    f = sleep_epoch_features(x, FS)
    assert f[0, COL["sigma_burst_max"]] < 0.45 and f[0, COL["sigma_burst_p95"]] < 0.3
    assert f[1, COL["sigma_burst_max"]] > f[0, COL["sigma_burst_max"]] + 0.4
    assert f[1, COL["sigma_burst_p95"]] > f[0, COL["sigma_burst_p95"]]
    g = sleep_epoch_features(10 * x, FS)
    for name in ("sigma_burst_max", "sigma_burst_p95"):
        assert np.allclose(g[:, COL[name]], f[:, COL[name]], atol=1e-3)


def test_permutation_entropy_and_higuchi_on_known_signals():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(2, 3000))
    ramp = np.tile(np.arange(3000.0), (1, 1))
    assert permutation_entropy(noise) == pytest.approx([1.0, 1.0], abs=0.01)
    assert permutation_entropy(ramp)[0] == pytest.approx(0.0, abs=1e-12)  # one ordinal pattern only
    assert higuchi_fd(noise) == pytest.approx([2.0, 2.0], abs=0.1)
    assert higuchi_fd(_sine(0.5)[None])[0] == pytest.approx(1.0, abs=0.05)  # smooth curve


def test_flat_epoch_gives_finite_neutral_features():
    f = sleep_epoch_features(np.zeros((2, 3000)), FS)
    assert np.isfinite(f).all()
    assert (f[:, [COL[f"rel_{b}"] for b, _, _ in SLEEP_BANDS_HZ]] == 0).all()
    assert (f[:, COL["hjorth_mobility"]] == 0).all() and (f[:, COL["zero_crossings"]] == 0).all()
    assert sleep_epoch_features(np.zeros((0, 3000)), FS).shape == (0, len(SLEEP_FEATURE_NAMES))


@pytest.mark.parametrize("x, fs, match", [
    (np.zeros(3000), FS, "2-D array"),
    (np.zeros((1, 3000)), 50.0, ">= 64 Hz"),
    (np.zeros((1, 300)), FS, ">= 5 s"),
    (np.full((1, 3000), np.nan), FS, "NaN or infinite"),
])
def test_bad_input_is_refused_with_the_fix(x, fs, match):
    with pytest.raises(ValueError, match=match):
        sleep_epoch_features(x, fs)


def _night_features(seed: int):
    hyp = np.array(([0] * 6 + [1] * 4 + [2] * 10 + [3] * 8 + [2] * 4 + [4] * 8) * 2)
    night = synthesize_night(hyp, seed=seed, montage="aasm")
    eeg = night.channel_types.index("eeg")
    ep = night.signals[eeg].reshape(hyp.size, -1)
    return sleep_epoch_features(ep, night.fs_hz), hyp


def test_stager_trained_on_one_synthetic_night_stages_another():
    (xa, ya), (xb, yb) = _night_features(0), _night_features(1)
    # 76 training epochs, stages in blocks of 4-20: leaves of 5 (the default 20 is for nights)
    st = SleepFeatureStager(min_samples_leaf=5, seed=0).fit(xa, ya)
    p = st.predict_proba(xb)
    assert p.shape == (yb.size, 5) and np.allclose(p.sum(1), 1.0)
    kappa = cohen_kappa_score(yb, p.argmax(1))
    assert kappa > 0.5, kappa
    # seeded and deterministic
    assert np.array_equal(SleepFeatureStager(min_samples_leaf=5, seed=0).fit(xa, ya).predict_proba(xb), p)
    # the same stages shuffled over the epochs teach nothing
    shuffled = SleepFeatureStager(min_samples_leaf=5, seed=0).fit(xa, np.random.default_rng(0).permutation(ya))
    assert cohen_kappa_score(yb, shuffled.predict(xb)) < 0.3


def test_stage_absent_from_training_gets_zero_probability():
    x, y = _night_features(0)
    keep = y != 1
    p = SleepFeatureStager(n_trees=10).fit(x[keep], y[keep]).predict_proba(x)
    assert (p[:, 1] == 0).all() and np.allclose(p.sum(1), 1.0)


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 1, -1, 2]), "stages 0-4"),
    (np.array([2, 2, 2, 2]), "single stage"),
    (np.array([0.0, 1.0, 2.0, 3.0]), "stages 0-4"),
])
def test_stager_refuses_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        SleepFeatureStager().fit(np.zeros((4, len(SLEEP_FEATURE_NAMES))), labels)


def test_stager_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        SleepFeatureStager().predict_proba(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n_trees"):
        SleepFeatureStager(n_trees=0)
    with pytest.raises(ValueError, match="min_samples_leaf"):
        SleepFeatureStager(min_samples_leaf=True)
    x, y = _night_features(0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        SleepFeatureStager().fit(np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y)
    st = SleepFeatureStager(n_trees=5).fit(x, y)
    with pytest.raises(ValueError, match=rf"features must be \(n, {len(SLEEP_FEATURE_NAMES)}\)"):
        st.predict_proba(x[:, :3])


def test_forest_arrays_predict_exactly_like_scikit_learn():
    """The exported arrays (what a checkpoint holds) give scikit-learn's probabilities, with
    a class absent from training as a zero column in its place."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 6))
    y = np.select([X[:, 0] > 0.8, X[:, 1] > 0.5, X[:, 2] < -0.5], [4, 2, 0], 3)  # no N1
    rf = RandomForestClassifier(n_estimators=7, min_samples_leaf=3, random_state=0).fit(X, y)
    forest = Forest.from_sklearn(rf, 5)
    Xt = rng.normal(size=(300, 6))
    want = np.zeros((300, 5))
    want[:, rf.classes_] = rf.predict_proba(Xt)
    assert forest.n_trees == 7 and forest.value.shape[1] == 5
    assert np.allclose(forest.predict_proba(Xt), want, atol=1e-12)
    assert (forest.predict_proba(Xt)[:, 1] == 0).all()
    assert np.array_equal(forest.predict_proba(Xt, chunk=7), forest.predict_proba(Xt))  # chunking changes nothing
    # a threshold compared in float32, like scikit-learn's trees: values on a split point
    on_split = np.tile(Xt[:1], (3, 1))
    inner = forest.left >= 0
    on_split[:, forest.feature[inner][0]] = forest.threshold[inner][0]
    ref = np.zeros((3, 5))
    ref[:, rf.classes_] = rf.predict_proba(on_split)
    assert np.allclose(forest.predict_proba(on_split), ref, atol=1e-12)


def test_features_of_real_eeg_order_the_stages_as_physiology_does():
    """Real recordings (tests/data/psg_real): 30 s of N3 and 15 s of N2 with spindles from
    YASA's notebooks (central lead, µV, 100 and 200 Hz) and the 10 wake epochs of Sleep-EDF
    SC4001E0 (Fpz-Cz, read by the loader). Spindles put sigma power in N2, wake has more beta,
    more zero crossings and a more irregular signal (entropy, fractal dimension) than N3,
    whatever the sampling rate."""
    import warnings

    from sigvision.loaders.psg import load_sleep_night
    from tests.paths import DATA

    real = DATA / "psg_real"
    n3 = sleep_epoch_features(np.loadtxt(real / "data_N3_no-spindles_30sec_100Hz.txt")[None], 100.0)[0]
    n2 = sleep_epoch_features(np.loadtxt(real / "data_N2_spindles_15sec_200Hz.txt")[None], 200.0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        night = load_sleep_night(real / "SC4001E0-PSG.edf", real / "SC4001EC-Hypnogram.edf", channels=("EEG Fpz-Cz",),
                                 trim_wake_edges_min=None, on_length_mismatch="ignore")
    assert night.n_epochs == 10 and (night.labels == 0).all()
    w = sleep_epoch_features(night.epochs[:, 0], night.fs_hz)
    assert np.isfinite(w).all() and np.allclose(w[:, [COL[f"rel_{b}"] for b, _, _ in SLEEP_BANDS_HZ]].sum(1), 1.0)
    wake = np.median(w, axis=0)
    assert n2[COL["rel_sigma"]] > 3 * max(n3[COL["rel_sigma"]], wake[COL["rel_sigma"]])
    for name in ("rel_beta", "zero_crossings", "perm_entropy", "higuchi_fd"):
        assert wake[COL[name]] > n3[COL[name]], name
    # N2's spindles stand out of the sigma band (the slow-wave features are not compared across
    # these leads: at Fpz-Cz wake eye movements reach 75 µV in the 0.5-2 Hz band, up to 24 % of
    # an epoch here, more than this central N3 snippet's 2.5 %)
    for name in ("sigma_burst_max", "sigma_burst_p95"):
        assert n2[COL[name]] > 1.5 * max(n3[COL[name]], wake[COL[name]]), name
    # amplitudes in µV as recorded: tens of µV (log10 SD between 1 and 2) in every stage
    for f in (n3, n2, wake):
        assert 1.0 < f[COL["log_std"]] < 2.0


def test_stager_draws_one_feature_per_split_by_default():
    """The default forest is scikit-learn's with one random feature per split (what transferred
    best from synthetic to real EEG); ``max_features`` reaches the forest and is checked."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = _night_features(0)
    xb, _ = _night_features(1)
    for max_features in (1, "sqrt", 3):
        kw = {} if max_features == 1 else {"max_features": max_features}
        ours = SleepFeatureStager(n_trees=9, min_samples_leaf=5, seed=2, **kw).fit(x, y).predict_proba(xb)
        rf = RandomForestClassifier(n_estimators=9, min_samples_leaf=5, max_features=max_features,
                                    class_weight="balanced", random_state=2).fit(x, y)
        assert np.allclose(ours, rf.predict_proba(xb))
    # one feature per split differs from the square root's forest
    assert not np.allclose(SleepFeatureStager(n_trees=9, seed=2).fit(x, y).predict_proba(xb),
                           SleepFeatureStager(n_trees=9, seed=2, max_features="sqrt").fit(x, y).predict_proba(xb))
    # more features than there are columns: all of them (not an error)
    few = SleepFeatureStager(n_trees=3, max_features=500).fit(x[:, :4], y)
    assert few.predict_proba(xb[:, :4]).shape == (xb.shape[0], 5)
    for bad in (0, True, 1.5, "log3"):
        with pytest.raises(ValueError, match="max_features"):
            SleepFeatureStager(max_features=bad)
