"""Subject-wise k-fold assignment, shared by every model of an experiment so that out-of-fold
predictions line up (``<prepared>/folds_<k>.csv``): stratified by sleep stage, or for ECGs by
source database and label, where the subjects allow it."""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputFileError
from ..io.artifacts import write_csv
from ..tasks.ecg import (  # noqa: F401  (re-exported)
    binary_class_names,
    challenge_scorable,
    ecg_class_list,
    ecg_targets,
    index_label_codes,
)

# scikit-learn is imported where folds are drawn (heavy).

log = logging.getLogger(__name__)


def assign_folds(index, n_folds: int, seed: int):
    """One fold per subject (all of a subject's nights together), stratified by sleep stage,
    or for ECGs by source database and label (:func:`ecg_strata`).

    Returns a DataFrame with columns ``record, subject, fold``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    subjects = index["subject"].astype(str).to_numpy()
    n_subj = len(set(subjects))
    if n_subj < n_folds:
        raise InputFileError(None, f"{n_subj} subject(s) cannot fill {n_folds} subject-wise folds",
                             f"set train.folds to at most {n_subj} or add recordings" if n_subj >= 2 else
                             "add recordings of a second subject (train.folds must be >= 2)")
    if "label" in index:
        y = index["label"].to_numpy()
    elif "source_db" in index or "labels" in index:  # ECG: one row per record
        y = ecg_strata(index, n_folds)
    else:
        y = np.zeros(len(index), int)
    try:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(len(y)), y, subjects))
    except ValueError:  # a class with fewer members than folds
        splits = list(GroupKFold(n_splits=n_folds).split(np.zeros(len(y)), y, subjects))
    fold_of = {}
    for k, (_, val) in enumerate(splits):
        for s in set(subjects[val]):
            fold_of[s] = k
    recs = index[["record", "subject"]].drop_duplicates("record").copy()
    recs["subject"] = recs["subject"].astype(str)
    recs["fold"] = recs["subject"].map(fold_of).astype(int)
    return recs.reset_index(drop=True)


def ecg_strata(index, n_folds: int) -> np.ndarray:
    """A stratum per ECG record for the folds: its source database and its rarest label (the
    usual stand-in for multi-label stratification; a binary table's one label, e.g. AIWIN's
    normal/abnormal tag, is its own rarest). Strata with fewer records than folds fall back to
    their database alone, so each fold gets its share of every label common enough to split,
    and of every database."""

    n = len(index)
    src = (index["source_db"].astype(str) if "source_db" in index else pd.Series([""] * n)).to_numpy()
    if "labels" in index:
        codes = index_label_codes(index)
        freq = Counter(c for cs in codes for c in set(cs))
        rare = [min(cs, key=lambda c: (freq[c], c)) if cs else "" for cs in codes]
    else:
        rare = [""] * n
    key = pd.Series([f"{a}|{b}" for a, b in zip(src, rare)])
    small = key.map(key.value_counts()).to_numpy() < n_folds
    key[small] = [f"{a}|" for a in src[small]]
    # a database's leftover still too small to split joins that database's largest stratum
    counts = key.value_counts()
    for db in np.unique(src):
        left = f"{db}|"
        others = counts[[k for k in counts.index if k.startswith(left) and k != left]]
        if 0 < counts.get(left, 0) < n_folds and len(others):
            key[key == left] = others.idxmax()
    return key.astype("category").cat.codes.to_numpy()


def load_or_make_folds(prepared_dir: str | os.PathLike, index, n_folds: int, seed: int, *, write: bool = True):
    """Read ``<prepared>/folds_<n_folds>.csv`` or create it once (rank 0 writes)."""

    p = Path(prepared_dir) / f"folds_{n_folds}.csv"
    if p.is_file():
        folds = pd.read_csv(p, dtype={"record": str, "subject": str})
        missing = set(index["record"].astype(str)) - set(folds["record"])
        if missing:
            raise InputFileError(p, f"has no fold for {len(missing)} record(s) (e.g. {sorted(missing)[0]})",
                                 "delete the folds file to reassign folds, knowing earlier models used the old ones")
        return folds
    folds = assign_folds(index, n_folds, seed)
    if write:
        write_csv(p, folds)
    return folds
