"""Optimisers come from timm's factory (sigvision.train.optim) and behave as the project's earlier
hand-built ones did: the same updates, to the bit, on CPU."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from sigvision.config.load import config_from_dict
from sigvision.errors import ConfigError
from sigvision.train.optim import OPTIMIZERS, make_optimizer, param_groups


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _reference(name, groups, lr):
    """What sigvision built before timm's factory: torch's classes and the adamp package."""
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    from adamp import AdamP

    return AdamP(groups, lr=lr, betas=(0.9, 0.999))


@pytest.mark.parametrize("name", ["adam", "adamw", "adamp", "sgd"])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_factory_optimisers_update_exactly_like_the_reference(name, wd):
    a = _net()
    b = copy.deepcopy(a)
    tcfg = config_from_dict({"train": {"optimizer": name, "lr": 0.01, "weight_decay": wd}}).train
    x = torch.randn(4, 3, 12, 12)
    opts = (_reference(name, param_groups(a, wd), 0.01), make_optimizer(tcfg, b))
    for m, opt in zip((a, b), opts):
        for _ in range(5):
            loss = m(x).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert type(opts[1]).__module__.split(".")[0] in ("torch", "timm")
    if name == "adamp":
        assert type(opts[1]).__module__.startswith("timm.")  # not the adamp package


def test_no_weight_decay_on_one_dimensional_parameters():
    groups = param_groups(_net(), 0.1)
    assert all(p.ndim > 1 for p in groups[0]["params"]) and groups[0]["weight_decay"] == 0.1
    assert all(p.ndim <= 1 for p in groups[1]["params"]) and groups[1]["weight_decay"] == 0.0


def test_unknown_optimiser_is_refused_when_the_config_is_read_with_the_closest_name():
    with pytest.raises(ConfigError, match=r"train.optimizer.*'adamw'"):
        config_from_dict({"train": {"optimizer": "adamww"}})
    with pytest.raises(ConfigError, match=r"train.optimizer='adamq' is not an optimiser \(did you mean"):
        OPTIMIZERS.get("adamq")
    assert OPTIMIZERS.available() == ["adam", "adamp", "adamw", "sgd"]
