"""1-D residual networks for multi-lead signals (12-lead ECG at 250-500 Hz).

Input ``(batch, n_leads, n_samples)`` float32 (mV for ECG), output logits
``(batch, num_classes)``; with ``num_classes=0`` the pooled features
``(batch, num_features)``. Importing this module registers the builders in
:data:`sigvision.registry.MODELS`:

========================  ==========================================  ============
name                      blocks                                      num_features
========================  ==========================================  ============
``resnet1d18``            BasicBlock x [2, 2, 2, 2], kernel 7         512
``resnet1d50``            Bottleneck x [3, 4, 6, 3], kernel 7         2048
``resnet1d101``           Bottleneck x [3, 4, 23, 3], kernel 7        2048
``resnext1d50``           Bottleneck 32x4d x [3, 4, 6, 3], kernel 7   2048
``resnet1d_tiny``         BasicBlock x [1, 1], widths 16/32 (tests)   32
``resnet1d18_small``      BasicBlock x [2, 2, 2, 2], widths 16-128    128
``ecg_baseline``          features + logistic regression (classical)  70 (+ meta)
========================  ==========================================  ============

Layout (all variants): stem conv (kernel 15, stride 2) + BN + ReLU + max-pool (3, stride 2),
residual stages (the first at stride 1, the rest at stride 2), global average pooling,
dropout, linear head. The total stride of the 4-stage variants is 32: a 10 s record at
500 Hz (5000 samples) ends as 157 time steps, about 64 ms each. The 18-layer variant
follows the 1-D ResNet of the PhysioNet/CinC 2020 DSAIL_SNU entry (BasicBlock x
[2, 2, 2, 2]); the 50- and 101-layer ones follow He et al. 2016 and Xie et al. 2017 (ResNeXt,
cardinality 32, width 4 per group), with the stride on the middle convolution. The Hefei
(Tianchi 2019) solution trained ResNet-50, ResNet-101 and ResNeXt-50.

Builders: ``fn(num_classes, in_chans=12, drop_rate=0.0, **kw)``; ``kw`` goes to
:class:`ResNet1d` (e.g. ``stem_kernel=7``, ``block_kernel=9``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..baselines.ecg import ecg_features
from ..registry import MODELS
from .meta import META_SIZES
import numpy as np

# scikit-learn is imported where the classical baseline is fitted (heavy).

__all__ = ["BasicBlock1d", "Bottleneck1d", "ResNet1d", "resnet1d18", "resnet1d50", "resnet1d101", "resnext1d50",
           "resnet1d_tiny", "resnet1d18_small", "BaselineNet", "MODEL_NAMES"]

#: Names registered by this module.
MODEL_NAMES: tuple[str, ...] = ("resnet1d18", "resnet1d50", "resnet1d101", "resnext1d50", "resnet1d_tiny",
                                "resnet1d18_small", "ecg_baseline")


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv1d:
    """'Same'-padded 1-D convolution without bias (followed by batch norm)."""
    return nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)


class BasicBlock1d(nn.Module):
    """Two ``kernel``-wide convolutions with a residual connection (expansion 1).

    Parameters
    ----------
    in_ch, planes : int
        Input and output channels.
    stride : int
        Stride of the first convolution (2 halves the length).
    kernel : int
        Odd kernel size in samples.
    groups, base_width : int
        Must be 1 and 64 (grouped convolutions need :class:`Bottleneck1d`).
    """

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, kernel: int = 7, groups: int = 1,
                 base_width: int = 64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock1d supports groups=1, base_width=64 only; got {groups}, {base_width}")
        self.conv1 = _conv(in_ch, planes, kernel, stride)
        self.bn1 = nn.BatchNorm1d(planes)
        self.conv2 = _conv(planes, planes, kernel)
        self.bn2 = nn.BatchNorm1d(planes)
        self.act = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.downsample(x))


class Bottleneck1d(nn.Module):
    """1x1 reduce, ``kernel``-wide (grouped) convolution, 1x1 expand (x4), residual.

    Parameters
    ----------
    in_ch, planes : int
        Input channels and bottleneck base channels (output ``4 * planes``).
    stride : int
        Stride of the middle convolution.
    kernel : int
        Odd kernel size of the middle convolution.
    groups, base_width : int
        Cardinality and width per group; the middle width is
        ``int(planes * base_width / 64) * groups`` (ResNet: 1, 64; ResNeXt 32x4d: 32, 4).
    """

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, kernel: int = 7, groups: int = 1,
                 base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out_ch = planes * self.expansion
        self.conv1 = _conv(in_ch, width, 1)
        self.bn1 = nn.BatchNorm1d(width)
        self.conv2 = _conv(width, width, kernel, stride, groups=groups)
        self.bn2 = nn.BatchNorm1d(width)
        self.conv3 = _conv(width, out_ch, 1)
        self.bn3 = nn.BatchNorm1d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.act(out + self.downsample(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm1d(cout))


class ResNet1d(nn.Module):
    """Generic 1-D ResNet / ResNeXt.

    Parameters
    ----------
    block : {BasicBlock1d, Bottleneck1d}
    layers : sequence of int
        Blocks per stage.
    num_classes : int
        Size of the linear head; 0 returns the pooled features instead.
    in_chans : int, default 12
        Input channels (leads).
    drop_rate : float, default 0.0
        Dropout probability before the head, in [0, 1).
    widths : sequence of int, optional
        Base channels per stage; default ``64 * 2**i``. Stage outputs are
        ``widths[i] * block.expansion``.
    stem_width : int, default 64
    stem_kernel : int, default 15
        Kernel of the stride-2 stem convolution (odd).
    block_kernel : int, default 7
        Kernel of the block convolutions (odd).
    groups, base_width : int, default 1, 64
        ResNeXt cardinality and width per group (Bottleneck only).

    Attributes
    ----------
    num_features : int
        Size of the pooled feature vector (input of the head).
    num_classes : int
    """

    def __init__(
        self,
        block: type[BasicBlock1d] | type[Bottleneck1d],
        layers: Sequence[int],
        num_classes: int,
        in_chans: int = 12,
        drop_rate: float = 0.0,
        *,
        widths: Sequence[int] | None = None,
        stem_width: int = 64,
        stem_kernel: int = 15,
        block_kernel: int = 7,
        groups: int = 1,
        base_width: int = 64,
    ):
        super().__init__()
        layers = [int(n) for n in layers]
        if not layers or min(layers) < 1:
            raise ValueError(f"layers={layers!r} is not valid; accepted: one or more block counts >= 1")
        widths = [64 * 2 ** i for i in range(len(layers))] if widths is None else [int(w) for w in widths]
        if len(widths) != len(layers) or min(widths) < 1:
            raise ValueError(f"widths={widths!r} must give one positive width per stage ({len(layers)} stages)")
        for name, value in (("num_classes", num_classes), ("in_chans", in_chans)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "num_classes" else 1):
                raise ValueError(f"{name}={value!r} is not valid; accepted: an integer "
                                 f"{'>= 0' if name == 'num_classes' else '>= 1'}")
        for name, value in (("stem_kernel", stem_kernel), ("block_kernel", block_kernel)):
            if not isinstance(value, int) or value < 1 or value % 2 == 0:
                raise ValueError(f"{name}={value!r} is not valid; accepted: an odd integer >= 1")
        if not 0.0 <= float(drop_rate) < 1.0:
            raise ValueError(f"drop_rate={drop_rate!r} is not valid; accepted: a number in [0, 1)")
        self.in_chans = in_chans
        self.drop_rate = float(drop_rate)
        self.stem = nn.Sequential(
            _conv(in_chans, stem_width, stem_kernel, stride=2),
            nn.BatchNorm1d(stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(kernel_size=3, stride=2, padding=1),
        )
        stages = []
        ch = stem_width
        for i, (n_blocks, width) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(ch, width, stride=stride, kernel=block_kernel, groups=groups,
                                    base_width=base_width))
                ch = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = ch
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.drop = nn.Dropout(self.drop_rate)
        self.num_classes = 0
        self.fc: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a fresh ``Linear(num_features, num_classes)`` (0: no head)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes={num_classes!r} is not valid; accepted: an integer >= 0")
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map before pooling, shape ``(batch, num_features, n_samples / 32)`` (4 stages)."""
        if x.ndim != 3 or x.shape[1] != self.in_chans:
            raise ValueError(f"input must have shape (batch, {self.in_chans}, n_samples); got {tuple(x.shape)}")
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dropout and head on a feature map; ``pre_logits`` stops before the head."""
        x = self.drop(self.pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, num_classes)``, or pooled features ``(batch, num_features)`` when
        ``num_classes == 0``."""
        return self.forward_head(self.forward_features(x))


