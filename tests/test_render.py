import numpy as np
import pytest

from sigvision.config import Config, RenderConfig, config_hash
from sigvision.errors import ConfigError
from sigvision.loaders.wfdb import read_wfdb_record
from sigvision.loaders.ecg import sample_cinc2021_dir
from sigvision.render import (available_renderers, context_windows, get_renderer, rasterize_traces,
                              render_night)

TYPES = ["eeg", "eeg", "eog", "emg"]
FS = 100.0


def _epochs(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 4, 3000)) * 20).astype(np.float32)


def test_registry_lists_and_suggests():
    assert {"traces", "spectrogram", "ecg_stack", "ecg_6x2"} <= set(available_renderers())
    with pytest.raises(ConfigError, match="did you mean 'traces'.*available"):
        get_renderer(RenderConfig(name="trace"))


@pytest.mark.parametrize("name", ["traces", "spectrogram"])
@pytest.mark.parametrize("ctx", [0, 1, 2])
def test_shape_dtype_determinism(name, ctx):
    r = get_renderer(RenderConfig(name=name, height=64, width=80, context_epochs=ctx), FS)
    ep = _epochs()
    a = render_night(r, ep, TYPES, batch_size=4)
    b = render_night(r, ep, TYPES, batch_size=6)
    assert a.shape == (6, 64, 80, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)  # batch size does not change pixels


def test_trace_reaches_band_edges_at_the_configured_scale():
    x = np.zeros((1, 2, 200), np.float32)
    x[0, 0, 100] = 75.0   # exactly the EEG scale -> touches the top of band 0
    x[0, 1, 50] = -500.0  # beyond scale -> clipped at the bottom of band 1
    img = rasterize_traces(x, 100, 50, [75.0, 75.0])
    dark0 = np.flatnonzero((img[0, :50] != 255).any(axis=2).any(axis=1))
    dark1 = np.flatnonzero((img[0, 50:] != 255).any(axis=2).any(axis=1))
    assert dark0.min() == 0  # top row of band 0
    assert dark1.max() == 49  # bottom row of band 1
    assert dark0.max() < 50 and dark1.min() >= 0  # traces stay in their bands


def test_trace_is_connected():
    t = np.linspace(0, 1, 1000)
    x = (60 * np.sin(2 * np.pi * 3 * t)).astype(np.float32)[None, None]
    img = rasterize_traces(x, 64, 64, [75.0])
    cols = (img[0] != 255).any(axis=2)
    assert cols.any(axis=0).all()  # every column has ink
    for c in range(1, 64):  # spans of neighbouring columns touch
        a, b = np.flatnonzero(cols[:, c - 1]), np.flatnonzero(cols[:, c])
        assert a.min() <= b.max() + 1 and b.min() <= a.max() + 1


def test_different_stages_give_different_images(synth_dir):
    from sigvision.loaders.psg import load_sleep_night
    from sigvision.loaders.pairing import pair_sleep_edf_files

    night = load_sleep_night(*pair_sleep_edf_files(synth_dir)[0])
    r = get_renderer(RenderConfig(height=96, width=96, context_epochs=0), night.fs_hz)
    imgs = render_night(r, night.epochs, night.channel_types).astype(np.float32)
    present = [s for s in range(5) if (night.labels == s).sum() >= 2]
    assert len(present) >= 2
    means = {s: imgs[night.labels == s].mean(axis=0) for s in present}
    # the mean images of two different stages differ clearly
    a, b = present[0], present[-1]
    assert np.abs(means[a] - means[b]).mean() > 1.0


def test_context_marks_centre_and_missing_neighbours():
    ep = _epochs(3)
    w, valid = context_windows(ep, np.array([0, 1, 2]), 1)
    assert w.shape == (3, 4, 9000)
    assert valid.tolist() == [[False, True, True], [True, True, True], [True, True, False]]
    np.testing.assert_array_equal(w[1, :, 3000:6000], ep[1])
    assert not w[0, :, :3000].any()  # missing context is zeros
    r = get_renderer(RenderConfig(height=40, width=90, context_epochs=1), FS)
    img = render_night(r, ep, TYPES)
    grey = np.array([200, 200, 200], np.uint8)
    assert (img[0, :, :20] == grey).all(axis=2).mean() > 0.3  # first epoch: left context grey
    assert not (img[1, :, :20] == grey).all(axis=2).any()


