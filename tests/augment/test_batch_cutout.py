"""The numpy Cutout/CoarseDropout backend: hole geometry, determinism, and the same
distribution of erased area as the seed's albumentations pipeline."""
from __future__ import annotations

import numpy as np
import pytest

from sigvision.augment.image import build_image_augment
from sigvision.config.load import config_from_dict
from sigvision.errors import ConfigError
from sigvision.train.data import BatchCutout, SeededAugment, image_augment


def _white(b=16, h=40, w=60):
    return np.full((b, 3, h, w), 255, np.uint8)  # planar, as the dataset gives batches


def test_cutout_holes_have_the_configured_side_and_stay_inside():
    imgs = BatchCutout(1.0, 1, 0.1)(_white(), seed=3)
    for img in imgs:
        ys, xs = np.nonzero(img[0] == 0)
        assert ys.max() - ys.min() + 1 == 4 and xs.max() - xs.min() + 1 == 6  # int(40*0.1), int(60*0.1)
        assert len(ys) == 24
        assert np.array_equal(img[1] == 0, img[0] == 0) and np.array_equal(img[2] == 0, img[0] == 0)  # every channel
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        BatchCutout(1.0, 1, 0.1)(np.zeros((2, 40, 60, 3), np.uint8), seed=0)


def test_cutout_probability_zero_and_determinism():
    assert np.array_equal(BatchCutout(0.0, 8, 0.1)(_white(), seed=0), _white())
    a = BatchCutout(0.5, 8, 0.1, coarse_p=0.5)(_white(), seed=11)
    b = BatchCutout(0.5, 8, 0.1, coarse_p=0.5)(_white(), seed=11)
    c = BatchCutout(0.5, 8, 0.1, coarse_p=0.5)(_white(), seed=12)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_coarse_dropout_one_hole_is_a_rectangle_within_the_size_range():
    aug = BatchCutout(0.0, 1, 0.1, coarse_p=1.0, coarse_holes_range=(1, 1), coarse_size_range=(0.1, 0.3))
    imgs = aug(_white(b=64), seed=5)
    heights, widths = [], []
    for img in imgs:
        ys, xs = np.nonzero(img[0] == 0)
        assert np.array_equal(img[2] == 0, img[0] == 0)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert len(ys) == h * w  # one filled rectangle
        heights.append(h)
        widths.append(w)
    assert 4 <= min(heights) and max(heights) <= 12 and 6 <= min(widths) and max(widths) <= 18
    assert len(set(heights)) > 3  # sizes are drawn, not fixed


@pytest.mark.parametrize("kw", [
    dict(cutout_p=0.5, cutout_holes=8, cutout_size_frac=0.1),
    dict(cutout_p=0.0, coarse_dropout=True, coarse_p=0.7, coarse_holes_range=(1, 8), coarse_size_range=(0.02, 0.2)),
])
def test_numpy_backend_erases_the_same_area_as_albumentations(kw):
    n, h, w = 600, 48, 48
    alb = SeededAugment(build_image_augment(**kw))
    erased_alb = np.array([(alb(np.full((h, w, 3), 255, np.uint8), seed=i)[..., 0] == 0).mean() for i in range(n)])
    npy = BatchCutout(kw["cutout_p"], kw.get("cutout_holes", 1), kw.get("cutout_size_frac", 0.1),
                      coarse_p=kw.get("coarse_p", 0.0) if kw.get("coarse_dropout") else 0.0,
                      coarse_holes_range=kw.get("coarse_holes_range", (1, 8)),
                      coarse_size_range=kw.get("coarse_size_range", (0.02, 0.1)))
    erased_np = np.concatenate([(npy(np.full((50, 3, h, w), 255, np.uint8), seed=s)[:, 0] == 0)
                                .mean(axis=(1, 2)) for s in range(n // 50)])
    # the share of images touched and the mean erased area agree (sampling error ~ 3 %)
    assert (erased_np > 0).mean() == pytest.approx((erased_alb > 0).mean(), abs=0.07)
    assert erased_np.mean() == pytest.approx(erased_alb.mean(), rel=0.12)


def test_image_augment_follows_the_config():
    def tcfg(**kw):
        return config_from_dict({"train": kw}).train

    assert image_augment(tcfg(cutout_p=0.0)) is None
    assert isinstance(image_augment(tcfg()), BatchCutout)  # numpy backend is the default
    aug = image_augment(tcfg(cutout_p=0.0, coarse_dropout_p=0.5, coarse_holes_range=[2, 4]))
    assert isinstance(aug, BatchCutout) and aug.coarse_p == 0.5 and aug.coarse_holes_range == (2, 4)
    assert isinstance(image_augment(tcfg(cutout_backend="albumentations", coarse_dropout_p=0.5)), SeededAugment)
    with pytest.raises(ConfigError, match="coarse_size_range"):
        tcfg(coarse_size_range=[0.3, 0.1])
    with pytest.raises(ConfigError, match="coarse_dropout_p"):
        tcfg(coarse_dropout_p=1.5)
