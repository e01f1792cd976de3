"""Tests of sigvision.models_1d (1-D ResNets registered in sigvision.models.MODELS)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sigvision import models_1d
from sigvision.models import MODELS

# (name, input length, expected num_features); the 50-layer models get a short input.
CASES = [
    ("resnet1d_tiny", 2500, 32),
    ("resnet1d18", 2500, 512),
    ("resnet1d50", 256, 2048),
    ("resnext1d50", 256, 2048),
]


@pytest.fixture(autouse=True)
def _single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_registered_on_import():
    for name in models_1d.MODEL_NAMES:
        assert name in MODELS
    assert MODELS["resnet1d18"] is models_1d.resnet1d18


@pytest.mark.parametrize("name, length, n_feat", CASES)
def test_forward_backward_and_features(name, length, n_feat):
    torch.manual_seed(0)
    model = MODELS[name](num_classes=5, in_chans=12, drop_rate=0.2)
    assert model.num_features == n_feat
    x = torch.randn(2, 12, length)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert not missing

    feats_model = MODELS[name](num_classes=0, in_chans=12)
    feats_model.eval()
    with torch.no_grad():
        feats = feats_model(x)
    assert feats.shape == (2, feats_model.num_features) == (2, n_feat)
    assert torch.isfinite(feats).all()


def test_in_chans_kernels_and_lengths():
    torch.manual_seed(0)
    m = MODELS["resnet1d_tiny"](num_classes=3, in_chans=1, block_kernel=9, stem_kernel=7).eval()
    with torch.no_grad():
        for n in (250, 1000, 1237):
            assert m(torch.randn(1, 1, n)).shape == (1, 3)
        fmap = m.forward_features(torch.randn(1, 1, 1000))
    assert fmap.shape[:2] == (1, m.num_features)
    m.reset_classifier(0)
    with torch.no_grad():
        assert m(torch.randn(2, 1, 500)).shape == (2, m.num_features)


def test_bad_input_and_arguments():
    m = MODELS["resnet1d_tiny"](num_classes=3)
    with pytest.raises(ValueError, match="12"):
        m(torch.randn(2, 8, 500))
    with pytest.raises(ValueError, match="shape"):
        m(torch.randn(12, 500))
    with pytest.raises(ValueError, match="block_kernel"):
        MODELS["resnet1d_tiny"](num_classes=3, block_kernel=8)
    with pytest.raises(ValueError, match="drop_rate"):
        MODELS["resnet1d_tiny"](num_classes=3, drop_rate=1.5)
    with pytest.raises(ValueError, match="num_classes"):
        MODELS["resnet1d_tiny"](num_classes=-1)


def test_resnext_uses_grouped_convolutions():
    m = MODELS["resnext1d50"](num_classes=2)
    grouped = [c for c in m.modules() if isinstance(c, torch.nn.Conv1d) and c.groups == 32]
    assert len(grouped) == 16  # one per bottleneck block: 3 + 4 + 6 + 3


def test_build_model_with_meta_features():
    from sigvision.models import build_model

    mcfg = SimpleNamespace(name="resnet1d_tiny", pretrained=False, pretrained_file="", drop_rate=0.0,
                           meta_features=("age", "sex"))
    model = build_model(mcfg, num_classes=4, in_chans=12).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 12, 500), meta=torch.zeros(2, 5))
    assert out.shape == (2, 4)
