"""Hidden Markov model decoding of a night: transition and initial probabilities fitted on
scored hypnograms (one shipped, fitted on Sleep-EDF and Dreem DOD), Viterbi over the
stager's probabilities (optionally divided by the stage priors, sharpened, with a weight on
the transitions), saved and loaded as versioned JSON; the ``hmm`` and ``hmm_robust`` methods."""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import InputFileError
from ..io.artifacts import write_json
from ..synth.samples import resource_path
from .base import (
    N_STAGES,
    PROB_FLOOR,
    STAGE_NAMES,
    _check_flag,
    _check_number,
    n3_by_epoch,
    register_postprocessor,
)

#: File name of the shipped transition model under ``sigvision/resources/hmm``.
SHIPPED_HMM = "sleep_edf_dod_v1.json"
_HMM_FORMAT = "sigvision-hmm"
_HMM_FORMAT_VERSION = 1



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
#: 0.03, where the textbook decoder lost up to 0.2. On the outputs of models trained on
#: synthetic nights only, which are not calibrated on real EEG, it is not safe: up to -0.104
#: on a DREAMS excerpt whose argmax kappa is 0.74 (``benchmarks/sim2real_postprocess_grid.py``);
#: the rules stay the default of ``files_post.csv``.
HMM_OPTIONS = {"divide_priors": False, "transition_weight": 0.4, "initial": "any", "sharpen_to": 0.8,
               "n3_per_epoch": True}


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
               initial: str = HMM_OPTIONS["initial"], sharpen_to: float | None = HMM_OPTIONS["sharpen_to"],
               n3_per_epoch: bool = HMM_OPTIONS["n3_per_epoch"]) -> np.ndarray:
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
    n3_per_epoch : bool, default True
        The decoded path decides where deep NREM sleep (N2 or N3) lies; within it, each
        epoch is N3 or N2 by its own probabilities
        (:func:`~sigvision.postprocess.base.n3_by_epoch`): the manual scores N3 epoch by
        epoch and human scorers alternate N2 and N3 where slow waves hover around its
        threshold; the transitions would smooth that alternation away. On real EEG (DREAMS,
        README *Sim-to-real*, sixth round) it raised the HMM's mean gain on the feature
        stager's and YASA's outputs and cut its worst loss on a good excerpt from 0.15 to
        0.05. ``False``: the plain Viterbi path.

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
    n3_per_epoch = _check_flag("n3_per_epoch", n3_per_epoch)
    log_a, log_pi, log_prior = _hmm_log_terms(hmm, w, divide_priors, initial)
    p = np.asarray(probs, dtype=np.float64)
    log_p = np.log(np.maximum(p, PROB_FLOOR))
    if sharpen_to is not None and p.size:
        log_p = _sharpen(log_p, lengths, sharpen_to)
    path = viterbi(log_p - log_prior, log_a, log_pi, lengths)
    return n3_by_epoch(path, p) if n3_per_epoch else path


@register_postprocessor("hmm", batched=True)
def _hmm_batch(probs: np.ndarray, lengths: np.ndarray, hmm: HMMParams | None = None,
               transition_weight: float = HMM_OPTIONS["transition_weight"], temperature: float | None = None,
               divide_priors=HMM_OPTIONS["divide_priors"], initial: str = HMM_OPTIONS["initial"],
               sharpen_to: float | None = HMM_OPTIONS["sharpen_to"],
               n3_per_epoch: bool = HMM_OPTIONS["n3_per_epoch"]) -> np.ndarray:
    """Viterbi decoding; see :func:`hmm_decode` for the options."""
    return hmm_decode(probs, lengths, hmm=hmm, transition_weight=transition_weight,
                      temperature=temperature, divide_priors=divide_priors, initial=initial,
                      sharpen_to=sharpen_to, n3_per_epoch=n3_per_epoch)


#: Options of ``method="hmm_robust"`` (the safe variant before it became ``"hmm"``'s
#: default; it keeps the night-start distribution).
ROBUST_HMM_OPTIONS = {"divide_priors": False, "transition_weight": 0.4, "initial": "night", "sharpen_to": 0.8,
                      "n3_per_epoch": True}


@register_postprocessor("hmm_robust", batched=True)
def _hmm_robust_batch(probs: np.ndarray, lengths: np.ndarray, hmm: HMMParams | None = None,
                      transition_weight: float = ROBUST_HMM_OPTIONS["transition_weight"],
                      temperature: float | None = None,
                      divide_priors=ROBUST_HMM_OPTIONS["divide_priors"],
                      initial: str = ROBUST_HMM_OPTIONS["initial"],
                      sharpen_to: float | None = ROBUST_HMM_OPTIONS["sharpen_to"],
                      n3_per_epoch: bool = ROBUST_HMM_OPTIONS["n3_per_epoch"]) -> np.ndarray:
    """``"hmm"`` with the night-start initial distribution; see :func:`hmm_decode`."""
    return hmm_decode(probs, lengths, hmm=hmm, transition_weight=transition_weight,
                      temperature=temperature, divide_priors=divide_priors, initial=initial,
                      sharpen_to=sharpen_to, n3_per_epoch=n3_per_epoch)


def save_hmm(params: HMMParams, path: str | os.PathLike) -> Path:
    """Write a transition model as JSON (atomically, via :func:`sigvision.io.artifacts.write_json`).

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

    base = resource_path("hmm")
    path = base / name
    if not path.is_file():
        have = sorted(q.name for q in base.glob("*.json")) if base.is_dir() else []
        raise ValueError(f"no shipped HMM named {name!r}; available: {', '.join(have) or 'none'}")
    return load_hmm(path)
