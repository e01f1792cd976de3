"""Optimisers by name, built by timm's optimiser factory.

``train.optimizer`` names an entry of :data:`OPTIMIZERS`; each entry is the timm factory name
plus the settings that keep the behaviour this project was built with:

=========  ==========================================================================
name       what it builds (``timm.optim.create_optimizer_v2``)
=========  ==========================================================================
adam       ``torch.optim.Adam``: the MAIC 2021 ViT-B/16 recipe
adamw      ``torch.optim.AdamW``
adamp      timm's ``AdamP`` (Heo et al. 2021) with the AdamP paper's and ``adamp``
           package's defaults, betas (0.9, 0.999), delta 0.1, wd_ratio 0.1, no Nesterov
           (timm's own registry defaults are wd_ratio 0.01 with Nesterov): the MAIC 2021
           EfficientNet-B4 recipe. timm's implementation takes its per-channel views with
           ``reshape``, so channels-last weights work.
sgd        ``torch.optim.SGD``, momentum 0.9, Nesterov
=========  ==========================================================================

Weight decay (``train.weight_decay``) is skipped for 1-D parameters (biases, norm weights):
the parameter groups are built here, once, and handed to the factory.

This module imports only the standard library at import time (the config reads
:data:`OPTIMIZERS` to validate ``train.optimizer``); torch and timm are imported when an
optimiser is built.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..registry import Registry

# timm is imported where an optimiser is built: the config reads OPTIMIZERS and must stay cheap.

__all__ = ["OptimizerSpec", "OPTIMIZERS", "param_groups", "make_optimizer"]


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimiser of timm's factory and the keyword settings it is built with."""

    timm_name: str
    kwargs: dict = field(default_factory=dict)


#: ``train.optimizer`` values.
OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimiser", "train.optimizer")
OPTIMIZERS.register("adam", OptimizerSpec("adam"))
OPTIMIZERS.register("adamw", OptimizerSpec("adamw"))
OPTIMIZERS.register("adamp", OptimizerSpec("adamp", {"betas": (0.9, 0.999), "delta": 0.1, "wd_ratio": 0.1,
                                                     "nesterov": False}))
OPTIMIZERS.register("sgd", OptimizerSpec("sgd", {"momentum": 0.9, "nesterov": True}))


def param_groups(model, weight_decay: float) -> list[dict]:
    """Two groups: weights of 2 or more dimensions decay by ``weight_decay``, 1-D ones
    (biases, norm scales) do not."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(tcfg, model):
    """The optimiser ``tcfg.optimizer`` for ``model`` at ``tcfg.lr``, from timm's factory.

    Unknown names raise :class:`~sigvision.errors.ConfigError` with the closest valid one."""
    spec = OPTIMIZERS.get(tcfg.optimizer)
    # timm (and torch) on first use only: the config imports this module to validate names
    from timm.optim import create_optimizer_v2

    kwargs = dict(spec.kwargs)
    kwargs.setdefault("momentum", 0.9)  # the factory passes it only to optimisers that take it
    return create_optimizer_v2(param_groups(model, tcfg.weight_decay), opt=spec.timm_name, lr=tcfg.lr,
                               weight_decay=tcfg.weight_decay, **kwargs)
