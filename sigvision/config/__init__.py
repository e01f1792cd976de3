"""Experiment configuration: one YAML per experiment -> a frozen dataclass.

==========================  =================================================================
module                      what
==========================  =================================================================
:mod:`.schema`              the sections as frozen dataclasses and their value checks
:mod:`.load`                YAML (``base:``), ``--set`` overrides, key suggestions, type checks,
                            the task's and the registries' checks, hashing, saving
:mod:`.checkpoints`         which checkpoint each model is used at
:mod:`.hashing`             configs as dicts and their fingerprints
==========================  =================================================================

The schema and checkpoint choice are re-exported here (``from sigvision.config import
Config``); reading files is :mod:`sigvision.config.load`'s (``load_config``), which also asks
the task, so this package stays importable by the tasks themselves.
"""
from __future__ import annotations

from .checkpoints import (
    check_checkpoint_choice,
    checkpoint_choice,
    parse_checkpoint_arg,
    resolve_checkpoint,
)
from .hashing import TARGET_ONLY_DATA_KEYS, config_hash, config_to_dict
from .schema import (
    ECG_LEADS,
    SLEEP_CHANNELS,
    BlendConfig,
    Config,
    DataConfig,
    NIGHT_NORMS,
    InferConfig,
    ModelConfig,
    PostprocessConfig,
    PrepareConfig,
    RenderConfig,
    TrainConfig,
)

__all__ = ["DataConfig", "RenderConfig", "PrepareConfig", "ModelConfig", "TrainConfig", "InferConfig", "BlendConfig",
           "PostprocessConfig", "Config", "SLEEP_CHANNELS", "ECG_LEADS", "NIGHT_NORMS", "checkpoint_choice", "resolve_checkpoint",
           "check_checkpoint_choice", "parse_checkpoint_arg", "config_hash", "config_to_dict",
           "TARGET_ONLY_DATA_KEYS"]
