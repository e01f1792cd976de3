"""``benchmarks/sleepedf_snippets.py`` on two real Sleep-EDF night slices (Fpz-Cz, the first 5 s
of each epoch; tests/data/sleepedf_snippets) and on files that are wrong."""
import json
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.sleepedf_snippets import (  # noqa: E402
    find_snippet_nights,
    load_snippet_night,
    main,
    night_features,
    overridden_gains,
    parse_gains,
    synthetic_snippets,
)
from sigvision.baselines.sleep import SLEEP_FEATURE_NAMES  # noqa: E402

DATA = REPO / "tests" / "data" / "sleepedf_snippets"


def test_the_shipped_real_slices_load_as_published():
    found = find_snippet_nights(DATA)
    assert sorted(found) == ["SC4001E0", "SC4012E0"]
    night = load_snippet_night(found["SC4001E0"])
    assert night["x"].shape == (120, 500) and night["fs"] == 100.0
    assert np.bincount(night["y"], minlength=5).tolist() == [5, 7, 49, 34, 25]
    sd = np.median(night["x"].std(axis=1))
    assert 5.0 < sd < 60.0  # real sleep EEG in µV, not volts or raw counts


def test_real_n3_snippets_carry_slow_waves_and_real_rem_does_not():
    night = load_snippet_night(DATA / "SC4001E0.npz")
    f = night_features(night["x"], night["fs"])
    assert f.shape == (120, len(SLEEP_FEATURE_NAMES)) and np.isfinite(f).all()
    p2p = f[:, SLEEP_FEATURE_NAMES.index("log_sw_p2p80")]
    rel_sdelta = f[:, SLEEP_FEATURE_NAMES.index("rel_sdelta")]
    y = night["y"]
    assert np.median(p2p[y == 3]) > np.median(p2p[y == 2]) > np.median(p2p[y == 4])
    assert np.median(rel_sdelta[y == 3]) > np.median(rel_sdelta[y == 4])


