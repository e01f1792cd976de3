"""``benchmarks/sleepedf_calibrate.py``: the exact per-generator decomposition of a synthetic
Sleep-EDF night, and a fit that finds gains it was given."""
import json
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.sleepedf_calibrate import (  # noqa: E402
    CHANNELS,
    GAIN_KEYS,
    HAND_SET,
    _gains,
    current_gains,
    decompose_night,
    fit_gains,
    main,
    night_tables,
    real_stats,
    stage_medians,
    synthetic_stats,
    synthetic_table,
)
from benchmarks.sleepedf_nights import base_features  # noqa: E402
from sigvision.synth.generator import synthesize_night  # noqa: E402
from sigvision.synth.montages import DERIVATIONS  # noqa: E402

#: 12 epochs of each stage, in runs, so that every stage has a median.
HYP = np.array(([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4) * 3)


def _features(gains=None, seed=3):
    rows = {} if gains is None else {n: dict(zip(GAIN_KEYS, gains[c])) for c, (n, _) in enumerate(CHANNELS)}
    with _gains(rows):
        night = synthesize_night(HYP, seed=seed, montage="sleep_edf")
    eeg = night.signals[:2].astype(np.float64).reshape(2, HYP.size, -1) * 1e-6
    return real_stats(base_features(eeg, night.fs_hz))  # the real side's reading of the recipe


@pytest.fixture(scope="module")
def dec():
    return decompose_night(HYP, seed=3)


def test_decomposition_reproduces_the_generator_for_any_gains(dec):
    g0 = current_gains()
    assert np.abs(synthetic_stats(dec, g0) - _features()).max() < 1e-4
    g = g0.copy()
    g[1, GAIN_KEYS.index("delta")] *= 3.0  # Pz-Oz slow waves x3
    g[0, GAIN_KEYS.index("alpha")] *= 0.5
    want = _features(g)
    got = synthetic_stats(dec, g)
    assert np.abs(got - want).max() < 1e-4
    n3 = HYP == 3
    assert np.median(got[n3, 1, 0] - synthetic_stats(dec, g0)[n3, 1, 0]) > 0.5  # more N3 delta on Pz-Oz


def test_gains_are_restored_even_after_an_error():
    before = {k: dict(v) for k, v in DERIVATIONS.items()}
    with pytest.raises(RuntimeError):
        with _gains({"Pz-Oz": {"delta": 9.0}}):
            assert DERIVATIONS["Pz-Oz"]["delta"] == 9.0
            raise RuntimeError("boom")
    assert DERIVATIONS == before


def test_fit_finds_gains_that_made_the_target(dec):
    g0 = current_gains()
    true = g0.copy()
    true[1, GAIN_KEYS.index("delta")] *= 2.5
    true[1, GAIN_KEYS.index("bg")] *= 0.7
    target = synthetic_table([dec], true)
    fitted = fit_gains([dec], target, g0, prior=0.01)
    before = np.abs(synthetic_table([dec], g0) - target)[..., [0, 1, 2, 3, 5]].max()
    after = np.abs(synthetic_table([dec], fitted) - target)[..., [0, 1, 2, 3, 5]].max()
    assert after < 0.1 * before
    d = GAIN_KEYS.index("delta")
    assert fitted[1, d] == pytest.approx(true[1, d], rel=0.3)
    assert np.sign(fitted).tolist() == np.sign(g0).tolist()  # negative gains stay negative


def test_stage_medians_need_five_epochs():
    stats = np.arange(12, dtype=float)[:, None]
    stages = np.array([0] * 6 + [2] * 4 + [4] * 2)
    med = stage_medians(stats, stages)
    assert med[0, 0] == 2.5 and np.isnan(med[2, 0]) and np.isnan(med[1, 0])


def test_main_fits_and_reports_held_out_subjects(tmp_path, capsys, monkeypatch):
    import benchmarks.sleepedf_calibrate as cal
    from tests.e2e.test_sleepedf_nights import _fake_nights

    root = _fake_nights(tmp_path / "repo", n_epochs=120)
    # make the fake rows look like log(V + 1e-10) of real powers: the real side reads them back
    for npz in (root / "npz").glob("*.npz"):
        d = np.load(npz)
        x = np.log(np.exp(np.clip(d["X"], -3, 3)) * 1e-12 * 20 + 1e-10)
        np.savez(npz, X=x, y=d["y"])
    # one tiny synthetic night instead of whole ones
    monkeypatch.setattr(cal, "hypnogram_pool", lambda exclude: [("x", "sleep_edf")])
    monkeypatch.setattr("sigvision.synth.samples.load_sample_hypnogram", lambda name, src: HYP)
    assert main(["--features", str(root), "--subjects", "SC400", "--nights", "1"]) == 0
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert {"calibration_before", "calibration_after", "held_out_before", "held_out_after"} <= set(res)
    def fitted_cost(r):  # what the fit minimises, less its pull towards the old gains
        return r["contrast"] ** 2 + 0.3 ** 2 * r["level"] ** 2

    before, after = res["calibration_before"]["rms_log10"], res["calibration_after"]["rms_log10"]
    assert fitted_cost(after) <= fitted_cost(before) + 1e-6
    assert not np.allclose(res["gains_after"], res["gains_before"])  # the fit moved something
    assert {"level Pz-Oz", "contrast Fpz-Cz"} <= set(after)
    assert '"Pz-Oz": dict(zip(_KEYS' in out  # the row to paste into DERIVATIONS
    # --start hand-set starts from (and pulls towards) the gains the shipped Pz-Oz row was fitted from
    assert main(["--features", str(root), "--subjects", "SC400", "--nights", "1", "--start", "hand-set"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["gains_before"] == [list(cal.HAND_SET[n]) for n, _ in cal.CHANNELS]
    with pytest.raises(SystemExit):
        main(["--features", str(root), "--subjects", "SC499"])


def test_hand_set_gains_are_the_generator_s_except_the_fitted_pz_oz_row_and_fpz_cz_spindles_and_eye():
    fpz = dict(zip(GAIN_KEYS, HAND_SET["Fpz-Cz"]))
    # raised later, measured on real Fpz-Cz nights: spindles, then blinks and eye movements
    raised = ("sigma", "spin_slow", "spin_fast", "eye")
    assert {k: v for k, v in fpz.items() if k not in raised} == {
        k: DERIVATIONS["Fpz-Cz"][k] for k in GAIN_KEYS if k not in raised}
    for k in raised:  # stronger, same polarity (fast spindles stay inverted: larger at Cz)
        assert abs(DERIVATIONS["Fpz-Cz"][k]) > abs(fpz[k]) and np.sign(DERIVATIONS["Fpz-Cz"][k]) == np.sign(fpz[k])
    shipped = np.array([DERIVATIONS["Pz-Oz"][k] for k in GAIN_KEYS])
    assert not np.allclose(shipped, HAND_SET["Pz-Oz"])
    assert np.all(np.sign(shipped) == np.sign(HAND_SET["Pz-Oz"]))  # the fit keeps signs


def test_unscored_epochs_count_in_no_median():
    rng = np.random.default_rng(0)
    stages = np.repeat(np.arange(5), 8)
    stats = rng.normal(size=(stages.size, 2, 6))
    with_unscored = np.concatenate([stats, np.full((6, 2, 6), 50.0)])
    t = night_tables(with_unscored, np.concatenate([stages, np.full(6, -1)]))
    assert np.allclose(t, night_tables(stats, stages))
