"""Blend (``sigvision blend``, wrapped by ``blend.py``): several models' class probabilities -> one.

The seed's blend (MAIC 2021) is a weighted mean of the square roots of each model's class
probabilities, renormalised per row. Every method here has that shape, a weighted mean in a
transformed space followed by a per-row finalisation (``sqrt`` squares the mean back before
renormalising: a power mean of exponent 1/2, with the seed's argmax):

=============  ================================  =====================================
name           transform of each model's (n, C)  finalisation of the weighted mean
=============  ================================  =====================================
``sqrt``       ``sqrt(p)`` (the seed, default)   square, then divide by the row sum
``mean``       ``p``                             divide by the row sum
``geometric``  ``log(max(p, 1e-12))``            ``exp`` then divide by the row sum
``rank``       rank of ``p`` within each class   divide by the row sum
               column over the rows, / n
=============  ================================  =====================================

Methods come from the registry :data:`BLENDERS` (add one with :func:`register_blender`).

Weights come from the config or are fitted on out-of-fold (OOF) predictions by
:func:`fit_weights` (maximise Cohen's kappa or macro-F1 of the blend's argmax over the
weight simplex; the report lists the fitted weights and the OOF score of every single model
beside the blend's). :func:`load_aligned` reads a set of probability files written by
:func:`sigvision.io.probs.save_probs` and refuses files whose class order, row ids or shapes
disagree, naming both files. Everything else here is a function of arrays.

Notes
-----
* ``sqrt`` has the seed's argmax (squaring and renormalising a row is monotone) but stays
  on the probability scale: ``sqrt``, ``mean`` and ``geometric`` return ``p`` itself for
  identical inputs (the seed's raw ``sqrt(p) / sum(sqrt(p))`` would be flatter). ``rank``
  returns per-class ranks (it discards calibration; its argmax can differ from a single
  model's).
* Output rows always sum to one, so these blends are for single-label problems (sleep
  stages, normal/abnormal), not for independent multi-label sigmoid outputs.
"""
from __future__ import annotations

import difflib
import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError
from .metrics.classification import SCORES, score
from .registry import Registry

# scipy.stats is imported where ranks are taken (heavy).

__all__ = ["BLENDERS", "Blender", "register_blender", "available_blenders", "get_blender", "blend",
           "fit_weights", "fit_weights_multilabel", "apply_temperature", "fit_temperature", "multilabel_score",
           "report_frame", "blend_models",
           "normalize_weights"]

#: Floor applied before the logarithm of the geometric mean.
GEOMETRIC_EPS = 1e-12


@dataclass(frozen=True)
class Blender:
    """A blend method: ``finalize(sum_m w_m * transform(p_m))``.

    Attributes
    ----------
    name : str
        Registry name.
    transform : callable
        ``(n, C) float64 probabilities -> (n, C) float64`` applied to each model separately.
    finalize : callable
        ``(n, C)`` weighted mean of the transformed arrays -> ``(n, C)`` rows summing to 1.
    keeps_argmax : bool
        ``finalize`` is increasing within each row (a row-wise monotone map, then a division by
        a positive row sum), so the blend's argmax is that of the weighted mean: the weight
        search then skips it, more than half of the cost of scoring a candidate.
    """

    name: str
    transform: Callable[[np.ndarray], np.ndarray]
    finalize: Callable[[np.ndarray], np.ndarray]
    keeps_argmax: bool = False


#: Registry of blend methods by name.
BLENDERS: Registry[Blender] = Registry("blender", "blend.method")


