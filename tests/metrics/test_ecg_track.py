"""Tests of the ECG track: the Challenge 2021 metric (metrics.challenge), thresholds
(postprocess.thresholds), metrics (metrics.ecg), augmentations (augment.signal), loss weights
(train.losses) and the classical baseline (baselines.ecg)."""
from __future__ import annotations

import inspect
import re
from fractions import Fraction

import numpy as np
import pytest

from sigvision.augment.signal import ECGAugment, amplitude_scale, baseline_wander, gaussian_noise, lead_dropout, time_shift
from sigvision.baselines.ecg import BaselineClassifier, detect_r_peaks, ecg_feature_names, ecg_features
from sigvision.metrics.challenge import NORMAL_CLASS, challenge_score, load_challenge_weights, modified_confusion_matrix
from sigvision.metrics.ecg import binary_metrics, degenerate_decisions, multilabel_metrics, per_class_table
from sigvision.postprocess.thresholds import _f1_pair, apply_thresholds, tune_binary_threshold, tune_class_threshold_f1, tune_decision_thresholds, tune_thresholds
from sigvision.train.losses import class_weights_from_counts
from sigvision.loaders.dx import labels_to_multihot, scored_classes
from sigvision.loaders.wfdb import load_wfdb_folder
from sigvision.loaders.ecg import sample_cinc2021_dir

# Small hand-worked case: classes A, B and normal N, custom reward matrix.
TOY_CLASSES = ["111", "222", NORMAL_CLASS]
TOY_W = np.array([
    [1.0, 0.5, 0.2],
    [0.5, 1.0, 0.2],
    [0.2, 0.2, 1.0],
])
#                     A  B  N
TOY_LABELS = np.array([[1, 0, 0],   # r1: {A}
                       [0, 1, 0],   # r2: {B}
                       [0, 0, 1],   # r3: {N}
                       [1, 1, 0]])  # r4: {A, B}
TOY_OUTPUTS = np.array([[1, 0, 0],  # r1: {A}     correct
                        [1, 0, 0],  # r2: {A}     B mistaken for A
                        [0, 0, 1],  # r3: {N}     correct
                        [1, 0, 1]])  # r4: {A, N} half right plus a false normal


def reference_score(labels, outputs, weights, normal_index):
    """Loop version written from the published definition (exact fractions where possible)."""
    labels = np.asarray(labels).astype(int)
    outputs = np.asarray(outputs).astype(int)
    n, c = labels.shape

    def total(out):
        s = 0.0
        for r in range(n):
            norm = max(int(np.sum((labels[r] + out[r]) > 0)), 1)
            for i in range(c):
                for j in range(c):
                    if labels[r, i] and out[r, j]:
                        s += weights[i, j] / norm
        return s

    inactive_out = np.zeros_like(labels)
    inactive_out[:, normal_index] = 1
    obs, cor, ina = total(outputs), total(labels), total(inactive_out)
    return 0.0 if cor == ina else (obs - ina) / (cor - ina)


# ----------------------------------------------------------------------------- weights file
def test_load_challenge_weights_matches_scored_classes():
    classes, w = load_challenge_weights()
    assert classes == scored_classes(merge_equivalent=True)
    assert w.shape == (26, 26) and w.dtype == np.float64
    assert np.allclose(np.diag(w), 1.0)
    assert np.allclose(w, w.T)
    assert (w >= 0).all() and (w <= 1).all()
    assert "713427006|59118001" in classes and NORMAL_CLASS in classes
    w[0, 0] = 99  # a copy: the cache is not corrupted
    assert load_challenge_weights()[1][0, 0] == 1.0


def test_no_removed_numpy_bool_alias_in_source():
    import sigvision.augment.signal
    import sigvision.baselines.ecg
    import sigvision.metrics.challenge
    import sigvision.metrics.ecg
    import sigvision.postprocess.thresholds

    for mod in (sigvision.metrics.challenge, sigvision.metrics.ecg, sigvision.postprocess.thresholds,
                sigvision.augment.signal, sigvision.baselines.ecg):
        assert not re.search(r"np\.bool\b", inspect.getsource(mod)), mod.__name__


# ----------------------------------------------------------------------------- Challenge metric
def test_modified_confusion_matrix_by_hand():
    A = modified_confusion_matrix(TOY_LABELS, TOY_OUTPUTS)
    # r1 adds 1 to A[A,A]; r2: |{A,B}| = 2, adds 1/2 to A[B,A]; r3 adds 1 to A[N,N];
    # r4: |{A,B,N}| = 3, adds 1/3 to A[A,A], A[A,N], A[B,A], A[B,N].
    expected = np.array([
        [1 + 1 / 3, 0, 1 / 3],
        [1 / 2 + 1 / 3, 0, 1 / 3],
        [0, 0, 1],
    ])
    np.testing.assert_allclose(A, expected)
    # A recording with neither labels nor outputs adds nothing (normalisation max(.., 1)).
    assert modified_confusion_matrix([[0, 0, 0]], [[0, 0, 0]]).sum() == 0


