"""Models: timm image models by name, models registered here, optional meta features.

``build_model(cfg.model, num_classes)`` returns an ``nn.Module`` mapping images
``(batch, 3, H, W)`` (and, with meta features, ``meta`` ``(batch, n_meta)``) to logits
``(batch, num_classes)``.

Presets (configs/): ``vit_base_patch16_224`` trained with Adam and ``tf_efficientnet_b4_ns``
trained with AdamP, as in the MAIC 2021 solution; ``test_vit`` / ``test_efficientnet``
(timm's tiny test models) for CPU demos and tests.

Pretrained weights are never silently skipped: when ``pretrained`` is asked for, they come
from ``pretrained_file``, else ``$SIGVISION_WEIGHTS/<name>.{safetensors,pth,bin}``, else
timm's hub; when none works the error names the file to place and where.
"""
from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, SigvisionError
from ..registry import MODELS
from . import resnet1d  # noqa: F401  (registers the 1-D signal models into MODELS)
from . import sleep_features  # noqa: F401  (registers the classical sleep stager into MODELS)
from .meta import META_SIZES, meta_vector  # noqa: F401  (part of the factory's API)

# timm is imported where a model is built (heavy).

__all__ = ["MODELS", "register_model", "build_model", "available_models", "meta_vector",
           "find_pretrained_file", "PretrainedWeightsError", "SigModel"]

log = logging.getLogger(__name__)


class PretrainedWeightsError(SigvisionError):
    """Pretrained weights were requested but cannot be found."""


def register_model(name: str):
    """Decorator registering a model builder ``fn(num_classes, **kw) -> nn.Module``."""

    def deco(fn):
        return MODELS.register(name, fn)

    return deco


def available_models() -> list[str]:
    """sigvision's own models (every timm model name is accepted too)."""
    return MODELS.available()


def find_pretrained_file(name: str, explicit: str = "") -> Path | None:
    """The local pretrained file for ``name``: ``explicit`` or one in ``$SIGVISION_WEIGHTS``."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise PretrainedWeightsError(f"{p}: pretrained weights file not found; fix: correct "
                                         f"model.pretrained_file or download {name} weights there")
        return p
    folder = os.environ.get("SIGVISION_WEIGHTS")
    if folder:
        for ext in (".safetensors", ".pth", ".bin", ".pt"):
            p = Path(folder) / f"{name}{ext}"
            if p.is_file():
                return p
    return None


class SigModel(nn.Module):
    """A backbone plus a linear head over [image features, meta features].

    Without meta features this is the backbone's own classifier (``forward(x)``).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, meta_features: tuple[str, ...] = ()):
        super().__init__()
        self.meta_features = tuple(meta_features)
        self.backbone = backbone
        self.n_meta = sum(META_SIZES[m] for m in self.meta_features)
        if self.n_meta:
            n_feat = getattr(backbone, "num_features", None)
            if n_feat is None:
                raise ConfigError("meta features need a backbone exposing num_features (timm models do)")
            self.head = nn.Linear(int(n_feat) + self.n_meta, num_classes)
        else:
            self.head = None

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        if self.head is None:
            return self.backbone(x)
        if meta is None:
            raise ValueError(f"this model was built with meta features {self.meta_features}; pass meta")
        feats = self.backbone(x)
        return self.head(torch.cat([feats, meta.to(feats.dtype)], dim=1))


def build_model(mcfg, num_classes: int, *, img_size: int | tuple[int, int] | None = None,
                in_chans: int = 3) -> nn.Module:
    """Create the model named ``mcfg.name`` (registered here, else from timm); ``img_size``:
    the image side, or (height, width), for models built for one input size (ViT).

    Raises
    ------
    ConfigError
        Unknown model name (with close matches).
    PretrainedWeightsError
        ``pretrained`` requested but neither a local file nor the hub is available.
    """
    import timm

    name = mcfg.name
    meta = tuple(mcfg.meta_features)
    if name in MODELS:
        if mcfg.pretrained:
            raise ConfigError(f"model {name!r} is a sigvision model without pretrained weights; "
                              "set model.pretrained: false")
        builder = MODELS[name]
        if getattr(builder, "takes_meta", False):  # a model that joins the meta features itself (ecg_baseline)
            return builder(num_classes=num_classes, in_chans=in_chans, drop_rate=mcfg.drop_rate, meta_features=meta)
        backbone = builder(num_classes=0 if meta else num_classes, in_chans=in_chans, drop_rate=mcfg.drop_rate)
        return SigModel(backbone, num_classes, meta)
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, list(MODELS) + timm.list_models(), n=3)
        raise ConfigError(f"model.name={name!r} is neither a sigvision nor a timm model"
                          + (f"; did you mean {', '.join(close)}?" if close else ""))
    kw: dict = {"num_classes": 0 if meta else num_classes, "drop_rate": mcfg.drop_rate, "in_chans": in_chans}
    if img_size is not None and _accepts_img_size(name):
        kw["img_size"] = img_size
    if mcfg.pretrained:
        local = find_pretrained_file(name, mcfg.pretrained_file)
        if local is not None:
            kw["pretrained_cfg_overlay"] = {"file": str(local)}
        try:
            backbone = timm.create_model(name, pretrained=True, **kw)
        except Exception as exc:  # hub unreachable, file unreadable, ...
            folder = os.environ.get("SIGVISION_WEIGHTS", "<folder>")
            raise PretrainedWeightsError(
                f"pretrained weights for {name} could not be loaded ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); fix: download them once and set "
                f"model.pretrained_file: /path/{name}.safetensors (or put {name}.safetensors in "
                f"SIGVISION_WEIGHTS={folder}), or set model.pretrained: false to train from scratch") from None
    else:
        backbone = timm.create_model(name, pretrained=False, **kw)
    return SigModel(backbone, num_classes, meta)


def _accepts_img_size(name: str) -> bool:
    """ViT-like timm models take an ``img_size`` argument; CNNs are size-agnostic."""
    return any(k in name for k in ("vit", "deit", "beit", "swin", "eva", "maxvit", "coat", "mambaout"))


