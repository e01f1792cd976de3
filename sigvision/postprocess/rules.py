"""The clinician's rules for a night's stage sequence (AASM-style context): no REM at sleep
onset, no wake straight to N3, REM and N2 continuity, isolated epochs; each a function of
``(labels, probs, eligible)`` with its own options, applied in order by :func:`apply_rules`
(the ``rules`` method, the default of ``files_post.csv``)."""
from __future__ import annotations

import difflib
from typing import Any, Callable, Sequence

import numpy as np

from .base import N1, N2, N3, REM, W, _check_number, _valid_mask, register_postprocessor


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
    """A single uncertain epoch between two epochs of the same stage follows them, except
    between N2 and N3.

    Applied only if that stage has ``probs[stage] >= support`` in the middle epoch. N2
    between N3 epochs and N3 between N2 epochs are left as they are: the manual scores N3
    epoch by epoch (>= 20 % of the epoch slow waves; it has continuation rules for N2 and
    R, none for N3), and human scorers alternate N2 and N3 where the slow waves hover around
    that threshold. On real EEG (the DREAMS excerpts, README *Sim-to-real*, sixth round)
    filling those epochs cost the feature stager up to 0.10 kappa on an excerpt.
    Read left to right, as a scorer reads a night: each epoch is judged against its left
    neighbour as already relabelled and its right neighbour as the model gave it, so an
    alternating run (N2 W N2 W N2) takes the stage it starts in wherever it starts. (It was
    two interleaved passes, even epochs first, which resolved the same run differently by the
    parity of its first epoch: on a real DREAMS excerpt the feature stager's ``N2 W N2 W N2``
    became ``N2 W W W N2`` where the human scored N2 throughout; README *Sim-to-real*.)

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
    t_max = labels.shape[1]
    # epochs that can change at all (eligible, and a neighbour differs on the labels as this
    # rule receives them; relabelling a left neighbour cannot make another epoch isolated):
    # the scan visits only those epoch indices, every night at once
    cand = np.zeros(labels.shape, dtype=bool)
    if t_max >= 3:
        mid = labels[:, 1:-1]
        cand[:, 1:-1] = eligible[:, 1:-1] & ((mid != labels[:, :-2]) | (mid != labels[:, 2:]))
    for t in np.flatnonzero(cand.any(axis=0)):
        left, mid = labels[:, t - 1], labels[:, t]
        cond = cand[:, t] & (left == labels[:, t + 1]) & (mid != left) & (left >= 0)
        cond &= ~(((left == N2) | (left == N3)) & ((mid == N2) | (mid == N3)))  # N3 is scored epoch by epoch
        bb = np.flatnonzero(cond)
        if bb.size:
            target = left[bb]
            keep = probs[bb, t, target] >= support
            labels[bb[keep], t] = target[keep]
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
        one uncertain epoch between two epochs of the same stage -> that stage (never
        between N2 and N3).

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
