"""What every post-processor shares: input validation (:func:`validate_probs`), the registry
(:data:`POSTPROCESSORS`, :func:`register_postprocessor`), the public entry points
(:func:`smooth`, :func:`smooth_records`, :func:`smooth_many`) and the two simplest methods,
``argmax`` and ``mode``."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..metrics.classification import record_groups
from ..registry import Registry

#: Stage names in column order (same as :data:`sigvision.loaders.base.STAGES`).
STAGE_NAMES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")


N_STAGES = 5
W, N1, N2, N3, REM = range(N_STAGES)








#: Probabilities are floored at this value before taking logs (HMM emissions), so that a
#: model that says exactly 0 cannot veto a stage on its own.
PROB_FLOOR = 1e-10


def validate_probs(probs: Any, *, name: str = "probs") -> np.ndarray:
    """Check one night's probabilities and return them row-normalised.

    Parameters
    ----------
    probs : array_like, shape (n_epochs, 5)
        Per-epoch stage probabilities (or any non-negative scores), columns W, N1, N2,
        N3, REM. Torch tensors and lists are accepted (converted with ``np.asarray``).
    name : str
        How to call the array in error messages.

    Returns
    -------
    ndarray, float64, shape (n_epochs, 5)
        Each row divided by its sum; all-zero rows become uniform (0.2 each).

    Raises
    ------
    ValueError
        If ``probs`` is not numeric, not 2-D, does not have 5 columns, holds NaN or
        infinite values, or holds negative values.
    """
    try:
        arr = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (n_epochs, 5); "
                         f"could not convert {type(probs).__name__}: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != N_STAGES:
        raise ValueError(f"{name} must have shape (n_epochs, 5) with columns "
                         f"{', '.join(STAGE_NAMES)}; got shape {arr.shape}")
    if arr.size == 0:
        return arr.reshape(0, N_STAGES)
    finite = np.isfinite(arr)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise ValueError(f"{name} must be finite; got {arr[r, c]} at epoch {r}, column "
                         f"{STAGE_NAMES[c]}")
    if (arr < 0).any():
        r, c = np.argwhere(arr < 0)[0]
        raise ValueError(f"{name} must be non-negative probabilities; got {arr[r, c]} at "
                         f"epoch {r}, column {STAGE_NAMES[c]}")
    return _normalise_rows(arr)


def _normalise_rows(arr: np.ndarray) -> np.ndarray:
    s = arr.sum(-1, keepdims=True)
    zero = s == 0
    out = np.divide(arr, s, out=np.full_like(arr, 1.0 / N_STAGES), where=~zero)
    return out


def _check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, integer: bool = False) -> float | int:
    """Validate a scalar option; raise ValueError naming it and the accepted range."""
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(
        value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(value)):
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind}; got {value!r}")
    rng = f"{'(' if low_open else '['}{low}, {high}]" if high is not None else f">= {low}"
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be in {rng}; got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be in {rng}; got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class Postprocessor:
    """A registered post-processing method.

    Attributes
    ----------
    name : str
        Registry key (the ``method`` argument of :func:`smooth`).
    func : callable
        If ``batched`` is False: ``func(probs, **options) -> stages`` with ``probs`` of
        shape (n_epochs, 5), validated and row-normalised, and ``stages`` of shape
        (n_epochs,). If ``batched`` is True: ``func(probs, lengths, **options) -> stages``
        with ``probs`` of shape (n_nights, max_epochs, 5) padded after each night's
        ``lengths[i]`` epochs, and ``stages`` of shape (n_nights, max_epochs) whose padded
        part is ignored.
    batched : bool
        Whether ``func`` works on a padded batch of nights.
    options : tuple of str or None
        Keyword options ``func`` accepts (None: any, it takes ``**kwargs``).
    """

    name: str
    func: Callable[..., np.ndarray]
    batched: bool = False
    options: tuple[str, ...] | None = ()

    def __call__(self, probs: Any, **options: Any) -> np.ndarray:
        """Post-process one night; same as ``smooth(probs, self.name, **options)``."""
        return smooth(probs, self.name, **options)


#: Registry of post-processing methods, name -> :class:`Postprocessor`.
POSTPROCESSORS: Registry[Postprocessor] = Registry("post-processing method", "postprocess.method")


def _option_names(func: Callable, n_positional: int) -> tuple[str, ...] | None:
    params = list(inspect.signature(func).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params[n_positional:]
                 if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))


def register_postprocessor(name: str, *, batched: bool = False, replace: bool = False):
    """Decorator adding a post-processing function to :data:`POSTPROCESSORS`.

    Parameters
    ----------
    name : str
        Method name used by :func:`smooth` (non-empty, no whitespace).
    batched : bool
        False: the function takes one night ``(probs (n_epochs, 5), **options)`` and
        returns ``(n_epochs,)`` integer stages. True: it takes a padded batch
        ``(probs (n_nights, max_epochs, 5), lengths (n_nights,), **options)`` and returns
        ``(n_nights, max_epochs)``; :func:`smooth_many` then calls it once per chunk.
    replace : bool
        Allow overwriting an existing method of the same name.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Raises
    ------
    ConfigError
        (a ``ValueError``) If ``name`` is empty, contains whitespace, or is taken and
        ``replace`` is False.
    """
    POSTPROCESSORS.check_name(name, replace=replace)  # refused before the decorated function is seen

    def deco(func: Callable) -> Callable:
        if not callable(func):
            raise ValueError(f"post-processor {name!r} must be callable; got {type(func).__name__}")
        POSTPROCESSORS.register(name, Postprocessor(name, func, bool(batched),
                                                    _option_names(func, 2 if batched else 1)), replace=replace)
        return func

    return deco


def available_postprocessors() -> list[str]:
    """Sorted names of the registered methods."""
    return POSTPROCESSORS.available()


def get_postprocessor(method: str) -> Postprocessor:
    """Look a method up in :data:`POSTPROCESSORS`.

    Raises
    ------
    ConfigError
        (a ``ValueError``) If ``method`` is unknown; the message lists the available
        methods and suggests the closest name.
    """
    return POSTPROCESSORS.get(method)


def _check_options(pp: Postprocessor, options: Mapping[str, Any]) -> None:
    if pp.options is None:
        return
    bad = [k for k in options if k not in pp.options]
    if bad:
        acc = ", ".join(pp.options) or "none"
        raise ValueError(f"method {pp.name!r} got unknown option(s) {', '.join(map(repr, bad))}; "
                         f"accepted: {acc}")


def check_options(method: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if ``method`` is unknown or does not accept every key of ``options``."""
    _check_options(get_postprocessor(method), options)


