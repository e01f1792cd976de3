"""Per-record loops over whole datasets cost O(n log n), not O(records x rows)."""
import numpy as np
import pandas as pd

from sigvision.metrics.classification import per_night_metrics, record_groups


def test_record_groups_equal_one_mask_per_record():
    rng = np.random.default_rng(0)
    recs = np.array([f"n{k}" for k in rng.integers(0, 37, 2000)])  # interleaved, unsorted
    groups = record_groups(recs)
    assert [g for g, _ in groups] == list(dict.fromkeys(recs))  # order of first appearance
    for rec, pos in groups:
        np.testing.assert_array_equal(pos, np.flatnonzero(recs == rec))  # ascending positions
    assert sum(len(p) for _, p in groups) == len(recs)
    assert record_groups(np.array([], dtype=str)) == []
    assert [(r, p.tolist()) for r, p in record_groups(pd.Series(["b", "a", "b"]).to_numpy())] == \
        [("b", [0, 2]), ("a", [1])]


def test_per_night_metrics_unchanged_by_the_grouping():
    rng = np.random.default_rng(1)
    recs = np.repeat(["x", "y", "z"], 50)[rng.permutation(150)]
    y, p = rng.integers(0, 5, 150), rng.integers(0, 5, 150)
    got = per_night_metrics(y, p, recs)
    assert got["record"].tolist() == list(dict.fromkeys(recs)) + ["ALL"]
    for rec in ("x", "y", "z"):
        m = recs == rec
        row = got[got["record"] == rec].iloc[0]
        assert row["n_epochs"] == 50 and np.isclose(row["accuracy"], np.mean(y[m] == p[m]))


def test_weight_search_skips_an_argmax_keeping_finalize_with_the_same_result(monkeypatch):
    """The built-in blenders' finalize keeps each row's argmax, so the weight search scores the
    weighted mean directly (more than half of each candidate's cost at 1M rows): the fitted
    weights and every score in the report are those of scoring the finalised blend."""
    from dataclasses import replace

    import sigvision.blend as B

    rng = np.random.default_rng(3)
    n = 3000
    y = rng.integers(0, 5, n)
    probs = []
    for k in range(3):
        p = np.where(rng.random((n, 1)) < 0.3 + 0.1 * k, np.eye(5)[y] * 0.6 + 0.08, rng.dirichlet(np.ones(5), n))
        probs.append(p / p.sum(1, keepdims=True))
    for name in ("sqrt", "mean", "geometric", "rank"):
        assert B.BLENDERS[name].keeps_argmax
        fast = B.fit_weights(probs, y, method=name, search="grid", grid_step=0.1)
        monkeypatch.setitem(B.BLENDERS, name, replace(B.BLENDERS[name], keeps_argmax=False))
        slow = B.fit_weights(probs, y, method=name, search="grid", grid_step=0.1)
        monkeypatch.undo()
        np.testing.assert_array_equal(fast[0], slow[0])
        assert fast[1] == slow[1], name