def renormalize_rows(x: np.ndarray) -> np.ndarray:
    """Divide each row of a non-negative (n, C) array by its sum (all-zero rows -> uniform)."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    s = x.sum(axis=1, keepdims=True)
    out = np.full_like(x, 1.0 / max(x.shape[1], 1))
    np.divide(x, s, out=out, where=s > 0)
    return out


def softmax_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (n, C) array of log-values."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def register_blender(name: str, *, finalize: Callable[[np.ndarray], np.ndarray] | None = None,
                     keeps_argmax: bool = False):
    """Decorator adding a blend method to :data:`BLENDERS` under ``name``.

    Decorate the per-model transform ``f(p: (n, C)) -> (n, C)``; the blend is
    ``finalize(sum_m w_m f(p_m))`` with ``finalize`` dividing each row by its sum unless
    another is given (it must return non-negative rows summing to 1). ``keeps_argmax=True``
    declares that ``finalize`` never changes a row's argmax (see :class:`Blender`; the default
    one does not when ``f`` returns non-negative values), which makes weight fitting faster.

    Examples
    --------
    >>> @register_blender("square")          # doctest: +SKIP
    ... def _square(p):
    ...     return p ** 2
    """

    def deco(fn: Callable[[np.ndarray], np.ndarray]):
        BLENDERS.register(name, Blender(name, fn, finalize or renormalize_rows, bool(keeps_argmax)))
        return fn

    return deco


def available_blenders() -> list[str]:
    """Names in :data:`BLENDERS`, sorted."""
    return BLENDERS.available()


def get_blender(name: str) -> Blender:
    """The :class:`Blender` registered as ``name``; unknown names raise a :class:`ConfigError`
    listing the available ones (with a close-match hint)."""
    return BLENDERS.get(name)


def _square_renormalize(x: np.ndarray) -> np.ndarray:
    """Undo the square root after averaging (a power mean with exponent 1/2), so that blending
    identical inputs returns them; row-wise monotone, so the seed's argmax is unchanged."""
    return renormalize_rows(np.square(x))


@register_blender("sqrt", finalize=_square_renormalize, keeps_argmax=True)
def _sqrt(p: np.ndarray) -> np.ndarray:
    """The MAIC 2021 blend: a weighted mean of square-rooted probabilities (then squared and
    renormalised per row, which keeps its argmax and makes it a proper power mean)."""
    return np.sqrt(p)


@register_blender("mean", keeps_argmax=True)
def _identity(p: np.ndarray) -> np.ndarray:
    return p


@register_blender("geometric", finalize=softmax_rows, keeps_argmax=True)
def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, GEOMETRIC_EPS))


@register_blender("rank", keeps_argmax=True)
def _rank(p: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    n = p.shape[0]
    return rankdata(p, axis=0, method="average") / max(n, 1) if n else p


# --------------------------------------------------------------------------- validation


def _stack_probs(prob_list, what: str = "prob_list") -> np.ndarray:
    """Check a list of M (n, C) probability arrays and stack them to (M, n, C) float64."""
    if isinstance(prob_list, np.ndarray) and prob_list.ndim == 3:
        arrays = list(prob_list)
    else:
        if isinstance(prob_list, np.ndarray) or not isinstance(prob_list, Sequence) or not len(prob_list):
            raise ValueError(f"{what} must be a non-empty list of (n_rows, n_classes) arrays, one per model")
        arrays = [np.asarray(p) for p in prob_list]
    if not arrays:
        raise ValueError(f"{what} must be a non-empty list of (n_rows, n_classes) arrays, one per model")
    shape0 = np.shape(arrays[0])
    for i, p in enumerate(arrays):
        if p.ndim != 2:
            raise ValueError(f"{what}[{i}] has shape {p.shape}; accepted: 2-D (n_rows, n_classes)")
        if p.shape != shape0:
            raise ValueError(f"{what}[{i}] has shape {p.shape} but {what}[0] has {shape0}; "
                             "every model must predict the same rows and classes")
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in arrays])
    if not np.isfinite(stack).all():
        raise ValueError(f"{what} holds {int((~np.isfinite(stack)).sum())} non-finite values; "
                         "accepted: finite probabilities in [0, 1]")
    if stack.size and stack.min() < 0:
        raise ValueError(f"{what} holds negative values (min {stack.min():.3g}); accepted: probabilities "
                         "in [0, 1] (softmax outputs, not logits)")
    return stack


