"""``benchmarks/sim2real_postprocess_grid.py``: post-processing judged on saved real outputs."""
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.sim2real_postprocess_grid import evaluate, load_stagers, main  # noqa: E402


def _onehot(stages, p=0.7):
    out = np.full((len(stages), 5), (1 - p) / 4)
    out[np.arange(len(stages)), stages] = p
    return out


def _run(tmp_path, with_yasa=True):
    # recording a: the stager right everywhere (argmax kappa 1); its one isolated wake epoch
    # amid N2 is right, but only just: what a smoother removes.
    truth_a = np.array([0] * 6 + [2] * 20 + [0] + [2] * 20 + [3] * 13)
    truth_b = np.array([0] * 10 + [1] * 5 + [2] * 25 + [4] * 20)
    probs = np.vstack([_onehot(truth_a), _onehot(truth_b)])
    probs[26] = [0.45, 0.05, 0.40, 0.05, 0.05]  # a's lone wake: right, but only just
    wrong = np.r_[60:95]  # b's wake, N1 and most N2 called REM: its argmax kappa is low
    probs[wrong] = _onehot(np.full(wrong.size, 4))
    labels = np.concatenate([truth_a, truth_b])
    rec = np.array(["a"] * 60 + ["b"] * 60)
    run = tmp_path / "run0"
    run.mkdir()
    extra = {"yasa_probs": _onehot(labels, 0.9), "features_probs": _onehot(labels, 0.8)} if with_yasa else {}
    np.savez(run / "real_probs.npz", probs=probs, labels=labels, record=rec, **extra)
    return run, probs, labels, rec


def test_evaluate_reports_the_loss_on_a_good_recording(tmp_path):
    _, probs, labels, rec = _run(tmp_path)
    res = evaluate(probs, labels, rec, good=0.6)
    assert res["argmax"]["gain"] == 0.0 and res["argmax"]["worst"] == 0.0
    assert res["argmax"]["n_good"] == 1  # a only: b's wake is called REM
    assert set(res["mode"]["deltas"]) == {"a"}
    # the mode filter (k = 3) removes a's isolated, correct wake epoch: a loss on a good recording
    assert res["mode"]["worst"] < 0
    assert res["mode"]["deltas"]["a"] == pytest.approx(res["mode"]["worst"], abs=1e-4)
    for e in res.values():
        assert -1.0 <= e["pooled"] <= 1.0


def test_main_reads_both_stagers_and_names_a_missing_run(tmp_path, capsys):
    run, *_ = _run(tmp_path)
    st = load_stagers([run])
    assert set(st) == {"ours:run0", "features:run0", "yasa:run0"}
    assert np.allclose(st["features:run0"][0], _onehot(st["features:run0"][1], 0.8))
    assert main([str(run)]) == 0
    out = capsys.readouterr().out
    assert "yasa:run0" in out and "hmm_w0.1" in out
    with pytest.raises(SystemExit, match="nowhere.*--keep"):
        main([str(tmp_path / "nowhere")])
    bad = tmp_path / "bad.npz"
    np.savez(bad, probs=np.zeros((2, 5)))
    with pytest.raises(SystemExit, match="lacks labels, record"):
        load_stagers([bad])