def test_synthetic_snippets_take_the_first_samples_of_scored_epochs(monkeypatch):
    import benchmarks.sleepedf_snippets as bs
    from benchmarks.sim_to_real import hypnogram_pool
    from sigvision.synth.generator import synthesize_night

    seen = []
    real_features = bs.night_features
    monkeypatch.setattr(bs, "night_features", lambda x, fs_hz: seen.append(x.copy()) or real_features(x, fs_hz))
    calls = []
    monkeypatch.setattr("sigvision.synth.generator.synthesize_night",
                        lambda *a, **k: calls.append((a, k)) or synthesize_night(*a, **k))
    xs, ys = synthetic_snippets(1, seed=0, exclude_subjects=set(), n_samples=500, log=lambda *a: None)
    assert xs[0].shape == (ys[0].size, len(SLEEP_FEATURE_NAMES)) and {0, 2, 4} <= set(ys[0].tolist())
    night = synthesize_night(*calls[0][0], **calls[0][1])  # the same night again (seeded)
    row = night.channel_names.index("EEG Fpz-Cz")
    per = int(night.fs_hz * night.epoch_s)
    keep = np.flatnonzero(night.scored[:night.signals.shape[1] // per] >= 0)
    want = np.stack([night.signals[row, k * per:k * per + 500] for k in keep])
    assert np.allclose(seen[0], want)  # the first 5 s of every scored Fpz-Cz epoch, nothing else
    assert np.array_equal(ys[0], night.scored[keep])
    assert not any(n.startswith("SC400") for n, _ in hypnogram_pool({"SC400"}))


def test_bad_files_get_one_line_errors(tmp_path):
    with pytest.raises(SystemExit, match="not a folder"):
        find_snippet_nights(tmp_path / "absent")
    with pytest.raises(SystemExit, match="no SC4xxxE0.npz"):
        find_snippet_nights(tmp_path)
    p = tmp_path / "SC4001E0.npz"
    np.savez(p, x=np.zeros((3, 500, 1)), fs=100.0)
    with pytest.raises(SystemExit, match=r"SC4001E0.npz: lacks y"):
        load_snippet_night(p)
    np.savez(p, x=np.zeros((3, 500, 1)), y=np.zeros(3, int), fs=100.0, ch_label="EEG Pz-Oz")
    with pytest.raises(SystemExit, match="expected one Fpz-Cz channel"):
        load_snippet_night(p)
    np.savez(p, x=np.zeros((3, 500, 1)), y=np.array([0, 7, 1]), fs=100.0)
    with pytest.raises(SystemExit, match=r"SC4001E0.npz: stage 7 at row 1 .*fix: map the labels"):
        load_snippet_night(p)
    x = np.zeros((3, 500, 1))
    x[2, 10, 0] = np.nan
    np.savez(p, x=x, y=np.zeros(3, int), fs=100.0)
    with pytest.raises(SystemExit, match=r"1 epochs with NaN or infinite samples \(first: row 2\)"):
        load_snippet_night(p)
    p.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SystemExit, match=r"SC4001E0.npz: not a readable snippet file"):
        load_snippet_night(p)
    # the published files carry pickled EDF headers; they are never unpickled
    np.savez(p, x=np.ones((3, 500, 1)), y=np.zeros(3, int), fs=100.0, header_raw=np.array({"a": 1}, dtype=object))
    assert load_snippet_night(p)["x"].shape == (3, 500)


def test_main_runs_on_the_real_slices(capsys, tmp_path):
    out_file = tmp_path / "probs.npz"
    assert main(["--real", str(DATA), "--synthetic-nights", "2", "--seed", "0", "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert res["nights"] == 2 and res["synthetic_nights"] == 2 and res["snippet_s"] == 5.0
    assert set(res["stagers"]) == {"synthetic", "synthetic_night_std", "synthetic_night_std_context",
                                   "real_loso", "real_loso_context"}
    for name, r in res["stagers"].items():
        assert -1.0 <= r["pooled"] <= 1.0
        assert set(r["per_night"]) == {"SC4001E0", "SC4012E0"}
        assert set(r["postprocessing"]) == {"mode", "rules", "hmm", "hmm_robust"}
        assert np.asarray(r["confusion"]).sum() == 240
        assert r["pooled_subjects_10_19"] is None  # both slices are of subjects 0 and 1
    assert "never saw a real night" in out
    saved = np.load(out_file)
    assert saved["synthetic_night_std_context_probs"].shape == (240, 5) and saved["labels"].tolist() == \
        np.concatenate([load_snippet_night(DATA / f"{n}.npz")["y"] for n in ("SC4001E0", "SC4012E0")]).tolist()
    assert np.allclose(saved["real_loso_probs"].astype(float).sum(1), 1.0, atol=5e-3)
    assert saved["record"].tolist() == ["SC4001E0"] * 120 + ["SC4012E0"] * 120
    med = res["stage_medians"]
    assert len(med["real"]) == len(med["synthetic"]) == 5 and len(med["real"][2]) == len(SLEEP_FEATURE_NAMES)
    col = SLEEP_FEATURE_NAMES.index("log_sw_p2p80")
    assert med["real"][3][col] > med["real"][4][col]  # the real slices' N3 over their REM


def test_gain_overrides_apply_inside_the_block_only():
    from sigvision.synth.montages import DERIVATIONS

    before = dict(DERIVATIONS["Fpz-Cz"])
    gains = parse_gains(["Fpz-Cz:spin_fast=-1.1", "Fpz-Cz:sigma=0.8"])
    assert gains == {("Fpz-Cz", "spin_fast"): -1.1, ("Fpz-Cz", "sigma"): 0.8}
    with pytest.raises(RuntimeError):
        with overridden_gains(gains):
            assert DERIVATIONS["Fpz-Cz"]["spin_fast"] == -1.1 and DERIVATIONS["Fpz-Cz"]["sigma"] == 0.8
            raise RuntimeError("a failing run")
    assert DERIVATIONS["Fpz-Cz"] == before  # restored, even after an error
    for bad in ("Fpz-Cz:spindles=1", "Fz-Cz:sigma=1", "Fpz-Cz:sigma", "Fpz-Cz:sigma=x"):
        with pytest.raises(SystemExit, match="expected DERIVATION:GENERATOR=VALUE"):
            parse_gains([bad])


def test_the_shipped_spindle_gains_give_stronger_sigma_bursts_than_the_old_ones():
    # the shipped Fpz-Cz row (spin_slow 1.2, spin_fast -1.6) against the row before it (0.40, -0.70):
    # the override must reach the generator, and the shipped one must give larger N2 sigma bursts
    col = SLEEP_FEATURE_NAMES.index("sigma_burst_p95")
    strong, ys = synthetic_snippets(1, seed=3, exclude_subjects=set(), n_samples=500, log=lambda *a: None)
    with overridden_gains(parse_gains(["Fpz-Cz:spin_slow=0.4", "Fpz-Cz:spin_fast=-0.7"])):
        weak, _ = synthetic_snippets(1, seed=3, exclude_subjects=set(), n_samples=500, log=lambda *a: None)
    n2 = ys[0] == 2
    assert np.median(strong[0][n2, col]) > np.median(weak[0][n2, col]) + 0.02  # 0.224 -> 0.272 here


def test_real_stagers_leave_both_nights_of_a_subject_out(tmp_path, monkeypatch, capsys):
    import benchmarks.sleepedf_snippets as bs

    src = load_snippet_night(DATA / "SC4001E0.npz")
    for i, name in enumerate(("SC4001E0", "SC4002E0", "SC4011E0")):  # subject SC400 twice, SC401 once
        sl = slice(30 * i, 30 * i + 60)
        np.savez(tmp_path / f"{name}.npz", x=src["x"][sl, :, None].astype(np.float32), y=src["y"][sl], fs=100.0,
                 ch_label="EEG Fpz-Cz")
    fits = []
    real_fit = bs._fit_predict

    def spy(xs, ys, test, seed):
        fits.append((sum(len(y) for y in ys), sorted(test)))
        return real_fit(xs, ys, test, seed)

    monkeypatch.setattr(bs, "_fit_predict", spy)
    assert main(["--real", str(tmp_path), "--synthetic-nights", "1"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    loso = fits[3:]  # after the three synthetic-only stagers
    assert [t for _, t in loso] == [["SC4001E0", "SC4002E0"], ["SC4011E0"]] * 2
    assert [n for n, _ in loso] == [60, 120, 60, 120]  # SC400 out: SC4011 only; SC401 out: both SC400 nights
    assert isinstance(res["stagers"]["real_loso"]["pooled_subjects_0_9"], float)
    assert res["unseen_hypnogram_nights"] == []  # these three nights' hypnograms are shipped