def test_challenge_score_hand_worked_partial_case():
    # observed = r1 1 + r2 W[B,A]/2 = 0.25 + r3 1 + r4 (W[A,A]+W[A,N]+W[B,A]+W[B,N])/3 = 1.9/3
    #          = 173/60
    # correct  = 1 + 1 + 1 + r4 (W[A,A]+W[A,B]+W[B,A]+W[B,B])/2 = 1.5          -> 4.5 = 270/60
    # inactive = r1 W[A,N]/2 = 0.1 + r2 W[B,N]/2 = 0.1 + r3 1 + r4 (0.2+0.2)/3 -> 4/3 = 80/60
    # score    = (173 - 80) / (270 - 80) = 93/190
    expected = float(Fraction(93, 190))
    got = challenge_score(TOY_LABELS, TOY_OUTPUTS, TOY_W, TOY_CLASSES)
    assert got == pytest.approx(expected, abs=1e-12)
    assert reference_score(TOY_LABELS, TOY_OUTPUTS, TOY_W, 2) == pytest.approx(expected, abs=1e-12)


def test_challenge_score_perfect_and_inactive():
    assert challenge_score(TOY_LABELS, TOY_LABELS, TOY_W, TOY_CLASSES) == pytest.approx(1.0)
    inactive = np.zeros_like(TOY_LABELS)
    inactive[:, 2] = 1
    assert challenge_score(TOY_LABELS, inactive, TOY_W, TOY_CLASSES) == pytest.approx(0.0, abs=1e-12)
    # Bool input is accepted the same way as 0/1.
    assert challenge_score(TOY_LABELS.astype(bool), TOY_OUTPUTS.astype(bool), TOY_W,
                               TOY_CLASSES) == pytest.approx(93 / 190)
    # Outputting nothing at all is worse than always-normal here.
    assert challenge_score(TOY_LABELS, np.zeros_like(TOY_LABELS), TOY_W, TOY_CLASSES) < 0


def test_challenge_score_correct_equals_inactive_gives_zero():
    labels = np.array([[0, 0, 1], [0, 0, 1]])  # every recording only normal
    outputs = np.array([[1, 0, 0], [0, 0, 1]])
    assert challenge_score(labels, outputs, TOY_W, TOY_CLASSES) == 0.0


def test_challenge_score_normal_class_inside_merged_id():
    classes = ["111", "222", "999|" + NORMAL_CLASS]
    assert challenge_score(TOY_LABELS, TOY_OUTPUTS, TOY_W, classes) == pytest.approx(93 / 190)


def test_challenge_score_shipped_weights_random_data():
    classes, w = load_challenge_weights()
    rng = np.random.default_rng(0)
    n, c = 300, len(classes)
    labels = rng.random((n, c)) < 0.08
    labels[~labels.any(axis=1), classes.index(NORMAL_CLASS)] = True
    k = classes.index(NORMAL_CLASS)
    assert challenge_score(labels, labels, w, classes) == pytest.approx(1.0)
    inactive = np.zeros_like(labels)
    inactive[:, k] = True
    assert challenge_score(labels, inactive, w, classes) == pytest.approx(0.0, abs=1e-12)
    random_out = rng.random((n, c)) < 0.08
    noisy = labels ^ (rng.random((n, c)) < 0.03)
    s_random = challenge_score(labels, random_out, w, classes)
    s_noisy = challenge_score(labels, noisy, w, classes)
    assert -2.0 < s_random < 0.5
    assert s_random < s_noisy < 1.0
    for out in (random_out, noisy):
        assert challenge_score(labels, out, w, classes) == pytest.approx(
            reference_score(labels, out, w, k), abs=1e-10)


@pytest.mark.parametrize(
    "labels, outputs, classes, match",
    [
        (TOY_LABELS, TOY_OUTPUTS * 0.5, TOY_CLASSES, "0/1"),
        (TOY_LABELS, TOY_OUTPUTS[:, :2], TOY_CLASSES, "shape"),
        (TOY_LABELS, TOY_OUTPUTS, ["111", "222", "333"], "normal_class"),
        (TOY_LABELS, TOY_OUTPUTS, ["111", "222"], "classes"),
        (TOY_LABELS[:0], TOY_OUTPUTS[:0], TOY_CLASSES, "no recordings"),
        (TOY_LABELS[0], TOY_OUTPUTS[0], TOY_CLASSES, "2-D"),
    ],
)
def test_challenge_score_rejects_bad_input(labels, outputs, classes, match):
    with pytest.raises(ValueError, match=match):
        challenge_score(labels, outputs, TOY_W, classes)


