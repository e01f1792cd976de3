"""Diagnosis label tables of the PhysioNet/CinC Challenge 2020-2021 (SNOMED CT codes).

The tables ship with the package in ``sigvision/resources/dx_mapping/`` (unmodified copies
of the Challenge's ``dx_mapping_scored.csv``, ``dx_mapping_unscored.csv``, ``weights.csv``
and ``weights_abbreviations.csv``; BSD 2-Clause, see ``LICENSE.md`` there).

Vocabulary used in this module:

* a *code* is one SNOMED CT concept id written as a string, e.g. ``"59118001"``;
* a *class* is one column of a multi-hot label matrix. Its id is a code, or several codes
  joined by ``"|"`` when the Challenge scores them as the same diagnosis, e.g.
  ``"713427006|59118001"`` (complete right bundle branch block = right bundle branch block);
* a *scored* code is one of the 30 codes of ``dx_mapping_scored.csv`` (26 classes once the
  four equivalent pairs are merged); an *unscored* code is one of the 103 codes of
  ``dx_mapping_unscored.csv``; an *unknown* code is in neither table.
"""
from __future__ import annotations

import functools
import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from sigvision.errors import InputFileError, SigvisionError

__all__ = [
    "POLICIES",
    "dx_mapping_dir",
    "load_dx_tables",
    "scored_classes",
    "equivalent_codes",
    "code_to_abbreviation",
    "labels_to_multihot",
]

logger = logging.getLogger(__name__)

#: Accepted values of every ``on_unknown`` argument.
POLICIES: tuple[str, ...] = ("warn", "raise", "ignore")

_SCORED_CSV = "dx_mapping_scored.csv"
_UNSCORED_CSV = "dx_mapping_unscored.csv"
_WEIGHTS_CSV = "weights.csv"
_RAISE = object()


def check_policy(value: str, name: str = "on_unknown") -> str:
    """Return ``value`` if it is one of :data:`POLICIES`, else raise ``ValueError``."""
    if value not in POLICIES:
        raise ValueError(f"{name}={value!r} is not valid; use one of {', '.join(map(repr, POLICIES))}")
    return value


def dx_mapping_dir() -> Path:
    """Folder of the packaged Challenge tables (``sigvision/resources/dx_mapping``).

    Found with :mod:`importlib.resources`; falls back to the path relative to this file when
    ``sigvision`` is not importable as a regular package (e.g. a source tree without an
    ``__init__.py``).
    """
    try:
        from importlib.resources import files

        root = Path(str(files("sigvision").joinpath("resources", "dx_mapping")))
        if root.is_dir():
            return root
    except (ImportError, TypeError, ValueError, AttributeError, FileNotFoundError):
        pass
    return Path(__file__).resolve().parents[1] / "resources" / "dx_mapping"


def _csv_path(name: str) -> Path:
    path = dx_mapping_dir() / name
    if not path.is_file():
        raise InputFileError(
            path,
            "packaged Challenge label table is missing",
            "reinstall sigvision (package data sigvision/resources/dx_mapping/*.csv)",
        )
    return path


