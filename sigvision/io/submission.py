"""Competition answer files made from ``files_post.csv`` (``postprocess.submission``).

``aiwin`` (AIWIN 2021 ECG, http://ailab.aiwin.org.cn/competitions/64): ``answer.csv`` beside
``files_post.csv``, one row per record in the order of ``files_post.csv``:

* task 1 (``data.ecg_task: binary``): columns ``name,tag``; ``name`` is the record id (the
  ``.mat`` file's stem, as in ``trainreference.csv``), ``tag`` the record's ``label_abnormal``
  decision written as the label table codes it: ``data.normal_labels: ['0']`` (the AIWIN
  coding and the preset's) gives tag 1 for abnormal and 0 for normal, ``['1']`` the reverse;
* task 2 (``data.ecg_task: multilabel``): ``name`` then one 0/1 column per class, headed by
  the class id (the label as the label table writes it), classes in numeric order when every
  id is an integer, else in the order of ``files_post.csv``.

The file is written atomically (temporary file, then rename).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import ConfigError, InputFileError
from .artifacts import write_csv

__all__ = ["SUBMISSION_FILES", "submission_path", "aiwin_answer", "write_submission"]

#: The file each ``postprocess.submission`` format writes beside ``files_post.csv``.
SUBMISSION_FILES = {"aiwin": "answer.csv"}


def submission_path(fmt: str, post_csv: str | os.PathLike) -> Path:
    """Where the answer file of format ``fmt`` goes: beside ``post_csv``."""
    if fmt not in SUBMISSION_FILES:
        raise ConfigError(f"postprocess.submission={fmt!r} is not valid; accepted: none, "
                          + ", ".join(SUBMISSION_FILES))
    return Path(post_csv).with_name(SUBMISSION_FILES[fmt])


def _class_order(classes: list[str]) -> list[str]:
    try:
        return sorted(classes, key=int)
    except ValueError:
        return classes


def aiwin_answer(post, *, ecg_task: str, normal_labels: Sequence[str] = ("0",), source=None):
    """The AIWIN answer table of a ``files_post.csv`` DataFrame (see the module docstring).

    Parameters
    ----------
    post : pandas.DataFrame
        ``record`` then ``prob_<class>`` and ``label_<class>`` columns (``files_post.csv``).
    ecg_task : {"binary", "multilabel"}
        Task 1 (``name,tag``) or task 2 (``name`` + one column per class).
    normal_labels : sequence of str
        Binary only: ``("0",)`` (tag 0 = normal, AIWIN's coding) or ``("1",)``.
    source : path, optional
        Named in errors.

    Returns
    -------
    pandas.DataFrame
    """

    if "record" not in post:
        raise InputFileError(source, "has no record column", "give a files_post.csv written by postprocess")
    out = pd.DataFrame({"name": post["record"].astype(str).to_numpy()})
    label_cols = [c for c in post.columns if c.startswith("label_")]
    if ecg_task == "binary":
        if "label_abnormal" not in post:
            raise InputFileError(source, "has no label_abnormal column (not a binary normal/abnormal run)",
                                 "post-process a data.ecg_task: binary run, or set data.ecg_task: multilabel")
        normal = tuple(str(v) for v in normal_labels)
        if normal not in (("0",), ("1",)):
            raise ConfigError(f"the AIWIN answer's tag is 0/1; data.normal_labels={list(normal)} does not say which "
                              "of them is normal; set data.normal_labels: ['0'] (AIWIN: 0 normal, 1 abnormal)")
        abnormal = post["label_abnormal"].to_numpy().astype(int)
        out["tag"] = abnormal if normal == ("0",) else 1 - abnormal
        return out
    if ecg_task != "multilabel":
        raise ValueError(f"ecg_task={ecg_task!r}; accepted: binary, multilabel")
    if not label_cols:
        raise InputFileError(source, "has no label_<class> columns", "give a files_post.csv written by postprocess")
    classes = _class_order([c[len("label_"):] for c in label_cols])
    for c in classes:
        out[c] = post[f"label_{c}"].to_numpy().astype(int)
    return out


def write_submission(cfg, post_csv: str | os.PathLike, out: str | os.PathLike | None = None) -> Path | None:
    """Write the ``postprocess.submission`` answer file of ``post_csv`` (default beside it);
    None when ``postprocess.submission`` is ``none``."""
    fmt = cfg.postprocess.submission
    if fmt == "none":
        return None
    dest = Path(out) if out else submission_path(fmt, post_csv)
    post = pd.read_csv(post_csv, dtype={"record": str})
    table = aiwin_answer(post, ecg_task=cfg.data.ecg_task, normal_labels=cfg.data.normal_labels, source=post_csv)
    return write_csv(dest, table)