def test_spectrogram_puts_a_tone_at_its_frequency():
    t = np.arange(3000) / FS
    x = np.zeros((1, 1, 3000), np.float32)
    x[0, 0] = 50 * np.sin(2 * np.pi * 10.0 * t)
    r = get_renderer(RenderConfig(name="spectrogram", height=60, width=30, context_epochs=0, spec_fmax_hz=30.0), FS)
    img = r.render(x, ["eeg"])[0].astype(np.float32).sum(axis=(1, 2))  # brightness per row
    row_10hz = int(round((1 - 10.0 / 30.0) * 59))
    assert abs(int(np.argmax(img)) - row_10hz) <= 3


def test_spectrogram_fmin_leaves_out_the_lowest_bins():
    """render.spec_fmin_hz drops the bins below it (where electrode drift and the amplifier's
    high-pass set the power), so slow waves there no longer change the image; a 10-Hz tone
    still shows, on the axis that now starts at spec_fmin_hz."""
    rng = np.random.default_rng(0)
    t = np.arange(3000) / FS
    base = (5 * rng.standard_normal(3000) + 20 * np.sin(2 * np.pi * 10.0 * t)).astype(np.float32)
    slow = base + (100 * np.sin(2 * np.pi * 0.5 * t)).astype(np.float32)
    x = np.stack([base, slow])[:, None]

    def images(fmin):
        cfg = RenderConfig(name="spectrogram", height=60, width=30, context_epochs=0, spec_fmin_hz=fmin)
        return get_renderer(cfg, FS).render(x, ["eeg"]).astype(np.float32)

    full, cut = images(0.0), images(1.5)
    assert np.abs(full[0] - full[1]).mean() > 1.0
    assert np.abs(cut[0] - cut[1]).mean() < 0.2 * np.abs(full[0] - full[1]).mean()
    rows = cut[0].sum(axis=(1, 2))
    row_10hz = int(round((1 - (10.0 - 1.5) / (30.0 - 1.5)) * 59))
    assert abs(int(np.argmax(rows)) - row_10hz) <= 3
    for bad in (-1.0, 30.0, 40.0):
        with pytest.raises(ConfigError, match="spec_fmin_hz"):
            RenderConfig(name="spectrogram", spec_fmin_hz=bad).validate()
    # it changes the images, so the prepared folder's hash; the default keeps older folders' hash
    default = Config(render=RenderConfig(name="spectrogram"))
    assert config_hash(default) == config_hash(Config(render=RenderConfig(name="spectrogram", spec_fmin_hz=0.0)))
    assert config_hash(default) != config_hash(Config(render=RenderConfig(name="spectrogram", spec_fmin_hz=1.0)))


def test_ecg_renderers_on_real_record():
    rec = read_wfdb_record(sample_cinc2021_dir() / "E07500")
    for name, shape in (("ecg_stack", (240, 200, 3)), ("ecg_6x2", (240, 200, 3))):
        r = get_renderer(RenderConfig(name=name, height=240, width=200), rec.fs_hz)
        img = r.render(rec.signals[None], ["ecg"] * 12)
        assert img.shape == (1,) + shape
        assert (img[0] < 100).all(axis=2).mean() > 0.005  # black trace pixels exist
    with pytest.raises(ValueError, match="12 leads"):
        get_renderer(RenderConfig(name="ecg_6x2"), 500).render(rec.signals[None, :8], ["ecg"] * 8)


def test_nan_samples_do_not_crash():
    ep = _epochs(2)
    ep[0, 1, 100:200] = np.nan
    out = render_night(get_renderer(RenderConfig(height=32, width=32, context_epochs=0)), ep, TYPES)
    assert out.shape == (2, 32, 32, 3)


def test_ecg_6x2_on_four_psg_channels_is_a_config_error(synth_dir, tmp_path):
    """render.name=ecg_6x2 on sleep data (4 channels) ended `sigvision prepare` with a traceback
    (a bare ValueError); now the one-line config error of the CLI, naming the alternative."""
    from sigvision.cli import main

    with pytest.raises(ConfigError, match="ecg_stack"):
        get_renderer(RenderConfig(name="ecg_6x2", height=32, width=32)).render(np.zeros((1, 4, 300), np.float32))
    assert main(["--quiet", "prepare", "--set", f"data.root={synth_dir}", "--set", "render.name=ecg_6x2",
                 "--set", "render.height=32", "--set", "render.width=32", "--out", str(tmp_path / "p")]) == 2
