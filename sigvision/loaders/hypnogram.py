"""Hypnogram readers and the stage-label mapping.

Every reader returns a :class:`Hypnogram`: one integer per 30-s epoch in the canonical
order of :data:`sigvision.loaders.base.STAGES` (0 W, 1 N1, 2 N2, 3 N3, 4 REM) plus two
negative codes for epochs that are not a stage: :data:`UNSCORED` (``?``, unknown, left
unscored) and :data:`MOVEMENT` (movement time). Loaders exclude both and count them.

Accepted label spellings (case-insensitive, surrounding spaces and prefixes such as
``Sleep stage`` or ``Stage`` ignored):

* AASM: ``W``, ``Wake``, ``N1``, ``N2``, ``N3``, ``R``, ``REM``;
* Rechtschaffen & Kales: ``W``, ``1``, ``2``, ``3``, ``4`` (3 and 4 merge into N3),
  ``R``, ``M`` / ``Movement time`` (movement), ``?`` (unscored), ``S1``..``S4``;
* integers as YASA writes them: ``0`` W, ``1`` N1, ``2`` N2, ``3`` N3, ``4`` REM,
  ``-1`` artefact and ``-2`` unscored (both treated as unscored).

Note the integer ambiguity: in a file of integers ``4`` means REM (YASA convention), while
the R&K *string* ``Sleep stage 4`` means N3. Pass ``int_coding="rk"`` to read integer
files where ``4`` is R&K stage 4 and ``5`` is REM.
"""
from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputFileError
from .base import STAGES
from .edfinfo import check_complete, read_edf_header
import math

# MNE is imported where an EDF+ hypnogram is read (heavy; text and CSV hypnograms do not need it).

__all__ = [
    "UNSCORED",
    "MOVEMENT",
    "Hypnogram",
    "map_stage_label",
    "map_stage_labels",
    "read_hypnogram",
    "read_hypnogram_edf",
    "read_hypnogram_text",
    "read_hypnogram_csv",
    "read_hypnogram_json",
    "hypnogram_from_annotations",
]

log = logging.getLogger(__name__)

UNSCORED = -1
MOVEMENT = -2

_STRING_MAP: dict[str, int] = {
    "W": 0, "WAKE": 0, "WK": 0, "0": 0,
    "N1": 1, "S1": 1, "1": 1, "NREM1": 1,
    "N2": 2, "S2": 2, "2": 2, "NREM2": 2,
    "N3": 3, "S3": 3, "S4": 3, "N4": 3, "3": 3, "4": 3, "NREM3": 3, "SWS": 3,
    "R": 4, "REM": 4, "5": 4,
    "M": MOVEMENT, "MT": MOVEMENT, "MOVEMENT": MOVEMENT, "MOVEMENT TIME": MOVEMENT,
    "?": UNSCORED, "U": UNSCORED, "UNS": UNSCORED, "UNSCORED": UNSCORED, "UNKNOWN": UNSCORED,
    "ART": UNSCORED, "ARTEFACT": UNSCORED, "ARTIFACT": UNSCORED, "-1": UNSCORED, "-2": UNSCORED,
    "L": UNSCORED, "LIGHTS": UNSCORED,
}
_YASA_INT_MAP = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, -1: UNSCORED, -2: UNSCORED}
_RK_INT_MAP = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: MOVEMENT, 9: UNSCORED, -1: UNSCORED}
_PREFIXES = ("SLEEP STAGE ", "SLEEP_STAGE_", "STAGE ", "STAGE_")
ACCEPTED_LABELS = "W/Wake, N1, N2, N3, R/REM, R&K 1-4, M (movement), ? (unscored), or integers 0-4"


def _normalise(label: str) -> str:
    s = " ".join(str(label).strip().upper().split())
    for p in _PREFIXES:
        if s.startswith(p):
            s = s[len(p):].strip()
            break
    return s


