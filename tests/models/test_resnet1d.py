"""Tests of sigvision.models.resnet1d (1-D ResNets registered in sigvision.registry.MODELS)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sigvision.models import resnet1d as models_1d
from sigvision.registry import MODELS

# (name, input length, expected num_features); the 50-layer models get a short input.
CASES = [
    ("resnet1d_tiny", 2500, 32),
    ("resnet1d18", 2500, 512),
    ("resnet1d50", 256, 2048),
    ("resnet1d101", 128, 2048),
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


def _bottleneck_resnet_params(layers, num_classes, in_chans=12, stem=64, stem_kernel=15, kernel=7):
    """Parameter count of a bottleneck ResNet1d worked out from its layout: bias-free convs,
    batch norms (2 per channel), a 1x1 conv + BN shortcut on each stage's first block."""
    n = in_chans * stem * stem_kernel + 2 * stem
    ch = stem
    for i, blocks in enumerate(layers):
        w = 64 * 2 ** i
        out = 4 * w
        for j in range(blocks):
            n += ch * w + 2 * w + w * w * kernel + 2 * w + w * out + 2 * out
            if j == 0:  # stride or width change: projection shortcut
                n += ch * out + 2 * out
            ch = out
    return n + ch * num_classes + num_classes


def test_resnet1d101_depth_and_parameter_count():
    # the formula, with 2-D kernels (3x3 = 9 taps, 7x7 stem, 3 channels, 1000 classes), gives
    # torchvision's published ResNet-50 / ResNet-101 parameter counts
    assert _bottleneck_resnet_params([3, 4, 6, 3], 1000, in_chans=3, stem_kernel=49, kernel=9) == 25_557_032
    assert _bottleneck_resnet_params([3, 4, 23, 3], 1000, in_chans=3, stem_kernel=49, kernel=9) == 44_549_160
    m101 = MODELS["resnet1d101"](num_classes=34)
    m50 = MODELS["resnet1d50"](num_classes=34)
    n101 = sum(p.numel() for p in m101.parameters())
    n50 = sum(p.numel() for p in m50.parameters())
    assert n50 == _bottleneck_resnet_params([3, 4, 6, 3], 34)
    assert n101 == _bottleneck_resnet_params([3, 4, 23, 3], 34)
    assert 35e6 < n101 < 40e6  # 7-tap middle convolutions: fewer than the 2-D model's 44.5 M
    # the 17 extra 1024-channel blocks of stage 3 are all the difference from ResNet-50
    assert n101 - n50 == 17 * (1024 * 256 + 256 * 256 * 7 + 256 * 1024 + 2 * (256 + 256 + 1024))
    assert [len(s) for s in m101.stages] == [3, 4, 23, 3]
    blocks = [b for b in m101.modules() if isinstance(b, models_1d.Bottleneck1d)]
    # stem conv + 3 convs per bottleneck + the head = 101 weighted layers (projections not counted)
    assert 1 + 3 * len(blocks) + 1 == 101
    torch.manual_seed(0)
    with torch.no_grad():
        out = m101.eval()(torch.randn(1, 12, 64))
    assert out.shape == (1, 34) and torch.isfinite(out).all()


def test_resnext_uses_grouped_convolutions():
    m = MODELS["resnext1d50"](num_classes=2)
    grouped = [c for c in m.modules() if isinstance(c, torch.nn.Conv1d) and c.groups == 32]
    assert len(grouped) == 16  # one per bottleneck block: 3 + 4 + 6 + 3


def test_build_model_with_meta_features():
    from sigvision.models.factory import build_model

    mcfg = SimpleNamespace(name="resnet1d_tiny", pretrained=False, pretrained_file="", drop_rate=0.0,
                           meta_features=("age", "sex"))
    model = build_model(mcfg, num_classes=4, in_chans=12).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 12, 500), meta=torch.zeros(2, 5))
    assert out.shape == (2, 4)