def normalize_weights(weights, n_models: int) -> np.ndarray:
    """Check blend weights and scale them to sum to 1.

    Parameters
    ----------
    weights : sequence of float, shape (M,), or None
        One non-negative weight per model, in model order; ``None`` means equal weights.
    n_models : int
        M, the number of models.

    Returns
    -------
    ndarray, float64, shape (M,)
        The weights divided by their sum.
    """
    if weights is None:
        return np.full(n_models, 1.0 / n_models)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"weights={weights!r} are not numbers; accepted: {n_models} non-negative "
                          "numbers, not all zero") from None
    if w.ndim != 1 or w.size != n_models:
        raise ConfigError(f"weights={np.asarray(weights).tolist()!r} give {w.size} weight(s) for {n_models} "
                          f"model(s); accepted: exactly {n_models} non-negative numbers, one per model in order")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ConfigError(f"weights={w.tolist()!r} hold a negative or non-finite weight; accepted: "
                          "non-negative finite numbers")
    if w.sum() <= 0:
        raise ConfigError(f"weights={w.tolist()!r} are all zero; give at least one model a positive weight")
    return w / w.sum()


# --------------------------------------------------------------------------- blending


def _combine(transformed: np.ndarray, w: np.ndarray, blender: Blender) -> np.ndarray:
    return blender.finalize(np.tensordot(w, transformed, axes=1))


def blend(prob_list, weights=None, method: str = "sqrt") -> np.ndarray:
    """Blend the class probabilities of several models into one array.

    Parameters
    ----------
    prob_list : list of ndarray, each (n, C)
        Probabilities per model for the same n rows and C classes, in the same order
        (rows of one model summing to 1, values in [0, 1]).
    weights : sequence of float, shape (M,), optional
        Non-negative weight per model, in the order of ``prob_list``; scaled to sum to 1.
        Default: equal weights.
    method : str
        A name in :data:`BLENDERS`: ``sqrt`` (the seed's, default), ``mean``, ``geometric``
        or ``rank``.

    Returns
    -------
    ndarray, float64, shape (n, C)
        Blended probabilities; every row sums to 1.
    """
    blender = get_blender(method)
    stack = _stack_probs(prob_list)
    w = normalize_weights(weights, stack.shape[0])
    return _combine(np.stack([blender.transform(p) for p in stack]), w, blender)


# --------------------------------------------------------------------------- weight fitting


def _simplex_grid(n_models: int, steps: int):
    """Every weight vector with entries k/steps summing to 1 (stars and bars), as float arrays."""
    for bars in itertools.combinations(range(steps + n_models - 1), n_models - 1):
        edges = (-1,) + bars + (steps + n_models - 1,)
        yield np.array([edges[i + 1] - edges[i] - 1 for i in range(n_models)], dtype=np.float64) / steps