def map_stage_label(label: str | int, *, int_coding: str = "yasa") -> int:
    """Map one label to a stage index (0-4), :data:`UNSCORED` or :data:`MOVEMENT`.

    Raises
    ------
    ValueError
        When the label is not a known spelling; the message lists the accepted ones.
    """
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        table = _YASA_INT_MAP if int_coding == "yasa" else _RK_INT_MAP
        if int(label) in table:
            return table[int(label)]
        raise ValueError(f"unknown stage label {label!r}; accepted: {ACCEPTED_LABELS}")
    s = _normalise(label)
    if int_coding == "rk" and s.lstrip("-").isdigit():
        return map_stage_label(int(s), int_coding="rk")
    if s in _STRING_MAP:
        return _STRING_MAP[s]
    raise ValueError(f"unknown stage label {label!r}; accepted: {ACCEPTED_LABELS}")


def map_stage_labels(labels: Iterable[str | int], *, source: str | os.PathLike | None = None,
                     int_coding: str = "yasa") -> np.ndarray:
    """Map a sequence of labels; an unknown label raises an error naming ``source``."""
    out = []
    unknown: dict[str, int] = {}
    for lab in labels:
        try:
            out.append(map_stage_label(lab, int_coding=int_coding))
        except ValueError:
            unknown[str(lab)] = unknown.get(str(lab), 0) + 1
    if unknown:
        shown = ", ".join(f"{k!r} x{v}" for k, v in list(unknown.items())[:5])
        raise InputFileError(source, f"unknown stage label(s) {shown}",
                             f"use one of {ACCEPTED_LABELS}")
    return np.asarray(out, dtype=np.int64)


@dataclass
class Hypnogram:
    """Stages per epoch, aligned to a signal file.

    Attributes
    ----------
    stages : ndarray, int64, shape (n_epochs,)
        0-4 for W, N1, N2, N3, REM; :data:`UNSCORED` or :data:`MOVEMENT` otherwise.
    epoch_s : float
        Epoch length in seconds.
    onset_s : float
        Onset of the first epoch, in seconds from the start of the hypnogram file's clock
        (0 for text/CSV/JSON files, which start with the signal).
    start : datetime or None
        Absolute start time of the hypnogram file (EDF+ only), used to check that it
        matches the signal file.
    source : str
        The file it was read from.
    """

    stages: np.ndarray
    epoch_s: float = 30.0
    onset_s: float = 0.0
    start: datetime | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.stages.shape[0])

    def counts(self) -> dict[str, int]:
        """Epochs per stage name plus ``unscored`` and ``movement``."""
        c = {s: int(np.sum(self.stages == i)) for i, s in enumerate(STAGES)}
        c["unscored"] = int(np.sum(self.stages == UNSCORED))
        c["movement"] = int(np.sum(self.stages == MOVEMENT))
        return c


def _grid_step_s(values_s: Sequence[float]) -> float:
    """The largest step (s, millisecond resolution) dividing every value: the epoch length a
    hypnogram was scored in."""

    g = 0
    for v in values_s:
        g = math.gcd(g, int(round(abs(v) * 1000)))
    return g / 1000.0


