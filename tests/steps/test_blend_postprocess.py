import numpy as np
import pandas as pd
import pytest

from sigvision.config.load import config_from_dict
from sigvision.errors import InputFileError
from sigvision.blend import apply_temperature, fit_temperature
from sigvision.steps.blend import run_blend
from sigvision.steps.postprocess import run_postprocess


def test_temperature_recovers_a_known_sharpening():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=p) for p in true_p])
    flat = apply_temperature(true_p, 3.0)  # what a too-flat blend looks like
    t = fit_temperature(flat, y)
    assert 0.25 < t < 0.42  # undoes the flattening (ideal 1/3)
    np.testing.assert_allclose(apply_temperature(flat, t).sum(1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(apply_temperature(flat, t).argmax(1), flat.argmax(1))  # ranks unchanged


def test_postprocess_refuses_bad_blend_csv(tmp_path):
    cfg = config_from_dict({"weights_dir": str(tmp_path)})
    with pytest.raises(InputFileError, match="run blend.py"):
        run_postprocess(cfg, tmp_path / "nope.csv")
    bad = tmp_path / "b.csv"
    pd.DataFrame({"record": ["a"], "epoch": [0], "onset_s": [0.0], "prob_W": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(InputFileError, match="missing columns prob_N1"):
        run_postprocess(cfg, bad)


def test_postprocess_writes_files_post(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5), size=20)
    t = pd.DataFrame({"record": ["n1"] * 10 + ["n2"] * 10, "epoch": list(range(10)) * 2,
                      "onset_s": [30.0 * i for i in range(10)] * 2})
    for j, s in enumerate(["W", "N1", "N2", "N3", "REM"]):
        t[f"prob_{s}"] = p[:, j]
    t.to_csv(tmp_path / "b.csv", index=False)
    cfg = config_from_dict({"weights_dir": str(tmp_path), "postprocess": {"method": "argmax"}})
    out = run_postprocess(cfg, tmp_path / "b.csv", tmp_path / "files_post.csv")
    post = pd.read_csv(out)
    assert post["stage_code"].tolist() == list(p.argmax(1))
    assert post["stage"].tolist() == [["W", "N1", "N2", "N3", "REM"][k] for k in p.argmax(1)]


def test_blend_without_predictions_is_a_clear_error(tmp_path):
    cfg = config_from_dict({"weights_dir": str(tmp_path), "blend": {"models": ["m1"]}})
    with pytest.raises(InputFileError, match="run inferblend.py"):
        run_blend(cfg)


def test_blend_needs_oof_labels_to_fit_weights(tmp_path):
    from sigvision.io.probs import save_probs

    preds = tmp_path / "x" / "preds"
    p = np.full((3, 5), 0.2)
    for m in ("m1", "m2"):  # sidecars without labels
        save_probs(preds / f"{m}_oof_best.npy", p, classes=["W", "N1", "N2", "N3", "REM"], records=["r"] * 3,
                   epochs=[0, 1, 2])
    cfg = config_from_dict({"name": "x", "weights_dir": str(tmp_path), "blend": {"models": ["m1", "m2"]}})
    with pytest.raises(InputFileError, match="no labels to fit weights or calibrate on"):
        run_blend(cfg)
