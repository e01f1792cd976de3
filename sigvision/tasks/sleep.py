"""Sleep staging: five stages (W, N1, N2, N3, REM) per 30-s epoch, one softmax, Cohen's kappa,
and post-processing of each night's stage sequence by a registered method
(:mod:`sigvision.postprocess`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import postprocess
from ..config.schema import one_of
from ..errors import ConfigError, InputFileError
from ..io.artifacts import write_bytes, write_csv, write_json, write_text
from ..io.runs import row_table
from ..loaders.base import STAGES
from ..metrics.classification import classification_metrics, confusion, record_groups
from ..metrics.sleepstats import compare_statistics
from ..postprocess import smooth_records
from ..report.plots import confusion_png, hypnogram_png
from .base import Task, TaskSpec, quality_summary

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

__all__ = ["SleepTask"]


@dataclass(frozen=True)
class SleepTask(Task):
    name: str = "sleep"
    multilabel: bool = False
    unit: str = "epochs"
    losses: tuple[str, ...] = ("ce",)
    fit_metrics: tuple[str, ...] = ("kappa", "macro_f1", "none")
    default_fit_metric: str = "kappa"
    search_monitor: str = "kappa"
    signal_kind: str = "psg"
    context_windows: bool = True
    signal_scale: float = 0.01

    def spec(self, data, index) -> TaskSpec:
        return TaskSpec(list(STAGES), False, index["label"].to_numpy(dtype=np.int64), {})

    def input_channels(self, data) -> tuple[str, ...]:
        return tuple(data.channels)

    def index_summary(self, index, recs: list[dict]) -> dict:
        """Epochs per stage and the counters of what prepare left out or flagged."""
        if not len(index) or "label" not in index:
            return {}
        s: dict = {"stage_counts": {st: int((index["label"] == i).sum()) for i, st in enumerate(STAGES)}}
        for k in ("movement_epochs", "unscored_epochs", "trimmed_wake_epochs", "epochs_outside_signal",
                  "nonfinite_epochs", "flat_channel_epochs", "clipped_channel_epochs", "bad_signal_epochs",
                  "dropped_bad_epochs"):
            s[k] = int(sum(r.get(k, 0) or 0 for r in recs))
        return s

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

    def postprocess(self, cfg, src: Path, out_csv) -> Path:
        """Smooth each night of the blended CSV ``src`` with ``postprocess.method`` and write
        ``files_post.csv`` (one row per epoch: record, epoch, onset_s, stage, stage_code, and
        file/quality when known)."""
        import pandas as pd
        table = pd.read_csv(src, dtype={"record": str})
        prob_cols = [f"prob_{s}" for s in STAGES]
        missing = [c for c in prob_cols if c not in table]
        if missing:
            raise InputFileError(src, f"missing columns {', '.join(missing)}",
                                 "post-processing needs the five stage probabilities W, N1, N2, N3, REM")
        if table.empty:
            raise InputFileError(src, "holds no rows", "blend non-empty predictions")
        # each night's epochs in order, nights in their order of first appearance
        night_no = pd.factorize(table["record"])[0]
        table = table.iloc[np.lexsort((table["epoch"].to_numpy(), night_no))].reset_index(drop=True)
        stages = smooth_records(table[prob_cols].to_numpy(dtype=np.float64), table["record"].to_numpy(),
                                method=cfg.postprocess.method, **dict(cfg.postprocess.options))
        post = table[["record", "epoch", "onset_s"] + (["file"] if "file" in table else [])].copy()
        post["stage"] = [STAGES[int(k)] for k in stages]
        post["stage_code"] = np.asarray(stages, dtype=np.int64)
        if "quality" in table:
            post["quality"] = table["quality"].fillna("").astype(str).to_numpy()
        cols = ["record", "epoch", "onset_s", "stage", "stage_code"] + (["file"] if "file" in post else []) + \
            (["quality"] if "quality" in post else [])
        return write_csv(Path(out_csv), post[cols])

    def decide_new(self, cfg, run, rows, probs, classes):
        """Each night smoothed by ``postprocess.method``: stage per epoch, with the hypnodensity
        (the blend's calibrated probability of each stage) and the confidence of the stage
        written."""
        import pandas as pd
        stages = smooth_records(probs, rows["record"].to_numpy(), method=cfg.postprocess.method,
                                **dict(cfg.postprocess.options))
        out = pd.DataFrame({"record": rows["record"].astype(str)})
        out["epoch"] = rows["epoch"].to_numpy()
        out["onset_s"] = rows["onset_s"].to_numpy()
        out["stage"] = [STAGES[k] for k in stages]
        out["stage_code"] = stages
        for j, c in enumerate(classes):
            out[f"p_{c}"] = probs[:, j]
        out["confidence"] = probs[np.arange(len(stages)), stages]  # of the stage written (after post-processing)
        return out, {"stage_counts": {s: int((stages == i).sum()) for i, s in enumerate(STAGES)}}

    def evaluate(self, cfg, src: Path, out: Path) -> dict:
        """``files_post.csv`` (``src``) against the scored stages of the prepared index: overall
        and per-night metrics, sleep statistics, hypnogram and confusion plots under ``out``."""
        import pandas as pd
        post = pd.read_csv(src, dtype={"record": str})
        rows = row_table(cfg, post["record"], post["epoch"])
        if "label" not in rows or (rows["label"] < 0).any():
            raise InputFileError(src, "some epochs have no true stage in the prepared index",
                                 "evaluate predictions of labelled recordings")
        y, p = rows["label"].to_numpy(), post["stage_code"].to_numpy()
        overall = classification_metrics(y, p, 5, list(STAGES))
        per_night, stats = [], []
        for rec, sel in record_groups(post["record"].to_numpy()):
            m = classification_metrics(y[sel], p[sel], 5, list(STAGES))
            per_night.append({"record": rec, "epochs": int(sel.size), **m})
            st = compare_statistics(y[sel], p[sel], epoch_s=cfg.data.epoch_s)
            st.insert(0, "record", rec)
            stats.append(st.reset_index().rename(columns={"index": "statistic"}))
            write_bytes(out / f"hypnogram_{rec}.png", hypnogram_png(y[sel], p[sel], epoch_s=cfg.data.epoch_s,
                                                                   title=f"{rec}: truth (top) vs prediction"))
        cm = confusion(y, p, 5)
        write_bytes(out / "confusion.png", confusion_png(cm, list(STAGES), title="files_post.csv vs truth"))
        write_csv(out / "per_night.csv", pd.DataFrame(per_night))
        write_csv(out / "sleep_statistics.csv", pd.concat(stats, ignore_index=True))
        write_csv(out / "confusion.csv", pd.DataFrame(cm, index=list(STAGES), columns=list(STAGES)).reset_index()
                  .rename(columns={"index": "truth"}))
        quality = quality_summary(rows["quality"].fillna(""), y, p) if "quality" in rows else None
        write_json(out / "metrics.json", {"overall": overall, "n_epochs": int(len(y)), "source": str(src),
                                          **({"quality": quality} if quality else {})})
        lines = ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in overall.items()]
        if quality and quality["flagged"]:
            lines.append(f"| epochs flagged for signal quality | {quality['flagged']} of {quality['of']} |")
            lines += [f"| {k} (unflagged epochs) | {v:.3f} |" for k, v in quality.get("overall_unflagged", {}).items()
                      if k in ("accuracy", "macro_f1", "kappa")]
        write_text(out / "metrics.md", "\n".join(lines) + "\n")
        return {"overall": overall, "out_dir": out, "per_night": per_night, "quality": quality}