@MODELS.register_in(__name__, "resnet1d18")
def resnet1d18(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, **kw) -> ResNet1d:
    """18-layer 1-D ResNet: BasicBlock x [2, 2, 2, 2], widths 64-512, kernel 7 (stem 15)."""
    return ResNet1d(BasicBlock1d, [2, 2, 2, 2], num_classes, in_chans, drop_rate, **kw)


@MODELS.register_in(__name__, "resnet1d50")
def resnet1d50(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, **kw) -> ResNet1d:
    """50-layer 1-D ResNet: Bottleneck x [3, 4, 6, 3], 2048 features, middle kernel 7."""
    return ResNet1d(Bottleneck1d, [3, 4, 6, 3], num_classes, in_chans, drop_rate, **kw)


@MODELS.register_in(__name__, "resnet1d101")
def resnet1d101(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, **kw) -> ResNet1d:
    """101-layer 1-D ResNet: Bottleneck x [3, 4, 23, 3] (the 2-D ResNet-101's stages), 2048
    features, middle kernel 7."""
    return ResNet1d(Bottleneck1d, [3, 4, 23, 3], num_classes, in_chans, drop_rate, **kw)


@MODELS.register_in(__name__, "resnext1d50")
def resnext1d50(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, **kw) -> ResNet1d:
    """1-D ResNeXt-50 32x4d: grouped Bottleneck x [3, 4, 6, 3], 2048 features."""
    kw.setdefault("groups", 32)
    kw.setdefault("base_width", 4)
    return ResNet1d(Bottleneck1d, [3, 4, 6, 3], num_classes, in_chans, drop_rate, **kw)


