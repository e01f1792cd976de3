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


def test_synthetic_snippets_take_the_first_samples_of_scored_epochs():
    xs, ys = synthetic_snippets(1, seed=0, exclude_subjects=set(), n_samples=500, log=lambda *a: None)
    assert len(xs) == len(ys) == 1
    assert xs[0].shape == (ys[0].size, len(SLEEP_FEATURE_NAMES)) and ys[0].min() >= 0 and ys[0].max() <= 4
    assert {0, 2, 4} <= set(ys[0].tolist())


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
    with pytest.raises(SystemExit, match="stages outside 0-4"):
        load_snippet_night(p)
    # the published files carry pickled EDF headers; they are never unpickled
    np.savez(p, x=np.ones((3, 500, 1)), y=np.zeros(3, int), fs=100.0, header_raw=np.array({"a": 1}, dtype=object))
    assert load_snippet_night(p)["x"].shape == (3, 500)


def test_main_runs_on_the_real_slices(capsys):
    assert main(["--real", str(DATA), "--synthetic-nights", "2", "--seed", "0"]) == 0
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


def test_a_stronger_spindle_gain_raises_the_synthetic_sigma_bursts():
    col = SLEEP_FEATURE_NAMES.index("sigma_burst_p95")
    base, _ = synthetic_snippets(1, seed=3, exclude_subjects=set(), n_samples=500, log=lambda *a: None)
    with overridden_gains(parse_gains(["Fpz-Cz:spin_slow=1.2", "Fpz-Cz:spin_fast=-1.6"])):
        strong, ys = synthetic_snippets(1, seed=3, exclude_subjects=set(), n_samples=500, log=lambda *a: None)
    n2 = ys[0] == 2
    assert np.median(strong[0][n2, col]) > np.median(base[0][n2, col]) + 0.02  # 0.215 -> 0.251 here
