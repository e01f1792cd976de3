"""``benchmarks/sleepedf_nights.py``: staging from per-epoch features of real Sleep-EDF nights
(here: small fabricated nights in the same layout) and the recipe's features on signals."""
import json
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.sleepedf_nights import (  # noqa: E402
    base_features,
    context_features,
    find_nights,
    load_night,
    main,
    sleep_period,
    standardise_night,
)
from sigvision.synth.edf import write_hypnogram_edf  # noqa: E402


def test_base_features_of_a_sine_follow_the_recipe():
    fs, f0, amp = 100.0, 10.0, 40e-6  # a 40-uV alpha wave, in volts
    t = np.arange(3000) / fs
    ep = (amp * np.sin(2 * np.pi * f0 * t))[None, None, :]
    x = base_features(ep, fs)
    assert x.shape == (1, 9)
    delta, theta, alpha, beta, gamma = x[0, :5]
    assert alpha > max(delta, theta, beta, gamma)  # the power sits in 8-13 Hz
    assert x[0, 7] == pytest.approx(np.log(amp ** 2 / 2 + 1e-10), abs=1e-3)  # log variance
    var = amp ** 2 / 2  # Hjorth mobility of a sine, 2 sin(pi f0 / fs), with the recipe's 1e-10 under the root
    assert x[0, 8] == pytest.approx(2 * np.sin(np.pi * f0 / fs) * np.sqrt(var / (var + 1e-10)), rel=1e-3)
    assert x[0, 5] == pytest.approx(theta / (alpha + 1e-10))
    two = base_features(np.concatenate([ep, 2 * ep]), fs)  # channel-major: 9 columns per channel
    assert two.shape == (1, 18) and two[0, 16] > two[0, 7]


def test_context_features_and_standardisation():
    base = np.arange(12, dtype=float).reshape(6, 2) ** 2
    ctx = context_features(base)
    assert ctx.shape == (6, 8)
    assert np.array_equal(ctx[:, :2], base)
    assert np.array_equal(ctx[1:, 2:4], np.diff(base, axis=0)) and np.array_equal(ctx[0, 2:4], ctx[1, 2:4])
    assert ctx[2, 4] == pytest.approx(base[1:4, 0].mean()) and ctx[0, 4] == pytest.approx((2 * base[0, 0] + base[1, 0]) / 3)
    assert ctx[0, 6] == pytest.approx(base[0:2, 0].std())
    z = standardise_night(base * 3 + 7)
    assert np.allclose(np.median(z, 0), 0) and np.allclose(z, standardise_night(base))


def test_sleep_period_keeps_thirty_minutes_around_sleep():
    stages = np.array([0] * 100 + [1, 2, 3, 2, 4] + [0] * 100)
    cut = sleep_period(stages)
    assert (cut.start, cut.stop) == (40, 165)
    assert sleep_period(np.zeros(10, dtype=int)) == slice(0, 0)