def test_challenge_score_rejects_bad_weights_shape():
    with pytest.raises(ValueError, match="weights"):
        challenge_score(TOY_LABELS, TOY_OUTPUTS, np.eye(4), TOY_CLASSES)


# ----------------------------------------------------------------------------- thresholds
def test_apply_thresholds_rules():
    probs = np.array([
        [0.9, 0.1, 0.8],   # A and N on
        [0.2, 0.3, 0.1],   # nothing on -> argmax B
        [0.1, 0.1, 0.7],   # only N
    ])
    plain = apply_thresholds(probs, 0.5, ensure_one=False)
    assert plain.dtype == bool
    assert plain.astype(int).tolist() == [[1, 0, 1], [0, 0, 0], [0, 0, 1]]
    one = apply_thresholds(probs, 0.5)
    assert one.astype(int).tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    excl = apply_thresholds(probs, [0.5, 0.5, 0.5], classes=TOY_CLASSES, normal_excludes_abnormal=True)
    assert excl.astype(int).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    per_class = apply_thresholds(probs, [0.95, 0.25, 0.5], ensure_one=False)
    assert per_class.astype(int).tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="classes"):
        apply_thresholds(probs, 0.5, normal_excludes_abnormal=True)
    with pytest.raises(ValueError, match="thresholds"):
        apply_thresholds(probs, [0.5, 0.5])


def _synthetic_oof(seed=0, n=400):
    classes, w = load_challenge_weights()
    rng = np.random.default_rng(seed)
    c = len(classes)
    prevalence = rng.uniform(0.02, 0.25, size=c)
    labels = rng.random((n, c)) < prevalence
    labels[~labels.any(axis=1), classes.index(NORMAL_CLASS)] = True
    # Informative but mis-calibrated scores: class-specific offsets push many classes far
    # from 0.5, so per-class thresholds matter.
    offset = rng.uniform(-2.5, 1.5, size=c)
    logits = 2.0 * (labels - 0.5) * 2 + offset + rng.normal(0, 1.2, size=(n, c))
    return 1 / (1 + np.exp(-logits)), labels, w, classes


def test_tune_thresholds_improves_and_is_deterministic():
    probs, labels, w, classes = _synthetic_oof()
    base = challenge_score(labels, apply_thresholds(probs, 0.5), w, classes)
    t1 = tune_thresholds(probs, labels, w, classes)
    t2 = tune_thresholds(probs.copy(), labels.copy(), w, classes)
    assert t1.shape == (len(classes),)
    np.testing.assert_array_equal(t1, t2)
    grid = np.linspace(0.05, 0.95, 19)
    assert np.all(np.isclose(t1[:, None], grid[None, :]).any(axis=1))
    tuned = challenge_score(labels, apply_thresholds(probs, t1), w, classes)
    assert tuned >= base
    assert tuned > base + 0.02  # mis-calibrated scores: tuning must help clearly here


def test_tune_thresholds_respects_decision_rules_and_never_worsens():
    probs, labels, w, classes = _synthetic_oof(seed=1, n=200)
    kw = dict(normal_excludes_abnormal=True, ensure_one=False)
    t = tune_thresholds(probs, labels, w, classes, n_rounds=1, **kw)
    base = challenge_score(labels, apply_thresholds(probs, 0.5, classes=classes, **kw), w, classes)
    tuned = challenge_score(labels, apply_thresholds(probs, t, classes=classes, **kw), w, classes)
    assert tuned >= base
    # Perfect scores cannot be improved: thresholds stay at init.
    perfect = labels.astype(float)
    np.testing.assert_array_equal(tune_thresholds(perfect, labels, w, classes), np.full(len(classes), 0.5))


@pytest.mark.parametrize("kw, match", [({"grid": []}, "grid"), ({"n_rounds": 0}, "n_rounds"),
                                       ({"grid": [0.1, np.nan]}, "grid")])
def test_tune_thresholds_rejects_bad_arguments(kw, match):
    probs, labels, w, classes = _synthetic_oof(n=20)
    with pytest.raises(ValueError, match=match):
        tune_thresholds(probs, labels, w, classes, **kw)


