import numpy as np
import pytest
import torch

from sigvision.config.load import config_from_dict
from sigvision.errors import ConfigError
from sigvision.schedule import EpochSchedule


def _opt(*lrs):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


@pytest.mark.parametrize("t0,t_mult", [(2, 1), (1, 2), (3, 2), (2, 3)])
def test_cosine_warm_restarts_follows_torchs_sgdr_exactly(t0, t_mult):
    """Without warmup the default schedule is the one training used before (torch's
    CosineAnnealingWarmRestarts stepped with the fractional epoch): the same rates, bit for bit."""
    spe, epochs = 7, 12
    a, b = _opt(1e-3), _opt(1e-3)
    ours = EpochSchedule(a, "cosine_warm_restarts", epochs=epochs, steps_per_epoch=spe, min_lr=1e-6,
                         t0_epochs=t0, t_mult=t_mult)
    ref = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(b, T_0=t0, T_mult=t_mult, eta_min=1e-6)
    assert a.param_groups[0]["lr"] == b.param_groups[0]["lr"]
    for k in range(1, epochs * spe + 1):
        ours.step(k / spe)
        ref.step(k / spe)
        assert a.param_groups[0]["lr"] == b.param_groups[0]["lr"], k


def test_warmup_rises_linearly_then_the_decay_starts_from_the_peak():
    spe = 10
    opt = _opt(0.001)
    s = EpochSchedule(opt, "poly", epochs=5, steps_per_epoch=spe, min_lr=0.0, warmup_epochs=2, poly_power=0.9)
    lrs = [opt.param_groups[0]["lr"]]
    for k in range(1, 5 * spe):
        s.step(k / spe)
        lrs.append(opt.param_groups[0]["lr"])
    lrs = np.array(lrs)
    # the seed's "Warmup + Decay": step k of the 20 warmup steps runs at (k + 1)/20 of 0.001
    np.testing.assert_allclose(lrs[:20], 0.001 * np.arange(1, 21) / 20)
    assert lrs[20] == pytest.approx(0.001)  # the decay starts where the warmup ends
    # poly decay over the 3 remaining epochs: lr (1 - t/3)^0.9
    t = np.arange(20, 50) / spe - 2
    np.testing.assert_allclose(lrs[20:], 0.001 * (1 - t / 3) ** 0.9)
    assert np.all(np.diff(lrs[20:]) < 0)


def test_cosine_reaches_min_lr_at_the_last_epoch_and_groups_keep_their_peaks():
    opt = _opt(0.01, 0.001)
    s = EpochSchedule(opt, "cosine", epochs=4, steps_per_epoch=3, min_lr=1e-5, warmup_epochs=1)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 / 3, 0.001 / 3])
    s.step(2.5)  # halfway through the 3 decay epochs
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([(0.01 + 1e-5) / 2, (0.001 + 1e-5) / 2])
    s.step(4.0)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-5, 1e-5])


def test_none_with_warmup_is_constant_after_it_and_state_round_trips():
    opt = _opt(0.002)
    s = EpochSchedule(opt, "none", epochs=3, steps_per_epoch=4, warmup_epochs=0.5)
    s.step(0.25)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.002)  # step 1 of a 2-step warmup
    s.step(1.75)
    state = s.state_dict()
    opt2 = _opt(0.002)
    s2 = EpochSchedule(opt2, "none", epochs=3, steps_per_epoch=4, warmup_epochs=0.5)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.001)
    s2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.002)
    # a checkpoint of an earlier version holds torch's scheduler state (last_epoch)
    s3 = EpochSchedule(_opt(0.002), "cosine_warm_restarts", epochs=3, steps_per_epoch=4, t0_epochs=2)
    s3.load_state_dict({"last_epoch": 1, "T_cur": 1.0, "base_lrs": [0.002]})
    assert s3.epoch == 1.0 and s3.get_last_lr()[0] == pytest.approx(0.001)  # halfway down the first cycle


@pytest.mark.parametrize("over,match", [
    ({"warmup_epochs": 5}, "train.warmup_epochs=5"), ({"warmup_epochs": -1}, "train.warmup_epochs=-1"),
    ({"poly_power": 0}, "train.poly_power=0"), ({"scheduler": "step"}, "train.scheduler"),
    ({"min_lr": -0.1}, "train.min_lr=-0.1"),
])
def test_schedule_settings_are_checked_with_the_config(over, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"train": {"epochs": 5, **over}})
    assert config_from_dict({"train": {"epochs": 5, "warmup_epochs": 0.5, "scheduler": "poly"}}).train.warmup_epochs == 0.5
