"""``sigvision contact-sheet``: a PNG grid of rendered images from a prepared folder's cache, a row
per sleep stage (or groups of ECG records), to see what the models are shown."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.runs import (
    _cached_images,
    load_prepared,
)
from ..loaders.base import STAGES
from ..report.images import contact_sheet
from ..tasks import task_for


def contact_sheet_from_prepared(prepared_dir: str | os.PathLike, *, per_group: int = 6, seed: int = 0) -> np.ndarray:
    """A contact sheet with ``per_group`` random cached images per class (sleep stage or label)."""

    d = Path(prepared_dir)
    index, meta = load_prepared(d)
    rng = np.random.default_rng(seed)
    groups: list[tuple[str, np.ndarray]] = []
    if task_for(meta["config"]["data"]).context_windows:  # epochs of nights: grouped by stage
        for i, st in enumerate(STAGES):
            sel = index[index["label"] == i]
            if len(sel) == 0:
                continue
            take = sel.iloc[np.sort(rng.choice(len(sel), size=min(per_group, len(sel)), replace=False))]
            ims = np.stack([_cached_images(d, meta, r)[int(e)] for r, e in zip(take["record"], take["epoch"])])
            groups.append((f"{st}  (n={len(sel)})", ims))
    else:
        recs = index["record"].tolist()
        pick = sorted(rng.choice(len(recs), size=min(per_group * 2, len(recs)), replace=False))
        ims = np.stack([_cached_images(d, meta, recs[i]) for i in pick])
        for k in range(0, len(pick), per_group):
            names = ", ".join(recs[i] for i in pick[k:k + per_group])
            groups.append((names, ims[k:k + per_group]))
    return contact_sheet(groups, columns=per_group)