# ----------------------------------------------------------------------------- metrics
def test_multilabel_metrics_and_per_class_table():
    probs, labels, w, classes = _synthetic_oof(seed=2, n=120)
    labels[:, 0] = False  # a class with a single label value: skipped for AUROC/AUPRC
    m = multilabel_metrics(labels, probs, 0.5, classes)
    assert m["n_auc_skipped"] >= 1 and classes[0] in m["auc_skipped_classes"]
    for key in ("macro_f1", "macro_auroc", "macro_auprc", "accuracy"):
        assert 0.0 <= m[key] <= 1.0
    assert m["challenge_score"] == pytest.approx(
        challenge_score(labels, apply_thresholds(probs, 0.5), w, classes))
    perfect = multilabel_metrics(labels, labels.astype(float), 0.5, classes)
    assert perfect["macro_auroc"] == 1.0 and perfect["challenge_score"] == pytest.approx(1.0)
    assert perfect["macro_f1"] == 1.0 and perfect["accuracy"] == 1.0

    table = per_class_table(labels, probs, 0.5, classes)
    assert list(table.columns) == ["class", "abbreviation", "support", "n_predicted", "precision", "recall", "f1",
                                   "auroc", "auprc", "threshold"]
    assert len(table) == len(classes)
    row = table.set_index("class").loc[NORMAL_CLASS]
    assert row["abbreviation"] == "NSR"
    assert table.set_index("class").loc["713427006|59118001", "abbreviation"] == "CRBBB|RBBB"
    assert table["support"].tolist() == labels.sum(axis=0).tolist()
    assert np.isnan(table.loc[0, "auroc"])