def _fake_nights(root, n_epochs=90, seed=0):
    """Four nights of two subjects in the repository's layout; each npz drops the '?'
    epochs at the end of its hypnogram, like the real ones."""
    rng = np.random.default_rng(seed)
    (root / "npz").mkdir(parents=True)
    (root / "hyp").mkdir()
    for rec in ("SC4001E0", "SC4002E0", "SC4011E0", "SC4012E0"):
        stages = np.repeat(rng.integers(0, 5, n_epochs // 5), 5)
        stages[:3] = 0
        hyp = np.concatenate([stages, [-1] * 4])
        write_hypnogram_edf(root / "hyp" / f"{rec[:6]}EC-Hypnogram.edf", hyp)
        x = rng.normal(size=(stages.size, 72))
        x[:, :18] += stages[:, None]  # separable enough to stage
        np.savez(root / "npz" / f"{rec}.npz", X=x, y=stages)
    return root


def test_find_and_load_nights_and_refuse_mismatched_pairs(tmp_path):
    root = _fake_nights(tmp_path / "repo")
    found = find_nights(root)
    assert [r for r, _, _ in found] == ["SC4001E0", "SC4002E0", "SC4011E0", "SC4012E0"]
    rec, npz, hyp = found[0]
    night = load_night(rec, npz, hyp)
    assert night["X"].shape[1] == 72 and night["X"].shape[0] == night["y"].size == night["epoch"].size
    # a pair that does not belong together: one line naming the file and the fix
    other = found[1][2]
    with pytest.raises(SystemExit, match=r"SC4001E0.npz: its \d+ labels are not the scored epochs of SC4002"):
        load_night(rec, npz, other)
    np.savez(tmp_path / "bad.npz", X=np.zeros((3, 5)), y=np.zeros(3))
    with pytest.raises(SystemExit, match="expected arrays X"):
        load_night(rec, tmp_path / "bad.npz", hyp)
    with pytest.raises(SystemExit, match="no SC4xxxE0.npz"):
        find_nights(tmp_path / "repo" / "hyp")
    with pytest.raises(SystemExit, match="not a folder"):
        find_nights(tmp_path / "missing")


def test_main_stages_and_writes_the_grid_format(tmp_path, capsys):
    root = _fake_nights(tmp_path / "repo")
    out = tmp_path / "oof.npz"
    assert main(["--features", str(root), "--synthetic-nights", "0", "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["nights"] == 4 and set(res["stagers"]) == {"rf", "logreg", "rf_context", "logreg_context"}
    assert res["stagers"]["rf"]["pooled"] > 0.5  # the fabricated features carry the stage
    d = np.load(out)
    assert d["probs"].dtype == np.float16 and d["probs"].shape == (d["labels"].size, 5)
    assert {"logreg_probs", "rf_context_probs", "logreg_context_probs"} <= set(d.files)
    assert list(dict.fromkeys(d["record"])) == ["SC4001E0", "SC4002E0", "SC4011E0", "SC4012E0"]
    from benchmarks.sim2real_postprocess_grid import load_stagers

    assert len(load_stagers([out])) == 4  # sim2real_postprocess_grid.py reads it


def test_main_with_synthetic_training_nights(tmp_path, capsys):
    root = _fake_nights(tmp_path / "repo")
    assert main(["--features", str(root), "--synthetic-nights", "2"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"synthetic_rf", "synthetic_rf_context"} <= set(res["stagers"])
    assert res["synthetic_nights"] == 2
    with pytest.raises(SystemExit):
        main(["--features", str(root), "--synthetic-nights", "-1"])


def test_main_gain_overrides_reach_the_synthetic_nights_only_for_the_run(tmp_path, capsys, monkeypatch):
    import benchmarks.sleepedf_nights as sn
    from sigvision.synth.montages import DERIVATIONS

    root = _fake_nights(tmp_path / "repo")
    before = dict(DERIVATIONS["Fpz-Cz"])
    seen = []
    real = sn.synthetic_stagers
    monkeypatch.setattr(sn, "synthetic_stagers",
                        lambda *a, **k: seen.append(DERIVATIONS["Fpz-Cz"]["spin_fast"]) or real(*a, **k))
    assert main(["--features", str(root), "--synthetic-nights", "1", "--gain", "Fpz-Cz:spin_fast=-1.6"]) == 0
    out = capsys.readouterr().out
    assert seen == [-1.6] and DERIVATIONS["Fpz-Cz"] == before
    assert "generator gains overridden for this run: Fpz-Cz:spin_fast=-1.6" in out
    assert json.loads(out.strip().splitlines()[-1])["gains"] == {"Fpz-Cz:spin_fast": -1.6}


def test_leave_one_subject_out_never_trains_on_the_tested_subject(tmp_path, monkeypatch):
    import benchmarks.sleepedf_nights as bench

    root = _fake_nights(tmp_path / "repo")
    nights = {r: load_night(r, n, h) for r, n, h in find_nights(root)}
    for r, d in nights.items():
        d["X"][:, 17] = int(r[3:5])  # mark each row with its subject (00 or 01)

    class Spy:
        def fit(self, x, y):
            self.seen = set(x[:, 17].astype(int))
            self.classes_ = np.unique(y)
            return self

        def predict_proba(self, x):
            assert not set(x[:, 17].astype(int)) & self.seen, "a tested subject was in the training rows"
            return np.full((x.shape[0], self.classes_.size), 1.0 / self.classes_.size)

    monkeypatch.setattr(bench, "_classifier", lambda kind, seed: Spy())
    probs = bench.real_stagers(nights, seed=0)
    assert all(set(per) == set(nights) for per in probs.values())


def test_synthetic_pool_leaves_out_the_tested_subjects(monkeypatch):
    import sigvision.synth.samples as samples
    from benchmarks.sleepedf_nights import synthetic_features

    used = []
    monkeypatch.setattr(samples, "list_sample_hypnograms",
                        lambda src: ["SC4001E0", "SC4002E0", "SC4101E0"] if src == "sleep_edf" else [])

    def load(name, src):
        used.append(name)
        return np.array([0] * 4 + [1, 2, 2, 3, 3, 2, 4, 4] + [0] * 4)

    monkeypatch.setattr(samples, "load_sample_hypnogram", load)
    xs, ys = synthetic_features(3, 0, {"SC400"}, log=lambda *_: None)
    assert used == ["SC4101E0"] and len(xs) == 1
    assert xs[0].shape == (16, 18) and ys[0].size == 16


def test_a_night_whose_features_stop_early_is_said_to_be_partial(tmp_path, capsys):
    root = _fake_nights(tmp_path / "repo")
    rec, npz, hyp = find_nights(root)[0]
    d = np.load(npz)
    keep = 40  # the fake night's sleep goes on past epoch 40
    np.savez(npz, X=d["X"][:keep], y=d["y"][:keep])
    night = load_night(rec, npz, hyp)
    assert "a partial night" in capsys.readouterr().out
    assert night["epoch"].max() < keep


def test_kappa_is_split_by_the_generator_calibration_subjects(tmp_path, capsys, monkeypatch):
    import benchmarks.sleepedf_nights as bench
    from benchmarks.sim_to_real import kappa_or_none

    root = _fake_nights(tmp_path / "repo")
    for rec in ("SC4011E0", "SC4012E0"):  # subject SC401's nights much harder to stage
        d = np.load(root / "npz" / f"{rec}.npz")
        x = d["X"].copy()
        x[:, :18] += np.random.default_rng(1).normal(scale=2.5, size=(x.shape[0], 18))
        np.savez(root / "npz" / f"{rec}.npz", X=x, y=d["y"])
    monkeypatch.setattr(bench, "CALIBRATION_SUBJECTS", ("SC400",))
    out_npz = tmp_path / "oof.npz"
    assert main(["--features", str(root), "--synthetic-nights", "0", "--out", str(out_npz)]) == 0
    out = capsys.readouterr().out
    assert "on the others" in out
    res = json.loads(out.strip().splitlines()[-1])["stagers"]["logreg"]
    d = np.load(out_npz)
    held = np.array([r.startswith("SC401") for r in d["record"]])
    probs = d["logreg_probs"].astype(np.float64)
    # the figures are the pooled kappas of each group's rows (float16 storage: ties aside)
    k_held = kappa_or_none(d["labels"][held], probs[held].argmax(1))
    k_fitted = kappa_or_none(d["labels"][~held], probs[~held].argmax(1))
    assert k_fitted - k_held > 0.1  # the groups differ, so a swapped split would fail
    assert res["pooled_held_out_subjects"] == pytest.approx(k_held, abs=0.01)
    assert res["pooled_fitted_subjects"] == pytest.approx(k_fitted, abs=0.01)
