"""What every task has: the :class:`Task` interface and :class:`TaskSpec`, the classes and
targets of a prepared index.

A task owns everything that differs between problems, so that training, inference, blending,
post-processing, evaluation and prediction ask the task instead of testing ``data.task``:

* which classes and targets an index has (:meth:`Task.spec`), single- or multi-label;
* what one row is (``unit``: a 30-s epoch or a record) and which signals feed a 1-D model;
* the default training loss and monitored metric, the losses it accepts;
* the blend's default fitting metric and the ones that score it;
* how probabilities become decisions: the ``postprocess.method`` values it accepts
  (:meth:`Task.postprocess_methods`) and their options, checked when the config is read,
  and the decisions themselves (:meth:`Task.postprocess` writes ``files_post.csv``);
* how decisions are scored against the truth (:meth:`Task.evaluate`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..config.schema import one_of
from ..errors import ConfigError
from ..loaders.base import STAGES
from ..metrics.classification import classification_metrics
from ..quality import OK, parse_labels

__all__ = ["Task", "TaskSpec", "quality_summary"]


@dataclass
class TaskSpec:
    """What is predicted: class names, single- or multi-label, and the targets per index row.

    ``targets``: int64 (n,) class indices for single-label tasks, float32 (n, C) multi-hot
    for multi-label ones.
    """

    classes: list
    multilabel: bool
    targets: np.ndarray
    summary: dict
    challenge: str = "2021"  # ECG: the Challenge year whose metric scores the classes


@dataclass(frozen=True)
class Task:
    """One prediction problem. Subclasses fill the class attributes and override the methods
    whose answer differs; instances are registered in :data:`sigvision.tasks.TASKS`.

    Attributes
    ----------
    name : str
        Registry key: ``sleep``, ``ecg_multilabel``, ``ecg_binary``.
    multilabel : bool
        One sigmoid per class (True) or one softmax over the classes.
    unit : str
        What one row of a prepared index is, plural (``epochs``, ``records``).
    losses : tuple of str
        ``train.loss`` values it trains with; the first is the default (``auto``).
    fit_metrics : tuple of str
        ``blend.fit_metric`` values that score its blends (``none``: equal weights).
    search_monitor : str
        The metric hyper-parameter search maximises when ``train.monitor`` is ``auto``: one
        every fold of the task computes.
    signal_kind : str
        The recordings it reads: ``psg`` (EEG/EOG/EMG channels, ``--eeg/--eog/--emg`` picks)
        or ``ecg`` (leads).
    context_windows : bool
        Whether a row is one epoch of a longer recording rendered with its neighbours (test-time
        shifts of that window, ``infer.tta_shifts_s``, apply).
    signal_scale : float
        Factor from the saved signals' unit to a 1-D model's input (µV -> 0.01 for PSG; ECG
        in mV as saved).
    rows_sum_to_one : bool
        Whether every probability row of its prediction files sums to 1 (a softmax), checked
        when they are read.
    few_validation_rows : bool
        Whether validation folds are usually small enough (a few dozen records) that a
        checkpoint picked by their score deserves a warning.
    """

    name: str = ""
    multilabel: bool = False
    unit: str = "records"
    losses: tuple[str, ...] = ("ce",)
    fit_metrics: tuple[str, ...] = ("none",)
    default_fit_metric: str = "none"
    search_monitor: str = "kappa"
    signal_kind: str = ""
    context_windows: bool = False
    signal_scale: float = 1.0
    rows_sum_to_one: bool = True
    few_validation_rows: bool = False

    # classes and targets -------------------------------------------------------------------
    def spec(self, data, index) -> TaskSpec:
        """Classes and targets of the prepared ``index`` under the ``data`` settings."""
        raise NotImplementedError

    def input_channels(self, data) -> tuple[str, ...]:
        """The signals a 1-D model reads, in order (their count is its input channels)."""
        raise NotImplementedError

    def index_summary(self, index, recs: list[dict]) -> dict:
        """Label counts of a prepared index for ``prepare.json`` (``recs``: the per-record
        entries prepare collected)."""
        return {}

    def training_rows(self, cfg, index):
        """The rows of a prepared index that can be trained on."""
        return index[index["label"] >= 0] if "label" in index else index

    def default_monitor(self, spec: TaskSpec) -> str:
        """The validation metric ``train.monitor: auto`` watches for early stopping and the
        best checkpoint."""
        return "kappa"

    def default_loss(self) -> str:
        return self.losses[0]

    # decisions -----------------------------------------------------------------------------
    def postprocess_methods(self) -> tuple[str, ...]:
        """The ``postprocess.method`` values this task accepts."""
        raise NotImplementedError

    def check_postprocess(self, pcfg) -> None:
        """Refuse ``postprocess.method``/``options`` the task cannot apply (when the config
        is read, not after train, infer and blend)."""
        one_of("postprocess.method", str(pcfg.method), self.postprocess_methods())

    def postprocess(self, cfg, src, out_csv):
        """Decisions from the blended CSV ``src`` -> ``out_csv`` (``files_post.csv``); returns
        its path."""
        raise NotImplementedError

    def decide_new(self, cfg, run, rows, probs, classes):
        """``predict``'s table for new recordings from the run's blended probabilities ``probs``
        of the prepared ``rows``: ``(DataFrame, extra summary dict)``; ``run`` is the run folder
        (where decisions tuned by ``postprocess`` are read)."""
        raise NotImplementedError

    def evaluate(self, cfg, src, out) -> dict:
        """``files_post.csv`` (``src``) against the truth; metrics and plots under the folder
        ``out``. Returns ``{"overall", "out_dir", "per_night", "quality"}``."""
        raise NotImplementedError

    # the whole config ----------------------------------------------------------------------
    def check_config(self, cfg) -> None:
        """Every check of ``cfg`` that depends on the task; raises :class:`ConfigError`."""

        if not isinstance(cfg.postprocess.options, Mapping):
            raise ConfigError(f"postprocess.options must be a mapping of option: value, not "
                              f"{type(cfg.postprocess.options).__name__}")
        self.check_postprocess(cfg.postprocess)
        if cfg.blend.fit_metric not in ("auto", *self.fit_metrics):
            raise ConfigError(f"blend.fit_metric={cfg.blend.fit_metric} does not score a {self.name} blend; "
                              f"use {', '.join(self.fit_metrics)} or auto")

    def resolve_fit_metric(self, metric: str) -> str:
        """``blend.fit_metric`` with ``auto`` resolved."""
        return self.default_fit_metric if metric == "auto" else metric


def quality_summary(quality, y=None, p=None) -> dict:
    """Flagged counts of a ``quality`` column, and for sleep the metrics of the unflagged epochs."""
    q = np.asarray([str(v) for v in quality])
    bad = (q != OK) & (q != "")
    out: dict = {"flagged": int(bad.sum()), "of": int(q.size), "counts": parse_labels(q[bad])}
    if y is not None and bad.any() and (~bad).any():
        out["overall_unflagged"] = classification_metrics(y[~bad], p[~bad], 5, list(STAGES))
    return out
