"""Hefei (Tianchi 2019 ECG contest): one text file per record, a header line
``I II V1 V2 V3 V4 V5 V6`` and one row of 8 integers per sample (500 Hz), the four other
limb leads derived; labels, age and sex from a separate table
(``<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...``)."""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from sigvision.errors import InputFileError
from sigvision.loaders.base import ECGRecord

from .ecg import HEFEI_LEADS, STANDARD_LEADS
from .wfdb_header import _MISSING_WORDS


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> np.ndarray:
    """Derive III, aVR, aVL and aVF from leads I and II (Einthoven / Goldberger).

    Parameters
    ----------
    lead_i, lead_ii : ndarray, shape (n_samples,)
        Leads I and II in any voltage unit (the output uses the same unit).

    Returns
    -------
    ndarray, shape (4, n_samples)
        Rows ``III = II - I``, ``aVR = -(I + II) / 2``, ``aVL = I - II / 2``,
        ``aVF = II - I / 2``.
    """
    i = np.asarray(lead_i, dtype=np.float64)
    ii = np.asarray(lead_ii, dtype=np.float64)
    if i.shape != ii.shape or i.ndim != 1:
        raise ValueError(f"lead I and II must be 1-D and the same length, got {i.shape} and {ii.shape}")
    return np.stack([ii - i, -(i + ii) / 2.0, i - ii / 2.0, ii - i / 2.0])


