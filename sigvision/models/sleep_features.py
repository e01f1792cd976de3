"""The classical sleep stager as a model of the run: ``model.name: sleep_features``.

:class:`SleepFeatureNet` computes :func:`sigvision.baselines.sleep.sleep_epoch_features` for
every input channel of a 30-s epoch and stages it with the random forest of
:class:`sigvision.baselines.sleep.SleepFeatureStager`. Like ``ecg_baseline`` it is fitted
once per fold in closed form (``sigvision train`` calls :meth:`SleepFeatureNet.fit`), and
its checkpoint is plain tensors: the forest's node arrays, no pickled estimator. ``infer``,
``blend``, ``postprocess`` and ``predict`` treat it like any member.

Input ``(batch, n_channels, n_samples)`` float32: the prepared signals as
:class:`sigvision.train.data.SignalRowsDataset` gives them (µV times ``input_scale``, 0.01
for sleep); output ``(batch, 5)`` log-probabilities, whose softmax is the forest's
probabilities.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..baselines.sleep import FOREST_FIELDS, SLEEP_FEATURE_NAMES, Forest, SleepFeatureStager, sleep_epoch_features
from ..registry import MODELS

__all__ = ["SleepFeatureNet", "INPUT_SCALE"]

#: The factor the sleep signal dataset applies to µV (``SleepTask.signal_scale``); the
#: features are computed on µV again, so that the amplitude features mean what they say.
INPUT_SCALE = 0.01

_FOREST_DTYPES = {"feature": torch.int64, "threshold": torch.float64, "left": torch.int64, "right": torch.int64,
                  "value": torch.float64, "roots": torch.int64}


class SleepFeatureNet(nn.Module):
    """Per-channel EEG/EOG/EMG features + random forest, five sleep stages.

    Parameters
    ----------
    num_classes : int
        Must be 5 (W, N1, N2, N3, REM).
    in_chans : int, default 1
        Channels of the input; each gives ``len(SLEEP_FEATURE_NAMES)`` features.
    drop_rate : float
        Ignored (the factory passes it to every model).
    n_trees, min_samples_leaf, max_features
        The forest's size, leaf size and features drawn per split
        (:class:`~sigvision.baselines.sleep.SleepFeatureStager`).
    seed : int
        The forest's seed; ``sigvision train`` sets it to ``seed + fold`` of the run's config.
    input_scale : float, default :data:`INPUT_SCALE`
        What the input was multiplied by from µV.
    """

    classical = True

    def __init__(self, num_classes: int = 5, in_chans: int = 1, drop_rate: float = 0.0, *, n_trees: int = 100,
                 min_samples_leaf: int = 20, max_features: int | str = 1, input_scale: float = INPUT_SCALE,
                 seed: int = 0):
        super().__init__()
        if num_classes != SleepFeatureStager.n_classes:
            raise ValueError(f"sleep_features stages W, N1, N2, N3, REM: num_classes must be 5; got {num_classes!r} "
                             "(use it with data.task: sleep)")
        if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
            raise ValueError(f"in_chans={in_chans!r} is not valid; accepted: an integer >= 1")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.num_features = in_chans * len(SLEEP_FEATURE_NAMES)
        self.n_trees, self.min_samples_leaf, self.max_features, self.seed = n_trees, min_samples_leaf, max_features, seed
        self.input_scale = float(input_scale)
        self.register_buffer("fs_hz", torch.zeros((), dtype=torch.float64))
        # saved with the forest: its split columns only mean something for the same feature set
        self.register_buffer("feature_count", torch.tensor(self.num_features, dtype=torch.int64))
        for name in FOREST_FIELDS:
            shape = (0, num_classes) if name == "value" else (0,)
            self.register_buffer(name, torch.zeros(shape, dtype=_FOREST_DTYPES[name]))

    @property
    def fitted(self) -> bool:
        return float(self.fs_hz) > 0 and self.roots.numel() > 0

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved_count = state_dict.get(prefix + "feature_count")
        if saved_count is None or int(saved_count) != self.num_features:
            was = "an older feature set (16 per channel)" if saved_count is None else f"{int(saved_count)} features"
            raise RuntimeError(
                f"sleep_features was fitted on {was}; this sigvision computes {self.num_features} "
                f"({len(SLEEP_FEATURE_NAMES)} per channel x {self.in_chans})")
        # the forest's arrays have the size of the fitted trees: take the saved shapes
        for name in FOREST_FIELDS:
            saved = state_dict.get(prefix + name)
            if saved is not None:
                setattr(self, name, torch.empty(saved.shape, dtype=_FOREST_DTYPES[name], device=self.fs_hz.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def features(self, x, meta=None, *, fs_hz: float | None = None) -> np.ndarray:
        """Feature matrix ``(batch, in_chans * len(SLEEP_FEATURE_NAMES))`` of a batch of epochs (channel-major)."""
        arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
        if arr.ndim != 3 or arr.shape[1] != self.in_chans:
            raise ValueError(f"input must have shape (batch, {self.in_chans}, n_samples); got {tuple(arr.shape)}")
        fs = float(self.fs_hz) if fs_hz is None else float(fs_hz)
        uv = arr / self.input_scale
        return np.concatenate([sleep_epoch_features(uv[:, c], fs) for c in range(self.in_chans)], axis=1)

    def fit(self, feats, targets, *, fs_hz: float, multilabel: bool) -> dict:
        """Fit the forest on a feature matrix and stage indices (n,); returns the training
        log-loss and the stages absent from the training epochs (probability 0)."""
        if multilabel:
            raise ValueError("sleep_features stages one label per epoch; it cannot fit multi-label targets "
                             "(use it with data.task: sleep)")
        if np.ndim(feats) != 2 or np.shape(feats)[1] != self.num_features:
            raise ValueError(f"features must have shape (n, {self.num_features}); got {np.shape(feats)}")
        y = np.asarray(targets).astype(np.int64)
        stager = SleepFeatureStager(n_trees=self.n_trees, min_samples_leaf=self.min_samples_leaf,
                                    max_features=self.max_features, seed=self.seed).fit(feats, y)
        forest = stager.forest_
        with torch.no_grad():
            self.fs_hz.fill_(float(fs_hz))
            for name in FOREST_FIELDS:  # on the model's device, like its other buffers
                setattr(self, name, torch.from_numpy(np.ascontiguousarray(getattr(forest, name))).to(
                    device=self.fs_hz.device, dtype=_FOREST_DTYPES[name]))
        p = stager.predict_proba(feats)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))))
        absent = [k for k in range(self.num_classes) if k not in set(np.unique(y).tolist())]
        return {"train_loss": loss, "constant_classes": absent}

    def forest(self) -> Forest:
        """The fitted forest's arrays (:class:`~sigvision.baselines.sleep.Forest`)."""
        return Forest(*(getattr(self, name).cpu().numpy() for name in FOREST_FIELDS))

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fitted:
            raise RuntimeError("sleep_features is not fitted: train it with sigvision train (model.name: sleep_features)")
        p = self.forest().predict_proba(self.features(x))
        return torch.from_numpy(np.log(np.clip(p, 1e-7, 1.0))).to(torch.float32).to(x.device)


def _builder(num_classes: int, in_chans: int = 1, drop_rate: float = 0.0, *, meta_features=(),
             **kw) -> SleepFeatureNet:
    """``sleep_features``: :class:`SleepFeatureNet` (no meta features)."""
    if meta_features:
        raise ValueError(f"sleep_features takes no meta features; got model.meta_features={list(meta_features)} "
                         "(set model.meta_features: [])")
    return SleepFeatureNet(num_classes, in_chans, drop_rate, **kw)


_builder.takes_meta = True  # receives model.meta_features itself (and refuses any): built as it is, no SigModel
MODELS.register_in(__name__, "sleep_features", _builder)
