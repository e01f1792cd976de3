"""``sigvision postprocess`` (``postprocess.py``): the blended CSV -> ``files_post.csv``, by the
task's decision rule (sleep: each night's stage sequence smoothed by ``postprocess.method``;
ECG: per-class thresholds tuned on out-of-fold predictions), and with
``postprocess.submission`` a competition answer file beside it (:mod:`sigvision.io.submission`).

Sleep ``files_post.csv`` (one row per 30-s epoch, nights in the order of the prepared index):

==========  =======================================================================
column      meaning
==========  =======================================================================
record      night id (for Sleep-EDF files, e.g. ``SC4001E0``)
epoch       position of the epoch among the night's scored epochs (0, 1, 2, ...)
onset_s     epoch onset in seconds from the start of the signal file
stage       predicted stage: ``W``, ``N1``, ``N2``, ``N3`` or ``REM``
stage_code  the same as an integer (0 W, 1 N1, 2 N2, 3 N3, 4 REM: YASA's coding)
file        image file name (image-folder input only)
quality     ``ok``, or the epoch's signal-quality flags, e.g. ``flat:EMG submental``
            (:mod:`sigvision.quality`; signal input prepared by this version)
==========  =======================================================================

ECG ``files_post.csv`` has one row per record (``record``, ``prob_<class>``,
``label_<class>``) and the record's ``quality`` likewise.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..config import Config
from ..errors import InputFileError
from ..io.runs import blend_csv_path, post_csv_path
from ..io.submission import write_submission
from ..tasks import task_for

__all__ = ["run_postprocess"]

log = logging.getLogger(__name__)


def run_postprocess(cfg: Config, blend_csv: str | Path | None = None, out_csv: str | Path | None = None) -> Path:
    """Decisions from a files_blend CSV -> files_post.csv (and the answer file of
    ``postprocess.submission``); returns the path of files_post.csv."""
    src = Path(blend_csv) if blend_csv else blend_csv_path(cfg)
    if not src.is_file():
        raise InputFileError(src, "blend CSV not found", "run blend.py (sigvision blend) first")
    post = task_for(cfg.data).postprocess(cfg, src, Path(out_csv) if out_csv else post_csv_path(cfg))
    if cfg.postprocess.submission != "none":  # the config refuses one for a task without an answer file
        answer = write_submission(cfg, post)
        if cfg.blend.split == "oof":
            log.info("%s answers for the training records' out-of-fold predictions; the competition's "
                     "answer comes from blend.split=test", answer)
    return post
