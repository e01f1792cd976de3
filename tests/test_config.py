from pathlib import Path

import pytest

from sigvision.config import (Config, RenderConfig, apply_overrides, config_from_dict, config_hash,
                              config_to_dict, load_config, save_config)
from sigvision.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def test_defaults_are_valid():
    cfg = config_from_dict({})
    assert cfg.data.fs_hz == 100.0 and cfg.render.name == "traces"


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match="'render.widht'; did you mean 'render.width'"):
        config_from_dict({"render": {"widht": 10}})
    with pytest.raises(ConfigError, match="'rendr'; did you mean 'render'"):
        config_from_dict({"rendr": {}})


@pytest.mark.parametrize("mapping,match", [
    ({"render": {"width": "wide"}}, "render.width must be an integer"),
    ({"render": {"width": True}}, "render.width must be an integer"),
    ({"data": {"fs_hz": "100Hz"}}, "data.fs_hz must be a number"),
    ({"data": {"channels": "EEG Fpz-Cz"}}, "data.channels must be a list"),
    ({"prepare": {"cache_images": "yes"}}, "must be true or false"),
    ({"data": {"format": "edf"}}, "data.format='edf' is not valid"),
    ({"data": {"on_length_mismatch": "raisee"}}, "did you mean 'raise'"),
    ({"render": {"height": 4}}, "too small"),
])
def test_wrong_types_and_values(mapping, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(mapping)


def test_overrides_and_hash(tmp_path):
    d = apply_overrides({}, ["render.width=128", "data.channels=[EEG Fpz-Cz, EMG submental]"])
    cfg = config_from_dict(d)
    assert cfg.render.width == 128 and cfg.data.channels == ("EEG Fpz-Cz", "EMG submental")
    assert config_hash(cfg) != config_hash(Config())
    assert config_hash(cfg) == config_hash(config_from_dict(config_to_dict(cfg)))
    assert config_hash(cfg, ("data",)) == config_hash(config_from_dict({"data": config_to_dict(cfg)["data"]}), ("data",))
    p = save_config(cfg, tmp_path / "c.yaml")
    assert load_config(p) == cfg
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["render.width"])


def test_frozen():
    with pytest.raises(Exception):
        RenderConfig().width = 3  # type: ignore[misc]


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("render: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_presets_load(path):
    assert load_config(path).name


def test_infer_amp_and_workers_are_checked():
    from sigvision.config import config_from_dict
    from sigvision.errors import ConfigError

    assert config_from_dict({"infer": {"amp": "bf16", "num_workers": 2}}).infer.amp == "bf16"
    with pytest.raises(ConfigError, match="infer.amp"):
        config_from_dict({"infer": {"amp": "fp8"}})
    with pytest.raises(ConfigError, match="infer.num_workers"):
        config_from_dict({"infer": {"num_workers": -2}})


def test_amp_off_unquoted_in_yaml_and_overrides(tmp_path):
    """`amp: off` / `--set train.amp=off`: YAML 1.1 reads an unquoted off as False, which was
    refused ('train.amp must be a string, got False') although 'off' is an accepted value."""
    cfg = load_config(None, ["train.amp=off", "infer.amp=off"])
    assert cfg.train.amp == "off" and cfg.infer.amp == "off"
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  amp: off\ninfer:\n  amp: OFF\n")
    cfg = load_config(p)
    assert cfg.train.amp == "off" and cfg.infer.amp == "off"
    saved = save_config(cfg, tmp_path / "saved.yaml")  # round trip (predict reloads saved configs)
    assert load_config(saved).train.amp == "off"
    with pytest.raises(ConfigError, match="train.amp='on' is not valid"):
        load_config(None, ["train.amp=on"])


@pytest.mark.parametrize("over,match", [("train.fmix_max_soft=0.7", "train.fmix_max_soft=0.7"),
                                        ("train.fmix_decay_power=0", "train.fmix_decay_power=0")])
def test_fmix_options_checked_with_the_config(over, match):
    """Out-of-range FMix options are refused when the config is read, naming the key (they
    failed only at the start of training, as 'max_soft=0.7 is not accepted')."""
    with pytest.raises(ConfigError, match=match):
        load_config(None, [over])


@pytest.mark.parametrize("over,match", [("train.t0_epochs=0", "train.t0_epochs=0"), ("train.t_mult=0", "train.t_mult=0"),
                                        ("train.weight_decay=-0.1", "train.weight_decay=-0.1"),
                                        ("train.max_steps_per_epoch=-1", "train.max_steps_per_epoch=-1"),
                                        ("train.early_stopping_patience=-1", "train.early_stopping_patience=-1")])
def test_scheduler_and_loop_options_checked_with_the_config(over, match):
    """t0_epochs/t_mult < 1 and a negative weight decay failed at the start of training with a
    traceback from torch ('Expected positive integer T_0'); a negative max_steps_per_epoch
    silently trained nothing and a negative patience stopped after the first epoch."""
    with pytest.raises(ConfigError, match=match):
        load_config(None, [over])
