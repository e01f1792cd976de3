"""Training-time augmentation of rendered images: FMix (its functions in :mod:`.fmix`) and
Cutout/CoarseDropout.

FMix
----
Harris et al. 2020, "FMix: Enhancing Mixed Sample Data Augmentation" (arXiv 2002.12047).
A batch is mixed with a shuffled copy of itself through one binary mask whose regions are
large, irregular and low-frequency:

1. draw ``lam ~ Beta(alpha, alpha)``;
2. draw a complex Gaussian spectrum over the image grid, scale every frequency by
   ``1 / max(f, 1 / max(H, W)) ** decay_power`` where ``f`` is the frequency magnitude
   (``numpy.fft.fftfreq`` along both image axes; the floor stops the division by zero at
   the DC term);
3. inverse FFT, keep the real part: a smooth grey-scale random field (computed as the
   equivalent real-noise filter, same distribution, half the work: see ``_low_freq_field``);
4. set the ``round(lam * H * W)`` largest pixels to 1 and the rest to 0 (with
   ``max_soft > 0`` a linear ramp across the threshold gives soft edges; the mean is kept).

The mixed batch is ``mask * x + (1 - mask) * x[perm]`` and the loss is
``lam * loss(logits, y) + (1 - lam) * loss(logits, y[perm])`` (:func:`mixed_loss`), where
``lam`` is the *actual* mask mean (it differs from the Beta draw by at most ``1 / (2 H W)``).

Determinism
-----------
Every random draw of the FMix functions (``lam``, the spectrum, the permutation, the
apply/skip decision of :class:`FMix`) comes from the ``numpy.random.Generator`` passed as
``rng``; no global numpy/torch/python random state is read or changed. Two generators built
from the same seed give identical masks, permutations and mixed batches, on any device.

The Cutout/CoarseDropout pipeline of :func:`build_image_augment` is an albumentations 2.x
``Compose`` built with ``seed=...``: it owns its own numpy and python generators, seeded once
at construction and advanced by each call, so two pipelines built with the same seed give
identical outputs on the same sequence of inputs and global seeding has no effect on it.

Horizontal flips are deliberately absent: rendered traces have a time direction.
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError

# torch and albumentations are imported where a tensor or pipeline is made (heavy).

if TYPE_CHECKING:  # pragma: no cover - typing only
    import albumentations as A
    import torch

__all__ = [
    "build_image_augment",
    "label_smoothing_ce",
]


# --------------------------------------------------------------------------- validation

def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"rng={rng!r} is not accepted; pass a numpy.random.Generator, "
            "e.g. numpy.random.default_rng(seed)"
        )
    return rng


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}={value!r} is not accepted; expected a real number")
    return float(value)


def _check_p(name: str, p: Any) -> float:
    p_f = _real(name, p)
    if not 0.0 <= p_f <= 1.0:
        raise ConfigError(f"{name}={p!r} is not accepted; expected a probability in [0, 1]")
    return p_f


# --------------------------------------------------------------------------- FMix


# --------------------------------------------------------------------------- Cutout

def _check_frac(name: str, value: Any) -> float:
    v = _real(name, value)
    if not 0.0 < v < 1.0:
        raise ConfigError(
            f"{name}={value!r} is not accepted; expected a fraction of the image side in (0, 1)"
        )
    return v


def _check_int_range(name: str, value: Any, lowest: int) -> tuple[int, int]:
    ok = (isinstance(value, Sequence) and len(value) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value))
    if not ok or not lowest <= value[0] <= value[1]:
        raise ConfigError(
            f"{name}={value!r} is not accepted; expected (min, max) integers with "
            f"{lowest} <= min <= max"
        )
    return int(value[0]), int(value[1])


def _check_frac_range(name: str, value: Any) -> tuple[float, float]:
    ok = (isinstance(value, Sequence) and len(value) == 2
          and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value))
    if not ok or not 0.0 < value[0] <= value[1] < 1.0:
        raise ConfigError(
            f"{name}={value!r} is not accepted; expected (min, max) fractions of the image "
            "side with 0 < min <= max < 1"
        )
    return float(value[0]), float(value[1])


def build_image_augment(
    cutout_p: float = 0.0,
    cutout_holes: int = 1,
    cutout_size_frac: float = 0.25,
    coarse_dropout: bool = False,
    *,
    coarse_p: float = 0.5,
    coarse_holes_range: tuple[int, int] = (1, 8),
    coarse_size_range: tuple[float, float] = (0.02, 0.1),
    fill: float | tuple[float, float, float] = 0,
    seed: int | None = 0,
) -> "A.Compose | None":
    """Albumentations pipeline of Cutout and/or CoarseDropout for rendered images.

    Parameters
    ----------
    cutout_p : float, default 0.0
        Probability of Cutout (DeVries & Taylor 2017) per image, in [0, 1]; 0 = off.
    cutout_holes : int, default 1
        Number of Cutout holes (exact), >= 1.
    cutout_size_frac : float, default 0.25
        Cutout hole height and width as a fraction of the image height and width, in (0, 1).
    coarse_dropout : bool, default False
        Add a CoarseDropout with a random number of holes of random size.
    coarse_p : float, default 0.5
        Probability of CoarseDropout per image, in [0, 1].
    coarse_holes_range : tuple of int, default (1, 8)
        ``(min, max)`` number of CoarseDropout holes, ``1 <= min <= max``.
    coarse_size_range : tuple of float, default (0.02, 0.1)
        ``(min, max)`` hole side as a fraction of the image side, ``0 < min <= max < 1``.
    fill : float or tuple of 3 floats, default 0
        Value written into the holes (0 = black; 255 = white, the traces' background).
    seed : int or None, default 0
        Seed of the pipeline's own random generators. Two pipelines built with the same
        seed give identical outputs on the same sequence of images; ``None`` = fresh OS
        entropy (not reproducible). In a multi-worker ``DataLoader`` every worker receives
        a copy with the same state; call ``pipeline.set_random_seed(seed + worker_id)`` in
        ``worker_init_fn`` to give workers distinct, still reproducible, streams.

    Returns
    -------
    albumentations.Compose or None
        Apply as ``pipeline(image=img)["image"]`` to a uint8 ``(H, W, 3)`` array; shape and
        dtype are preserved. ``None`` when every transform is off (``cutout_p == 0`` and
        not ``coarse_dropout``, or ``coarse_p == 0``). No flips: traces have a time
        direction.

    Raises
    ------
    ValueError
        Any argument out of the ranges above, or albumentations older than 2.0 (its
        ``Compose`` cannot be seeded).
    """
    cutout_p = _check_p("cutout_p", cutout_p)
    if isinstance(cutout_holes, bool) or not isinstance(cutout_holes, numbers.Integral) \
            or cutout_holes < 1:
        raise ConfigError(f"cutout_holes={cutout_holes!r} is not accepted; expected an integer >= 1")
    cutout_size_frac = _check_frac("cutout_size_frac", cutout_size_frac)
    if not isinstance(coarse_dropout, (bool, np.bool_)):
        raise ConfigError(f"coarse_dropout={coarse_dropout!r} is not accepted; expected True or False")
    coarse_p = _check_p("coarse_p", coarse_p)
    coarse_holes_range = _check_int_range("coarse_holes_range", coarse_holes_range, 1)
    coarse_size_range = _check_frac_range("coarse_size_range", coarse_size_range)
    if isinstance(fill, numbers.Real) and not isinstance(fill, bool):
        fill_v: float | tuple[float, ...] = float(fill)
        fill_ok = 0.0 <= fill_v <= 255.0
    elif isinstance(fill, Sequence) and len(fill) == 3 \
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in fill):
        fill_v = tuple(float(v) for v in fill)
        fill_ok = all(0.0 <= v <= 255.0 for v in fill_v)
    else:
        fill_ok = False
    if not fill_ok:
        raise ConfigError(f"fill={fill!r} is not accepted; expected a value in [0, 255] "
                          "or three such values (R, G, B)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise ConfigError(f"seed={seed!r} is not accepted; expected an integer >= 0 or None")

    use_cutout = cutout_p > 0.0
    use_coarse = bool(coarse_dropout) and coarse_p > 0.0
    if not (use_cutout or use_coarse):
        return None

    import albumentations as A

    major = int(str(A.__version__).split(".")[0])
    if major < 2:
        raise ConfigError(
            f"albumentations {A.__version__} is not accepted; build_image_augment needs "
            "albumentations>=2.0 (seedable Compose, CoarseDropout ranges API)"
        )

    transforms = []
    if use_cutout:
        n = int(cutout_holes)
        transforms.append(A.CoarseDropout(
            num_holes_range=(n, n),
            hole_height_range=(cutout_size_frac, cutout_size_frac),
            hole_width_range=(cutout_size_frac, cutout_size_frac),
            fill=fill_v, p=cutout_p,
        ))
    if use_coarse:
        transforms.append(A.CoarseDropout(
            num_holes_range=coarse_holes_range,
            hole_height_range=coarse_size_range,
            hole_width_range=coarse_size_range,
            fill=fill_v, p=coarse_p,
        ))
    return A.Compose(transforms, seed=None if seed is None else int(seed))


def label_smoothing_ce(smoothing: float = 0.1, *,
                       weight: "torch.Tensor | None" = None) -> "torch.nn.CrossEntropyLoss":
    """Cross-entropy with label smoothing, for class-index or probability targets.

    Parameters
    ----------
    smoothing : float, default 0.1
        Label smoothing in [0, 1): the target becomes ``(1 - s) * onehot + s / K``.
    weight : torch.Tensor, optional
        Per-class weights, shape ``(K,)``.

    Returns
    -------
    torch.nn.CrossEntropyLoss
        ``loss(logits (B, K), targets (B,) int64) -> scalar``; combine with
        :func:`mixed_loss` for FMix batches.

    Raises
    ------
    ValueError
        ``smoothing`` outside [0, 1).
    """
    import torch

    s = _real("smoothing", smoothing)
    if not 0.0 <= s < 1.0:
        raise ConfigError(f"smoothing={smoothing!r} is not accepted; expected a number in [0, 1)")
    return torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=s)
