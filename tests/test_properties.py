"""Property-based tests (hypothesis): renderers and blending."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sigvision.blend import blend
from sigvision.config import RenderConfig
from sigvision.render import get_renderer

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(8, 400)), elements=finite),
       name=st.sampled_from(["traces", "spectrogram"]), h=st.integers(8, 48), w=st.integers(8, 48))
def test_any_finite_signal_gives_a_valid_image(x, name, h, w):
    r = get_renderer(RenderConfig(name=name, height=h, width=w, context_epochs=0), fs_hz=50.0)
    img = r.render(x, ["eeg"] * x.shape[1])
    assert img.shape == (x.shape[0], h, w, 3) and img.dtype == np.uint8


probs = arrays(np.float64, st.tuples(st.integers(1, 20), st.just(5)), elements=st.floats(0.01, 1.0)).map(
    lambda a: a / a.sum(1, keepdims=True))


@settings(max_examples=60, deadline=None)
@given(p=probs, k=st.integers(1, 4), method=st.sampled_from(["sqrt", "mean", "geometric"]))
def test_blending_identical_inputs_returns_the_input(p, k, method):
    np.testing.assert_allclose(blend([p] * k, method=method), p, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(p=probs, q=probs, w=st.floats(0.05, 0.95), method=st.sampled_from(["sqrt", "mean", "geometric", "rank"]))
def test_blend_weights_follow_models(p, q, w, method):
    q = q[: len(p)] if len(q) >= len(p) else np.resize(q, p.shape) / np.resize(q, p.shape).sum(1, keepdims=True)
    a = blend([p, q], weights=[w, 1 - w], method=method)
    b = blend([q, p], weights=[1 - w, w], method=method)
    np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(n_epochs=st.integers(1, 4), fs=st.sampled_from([64.0, 100.0, 128.0, 200.0]),
       amp=st.floats(1.0, 400.0), seed=st.integers(0, 2**16))
def test_random_valid_edf_round_trips_through_the_loader(tmp_path_factory, n_epochs, fs, amp, seed):
    from sigvision.loaders.hypnogram import Hypnogram
    from sigvision.loaders.psg import load_sleep_night

    from .conftest import write_test_edf

    d = tmp_path_factory.mktemp("edf")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-amp, amp, (4, int(n_epochs * 30 * fs)))
    p = write_test_edf(d / "r-PSG.edf", x, fs, ["Fpz-Cz", "Pz-Oz", "EOG", "EMG"], record_duration_s=1.0)
    stages = rng.integers(0, 5, n_epochs)
    night = load_sleep_night(p, Hypnogram(stages), channels=["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal",
                                                                 "EMG submental"], fs_hz=fs, trim_wake_edges_min=None)
    assert night.epochs.shape == (n_epochs, 4, int(30 * fs))
    assert night.labels.tolist() == stages.tolist()
    step = 2 * amp / 65535  # EDF int16 quantisation
    np.testing.assert_allclose(night.epochs.reshape(n_epochs, 4, -1).transpose(1, 0, 2).reshape(4, -1), x,
                               atol=step * 1.01 + 1e-3)


@settings(max_examples=15, deadline=None)
@given(n_leads=st.integers(1, 12), n_samples=st.integers(50, 3000), fs=st.sampled_from([250.0, 500.0]),
       age=st.one_of(st.none(), st.integers(1, 99)), sex=st.sampled_from([None, "M", "F"]), seed=st.integers(0, 999))
def test_random_valid_wfdb_round_trips(tmp_path_factory, n_leads, n_samples, fs, age, sex, seed):
    from sigvision.loaders.ecg import STANDARD_LEADS
    from sigvision.loaders.wfdb import read_wfdb_record
    from sigvision.synth.wfdb import write_wfdb_mat_record

    d = tmp_path_factory.mktemp("wfdb")
    x = np.random.default_rng(seed).uniform(-3, 3, (n_leads, n_samples))
    write_wfdb_mat_record(d / "X1", x, fs, list(STANDARD_LEADS[:n_leads]), age=age, sex=sex, dx=["426783006"])
    rec = read_wfdb_record(d / "X1")
    assert rec.signals.shape == (n_leads, n_samples) and rec.fs_hz == fs
    np.testing.assert_allclose(rec.signals, x, atol=0.5 / 1000 + 1e-9)  # gain 1000 adu/mV
    assert rec.age == age and rec.sex == sex and rec.labels == ["426783006"]
