from pathlib import Path

import pytest

from sigvision.config import Config, RenderConfig
from sigvision.config.load import apply_overrides, config_from_dict, load_config, save_config
from sigvision.config import config_hash, config_to_dict
from sigvision.errors import ConfigError
from tests.paths import REPO

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


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
    from sigvision.config.load import config_from_dict
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


# --------------------------------------------------- per-model checkpoints (blend / infer)
TWO = "blend.models=[vit_base_patch16_224, tf_efficientnet_b4_ns]"


def test_blend_checkpoint_one_value_list_or_mapping(tmp_path):
    """The MAIC write-up blends ViT at epoch 4 with EfficientNet at epoch 1; blend.checkpoint was
    one string for every model and `blend.checkpoint=[4,1]` was refused (so was an unquoted 4)."""
    cfg = load_config(None, [TWO, "blend.checkpoint=[4, 1]"])
    assert cfg.blend.checkpoint == ("4", "1")
    assert cfg.blend.checkpoint_for("vit_base_patch16_224") == "4"
    assert cfg.blend.checkpoint_for("tf_efficientnet_b4_ns") == "1"
    m = load_config(None, [TWO, "blend.checkpoint={tf_efficientnet_b4_ns: 1, vit_base_patch16_224: last}"])
    assert m.blend.checkpoint_for("vit_base_patch16_224") == "last"
    assert m.blend.checkpoint_for("tf_efficientnet_b4_ns") == "1"
    one = load_config(None, [TWO, "blend.checkpoint=4"])  # an unquoted number, as the write-up writes it
    assert one.blend.checkpoint == "4" and one.blend.checkpoint_for("tf_efficientnet_b4_ns") == "4"
    assert load_config(None, []).blend.checkpoint == "best"  # default unchanged
    assert load_config(None, ["blend.checkpoint='04'"]).blend.checkpoint == "4"  # the name infer writes
    # the resolved config round-trips (predict re-reads each model's saved config.yaml)
    for c in (cfg, m):
        assert load_config(save_config(c, tmp_path / "c.yaml")) == c


@pytest.mark.parametrize("over,match", [
    (["blend.checkpoint=[4, 1]"], r"blend.checkpoint=\[4, 1\] gives one checkpoint per model, but blend.models is "
                                  r"empty; fix: list the models in blend.models"),
    ([TWO, "blend.checkpoint=[4, 1, 2]"], r"blend.checkpoint has 3 value\(s\) for 2 model\(s\).*fix: give 2 "
                                          "checkpoints in the order of blend.models"),
    ([TWO, "blend.checkpoint=[4]"], r"blend.checkpoint has 1 value\(s\) for 2 model\(s\)"),
    ([TWO, "blend.checkpoint={vit_base_patch16_224: 4, tf_efficientnet_b4: 1}"],
     r"blend.checkpoint names 'tf_efficientnet_b4' \(did you mean 'tf_efficientnet_b4_ns'\?\), which is not in "
     r"blend.models=.*fix: use the model names of blend.models"),
    ([TWO, "blend.checkpoint={vit_base_patch16_224: 4}"],
     "blend.checkpoint has no checkpoint for tf_efficientnet_b4_ns; fix: give every model"),
    (["blend.checkpoint={vit_base_patch16_224: 4}"], "blend.checkpoint maps models to checkpoints, but blend.models "
                                                     "is empty; fix"),
    ([TWO, "blend.checkpoint=[4, bset]"], r"blend.checkpoint\[1\]='bset' is not a checkpoint \(did you mean 'best'\?\)"),
    ([TWO, "blend.checkpoint=[]"], "blend.checkpoint is an empty list"),
    (["blend.checkpoint=-1"], "blend.checkpoint=-1 is not a checkpoint; accepted: best, last or an epoch number"),
    (["blend.checkpoint=true"], "blend.checkpoint=True is not a checkpoint"),
    ([TWO, "blend.checkpoint=4,1"], r"blend.checkpoint='4,1' is not a checkpoint \(one per model is a list: '\[4,1\]'"),
    (["blend.checkpoint=epoch_4"], r"blend.checkpoint='epoch_4' is not a checkpoint \(did you mean 4\?"),
    (["infer.checkpoint=lats"], "infer.checkpoint='lats' is not a checkpoint .did you mean 'last'"),
    (["model.name=vit_base_patch16_224", TWO, "infer.checkpoint=[4, 1, 0]"], "infer.checkpoint has 3 value"),
])
def test_per_model_checkpoint_errors_name_the_key_and_fix(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, over)