def _fit_simplex(mix_score: Callable[[np.ndarray], float], single_scores: Sequence[float], *, method: str,
                 metric: str, n_rows: int, model_names, search: str, grid_step, n_random: int, seed: int,
                 refine: bool | None, refine_rounds: int, max_grid: int) -> tuple[np.ndarray, dict]:
    """The weight search of :func:`fit_weights` and :func:`fit_weights_multilabel`: candidates
    scored by ``mix_score(weights)`` (once per weight vector) in this order, the first of
    equal scores winning: equal weights, each model alone, then the grid of spacing
    ``grid_step`` or seeded Dirichlet draws, then pairwise coordinate refinement. Returns
    ``(weights summing to 1, report)``; ``single_scores`` are each model's own score."""
    m = len(single_scores)
    if search not in ("auto", "grid", "random"):
        raise ConfigError(f"search={search!r} is not a weight search; accepted: auto, grid, random")
    raw_step = grid_step
    try:
        grid_step = float(grid_step)
    except (TypeError, ValueError):
        grid_step = float("nan")
    if not (0 < grid_step <= 1 and abs(1 / grid_step - round(1 / grid_step)) < 1e-6):
        raise ConfigError(f"grid_step={raw_step!r}; accepted: a step in (0, 1] dividing 1 (0.05, 0.1, 0.25, ...)")
    steps = int(round(1 / grid_step))
    names = _unique_names(model_names if model_names is not None else [f"model_{i}" for i in range(m)])
    if len(names) != m:
        raise ValueError(f"model_names has {len(names)} names for {m} models; give one per model")
    cache: dict[tuple, float] = {}

    def evaluate(w: np.ndarray) -> float:
        key = tuple(np.round(w, 10))
        if key not in cache:
            cache[key] = mix_score(w)
        return cache[key]

    equal = np.full(m, 1.0 / m)
    candidates: list[np.ndarray] = [equal] + [np.eye(m)[i] for i in range(m)]
    n_grid = math.comb(steps + m - 1, m - 1)
    used = search if search != "auto" else ("grid" if n_grid <= max_grid else "random")
    if used == "grid":
        candidates_iter = itertools.chain(candidates, _simplex_grid(m, steps))
    else:
        rng = np.random.default_rng(seed)
        candidates_iter = itertools.chain(candidates, rng.dirichlet(np.ones(m), size=max(int(n_random), 0)))
    best_w, best = equal, -np.inf
    for w in candidates_iter:
        s = evaluate(w)
        if s > best:
            best_w, best = w, s
    if refine if refine is not None else used == "random":
        step = grid_step
        for _ in range(max(int(refine_rounds), 0) + 1):
            improved = True
            while improved:
                improved = False
                for i, j in itertools.permutations(range(m), 2):
                    d = min(step, best_w[j])
                    if d <= 0:
                        continue
                    w = best_w.copy()
                    w[i] += d
                    w[j] -= d
                    s = evaluate(w)
                    if s > best:
                        best_w, best, improved = w, s, True
            step /= 2
    best_w = best_w / best_w.sum()
    singles = {nm: float(v) for nm, v in zip(names, single_scores)}
    top = max(singles, key=lambda k: singles[k])
    report = {
        "method": method, "metric": metric, "search": used, "grid_step": grid_step, "n_rows": int(n_rows),
        "n_evaluated": len(cache), "models": names,
        "weights": {nm: float(wi) for nm, wi in zip(names, best_w)},
        "blend_score": float(best), "equal_weights_score": float(evaluate(equal)),
        "single_scores": singles, "best_single_model": top, "best_single_score": singles[top],
    }
    return best_w, report


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        n = str(n)
        if n in seen:
            seen[n] += 1
            n = f"{n}#{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def fit_weights(oof_list, y_true, method: str = "sqrt", metric: str = "kappa", *, search: str = "auto",
                grid_step: float = 0.05, n_random: int = 2000, seed: int = 0, refine: bool | None = None,
                refine_rounds: int = 4, max_grid: int = 20000, model_names: Sequence[str] | None = None
                ) -> tuple[np.ndarray, dict]:
    """Fit blend weights on out-of-fold predictions by maximising a score of the blend's argmax.

    Candidates, scored in this order (the first of equal scores wins): equal weights, each
    model alone (a vertex of the simplex), then either every point of the grid with spacing
    ``grid_step`` on the weight simplex (``search="grid"``) or ``n_random`` seeded
    Dirichlet(1, ..., 1) draws (``search="random"``). ``"auto"`` takes the grid when it has
    at most ``max_grid`` points (21 for 2 models, 231 for 3, 1771 for 4 at step 0.05), else
    the random search. Coordinate refinement then moves weight between pairs of models in
    steps of ``grid_step``, halved ``refine_rounds`` times, keeping strict improvements only.

    Because each model alone is a candidate, the fitted blend scores at least as well as the
    best single model for ``sqrt``, ``mean`` and ``geometric`` (whose single-model argmax is
    the model's own); ``rank`` has no such guarantee.

    Parameters
    ----------
    oof_list : list of ndarray, each (n, C)
        Out-of-fold probabilities per model, rows aligned (see :func:`load_aligned`).
    y_true : array_like of int, shape (n,)
        True class per row in ``0..C-1``; rows with a negative label (unscored) are ignored.
    method : str
        Blend method name (see :data:`BLENDERS`).
    metric : {"kappa", "macro_f1", "accuracy"}
        Score to maximise (Cohen's kappa by default).
    search : {"auto", "grid", "random"}
        Search over the simplex.
    grid_step : float
        Grid spacing (``1 / grid_step`` must be a whole number, e.g. 0.05, 0.1, 0.25) and the
        first refinement step.
    n_random : int
        Dirichlet draws for the random search.
    seed : int
        Seed of the random search.
    refine : bool, optional
        Run the coordinate refinement (default: only after the random search).
    refine_rounds : int
        How many times the refinement step is halved.
    max_grid : int
        Largest grid ``"auto"`` accepts.
    model_names : sequence of str, optional
        Names for the report (default ``model_0``, ``model_1``, ...).

    Returns
    -------
    weights : ndarray, float64, shape (M,)
        Fitted weights in model order, summing to 1.
    report : dict
        ``method, metric, search, n_rows, n_evaluated, models`` (names), ``weights``
        (name -> weight), ``blend_score``, ``equal_weights_score``, ``single_scores``
        (name -> score of that model's own argmax), ``best_single_model``,
        ``best_single_score``. :func:`report_frame` turns it into a table.
    """
    blender = get_blender(method)
    if metric not in SCORES:
        close = difflib.get_close_matches(str(metric), SCORES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"metric={metric!r} is not a blend score{hint}; accepted: {', '.join(SCORES)}")
    stack = _stack_probs(oof_list, "oof_list")
    _, n, c = stack.shape
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size != n:
        raise ValueError(f"y_true has shape {y.shape}; accepted: ({n},), one label per OOF row")
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("y_true holds non-integer labels; accepted: class indices 0..C-1")
    y = y.astype(np.int64)
    if y.size and y.max() >= c:
        raise ValueError(f"y_true holds class {int(y.max())}; accepted: 0..{c - 1} (or negative for unscored)")
    keep = y >= 0
    stack, y = stack[:, keep], y[keep]
    if y.size == 0:
        raise ValueError("y_true has no scored rows (all negative); nothing to fit weights on")
    transformed = np.stack([blender.transform(p) for p in stack])

    def mix_score(w: np.ndarray) -> float:
        mixed = np.tensordot(w, transformed, axes=1)
        return score(y, (mixed if blender.keeps_argmax else blender.finalize(mixed)).argmax(1), c, metric)

    return _fit_simplex(mix_score, [score(y, p.argmax(1), c, metric) for p in stack], method=method, metric=metric,
                        n_rows=y.size, model_names=model_names, search=search, grid_step=grid_step,
                        n_random=n_random, seed=seed, refine=refine, refine_rounds=refine_rounds, max_grid=max_grid)


