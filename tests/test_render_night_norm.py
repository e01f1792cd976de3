"""render.night_norm: per-night normalisation, the same in prepare (training) and inference."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from sigvision.config import Config, RenderConfig, config_hash
from sigvision.config.load import config_from_dict
from sigvision.errors import ConfigError
from sigvision.render import get_renderer, night_reference, render_night

TYPES = ["eeg", "eog", "emg"]


def _night(n=10, seed=0):
    """A night whose epochs differ: delta-heavy epochs in the second half."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 3000)).astype(np.float32) * np.array([20, 40, 8], np.float32)[:, None]
    t = np.arange(3000) / 100.0
    x[n // 2:, 0] += 60 * np.sin(2 * np.pi * 1.0 * t)
    return x


@pytest.mark.parametrize("mapping,match", [
    ({"render": {"night_norm": "robust"}}, r"render.night_norm='robust' is not one of none, amplitude, spectral"),
    ({"render": {"name": "traces", "night_norm": "spectral"}}, "needs render.name: spectrogram"),
    ({"data": {"task": "ecg", "format": "wfdb"}, "render": {"name": "ecg_stack", "night_norm": "amplitude"}},
     "normalises sleep nights"),
])
def test_bad_night_norm_is_a_one_line_config_error(mapping, match):
    with pytest.raises(ConfigError, match=match) as e:
        config_from_dict(mapping)
    assert "\n" not in str(e.value)


def test_default_keeps_the_hash_and_setting_it_changes_it():
    cfg = config_from_dict({"render": {"name": "spectrogram"}})
    assert cfg.render.night_norm == "none"
    spec = config_from_dict({"render": {"name": "spectrogram", "night_norm": "spectral"}})
    amp = config_from_dict({"render": {"name": "spectrogram", "night_norm": "amplitude"}})
    assert len({config_hash(cfg), config_hash(spec), config_hash(amp)}) == 3
    # the default is left out of the hash: folders prepared before the field existed stay valid
    assert config_hash(Config()) == config_hash(replace(Config(), render=replace(Config().render)))
    import json
    import hashlib
    from sigvision.config import config_to_dict

    d = config_to_dict(Config())
    d["model"].pop("alias", None)
    for k in ("channel_units", "file_pattern", "on_epoch_mismatch", "on_bad_signal", "amplitude_bounds",
              "max_bad_fraction"):
        d["data"].pop(k)
    d["render"].pop("night_norm")
    d["render"].pop("spec_fmin_hz")
    from sigvision.config import TARGET_ONLY_DATA_KEYS

    for k in TARGET_ONLY_DATA_KEYS:
        d["data"].pop(k, None)
    old = hashlib.sha256(json.dumps({s: d[s] for s in ("data", "render")}, sort_keys=True,
                                    separators=(",", ":")).encode()).hexdigest()[:12]
    assert config_hash(Config()) == old


@pytest.mark.parametrize("name,norm", [("spectrogram", "amplitude"), ("spectrogram", "spectral"),
                                       ("traces", "amplitude")])
def test_a_recording_gain_no_longer_changes_the_images(name, norm):
    ep = _night()
    gain = np.array([7.0, 0.3, 2.5], np.float32)[None, :, None]  # another amplifier, per channel
    plain = get_renderer(RenderConfig(name=name, height=48, width=48, context_epochs=1), 100.0)
    normed = get_renderer(RenderConfig(name=name, height=48, width=48, context_epochs=1, night_norm=norm), 100.0)
    assert not np.array_equal(render_night(plain, ep, TYPES), render_night(plain, ep * gain, TYPES))
    a, b = render_night(normed, ep, TYPES), render_night(normed, ep * gain, TYPES)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # equal up to float rounding at a level boundary
    # within a night the stages still differ: the delta-heavy half is not normalised away
    assert np.abs(a[:3].astype(float).mean(0) - a[-3:].astype(float).mean(0)).max() > 20


def test_night_reference_shapes_and_none():
    ep = _night()
    assert night_reference(get_renderer(RenderConfig(name="spectrogram")), ep, TYPES) is None
    amp = night_reference(get_renderer(RenderConfig(name="traces", night_norm="amplitude")), ep, TYPES)
    # robust sd becomes a fifth of the type's scale: EEG 75 -> 15 uV, EOG 150 -> 30, EMG 40 -> 8
    scaled = ep * amp["gain"][None, :, None]
    for c, target in enumerate((15.0, 30.0, 8.0)):
        q = np.percentile(scaled[:, c], [25, 75])
        assert (q[1] - q[0]) / 1.349 == pytest.approx(target, rel=1e-3)
    r = get_renderer(RenderConfig(name="spectrogram", night_norm="spectral", spec_fmax_hz=30.0), 100.0)
    ref = night_reference(r, ep, TYPES)
    assert ref["db"].shape == (3, 61)  # 0..30 Hz in 0.5-Hz bins
    flat = night_reference(get_renderer(RenderConfig(name="traces", night_norm="amplitude")),
                           np.zeros((3, 3, 3000), np.float32), TYPES)
    np.testing.assert_array_equal(flat["gain"], 1.0)  # a flat channel: nothing to scale by
    with pytest.raises(ValueError, match="does not fit"):
        r.render(ep[:, :2], TYPES[:2], ref=ref)


def test_prepare_and_the_re_rendering_tta_use_the_same_night_statistics(synth_dir, tmp_path):
    """The cache prepare writes (training) is the night rendered with the whole night's statistics,
    and inference's re-rendering path (TTA) renders the same images from the saved signals."""
    from sigvision.ensemble import _predict_shifted, predict_rows
    from sigvision.models.factory import build_model
    from sigvision.io.runs import _cached_images, load_prepared
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.loaders.psg import channel_type_of
    import json

    imgs = {}
    for norm in ("none", "spectral"):
        cfg = config_from_dict({"data": {"root": str(synth_dir)},
                                "render": {"name": "spectrogram", "height": 32, "width": 32, "night_norm": norm},
                                "model": {"name": "test_vit"}})
        out = tmp_path / norm
        prepare_dataset(cfg, out)
        rows, _ = load_prepared(out)
        rec = str(rows["record"].iloc[0])
        meta = json.loads((out / "prepare.json").read_text())
        imgs[norm] = np.asarray(_cached_images(out, meta, rec))
        sig = np.load(out / "signals" / f"{rec}.npy")
        types = [channel_type_of(c) for c in cfg.data.channels]
        direct = render_night(get_renderer(cfg.render, cfg.data.fs_hz), sig, types)
        np.testing.assert_array_equal(imgs[norm], direct)
    assert not np.array_equal(imgs["none"], imgs["spectral"])

    torch.manual_seed(0)
    model = build_model(cfg.model, num_classes=5, img_size=32).eval()
    mmeta = {"input": "image", "mean": [0.5] * 3, "std": [0.25] * 3, "meta_features": [],
             "classes": ["W", "N1", "N2", "N3", "REM"]}
    rows = rows[rows["record"] == rec].reset_index(drop=True)
    cached = predict_rows(model, mmeta, cfg, out, rows, device=torch.device("cpu"))
    rerendered = _predict_shifted(model, mmeta, cfg, out, rows, device=torch.device("cpu"), shift_s=0.0)
    np.testing.assert_allclose(rerendered, cached, atol=1e-5)
