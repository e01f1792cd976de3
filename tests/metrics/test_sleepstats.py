"""Sleep statistics on hand-made and real hypnograms; per-night metrics."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sigvision.metrics.classification import classification_metrics, per_night_metrics
from sigvision.synth.samples import list_sample_hypnograms, load_sample_hypnogram
from sigvision.metrics.sleepstats import STAT_NAMES, STAT_UNITS, compare_statistics, per_night_statistics, sleep_statistics

W, N1, N2, N3, REM = range(5)
HAND = [W] * 10 + [N1, N2, N2, W, N2, REM, REM] + [W]


def test_hand_made_hypnogram():
    s = sleep_statistics(HAND)
    assert list(s) == list(STAT_NAMES)
    assert s["TIB"] == 9.0  # 18 epochs * 0.5 min
    assert s["SOL"] == 5.0  # 10 W epochs
    assert s["SPT"] == 3.5  # N1 .. last REM, 7 epochs
    assert s["TST"] == 3.0  # 6 sleep epochs
    assert s["WASO"] == 0.5  # one W inside SPT; the final W is after the last sleep epoch
    assert s["REM_latency"] == 2.5  # onset at epoch 10, first REM at 15
    assert s["SE"] == pytest.approx(100 * 3 / 9)
    assert s["SME"] == pytest.approx(100 * 3 / 3.5)
    assert (s["W"], s["N1"], s["N2"], s["N3"], s["REM"]) == (6.0, 0.5, 1.5, 0.0, 1.0)
    assert s["NREM"] == 2.0 and s["Unscored"] == 0.0
    assert s["%N1"] == pytest.approx(100 / 6) and s["%N2"] == pytest.approx(50)
    assert s["%REM"] == pytest.approx(100 / 3) and s["%N3"] == 0
    assert s["%N1"] + s["%N2"] + s["%N3"] + s["%REM"] == pytest.approx(100)


def test_epoch_length_scales_minutes():
    s = sleep_statistics(HAND, epoch_s=20)
    assert s["TIB"] == pytest.approx(18 * 20 / 60)
    assert s["SOL"] == pytest.approx(10 * 20 / 60)
    assert s["SE"] == pytest.approx(100 * 3 / 9)


def test_unscored_counts_in_tib_only():
    s = sleep_statistics([W, N2, -1, N2, -2, W, REM, W])
    assert s["TIB"] == 4.0 and s["Unscored"] == 1.0
    assert s["TST"] == 1.5 and s["SPT"] == 3.0 and s["WASO"] == 0.5  # SPT: epochs 1..6
    assert s["SOL"] == 0.5 and s["REM_latency"] == 2.5


def test_no_sleep_and_no_rem():
    s = sleep_statistics([W] * 6)
    assert s["TST"] == 0 and s["WASO"] == 0 and s["SE"] == 0
    assert math.isnan(s["SOL"]) and math.isnan(s["REM_latency"]) and math.isnan(s["%N2"])
    s = sleep_statistics([W, N2, N3, W])
    assert math.isnan(s["REM_latency"]) and s["SOL"] == 0.5


@pytest.mark.parametrize("bad", [[], [[0, 1]], [0, 5], [0, -3], [0.5, 1], ["W", "N1"]])
def test_bad_stages_rejected(bad):
    with pytest.raises(ValueError, match="accepted"):
        sleep_statistics(bad)


@pytest.mark.parametrize("epoch_s", [0, -30, float("nan"), "x"])
def test_bad_epoch_length_rejected(epoch_s):
    with pytest.raises(ValueError, match="epoch_s"):
        sleep_statistics(HAND, epoch_s=epoch_s)


def test_real_hypnogram():
    name = list_sample_hypnograms("sleep_edf")[0]
    h = load_sample_hypnogram(name)
    s = sleep_statistics(h)
    assert s["TIB"] == pytest.approx(h.size * 0.5)
    assert s["TST"] + s["W"] + s["Unscored"] == pytest.approx(s["TIB"])
    assert s["TST"] + s["WASO"] <= s["SPT"] <= s["TST"] + s["WASO"] + s["Unscored"] + 1e-9
    assert s["SOL"] + s["SPT"] <= s["TIB"] + 1e-9
    assert 0 < s["SE"] <= 100 and 0 < s["SME"] <= 100
    assert s["REM_latency"] > 0
    assert s["%N1"] + s["%N2"] + s["%N3"] + s["%REM"] == pytest.approx(100)


def test_compare_statistics_side_by_side():
    truth = np.array(HAND)
    pred = truth.copy()
    pred[13] = N2  # the WASO epoch predicted as sleep
    df = compare_statistics(truth, pred)
    assert list(df.columns) == ["truth", "pred", "diff"]
    assert list(df.index) == list(STAT_NAMES)
    assert df.loc["WASO", "truth"] == 0.5 and df.loc["WASO", "pred"] == 0.0
    assert df.loc["TST", "diff"] == 0.5
    assert df.attrs["units"]["SE"] == "%" and STAT_UNITS["TIB"] == "min"
    # epochs unscored in truth are left out of the prediction too
    truth2 = truth.copy()
    truth2[0] = -1
    assert compare_statistics(truth2, pred).loc["Unscored", "pred"] == 0.5
    with pytest.raises(ValueError, match="epochs"):
        compare_statistics(truth, pred[:-1])


def test_per_night_statistics_fills_gaps_and_orders():
    truth = np.array(HAND + HAND)
    pred = truth.copy()
    recs = ["n1"] * 18 + ["n2"] * 18
    df = per_night_statistics(truth, pred, recs)
    assert list(df.columns) == ["record", "statistic", "unit", "truth", "pred", "diff"]
    assert len(df) == 2 * len(STAT_NAMES) and (df["diff"].fillna(0) == 0).all()
    # night 2 given shuffled with epoch 3 missing: sorted, gap counts as unscored
    eps = np.r_[np.arange(18), np.arange(18)]
    keep = np.ones(36, bool)
    keep[18 + 3] = False
    order = np.r_[np.arange(18), 18 + np.random.default_rng(0).permutation(18)]
    order = order[keep[order]]
    df = per_night_statistics(truth[order], pred[order], np.array(recs)[order], eps[order])
    n2 = df[df["record"] == "n2"].set_index("statistic")
    assert n2.loc["TIB", "truth"] == 9.0 and n2.loc["Unscored", "truth"] == 0.5
    assert n2.loc["TST", "truth"] == 3.0


def test_per_night_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 100)
    p = y.copy()
    p[:30] = rng.integers(0, 5, 30)
    recs = np.array(["a"] * 50 + ["b"] * 50)
    y2 = y.copy()
    y2[-1] = -1  # unscored epochs are left out
    df = per_night_metrics(y2, p, recs)
    assert list(df["record"]) == ["a", "b", "ALL"]
    assert list(df["n_epochs"]) == [50, 49, 99]
    ref = classification_metrics(y[:50], p[:50], 5)
    assert df.loc[0, "kappa"] == pytest.approx(ref["kappa"])
    assert "f1_REM" in df.columns
    assert isinstance(df, pd.DataFrame)
