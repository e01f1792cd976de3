"""FMix (Harris et al. 2020, arXiv 2002.12047), written from the paper: a binary mask from a
thresholded low-frequency random field (spectral decay ``decay_power``), mixing a batch with a
permutation of itself in the mask's proportion ``lam`` ~ Beta(alpha, alpha), and the loss of a
mixed batch."""
from __future__ import annotations

import functools
import math
import numbers
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError
from .image import _check_p, _check_rng, _real

__all__ = ["sample_fmix_mask", "fmix_batch", "mixed_loss", "FMix"]

if TYPE_CHECKING:  # pragma: no cover - typing only; torch is imported where a tensor is made
    import torch


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
