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
