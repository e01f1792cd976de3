"""Blending: identities, the seed's sqrt formula, weights, fitting and file alignment."""
from __future__ import annotations

import numpy as np
import pytest

from sigvision.blend import BLENDERS, available_blenders, blend, fit_weights, get_blender, report_frame
from sigvision.io.probs import load_aligned
from sigvision.errors import ConfigError, InputFileError
from sigvision.io.probs import save_probs
from sigvision.metrics.classification import classification_metrics, score

METHODS = ["sqrt", "mean", "geometric", "rank"]


def _probs(n=40, c=5, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c), size=n)
    return p


def test_registry_has_the_four_methods():
    assert set(METHODS) <= set(BLENDERS)
    assert available_blenders() == sorted(BLENDERS)


def test_unknown_method_lists_available_and_close_match():
    with pytest.raises(ConfigError) as ei:
        blend([_probs()], method="sqrtt")
    msg = str(ei.value)
    assert "'sqrt'" in msg and "did you mean" in msg
    for m in METHODS:
        assert m in msg
    with pytest.raises(ValueError):
        get_blender("nonsense")


@pytest.mark.parametrize("method", METHODS)
def test_identical_inputs_blend_like_one_and_rows_sum_to_one(method):
    p = _probs()
    one = blend([p], method=method)
    three = blend([p, p, p], weights=[0.2, 0.5, 0.3], method=method)
    assert three.shape == p.shape
    np.testing.assert_allclose(three, one, atol=1e-12)
    np.testing.assert_allclose(three.sum(1), 1.0, atol=1e-12)
    assert (three >= 0).all()


@pytest.mark.parametrize("method", ["sqrt", "mean", "geometric"])
def test_identical_inputs_return_the_input(method):
    p = _probs()
    np.testing.assert_allclose(blend([p, p], method=method), p, atol=1e-9)
    np.testing.assert_allclose(blend([p], method=method), p, atol=1e-9)


def test_sqrt_keeps_the_seed_argmax():
    ps = [_probs(seed=s) for s in range(3)]
    w = np.array([0.5, 0.2, 0.3])
    seed_way = sum(wi * np.sqrt(p) for wi, p in zip(w, ps))  # the seed took the argmax of this
    assert (blend(ps, w).argmax(1) == seed_way.argmax(1)).all()


def test_sqrt_blend_hand_computed():
    a = np.array([[0.64, 0.36], [1.0, 0.0]])
    b = np.array([[0.16, 0.84], [0.25, 0.75]])
    # weights 3:1 -> 0.75, 0.25; weighted mean of square roots, squared, renormalised per row
    # row 0: 0.75*[0.8, 0.6] + 0.25*[0.4, sqrt(.84)] = [0.7, 0.45 + 0.25*sqrt(.84)]
    # row 1: 0.75*[1.0, 0.0] + 0.25*[0.5, sqrt(.75)] = [0.875, 0.25*sqrt(.75)]
    r0 = np.array([0.7, 0.45 + 0.25 * np.sqrt(0.84)]) ** 2
    r1 = np.array([0.875, 0.25 * np.sqrt(0.75)]) ** 2
    expected = np.stack([r0 / r0.sum(), r1 / r1.sum()])
    np.testing.assert_allclose(blend([a, b], weights=[3, 1]), expected, atol=1e-12)
    np.testing.assert_allclose(expected[1], [0.765625 / 0.81250, 0.046875 / 0.81250], atol=1e-12)


def test_other_methods_hand_computed():
    a = np.array([[0.8, 0.2]])
    b = np.array([[0.2, 0.8]])
    np.testing.assert_allclose(blend([a, b], [0.75, 0.25], method="mean"), [[0.65, 0.35]], atol=1e-12)
    g = np.array([0.8 ** 0.75 * 0.2 ** 0.25, 0.2 ** 0.75 * 0.8 ** 0.25])
    np.testing.assert_allclose(blend([a, b], [0.75, 0.25], method="geometric"), [g / g.sum()], atol=1e-12)
    # rank: per class column over rows
    x = np.array([[0.1, 0.9], [0.6, 0.4]])
    ranks = np.array([[0.5, 1.0], [1.0, 0.5]])
    np.testing.assert_allclose(blend([x], method="rank"), ranks / ranks.sum(1, keepdims=True))


@pytest.mark.parametrize("method", METHODS)
def test_weight_order_follows_model_order(method):
    ps = [_probs(seed=s) for s in range(3)]
    w = [0.5, 0.2, 0.3]
    perm = [2, 0, 1]
    a = blend(ps, w, method=method)
    b = blend([ps[i] for i in perm], [w[i] for i in perm], method=method)
    np.testing.assert_allclose(a, b, atol=1e-12)
    # and weights are normalised: scaling them changes nothing
    np.testing.assert_allclose(blend(ps, [10, 4, 6], method=method), a, atol=1e-12)


@pytest.mark.parametrize("weights", [[-0.1, 1.1], [0, 0], [1.0], [1, 2, 3], [np.nan, 1], [[1, 1]], "ab"])
def test_bad_weights_rejected(weights):
    with pytest.raises(ValueError, match="weights"):
        blend([_probs(), _probs(seed=1)], weights=weights)


