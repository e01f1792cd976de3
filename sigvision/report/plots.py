"""Plots for people: hypnograms (truth above prediction), confusion matrices and training curves.

Every function returns PNG bytes; :func:`save_png` writes them atomically. Figures are
drawn on matplotlib's Agg canvas directly (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``): no pyplot state, no GUI backend, nothing left open after a call.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io.artifacts import write_bytes
from ..metrics.classification import classification_metrics

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

# matplotlib is imported where a figure is drawn (heavy).

__all__ = ["hypnogram_png", "confusion_png", "training_curves_png", "save_png", "STAGE_PLOT_ORDER"]

#: Stages top to bottom as clinicians draw a hypnogram (codes of ``loaders.base.STAGES``).
STAGE_PLOT_ORDER: tuple[int, ...] = (0, 4, 1, 2, 3)  # W, REM, N1, N2, N3
_STAGE_NAMES = {0: "W", 1: "N1", 2: "N2", 3: "N3", 4: "REM"}
_REM_COLOR = "#d62728"
_ERR_COLOR = "#ff9f1c"
_UNSCORED_COLOR = "#bdbdbd"


def _figure(figsize, dpi):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig, dpi) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    finally:
        fig.clf()
    return buf.getvalue()


def save_png(path: str | os.PathLike, png: bytes) -> Path:
    """Write PNG bytes from this module to ``path`` atomically."""
    if not isinstance(png, (bytes, bytearray)) or not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
        raise ValueError("png must be the PNG bytes returned by a sigvision.report.plots function")
    return write_bytes(path, bytes(png))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-D boolean array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends)]


def _stage_array(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} has shape {a.shape}; accepted: a non-empty 1-D array of stages")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a) & (a == np.round(a))):
        raise ValueError(f"{name} holds non-integer values; accepted: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, negative unscored")
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{name} has dtype {a.dtype}; accepted: integer stage codes")
    a = a.astype(np.int64)
    if a.max() > 4:
        raise ValueError(f"{name} holds stage code {int(a.max())}; accepted: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, "
                         "negative unscored")
    return a


def _draw_hypnogram(ax, stages: np.ndarray, hours: np.ndarray, level: dict[int, int], err=None):
    n = stages.size
    y = np.array([level.get(int(s), np.nan) for s in stages], dtype=float)
    scored = stages >= 0
    # one collection per kind of span, not an artist per run: a night with 200 error runs took
    # 0.7 s to draw with one axvspan each
    spans = [(~scored, _UNSCORED_COLOR, 0.5)] + ([(err, _ERR_COLOR, 0.35)] if err is not None else [])
    for mask, color, alpha in spans:
        runs = list(_runs(mask))
        if runs:
            ax.broken_barh([(hours[s], hours[s + ln] - hours[s]) for s, ln in runs], (0, 1),
                           transform=ax.get_xaxis_transform(), color=color, alpha=alpha, lw=0, zorder=0)
    ax.step(hours, np.append(y, y[-1]), where="post", color="#1f3b73", lw=1.1, zorder=2)
    rem = list(_runs(stages == 4))
    if rem:
        ax.hlines([level[4]] * len(rem), [hours[s] for s, _ in rem], [hours[s + ln] for s, ln in rem], colors=_REM_COLOR,
                  lw=3.2, zorder=3)
    ax.set_ylim(-0.6, len(level) - 0.4)
    ticks = sorted(level.items(), key=lambda kv: kv[1])
    ax.set_yticks([lv for _, lv in ticks])
    ax.set_yticklabels([_STAGE_NAMES[c] for c, _ in ticks])
    for lab, (c, _) in zip(ax.get_yticklabels(), ticks):
        if c == 4:
            lab.set_color(_REM_COLOR)
            lab.set_fontweight("bold")
    ax.set_xlim(hours[0], hours[n])
    ax.grid(axis="y", color="#e6e6e6", lw=0.6, zorder=-1)
    ax.set_axisbelow(True)


def hypnogram_png(truth, pred=None, epoch_s: float = 30.0, title: str = "", errors: bool = True, *,
                  figsize: tuple[float, float] | None = None, dpi: int = 100) -> bytes:
    """Hypnogram of one night as PNG: truth panel above prediction panel.

    Stages run top to bottom W, REM, N1, N2, N3; REM is drawn as a thick red bar. The time
    axis (hours from the first epoch) is shared. Epochs where the prediction differs from
    the truth are shaded orange in the prediction panel; unscored epochs (negative codes)
    are shaded grey. With a prediction, the title carries accuracy and Cohen's kappa over
    the scored epochs.

    Parameters
    ----------
    truth : array_like of int, shape (n_epochs,)
        True stage per epoch (0 W, 1 N1, 2 N2, 3 N3, 4 REM, negative unscored).
    pred : array_like of int, shape (n_epochs,), optional
        Predicted stage per epoch; omit to draw the truth alone.
    epoch_s : float
        Epoch length in seconds.
    title : str
        Figure title.
    errors : bool
        Shade the epochs where ``pred != truth``.
    figsize : (float, float), optional
        Figure size in inches (default ``(11, 4.8)`` with a prediction, ``(11, 2.6)`` without).
    dpi : int
        Pixels per inch; the PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    bytes
        The PNG file.
    """
    t = _stage_array(truth, "truth")
    p = None if pred is None else _stage_array(pred, "pred")
    if p is not None and p.shape != t.shape:
        raise ValueError(f"truth has {t.size} epochs but pred has {p.size}; accepted: the same night in both")
    if not (np.isscalar(epoch_s) and float(epoch_s) > 0):
        raise ValueError(f"epoch_s={epoch_s!r}; accepted: a positive epoch length in seconds")
    hours = np.arange(t.size + 1) * float(epoch_s) / 3600.0
    level = {code: len(STAGE_PLOT_ORDER) - 1 - i for i, code in enumerate(STAGE_PLOT_ORDER)}
    figsize = figsize or ((11.0, 4.8) if p is not None else (11.0, 2.6))
    fig = _figure(figsize, dpi)
    axes = fig.subplots(2 if p is not None else 1, 1, sharex=True, squeeze=False)[:, 0]
    _draw_hypnogram(axes[0], t, hours, level)
    axes[0].set_ylabel("Truth", fontweight="bold")
    head = title
    if p is not None:
        both = (t >= 0) & (p >= 0)
        err = both & (t != p) if errors else None
        _draw_hypnogram(axes[1], p, hours, level, err)
        axes[1].set_ylabel("Prediction", fontweight="bold")
        if both.any():
            m = classification_metrics(t[both], p[both], 5)
            scores = f"accuracy {m['accuracy']:.3f}, kappa {m['kappa']:.3f}, {int(both.sum())} epochs"
            head = f"{title}  ({scores})" if title else scores
        from matplotlib.patches import Patch

        handles = [Patch(color=_REM_COLOR, label="REM")]
        if errors:
            pct = 100.0 * err.sum() / max(int(both.sum()), 1)
            handles.append(Patch(color=_ERR_COLOR, alpha=0.35, label=f"prediction \u2260 truth ({pct:.1f}%)"))
        if (t < 0).any() or (p < 0).any():
            handles.append(Patch(color=_UNSCORED_COLOR, alpha=0.5, label="unscored"))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=9)
    elif (t < 0).any():
        from matplotlib.patches import Patch

        fig.legend(handles=[Patch(color=_UNSCORED_COLOR, alpha=0.5, label="unscored")],
                   loc="outside lower center", frameon=False, fontsize=9)
    axes[-1].set_xlabel("Time (hours)")
    if head:
        fig.suptitle(head, fontsize=11)
    return _png(fig, dpi)


def confusion_png(cm, class_names: Sequence[str], normalize: bool = True, title: str = "", *,
                  figsize: tuple[float, float] | None = None, dpi: int = 100) -> bytes:
    """Confusion matrix as PNG, every cell labelled with its count and row percentage.

    Parameters
    ----------
    cm : array_like, shape (C, C)
        Counts; rows are the truth, columns the prediction (as
        :func:`sigvision.metrics.classification.confusion` returns).
    class_names : sequence of str, length C
        Class names in row/column order.
    normalize : bool
        Colour cells by the row-normalised fraction (recall per true class) when True, by
        raw counts when False. Labels show both in either case.
    title : str
        Figure title.
    figsize : (float, float), optional
        Inches (default grows with C: ``(0.9 C + 3.6, 0.8 C + 2.0)``).
    dpi : int
        Pixels per inch.

    Returns
    -------
    bytes
        The PNG file.
    """
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"cm has shape {m.shape}; accepted: a square (C, C) matrix of counts")
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError("cm holds negative or non-finite values; accepted: non-negative counts")
    c = m.shape[0]
    names = [str(n) for n in class_names]
    if len(names) != c:
        raise ValueError(f"class_names has {len(names)} names for a {c}x{c} matrix; accepted: one per class")
    support = m.sum(1, keepdims=True)
    frac = np.divide(m, support, out=np.zeros_like(m), where=support > 0)
    shown = frac if normalize else m
    vmax = 1.0 if normalize else max(float(m.max()), 1.0)
    fig = _figure(figsize or (0.9 * c + 3.6, 0.8 * c + 2.0), dpi)
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax)
    cb = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
    cb.set_label("fraction of true class" if normalize else "epochs")
    is_int = np.all(m == np.round(m))
    for i in range(c):
        for j in range(c):
            count = f"{int(m[i, j])}" if is_int else f"{m[i, j]:.3g}"
            txt = f"{count}\n{100 * frac[i, j]:.1f}%" if support[i, 0] > 0 else count
            ax.text(j, i, txt, ha="center", va="center", fontsize=9,
                    color="white" if shown[i, j] > 0.55 * vmax else "black")
    ax.set_xticks(range(c))
    ax.set_xticklabels(names)
    ax.set_yticks(range(c))
    ax.set_yticklabels([f"{n} (n={int(s) if is_int else f'{s:.3g}'})" for n, s in zip(names, support[:, 0])])
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    total = m.sum()
    acc = np.trace(m) / total if total > 0 else float("nan")
    sub = f"accuracy {acc:.3f}, {int(total) if is_int else total} total"
    ax.set_title(f"{title}\n{sub}" if title else sub, fontsize=10)
    return _png(fig, dpi)


def training_curves_png(metrics_df, *, title: str = "", score: str = "kappa",
                        figsize: tuple[float, float] = (11.0, 4.0), dpi: int = 100) -> bytes:
    """Training curves as PNG: losses (left) and a validation score (right) per epoch.

    Parameters
    ----------
    metrics_df : pandas.DataFrame
        One row per epoch as in ``fold_<k>/metrics.csv`` (columns ``epoch``, ``train_loss``
        and/or ``val_loss`` (or ``loss``), and ``score``); with a ``fold`` column, one line
        per fold (the folds' ``metrics.csv`` concatenated). Train loss is solid, validation
        loss dashed; the best epoch of each fold by ``score`` is marked.
    title : str
        Figure title.
    score : str
        Column drawn in the right panel (``kappa``; ``macro_f1`` and ``accuracy`` also exist).
    figsize : (float, float)
        Inches.
    dpi : int
        Pixels per inch.

    Returns
    -------
    bytes
        The PNG file.
    """
    import pandas as pd
    from matplotlib.lines import Line2D

    if not isinstance(metrics_df, pd.DataFrame) or metrics_df.empty:
        raise ValueError("metrics_df must be a non-empty pandas DataFrame (one row per epoch, e.g. metrics.csv)")
    cols = list(metrics_df.columns)
    loss_cols = [c for c in ("train_loss", "val_loss", "loss") if c in cols]
    missing = [c for c in ("epoch", score) if c not in cols] + ([] if loss_cols else ["train_loss/val_loss"])
    if missing:
        raise ValueError(f"metrics_df lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, cols))}")
    df = metrics_df.sort_values(["fold", "epoch"] if "fold" in cols else ["epoch"])
    groups = list(df.groupby("fold", sort=True)) if "fold" in cols else [(None, df)]
    fig = _figure(figsize, dpi)
    ax_l, ax_s = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(groups))]
    styles = {"train_loss": "-", "loss": "-", "val_loss": "--"}
    for (fold, g), col in zip(groups, colors):
        for lc in loss_cols:
            ax_l.plot(g["epoch"], g[lc], ls=styles[lc], color=col, marker="o", ms=3, lw=1.4)
        ax_s.plot(g["epoch"], g[score], color=col, marker="o", ms=3, lw=1.4)
        s = g[score].to_numpy(dtype=float)
        if np.isfinite(s).any():
            b = int(np.nanargmax(s))
            ax_s.plot(g["epoch"].iloc[b], s[b], marker="*", ms=12, color=col, mec="black", mew=0.6, ls="none")
    ax_l.set_xlabel("Epoch")
    ax_l.set_ylabel("Loss")
    ax_l.set_title("Loss")
    ax_s.set_xlabel("Epoch")
    ax_s.set_ylabel(score)
    ax_s.set_title(f"Validation {score}")
    for ax in (ax_l, ax_s):
        ax.grid(color="#e6e6e6", lw=0.6)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [Line2D([], [], color="black", ls=styles[lc], label=lc.replace("_", " ")) for lc in loss_cols]
    fold_handles = handles + [Line2D([], [], color=col, lw=2, label=f"fold {fold}" if fold is not None else "run")
                    for (fold, _), col in zip(groups, colors)]
    fold_handles.append(Line2D([], [], marker="*", ms=10, color="grey", mec="black", ls="none",
                               label=f"best {score}"))
    fig.legend(handles=fold_handles, loc="outside right center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return _png(fig, dpi)
