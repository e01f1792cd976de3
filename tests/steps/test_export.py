"""ONNX export: onnxruntime must give PyTorch's logits (max abs difference < 1e-4 on CPU)
for an image model and a 1-D model, with a free batch axis."""
import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export tests need onnx (pip install -r requirements-dev.txt)")
ort = pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime (requirements-dev.txt)")

from sigvision.config.load import config_from_dict
from sigvision.config import config_to_dict
from sigvision.errors import InputFileError, SigvisionError  # noqa: E402
from sigvision.steps.export import check_onnx, export_onnx, export_run, onnx_input_shape
from sigvision.steps.prepare import prepare_dataset
from sigvision.train.checkpoints import checkpoint_path, load_checkpoint_model
from sigvision.steps.train import train


@pytest.fixture(scope="module")
def prepared(synth_dir4, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep_export")
    cfg = config_from_dict({"data": {"root": str(synth_dir4)}, "render": {"height": 32, "width": 32}})
    prepare_dataset(cfg, out)
    return out


def _cfg(prepared, synth_dir4, weights, model):
    return config_from_dict({
        "name": "x", "seed": 1, "prepared_dir": str(prepared), "weights_dir": str(weights),
        "data": {"root": str(synth_dir4)}, "render": {"height": 32, "width": 32}, "model": {"name": model},
        "train": {"folds": 2, "epochs": 1, "batch_size": 32, "lr": 0.002, "fmix_p": 0.0, "cutout_p": 0.0,
                  "keep_every_epoch": False}})


def _ort_vs_torch(ck, onnx_path, x):
    model, _ = load_checkpoint_model(ck, "cpu")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x), None).numpy()
    return got, ref


@pytest.mark.parametrize("model", ["test_vit", "resnet1d_tiny"])
def test_export_run_matches_pytorch(prepared, synth_dir4, tmp_path, model):
    cfg = _cfg(prepared, synth_dir4, tmp_path / "w", model)
    train(cfg)
    paths = export_run(cfg, verify=True)
    assert [p.name for p in paths] == ["best.onnx", "best.onnx"]
    assert paths[0] == checkpoint_path(cfg, 0, "best").with_suffix(".onnx")
    sess = ort.InferenceSession(str(paths[1]), providers=["CPUExecutionProvider"])
    ins, outs = sess.get_inputs(), sess.get_outputs()
    assert [i.name for i in ins] == ["input"] and [o.name for o in outs] == ["logits"]
    expect = [3, 32, 32] if model == "test_vit" else [4, 3000]  # 4 PSG channels x 30 s x 100 Hz
    assert ins[0].shape[1:] == expect and not isinstance(ins[0].shape[0], int)  # batch axis is free
    # a batch size the exporter never saw, real-looking inputs
    x = np.random.default_rng(0).standard_normal((5, *expect)).astype(np.float32)
    got, ref = _ort_vs_torch(checkpoint_path(cfg, 1, "best"), paths[1], x)
    assert got.shape == (5, 5)
    assert np.max(np.abs(got - ref)) < 1e-4
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["W", "N1", "N2", "N3", "REM"]
    assert meta["input_kind"] == ("image" if model == "test_vit" else "signal")
    if model == "test_vit":
        assert len(json.loads(meta["mean"])) == 3
    else:
        assert meta["signal_scale"] == "uV*0.01"
    # out_dir naming, fixed batch
    fixed = export_onnx(checkpoint_path(cfg, 0, "best"), tmp_path / "fixed.onnx", batch_dynamic=False)
    assert ort.InferenceSession(str(fixed), providers=["CPUExecutionProvider"]).get_inputs()[0].shape[0] == 1
    other = export_run(cfg, out_dir=tmp_path / "onnx")
    assert sorted(p.name for p in other) == [f"{model}_fold_0_best.onnx", f"{model}_fold_1_best.onnx"]


def test_ecg_1d_model_with_meta_features(tmp_path):
    """An ECG 1-D model with age/sex features: L = fs_hz x ecg_length_s, a second 'meta' input."""
    from sigvision.config import ModelConfig
    from sigvision.models.factory import build_model

    cfg = config_from_dict({"data": {"task": "ecg", "format": "wfdb", "fs_hz": 250.0, "ecg_length_s": 4.0},
                            "model": {"name": "resnet1d_tiny", "meta_features": ["age", "sex"]}})
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="resnet1d_tiny", meta_features=("age", "sex")), 26, in_chans=12).eval()
    meta = {"model": "resnet1d_tiny", "classes": [f"c{i}" for i in range(26)], "meta_features": ["age", "sex"],
            "mean": [0.0] * 3, "std": [1.0] * 3, "img_size": 64, "config_hash": "x", "config": config_to_dict(cfg),
            "multilabel": True, "input": "signal", "in_chans": 12}
    ck = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "epoch": 0, "meta": meta}, ck)
    assert onnx_input_shape(meta) == (12, 1000)
    out = export_onnx(ck, tmp_path / "ecg.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input", "meta"]
    assert sess.get_inputs()[1].shape[1] == 5  # age (2) + sex (3)
    assert check_onnx(ck, out, batch=4) < 1e-4
    assert sess.get_modelmeta().custom_metadata_map["multilabel"] == "true"


def test_export_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match="checkpoint not found"):
        export_onnx(tmp_path / "nope.pt", tmp_path / "a.onnx")
    with pytest.raises(InputFileError, match=r"\.onnx"):
        export_onnx(tmp_path / "nope.pt", tmp_path / "a.bin")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="cannot read checkpoint"):
        export_onnx(bad, tmp_path / "a.onnx")
    assert not (tmp_path / "a.onnx").exists()
    cfg = config_from_dict({"weights_dir": str(tmp_path / "w"), "train": {"folds": 2}})
    with pytest.raises(InputFileError, match="sigvision train"):
        export_run(cfg)
    with pytest.raises(SigvisionError, match="signal_length"):
        onnx_input_shape({"input": "signal", "in_chans": 4, "config": {"data": {}}})
