"""Sleep statistics per night, for predicted and true hypnograms side by side.

Functions of arrays only. A hypnogram is one integer per epoch in the order of
:data:`sigvision.loaders.base.STAGES` (0 W, 1 N1, 2 N2, 3 N3, 4 REM) with the negative
codes of :mod:`sigvision.loaders.hypnogram` (-1 unscored/artefact, -2 movement) for epochs
that are not a stage; those count in the time in bed and nowhere else.

Definitions (after YASA's ``yasa.sleep_statistics``, which follows the AASM manual; Vallat
& Walker, eLife 2021, https://raphaelvallat.com/yasa/build/html/generated/yasa.sleep_statistics.html;
Berry et al., *The AASM Manual for the Scoring of Sleep and Associated Events*). Durations
are in minutes, ``SE``, ``SME`` and ``%`` values in percent:

==============  ==================================================================
``TIB``         time in bed: every epoch of the hypnogram (scored or not)
``SPT``         sleep period time: first to last sleep epoch, inclusive
``TST``         total sleep time: N1 + N2 + N3 + REM epochs (all lie within SPT)
``WASO``        wake after sleep onset: W epochs within SPT (after the first sleep
                epoch, up to the last one; wake after final awakening is not WASO)
``SOL``         sleep onset latency: record start to the first epoch of any sleep
                stage (NaN when there is no sleep)
``REM_latency`` first sleep epoch to first REM epoch (AASM; YASA's ``Lat_REM`` is
                from the record start, i.e. ``SOL + REM_latency``); NaN without REM
``SE``          sleep efficiency: 100 * TST / TIB
``SME``         sleep maintenance efficiency: 100 * TST / SPT (NaN without sleep)
``W`` ...       minutes of each stage over the whole record; ``NREM`` = N1+N2+N3;
``REM``         ``Unscored`` = epochs with a negative code
``%N1`` ...     stage minutes as a percentage of TST (NaN when TST is 0)
==============  ==================================================================

The record start is taken as lights-off (the hypnogram's first epoch); loaders that trim
long wake at the night's edges therefore shorten TIB and SOL accordingly.
"""
from __future__ import annotations

import numpy as np

from .classification import record_groups

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

__all__ = ["STAT_NAMES", "STAT_UNITS", "sleep_statistics", "compare_statistics", "per_night_statistics"]

#: Statistic names in the order every function here returns them.
STAT_NAMES: tuple[str, ...] = ("TIB", "SPT", "TST", "WASO", "SOL", "REM_latency", "SE", "SME",
                               "W", "N1", "N2", "N3", "REM", "NREM", "Unscored",
                               "%N1", "%N2", "%N3", "%REM", "%NREM")

#: Unit of each statistic.
STAT_UNITS: dict[str, str] = {k: ("%" if k in ("SE", "SME") or k.startswith("%") else "min") for k in STAT_NAMES}

_VALID = (-2, -1, 0, 1, 2, 3, 4)


def _check_stages(stages, name: str = "stages") -> np.ndarray:
    a = np.asarray(stages)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} has shape {a.shape}; accepted: a non-empty 1-D array, one stage per epoch")
    if a.dtype.kind not in "iub":
        if a.dtype.kind != "f" or not np.isfinite(a).all() or not np.all(a == np.round(a)):
            raise ValueError(f"{name} holds non-integer values; accepted: integers -2..4 "
                             "(0 W, 1 N1, 2 N2, 3 N3, 4 REM; -1/-2 unscored)")
    a = a.astype(np.int64)
    bad = ~np.isin(a, _VALID)
    if bad.any():
        raise ValueError(f"{name} holds stage code {int(a[bad][0])}; accepted: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, "
                         "-1 unscored/artefact, -2 movement")
    return a


def _check_epoch_s(epoch_s) -> float:
    try:
        e = float(epoch_s)
    except (TypeError, ValueError):
        e = float("nan")
    if not (np.isfinite(e) and e > 0):
        raise ValueError(f"epoch_s={epoch_s!r}; accepted: a positive epoch length in seconds (30 for AASM)")
    return e


def sleep_statistics(stages, epoch_s: float = 30.0) -> dict[str, float]:
    """Standard sleep statistics of one night's hypnogram.

    Parameters
    ----------
    stages : array_like of int, shape (n_epochs,)
        Stage per epoch: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1/-2 unscored (artefact, movement).
    epoch_s : float
        Epoch length in seconds (30).

    Returns
    -------
    dict of str -> float
        The statistics of :data:`STAT_NAMES`, in that order: durations in minutes, ``SE``,
        ``SME`` and ``%`` values in percent (definitions in the module docstring). A night
        without sleep has ``TST = SPT = WASO = SE = 0`` and NaN latencies, SME and
        percentages.

    Examples
    --------
    10 W, then N1 N2 N2 W N2 REM REM, then W (18 epochs of 30 s):
    >>> s = sleep_statistics([0] * 10 + [1, 2, 2, 0, 2, 4, 4, 0])
    >>> s["TIB"], s["TST"], s["SOL"], s["WASO"], s["REM_latency"], round(s["SE"], 2)
    (9.0, 3.0, 5.0, 0.5, 2.5, 33.33)
    """
    a = _check_stages(stages)
    ep_min = _check_epoch_s(epoch_s) / 60.0
    sleep_idx = np.flatnonzero(a >= 1)
    out: dict[str, float] = {"TIB": a.size * ep_min}
    if sleep_idx.size:
        first, last = int(sleep_idx[0]), int(sleep_idx[-1])
        spt = a[first:last + 1]
        out["SPT"] = spt.size * ep_min
        out["TST"] = sleep_idx.size * ep_min
        out["WASO"] = int((spt == 0).sum()) * ep_min
        out["SOL"] = first * ep_min
        rem = np.flatnonzero(a == 4)
        out["REM_latency"] = (int(rem[0]) - first) * ep_min if rem.size else float("nan")
    else:
        out.update(SPT=0.0, TST=0.0, WASO=0.0, SOL=float("nan"), REM_latency=float("nan"))
    out["SE"] = 100.0 * out["TST"] / out["TIB"]
    out["SME"] = 100.0 * out["TST"] / out["SPT"] if out["SPT"] > 0 else float("nan")
    for code, stage in enumerate(("W", "N1", "N2", "N3", "REM")):
        out[stage] = int((a == code).sum()) * ep_min
    out["NREM"] = out["N1"] + out["N2"] + out["N3"]
    out["Unscored"] = int((a < 0).sum()) * ep_min
    for stage in ("N1", "N2", "N3", "REM", "NREM"):
        out[f"%{stage}"] = 100.0 * out[stage] / out["TST"] if out["TST"] > 0 else float("nan")
    return {k: float(out[k]) for k in STAT_NAMES}