@pytest.mark.parametrize("over,match", [
    (["infer.checkpoint={vit_base_patch16_224: 4}"], r"infer.checkpoint has no checkpoint for 'test_vit' .*fix: add "
                                                     "test_vit: <best|last|epoch>"),
    ([TWO, "infer.checkpoint=[4, 1]"], r"infer.checkpoint=\[4, 1\] is read in the order of blend.models=.*which does "
                                       "not give 'test_vit' one; fix"),
])
def test_infer_checkpoint_without_this_models_entry_fails_where_infer_needs_it(over, match):
    """The config still loads (blend, postprocess and evaluate never read infer.checkpoint);
    infer and export, which resolve it for their model, get the error with the fix."""
    cfg = load_config(None, over)
    with pytest.raises(ConfigError, match=match):
        cfg.infer_checkpoint


def test_infer_checkpoint_per_model_resolves_for_model_name():
    """One shared config (the presets' base) serves both models' `infer` runs: each uses its own
    entry, and `--set infer.checkpoint=4` (unquoted) works for a single model."""
    for over in ("infer.checkpoint=[4, 1]", "infer.checkpoint={vit_base_patch16_224: 4, tf_efficientnet_b4_ns: 1}"):
        vit = load_config(None, [TWO, over, "model.name=vit_base_patch16_224"])
        eff = load_config(None, [TWO, over, "model.name=tf_efficientnet_b4_ns"])
        assert (vit.infer_checkpoint, eff.infer_checkpoint) == ("4", "1"), over
    assert load_config(None, ["infer.checkpoint=4"]).infer_checkpoint == "4"
    assert load_config(None, []).infer_checkpoint == "best"
    # a mapping may name models beyond this one (the other model of the shared config)
    assert load_config(None, ["infer.checkpoint={test_vit: last, other: 2}"]).infer_checkpoint == "last"
    # the write-up's preset pair, with the shared base set as in the README
    vit = load_config(Path(CONFIGS[0]).parent / "sleep_vit_b16.yaml", ["infer.checkpoint=[4, 1]"])
    eff = load_config(Path(CONFIGS[0]).parent / "sleep_effnet_b4.yaml", ["infer.checkpoint=[4, 1]"])
    assert (vit.infer_checkpoint, eff.infer_checkpoint) == ("4", "1")


def test_checkpoint_command_line_forms():
    from sigvision.config import parse_checkpoint_arg

    assert parse_checkpoint_arg("4") == "4" and parse_checkpoint_arg("last") == "last"
    assert parse_checkpoint_arg("4,1") == ("4", "1")
    assert parse_checkpoint_arg("vit_base_patch16_224=4, tf_efficientnet_b4_ns=1") == {
        "vit_base_patch16_224": "4", "tf_efficientnet_b4_ns": "1"}
    for bad, match in (("a=4,1", "'1' is not MODEL=CHECKPOINT"), ("4,,1", "has an empty entry"),
                       ("a=1,a=2", "names a model twice"), ("a=", "'a=' is not MODEL=CHECKPOINT"),
                       ("bset", "--checkpoint='bset' is not a checkpoint")):
        with pytest.raises(ConfigError, match=match):
            parse_checkpoint_arg(bad)


# --- errors that name what the user wrote -------------------------------------------------

@pytest.mark.parametrize("key,suggested", [
    ("train.lerning_rate", "train.lr"),          # a synonym, misspelt, in the section written
    ("train.learning_rate", "train.lr"),
    ("train.batch", "train.batch_size"),
    ("train.epoch", "train.epochs"),
    ("train.fs_hz", "data.fs_hz"),               # the same name in another section
    ("render.widht", "render.width"),
    ("data.sampling_rate", "data.fs_hz"),
])
def test_key_suggestions_rank_the_section_written_first(key, suggested):
    sec, k = key.split(".")
    with pytest.raises(ConfigError, match=rf"unknown config key '{key}'; did you mean '{suggested}'\?"):
        config_from_dict({sec: {k: 1}})


