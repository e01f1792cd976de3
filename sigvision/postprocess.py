"""Post-processing of per-epoch sleep-stage probabilities into a hypnogram.

One night is an array ``probs`` of shape ``(n_epochs, 5)``: one row per 30-s epoch, columns
in :data:`sigvision.loaders.base.STAGES` order (W, N1, N2, N3, REM). A post-processor
turns it into integer stages of shape ``(n_epochs,)`` in the same order (0 W ... 4 REM)::

    from sigvision.postprocess import smooth, smooth_many
    stages = smooth(probs, method="hmm")
    many = smooth_many([probs_a, probs_b], method="rules", confidence=0.9)

Methods live in the registry :data:`POSTPROCESSORS` (add your own with
:func:`register_postprocessor`):

``"argmax"``
    The identity baseline: the most probable stage of every epoch.
``"mode"``
    A centred ``k``-epoch majority (mode) filter over the argmax labels (default ``k=3``).
``"rules"``
    The scorer's context rules (:data:`RULES`), each switchable, each grounded in the AASM
    Manual v2.6 or the sleep-medicine literature (see each ``rule_*`` function). Epochs the
    model is confident about (max probability >= ``confidence``) are never changed.
``"hmm"``
    Viterbi decoding with a learned stage-transition matrix (:class:`HMMParams`; the
    shipped ``resources/hmm/sleep_edf_dod_v1.json`` by default), the model's probabilities
    as emissions and transitions weighted 0.4 (:data:`HMM_OPTIONS`), starting from any
    stage (a recording need not begin at lights-off: naps, excerpts). This is the variant
    that did not make a good stager worse on real outputs (YASA's probabilities on real
    EEG excerpts); the textbook decoder (priors divided out, full-weight transitions,
    night-start distribution) is ``divide_priors=True, transition_weight=1,
    initial="night"``.
``"hmm_robust"``
    The name of the earlier safe variant, kept for configs that use it: the same decoder
    as ``"hmm"`` with the night-start initial distribution.

Input rules (every method): ``probs`` must be 2-D with 5 columns, finite and
non-negative. Rows need not sum to 1: each row is divided by its sum; an all-zero row
carries no evidence and is treated as uniform (0.2 each). Zero epochs give an empty
result.

Everything here is a function of arrays except :func:`save_hmm`, :func:`load_hmm` and
:func:`load_shipped_hmm`, which read or write the JSON transition-model files.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .errors import InputFileError
from .metrics import record_groups
from .registry import Registry

__all__ = [
    "STAGE_NAMES", "N_STAGES", "W", "N1", "N2", "N3", "REM",
    "Postprocessor", "POSTPROCESSORS", "register_postprocessor", "get_postprocessor",
    "available_postprocessors", "check_options", "validate_probs", "smooth", "smooth_records", "smooth_many",
    "mode_filter", "RULES", "DEFAULT_RULES", "RULE_FUNCTIONS", "apply_rules",
    "rule_sleep_onset_rem", "rule_no_wake_to_n3", "rule_rem_continuity", "rule_n2_continuity",
    "rule_isolated_epoch",
    "HMMParams", "fit_hmm", "viterbi", "hmm_decode", "save_hmm", "load_hmm", "load_shipped_hmm",
    "SHIPPED_HMM", "HMM_OPTIONS", "ROBUST_HMM_OPTIONS", "PROB_FLOOR",
]

#: Stage names in column order (same as :data:`sigvision.loaders.base.STAGES`).
STAGE_NAMES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
N_STAGES = 5
W, N1, N2, N3, REM = range(N_STAGES)

#: File name of the shipped transition model under ``sigvision/resources/hmm``.
SHIPPED_HMM = "sleep_edf_dod_v1.json"
_HMM_FORMAT = "sigvision-hmm"
_HMM_FORMAT_VERSION = 1
#: Probabilities are floored at this value before taking logs (HMM emissions), so that a
#: model that says exactly 0 cannot veto a stage on its own.
PROB_FLOOR = 1e-10


# --------------------------------------------------------------------------- validation
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


# --------------------------------------------------------------------------- registry
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


# --------------------------------------------------------------------------- public API
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


# --------------------------------------------------------------------------- argmax / mode
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


@register_postprocessor("mode", batched=True)
def _mode_batch(probs: np.ndarray, lengths: np.ndarray, k: int = 3) -> np.ndarray:
    """Plain ``k``-epoch mode filter of the argmax labels (see :func:`mode_filter`)."""
    return mode_filter(probs.argmax(-1), lengths, k)


# --------------------------------------------------------------------------- rules
def _shift_prev(lab: np.ndarray) -> np.ndarray:
    out = np.full_like(lab, -1)
    out[:, 1:] = lab[:, :-1]
    return out


def _fill_gaps(labels: np.ndarray, target: int, fillable: Callable[[np.ndarray], np.ndarray],
               max_gap: int) -> None:
    """Relabel runs of 1..max_gap fillable epochs enclosed by ``target`` on both sides."""
    t_max = labels.shape[1]
    for g in range(1, max_gap + 1):
        if t_max < g + 2:
            break
        ok = (labels[:, :t_max - g - 1] == target) & (labels[:, g + 1:] == target)
        can = fillable(labels)
        for j in range(g):
            ok &= can[:, 1 + j:t_max - g + j]
        bb, tt = np.nonzero(ok)
        for j in range(g):
            labels[bb, tt + 1 + j] = target


def rule_sleep_onset_rem(labels: np.ndarray, probs: np.ndarray, eligible: np.ndarray, *,
                         onset_window: int = 30, onset_run: int = 3, **_: Any) -> np.ndarray:
    """Demote uncertain REM at sleep onset to the most probable non-REM stage.

    Sleep onset is the first epoch of the first run of ``onset_run`` consecutive sleep
    epochs (N1, N2, N3 or REM); uncertain REM epochs before ``onset + onset_window``
    epochs are relabelled ``argmax(probs[W..N3])``. Assumes the night starts before
    sleep onset (a full PSG); switch the rule off for recordings that start asleep.

    Source: the AASM Manual v2.6 defines sleep onset (first epoch of any stage other than
    W) and REM latency (sleep onset to the first epoch of stage R) among the parameters
    to report (chapter II, "Parameters to be reported"); it does not forbid R at sleep
    onset. Sleep-medicine literature: healthy adults enter sleep through NREM and the
    first REM period typically comes some 70-100 min after sleep onset (Carskadon &
    Dement, "Normal human sleep: an overview", Principles and Practice of Sleep
    Medicine); a sleep-onset REM period (SOREMP, REM within 15 min of sleep onset) is a
    diagnostic marker of narcolepsy (ICSD-3, AASM 2014) and rare otherwise. In the 206
    shipped Sleep-EDF/DOD nights with REM the REM latency is 18 min at the shortest and
    104 min at the median, so ``onset_window=30`` epochs (15 min, the SOREMP definition)
    is conservative.

    Parameters
    ----------
    labels : ndarray, int64, shape (n_nights, max_epochs)
        Current stages (-1 on padding); modified in place.
    probs : ndarray, float64, shape (n_nights, max_epochs, 5)
    eligible : ndarray, bool, shape (n_nights, max_epochs)
        Epochs the rules may change (valid and not confident).
    onset_window : int
        Epochs after sleep onset in which REM is implausible (default 30 = 15 min).
    onset_run : int
        Consecutive sleep epochs that define sleep onset (default 3).

    Returns
    -------
    ndarray
        ``labels``.
    """
    t_max = labels.shape[1]
    if t_max < onset_run:
        return labels
    sleep = (labels >= N1).astype(np.int32)
    cs = np.zeros((labels.shape[0], t_max + 1), dtype=np.int32)
    np.cumsum(sleep, axis=1, out=cs[:, 1:])
    full = (cs[:, onset_run:] - cs[:, :-onset_run]) == onset_run  # run starting at t
    has = full.any(1)
    onset = full.argmax(1)
    m = ((np.arange(t_max)[None] < (onset + onset_window)[:, None]) & has[:, None]
         & (labels == REM) & eligible)
    if m.any():
        labels[m] = probs[m][:, :REM].argmax(-1)
    return labels


def rule_no_wake_to_n3(labels: np.ndarray, probs: np.ndarray, eligible: np.ndarray,
                       **_: Any) -> np.ndarray:
    """Uncertain N3 directly after W becomes the most probable of W, N1, N2.

    Repeated until no W -> uncertain N3 step is left (a relabelled epoch can expose the
    next one).

    Source: sleep is entered through N1 and deepens through N2 before slow-wave sleep
    (Carskadon & Dement, Principles and Practice of Sleep Medicine); the AASM Manual v2.6
    (IV, "Scoring Stage N3") scores N3 from >= 20 % slow-wave activity, which develops
    over minutes of NREM sleep, and its N1/N2 rules (IV, "Scoring Stage N1", "Scoring
    Stage N2") describe the W -> N1 -> N2 entry. The manual has no explicit W -> N3 ban;
    the rule is the empirical fact: the shipped human hypnograms (207 nights) hold 9 W ->
    N3 transitions among 66,852 transitions out of W (0.01 %).

    Parameters
    ----------
    labels, probs, eligible
        As in :func:`rule_sleep_onset_rem`.

    Returns
    -------
    ndarray
        ``labels`` (modified in place).
    """
    for _ in range(labels.shape[1]):
        m = (labels == N3) & (_shift_prev(labels) == W) & eligible
        if not m.any():
            break
        labels[m] = probs[m][:, :N3].argmax(-1)
    return labels


def rule_rem_continuity(labels: np.ndarray, probs: np.ndarray, eligible: np.ndarray, *,
                        support: float = 0.15, max_gap: int = 2, arousal_threshold: float = 0.2,
                        **_: Any) -> np.ndarray:
    """Uncertain N1/N2 runs (<= ``max_gap`` epochs) between REM epochs become REM.

    A gap epoch is filled only if REM keeps some support (``probs[REM] >= support``) and
    nothing arousal-like happens in it (``probs[W] < arousal_threshold``); W and N3
    never get bridged.

    Source: AASM Manual v2.6, IV "Scoring Stage R": stage R continues to be scored, even
    without rapid eye movements, in epochs following definite R while the EEG stays
    low-amplitude mixed-frequency without K complexes or spindles and chin tone stays low;
    R ends at a transition to W or N3, at an arousal or a major body movement followed by
    slow eye movements (then N1), or at K complexes/spindles without REMs (then N2). This
    is the manual's form of the R&K "smoothing" of REM periods (Rechtschaffen & Kales
    1968). The model's N1/N2 between two R epochs is kept when it is confident (a real
    spindle/K-complex epoch) or when W probability signals an arousal.

    Parameters
    ----------
    labels, probs, eligible
        As in :func:`rule_sleep_onset_rem`.
    support : float
        Minimum REM probability of a gap epoch.
    max_gap : int
        Longest run of epochs bridged.
    arousal_threshold : float
        W probability at or above which an epoch counts as arousal-like.

    Returns
    -------
    ndarray
        ``labels`` (modified in place).
    """
    base = eligible & (probs[..., REM] >= support) & (probs[..., W] < arousal_threshold)
    _fill_gaps(labels, REM, lambda lab: base & ((lab == N1) | (lab == N2)), max_gap)
    return labels


def rule_n2_continuity(labels: np.ndarray, probs: np.ndarray, eligible: np.ndarray, *,
                       support: float = 0.15, max_gap: int = 2, arousal_threshold: float = 0.2,
                       **_: Any) -> np.ndarray:
    """Uncertain N1 runs (<= ``max_gap`` epochs) inside N2 become N2.

    A gap epoch is filled only if N2 keeps some support (``probs[N2] >= support``) and it
    is not arousal-like (``probs[W] < arousal_threshold``).

    Source: AASM Manual v2.6, IV "Scoring Stage N2": epochs of low-amplitude
    mixed-frequency EEG without K complexes or sleep spindles continue to be scored N2
    when they follow N2 and no arousal intervenes; N2 ends at a transition to W, an
    arousal (then N1 until a K complex/spindle returns), a major body movement followed by
    slow eye movements, or a transition to N3 or R. A model that sees no spindle in an
    epoch tends to say N1 there; the continuation rule says N2 unless something
    arousal-like happened.

    Parameters
    ----------
    labels, probs, eligible
        As in :func:`rule_sleep_onset_rem`.
    support, max_gap, arousal_threshold
        As in :func:`rule_rem_continuity`, for N2.

    Returns
    -------
    ndarray
        ``labels`` (modified in place).
    """
    base = eligible & (probs[..., N2] >= support) & (probs[..., W] < arousal_threshold)
    _fill_gaps(labels, N2, lambda lab: base & (lab == N1), max_gap)
    return labels


def rule_isolated_epoch(labels: np.ndarray, probs: np.ndarray, eligible: np.ndarray, *,
                        support: float = 0.15, **_: Any) -> np.ndarray:
    """A single uncertain epoch between two epochs of the same stage follows them.

    Applied only if that stage has ``probs[stage] >= support`` in the middle epoch.
    Updated in two interleaved passes (odd, then even epochs) so that alternating
    patterns resolve the way a left-to-right scorer would.

    Source: the manual scores stages in context of the neighbouring epochs through its
    continuation rules (AASM Manual v2.6, IV "Scoring Stage N2" and "Scoring Stage R":
    a stage carries on into the next epoch unless an event ends it), inherited from the
    R&K "smoothing" rules (Rechtschaffen & Kales 1968). Stage bouts of a single epoch are
    uncommon in human scoring (2.6 % of the shipped human-scored epochs are a single
    epoch between two epochs of another, identical stage), while single-epoch errors
    are the most common error of epoch-wise classifiers; the ``support`` floor and the
    confidence gate keep real one-epoch events (e.g. a confident W) intact.

    Parameters
    ----------
    labels, probs, eligible
        As in :func:`rule_sleep_onset_rem`.
    support : float
        Minimum probability of the neighbours' stage in the middle epoch.

    Returns
    -------
    ndarray
        ``labels`` (modified in place).
    """
    b, t_max = labels.shape
    if t_max < 3:
        return labels
    for parity in (1, 2):
        s = labels[:, :-2]
        mid = labels[:, 1:-1]
        cond = (s == labels[:, 2:]) & (mid != s) & (s >= 0) & eligible[:, 1:-1]
        cond[:, (parity - 1)::2] = False  # parity 1: epochs 1, 3, 5...; parity 2: 2, 4, ...
        bb, tt = np.nonzero(cond)
        if bb.size:
            target = s[bb, tt]
            keep = probs[bb, tt + 1, target] >= support
            labels[bb[keep], tt[keep] + 1] = target[keep]
    return labels


#: Rule name -> function, in the order :func:`apply_rules` runs them.
RULE_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "sleep_onset_rem": rule_sleep_onset_rem,
    "no_wake_to_n3": rule_no_wake_to_n3,
    "rem_continuity": rule_rem_continuity,
    "n2_continuity": rule_n2_continuity,
    "isolated_epoch": rule_isolated_epoch,
}
#: Names of the available context rules.
RULES: tuple[str, ...] = tuple(RULE_FUNCTIONS)
#: Rules applied by ``method="rules"`` when none are named.
DEFAULT_RULES: tuple[str, ...] = RULES


def apply_rules(probs: np.ndarray, lengths: np.ndarray | None = None, *,
                rules: Sequence[str] | None = None, confidence: float = 0.9,
                support: float = 0.15, max_gap: int = 2, arousal_threshold: float = 0.2,
                onset_window: int = 30, onset_run: int = 3) -> np.ndarray:
    """Argmax stages corrected by the context rules (vectorised over nights).

    Parameters
    ----------
    probs : ndarray, float, shape (n_epochs, 5) or (n_nights, max_epochs, 5)
        Row-normalised probabilities (padding after ``lengths[i]`` is ignored).
    lengths : ndarray of int, shape (n_nights,), optional
        Valid epochs per night (default: all).
    rules : sequence of str, optional
        Rules to apply, any of :data:`RULES`; they always run in :data:`RULES` order.
        Default :data:`DEFAULT_RULES` (all); ``()`` gives plain argmax.
    confidence : float in (0, 1]
        Epochs whose maximum probability is >= ``confidence`` are never changed by any
        rule (default 0.9).
    support : float in [0, 1]
        Minimum probability of the stage a continuity/isolated-epoch rule switches to.
    max_gap : int >= 1
        Longest run of epochs the REM and N2 continuity rules bridge.
    arousal_threshold : float in [0, 1]
        W probability that marks an epoch as arousal-like (ends REM/N2 continuity).
    onset_window : int >= 0
        Epochs after sleep onset in which uncertain REM is demoted.
    onset_run : int >= 1
        Consecutive sleep epochs that define sleep onset.

    Returns
    -------
    ndarray, int64, shape (n_epochs,) or (n_nights, max_epochs)
        Stages 0..4 (-1 on padding).

    Notes
    -----
    Rules, in the order they run (each documented with its source on its function):

    ``sleep_onset_rem``  (:func:`rule_sleep_onset_rem`)
        uncertain REM within ``onset_window`` epochs of sleep onset -> best non-REM stage.
    ``no_wake_to_n3``  (:func:`rule_no_wake_to_n3`)
        uncertain N3 right after W -> best of W, N1, N2.
    ``rem_continuity``  (:func:`rule_rem_continuity`)
        <= ``max_gap`` uncertain N1/N2 epochs between REM epochs -> REM, unless arousal-like.
    ``n2_continuity``  (:func:`rule_n2_continuity`)
        <= ``max_gap`` uncertain N1 epochs inside N2 -> N2, unless arousal-like.
    ``isolated_epoch``  (:func:`rule_isolated_epoch`)
        one uncertain epoch between two epochs of the same stage -> that stage.

    Only epochs with ``max(probs) < confidence`` are ever relabelled, so confident
    predictions pass through unchanged whatever rules are on. The default thresholds were
    chosen on the development split of ``benchmarks/postprocess_gain.py``; the result is
    not sensitive to them (confidence 0.8-0.95, max_gap 1-3, arousal_threshold 0.1-0.3
    change the mean kappa gain by < 0.005 there).
    """
    if rules is None:
        rules = DEFAULT_RULES
    if isinstance(rules, str):
        rules = (rules,)
    rules = tuple(rules)
    unknown = [r for r in rules if r not in RULE_FUNCTIONS]
    if unknown:
        msg = f"unknown rule(s) {', '.join(map(repr, unknown))}; available: {', '.join(RULES)}"
        close = difflib.get_close_matches(str(unknown[0]), RULES, n=1, cutoff=0.5)
        raise ValueError(msg + (f" (did you mean {close[0]!r}?)" if close else ""))
    confidence = _check_number("confidence", confidence, low=0.0, high=1.0, low_open=True)
    params = {
        "support": _check_number("support", support, low=0.0, high=1.0),
        "max_gap": _check_number("max_gap", max_gap, low=1, integer=True),
        "arousal_threshold": _check_number("arousal_threshold", arousal_threshold, low=0.0, high=1.0),
        "onset_window": _check_number("onset_window", onset_window, low=0, integer=True),
        "onset_run": _check_number("onset_run", onset_run, low=1, integer=True),
    }
    p = np.asarray(probs, dtype=np.float64)
    one = p.ndim == 2
    p3 = p[None] if one else p
    b, t_max, _ = p3.shape
    lengths = np.full(b, t_max) if lengths is None else np.asarray(lengths)
    valid = _valid_mask(lengths, t_max)
    labels = np.where(valid, p3.argmax(-1), -1).astype(np.int64)
    eligible = valid & (p3.max(-1) < confidence)
    for name in RULES:
        if name in rules:
            RULE_FUNCTIONS[name](labels, p3, eligible, **params)
    return labels[0] if one else labels


@register_postprocessor("rules", batched=True)
def _rules_batch(probs: np.ndarray, lengths: np.ndarray, rules: Sequence[str] | None = None,
                 confidence: float = 0.9, support: float = 0.15, max_gap: int = 2,
                 arousal_threshold: float = 0.2, onset_window: int = 30,
                 onset_run: int = 3) -> np.ndarray:
    """Context rules; see :func:`apply_rules` for the options."""
    return apply_rules(probs, lengths, rules=rules, confidence=confidence, support=support,
                       max_gap=max_gap, arousal_threshold=arousal_threshold,
                       onset_window=onset_window, onset_run=onset_run)


# --------------------------------------------------------------------------- HMM
def _as_matrix(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array of shape {shape}; got {type(value).__name__}") from None
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (stages {', '.join(STAGE_NAMES)}); got {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities; got {arr.tolist()}")
    sums = arr.sum(-1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1 (per row for a matrix); got sums {np.round(sums, 6).tolist()}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class HMMParams:
    """A stage-transition model for Viterbi decoding.

    Attributes
    ----------
    transition : ndarray, float64, shape (5, 5)
        ``transition[i, j]`` = P(stage j at epoch t+1 | stage i at epoch t); rows sum to 1.
    initial : ndarray, float64, shape (5,)
        Distribution of the first scored epoch of a night; sums to 1.
    priors : ndarray, float64, shape (5,)
        Stage frequencies over all scored epochs; sums to 1. The HMM divides the model's
        posteriors by these to get scaled likelihoods.
    counts : dict or None
        Raw counts the probabilities came from (``transition`` (5, 5), ``initial`` (5,),
        ``stages`` (5,), ``n_hypnograms``, ``n_segments``, ``n_epochs``), when known.
    meta : dict
        Free-form provenance (training data, pseudocount, ...), saved with the model.
    """

    transition: np.ndarray
    initial: np.ndarray
    priors: np.ndarray
    counts: dict | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transition", _as_matrix("transition", self.transition, (5, 5)))
        object.__setattr__(self, "initial", _as_matrix("initial", self.initial, (5,)))
        object.__setattr__(self, "priors", _as_matrix("priors", self.priors, (5,)))
        if self.counts is not None and not isinstance(self.counts, dict):
            raise ValueError(f"counts must be a dict or None; got {type(self.counts).__name__}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta must be a dict; got {type(self.meta).__name__}")


def _check_hypnogram(h: Any, i: int) -> np.ndarray:
    arr = np.asarray(h)
    if arr.ndim != 1:
        raise ValueError(f"hypnograms[{i}] must be 1-D (n_epochs,); got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) \
                or not np.all(arr == np.round(arr)):
            raise ValueError(f"hypnograms[{i}] must hold integer stages; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < -1) | (arr >= N_STAGES)
    if bad.any():
        raise ValueError(f"hypnograms[{i}] holds {arr[bad][0]} at epoch {np.flatnonzero(bad)[0]}; "
                         f"accepted: -1 (unscored) or 0..4 ({', '.join(STAGE_NAMES)})")
    return arr


def fit_hmm(hypnograms: Iterable[Any], pseudocount: float = 1.0, *,
            meta: Mapping[str, Any] | None = None) -> HMMParams:
    """Learn transition matrix, initial distribution and stage priors from hypnograms.

    Parameters
    ----------
    hypnograms : iterable of array_like of int, each of shape (n_epochs_i,)
        Human-scored nights, stages 0..4; ``-1`` marks unscored epochs and breaks the
        sequence there (no transition is counted into or out of it).
    pseudocount : float >= 0
        Added to every transition, initial and stage count (Laplace smoothing), so no
        transition gets probability 0 (default 1).
    meta : mapping, optional
        Provenance saved in :attr:`HMMParams.meta` (``pseudocount`` is added).

    Returns
    -------
    HMMParams
        ``transition[i, j] = (C[i, j] + a) / sum_j (C[i, j] + a)`` with ``C`` the count of
        i -> j steps between consecutive scored epochs; ``initial`` from the first scored
        epoch of each night (segments after an unscored gap do not count: they are not
        the start of a recording); ``priors`` from all scored epochs. Raw counts are in
        :attr:`HMMParams.counts`.

    Raises
    ------
    ValueError
        No hypnograms, a hypnogram that is not 1-D integers in -1..4, a negative
        pseudocount, or a stage row with no counts at all and ``pseudocount == 0``.
    """
    pseudocount = _check_number("pseudocount", pseudocount, low=0.0)
    trans = np.zeros((N_STAGES, N_STAGES), dtype=np.int64)
    init = np.zeros(N_STAGES, dtype=np.int64)
    stages = np.zeros(N_STAGES, dtype=np.int64)
    n_hyp = n_seg = 0
    for i, h in enumerate(hypnograms):
        arr = _check_hypnogram(h, i)
        n_hyp += 1
        scored = arr >= 0
        if not scored.any():
            continue
        init[arr[scored][0]] += 1
        stages += np.bincount(arr[scored], minlength=N_STAGES)
        a, b = arr[:-1], arr[1:]
        ok = (a >= 0) & (b >= 0)
        np.add.at(trans, (a[ok], b[ok]), 1)
        n_seg += int(scored[0]) + int(np.sum(scored[1:] & ~scored[:-1]))
    if n_hyp == 0:
        raise ValueError("fit_hmm needs at least one hypnogram; got none")
    t = trans + pseudocount
    rows = t.sum(1, keepdims=True)
    if (rows == 0).any() or init.sum() + pseudocount == 0 or stages.sum() + pseudocount == 0:
        empty = [STAGE_NAMES[k] for k in np.flatnonzero(rows[:, 0] == 0)]
        raise ValueError(f"no transitions observed out of stage(s) {', '.join(empty) or '(any)'}; "
                         "use pseudocount > 0 or add hypnograms")
    counts = {"transition": trans.tolist(), "initial": init.tolist(), "stages": stages.tolist(),
              "n_hypnograms": n_hyp, "n_segments": n_seg, "n_epochs": int(stages.sum())}
    m = dict(meta or {})
    m["pseudocount"] = pseudocount
    return HMMParams(transition=t / rows, initial=(init + pseudocount) / (init + pseudocount).sum(),
                     priors=(stages + pseudocount) / (stages + pseudocount).sum(), counts=counts, meta=m)


def viterbi(log_emissions: Any, log_trans: Any, log_init: Any,
            lengths: Any = None) -> np.ndarray:
    """Most probable state path of an HMM (max-sum), vectorised over states and nights.

    Maximises ``log_init[s_0] + sum_t log_emissions[t, s_t] + sum_t log_trans[s_{t-1}, s_t]``.
    The loop runs over time; each step is one numpy operation over all nights and all
    (from, to) state pairs. Nights of a batch are sorted by length so finished nights
    drop out of the recursion.

    Parameters
    ----------
    log_emissions : array_like, float, shape (n_epochs, n_states) or (n_nights, max_epochs, n_states)
        Log emission scores; ``-inf`` allowed, NaN and ``+inf`` not.
    log_trans : array_like, float, shape (n_states, n_states)
        ``log_trans[i, j]``: log score of moving from state i to state j.
    log_init : array_like, float, shape (n_states,)
        Log score of the first state.
    lengths : array_like of int, shape (n_nights,), optional
        Valid epochs per night of a batch (default: all ``max_epochs``).

    Returns
    -------
    ndarray, int64, shape (n_epochs,) or (n_nights, max_epochs)
        The best path (ties go to the lowest state index); padding after ``lengths[i]``
        is 0.

    Raises
    ------
    ValueError
        Shapes that do not agree, NaN or ``+inf`` scores, lengths outside 0..max_epochs.
    """
    e = np.asarray(log_emissions, dtype=np.float64)
    a = np.asarray(log_trans, dtype=np.float64)
    pi = np.asarray(log_init, dtype=np.float64)
    one = e.ndim == 2
    if e.ndim not in (2, 3):
        raise ValueError(f"log_emissions must have shape (n_epochs, n_states) or (n_nights, "
                         f"max_epochs, n_states); got {e.shape}")
    e3 = e[None] if one else e
    b, t_max, s = e3.shape
    if a.shape != (s, s) or pi.shape != (s,):
        raise ValueError(f"log_trans must be ({s}, {s}) and log_init ({s},) for {s} states; got "
                         f"{a.shape} and {pi.shape}")
    for nm, arr in (("log_emissions", e3), ("log_trans", a), ("log_init", pi)):
        if np.isnan(arr).any() or np.isposinf(arr).any():
            raise ValueError(f"{nm} must not contain NaN or +inf (use -inf for impossible)")
    if lengths is None:
        lens = np.full(b, t_max, dtype=np.int64)
    else:
        lens = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if lens.shape != (b,) or (lens < 0).any() or (lens > t_max).any():
            raise ValueError(f"lengths must be {b} integers in 0..{t_max}; got {np.asarray(lengths).tolist()}")
    path = np.zeros((b, t_max), dtype=np.int64)
    if t_max == 0 or b == 0:
        return path[0] if one else path
    order = np.argsort(-lens, kind="stable")
    ls = lens[order]
    em = np.ascontiguousarray(e3[order].transpose(1, 0, 2))  # (T, B, S), time-major
    # active[t] = number of nights with length > t (a prefix, since sorted descending)
    active = np.searchsorted(-ls, -np.arange(t_max + 1), side="left")
    ptr = np.zeros((t_max, b, s), dtype=np.int8 if s <= 127 else np.int64)
    best_last = np.zeros(b, dtype=np.int64)
    delta = pi + em[0]
    cand = np.empty((b, s, s))
    for t in range(1, t_max):
        n, n_before = active[t], active[t - 1]  # nights running at t and at t-1
        if n < n_before:  # nights whose last epoch was t-1: remember their best end state
            best_last[n:n_before] = delta[n:n_before].argmax(1)
        if n == 0:
            break
        c = cand[:n]
        np.add(delta[:n, :, None], a, out=c)  # (n, from, to)
        ptr[t, :n] = c.argmax(1)
        delta[:n] = c.max(1) + em[t, :n]
    n_end = active[t_max - 1]
    best_last[:n_end] = delta[:n_end].argmax(1)
    state = np.zeros(b, dtype=np.int64)
    rows = np.arange(b)
    for t in range(t_max - 1, -1, -1):
        n = active[t]
        if n == 0:
            continue
        lo = active[t + 1]  # nights with length == t + 1 end here
        state[lo:n] = best_last[lo:n]
        path[order[:n], t] = state[:n]
        if t > 0:
            state[:n] = ptr[t, rows[:n], state[:n]]
    return path[0] if one else path


def _hmm_log_terms(params: HMMParams, transition_weight: float, divide_priors,
                   initial: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore"):
        log_a = transition_weight * np.log(params.transition)
        log_pi = transition_weight * np.log(params.initial) if initial == "night" else np.zeros(N_STAGES)
        if isinstance(divide_priors, np.ndarray):
            log_prior = np.log(divide_priors)
        else:
            log_prior = np.log(params.priors) if divide_priors else np.zeros(N_STAGES)
    return log_a, log_pi, log_prior


def _check_divide_priors(divide_priors) -> bool | np.ndarray:
    if isinstance(divide_priors, (bool, np.bool_)):
        return bool(divide_priors)
    if divide_priors is None or isinstance(divide_priors, (str, bytes, int, float)):
        raise ValueError(f"divide_priors must be True, False or the stager's 5 training class frequencies "
                         f"(W, N1, N2, N3, REM); got {divide_priors!r}")
    arr = np.asarray(divide_priors, dtype=np.float64)
    if arr.shape != (N_STAGES,) or not np.isfinite(arr).all() or (arr <= 0).any():
        raise ValueError(f"divide_priors as priors must be 5 positive finite numbers (W, N1, N2, N3, REM); "
                         f"got {np.asarray(divide_priors).tolist()}")
    return arr / arr.sum()


#: Options of ``method="hmm"``. Chosen on real outputs (YASA's probabilities on the DREAMS
#: excerpts and on synthetic nights, ``benchmarks/sim_to_real.py`` and
#: ``benchmarks/postprocess_gain.py``): posterior emissions and transition weight 0.4 gave
#: +0.01 to +0.03 kappa on average and no recording with argmax kappa > 0.6 lost more than
#: 0.03, where the textbook decoder lost up to 0.2.
HMM_OPTIONS = {"divide_priors": False, "transition_weight": 0.4, "initial": "any", "sharpen_to": 0.8}


def _sharpen(log_p: np.ndarray, lengths: np.ndarray | None, target: float) -> np.ndarray:
    """Divide each night's log probabilities by a temperature T <= 1 (bisection) so that the
    mean of the renormalised epochs' maximum probability reaches ``target``; nights already
    as confident are left alone. log_p: (n_nights, max_epochs, 5) or (n_epochs, 5)."""
    one = log_p.ndim == 2
    lp = log_p[None] if one else log_p
    b, t_max, _ = lp.shape
    lens = np.full(b, t_max) if lengths is None else np.asarray(lengths).reshape(-1)
    valid = np.arange(t_max)[None, :] < lens[:, None]

    def mean_max(temp):  # temp (b,) -> mean max prob per night
        z = lp / temp[:, None, None]
        z = z - z.max(-1, keepdims=True)
        pm = 1.0 / np.exp(z).sum(-1)  # max prob = exp(0) / sum
        return np.where(valid, pm, 0.0).sum(1) / np.maximum(lens, 1)

    temp = np.ones(b)
    need = mean_max(temp) < target
    if need.any():
        lo, hi = np.full(b, 1e-3), np.ones(b)
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            ok = mean_max(mid) >= target
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        temp = np.where(need, lo, 1.0)
    out = lp / temp[:, None, None]
    return out[0] if one else out


def hmm_decode(probs: np.ndarray, lengths: np.ndarray | None = None, *,
               hmm: HMMParams | None = None, transition_weight: float = HMM_OPTIONS["transition_weight"],
               temperature: float | None = None, divide_priors=HMM_OPTIONS["divide_priors"],
               initial: str = HMM_OPTIONS["initial"], sharpen_to: float | None = HMM_OPTIONS["sharpen_to"]
               ) -> np.ndarray:
    """Viterbi stages from model probabilities and a stage-transition model.

    Emissions are the model's probabilities (floored at :data:`PROB_FLOOR` before the
    log), optionally divided by class priors to give the hybrid-HMM scaled likelihoods
    ``p(stage | x_t) / prior(stage)`` (Bourlard & Morgan 1994).

    Parameters
    ----------
    probs : ndarray, float, shape (n_epochs, 5) or (n_nights, max_epochs, 5)
        Row-normalised probabilities.
    lengths : ndarray of int, shape (n_nights,), optional
        Valid epochs per night of a batch.
    hmm : HMMParams or str or PathLike, optional
        Transition model; default the shipped one (:func:`load_shipped_hmm`). A path is
        read with :func:`load_hmm`; a bare file name that is not a file names a shipped
        model (e.g. ``"sleep_edf_dod_v1.json"``), for use from YAML configs.
    transition_weight : float >= 0
        Power on the transition matrix (and the initial distribution), rows not
        renormalised: the decoded path maximises ``sum log e_t + w * sum log A``. ``w > 1``
        smooths more, ``w < 1`` trusts the classifier more; ``w = 0`` is argmax of the
        emissions. Default 0.4.
    temperature : float > 0, optional
        Alias of ``transition_weight``: dividing the log emissions by a temperature ``T``
        gives the same Viterbi path as ``transition_weight=T``. Give one of the two.
    divide_priors : bool or array_like of 5 floats
        ``False`` (default): posterior emissions. ``True``: divide by ``hmm.priors``, the
        stage frequencies of the *hypnograms* the HMM was fitted on, which is right only
        for a calibrated model trained on that stage mix. An array: the stager's own
        training class frequencies (W, N1, N2, N3, REM), the correct divisor for a
        calibrated stager (e.g. from its prepared index's stage counts).
    initial : ``"any"`` or ``"night"``
        ``"any"`` (default): the first epoch may be any stage (no start prior), right for
        naps, excerpts and recordings cut anywhere. ``"night"``: the learned distribution
        of the first scored epoch of whole nights (mostly wake), for recordings that start
        at lights-off.
    sharpen_to : float in (0.2, 1) or None
        An under-confident stager (label smoothing, model averaging, a model unsure on
        unfamiliar recordings) gives flat probabilities whose argmax is still informative;
        the transitions would then overrule it everywhere (a whole excerpt decoded as N2).
        Each recording's log probabilities are divided by a temperature <= 1 until the mean
        maximum probability reaches ``sharpen_to`` (default 0.8, about what a calibrated
        stager reaches); recordings already that confident are unchanged. ``None``
        disables it. It never changes an epoch's argmax, only how much it weighs against
        the transitions.

    Notes
    -----
    The textbook setting (``divide_priors=True, transition_weight=1, initial="night"``)
    assumes a calibrated classifier whose errors are independent across epochs. Real
    stagers break both: their class weighting and smoothing over neighbouring epochs make
    the prior division boost rare stages such as N1 in every epoch, and that accumulates
    over runs; on YASA's probabilities for real EEG excerpts it lowered kappa on every
    excerpt (up to -0.2), and a night-start prior pulls an excerpt that begins in sleep
    towards wake. The defaults keep the classifier's posteriors and weak transitions.
    ``benchmarks/postprocess_gain.py`` and ``benchmarks/sim_to_real.py`` measure both.

    Returns
    -------
    ndarray, int64, shape (n_epochs,) or (n_nights, max_epochs)
        Stages 0..4.
    """
    if hmm is None:
        hmm = load_shipped_hmm()
    elif isinstance(hmm, (str, os.PathLike)):  # from a config file: a model file or a shipped name
        hmm = load_hmm(hmm) if Path(hmm).is_file() else load_shipped_hmm(str(hmm))
    if not isinstance(hmm, HMMParams):
        raise ValueError(f"hmm must be an HMMParams (see fit_hmm / load_hmm); got {type(hmm).__name__}")
    if temperature is not None:
        if transition_weight != HMM_OPTIONS["transition_weight"] and transition_weight != temperature:
            raise ValueError(f"give transition_weight or its alias temperature, not both "
                             f"(got {transition_weight!r} and {temperature!r})")
        transition_weight = temperature
    w = _check_number("transition_weight", transition_weight, low=0.0)
    divide_priors = _check_divide_priors(divide_priors)
    if initial not in ("any", "night"):
        raise ValueError(f"initial must be 'any' (a recording may start in any stage) or 'night' (it starts "
                         f"at lights-off); got {initial!r}")
    if sharpen_to is not None:
        sharpen_to = _check_number("sharpen_to", sharpen_to, low=0.2, high=0.999)
    log_a, log_pi, log_prior = _hmm_log_terms(hmm, w, divide_priors, initial)
    p = np.asarray(probs, dtype=np.float64)
    log_p = np.log(np.maximum(p, PROB_FLOOR))
    if sharpen_to is not None and p.size:
        log_p = _sharpen(log_p, lengths, sharpen_to)
    return viterbi(log_p - log_prior, log_a, log_pi, lengths)


@register_postprocessor("hmm", batched=True)
def _hmm_batch(probs: np.ndarray, lengths: np.ndarray, hmm: HMMParams | None = None,
               transition_weight: float = HMM_OPTIONS["transition_weight"], temperature: float | None = None,
               divide_priors=HMM_OPTIONS["divide_priors"], initial: str = HMM_OPTIONS["initial"],
               sharpen_to: float | None = HMM_OPTIONS["sharpen_to"]) -> np.ndarray:
    """Viterbi decoding; see :func:`hmm_decode` for the options."""
    return hmm_decode(probs, lengths, hmm=hmm, transition_weight=transition_weight,
                      temperature=temperature, divide_priors=divide_priors, initial=initial,
                      sharpen_to=sharpen_to)


#: Options of ``method="hmm_robust"`` (the safe variant before it became ``"hmm"``'s
#: default; it keeps the night-start distribution).
ROBUST_HMM_OPTIONS = {"divide_priors": False, "transition_weight": 0.4, "initial": "night", "sharpen_to": 0.8}


@register_postprocessor("hmm_robust", batched=True)
def _hmm_robust_batch(probs: np.ndarray, lengths: np.ndarray, hmm: HMMParams | None = None,
                      transition_weight: float = ROBUST_HMM_OPTIONS["transition_weight"],
                      temperature: float | None = None,
                      divide_priors=ROBUST_HMM_OPTIONS["divide_priors"],
                      initial: str = ROBUST_HMM_OPTIONS["initial"],
                      sharpen_to: float | None = ROBUST_HMM_OPTIONS["sharpen_to"]) -> np.ndarray:
    """``"hmm"`` with the night-start initial distribution; see :func:`hmm_decode`."""
    return hmm_decode(probs, lengths, hmm=hmm, transition_weight=transition_weight,
                      temperature=temperature, divide_priors=divide_priors, initial=initial,
                      sharpen_to=sharpen_to)


# --------------------------------------------------------------------------- HMM files
def save_hmm(params: HMMParams, path: str | os.PathLike) -> Path:
    """Write a transition model as JSON (atomically, via :func:`sigvision.artifacts.write_json`).

    Parameters
    ----------
    params : HMMParams
    path : str or PathLike
        Destination ``.json`` file (folders are created).

    Returns
    -------
    Path
        ``path``.
    """
    from .artifacts import write_json

    if not isinstance(params, HMMParams):
        raise ValueError(f"params must be an HMMParams; got {type(params).__name__}")
    doc = {
        "format": _HMM_FORMAT,
        "format_version": _HMM_FORMAT_VERSION,
        "stages": list(STAGE_NAMES),
        "transition": params.transition.tolist(),
        "initial": params.initial.tolist(),
        "priors": params.priors.tolist(),
        "counts": params.counts,
        "meta": params.meta,
    }
    out = write_json(path, doc)
    os.chmod(out, 0o644)  # the atomic writer's temp file is 0600; a model file is meant to be shared
    return out


def load_hmm(path: str | os.PathLike) -> HMMParams:
    """Read a transition model written by :func:`save_hmm`.

    Parameters
    ----------
    path : str or PathLike
        A ``.json`` file.

    Returns
    -------
    HMMParams

    Raises
    ------
    sigvision.errors.InputFileError
        (a ValueError) if the file is missing, not JSON, not a sigvision HMM, uses another
        stage order, or holds invalid probabilities.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "no such HMM file", "give the path of a JSON file written by save_hmm")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(p, f"not readable as JSON ({exc})", "re-create it with save_hmm") from None
    if not isinstance(doc, dict) or doc.get("format") != _HMM_FORMAT:
        raise InputFileError(p, f"not a sigvision HMM file (format must be {_HMM_FORMAT!r})",
                             "re-create it with save_hmm")
    if doc.get("format_version") != _HMM_FORMAT_VERSION:
        raise InputFileError(p, f"format_version {doc.get('format_version')!r} not supported "
                                f"(accepted: {_HMM_FORMAT_VERSION})", "re-create it with save_hmm")
    if list(doc.get("stages", [])) != list(STAGE_NAMES):
        raise InputFileError(p, f"stage order {doc.get('stages')!r} differs from {list(STAGE_NAMES)}",
                             "re-create it with save_hmm")
    try:
        return HMMParams(transition=doc.get("transition"), initial=doc.get("initial"),
                         priors=doc.get("priors"), counts=doc.get("counts"), meta=doc.get("meta") or {})
    except ValueError as exc:
        raise InputFileError(p, f"invalid model ({exc})", "re-create it with save_hmm") from None


@functools.lru_cache(maxsize=4)
def load_shipped_hmm(name: str = SHIPPED_HMM) -> HMMParams:
    """The transition model shipped in ``sigvision/resources/hmm`` (cached; arrays read-only).

    The default ``sleep_edf_dod_v1.json`` was learned (pseudocount 1) from the 147
    shipped Sleep-EDF Expanded nights (SC and ST) and the 60 Dreem DOD-H/DOD-O 5-scorer
    consensus nights; its ``meta`` and ``counts`` say exactly which nights and how many
    transitions.

    Parameters
    ----------
    name : str
        File name under ``resources/hmm``.

    Returns
    -------
    HMMParams
    """
    from .samples import resource_path

    base = resource_path("hmm")
    path = base / name
    if not path.is_file():
        have = sorted(q.name for q in base.glob("*.json")) if base.is_dir() else []
        raise ValueError(f"no shipped HMM named {name!r}; available: {', '.join(have) or 'none'}")
    return load_hmm(path)