def test_zero_weight_drops_a_model():
    a, b = _probs(), _probs(seed=1)
    np.testing.assert_allclose(blend([a, b], [1, 0], method="mean"), a, atol=1e-12)


def test_bad_arrays_rejected():
    with pytest.raises(ValueError, match="shape"):
        blend([_probs(10), _probs(11)])
    with pytest.raises(ValueError, match="2-D"):
        blend([np.ones(5)])
    with pytest.raises(ValueError, match="negative"):
        blend([-_probs()])
    with pytest.raises(ValueError, match="non-finite"):
        blend([np.full((2, 2), np.nan)])
    with pytest.raises(ValueError, match="non-empty"):
        blend([])


def test_score_matches_classification_metrics():
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    p[:100] = y[:100]
    ref = classification_metrics(y, p, 5)
    for m in ("kappa", "macro_f1", "accuracy"):
        assert score(y, p, 5, m) == pytest.approx(ref[m])
    with pytest.raises(ValueError, match="accepted"):
        score(y, p, 5, "auc")


def _synthetic_oof(n=600, c=5, seed=0):
    """Model 0 is right ~80% of the time, models 1-2 ~45%, all with informative noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)

    def model(acc, sharp):
        logits = rng.normal(0, 1, (n, c))
        hit = rng.random(n) < acc
        target = np.where(hit, y, rng.integers(0, c, n))
        logits[np.arange(n), target] += sharp
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)

    return [model(0.8, 2.5), model(0.45, 1.5), model(0.45, 1.5)], y


@pytest.mark.parametrize("metric", ["kappa", "macro_f1"])
@pytest.mark.parametrize("search", ["grid", "random"])
def test_fit_weights_beats_or_equals_best_single(metric, search):
    oof, y = _synthetic_oof()
    w, rep = fit_weights(oof, y, metric=metric, search=search, n_random=150, seed=1,
                         model_names=["good", "weak_a", "weak_b"])
    assert w.shape == (3,) and w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert rep["best_single_model"] == "good"
    assert rep["blend_score"] >= rep["best_single_score"] - 1e-12
    assert rep["blend_score"] >= rep["equal_weights_score"] - 1e-12
    assert w[0] == max(w)  # the clearly better model carries the most weight
    # the reported score is the score of the blend with the returned weights
    pred = blend(oof, w).argmax(1)
    assert score(y, pred, 5, metric) == pytest.approx(rep["blend_score"])
    assert rep["search"] == search and rep["n_evaluated"] > 3
    frame = report_frame(rep)
    assert list(frame["model"]) == ["good", "weak_a", "weak_b", "blend (fitted)", "blend (equal weights)"]
    assert frame[metric].iloc[0] == pytest.approx(rep["single_scores"]["good"])


def test_fit_weights_is_seeded_and_validates():
    oof, y = _synthetic_oof(n=200)
    w1, _ = fit_weights(oof, y, search="random", n_random=50, seed=7)
    w2, _ = fit_weights(oof, y, search="random", n_random=50, seed=7)
    np.testing.assert_array_equal(w1, w2)
    with pytest.raises(ValueError, match="metric"):
        fit_weights(oof, y, metric="auc")
    with pytest.raises(ValueError, match="grid_step"):
        fit_weights(oof, y, grid_step=0.3)
    with pytest.raises(ValueError, match="y_true"):
        fit_weights(oof, y[:-1])
    with pytest.raises(ValueError, match="y_true holds class 7"):
        fit_weights(oof, np.full(200, 7))
    # unscored rows (negative labels) are ignored
    y2 = y.copy()
    y2[:20] = -1
    _, rep = fit_weights(oof, y2, grid_step=0.25)
    assert rep["n_rows"] == 180


# --------------------------------------------------------------------------- files


def _save(path, probs, classes=("W", "N1", "N2", "N3", "REM"), records=None, epochs=None, **meta):
    n = probs.shape[0]
    records = records if records is not None else ["a"] * (n // 2) + ["b"] * (n - n // 2)
    epochs = epochs if epochs is not None else list(range(n // 2)) + list(range(n - n // 2))
    return save_probs(path, probs, classes=classes, records=records, epochs=epochs, model=path.stem,
                      config_hash="x", kind="oof", **meta)


def test_load_aligned_reads_matching_files(tmp_path):
    a, b = _probs(10), _probs(10, seed=1)
    pa, pb = _save(tmp_path / "vit_oof_best.npy", a, labels=[0] * 10), _save(tmp_path / "eff_oof_best.npy", b,
                                                                              labels=[0] * 10)
    arrays, meta = load_aligned([pa, pb])
    np.testing.assert_allclose(arrays[0], a, atol=1e-6)
    np.testing.assert_allclose(arrays[1], b, atol=1e-6)
    assert meta["classes"] == ["W", "N1", "N2", "N3", "REM"]
    assert meta["models"] == ["vit_oof_best", "eff_oof_best"]
    assert meta["labels"] == [0] * 10 and meta["kind"] == "oof"
    assert len(meta["records"]) == len(meta["epochs"]) == 10


def _both_named(exc, pa, pb):
    msg = str(exc.value)
    assert str(pa) in msg and str(pb) in msg, msg


def test_load_aligned_refuses_class_order(tmp_path):
    pa = _save(tmp_path / "a.npy", _probs(10))
    pb = _save(tmp_path / "b.npy", _probs(10), classes=("W", "N1", "N2", "REM", "N3"))
    with pytest.raises(InputFileError, match="class order") as ei:
        load_aligned([pa, pb])
    _both_named(ei, pb, pa)


def test_load_aligned_refuses_row_ids(tmp_path):
    pa = _save(tmp_path / "a.npy", _probs(10))
    eps = list(range(5)) + [0, 1, 2, 3, 9]
    pb = _save(tmp_path / "b.npy", _probs(10), epochs=eps)
    with pytest.raises(InputFileError, match="row ids") as ei:
        load_aligned([pa, pb])
    _both_named(ei, pb, pa)
    assert "row 9" in str(ei.value)
    # same rows, different order
    recs = ["b"] * 5 + ["a"] * 5
    pc = _save(tmp_path / "c.npy", _probs(10), records=recs)
    with pytest.raises(InputFileError, match="different order") as ei:
        load_aligned([pa, pc])
    _both_named(ei, pc, pa)


def test_load_aligned_refuses_shapes_kind_labels_duplicates(tmp_path):
    pa = _save(tmp_path / "a.npy", _probs(10), labels=[1] * 10)
    pb = _save(tmp_path / "b.npy", _probs(12))
    with pytest.raises(InputFileError, match="shape") as ei:
        load_aligned([pa, pb])
    _both_named(ei, pb, pa)
    pc = save_probs(tmp_path / "c.npy", _probs(10), classes=("W", "N1", "N2", "N3", "REM"),
                    records=["a"] * 5 + ["b"] * 5, epochs=list(range(5)) * 2, kind="test")
    with pytest.raises(InputFileError, match="'test'") as ei:
        load_aligned([pa, pc])
    _both_named(ei, pc, pa)
    pd_ = _save(tmp_path / "d.npy", _probs(10), labels=[2] * 10)
    with pytest.raises(InputFileError, match="labels") as ei:
        load_aligned([pa, pd_])
    _both_named(ei, pd_, pa)
    with pytest.raises(InputFileError, match="twice"):
        load_aligned([pa, pa])
    with pytest.raises(InputFileError, match="missing"):
        load_aligned([pa, tmp_path / "nope.npy"])


def test_test_split_without_test_dir_names_the_missing_setting(tmp_path):
    """blend.split=test without infer.test_dir read the prepared index from '' and failed with
    "index.csv: missing; fix: run 'sigvision prepare' to create ."."""
    from sigvision.config.load import config_from_dict
    from sigvision.io.runs import row_table as _row_table

    cfg = config_from_dict({"prepared_dir": str(tmp_path), "blend": {"split": "test"}})
    with pytest.raises(ConfigError, match="infer.test_dir"):
        _row_table(cfg, ["a"], [0])


def test_multilabel_score_matches_sklearn_and_skips_one_outcome_classes():
    from sklearn.metrics import f1_score, roc_auc_score

    from sigvision.blend import multilabel_score

    rng = np.random.default_rng(3)
    y = rng.random((200, 4)) < [0.3, 0.1, 0.5, 0.0]  # the last class never occurs: left out
    p = np.clip(y * 0.3 + rng.random((200, 4)) * 0.7, 0, 1).round(2)  # ties on purpose
    want_auc = np.mean([roc_auc_score(y[:, j], p[:, j]) for j in range(3)])
    assert multilabel_score(y, p, "auroc") == pytest.approx(want_auc, abs=1e-12)
    want_f1 = np.mean([f1_score(y[:, j], p[:, j] >= 0.5) for j in range(3)])
    assert multilabel_score(y, p, "macro_f1") == pytest.approx(want_f1, abs=1e-12)


def test_fit_weights_multilabel_prefers_the_informative_model():
    from sigvision.blend import fit_weights_multilabel, multilabel_score

    rng = np.random.default_rng(0)
    y = rng.random((300, 3)) < 0.3
    good = np.clip(0.6 * y + 0.4 * rng.random((300, 3)), 0, 1)
    noise = rng.random((300, 3))
    w, rep = fit_weights_multilabel([noise, good], y, "auroc", model_names=["noise", "good"])
    assert w.sum() == pytest.approx(1) and w[1] > 0.8
    assert rep["blend_score"] >= rep["best_single_score"] and rep["best_single_model"] == "good"
    assert rep["blend_score"] == pytest.approx(multilabel_score(y, w[0] * noise + w[1] * good, "auroc"))
    with pytest.raises(ConfigError, match="not a multi-label blend score"):
        fit_weights_multilabel([noise, good], y, "kappa")