def test_precision_recall_of_given_outputs():
    """outputs= scores decisions made elsewhere (files_post.csv, thresholds differing by fold):
    per-class precision/recall as sklearn's (zero_division=0), NaN for a class absent from both
    labels and outputs, and the macro means over the classes macro-F1 covers."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    labels = np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]], bool)
    outputs = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], bool)
    probs = np.full(labels.shape, 0.9)  # thresholding these would output every class: outputs must win
    classes = ["a", "b", "c", "d"]  # c: in neither labels nor outputs; d: labelled, never output
    table = per_class_table(labels, probs, None, classes, outputs=outputs)
    # a: output on rows 0, 3, 4, labelled on 0, 1, 4; b: output on 0, 1, 2, labelled on 1, 2
    assert table["precision"].tolist()[:2] == pytest.approx([2 / 3, 2 / 3])
    assert table["recall"].tolist()[:2] == pytest.approx([2 / 3, 2 / 2])
    assert np.isnan(table.loc[2, "precision"]) and np.isnan(table.loc[2, "recall"]) and np.isnan(table.loc[2, "f1"])
    assert table.loc[3, "precision"] == 0.0 and table.loc[3, "recall"] == 0.0
    assert table["n_predicted"].tolist() == [3, 3, 0, 0] and table["threshold"].isna().all()
    m = multilabel_metrics(labels, probs, None, classes, outputs=outputs)
    present = [0, 1, 3]
    for key, fn in (("macro_precision", precision_score), ("macro_recall", recall_score), ("macro_f1", f1_score)):
        assert m[key] == pytest.approx(fn(labels[:, present], outputs[:, present], average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx(2 / 5)  # rows 2 and 4 match exactly
    with pytest.raises(ValueError, match="outputs"):
        multilabel_metrics(labels, probs, None, classes)
    with pytest.raises(ValueError, match="shape"):
        per_class_table(labels, probs, None, classes, outputs=outputs[:, :3])


def test_multilabel_metrics_unknown_classes_give_nan_score_with_note():
    # only the normal class is scored: the score needs it and another scored class
    m = multilabel_metrics(TOY_LABELS, TOY_OUTPUTS.astype(float), 0.5, TOY_CLASSES)
    assert np.isnan(m["challenge_score"]) and "1 of 3" in m["challenge_note"] and m["n_scored_classes"] == 1
    m = multilabel_metrics(TOY_LABELS, TOY_OUTPUTS.astype(float), 0.5, TOY_CLASSES, weights=TOY_W)
    assert m["challenge_score"] == pytest.approx(93 / 190)
    table = per_class_table(TOY_LABELS, TOY_OUTPUTS.astype(float), 0.5, TOY_CLASSES)
    assert table["abbreviation"].tolist() == ["111", "222", "NSR"]  # fallback: the id itself


def test_binary_metrics():
    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.4, 0.2, 0.6, 0.7, 0.1])
    m = binary_metrics(y, p)
    # pred = [1, 0, 0, 1, 1, 0]: TP 2, FP 1, FN 1, TN 2
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["auroc"] == pytest.approx(8 / 9)
    assert np.isnan(binary_metrics([1, 1], [0.2, 0.9])["auroc"])
    with pytest.raises(ValueError, match="0/1"):
        binary_metrics([2, 0], [0.1, 0.2])
    # decisions given as pred: the threshold is not applied; the AUROC still ranks prob
    g = binary_metrics(y, p, pred=[1, 1, 0, 0, 0, 0])  # TP 2, FP 0, FN 1, TN 3
    assert g["precision"] == 1.0 and g["recall"] == pytest.approx(2 / 3) and g["accuracy"] == pytest.approx(5 / 6)
    assert g["f1"] == pytest.approx(0.8) and g["auroc"] == m["auroc"]
    with pytest.raises(ValueError, match="pred has shape"):
        binary_metrics(y, p, pred=[1, 0])


# ----------------------------------------------------------------------------- class weights
def test_class_weights_inv_log():
    counts = np.array([0, 1, 2, 3, 100, 1000])
    w = class_weights_from_counts(counts)
    raw = np.array([1, 1, 1, 1 / np.log(3), 1 / np.log(100), 1 / np.log(1000)])
    np.testing.assert_allclose(w, raw / raw.mean())
    assert w.mean() == pytest.approx(1.0)
    assert np.all(np.diff(w) <= 0)
    np.testing.assert_allclose(class_weights_from_counts([10, 10, 10]), [1, 1, 1])
    np.testing.assert_allclose(class_weights_from_counts([1, 4], kind="inv"), [1.6, 0.4])
    with pytest.raises(ValueError, match="kind"):
        class_weights_from_counts([1, 2], kind="focal")
    with pytest.raises(ValueError, match=">= 0"):
        class_weights_from_counts([-1, 2])


def test_class_weights_hefei_formula_and_guard():
    """kind="hefei": 1 / log(count + 1e-5) exactly from 2 positives up; counts 0 and 1 (log <= 0:
    a negative weight and 1e5) take the weight of 2."""
    counts = np.array([0, 1, 2, 3, 50, 4000])
    raw = class_weights_from_counts(counts, "hefei", normalize=False)
    expected = [1 / np.log(2 + 1e-5)] * 3 + [1 / np.log(c + 1e-5) for c in (3, 50, 4000)]
    np.testing.assert_allclose(raw, expected, rtol=1e-12)
    assert raw[0] == pytest.approx(1.4426846, rel=1e-6) and np.all(np.isfinite(raw)) and np.all(raw > 0)
    assert np.all(np.diff(raw) <= 0)
    w = class_weights_from_counts(counts, "hefei")
    np.testing.assert_allclose(w, raw / raw.mean())
    # normalize=False leaves the other kinds' raw formulas too
    np.testing.assert_allclose(class_weights_from_counts([1, 4], kind="inv", normalize=False), [1, 0.25])


# ----------------------------------------------------------------------------- augmentations
def _signal(n_leads=12, n=1000, seed=0):
    return np.random.default_rng(seed).normal(0, 0.5, size=(n_leads, n)).astype(np.float32)


AUGS = {
    "baseline_wander": lambda x, r: baseline_wander(x, 500.0, r),
    "gaussian_noise": lambda x, r: gaussian_noise(x, r),
    "amplitude_scale": lambda x, r: amplitude_scale(x, r),
    "time_shift": lambda x, r: time_shift(x, r, 100),
    "time_shift_zero": lambda x, r: time_shift(x, r, 100, mode="zero"),
    "lead_dropout": lambda x, r: lead_dropout(x, r, p=0.5),
    "ECGAugment": lambda x, r: ECGAugment(fs_hz=500.0, p=1.0, dropout_p=0.3)(x, r),
}


@pytest.mark.parametrize("name", sorted(AUGS))
def test_augmentations_shape_dtype_determinism(name):
    fn = AUGS[name]
    x = _signal()
    before = x.copy()
    a = fn(x, np.random.default_rng(1))
    b = fn(x, np.random.default_rng(1))
    c = fn(x, np.random.default_rng(2))
    np.testing.assert_array_equal(x, before)  # input untouched
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, x)


def test_augmentation_properties():
    x = _signal()
    rng = np.random.default_rng(3)
    wander = baseline_wander(x, 500.0, rng, max_mv=0.2) - x
    assert np.abs(wander).max() <= 0.2 + 1e-6
    noise = gaussian_noise(np.zeros((12, 20000), np.float32), rng, sd_mv=0.05)
    assert noise.std() == pytest.approx(0.05, rel=0.05)
    ratio = amplitude_scale(x, rng, 0.8, 1.2) / x
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-5) and 0.8 <= ratio.flat[0] <= 1.2
    rolled = time_shift(x, rng, 50)
    shift = next(s for s in range(-50, 51) if np.array_equal(np.roll(x, s, axis=1), rolled))
    assert abs(shift) <= 50
    zero = time_shift(x, np.random.default_rng(5), 50, mode="zero")
    s = next(s for s in range(-50, 51) if np.array_equal(zero[:, 60:-60], np.roll(x, s, axis=1)[:, 60:-60]))
    if s > 0:
        assert (zero[:, :s] == 0).all()
    elif s < 0:
        assert (zero[:, s:] == 0).all()


def test_lead_dropout_zeros_whole_leads():
    x = _signal() + 5.0  # no zero samples
    for seed in range(20):
        out = lead_dropout(x, np.random.default_rng(seed), p=0.4)
        zero_leads = (out == 0).all(axis=1)
        assert ((out == 0).any(axis=1) == zero_leads).all()  # zeros only as whole leads
        np.testing.assert_array_equal(out[~zero_leads], x[~zero_leads])
        assert not zero_leads.all()
    assert ((lead_dropout(x, np.random.default_rng(0), p=1.0) == 0).all(axis=1)).sum() == 11
    np.testing.assert_array_equal(lead_dropout(x, np.random.default_rng(0), p=0.0), x)


def test_ecg_augment_own_seed_and_bad_input():
    x = _signal()
    a = ECGAugment(p=1.0, seed=7)(x)
    b = ECGAugment(p=1.0, seed=7)(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ECGAugment(p=0.0)(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="Generator"):
        gaussian_noise(x, 0)
    with pytest.raises(ValueError, match="n_leads, n_samples"):
        gaussian_noise(x[0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="p="):
        ECGAugment(p=1.5)
    with pytest.raises(ValueError, match="mode"):
        time_shift(x, np.random.default_rng(0), 3, mode="reflect")


# ----------------------------------------------------------------------------- R peaks, features
def synthetic_ecg(fs, beat_times, duration_s=10.0, seed=0, noise_mv=0.03):
    """Gaussian QRS (R 1 mV, S -0.2 mV), P and T waves, baseline wander, white noise."""
    t = np.arange(int(duration_s * fs)) / fs
    x = np.zeros_like(t)
    for b in beat_times:
        x += 0.12 * np.exp(-0.5 * ((t - b + 0.16) / 0.02) ** 2)    # P
        x += 1.0 * np.exp(-0.5 * ((t - b) / 0.01) ** 2)            # R
        x -= 0.2 * np.exp(-0.5 * ((t - b - 0.03) / 0.008) ** 2)   # S
        x += 0.3 * np.exp(-0.5 * ((t - b - 0.28) / 0.04) ** 2)    # T
    x += 0.15 * np.sin(2 * np.pi * 0.3 * t)
    x += np.random.default_rng(seed).normal(0, noise_mv, t.size)
    return x


@pytest.mark.parametrize("fs", [250.0, 500.0])
def test_r_peak_detection_on_synthetic_72_bpm(fs):
    beats = np.arange(0.4, 9.8, 60 / 72)
    x = synthetic_ecg(fs, beats)
    peaks = detect_r_peaks(x, fs)
    assert len(peaks) == len(beats)
    assert np.max(np.abs(peaks / fs - beats)) <= 0.020
    sig = np.tile(x.astype(np.float32), (12, 1))
    f = dict(zip(ecg_feature_names(), ecg_features(sig, fs)))
    assert f["hr_bpm"] == pytest.approx(72.0, abs=2.0)
    assert f["rr_valid"] == 1.0
    assert f["rr_cv"] < 0.02 and f["rr_pnn50"] == 0.0


def test_irregular_rhythm_features_and_degenerate_signals():
    fs = 500.0
    rng = np.random.default_rng(4)
    rr = rng.uniform(0.45, 1.1, size=30)
    beats = 0.3 + np.concatenate([[0.0], np.cumsum(rr)])
    beats = beats[beats < 9.8]
    x = synthetic_ecg(fs, beats, seed=5)
    peaks = detect_r_peaks(x, fs)
    assert len(peaks) == len(beats) and np.max(np.abs(peaks / fs - beats)) <= 0.020
    names = ecg_feature_names()
    irregular = dict(zip(names, ecg_features(np.tile(x, (12, 1)), fs)))
    regular = dict(zip(names, ecg_features(np.tile(synthetic_ecg(fs, np.arange(0.4, 9.8, 0.8)), (12, 1)), fs)))
    assert irregular["rr_irregularity"] > 5 * regular["rr_irregularity"]
    assert irregular["rr_cv"] > 0.1
    flat = ecg_features(np.zeros((12, 5000), np.float32), fs)
    assert np.isfinite(flat).all() and flat[names.index("rr_valid")] == 0
    assert detect_r_peaks(np.zeros(5000), fs).size == 0
    with pytest.raises(ValueError, match="at least 2 s"):
        ecg_features(np.zeros((12, 500), np.float32), fs)
    with pytest.raises(ValueError, match="fs_hz"):
        ecg_features(np.zeros((12, 5000), np.float32), 50.0)
    with pytest.raises(ValueError, match="finite"):
        ecg_features(np.full((12, 5000), np.nan, np.float32), fs)


@pytest.fixture(scope="module")
def real():
    records = load_wfdb_folder(sample_cinc2021_dir(), on_unknown="ignore")
    labels, _ = labels_to_multihot([r.labels for r in records], on_unknown="ignore")
    feats = np.stack([ecg_features(r.signals, r.fs_hz) for r in records])
    return records, labels, feats


def test_features_finite_on_all_real_records(real):
    records, labels, feats = real
    assert len(records) == 35
    assert feats.shape == (35, len(ecg_feature_names()))
    assert np.isfinite(feats).all()
    hr = feats[:, 0]
    assert ((hr > 30) & (hr < 200)).all()
    classes = scored_classes()
    stach = labels[:, classes.index("427084000")].astype(bool)
    brady = labels[:, classes.index("426177001")].astype(bool)
    assert np.median(hr[stach]) > 100 and np.median(hr[brady]) < 60


def test_baseline_classifier_on_real_records(real):
    records, labels, feats = real
    clf = BaselineClassifier(max_iter=500).fit(records, labels)
    probs = clf.predict_proba([r.signals for r in records], fs_hz=[r.fs_hz for r in records])
    assert probs.shape == labels.shape
    assert np.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all()
    const = labels.all(axis=0) | ~labels.any(axis=0)
    assert set(clf.constant_classes_.tolist()) == set(np.flatnonzero(const).tolist())
    np.testing.assert_allclose(probs[:, const], np.broadcast_to(labels.mean(axis=0)[const], probs[:, const].shape))
    # Same model from the precomputed features; training fit beats chance clearly.
    probs2 = BaselineClassifier(max_iter=500).fit_features(feats, labels).predict_proba_features(feats)
    np.testing.assert_allclose(probs, probs2, atol=1e-8)
    m = multilabel_metrics(labels, probs, 0.5, scored_classes())
    assert m["macro_auroc"] > 0.8
    with pytest.raises(ValueError, match="not fitted"):
        BaselineClassifier().predict_proba_features(feats)
    with pytest.raises(ValueError, match="label rows"):
        BaselineClassifier().fit_features(feats, labels[:3])


# ----------------------------------------------------------------------------- 2020 vs 2021, by hand
HAND_CLASSES = ["164889003", "426783006", "164909002", "6374002"]  # AF, NSR, LBBB, BBB
HAND_LABELS = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
HAND_OUTPUTS = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 1, 0, 0]])


def test_challenge_2021_score_by_hand():
    """All four classes are scored in 2021 (LBBB as CLBBB|LBBB). Weights from weights.csv:
    LBBB-BBB 0.475, NSR-AF 0.25, BBB-NSR 0.275, AF-NSR 0.25, LBBB-NSR 0.275.
    observed = 1 + 0.475/2 + (1 + 0.25)/2 + 0.275/2 = 2.0; correct = 4;
    inactive (NSR for all) = 0.25/2 + 0.275/2 + 1 + 0.275/2 = 1.4; score = 0.6/2.6 = 3/13."""
    m = multilabel_metrics(HAND_LABELS, HAND_OUTPUTS.astype(float), None, HAND_CLASSES, outputs=HAND_OUTPUTS,
                               challenge="2021")
    assert m["n_scored_classes"] == 4
    assert m["challenge_score"] == pytest.approx(3 / 13)


def test_challenge_2020_score_by_hand():
    """BBB (6374002) is not scored in 2020, so r2's output and r4's label leave the metric (as the
    official scorer ignores unscored codes). Weights from weights_2020.csv: NSR-AF 0.25,
    AF-NSR 0.25, LBBB-NSR 0.275. observed = 1 + 0 + (1 + 0.25)/2 + 0 = 1.625;
    correct = 3 (r4 has no scored label); inactive = 0.25/2 + 0.275/2 + 1 + 0 = 1.2625;
    score = 0.3625/1.7375 = 29/139."""
    m = multilabel_metrics(HAND_LABELS, HAND_OUTPUTS.astype(float), None, HAND_CLASSES, outputs=HAND_OUTPUTS,
                               challenge="2020")
    assert m["n_scored_classes"] == 3 and "6374002" in m["challenge_note"]
    assert m["challenge_score"] == pytest.approx(29 / 139)
    # the same through the full 2020 class list and challenge_score
    classes, w = load_challenge_weights("2020")
    lab, out = np.zeros((4, 24), bool), np.zeros((4, 24), bool)
    for j, c in enumerate(HAND_CLASSES[:3]):
        lab[:, classes.index(c)] = HAND_LABELS[:, j]
        out[:, classes.index(c)] = HAND_OUTPUTS[:, j]
    assert challenge_score(lab, out, w, classes) == pytest.approx(29 / 139)


def test_2020_equivalent_codes_score_as_one_class():
    """RBBB labelled, CRBBB output: the same 2020 class (713427006 stands for 59118001)."""
    classes, w = load_challenge_weights("2020")
    from sigvision.loaders.dx import labels_to_multihot

    lab, _ = labels_to_multihot([["59118001"], ["426783006"]], classes)
    out, _ = labels_to_multihot([["713427006"], ["426783006"]], classes)
    assert challenge_score(lab, out, w, classes) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- the constant-rule guard
def test_degenerate_decisions_flag_a_constant_model():
    rng = np.random.default_rng(0)
    y = (rng.random((100, 3)) < [0.3, 0.1, 0.6]).astype(int)
    assert degenerate_decisions(y, y, ["a", "b", "c"]) == []
    const = np.zeros_like(y)
    const[:, 2] = 1  # class c on for everyone, a and b never
    found = degenerate_decisions(y, const, ["a", "b", "c"])
    assert found[0].startswith("every one of the 100 records gets the same output (c)")
    assert any(f.startswith("class a: the decision is off for 100 of 100") for f in found)
    assert any(f.startswith("class c: the decision is on for 100 of 100") for f in found)
    nearly = y.copy()
    nearly[:, 1] = 0
    nearly[0, 1] = 1  # b on for 1 record of 100, truth about 10
    assert [f for f in degenerate_decisions(y, nearly, ["a", "b", "c"]) if f.startswith("class b")]
    # a rare class (2 positives) left off is not flagged: too few to tell
    rare = np.zeros((100, 1), int)
    rare[:2] = 1
    assert degenerate_decisions(rare, np.zeros_like(rare), ["r"]) == []


def test_binary_threshold_never_picks_a_constant_rule():
    """85 % abnormal: 'abnormal for everyone' has an F1 of 0.92 for the abnormal class; the tuner
    maximises the mean F1 of both decisions and refuses constant rules."""
    rng = np.random.default_rng(1)
    y = (rng.random(200) < 0.85).astype(int)
    p = np.clip(0.55 + 0.1 * (y - 0.5) + rng.normal(0, 0.15, 200), 0, 1)  # weakly informative
    t = tune_binary_threshold(p, y)
    d = p >= t
    assert 0 < d.sum() < len(d)
    best_constant = _f1_pair(y.astype(bool), np.ones(200, bool))
    assert np.mean(_f1_pair(y.astype(bool), d)) > np.mean(best_constant)
    # all scores below 0.05 (a small model on a rare class): the percentile candidates still split them
    q = rng.random(200) * 0.01 + 0.01 * y
    t = tune_class_threshold_f1(q, y)
    assert 0 < (q >= t).sum() < 200


def test_tune_decision_thresholds_mixes_challenge_and_f1_classes():
    rng = np.random.default_rng(2)
    classes = ["426783006", "164889003", "429622005"]  # NSR, AF (scored), STD (not scored in 2020)
    y = np.zeros((120, 3), bool)
    y[:40, 0], y[40:80, 1], y[80:, 2] = True, True, True
    p = np.clip(y * 0.3 + rng.random((120, 3)) * 0.6, 0, 1)
    t, rep = tune_decision_thresholds(p, y, classes, challenge="2020")
    assert rep == {"scored": ["426783006", "164889003"], "f1": ["429622005"]}
    out = apply_thresholds(p, t)
    assert degenerate_decisions(y, out, classes) == []
    m = multilabel_metrics(y, p, t, classes, challenge="2020")
    assert m["challenge_score"] >= multilabel_metrics(y, p, 0.5, classes, challenge="2020")["challenge_score"]