def read_hefei_txt(path: str | Path, *, uv_per_count: float = 4.88, fs_hz: float = 500.0) -> ECGRecord:
    """Read one Hefei (Tianchi 2019) ECG text file and derive the 12 standard leads.

    Parameters
    ----------
    path : str or Path
        Text file: a header line naming the 8 stored leads (``I II V1 V2 V3 V4 V5 V6``, any
        order, separated by whitespace, commas or tabs), then one row of 8 integers per
        sample (5000 rows = 10 s at 500 Hz in the contest).
    uv_per_count : float, default 4.88
        Microvolts per stored count (4.88 µV in the contest data).
    fs_hz : float, default 500.0
        Sampling rate of the rows.

    Returns
    -------
    ECGRecord
        ``signals`` float32, shape ``(12, n_samples)``, in mV, in :data:`STANDARD_LEADS`
        order; III, aVR, aVL and aVF are computed with :func:`derive_limb_leads` (listed in
        ``meta["derived_leads"]``). No labels (the contest keeps them in a separate file).
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "Hefei ECG text file not found", "check the path")
    if not (float(uv_per_count) > 0 and math.isfinite(float(uv_per_count))):
        raise ValueError(f"uv_per_count must be positive, got {uv_per_count}")
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        lines = fh.read().splitlines()
    split = re.compile(r"[\s,;]+")
    header_idx = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_idx is None:
        raise InputFileError(p, "file is empty", "give a Hefei ECG file with a lead header and 8 columns")
    names = [t for t in split.split(lines[header_idx].strip()) if t]
    if sorted(names) != sorted(HEFEI_LEADS) or len(set(names)) != len(names):
        raise InputFileError(
            p,
            f"header line names leads {names}, expected the 8 leads {' '.join(HEFEI_LEADS)}",
            "give a Hefei ECG file whose first line is 'I II V1 V2 V3 V4 V5 V6'",
        )
    rows = []
    for lineno, line in enumerate(lines[header_idx + 1 :], header_idx + 2):
        s = line.strip()
        if not s:
            continue
        toks = [t for t in split.split(s) if t]
        if len(toks) != len(names):
            raise InputFileError(p, f"line {lineno} has {len(toks)} columns, expected {len(names)}", "repair or drop the file")
        try:
            rows.append([float(t) for t in toks])
        except ValueError:
            raise InputFileError(p, f"line {lineno} holds a non-numeric value: {s[:60]!r}", "repair or drop the file") from None
    if not rows:
        raise InputFileError(p, "file has a header but no samples", "give the complete file")
    counts = np.asarray(rows, dtype=np.float64).T  # (8, n_samples)
    if not np.isfinite(counts).all():
        raise InputFileError(p, "file holds non-finite values (nan/inf)", "repair or drop the file")
    mv = counts * (float(uv_per_count) / 1000.0)
    by_name = dict(zip(names, mv))
    limb = derive_limb_leads(by_name["I"], by_name["II"])
    derived = dict(zip(("III", "aVR", "aVL", "aVF"), limb))
    signals = np.stack([by_name[n] if n in by_name else derived[n] for n in STANDARD_LEADS])
    return ECGRecord(
        record_id=p.stem,
        signals=signals.astype(np.float32),
        fs_hz=float(fs_hz),
        lead_names=list(STANDARD_LEADS),
        source=str(p),
        units="mV",
        meta={"format": "hefei-txt", "uv_per_count": float(uv_per_count), "derived_leads": ["III", "aVR", "aVL", "aVF"]},
    )


@dataclass
class HefeiLabelRow:
    """One row of a Hefei label table: the record's labels, age (years) and sex (``"M"``,
    ``"F"``); ``None`` where the table leaves them empty or has no such columns."""

    labels: list[str]
    age: float | None = None
    sex: str | None = None


_HEFEI_SEX = {"male": "M", "female": "F", "m": "M", "f": "F"}


def _hefei_age_cell(cell: str) -> bool:
    """An age column cell: empty, a missing word or a number."""
    if cell.strip().lower() in _MISSING_WORDS:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_table_text(p: Path) -> str:
    raw = p.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):  # the contest's files are UTF-8; GBK copies circulate
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputFileError(p, "label table is neither UTF-8 nor GB18030 text", "save it as UTF-8")


def read_hefei_label_table(path: str | Path) -> dict[str, HefeiLabelRow]:
    """Read a Hefei (Tianchi 2019) label or record-list file: record id -> :class:`HefeiLabelRow`.

    Two layouts, told apart from the whole file (tab- or comma-separated, the separator that
    is more frequent in the first 4 KB):

    * the contest's (``hf_round1_label.txt``, ``hf_round2_train.txt``, the ``subA``/``subB``
      test lists): ``<id>.txt<TAB><age><TAB><sex>[<TAB><label>...]``, age an integer or
      empty, sex ``MALE``/``FEMALE`` or empty, then the labels (Chinese names in the
      contest; none in the test lists). Chosen when some row has ``MALE``/``FEMALE`` in its
      third column and a number or nothing in its second; every row must then fit.
    * labels only: ``<id>[.txt]<sep><label>[<sep><label>...]``, every non-empty cell after
      the id a label; no age or sex.

    The ``.txt`` suffix of the id is dropped (the record id is the file's stem). Empty cells
    among or after the labels are skipped. Ages are returned in years (``None`` when empty),
    sex as ``"M"``/``"F"`` (``None`` when empty), as :func:`read_wfdb_record` gives them.

    Raises
    ------
    InputFileError
        File missing, not text, a record listed twice, or (contest layout) a row whose age
        is not a number or whose sex is not MALE/FEMALE, naming the line.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "label table not found", "set data.labels_csv to the Hefei label file")
    text = _read_table_text(p)
    delim = "\t" if text[:4096].count("\t") > text[:4096].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows = [(n, [c.strip() for c in row]) for n, row in enumerate(reader, 1)]
    rows = [(n, r) for n, r in rows if r and r[0]]
    demographic = any(len(r) >= 3 and r[2].lower() in ("male", "female") and _hefei_age_cell(r[1]) for _, r in rows)
    layout = "'<id>.txt<TAB><age><TAB>MALE|FEMALE<TAB><label>...'"
    out: dict[str, HefeiLabelRow] = {}
    first_line: dict[str, int] = {}
    for n, r in rows:
        rid = Path(r[0]).stem
        if rid in out:
            raise InputFileError(p, f"record {rid!r} is listed twice (lines {first_line[rid]} and {n})",
                                 "keep one row per record")
        if not demographic:
            out[rid] = HefeiLabelRow([c for c in r[1:] if c])
        else:
            age_cell = r[1] if len(r) > 1 else ""
            sex_cell = r[2] if len(r) > 2 else ""
            if not _hefei_age_cell(age_cell):
                raise InputFileError(p, f"line {n}: age {age_cell!r} is not a number (the file has the Hefei "
                                        f"age/sex columns)", f"give rows as {layout}, the age empty when unknown")
            if sex_cell.lower() not in _HEFEI_SEX and sex_cell.lower() not in _MISSING_WORDS:
                raise InputFileError(p, f"line {n}: sex {sex_cell!r} is not MALE or FEMALE (the file has the Hefei "
                                        f"age/sex columns)", f"give rows as {layout}, the sex empty when unknown")
            age = None if age_cell.lower() in _MISSING_WORDS else float(age_cell)
            if age is not None and not (math.isfinite(age) and age >= 0):
                raise InputFileError(p, f"line {n}: age {age_cell!r} is not a non-negative number",
                                     f"give rows as {layout}, the age empty when unknown")
            out[rid] = HefeiLabelRow([c for c in r[3:] if c], age, _HEFEI_SEX.get(sex_cell.lower()))
        first_line[rid] = n
    return out


def iter_hefei_folder(
    root: str | Path,
    labels_table: str | Path | None = None,
    *,
    uv_per_count: float = 4.88,
    fs_hz: float = 500.0,
) -> Iterator[ECGRecord]:
    """Read a Hefei folder of ``<id>.txt`` files one record at a time, with the labels, age
    and sex of ``labels_table`` (:func:`read_hefei_label_table`) attached.

    Records absent from the table (or all of them without one) get no labels and age/sex
    ``None``. Sorted by file name; the folder and the table are checked when this is called.
    The table itself is skipped when it lies in ``root``.
    """
    folder = Path(root)
    skip = Path(labels_table).resolve() if labels_table else None  # a table kept beside the records
    files = sorted(f for f in folder.glob("*.txt") if f.resolve() != skip) if folder.is_dir() else []
    if not files:
        raise InputFileError(folder, "no .txt ECG files found", "set data.root to the folder of Hefei .txt files")
    table = read_hefei_label_table(labels_table) if labels_table else {}

    def gen() -> Iterator[ECGRecord]:
        for f in files:
            rec = read_hefei_txt(f, uv_per_count=uv_per_count, fs_hz=fs_hz)
            row = table.get(rec.record_id)
            if row is not None:
                rec.labels, rec.age, rec.sex = list(row.labels), row.age, row.sex
            yield rec

    return gen()