@MODELS.register_in(__name__, "resnet1d_tiny")
def resnet1d_tiny(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, **kw) -> ResNet1d:
    """Tiny 1-D ResNet for CPU tests: BasicBlock x [1, 1], widths 16/32, stem 16 channels."""
    kw.setdefault("widths", (16, 32))
    kw.setdefault("stem_width", 16)
    return ResNet1d(BasicBlock1d, [1, 1], num_classes, in_chans, drop_rate, **kw)


@MODELS.register_in(__name__, "resnet1d18_small")
def resnet1d18_small(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, **kw) -> ResNet1d:
    """The 18-layer 1-D ResNet (BasicBlock x [2, 2, 2, 2], the CinC 2020 "bag of tricks"
    depth) at a quarter of its width, 16-128 channels (stem 16): about 0.26 M parameters
    instead of 4 M, for CPU training on a few hundred records."""
    kw.setdefault("widths", (16, 32, 64, 128))
    kw.setdefault("stem_width", 16)
    return ResNet1d(BasicBlock1d, [2, 2, 2, 2], num_classes, in_chans, drop_rate, **kw)


# ----------------------------------------------------------------------------- classical baseline
class BaselineNet(nn.Module):
    """The classical ECG baseline as a model of the run: hand-crafted rhythm and band-power
    features (:func:`sigvision.baselines.ecg.ecg_features`, plus age/sex when ``meta_features``) and
    logistic regression, one per class (multi-label) or one multinomial model (single-label).

    It is fitted in closed form, not by gradient steps: :func:`sigvision.train.loop.train_fold`
    calls :meth:`fit` once per fold on the training records' windows and saves the result like
    any checkpoint (``epoch_0.pt``, ``best.pt``, ``last.pt``), so ``infer``, ``blend`` and
    ``predict`` use it beside the deep models. Its state is plain tensors (standardisation,
    coefficients): no pickled estimator.

    Input ``(batch, n_leads, n_samples)`` float32 mV at ``fs_hz`` (set by :meth:`fit`), optional
    ``meta`` ``(batch, n_meta)``; output logits ``(batch, num_classes)`` whose sigmoid
    (multi-label) or softmax (single-label) are the regression's probabilities.

    Parameters
    ----------
    num_classes : int
    in_chans : int, default 12
        Leads; the feature vector has ``10 + 5 * in_chans`` entries (+ ``n_meta``).
    n_meta : int, default 0
        Size of the meta vector (:func:`sigvision.models.factory.meta_vector`).
    C : float, default 0.5
        Inverse L2 strength of the regressions.
    rr_lead : int, default 1
        Row whose R peaks give the rhythm features (lead II in standard order; 0 with one lead).
    """

    classical = True
    takes_meta = True

    def __init__(self, num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, *, n_meta: int = 0,
                 C: float = 0.5, rr_lead: int = 1):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes={num_classes!r} is not valid; accepted: an integer >= 1")
        self.in_chans, self.n_meta, self.C = int(in_chans), int(n_meta), float(C)
        self.rr_lead = min(int(rr_lead), self.in_chans - 1)
        n_feat = 10 + 5 * self.in_chans + self.n_meta
        self.num_features, self.num_classes = n_feat, num_classes
        self.register_buffer("fs_hz", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(n_feat, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_feat, dtype=torch.float64))
        self.register_buffer("coef", torch.zeros(num_classes, n_feat, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros(num_classes, dtype=torch.float64))

    @property
    def fitted(self) -> bool:
        return float(self.fs_hz) > 0

    def features(self, x, meta=None, fs_hz: float | None = None):
        """float64 (batch, num_features) features of a batch (tensor or array, mV) sampled at
        ``fs_hz`` (default: the rate the model was fitted at)."""
        arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
        if arr.ndim != 3 or arr.shape[1] != self.in_chans:
            raise ValueError(f"input must have shape (batch, {self.in_chans}, n_samples); got {tuple(arr.shape)}")
        fs = float(self.fs_hz) if fs_hz is None else float(fs_hz)
        feats = np.stack([ecg_features(a, fs, lead=self.rr_lead) for a in arr]) if len(arr) else \
            np.zeros((0, self.num_features - self.n_meta))
        if self.n_meta:
            if meta is None:
                raise ValueError(f"this baseline was built with {self.n_meta} meta feature value(s); pass meta")
            m = meta.detach().cpu().double().numpy() if isinstance(meta, torch.Tensor) else np.asarray(meta, float)
            feats = np.concatenate([feats, m], axis=1)
        return feats

    def fit(self, feats, targets, *, fs_hz: float, multilabel: bool) -> dict:
        """Fit on a feature matrix (n, num_features) and targets: multi-hot (n, num_classes)
        when ``multilabel``, else class indices (n,). Returns the training log-loss and the
        classes that were constant in training (predicted by their prevalence)."""
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(feats, np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ValueError(f"features must have shape (n, {self.num_features}); got {X.shape}")
        mean, scale = X.mean(0), X.std(0)
        scale[scale < 1e-12] = 1.0
        Z = (X - mean) / scale
        coef = np.zeros((self.num_classes, self.num_features))
        icpt = np.zeros(self.num_classes)
        constant = []
        y = np.asarray(targets)
        if multilabel:
            for k in range(self.num_classes):
                yk = (y[:, k] > 0.5).astype(int)
                if yk.min() == yk.max():  # one label value: its prevalence, as a logit
                    p = float(np.clip(yk.mean(), 1e-4, 1 - 1e-4))
                    icpt[k] = np.log(p / (1 - p))
                    constant.append(k)
                    continue
                lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(Z, yk)
                coef[k], icpt[k] = lr.coef_[0], lr.intercept_[0]
        else:
            y = y.astype(int)
            present = np.unique(y)
            if len(present) < 2:
                p = np.full(self.num_classes, 1e-4)
                p[present] = 1.0
                icpt[:] = np.log(p / p.sum())
                constant = list(range(self.num_classes))
            else:
                lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(Z, y)
                if len(present) == 2:  # sklearn's binary model: one coefficient row for the second class
                    coef[present[1]], icpt[present[1]] = lr.coef_[0], lr.intercept_[0]
                else:
                    coef[present], icpt[present] = lr.coef_, lr.intercept_
                absent = [k for k in range(self.num_classes) if k not in set(present)]
                icpt[absent] = -30.0
        with torch.no_grad():
            self.fs_hz.fill_(float(fs_hz))
            self.mean.copy_(torch.from_numpy(mean))
            self.scale.copy_(torch.from_numpy(scale))
            self.coef.copy_(torch.from_numpy(coef))
            self.intercept.copy_(torch.from_numpy(icpt))
        logits = torch.from_numpy(Z @ coef.T + icpt)
        if multilabel:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y.astype(np.float64)))
        else:
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y.astype(np.int64)))
        return {"train_loss": float(loss), "constant_classes": constant}

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fitted:
            raise RuntimeError("the baseline is not fitted: train it with sigvision train (model.name: ecg_baseline)")
        feats = torch.from_numpy(self.features(x, meta))
        z = (feats - self.mean) / self.scale
        return (z @ self.coef.T + self.intercept).to(torch.float32).to(x.device)


def _baseline_builder(num_classes: int, in_chans: int = 12, drop_rate: float = 0.0, *, meta_features=(),
                      **kw) -> BaselineNet:
    """``ecg_baseline``: :class:`BaselineNet` (takes the run's meta features itself)."""

    return BaselineNet(num_classes, in_chans, drop_rate, n_meta=sum(META_SIZES[m] for m in meta_features), **kw)


_baseline_builder.takes_meta = True
MODELS.register_in(__name__, "ecg_baseline")(_baseline_builder)
