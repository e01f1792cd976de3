"""Sleep staging: five stages (W, N1, N2, N3, REM) per 30-s epoch, one softmax, Cohen's kappa,
and post-processing of each night's stage sequence by a registered method
(:mod:`sigvision.postprocess`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import postprocess
from ..errors import ConfigError
from ..loaders.base import STAGES
from .base import Task, TaskSpec, one_of

__all__ = ["SleepTask"]


@dataclass(frozen=True)
class SleepTask(Task):
    name: str = "sleep"
    data_task: str = "sleep"
    multilabel: bool = False
    unit: str = "epochs"
    losses: tuple[str, ...] = ("ce",)
    fit_metrics: tuple[str, ...] = ("kappa", "macro_f1", "none")
    default_fit_metric: str = "kappa"
    search_monitor: str = "kappa"
    signal_scale: float = 0.01

    def spec(self, data, index) -> TaskSpec:
        return TaskSpec(list(STAGES), False, index["label"].to_numpy(dtype=np.int64), {})

    def input_channels(self, data) -> tuple[str, ...]:
        return tuple(data.channels)

    def postprocess_methods(self) -> tuple[str, ...]:
        """The post-processor registry's methods (one registered in Python before the config
        is read counts too)."""
        return tuple(postprocess.available_postprocessors())

    def check_postprocess(self, pcfg) -> None:
        one_of("postprocess.method", str(pcfg.method), self.postprocess_methods())
        try:
            postprocess.check_options(pcfg.method, pcfg.options)
        except ValueError as exc:
            raise ConfigError(f"postprocess.options: {exc}") from None

    def check_config(self, cfg) -> None:
        if cfg.blend.fit_metric == "auroc":
            raise ConfigError("blend.fit_metric=auroc scores ECG blends; for data.task=sleep use kappa, macro_f1, "
                              "none or auto")
        if cfg.postprocess.submission != "none":
            raise ConfigError("postprocess.submission=aiwin writes the AIWIN ECG answer file; "
                              f"data.task={cfg.data.task}: set postprocess.submission: none")
        super().check_config(cfg)
