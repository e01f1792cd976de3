"""Blending, sleep statistics and evaluation plots."""
import numpy as np
import pytest

from sigvision.blend import available_blenders, blend, fit_weights
from sigvision.io.probs import load_aligned
from sigvision.errors import InputFileError
from sigvision.io.probs import save_probs
from sigvision.synth.samples import load_sample_hypnogram
from sigvision.metrics.sleepstats import compare_statistics, sleep_statistics


def _probs(seed, n=50, c=5):
    return np.random.default_rng(seed).dirichlet(np.ones(c), size=n)


def test_registry_and_identities():
    assert {"sqrt", "mean", "geometric", "rank"} <= set(available_blenders())
    p = _probs(0)
    for m in ("sqrt", "mean", "geometric"):
        out = blend([p, p, p], method=m)
        np.testing.assert_allclose(out, p, atol=1e-9)  # blending identical inputs returns the input
        np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="available"):
        blend([p], method="median")


def test_sqrt_blend_is_the_seed_formula():
    a, b = _probs(1), _probs(2)
    w = [0.3, 0.7]
    expect = (w[0] * np.sqrt(a) + w[1] * np.sqrt(b)) ** 2  # power mean with exponent 1/2
    expect /= expect.sum(1, keepdims=True)
    seed_way = w[0] * np.sqrt(a) + w[1] * np.sqrt(b)  # the seed took the argmax of this
    np.testing.assert_array_equal(blend([a, b], weights=w, method="sqrt").argmax(1), seed_way.argmax(1))
    np.testing.assert_allclose(blend([a, b], weights=w, method="sqrt"), expect, atol=1e-12)
    # weights follow the model order: permuting both together changes nothing
    np.testing.assert_allclose(blend([b, a], weights=w[::-1], method="sqrt"), expect, atol=1e-12)
    # weights are normalised
    np.testing.assert_allclose(blend([a, b], weights=[3, 7], method="sqrt"), expect, atol=1e-12)


@pytest.mark.parametrize("weights", [[-1, 2], [0, 0], [1]])
def test_bad_weights(weights):
    with pytest.raises(ValueError):
        blend([_probs(1), _probs(2)], weights=weights)


def test_fitted_weights_favour_the_better_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    good = np.full((400, 5), 0.05)
    good[np.arange(400), y] = 0.8
    flip = rng.random(400) < 0.15
    good[flip] = np.roll(good[flip], 1, axis=1)
    bad = rng.dirichlet(np.ones(5), size=400)
    w, report = fit_weights([good, bad], y, method="sqrt", metric="kappa")
    assert w[0] > w[1]
    assert report is not None


def test_load_aligned_refuses_mismatches_naming_both_files(tmp_path):
    p = _probs(3, n=4)
    a = save_probs(tmp_path / "a.npy", p, classes=list("ABCDE"), records=["r"] * 4, epochs=[0, 1, 2, 3])
    b = save_probs(tmp_path / "b.npy", p, classes=list("ABCED"), records=["r"] * 4, epochs=[0, 1, 2, 3])
    with pytest.raises(InputFileError) as ei:
        load_aligned([a, b])
    assert "a.npy" in str(ei.value) and "b.npy" in str(ei.value)
    c = save_probs(tmp_path / "c.npy", p, classes=list("ABCDE"), records=["r"] * 4, epochs=[0, 1, 3, 2])
    with pytest.raises(InputFileError, match="c.npy"):
        load_aligned([a, c])
    d = save_probs(tmp_path / "d.npy", p[:3], classes=list("ABCDE"), records=["r"] * 3, epochs=[0, 1, 2])
    with pytest.raises(InputFileError, match="d.npy"):
        load_aligned([a, d])
    with pytest.raises(InputFileError, match="given twice"):
        load_aligned([a, a])
    e = save_probs(tmp_path / "e.npy", p, classes=list("ABCDE"), records=["r"] * 4, epochs=[0, 1, 2, 3])
    arrays, meta = load_aligned([a, e])
    assert len(arrays) == 2 and meta["classes"] == list("ABCDE")


def test_sleep_statistics_hand_made_night():
    s = sleep_statistics([0] * 10 + [1, 2, 2, 0, 2, 4, 4, 0])
    assert s["TIB"] == 9.0 and s["TST"] == 3.0 and s["SOL"] == 5.0
    assert s["WASO"] == 0.5 and s["REM_latency"] == 2.5
    assert round(s["SE"], 2) == 33.33
    assert s["%REM"] == pytest.approx(100 * 1.0 / 3.0)


def test_sleep_statistics_real_night_and_comparison():
    h = load_sample_hypnogram("SC4001E0")
    s = sleep_statistics(h)
    assert s["TIB"] == len(h) * 0.5
    assert s["TST"] == pytest.approx(0.5 * np.sum((h >= 1) & (h <= 4)))
    df = compare_statistics(h, h)
    assert {"truth", "pred"} <= set(df.columns)
    assert np.allclose(df["truth"].fillna(-1), df["pred"].fillna(-1))


def test_plots_are_pngs():
    from sigvision.report.plots import confusion_png, hypnogram_png, training_curves_png

    h = load_sample_hypnogram("SC4001E0")
    h = np.where(h < 0, 0, h)
    for png in (hypnogram_png(h, np.roll(h, 3), title="x"),
                confusion_png(np.eye(5, dtype=int) * 10 + 1, ["W", "N1", "N2", "N3", "REM"])):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    import pandas as pd

    m = pd.DataFrame({"epoch": [0, 1, 0, 1], "fold": [0, 0, 1, 1], "train_loss": [1, .8, 1.1, .7],
                      "val_loss": [1, .9, 1.0, .8], "kappa": [.5, .6, .4, .7]})
    assert training_curves_png(m)[:4] == b"\x89PNG"
