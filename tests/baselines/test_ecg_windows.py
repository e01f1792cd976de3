"""The classical baseline as a model of the run (BaselineNet / model.name: ecg_baseline), window
sampling and window aggregation of whole records, balanced sampling."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sigvision.config import ModelConfig
from sigvision.models.factory import build_model
from sigvision.models.resnet1d import BaselineNet


def beats(rr_s: np.ndarray, fs: float, n: int, rng) -> np.ndarray:
    """(12, n) mV: a narrow QRS spike at every R time (cumulated RR intervals) plus noise."""
    t = np.arange(n) / fs
    x = np.zeros(n)
    for r in np.cumsum(rr_s):
        if r < t[-1]:
            x += 1.2 * np.exp(-0.5 * ((t - r) / 0.012) ** 2)
    gains = np.linspace(0.5, 1.5, 12)[:, None]
    return (gains * x + rng.normal(0, 0.02, (12, n))).astype(np.float32)


def rhythm_set(n_rec: int, fs: float = 100.0, seconds: float = 10.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs, y = [], []
    for i in range(n_rec):
        irregular = i % 2 == 1
        rr = rng.uniform(0.35, 1.1, 40) if irregular else np.full(40, rng.uniform(0.7, 1.0)) + rng.normal(0, 0.01, 40)
        xs.append(beats(rr, fs, int(seconds * fs), rng))
        y.append(int(irregular))
    return np.stack(xs), np.asarray(y)


def test_baseline_learns_an_irregular_rhythm_and_round_trips_its_state():
    x, y = rhythm_set(24)
    net = build_model(ModelConfig(name="ecg_baseline"), 2, in_chans=12)
    assert isinstance(net, BaselineNet) and not net.fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        net(torch.from_numpy(x[:2]))
    feats = net.features(x, fs_hz=100.0)
    assert feats.shape == (24, 70)
    fit = net.fit(feats, y, fs_hz=100.0, multilabel=False)
    assert fit["constant_classes"] == [] and np.isfinite(fit["train_loss"])
    xt, yt = rhythm_set(10, seed=1)
    p = torch.softmax(net(torch.from_numpy(xt)), 1).numpy()
    assert p.shape == (10, 2) and np.allclose(p.sum(1), 1)
    assert p[yt == 1, 1].min() > p[yt == 0, 1].max()  # every irregular record ranks above every regular one
    # the state is plain tensors: a fresh model loads it and predicts the same
    twin = build_model(ModelConfig(name="ecg_baseline"), 2, in_chans=12)
    twin.load_state_dict(net.state_dict())
    assert torch.allclose(twin(torch.from_numpy(xt)), net(torch.from_numpy(xt)))


def test_baseline_multilabel_with_meta_and_a_constant_class():
    x, y = rhythm_set(16)
    ml = np.stack([y, 1 - y, np.zeros_like(y)], axis=1)  # third class never seen positive
    net = build_model(ModelConfig(name="ecg_baseline", meta_features=("age", "sex")), 3, in_chans=12)
    meta = np.tile([[0.5, 0.0, 1.0, 0.0, 0.0]], (16, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="pass meta"):
        net.features(x, fs_hz=100.0)
    fit = net.fit(net.features(x, meta, fs_hz=100.0), ml, fs_hz=100.0, multilabel=True)
    assert fit["constant_classes"] == [2]
    p = torch.sigmoid(net(torch.from_numpy(x), torch.from_numpy(meta))).numpy()
    assert p.shape == (16, 3) and (p[:, 2] < 1e-3).all()
    assert np.corrcoef(p[:, 0], y)[0, 1] > 0.8


def test_baseline_refuses_onnx_export(tmp_path):
    from sigvision.errors import SigvisionError
    from sigvision.steps.export import export_onnx

    x, y = rhythm_set(8)
    net = build_model(ModelConfig(name="ecg_baseline"), 2, in_chans=12)
    net.fit(net.features(x, fs_hz=100.0), y, fs_hz=100.0, multilabel=False)
    ck = tmp_path / "best.pt"
    torch.save({"model": net.state_dict(), "epoch": 0,
                "meta": {"model": "ecg_baseline", "classes": ["rest", "AF"], "meta_features": [], "mean": [0.0] * 3,
                         "std": [1.0] * 3, "img_size": 64, "in_chans": 12, "input": "signal",
                         "config": {"model": {"name": "ecg_baseline"}, "data": {"fs_hz": 100.0, "ecg_length_s": 10.0},
                                    "render": {"width": 64}}}}, ck)
    with pytest.raises(SigvisionError, match="classical model.*ONNX"):
        export_onnx(ck, tmp_path / "m.onnx")


def _windowed_folder(tmp_path, lengths_s, fs=100.0, window_s=10.0, aggregate="mean"):
    """A prepared-folder stand-in: prepare.json + signals/<rec>.npy of whole records."""
    d = tmp_path / "prep"
    (d / "signals").mkdir(parents=True)
    rng = np.random.default_rng(0)
    recs = []
    for i, s in enumerate(lengths_s):
        np.save(d / "signals" / f"r{i}.npy", rng.normal(0, 1, (12, int(s * fs))).astype(np.float32))
        recs.append(f"r{i}")
    (d / "prepare.json").write_text(json.dumps({"config": {"data": {
        "task": "ecg", "fs_hz": fs, "ecg_length_s": window_s, "ecg_long_records": "windows",
        "ecg_window_aggregate": aggregate}}}))
    return d, pd.DataFrame({"record": recs})


def test_windows_every_half_window_with_the_last_at_the_end(tmp_path):
    from sigvision.train.data import SignalRowsDataset

    d, rows = _windowed_folder(tmp_path, [10, 25, 31.3])
    ds = SignalRowsDataset(d, rows, targets=np.zeros(3, np.int64))
    assert ds.windowed and ds.window == 1000
    assert len(ds.windows(0)) == 1
    w = ds.windows(1)  # starts 0, 5, 10, 15 s
    assert w.shape == (4, 12, 1000)
    full = np.load(d / "signals" / "r1.npy")
    assert np.array_equal(w[-1], full[:, -1000:]) and np.array_equal(w[1], full[:, 500:1500])
    assert len(ds.windows(2)) == 6  # 0, 5, 10, 15, 20 s, then the last 10 s (from 21.3 s)
    # training draws a window per (seed, epoch, row): reproducible, different across epochs
    tr = SignalRowsDataset(d, rows, targets=np.zeros(3, np.int64), random_windows=True, seed=3)
    a = tr.images([1, 2])
    assert a.shape == (2, 12, 1000) and np.array_equal(a, tr.images([1, 2]))
    tr.set_epoch(1)
    assert not np.array_equal(a, tr.images([1, 2]))
    assert np.array_equal(SignalRowsDataset(d, rows, targets=np.zeros(3, np.int64)).images([1])[0], full[:, 750:1750])


@pytest.mark.parametrize("aggregate", ["mean", "max"])
def test_window_predictions_are_aggregated_per_record(tmp_path, aggregate):
    from sigvision.train.data import SignalRowsDataset
    from sigvision.train.forward import predict_dataset

    d, rows = _windowed_folder(tmp_path, [10, 25, 40], aggregate=aggregate)
    ds = SignalRowsDataset(d, rows, targets=np.zeros((3, 2), np.float32))

    class MeanModel(torch.nn.Module):  # logit = mean of the first lead: a different answer per window
        def forward(self, x, meta=None):
            m = x[:, 0].mean(1, keepdim=True) * 10
            return torch.cat([m, -m], 1)

    got = predict_dataset(MeanModel(), ds, batch_size=3, device=torch.device("cpu"), multilabel=True)
    for i in range(3):
        w = torch.from_numpy(ds.windows(i))
        per = torch.sigmoid(MeanModel()(w)).numpy()
        want = per.mean(0) if aggregate == "mean" else per.max(0)
        assert np.allclose(got[i], want, atol=1e-6)


def test_balanced_weights_draw_rare_classes_as_often_as_common_ones():
    from sigvision.train.loaders import ShardSampler
    from sigvision.train.data import balanced_weights

    y = np.array([0] * 90 + [1] * 10)
    w = balanced_weights(y, multilabel=False)
    s = ShardSampler(100, shuffle=True, seed=0, weights=w)
    draws = np.concatenate([(s.set_epoch(e), list(s))[1] for e in range(20)])
    assert 0.4 < np.mean(y[draws] == 1) < 0.6
    ml = np.zeros((10, 3), np.float32)
    ml[:6, 0], ml[6:8, 1], ml[8, 2] = 1, 1, 1  # row 9 has no positive class
    wm = balanced_weights(ml, multilabel=True)
    assert wm[8] == pytest.approx(1.0) and wm[6] == pytest.approx(0.5) and wm[0] == pytest.approx(1 / 6)
    assert wm[9] == pytest.approx(1.0)