MULTILABEL_SCORES = ("auroc", "macro_f1")


def multilabel_score(y: np.ndarray, p: np.ndarray, metric: str) -> float:
    """Score of multi-label probabilities ``p`` (n, C) against multi-hot ``y``: ``auroc`` (the
    mean over classes with both outcomes of the per-class ROC AUC, ties counted half; free of
    the thresholds tuned later) or ``macro_f1`` (at 0.5, over the same classes)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    pos = y.sum(0)
    cols = np.flatnonzero((pos > 0) & (pos < len(y)))
    if cols.size == 0:
        return float("nan")
    y, p, pos = y[:, cols], np.asarray(p)[:, cols], pos[cols]
    if metric == "auroc":
        ranks = rankdata(p, axis=0)
        neg = len(y) - pos
        return float(np.mean(((ranks * y).sum(0) - pos * (pos + 1) / 2) / (pos * neg)))
    pred = p >= 0.5
    tp = (pred & y).sum(0)
    return float(np.mean(2 * tp / (pred.sum(0) + pos)))


def fit_weights_multilabel(oof_list, y_true, metric: str = "auroc", *, search: str = "auto", grid_step: float = 0.05,
                           n_random: int = 2000, seed: int = 0, refine: bool | None = None, refine_rounds: int = 4,
                           max_grid: int = 20000, model_names: Sequence[str] | None = None) -> tuple[np.ndarray, dict]:
    """Blend weights for multi-label (sigmoid) outputs, blended by a weighted mean per class:
    the simplex search of :func:`fit_weights` maximising :func:`multilabel_score` on the OOF
    predictions. ``y_true`` is multi-hot (n, C). Returns ``(weights, report)`` with the report
    keys of :func:`fit_weights` (``method`` is ``mean``)."""
    if metric not in MULTILABEL_SCORES:
        raise ConfigError(f"metric={metric!r} is not a multi-label blend score; accepted: {', '.join(MULTILABEL_SCORES)}")
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in oof_list])
    _, n, c = stack.shape
    y = np.asarray(y_true, dtype=bool)
    if y.shape != (n, c):
        raise ValueError(f"y_true has shape {y.shape}; accepted: ({n}, {c}), one multi-hot row per OOF row")

    def mix_score(w: np.ndarray) -> float:
        v = multilabel_score(y, np.tensordot(w, stack, axes=1), metric)
        return -np.inf if np.isnan(v) else v

    return _fit_simplex(mix_score, [multilabel_score(y, p, metric) for p in stack], method="mean", metric=metric,
                        n_rows=n, model_names=model_names, search=search, grid_step=grid_step, n_random=n_random,
                        seed=seed, refine=refine, refine_rounds=refine_rounds, max_grid=max_grid)


def report_frame(report: dict):
    """The :func:`fit_weights` report as a table: one row per model (its weight and OOF score
    alone), then ``blend (fitted)`` and ``blend (equal weights)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``model, weight, <metric>``.
    """

    metric = report["metric"]
    rows = [{"model": nm, "weight": report["weights"][nm], metric: report["single_scores"][nm]}
            for nm in report["models"]]
    rows.append({"model": "blend (fitted)", "weight": 1.0, metric: report["blend_score"]})
    rows.append({"model": "blend (equal weights)", "weight": float("nan"), metric: report["equal_weights_score"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- files


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p_i ** (1/T), renormalised per row (T < 1 sharpens, T > 1 flattens). (n, C) -> (n, C)."""
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / float(temperature)
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the mean log-loss of ``apply_temperature(probs, T)`` on
    labels ``y`` (grid over 0.02..20, log-spaced, then a finer grid around the best)."""
    y = np.asarray(y, dtype=np.int64)
    rows = np.arange(len(y))

    def nll(t):
        return -float(np.mean(np.log(apply_temperature(probs, t)[rows, y] + 1e-12)))

    grid = np.exp(np.linspace(np.log(0.02), np.log(20.0), 61))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.12, 0.12, 25))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def blend_models(per_model: Sequence[np.ndarray], weights: Sequence[float], *, method: str, multilabel: bool,
                 temperature: float | None = None) -> np.ndarray:
    """The run's blend of its models' probabilities: a weighted mean of per-class sigmoids
    (multi-label), or ``method``'s blend of softmax rows then the fitted ``temperature``."""
    if multilabel:
        w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        return np.tensordot(w, np.stack(per_model), axes=1)
    probs = blend(per_model, weights=weights, method=method)
    return apply_temperature(probs, temperature) if temperature else probs
