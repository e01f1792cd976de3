"""Training-time augmentation: FMix mixed-sample augmentation and Cutout/CoarseDropout.

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

import functools
import math
import numbers
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import albumentations as A
    import torch

__all__ = [
    "sample_fmix_mask",
    "fmix_batch",
    "mixed_loss",
    "FMix",
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


def _check_lam(lam: Any) -> float:
    lam_f = _real("lam", lam)
    if not 0.0 <= lam_f <= 1.0:  # also rejects NaN
        raise ConfigError(f"lam={lam!r} is not accepted; expected a number in [0, 1]")
    return lam_f


def _check_alpha(alpha: Any) -> float:
    a = _real("alpha", alpha)
    if not (a > 0.0 and math.isfinite(a)):
        raise ConfigError(f"alpha={alpha!r} is not accepted; expected a finite number > 0")
    return a


def _check_decay(decay_power: Any) -> float:
    d = _real("decay_power", decay_power)
    if not (d > 0.0 and math.isfinite(d)):
        raise ConfigError(
            f"decay_power={decay_power!r} is not accepted; expected a finite number > 0 "
            "(the paper uses 3)"
        )
    return d


def _check_soft(max_soft: Any) -> float:
    s = _real("max_soft", max_soft)
    if not 0.0 <= s <= 0.5:
        raise ConfigError(
            f"max_soft={max_soft!r} is not accepted; expected a number in [0, 0.5] "
            "(0 = hard binary mask)"
        )
    return s


def _check_p(name: str, p: Any) -> float:
    p_f = _real(name, p)
    if not 0.0 <= p_f <= 1.0:
        raise ConfigError(f"{name}={p!r} is not accepted; expected a probability in [0, 1]")
    return p_f


def _check_shape(shape: Any) -> tuple[int, int]:
    ok = (
        isinstance(shape, Sequence)
        and len(shape) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
    )
    if not ok or min(shape) < 1:
        raise ConfigError(
            f"shape={shape!r} is not accepted; expected (height, width), two integers >= 1"
        )
    return int(shape[0]), int(shape[1])


# --------------------------------------------------------------------------- FMix

def _low_freq_field(shape: tuple[int, int], decay_power: float,
                    rng: np.random.Generator) -> np.ndarray:
    """A smooth random field (H, W) whose spectrum falls off as 1/f^d.

    The paper's recipe takes the real part of the inverse FFT of a complex Gaussian spectrum
    scaled by 1/f^d. Because the scale is symmetric in f, that real part is the inverse FFT of
    the spectrum's Hermitian part, which has exactly the distribution of the FFT of real white
    noise divided by sqrt(H W). So the same field (in distribution) comes from filtering real
    noise with a real FFT pair: half the random draws and half the transform work. The mask
    only ranks the field's pixels, so the overall scale does not matter.
    """
    h, w = shape
    scale = _spectral_scale(h, w, float(decay_power))
    return np.fft.irfft2(np.fft.rfft2(rng.standard_normal((h, w))) * scale, s=(h, w))


@functools.lru_cache(maxsize=32)
def _spectral_scale(h: int, w: int, decay_power: float) -> np.ndarray:
    """1 / max(|f|, 1/max(h, w)) ** decay_power over the real-FFT grid (h, w // 2 + 1), cached per shape."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freq = np.sqrt(fy * fy + fx * fx)
    scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** decay_power
    scale.setflags(write=False)
    return scale


def sample_fmix_mask(
    lam: float,
    shape: tuple[int, int],
    decay_power: float = 3.0,
    max_soft: float = 0.0,
    *,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sample one FMix mask with mean ``lam``.

    Parameters
    ----------
    lam : float
        Target mask mean, in [0, 1]. Exactly ``round(lam * H * W)`` pixels are ranked
        "on"; the mask mean is therefore within ``1 / (2 H W)`` of ``lam``.
    shape : tuple of int
        ``(H, W)``, both >= 1.
    decay_power : float, default 3.0
        Exponent ``d`` of the ``1 / f**d`` spectral decay, > 0. Larger = smoother masks
        with fewer, larger regions.
    max_soft : float, default 0.0
        Softening, in [0, 0.5]. 0 gives a binary mask. Otherwise ``int(H W s)`` pixels
        either side of the threshold (``s = min(max_soft, lam, 1 - lam)``) get values on a
        linear ramp from 1 to 0, which keeps the mean unchanged.
    rng : numpy.random.Generator
        Source of all randomness (keyword-only).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(H, W)``, values in [0, 1].

    Raises
    ------
    ValueError
        ``lam`` outside [0, 1], a ``shape`` entry < 1, ``decay_power <= 0``, ``max_soft``
        outside [0, 0.5], or ``rng`` not a ``numpy.random.Generator``.
    """
    lam = _check_lam(lam)
    h, w = _check_shape(shape)
    decay_power = _check_decay(decay_power)
    max_soft = _check_soft(max_soft)
    rng = _check_rng(rng)

    n = h * w
    field = _low_freq_field((h, w), decay_power, rng)
    n_on = int(round(lam * n))
    flat = np.zeros(n, dtype=np.float32)
    soft = int(n * min(max_soft, lam, 1.0 - lam)) if max_soft > 0 else 0
    if soft == 0 and 0 < n_on < n:
        # a hard mask needs only *which* pixels are the n_on largest, not their order:
        # a linear-time partition instead of a full sort (the same set unless values tie)
        flat[np.argpartition(-field.ravel(), n_on - 1)[:n_on]] = 1.0
        return flat.reshape(h, w)
    # pixels ordered by decreasing field value; stable sort so ties resolve by position
    order = np.argsort(-field.ravel(), kind="stable")
    lo = max(n_on - soft, 0)
    hi = min(n_on + soft, n)
    flat[order[:lo]] = 1.0
    if hi > lo:
        # the ramp sums to (hi - lo) / 2 == soft when symmetric: the mean stays n_on / n
        flat[order[lo:hi]] = np.linspace(1.0, 0.0, hi - lo, dtype=np.float32)
    return flat.reshape(h, w)


def _check_images(images: Any) -> "torch.Tensor":
    import torch

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 1:
        desc = (f"a tensor of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor)
                else f"{type(images).__name__}")
        raise ConfigError(
            f"images={desc} is not accepted; expected a torch.Tensor of shape (B, C, H, W) "
            "with B >= 1"
        )
    if min(images.shape[2:]) < 1:
        raise ConfigError(
            f"images of shape {tuple(images.shape)} are not accepted; H and W must be >= 1"
        )
    return images


def fmix_batch(
    images: "torch.Tensor",
    *,
    alpha: float = 1.0,
    decay_power: float = 3.0,
    max_soft: float = 0.0,
    rng: np.random.Generator,
) -> tuple["torch.Tensor", "torch.Tensor", float]:
    """Mix a batch with a shuffled copy of itself through one FMix mask.

    One ``lam ~ Beta(alpha, alpha)``, one mask and one permutation are drawn for the whole
    batch (all samples share the mask), in that order, from ``rng``.

    Parameters
    ----------
    images : torch.Tensor
        Shape ``(B, C, H, W)``, any device and dtype. Integer dtypes are supported; with a
        soft mask the mixed values are rounded back to that dtype.
    alpha : float, default 1.0
        Beta distribution parameter, > 0.
    decay_power : float, default 3.0
        Spectral decay exponent, > 0 (see :func:`sample_fmix_mask`).
    max_soft : float, default 0.0
        Mask softening in [0, 0.5]; 0 = hard binary mask.
    rng : numpy.random.Generator
        Source of all randomness.

    Returns
    -------
    mixed : torch.Tensor
        ``mask * images + (1 - mask) * images[perm]``, same shape, dtype and device as
        ``images``; the ``(H, W)`` mask broadcasts over batch and channels.
    perm : torch.Tensor
        int64, shape ``(B,)``, a permutation of ``range(B)``, on ``images.device``.
    lam : float
        The actual mask mean: the weight of the original targets in :func:`mixed_loss`.

    Raises
    ------
    ValueError
        On a bad ``images`` shape/type, ``alpha <= 0`` or any bad mask argument.
    """
    import torch

    images = _check_images(images)
    alpha = _check_alpha(alpha)
    decay_power = _check_decay(decay_power)
    max_soft = _check_soft(max_soft)
    rng = _check_rng(rng)

    b, _, h, w = images.shape
    lam_draw = float(rng.beta(alpha, alpha))
    mask_np = sample_fmix_mask(lam_draw, (h, w), decay_power, max_soft, rng=rng)
    perm_np = rng.permutation(b)
    lam = float(mask_np.mean(dtype=np.float64))

    device = images.device
    perm = torch.as_tensor(perm_np, dtype=torch.long, device=device)
    mask = torch.as_tensor(mask_np, device=device)
    other = images.index_select(0, perm)  # a gather along dim 0; several times faster than images[perm] on CPU
    if images.is_floating_point():
        # lerp(other, images, m) = other + m (images - other), computed by torch as
        # images - (images - other)(1 - m) where m >= 0.5: exactly images where m == 1 and
        # exactly other where m == 0, so a binary mask selects without rounding. One fused
        # pass, about 4x cheaper on CPU than torch.where with a broadcast boolean mask.
        mixed = torch.lerp(other, images, mask.to(images.dtype))
    elif max_soft == 0.0 and images.dtype == torch.uint8:
        # binary mask on bytes: other + (images - other) * m in wrapping uint8 arithmetic is
        # exactly images where m == 1 and other where m == 0; two passes over the batch in
        # place, about 3x cheaper on CPU than torch.where with a broadcast boolean mask
        mixed = other.addcmul_(images - other, mask.to(torch.uint8))
    elif max_soft == 0.0:
        # binary mask: a select is exact for every dtype
        mixed = torch.where(mask.bool(), images, other)
    elif images.is_complex():
        m = mask.to(images.dtype)
        mixed = m * images + (1 - m) * other
    else:
        m = mask.to(torch.float32)
        mixed = (m * images.to(torch.float32) + (1 - m) * other.to(torch.float32))
        mixed = mixed.round().to(images.dtype)
    return mixed, perm, lam


def mixed_loss(
    loss_fn: Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"],
    logits: "torch.Tensor",
    targets: "torch.Tensor",
    perm: "torch.Tensor",
    lam: float,
) -> "torch.Tensor":
    """Loss of a mixed batch: ``lam * loss(logits, y) + (1 - lam) * loss(logits, y[perm])``.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(logits, targets) -> tensor``, e.g. ``torch.nn.CrossEntropyLoss()`` with
        class-index targets or ``torch.nn.BCEWithLogitsLoss()`` with multi-hot targets.
    logits : torch.Tensor
        Model output for the mixed batch, shape ``(B, K)``.
    targets : torch.Tensor
        Targets of the *unmixed* batch: ``(B,)`` int64 class indices, or ``(B, K)`` float
        (multi-hot or soft) targets; first dimension ``B``.
    perm : torch.Tensor
        ``(B,)`` permutation returned by :func:`fmix_batch` (moved to ``targets.device``).
    lam : float
        Mixing weight in [0, 1] returned by :func:`fmix_batch`. ``lam == 1`` returns
        ``loss_fn(logits, targets)`` and ``lam == 0`` returns
        ``loss_fn(logits, targets[perm])`` exactly.

    Returns
    -------
    torch.Tensor
        Whatever ``loss_fn`` returns (a scalar for the default ``reduction='mean'``).

    Raises
    ------
    ValueError
        ``lam`` outside [0, 1] or ``perm`` not of shape ``(B,)``.
    """
    import torch

    lam = _check_lam(lam)
    perm = torch.as_tensor(perm)
    if perm.ndim != 1 or perm.shape[0] != targets.shape[0]:
        raise ConfigError(
            f"perm of shape {tuple(perm.shape)} is not accepted; expected shape "
            f"({targets.shape[0]},), one index per target"
        )
    if lam == 1.0:
        return loss_fn(logits, targets)
    shuffled = targets[perm.to(device=targets.device, dtype=torch.long)]
    if lam == 0.0:
        return loss_fn(logits, shuffled)
    if (isinstance(loss_fn, torch.nn.CrossEntropyLoss) and loss_fn.weight is None
            and loss_fn.reduction == "mean" and targets.ndim == 1 and not targets.is_floating_point()
            and targets.device.type == "cpu" and not bool((targets == loss_fn.ignore_index).any())):
        # Cross-entropy (label smoothing included) is linear in a probability target, so the
        # weighted sum of the two losses is one loss against the mixed one-hot target: one
        # log-softmax and one backward instead of two (about half the cost on CPU).
        mixed = torch.zeros(logits.shape, dtype=logits.dtype, device=logits.device)
        mixed.scatter_(1, targets.view(-1, 1).to(logits.device), lam)
        mixed.scatter_add_(1, shuffled.view(-1, 1).to(logits.device),
                           torch.full((len(targets), 1), 1.0 - lam, dtype=logits.dtype, device=logits.device))
        return loss_fn(logits, mixed)
    return lam * loss_fn(logits, targets) + (1.0 - lam) * loss_fn(logits, shuffled)


class FMix:
    """FMix applied to a batch with probability ``p``.

    Parameters
    ----------
    alpha : float, default 1.0
        Beta distribution parameter, > 0.
    decay_power : float, default 3.0
        Spectral decay exponent, > 0.
    max_soft : float, default 0.0
        Mask softening in [0, 0.5]; 0 = hard mask.
    p : float, default 1.0
        Probability of mixing a given batch, in [0, 1].

    Notes
    -----
    Each call draws one uniform number from ``rng`` for the apply/skip decision (also when
    ``p`` is 0 or 1), then, when applied, the draws of :func:`fmix_batch`.

    Examples
    --------
    >>> fmix = FMix(alpha=1.0, p=0.5)                       # doctest: +SKIP
    >>> rng = np.random.default_rng(0)                      # doctest: +SKIP
    >>> x_mix, perm, lam = fmix(x, rng)                     # doctest: +SKIP
    >>> loss = mixed_loss(criterion, model(x_mix), y, perm, lam)  # doctest: +SKIP
    """

    def __init__(self, alpha: float = 1.0, decay_power: float = 3.0, max_soft: float = 0.0,
                 p: float = 1.0):
        self.alpha = _check_alpha(alpha)
        self.decay_power = _check_decay(decay_power)
        self.max_soft = _check_soft(max_soft)
        self.p = _check_p("p", p)

    def __repr__(self) -> str:
        return (f"FMix(alpha={self.alpha}, decay_power={self.decay_power}, "
                f"max_soft={self.max_soft}, p={self.p})")

    def __call__(self, images: "torch.Tensor",
                 rng: np.random.Generator) -> tuple["torch.Tensor", "torch.Tensor", float]:
        """Mix ``images`` (B, C, H, W) with probability ``p``.

        Returns
        -------
        tuple
            ``(mixed, perm, lam)`` as :func:`fmix_batch`; when skipped, ``(images,
            arange(B), 1.0)`` so :func:`mixed_loss` reduces to the plain loss.
        """
        import torch

        images = _check_images(images)
        rng = _check_rng(rng)
        if rng.random() >= self.p:
            perm = torch.arange(images.shape[0], dtype=torch.long, device=images.device)
            return images, perm, 1.0
        return fmix_batch(images, alpha=self.alpha, decay_power=self.decay_power,
                          max_soft=self.max_soft, rng=rng)


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