def test_set_errors_name_the_override_not_the_file(tmp_path):
    preset = CONFIGS[0]
    with pytest.raises(ConfigError, match=r"^--set train\.lerning_rate=0\.1: unknown config key 'train\.lerning_rate'; "
                                          r"did you mean 'train\.lr'"):
        load_config(preset, ["render.width=64", "train.lerning_rate=0.1"])
    with pytest.raises(ConfigError, match=r"^--set train\.epochs=many: train\.epochs must be an integer"):
        load_config(preset, ["train.epochs=many"])
    with pytest.raises(ConfigError, match=r"^--set render\.width: an override must look like section\.key=value"):
        load_config(preset, ["render.width"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: train\.epochs must be an integer"):  # the file's own error
        load_config(bad, ["render.width=64"])
    # an override that repairs the file is accepted
    assert load_config(bad, ["train.epochs=3"]).train.epochs == 3


def test_set_error_from_the_cli_is_one_line_exit_2(capsys):
    from sigvision.cli import main

    assert main(["config", "show", "--set", "train.lerning_rate=0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("sigvision: error: --set train.lerning_rate=0.1: unknown config key 'train.lerning_rate'; did you "
                   "mean 'train.lr'? (valid keys: " + err.split("(valid keys: ", 1)[1])


@pytest.mark.parametrize("text,key,lines", [
    ("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n", "train.lr", (2, 4)),
    ("name: a\ntrain:\n  lr: 0.1\nname: b\n", "name", (1, 4)),
    ("data:\n  channel_aliases:\n    EEG: [a]\n    EEG: [b]\n", "data.channel_aliases.EEG", (3, 4)),
])
def test_duplicated_yaml_key_is_refused_naming_key_and_lines(tmp_path, text, key, lines):
    p = tmp_path / "dup.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=rf"dup\.yaml: key '{key}' is written twice \(lines {lines[0]} and "
                                          rf"{lines[1]}\); fix: keep one of them"):
        load_config(p)


def test_shipped_presets_find_their_sample_data_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(REPO / "configs" / "ecg_cinc2021.yaml")
    root = Path(cfg.data.root)
    assert root.is_absolute() and len(list(root.glob("*.hea"))) == 35
    assert load_config(None, ["data.root=sample:cinc2021"]).data.root == str(root)
    with pytest.raises(Exception, match=r"sample:nope: no such sample data shipped with sigvision; fix: use one of: "
                                        r".*sample:cinc2021"):
        load_config(None, ["data.root=sample:nope"])


def test_every_makefile_target_that_writes_can_be_redirected():
    import shutil
    import subprocess

    make = shutil.which("make")
    assert make, "make is needed to run the README's commands"
    repo = REPO

    def dry(target, *extra):
        r = subprocess.run([make, "-n", "-o", ".venv/.installed", "-o",
                            ".venv/.installed-bench", target, *extra], cwd=repo, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return [ln for ln in r.stdout.splitlines() if "sigvision" in ln or ".py" in ln or "benchmarks" in ln]

    assert any("demo --out /x/d " in ln for ln in dry("demo", "OUT=/x/d"))
    assert any("demo --out demo_out " in ln for ln in dry("demo"))
    assert any("ecg-demo --out /x/e" in ln for ln in dry("ecg-demo", "OUT=/x/e"))
    assert any(ln.rstrip().endswith("sigvision ecg-demo") for ln in dry("ecg-demo"))
    assert any("--json-out /x/b/benchmarks.json" in ln for ln in dry("bench", "OUT=/x/b"))


def test_unknown_postprocess_method_is_refused_when_the_config_is_read(tmp_path, capsys):
    """`rulez` used to pass the config and fail after train, infer and blend with a traceback."""
    from sigvision.cli import main

    out = tmp_path / "never"
    demo = REPO / "configs" / "sleep_demo.yaml"
    assert main(["postprocess", "-c", str(demo), "--set", "postprocess.method=rulez",
                 "--set", f"output_dir={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("sigvision: error: --set postprocess.method=rulez: postprocess.method='rulez' is not valid "
                          "(did you mean 'rules'?); accepted: argmax, hmm, hmm_robust, mode, rules")
    assert not out.exists()
    with pytest.raises(ConfigError, match=r"postprocess\.options: method 'rules' got unknown option\(s\) 'confidance'"):
        config_from_dict({"postprocess": {"method": "rules", "options": {"confidance": 0.9}}})
    assert config_from_dict({"postprocess": {"method": "hmm", "options": {"transition_weight": 1}}}).postprocess.method \
        == "hmm"


def test_postprocess_method_is_checked_against_the_task():
    # ECG decides by thresholds: a sleep smoother there is refused, naming what ECG accepts
    with pytest.raises(ConfigError, match=r"postprocess\.method='hmm' is not valid; accepted: thresholds, argmax"):
        config_from_dict({"data": {"task": "ecg"}, "postprocess": {"method": "hmm"}})
    with pytest.raises(ConfigError, match=r"postprocess\.method='thresholds' is not valid"):
        config_from_dict({"postprocess": {"method": "thresholds"}})  # sleep has no thresholds
    assert config_from_dict({"data": {"task": "ecg"}}).postprocess.method == "rules"  # the default, = thresholds


def test_a_registered_postprocessor_is_accepted_by_the_config():
    from sigvision import postprocess as pp

    @pp.register_postprocessor("test_only_w", replace=True)
    def _all_wake(probs, *, level=0):
        return probs.argmax(1) * 0

    try:
        cfg = config_from_dict({"postprocess": {"method": "test_only_w", "options": {"level": 1}}})
        assert cfg.postprocess.method == "test_only_w"
    finally:
        del pp.POSTPROCESSORS["test_only_w"]
    with pytest.raises(ConfigError, match="test_only_w"):
        config_from_dict({"postprocess": {"method": "test_only_w"}})
