"""FMix (Harris et al. 2020) mask/mixing/loss properties and the seeded Cutout pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sigvision.augment.fmix import FMix, fmix_batch, mixed_loss, sample_fmix_mask
from sigvision.augment.image import build_image_augment, label_smoothing_ce


def _low_freq_energy_fraction(mask: np.ndarray, cutoff: float = 0.1) -> float:
    """Fraction of the spectral energy of mask - mean at frequency magnitude < cutoff."""
    h, w = mask.shape
    power = np.abs(np.fft.fft2(mask - mask.mean())) ** 2
    f = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    return float(power[f < cutoff].sum() / power.sum())


def _transitions(mask: np.ndarray) -> int:
    """Number of neighbouring (horizontal + vertical) pixel pairs that differ."""
    return int((mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum())


# --------------------------------------------------------------------------- masks

def test_hard_mask_mean_matches_lambda_many_shapes():
    rng = np.random.default_rng(0)
    shapes = [(1, 1), (1, 7), (5, 1), (8, 8), (17, 40), (64, 23), (32, 96)]
    for shape in shapes:
        n = shape[0] * shape[1]
        for lam in list(rng.uniform(0, 1, 12)) + [0.0, 1.0, 0.5]:
            m = sample_fmix_mask(float(lam), shape, rng=rng)
            assert m.shape == shape and m.dtype == np.float32
            assert set(np.unique(m)) <= {0.0, 1.0}
            assert m.sum() == round(lam * n)
            assert abs(m.mean() - lam) <= 1.0 / n


def test_extreme_lambdas_give_constant_masks():
    rng = np.random.default_rng(1)
    assert np.all(sample_fmix_mask(0.0, (9, 13), rng=rng) == 0)
    assert np.all(sample_fmix_mask(1.0, (9, 13), rng=rng) == 1)
    assert np.all(sample_fmix_mask(1.0, (9, 13), max_soft=0.3, rng=rng) == 1)


def test_soft_mask_in_unit_interval_with_intermediate_values_and_same_mean():
    rng = np.random.default_rng(2)
    for lam in (0.2, 0.5, 0.73):
        m = sample_fmix_mask(lam, (32, 48), max_soft=0.1, rng=rng)
        assert m.min() >= 0.0 and m.max() <= 1.0
        inner = (m > 0) & (m < 1)
        assert inner.sum() > 0.1 * m.size  # about 2 * 0.1 * N ramp pixels
        assert abs(m.mean() - lam) <= 1.0 / m.size + 1e-6


def test_mask_is_low_frequency_compared_with_random_binary_mask():
    rng = np.random.default_rng(3)
    fmix_fracs, rand_fracs = [], []
    for _ in range(5):
        m = sample_fmix_mask(0.5, (64, 48), rng=rng)
        fmix_fracs.append(_low_freq_energy_fraction(m))
        rand_fracs.append(_low_freq_energy_fraction(rng.permutation(m.ravel()).reshape(m.shape)))
    assert min(fmix_fracs) > 0.7
    assert max(rand_fracs) < 0.1
    assert min(fmix_fracs) > 5 * max(rand_fracs)


def test_higher_decay_power_gives_smoother_masks():
    def mean_transitions(decay):
        rng = np.random.default_rng(4)
        return np.mean([_transitions(sample_fmix_mask(0.5, (48, 48), decay, rng=rng))
                        for _ in range(8)])

    t1, t3, t5 = mean_transitions(1.0), mean_transitions(3.0), mean_transitions(5.0)
    assert t1 > t3 > t5


def test_mask_deterministic_given_seed():
    a = sample_fmix_mask(0.4, (20, 30), 3.0, 0.1, rng=np.random.default_rng(7))
    b = sample_fmix_mask(0.4, (20, 30), 3.0, 0.1, rng=np.random.default_rng(7))
    c = sample_fmix_mask(0.4, (20, 30), 3.0, 0.1, rng=np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs, bad", [
    (dict(lam=-0.1, shape=(4, 4)), "lam"),
    (dict(lam=1.5, shape=(4, 4)), "lam"),
    (dict(lam=float("nan"), shape=(4, 4)), "lam"),
    (dict(lam=0.5, shape=(0, 4)), "shape"),
    (dict(lam=0.5, shape=(4, 0)), "shape"),
    (dict(lam=0.5, shape=(4,)), "shape"),
    (dict(lam=0.5, shape=(4, 4), decay_power=0.0), "decay_power"),
    (dict(lam=0.5, shape=(4, 4), max_soft=-0.1), "max_soft"),
    (dict(lam=0.5, shape=(4, 4), max_soft=0.7), "max_soft"),
])
def test_mask_bad_arguments(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        sample_fmix_mask(rng=np.random.default_rng(0), **kwargs)


def test_mask_rejects_non_generator_rng():
    with pytest.raises(ValueError, match="rng"):
        sample_fmix_mask(0.5, (4, 4), rng=0)


# --------------------------------------------------------------------------- batches

def _batch(b=6, c=3, h=16, w=24, seed=0):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_fmix_batch_shares_one_mask_and_perm_is_permutation():
    x = _batch()
    mixed, perm, lam = fmix_batch(x, rng=np.random.default_rng(0))
    assert mixed.shape == x.shape and mixed.dtype == x.dtype
    assert perm.dtype == torch.long and perm.shape == (6,)
    assert sorted(perm.tolist()) == list(range(6))
    # recover the mask from a sample mixed with another one: pixels where mixed equals x
    # (x[i] != x[perm[i]] almost surely when perm[i] != i)
    i = next(k for k in range(6) if int(perm[k]) != k)
    m = (mixed[i, 0] == x[i, 0]).to(x.dtype)
    assert abs(float(m.mean()) - lam) < 1e-12
    expected = m * x + (1 - m) * x[perm]
    assert torch.equal(mixed, expected)
    for i in range(6):
        assert torch.equal(mixed[i], m * x[i] + (1 - m) * x[perm[i]])


def test_fmix_batch_lam_is_actual_mask_mean_and_deterministic():
    x = _batch(b=5, h=12, w=20)
    r1 = fmix_batch(x, alpha=0.5, rng=np.random.default_rng(11))
    r2 = fmix_batch(x, alpha=0.5, rng=np.random.default_rng(11))
    assert torch.equal(r1[0], r2[0]) and torch.equal(r1[1], r2[1]) and r1[2] == r2[2]
    # replay the documented draw order: lam, mask, perm
    rng = np.random.default_rng(11)
    lam_draw = rng.beta(0.5, 0.5)
    mask = sample_fmix_mask(lam_draw, (12, 20), rng=rng)
    perm = rng.permutation(5)
    assert r1[2] == pytest.approx(float(mask.mean()), abs=1e-12)
    assert abs(r1[2] - lam_draw) <= 1 / (12 * 20)
    assert r1[1].tolist() == perm.tolist()
    m = torch.from_numpy(mask)
    assert torch.equal(r1[0], m * x + (1 - m) * x[torch.from_numpy(perm)])


def test_mixed_equals_original_when_mask_all_ones():
    x = _batch(b=4)
    # FMix skipped (p=0): identity, lam = 1, perm = arange
    fm = FMix(p=0.0)
    out, perm, lam = fm(x, np.random.default_rng(0))
    assert torch.equal(out, x) and lam == 1.0 and perm.tolist() == [0, 1, 2, 3]
    # with an all-ones mask the mixing formula returns the originals
    m = torch.from_numpy(sample_fmix_mask(1.0, (16, 24), rng=np.random.default_rng(0)))
    p = torch.randperm(4)
    assert torch.equal(m * x + (1 - m) * x[p], x)


def test_fmix_batch_soft_mask_and_integer_images():
    x = torch.randint(0, 256, (3, 3, 10, 14), dtype=torch.uint8)
    mixed, perm, lam = fmix_batch(x, rng=np.random.default_rng(5))
    assert mixed.dtype == torch.uint8
    same = (mixed == x) | (mixed == x[perm])
    assert bool(same.all())
    xf = _batch(b=3, h=10, w=14)
    mixed_s, perm_s, lam_s = fmix_batch(xf, max_soft=0.2, rng=np.random.default_rng(5))
    lo = torch.minimum(xf, xf[perm_s]) - 1e-6
    hi = torch.maximum(xf, xf[perm_s]) + 1e-6
    assert bool(((mixed_s >= lo) & (mixed_s <= hi)).all())
    assert 0.0 <= lam_s <= 1.0


def test_hard_mask_is_exactly_the_largest_pixels_of_the_field():
    from sigvision.augment.fmix import _low_freq_field

    for seed, lam, shape in ((0, 0.3, (20, 30)), (1, 0.5, (64, 64)), (2, 0.97, (7, 11))):
        mask = sample_fmix_mask(lam, shape, rng=np.random.default_rng(seed))
        field = _low_freq_field(shape, 3.0, np.random.default_rng(seed)).ravel()
        n_on = int(round(lam * field.size))
        expected = np.zeros(field.size, np.float32)
        expected[np.argsort(-field, kind="stable")[:n_on]] = 1.0
        assert np.array_equal(mask.ravel(), expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_mixed_cross_entropy_equals_the_weighted_sum_with_gradients(smoothing):
    """The one-call mixed-target path of mixed_loss gives the loss and gradient of
    lam * CE(y) + (1 - lam) * CE(y[perm]), with and without label smoothing."""
    ce = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (12,), generator=g)
    perm = torch.randperm(12, generator=g)
    fast = mixed_loss(ce, logits, y, perm, 0.37)
    (g_fast,) = torch.autograd.grad(fast, logits)
    ref = 0.37 * ce(logits, y) + 0.63 * ce(logits, y[perm])
    (g_ref,) = torch.autograd.grad(ref, logits)
    assert float(fast.detach()) == pytest.approx(float(ref.detach()), abs=1e-12)
    assert torch.allclose(g_fast, g_ref, atol=1e-12)
    # weighted cross-entropy normalises by the targets' weights: it keeps the two-call path
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    cew = torch.nn.CrossEntropyLoss(weight=w)
    assert float(mixed_loss(cew, logits.detach(), y, perm, 0.37)) == pytest.approx(
        float(0.37 * cew(logits.detach(), y) + 0.63 * cew(logits.detach(), y[perm])), abs=1e-12)


@pytest.mark.parametrize("shape", [(24, 36), (25, 35)])
def test_field_matches_the_papers_complex_spectrum_recipe_in_distribution(shape):
    """Real part of ifft2(complex Gaussian x 1/f^d) (the paper) vs the real-noise filter used:
    the same covariance, checked through lag-1 and lag-3 correlations along both axes."""
    from sigvision.augment.fmix import _low_freq_field

    h, w = shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    scale = 1.0 / np.maximum(np.sqrt(fy * fy + fx * fx), 1.0 / max(h, w)) ** 3.0
    rng = np.random.default_rng(0)
    paper = np.array([np.fft.ifft2((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * scale).real
                      for _ in range(800)])
    ours = np.array([_low_freq_field(shape, 3.0, rng) for _ in range(800)])

    def corr(f, lag, axis):
        f = f / f.std()
        a, b = (f[:, :, lag:], f[:, :, :-lag]) if axis == 1 else (f[:, lag:, :], f[:, :-lag, :])
        return float(np.mean(a * b))

    for lag in (1, 3):
        for axis in (0, 1):
            assert corr(ours, lag, axis) == pytest.approx(corr(paper, lag, axis), abs=0.02)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16,
                                   torch.uint8, torch.int16, torch.int64])
def test_fmix_batch_binary_mask_selects_exactly_in_every_dtype(dtype):
    # uint8 mixes in wrapping byte arithmetic: extreme values (0, 255) too must come out whole
    x = (_batch(b=5, h=12, w=16, seed=3) * 40).to(dtype) if dtype.is_floating_point else \
        torch.randint(0, 256, (5, 3, 12, 16), generator=torch.Generator().manual_seed(3)).to(dtype)
    if dtype == torch.uint8:
        x[0], x[1] = 0, 255
    mixed, perm, _ = fmix_batch(x, rng=np.random.default_rng(4))
    rng = np.random.default_rng(4)
    mask = torch.from_numpy(sample_fmix_mask(float(rng.beta(1.0, 1.0)), (12, 16), rng=rng)).bool()
    assert torch.equal(mixed, torch.where(mask, x, x[perm]))


def test_fmix_batch_keeps_device_and_dtype():
    x = _batch(b=2, h=8, w=8).to(torch.float64)
    mixed, perm, _ = fmix_batch(x, rng=np.random.default_rng(0))
    assert mixed.dtype == torch.float64 and mixed.device == x.device == perm.device


@pytest.mark.parametrize("kwargs, bad", [
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=-1.0), "alpha"),
    (dict(decay_power=-2.0), "decay_power"),
    (dict(max_soft=0.9), "max_soft"),
])
def test_fmix_batch_bad_arguments(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        fmix_batch(_batch(b=2), rng=np.random.default_rng(0), **kwargs)


def test_fmix_batch_bad_images():
    with pytest.raises(ValueError, match="images"):
        fmix_batch(torch.zeros(3, 8, 8), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="images"):
        fmix_batch(np.zeros((2, 3, 8, 8)), rng=np.random.default_rng(0))


def test_fmix_class_probability_and_validation():
    x = _batch(b=4, h=8, w=12)
    fm = FMix(alpha=1.0, p=0.5)
    rng = np.random.default_rng(0)
    applied = 0
    for _ in range(40):
        out, perm, lam = fm(x, rng)
        if lam != 1.0 or not torch.equal(out, x):
            applied += 1
    assert 8 < applied < 32
    a = FMix(p=1.0)(x, np.random.default_rng(3))
    b = FMix(p=1.0)(x, np.random.default_rng(3))
    assert torch.equal(a[0], b[0]) and a[2] == b[2]
    for kwargs in (dict(p=1.5), dict(alpha=0), dict(max_soft=-1)):
        with pytest.raises(ValueError):
            FMix(**kwargs)


# --------------------------------------------------------------------------- losses

def test_mixed_loss_reduces_to_ce_at_lambda_extremes():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    perm = torch.tensor([3, 0, 5, 1, 2, 4])
    ce = torch.nn.CrossEntropyLoss()
    assert torch.equal(mixed_loss(ce, logits, y, perm, 1.0), ce(logits, y))
    assert torch.equal(mixed_loss(ce, logits, y, perm, 0.0), ce(logits, y[perm]))
    mid = mixed_loss(ce, logits, y, perm, 0.3)
    assert torch.allclose(mid, 0.3 * ce(logits, y) + 0.7 * ce(logits, y[perm]))


def test_mixed_loss_multi_hot_bce_end_to_end():
    x = _batch(b=5, h=8, w=8)
    y = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=torch.float32)
    mixed, perm, lam = fmix_batch(x, rng=np.random.default_rng(9))
    logits = mixed.mean(dim=(2, 3))  # (5, 3)
    bce = torch.nn.BCEWithLogitsLoss()
    loss = mixed_loss(bce, logits, y, perm, lam)
    assert torch.allclose(loss, lam * bce(logits, y) + (1 - lam) * bce(logits, y[perm]))
    # equivalent to BCE on the mixed (soft) targets, BCE being linear in the target
    y_mix = lam * y + (1 - lam) * y[perm]
    assert torch.allclose(loss, bce(logits, y_mix), atol=1e-6)


def test_mixed_loss_bad_arguments():
    ce = torch.nn.CrossEntropyLoss()
    logits, y = torch.zeros(3, 2), torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match="lam"):
        mixed_loss(ce, logits, y, torch.arange(3), 1.2)
    with pytest.raises(ValueError, match="perm"):
        mixed_loss(ce, logits, y, torch.arange(4), 0.5)


def test_label_smoothing_ce():
    loss = label_smoothing_ce(0.1)
    assert isinstance(loss, torch.nn.CrossEntropyLoss) and loss.label_smoothing == 0.1
    with pytest.raises(ValueError, match="smoothing"):
        label_smoothing_ce(1.0)


# --------------------------------------------------------------------------- cutout

def _images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 256, (40, 72, 3), dtype=np.uint8) for _ in range(n)]


def test_build_image_augment_off_returns_none():
    assert build_image_augment(0.0, 1, 0.25, False) is None
    assert build_image_augment(0.0, 1, 0.25, True, coarse_p=0.0) is None


def test_build_image_augment_shape_dtype_and_holes():
    aug = build_image_augment(1.0, 2, 0.25, True, coarse_p=1.0, seed=0)
    names = [type(t).__name__ for t in aug.transforms]
    assert names == ["CoarseDropout", "CoarseDropout"]
    assert not any("Flip" in n for n in names)
    for img in _images():
        out = aug(image=img)["image"]
        assert out.shape == img.shape and out.dtype == np.uint8
        assert (out == 0).all(axis=2).sum() >= 2 * 10 * 18 * 0.5  # holes filled with 0
        changed = (out != img).any(axis=2)
        assert np.all(out[changed] == 0)


def test_build_image_augment_seeded_determinism():
    imgs = _images(8)

    def run(seed):
        aug = build_image_augment(0.7, 1, 0.2, True, seed=seed)
        return [aug(image=im)["image"] for im in imgs]

    a, b, c = run(123), run(123), run(124)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    # global seeding does not leak into the pipeline
    np.random.seed(0)
    d = run(123)
    assert all(np.array_equal(x, y) for x, y in zip(a, d))


@pytest.mark.parametrize("args, kwargs, bad", [
    ((1.5, 1, 0.2, False), {}, "cutout_p"),
    ((0.5, 0, 0.2, False), {}, "cutout_holes"),
    ((0.5, 1, 1.0, False), {}, "cutout_size_frac"),
    ((0.5, 1, 0.2, "yes"), {}, "coarse_dropout"),
    ((0.5, 1, 0.2, True), dict(coarse_holes_range=(3, 1)), "coarse_holes_range"),
    ((0.5, 1, 0.2, True), dict(coarse_size_range=(0.1, 1.5)), "coarse_size_range"),
    ((0.5, 1, 0.2, False), dict(fill=300), "fill"),
    ((0.5, 1, 0.2, False), dict(seed=-1), "seed"),
])
def test_build_image_augment_bad_arguments(args, kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        build_image_augment(*args, **kwargs)


def test_training_batch_mixes_meta_features_with_the_fmix_lambda():
    """The trainer gives the model age/sex features mixed in the same proportion as the
    targets (they reached the model unmixed: a mixed image carried one record's age and sex
    whole while its target was lam-weighted); a skipped FMix leaves them as they are."""
    from types import SimpleNamespace

    from sigvision.train.data import batch_to_device

    ds = SimpleNamespace(kind="image", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    meta = torch.tensor([[0.3, 1.0], [0.5, 0.0], [0.7, 1.0], [0.2, 0.0], [0.9, 1.0], [0.4, 0.0]])
    fmix = FMix(alpha=1.0, p=1.0)
    _, _, got, (perm, lam) = batch_to_device((x, y, meta), ds, "cpu", fmix=fmix, rng=np.random.default_rng(3))
    assert 0 < lam < 1 and not torch.equal(perm, torch.arange(6))
    assert torch.allclose(got, lam * meta + (1 - lam) * meta[perm], atol=1e-6)
    _, _, got, mix = batch_to_device((x, y, meta), ds, "cpu", fmix=FMix(p=0.0), rng=np.random.default_rng(3))
    assert torch.equal(got, meta) and mix[1] == 1.0
    assert batch_to_device((x, y, meta[:, :0]), ds, "cpu", fmix=fmix, rng=np.random.default_rng(3))[2] is None


@pytest.mark.parametrize("channels_last", [False, True])
def test_training_batch_mixed_before_normalisation_equals_mixing_normalised_images(channels_last):
    """A hard FMix mask mixes the uint8 batch, then normalises (a quarter of the memory
    traffic): the model input is bit-identical to normalising first and mixing the floats,
    and it comes in the model's memory layout. A soft mask still mixes the floats."""
    from types import SimpleNamespace

    from sigvision.train.data import batch_to_device, normalize_batch

    ds = SimpleNamespace(kind="image", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    x = torch.randint(0, 256, (7, 3, 20, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    y, meta = torch.arange(7) % 5, torch.zeros(7, 0)
    for soft in (0.0, 0.2):
        fmix = FMix(alpha=1.0, max_soft=soft, p=1.0)
        got, _, _, (perm, lam) = batch_to_device((x, y, meta), ds, "cpu", fmix=fmix, rng=np.random.default_rng(8),
                                                 channels_last=channels_last)
        want, perm2, lam2 = fmix(normalize_batch(x, ds.mean, ds.std), np.random.default_rng(8))
        assert torch.equal(perm, perm2) and lam == lam2
        assert torch.equal(got, want) if soft == 0 else torch.allclose(got, want, atol=1e-6)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        assert got.is_contiguous(memory_format=fmt)