@functools.lru_cache(maxsize=1)
def _tables() -> pd.DataFrame:
    frames = []
    for name, scored in ((_SCORED_CSV, True), (_UNSCORED_CSV, False)):
        path = _csv_path(name)
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"Dx", "SNOMEDCTCode", "Abbreviation"} - set(raw.columns)
        if missing:
            raise InputFileError(
                path,
                f"columns {sorted(missing)} missing (found {list(raw.columns)})",
                "restore the unmodified Challenge table",
            )
        frames.append(
            pd.DataFrame(
                {
                    "code": raw["SNOMEDCTCode"].str.strip(),
                    "abbreviation": raw["Abbreviation"].str.strip(),
                    "name": raw["Dx"].str.strip(),
                    "scored": scored,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    dup = table["code"][table["code"].duplicated()].tolist()
    if dup:
        raise InputFileError(
            dx_mapping_dir(), f"codes listed twice in the Challenge tables: {dup}", "restore the unmodified tables"
        )
    return table


def load_dx_tables() -> pd.DataFrame:
    """Every SNOMED CT code the Challenge tables know, scored and unscored.

    Returns
    -------
    pandas.DataFrame
        One row per code (30 scored + 103 unscored = 133 rows), columns

        ``code`` : str
            SNOMED CT concept id, e.g. ``"426783006"``.
        ``abbreviation`` : str
            Challenge abbreviation, e.g. ``"NSR"``.
        ``name`` : str
            Diagnosis as written in the table, e.g. ``"sinus rhythm"``.
        ``scored`` : bool
            Whether the code is one of the Challenge's scored diagnoses.

        Scored codes come first, in the order of ``dx_mapping_scored.csv``. A fresh copy is
        returned, so callers may modify it.
    """
    return _tables().copy()


@functools.lru_cache(maxsize=1)
def _weights_header() -> tuple[str, ...]:
    path = _csv_path(_WEIGHTS_CSV)
    with open(path, encoding="utf-8") as fh:
        first = fh.readline().strip()
    cells = [c.strip() for c in first.split(",")]
    if len(cells) < 2 or cells[0] != "":
        raise InputFileError(path, "first line is not the class header ',code,code,...'", "restore the unmodified weights.csv")
    return tuple(cells[1:])


def scored_classes(merge_equivalent: bool = True) -> list[str]:
    """Class ids of the Challenge's scored diagnoses, in the order of ``weights.csv``.

    Parameters
    ----------
    merge_equivalent : bool, default True
        ``True``: the 26 classes of the Challenge metric; codes scored as the same diagnosis
        form one class whose id joins them with ``"|"`` exactly as in ``weights.csv``
        (``"733534002|164909002"``, ``"713427006|59118001"``, ``"284470004|63593006"``,
        ``"427172004|17338001"``). ``False``: 30 single-code classes, each merged id
        replaced in place by its codes.

    Returns
    -------
    list of str
    """
    header = _weights_header()
    if merge_equivalent:
        return list(header)
    return [code for cls in header for code in cls.split("|")]


def equivalent_codes() -> dict[str, str]:
    """Map every scored code to its (possibly merged) class id in ``weights.csv``.

    Returns
    -------
    dict of str to str
        e.g. ``{"59118001": "713427006|59118001", "426783006": "426783006", ...}`` (30 keys).
    """
    return {code: cls for cls in _weights_header() for code in cls.split("|")}


def code_to_abbreviation(code: str | int, default=_RAISE) -> str:
    """Challenge abbreviation of a code or of a merged class id.

    Parameters
    ----------
    code : str or int
        A SNOMED CT code (``"426783006"`` -> ``"NSR"``) or a merged class id
        (``"713427006|59118001"`` -> ``"CRBBB|RBBB"``).
    default : optional
        Returned for a code in neither table. Without it such a code raises ``KeyError``.

    Returns
    -------
    str
    """
    table = _tables()
    lookup = dict(zip(table["code"], table["abbreviation"]))
    parts = [p.strip() for p in str(code).split("|")]
    out = []
    for part in parts:
        if part not in lookup:
            if default is _RAISE:
                raise KeyError(
                    f"SNOMED CT code {part!r} is in neither Challenge table "
                    "(dx_mapping_scored.csv, dx_mapping_unscored.csv); pass default=... to allow it"
                )
            return default
        out.append(lookup[part])
    return "|".join(out)


def _as_code(value, where: str) -> str:
    if isinstance(value, (bool, np.bool_)):
        raise SigvisionError(f"{where}: label {value!r} is a boolean, not a diagnosis code; fix: pass codes as strings")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, str):
        code = value.strip()
        if not code:
            raise SigvisionError(f"{where}: empty label; fix: drop empty strings from the code list")
        return code
    raise SigvisionError(
        f"{where}: label {value!r} of type {type(value).__name__} is not a code; fix: pass codes as str (or int)"
    )


def labels_to_multihot(
    list_of_code_lists: Sequence[Iterable[str | int]],
    classes: Sequence[str] | None = None,
    *,
    on_unknown: str = "warn",
    record_ids: Sequence[str] | None = None,
) -> tuple[np.ndarray, dict[str, dict[str, int]]]:
    """Encode per-record diagnosis codes as a multi-hot matrix.

    Parameters
    ----------
    list_of_code_lists : sequence of iterables of str
        One list of codes per record, e.g. ``[["426783006"], ["59118001", "426177001"]]``
        (:attr:`sigvision.loaders.base.ECGRecord.labels`). A bare string in place of a list
        is refused (it would be read character by character).
    classes : sequence of str, optional
        Class ids, one per output column; ids may join equivalent codes with ``"|"``.
        Default: :func:`scored_classes` (the 26 merged Challenge classes).
    on_unknown : {"warn", "raise", "ignore"}, default "warn"
        What to do with a code that is neither a class nor in either Challenge table:
        ``"warn"`` emits one ``UserWarning`` (and a log record) with the counts,
        ``"raise"`` raises :class:`~sigvision.errors.SigvisionError` naming the code and
        the record, ``"ignore"`` only counts it. Such codes never set a bit.
    record_ids : sequence of str, optional
        Names used in messages; default ``"record #<index>"``.

    Returns
    -------
    multihot : ndarray, uint8, shape (n_records, n_classes)
        ``1`` where the record carries a code of the class. A code that belongs to a
        merged class (``"59118001"`` for ``"713427006|59118001"``) sets that class.
    counts : dict
        Number of records carrying each code that set no bit, by reason:
        ``"unknown"`` (in neither table), ``"unscored"`` (a known unscored code; simply
        not a class), ``"scored_not_in_classes"`` (a scored code absent from a custom
        ``classes`` list). Each maps code -> record count.
    """
    check_policy(on_unknown)
    if isinstance(list_of_code_lists, (str, bytes)):
        raise SigvisionError("labels_to_multihot: expected one list of codes per record, got a single string; fix: wrap it in a list")
    records = list(list_of_code_lists)
    if record_ids is not None:
        record_ids = [str(r) for r in record_ids]
        if len(record_ids) != len(records):
            raise ValueError(f"record_ids has {len(record_ids)} names for {len(records)} records")
    classes = scored_classes() if classes is None else [str(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes contains duplicates: {[c for c, n in Counter(classes).items() if n > 1]}")

    code_to_col: dict[str, int] = {}
    for col, cls in enumerate(classes):
        for code in cls.split("|"):
            code = code.strip()
            if code in code_to_col:
                raise ValueError(f"code {code!r} belongs to two classes: {classes[code_to_col[code]]!r} and {cls!r}")
            code_to_col[code] = col

    table = _tables()
    scored = set(table.loc[table["scored"], "code"])
    unscored = set(table.loc[~table["scored"], "code"])

    out = np.zeros((len(records), len(classes)), dtype=np.uint8)
    counts: dict[str, Counter] = {"unknown": Counter(), "unscored": Counter(), "scored_not_in_classes": Counter()}
    for i, codes in enumerate(records):
        name = record_ids[i] if record_ids is not None else f"record #{i}"
        if isinstance(codes, (str, bytes)):
            raise SigvisionError(
                f"{name}: labels given as the single string {codes!r}; fix: pass a list of codes, "
                "e.g. split a CinC '# Dx:' value on ','"
            )
        seen = set()
        for value in codes:
            code = _as_code(value, name)
            if code in seen:
                continue
            seen.add(code)
            if code in code_to_col:
                out[i, code_to_col[code]] = 1
            elif code in unscored:
                counts["unscored"][code] += 1
            elif code in scored:
                counts["scored_not_in_classes"][code] += 1
            else:
                if on_unknown == "raise":
                    raise SigvisionError(
                        f"{name}: diagnosis code {code!r} is in neither Challenge table "
                        "(dx_mapping_scored.csv, dx_mapping_unscored.csv) and is not a class; "
                        "fix: correct the code, add it to classes, or pass on_unknown='ignore' or 'warn'"
                    )
                counts["unknown"][code] += 1

    if counts["unknown"] and on_unknown == "warn":
        total = sum(counts["unknown"].values())
        msg = (
            f"{total} label(s) with {len(counts['unknown'])} unknown diagnosis code(s) ignored "
            f"(in neither Challenge table): {dict(counts['unknown'].most_common(10))}"
        )
        logger.debug(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    return out, {k: dict(v) for k, v in counts.items()}