def compare_statistics(truth, pred, epoch_s: float = 30.0, *, mask_unscored: bool = True):
    """Sleep statistics of the true and the predicted hypnogram of one night, side by side.

    Parameters
    ----------
    truth, pred : array_like of int, shape (n_epochs,)
        True and predicted stage per epoch of the same night (codes as in
        :func:`sleep_statistics`).
    epoch_s : float
        Epoch length in seconds.
    mask_unscored : bool
        Treat epochs unscored in ``truth`` as unscored in ``pred`` too, so both sides are
        measured on the same epochs (default).

    Returns
    -------
    pandas.DataFrame
        Index ``statistic`` (:data:`STAT_NAMES`), columns ``truth``, ``pred`` and ``diff``
        (pred - truth), in the units of :data:`STAT_UNITS` (also in ``frame.attrs["units"]``).
    """
    import pandas as pd

    t = _check_stages(truth, "truth")
    p = _check_stages(pred, "pred")
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} epochs but pred has {p.size}; accepted: the same night, "
                         "one stage per epoch in both")
    if mask_unscored:
        p = np.where(t < 0, t, p)
    st, sp = sleep_statistics(t, epoch_s), sleep_statistics(p, epoch_s)
    df = pd.DataFrame({"truth": st, "pred": sp})
    df["diff"] = df["pred"] - df["truth"]
    df.index.name = "statistic"
    df.attrs["units"] = dict(STAT_UNITS)
    return df


def per_night_statistics(truth, pred, records, epochs=None, epoch_s: float = 30.0, *,
                         mask_unscored: bool = True):
    """:func:`compare_statistics` for every night of a set of rows (e.g. OOF predictions).

    Parameters
    ----------
    truth, pred : array_like of int, shape (n,)
        True and predicted stage per row.
    records : array_like of str, shape (n,)
        Night of each row.
    epochs : array_like of int, shape (n,), optional
        Epoch index of each row within its night. When given, each night's rows are sorted
        by epoch and missing epochs between its first and last (excluded by the loader:
        movement, unscored) count as unscored, so TIB spans the night; when omitted, the
        rows are taken as consecutive epochs in the given order.
    epoch_s : float
        Epoch length in seconds.
    mask_unscored : bool
        As in :func:`compare_statistics`.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``record, statistic, unit, truth, pred, diff``; nights in order
        of first appearance, statistics in the order of :data:`STAT_NAMES`.
    """
    import pandas as pd

    t = np.asarray(truth).ravel()
    p = np.asarray(pred).ravel()
    r = np.asarray(records).astype(str).ravel()
    if not (t.shape == p.shape == r.shape):
        raise ValueError(f"truth ({t.size}), pred ({p.size}) and records ({r.size}) must have the same length")
    e = None
    if epochs is not None:
        e = np.asarray(epochs).ravel()
        if e.shape != t.shape or e.dtype.kind not in "iu":
            raise ValueError(f"epochs has shape {e.shape} and dtype {e.dtype}; accepted: ({t.size},) integers")
    frames = []

    for rec, m in record_groups(r):
        tt, pp = t[m], p[m]
        if e is not None:
            ee = e[m]
            order = np.argsort(ee, kind="stable")
            ee, tt, pp = ee[order], tt[order], pp[order]
            if np.any(np.diff(ee) == 0):
                raise ValueError(f"record {rec!r} repeats epoch {int(ee[np.flatnonzero(np.diff(ee) == 0)[0]])}; "
                                 "accepted: each (record, epoch) once")
            span = int(ee[-1] - ee[0]) + 1
            full_t = np.full(span, -1, np.int64)
            full_p = np.full(span, -1, np.int64)
            full_t[ee - ee[0]] = _check_stages(tt, f"truth of {rec}")
            full_p[ee - ee[0]] = _check_stages(pp, f"pred of {rec}")
            tt, pp = full_t, full_p
        df = compare_statistics(tt, pp, epoch_s, mask_unscored=mask_unscored).reset_index()
        df.insert(0, "record", str(rec))
        df.insert(2, "unit", df["statistic"].map(STAT_UNITS))
        frames.append(df)
    if not frames:
        raise ValueError("no rows given; accepted: at least one epoch")
    return pd.concat(frames, ignore_index=True)