def _check_output(out: Any, n: int, method: str) -> np.ndarray:
    out = np.asarray(out)
    if out.shape != (n,):
        raise ValueError(f"post-processor {method!r} returned shape {out.shape}; expected ({n},)")
    if out.size and (not np.issubdtype(out.dtype, np.integer) or out.min() < 0 or out.max() >= N_STAGES):
        raise ValueError(f"post-processor {method!r} must return integer stages 0..4; got "
                         f"dtype {out.dtype}, range [{out.min()}, {out.max()}]")
    return out.astype(np.int64, copy=False)


def smooth(probs: Any, method: str = "argmax", **options: Any) -> np.ndarray:
    """Post-process one night's stage probabilities into integer stages.

    Parameters
    ----------
    probs : array_like, shape (n_epochs, 5)
        Probabilities per 30-s epoch, columns W, N1, N2, N3, REM; validated by
        :func:`validate_probs` (rows are renormalised to sum to 1).
    method : str
        A key of :data:`POSTPROCESSORS`: ``"argmax"``, ``"mode"``, ``"rules"``, ``"hmm"``
        or one you registered.
    **options
        Method options, e.g. ``k=3`` (mode); ``rules=(...)``, ``confidence=0.9`` (rules);
        ``hmm=HMMParams``, ``transition_weight=0.4``, ``divide_priors=False``, ``initial="any"`` (hmm).

    Returns
    -------
    ndarray, int64, shape (n_epochs,)
        Stage per epoch, 0 W, 1 N1, 2 N2, 3 N3, 4 REM.

    Raises
    ------
    ValueError
        Unknown method (lists the available ones), unknown option, bad option value, or
        bad ``probs``.
    """
    pp = get_postprocessor(method)
    _check_options(pp, options)
    p = validate_probs(probs)
    n = p.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if pp.batched:
        out = np.asarray(pp.func(p[None], np.array([n], dtype=np.int64), **options))
        if out.ndim != 2 or out.shape[0] != 1 or out.shape[1] < n:
            raise ValueError(f"post-processor {method!r} returned shape {out.shape}; expected (1, {n})")
        out = out[0, :n]
    else:
        out = pp.func(p, **options)
    return _check_output(out, n, method)


def smooth_records(probs: np.ndarray, records: Sequence, method: str = "rules", **options: Any) -> np.ndarray:
    """:func:`smooth` applied to each recording's rows of ``probs`` (n, 5), in their order:
    ``records`` (n,) names the recording of each row (rows of a recording need not be
    contiguous). Returns the (n,) stages."""
    stages = np.zeros(len(records), dtype=np.int64)
    for _, sel in record_groups(records):
        stages[sel] = smooth(probs[sel], method=method, **options)
    return stages


