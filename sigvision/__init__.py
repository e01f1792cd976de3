"""sigvision: physiological recordings -> images -> ensembles of timm vision models.

Sleep staging from PSG (EDF/EDF+) and 12-lead ECG classification (WFDB) through one
pipeline: loaders -> render -> models/train -> infer -> blend -> postprocess.

Submodules are imported lazily so ``import sigvision`` stays cheap (no torch import).
"""
from __future__ import annotations

import importlib

from ._version import __version__

_SUBMODULES = ("arraycheck", "augment", "baselines", "blend", "config", "ensemble", "errors", "io", "loaders",
               "metrics", "models", "postprocess", "quality", "registry", "render", "report", "runtime", "samples",
               "schedule", "steps", "tasks", "train")

__all__ = ["__version__", "stage", *_SUBMODULES]


def __getattr__(name: str):
    if name == "stage":  # sigvision.stage(raw, run_dir=...): one night with a trained ensemble
        from .steps.stage import stage

        return stage
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sigvision' has no attribute {name!r}")