def _resample_annotations(ann: list, first: float, epoch_s: float, source: str) -> np.ndarray:
    """Stage per ``epoch_s`` epoch: the stage covering most of it (gaps count as unscored)."""
    end = max(on + du for on, du, _ in ann)
    n = int(np.ceil((end - first) / epoch_s - 1e-6))
    cover = np.zeros((n, 7))  # seconds of each code (-2..4) per epoch
    for on, du, de in ann:
        code = int(map_stage_labels([de], source=source)[0])
        a, b = on - first, on - first + du
        for k in range(int(a // epoch_s), min(n, int(np.ceil(b / epoch_s - 1e-9)))):
            cover[k, code + 2] += max(0.0, min(b, (k + 1) * epoch_s) - max(a, k * epoch_s))
    cover[:, UNSCORED + 2] += np.clip(epoch_s - cover.sum(axis=1), 0, None)
    return (cover.argmax(axis=1) - 2).astype(np.int64)


def hypnogram_from_annotations(onsets_s: Sequence[float], durations_s: Sequence[float],
                               descriptions: Sequence[str], *, epoch_s: float = 30.0,
                               source: str = "", start: datetime | None = None,
                               on_epoch_mismatch: str = "raise") -> Hypnogram:
    """Expand (onset, duration, description) stage annotations into 30-s epochs.

    Annotations whose description is not a stage (lights off, arousals, ...) are ignored
    unless they look like stage labels (``Sleep stage ...``, ``Movement time``), in which
    case an unknown value raises. Gaps between stage annotations become unscored epochs.

    Stage annotations that start or last off the ``epoch_s`` grid were scored in other
    epochs (20-s epochs, as R&K scorers used): ``on_epoch_mismatch="raise"`` refuses them,
    naming their epoch length; ``"resample"`` re-scores them on ``epoch_s`` epochs, each
    taking the stage that covers most of it, with a logged warning.
    """
    if on_epoch_mismatch not in ("raise", "resample"):
        raise ValueError(f"on_epoch_mismatch={on_epoch_mismatch!r}; accepted: 'raise', 'resample'")
    stage_ann = []
    for on, du, de in zip(onsets_s, durations_s, descriptions):
        norm = _normalise(de)
        is_stage_like = str(de).strip().upper().startswith(("SLEEP STAGE", "STAGE", "MOVEMENT"))
        if norm in _STRING_MAP or is_stage_like:
            stage_ann.append((float(on), float(du), de))
    if not stage_ann:
        raise InputFileError(source, "no sleep-stage annotations found",
                             "give a Sleep-EDF hypnogram (annotations 'Sleep stage W/1/2/3/4/R/?')")
    stage_ann.sort(key=lambda t: t[0])
    first = stage_ann[0][0]
    # the grid of the scored stages (an unscored '?' or movement span may end anywhere)
    scored = [(on, du) for on, du, de in stage_ann if map_stage_labels([de], source=source)[0] >= 0]
    grid = [on - first for on, _ in scored] + [du for _, du in scored if du > 0]
    off_grid = [v for v in grid if abs(v / epoch_s - round(v / epoch_s)) > 1e-3]
    if off_grid:
        native = _grid_step_s(grid)
        if on_epoch_mismatch == "raise":
            raise InputFileError(source, f"stage annotations lie on a {native:g}-s grid, not on {epoch_s:g}-s epochs "
                                         f"(it was scored in {native:g}-s epochs)",
                                 f"--set data.epoch_s={native:g} to use its epochs, or --set "
                                 f"data.on_epoch_mismatch=resample to re-score it on {epoch_s:g}-s epochs (each "
                                 "takes the stage covering most of it)")
        stages = _resample_annotations(stage_ann, first, epoch_s, source)
        log.warning("%s: scored in %g-s epochs; re-scored on %d %g-s epochs, each taking the stage covering most "
                    "of it (data.on_epoch_mismatch: resample)", source, native, stages.size, epoch_s)
        return Hypnogram(stages=stages, epoch_s=epoch_s, onset_s=first, start=start, source=source,
                         extra={"resampled_from_epoch_s": native})
    end = max(on + du for on, du, _ in stage_ann)
    n = int(round((end - first) / epoch_s))
    stages = np.full(n, UNSCORED, dtype=np.int64)
    for on, du, de in stage_ann:
        code = map_stage_labels([de], source=source)[0]
        a = int(round((on - first) / epoch_s))
        b = int(round((on + du - first) / epoch_s))
        if du > 0 and b == a:
            b = a + 1
        stages[a:b] = code
    return Hypnogram(stages=stages, epoch_s=epoch_s, onset_s=first, start=start, source=source)


def read_hypnogram_edf(path: str | os.PathLike, *, epoch_s: float = 30.0, on_epoch_mismatch: str = "raise") -> Hypnogram:
    """Read a Sleep-EDF style EDF+ hypnogram (``*-Hypnogram.edf``) with MNE; a truncated file
    is refused as damaged (:func:`sigvision.loaders.edfinfo.check_complete`)."""
    import mne


    path = Path(path)
    _check_file(path)
    check_complete(read_edf_header(path))
    try:
        ann = mne.read_annotations(path)
    except Exception as exc:  # mne raises many types on corrupt files
        raise InputFileError(path, f"cannot read EDF+ annotations ({type(exc).__name__}: {exc})",
                             "check that this is an EDF+ hypnogram file and not truncated") from None
    start = ann.orig_time or edf_start_time(path)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    return hypnogram_from_annotations(ann.onset, ann.duration, ann.description,
                                      epoch_s=epoch_s, source=str(path), start=start,
                                      on_epoch_mismatch=on_epoch_mismatch)


def edf_start_time(path: str | os.PathLike) -> datetime | None:
    """Start date/time from an EDF header (bytes 168-183, ``dd.mm.yy`` + ``hh.mm.ss``), UTC.

    Two-digit years follow the EDF rule (85-99 -> 1985-1999, 00-84 -> 2000-2084); EDF+
    files carry the full year in the recording field (``Startdate 16-APR-1989``), used when
    present. Returns None when the header cannot be parsed.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(184)
        rec = head[88:168].decode("ascii", "replace").split()
        date = head[168:176].decode("ascii", "replace")
        tm = head[176:184].decode("ascii", "replace")
        dd, mm, yy = (int(v) for v in date.split("."))
        hh, mi, ss = (int(v) for v in tm.split("."))
        year = 1900 + yy if yy >= 85 else 2000 + yy
        if len(rec) >= 2 and rec[0] == "Startdate" and rec[1].count("-") == 2:
            y4 = rec[1].split("-")[2]
            if y4.isdigit():
                year = int(y4)
        return datetime(year, mm, dd, hh, mi, ss, tzinfo=timezone.utc)
    except (OSError, ValueError):
        return None


#: First lines of text hypnograms that name the column rather than give a stage.
_HEADER_WORDS = {"STAGE", "STAGES", "SLEEP STAGE", "SLEEP STAGES", "SLEEP_STAGE", "LABEL", "LABELS", "HYPNOGRAM",
                 "HYPNO", "SCORE", "SCORES", "ANNOTATION", "EPOCH STAGE", "VALUE"}


def read_hypnogram_text(path: str | os.PathLike, *, epoch_s: float = 30.0,
                        int_coding: str = "yasa") -> Hypnogram:
    """Read a one-stage-per-line text file (strings or integers; ``#`` starts a comment).

    A UTF-8 byte-order mark (as Windows editors write it) and a first line naming the column
    (``Stage``, ``stage``, ``Sleep stage``, ``label``, ``hypnogram`` ...) are accepted."""
    path = Path(path)
    _check_file(path)
    labels: list[str | int] = []
    first = True
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            s = line.split("#", 1)[0].strip()
            if not s:
                continue
            if first and " ".join(s.upper().split()) in _HEADER_WORDS:
                first = False
                continue  # a header line
            first = False
            labels.append(int(s) if s.lstrip("-").isdigit() else s)
    if not labels:
        raise InputFileError(path, "the hypnogram file holds no stages",
                             "write one stage per line (W, N1, N2, N3, R or 0-4)")
    return Hypnogram(map_stage_labels(labels, source=path, int_coding=int_coding),
                     epoch_s=epoch_s, source=str(path))


def read_hypnogram_json(path: str | os.PathLike, *, epoch_s: float = 30.0,
                        int_coding: str = "yasa") -> Hypnogram:
    """Read a JSON list of per-epoch stages (the Dreem evaluation format: -1, 0-4)."""
    path = Path(path)
    _check_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not valid JSON ({exc})", "give a JSON list of stages") from None
    if isinstance(data, dict):
        data = data.get("stages", data.get("hypnogram"))
    if not isinstance(data, list) or not data:
        raise InputFileError(path, "expected a non-empty JSON list of stages",
                             "write e.g. [0, 0, 1, 2, 2, 3, 4]")
    return Hypnogram(map_stage_labels(data, source=path, int_coding=int_coding),
                     epoch_s=epoch_s, source=str(path))


_CSV_STAGE_COLUMNS = ("stage", "label", "sleep_stage", "hypnogram", "annotation")


def read_hypnogram_csv(path: str | os.PathLike, *, epoch_s: float = 30.0,
                       column: str | None = None, int_coding: str = "yasa") -> Hypnogram:
    """Read a CSV hypnogram: one row per epoch, stage in a column named ``stage``/``label``.

    A single-column file without a recognised header is read as one stage per row. An
    ``onset``/``onset_s`` column, when present, must increase by ``epoch_s``.
    """
    path = Path(path)
    _check_file(path)
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    if not rows:
        raise InputFileError(path, "the CSV holds no rows", "write a 'stage' column, one row per epoch")
    header = [h.strip().lower() for h in rows[0]]
    col = None
    if column is not None:
        if column.lower() not in header:
            raise InputFileError(path, f"no column {column!r} (columns: {', '.join(rows[0])})",
                                 "name the stage column in the config")
        col = header.index(column.lower())
    else:
        for c in _CSV_STAGE_COLUMNS:
            if c in header:
                col = header.index(c)
                break
    if col is None:
        if len(header) == 1:
            body, col = rows, 0
            try:  # a single column with a header that is not a stage label
                map_stage_label(rows[0][0])
            except ValueError:
                body = rows[1:]
        else:
            raise InputFileError(path, f"no stage column among {', '.join(rows[0])}",
                                 f"name one of {', '.join(_CSV_STAGE_COLUMNS)} or pass column=")
    else:
        body = rows[1:]
    labels = [r[col].strip() for r in body]
    labels = [int(s) if s.lstrip("-").isdigit() else s for s in labels]
    onset0 = 0.0
    for oc in ("onset", "onset_s"):
        if oc in header:
            on = np.asarray([float(r[header.index(oc)]) for r in body])
            if on.size > 1 and not np.allclose(np.diff(on), epoch_s):
                raise InputFileError(path, f"onsets are not spaced by {epoch_s:g} s",
                                     "give one row per consecutive epoch")
            onset0 = float(on[0]) if on.size else 0.0
    if not labels:
        raise InputFileError(path, "the CSV holds no stages", "write one row per epoch")
    return Hypnogram(map_stage_labels(labels, source=path, int_coding=int_coding),
                     epoch_s=epoch_s, onset_s=onset0, source=str(path))


def read_hypnogram(path: str | os.PathLike, *, epoch_s: float = 30.0, on_epoch_mismatch: str = "raise",
                   **kw) -> Hypnogram:
    """Read a hypnogram, choosing the reader from the file extension.

    ``.edf`` -> EDF+ annotations; ``.csv``/``.tsv`` -> CSV; ``.json`` -> JSON list;
    anything else -> one stage per line. ``on_epoch_mismatch`` (EDF+ only: text files carry
    no times) is :func:`hypnogram_from_annotations`'s.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in (".edf", ".bdf", ".rec"):
        return read_hypnogram_edf(path, epoch_s=epoch_s, on_epoch_mismatch=on_epoch_mismatch)
    if ext == ".csv":
        return read_hypnogram_csv(path, epoch_s=epoch_s, **kw)
    if ext == ".json":
        return read_hypnogram_json(path, epoch_s=epoch_s, **kw)
    return read_hypnogram_text(path, epoch_s=epoch_s, **kw)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "file not found", "check the path in the config or on the command line")
    if path.is_dir():
        raise InputFileError(path, "is a folder, expected a hypnogram file", "point to the file itself")
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty", "re-export the hypnogram")