def smooth_many(probs_list: Iterable[Any], method: str = "argmax", *, chunk_size: int = 512,
                **options: Any) -> list[np.ndarray]:
    """Post-process many nights at once (vectorised across nights for batched methods).

    Nights are sorted by length and processed in padded chunks of ``chunk_size`` nights,
    so one numpy operation covers many nights (the HMM's Viterbi recursion runs once per
    time step for a whole chunk).

    Parameters
    ----------
    probs_list : iterable of array_like, each of shape (n_epochs_i, 5)
        One probability array per night (lengths may differ).
    method : str
        A key of :data:`POSTPROCESSORS`.
    chunk_size : int
        Nights per padded batch (>= 1); bounds memory to about
        ``chunk_size * max_epochs * 5 * 8`` bytes per array.
    **options
        Method options, as for :func:`smooth`.

    Returns
    -------
    list of ndarray, int64, shape (n_epochs_i,)
        Stages per night, in input order; identical to ``[smooth(p, method, **options)
        for p in probs_list]``.
    """
    pp = get_postprocessor(method)
    _check_options(pp, options)
    chunk_size = _check_number("chunk_size", chunk_size, low=1, integer=True)
    nights = [validate_probs(p, name=f"probs_list[{i}]") for i, p in enumerate(probs_list)]
    if not pp.batched:
        return [_check_output(pp.func(p, **options), p.shape[0], method) if p.shape[0]
                else np.zeros(0, dtype=np.int64) for p in nights]
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(nights)
    lengths = np.array([p.shape[0] for p in nights], dtype=np.int64)
    order = [i for i in np.argsort(-lengths, kind="stable") if lengths[i] > 0]
    for start in range(0, len(order), chunk_size):
        idx = order[start:start + chunk_size]
        lens = lengths[idx]
        t_max = int(lens.max())
        batch = np.full((len(idx), t_max, N_STAGES), 1.0 / N_STAGES)
        for j, i in enumerate(idx):
            batch[j, :lens[j]] = nights[i]
        res = np.asarray(pp.func(batch, lens, **options))
        if res.shape != (len(idx), t_max):
            raise ValueError(f"post-processor {method!r} returned shape {res.shape}; "
                             f"expected {(len(idx), t_max)}")
        for j, i in enumerate(idx):
            out[i] = _check_output(res[j, :lens[j]], int(lens[j]), method)
    return out


def _valid_mask(lengths: np.ndarray, t_max: int) -> np.ndarray:
    return np.arange(t_max)[None, :] < np.asarray(lengths)[:, None]


@register_postprocessor("argmax", batched=True)
def _argmax_batch(probs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Identity baseline: the most probable stage per epoch (ties -> lowest stage index)."""
    return probs.argmax(-1)


def mode_filter(labels: np.ndarray, lengths: np.ndarray | None = None, k: int = 3) -> np.ndarray:
    """Centred ``k``-epoch mode (majority) filter of integer labels.

    Parameters
    ----------
    labels : ndarray of int, shape (n_epochs,) or (n_nights, max_epochs)
        Stages 0..4 (padding after ``lengths[i]`` is ignored).
    lengths : ndarray of int, shape (n_nights,), optional
        Valid epochs per night (default: all).
    k : int
        Odd window length >= 1, in epochs; ``k=1`` is the identity. Windows are cut at the
        night's edges.

    Returns
    -------
    ndarray, int64, same shape as ``labels``
        The most frequent stage in each window. Ties keep the centre epoch's stage if it
        is among the tied ones, else the lowest stage index.
    """
    k = _check_number("k", k, low=1, integer=True)
    if k % 2 == 0:
        raise ValueError(f"k must be an odd window length (1, 3, 5, ...); got {k}")
    lab = np.asarray(labels)
    one = lab.ndim == 1
    lab2 = lab[None] if one else lab
    b, t_max = lab2.shape
    lengths = np.full(b, t_max) if lengths is None else np.asarray(lengths)
    valid = _valid_mask(lengths, t_max)
    onehot = ((lab2[..., None] == np.arange(N_STAGES)) & valid[..., None]).astype(np.int32)
    h = k // 2
    cs = np.zeros((b, t_max + 1, N_STAGES), dtype=np.int32)
    np.cumsum(onehot, axis=1, out=cs[:, 1:])
    t = np.arange(t_max)
    counts = cs[:, np.minimum(t + h + 1, t_max)] - cs[:, np.maximum(t - h, 0)]
    out = (2 * counts + onehot).argmax(-1)
    out = np.where(valid, out, lab2).astype(np.int64)
    return out[0] if one else out


def n3_by_epoch(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Where smoothed ``labels`` say N2 or N3, the epoch's own probabilities choose between
    the two (N3 when ``probs[N3] > probs[N2]``); other stages are left as they are.

    The manual scores N3 epoch by epoch (>= 20 % of the epoch slow waves; it has continuation
    rules for N2 and R, none for N3), and human scorers alternate N2 and N3 where slow waves
    hover around that threshold: a smoother may decide where deep NREM sleep lies, not
    which of the two each of its epochs is. Returns a new array."""
    out = np.array(labels, dtype=np.int64, copy=True)
    p = np.asarray(probs)
    deep = (out == N2) | (out == N3)
    out[deep] = np.where(p[..., N3][deep] > p[..., N2][deep], N3, N2)
    return out


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be true or false; got {value!r}")
    return bool(value)


@register_postprocessor("mode", batched=True)
def _mode_batch(probs: np.ndarray, lengths: np.ndarray, k: int = 3, n3_per_epoch: bool = True) -> np.ndarray:
    """``k``-epoch mode filter of the argmax labels (see :func:`mode_filter`); with
    ``n3_per_epoch`` (default) N2 or N3 comes from each epoch's own probabilities
    (:func:`n3_by_epoch`), as in the rules and the HMM."""
    out = mode_filter(probs.argmax(-1), lengths, k)
    return n3_by_epoch(out, probs) if _check_flag("n3_per_epoch", n3_per_epoch) else out
