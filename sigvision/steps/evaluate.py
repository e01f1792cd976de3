"""``sigvision evaluate``: ``files_post.csv`` against the truth -> ``<run>/eval/``: the task's
metrics (sleep: overall and per-night kappa, accuracy, F1, sleep statistics, hypnogram and
confusion plots; ECG: Challenge score, accuracy, macro precision/recall/F1, macro-AUROC/AUPRC, a
per-class table, and for binary runs the abnormal-vs-normal metrics), then the HTML report.

With ``blend.split=test`` the truth is read from the prepared test folder (``infer.test_dir``)
for both tasks: its hypnograms (sleep) or its records' labels (ECG).
"""
from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..errors import InputFileError
from ..io.runs import post_csv_path
from ..report.html import write_html_report
from ..tasks import task_for

__all__ = ["run_evaluate"]


def run_evaluate(cfg: Config, post_csv: str | Path | None = None, out_dir: str | Path | None = None) -> dict:
    """Score files_post.csv; returns ``{"overall", "out_dir", "per_night", "quality", "report"}``."""
    src = Path(post_csv) if post_csv else post_csv_path(cfg)
    if not src.is_file():
        raise InputFileError(src, "not found", "run postprocess.py (sigvision postprocess) first")
    res = task_for(cfg.data).evaluate(cfg, src, Path(out_dir) if out_dir else cfg.run_path / "eval")
    res["report"] = write_html_report(cfg, res["out_dir"])
    return res
