"""Pre-rendered image folders (the MAIC 2021 sleep-challenge layout).

Layout: ``root/<study>/<image>.png``, one image per 30-s epoch, file names sorting in time
order (numbers inside names are compared numerically, so ``x_10.png`` follows ``x_9.png``),
plus an optional labels CSV. The CSV may have a header naming ``study`` (or ``record``),
``file`` (or ``filename``/``image``) and ``label`` (or ``stage``) columns, or be headerless
with those three columns in that order.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .hypnogram import map_stage_labels

__all__ = ["ImageNight", "natural_key", "load_image_folder", "read_image"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")


def natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers: ``a2`` < ``a10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


@dataclass
class ImageNight:
    """One study's pre-rendered epochs.

    Attributes
    ----------
    record_id : study folder name.
    files : image paths in time order.
    labels : int64 (n_epochs,) stage indices, ``-1`` where the CSV has no label.
    """

    record_id: str
    files: list[Path]
    labels: np.ndarray
    subject_id: str = ""
    summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.subject_id:
            self.subject_id = self.record_id


_STUDY_COLS = ("study", "record", "study_id", "record_id", "folder", "subject")
_FILE_COLS = ("file", "filename", "image", "file_name", "img")
_LABEL_COLS = ("label", "stage", "class", "sleep_stage")


def _read_labels_csv(path: Path) -> dict[tuple[str, str], str]:
    if not path.is_file():
        raise InputFileError(path, "labels CSV not found", "set data.labels_csv to the labels file")
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    if not rows:
        raise InputFileError(path, "labels CSV is empty", "write rows of study,file,label")
    head = [h.strip().lower() for h in rows[0]]

    def col(names):
        return next((head.index(n) for n in names if n in head), None)

    s, f, lab = col(_STUDY_COLS), col(_FILE_COLS), col(_LABEL_COLS)
    if None in (s, f, lab):
        if len(head) < 3:
            raise InputFileError(path, f"expected 3 columns (study, file, label), found {len(head)}",
                                 "write rows of study,file,label")
        s, f, lab = 0, 1, 2
        body = rows
        if not Path(rows[0][1]).suffix.lower() in IMAGE_EXTS:
            body = rows[1:]
    else:
        body = rows[1:]
    out = {}
    for r in body:
        out[(r[s].strip(), Path(r[f].strip()).name)] = r[lab].strip()
    return out


def read_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3), optionally resized to ``size`` = (height, width)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputFileError(path, "cannot decode the image", "replace the file with a valid PNG/JPEG")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if size is not None and img.shape[:2] != tuple(size):
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return img


def load_image_folder(root: str | os.PathLike, labels_csv: str | os.PathLike | None = None, *,
                      require_labels: bool = True) -> list[ImageNight]:
    """Index a MAIC-style folder of studies, each a folder of epoch images.

    Raises
    ------
    InputFileError
        Root missing or without study folders, a study folder without images, or (when
        ``require_labels``) an image without a label in the CSV.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(root, "image folder not found", "set data.root to the folder of study folders")
    studies = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))
    if not studies:
        raise InputFileError(root, "holds no study folders",
                             "arrange images as <root>/<study>/<epoch>.png (one folder per night)")
    labels = _read_labels_csv(Path(labels_csv)) if labels_csv else None
    nights = []
    for st in studies:
        files = sorted((p for p in st.iterdir() if p.suffix.lower() in IMAGE_EXTS),
                       key=lambda p: natural_key(p.name))
        if not files:
            raise InputFileError(st, "study folder holds no images (.png/.jpg)",
                                 "remove the empty folder or add its epoch images")
        if labels is not None:
            raw = [labels.get((st.name, p.name)) for p in files]
            missing = [p.name for p, r in zip(files, raw) if r is None]
            if missing and require_labels:
                raise InputFileError(labels_csv, f"no label for {len(missing)} image(s) of study {st.name} "
                                                 f"(first: {missing[0]})",
                                     "add a row study,file,label for every image")
            lab = np.full(len(files), -1, dtype=np.int64)
            have = [i for i, r in enumerate(raw) if r is not None]
            if have:
                lab[have] = map_stage_labels([raw[i] for i in have], source=labels_csv)
        else:
            lab = np.full(len(files), -1, dtype=np.int64)
        nights.append(ImageNight(record_id=st.name, files=files, labels=lab,
                                 summary={"images": len(files)}))
    return nights
