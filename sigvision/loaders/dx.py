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
* a *challenge* is ``"2021"`` (the tables above, ``weights.csv``: 26 classes) or ``"2020"``
  (``weights_2020.csv`` of the 2020 Challenge: 27 codes, 24 classes once its three
  equivalent pairs are merged; see ``LICENSE.md`` there).

Headers that name diagnoses by abbreviation (CinC 2020 early release: ``#Dx: RBBB, AF``) or
in free text (LUDB: ``#Rhythm: Sinus bradycardia.``) are mapped to codes by a
:class:`LabelMap`: the packaged ``label_map.yaml`` plus the tables' abbreviations and names,
extended by a user's YAML file of the same form (``data.label_map``).
"""
from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from sigvision.errors import InputFileError, SigvisionError

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import pandas as pd

# pandas is imported where a table is made: the config asks the tasks when a command starts, and
# reading a config must stay quick.

__all__ = [
    "POLICIES",
    "CHALLENGES",
    "dx_mapping_dir",
    "load_dx_tables",
    "scored_classes",
    "equivalent_codes",
    "challenge_weights",
    "code_to_abbreviation",
    "labels_to_multihot",
    "LabelMap",
    "load_label_map",
]

logger = logging.getLogger(__name__)

#: Accepted values of every ``on_unknown`` argument.
POLICIES: tuple[str, ...] = ("warn", "raise", "ignore")

_SCORED_CSV = "dx_mapping_scored.csv"
_UNSCORED_CSV = "dx_mapping_unscored.csv"
_WEIGHTS_CSV = "weights.csv"
_LABEL_MAP = "label_map.yaml"
_RAISE = object()

#: Challenge years whose scoring sigvision ships (``data.challenge``).
CHALLENGES: tuple[str, ...] = ("2021", "2020")
_WEIGHTS_FILES = {"2021": _WEIGHTS_CSV, "2020": "weights_2020.csv"}
#: Codes the 2020 scoring code (``evaluate_12ECG_score.py``) scores as one class; the first
#: of each pair stands for both. The 2021 table marks its pairs in the header (``a|b``).
EQUIVALENT_2020: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"), ("284470004", "63593006"), ("427172004", "17338001"))


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
    import pandas as pd
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


def _check_challenge(challenge) -> str:
    c = str(challenge)
    if c not in CHALLENGES:
        raise ValueError(f"challenge={challenge!r} is not valid; accepted: {', '.join(CHALLENGES)}")
    return c


@functools.lru_cache(maxsize=4)
def _weights(challenge: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Class ids (equivalent codes joined by ``|``) and reward matrix of one Challenge year."""
    path = _csv_path(_WEIGHTS_FILES[challenge])
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [[c.strip() for c in line.split(",")] for line in fh if line.strip()]
    header, body = rows[0][1:], rows[1:]
    if rows[0][0] != "" or [r[0] for r in body] != header or any(len(r) != len(header) + 1 for r in body):
        raise InputFileError(path, "is not a square table whose row ids equal its column ids (',code,code,...')",
                             f"restore the unmodified Challenge {path.name}")
    try:
        values = np.array([[float(v) if v else np.nan for v in r[1:]] for r in body], dtype=np.float64)
    except ValueError:
        raise InputFileError(path, "holds a weight that is not a number", f"restore the unmodified {path.name}") from None
    if challenge == "2020":  # merge the pairs as the 2020 scoring code does
        keep, ids = [], []
        for i, code in enumerate(header):
            pair = next((p for p in EQUIVALENT_2020 if code in p), None)
            if pair is not None and code != pair[0]:
                j = header.index(pair[0])
                if not (np.array_equal(values[i], values[j]) and np.array_equal(values[:, i], values[:, j])):
                    raise InputFileError(path, f"codes {pair[0]} and {code}, scored as one class, have different "
                                         "weights", f"restore the unmodified {path.name}")
                continue
            keep.append(i)
            ids.append("|".join(pair) if pair is not None else code)
        header, values = ids, values[np.ix_(keep, keep)]
    values.setflags(write=False)
    return tuple(header), values


def challenge_weights(challenge: str = "2021") -> tuple[list[str], np.ndarray]:
    """Class ids and reward matrix of the PhysioNet/CinC Challenge metric of one year.

    Parameters
    ----------
    challenge : {"2021", "2020"}
        ``"2021"``: the 26 classes of ``weights.csv``; ``"2020"``: ``weights_2020.csv``'s 27
        codes as 24 classes (:data:`EQUIVALENT_2020` merged, ids ``"713427006|59118001"``, ...).

    Returns
    -------
    classes : list of str
        Class ids in file order (a merged class at the place of its first code).
    weights : ndarray, float64, shape (n_classes, n_classes)
        ``weights[i, j]``: reward for outputting class ``j`` on a recording labelled ``i``.
        A fresh copy.
    """
    classes, values = _weights(_check_challenge(challenge))
    return list(classes), values.copy()


def scored_classes(merge_equivalent: bool = True, challenge: str = "2021") -> list[str]:
    """Class ids of the Challenge's scored diagnoses, in the order of its weights table.

    Parameters
    ----------
    merge_equivalent : bool, default True
        ``True``: the classes of the Challenge metric (2021: 26, 2020: 24); codes scored as
        the same diagnosis form one class whose id joins them with ``"|"``
        (``"733534002|164909002"``, ``"713427006|59118001"``, ``"284470004|63593006"``,
        ``"427172004|17338001"`` in 2021). ``False``: single-code classes, each merged id
        replaced in place by its codes (2021: 30, 2020: 27).
    challenge : {"2021", "2020"}, default "2021"

    Returns
    -------
    list of str
    """
    header = _weights(_check_challenge(challenge))[0]
    if merge_equivalent:
        return list(header)
    return [code for cls in header for code in cls.split("|")]


def equivalent_codes(challenge: str = "2021") -> dict[str, str]:
    """Map every scored code to its (possibly merged) class id.

    Returns
    -------
    dict of str to str
        e.g. ``{"59118001": "713427006|59118001", "426783006": "426783006", ...}`` (2021: 30
        keys, 2020: 27).
    """
    return {code: cls for cls in _weights(_check_challenge(challenge))[0] for code in cls.split("|")}


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
        ``"warn"`` logs one warning (``logging``) with the counts,
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
        logger.warning(msg)
    return out, {k: dict(v) for k, v in counts.items()}


# ----------------------------------------------------------------------------- label map
_SPACES = re.compile(r"\s+")
_CODE_RE = re.compile(r"^\d+$")


def normalize_label_text(text: str) -> str:
    """The form label-map keys are compared in: case-folded, runs of spaces made one, outer
    spaces and trailing full stops removed (``" Sinus  rhythm. "`` -> ``"sinus rhythm"``)."""
    return _SPACES.sub(" ", str(text)).strip().rstrip(".").strip().casefold()


def _label_heads(key: str) -> list[str]:
    """Shorter forms of a normalised statement, cut at the last ':' or ',' one at a time:
    ``"ventricular extrasystole, type: single pvc"`` -> ``["ventricular extrasystole, type",
    "ventricular extrasystole"]``."""
    out = []
    while True:
        cut = max(key.rfind(":"), key.rfind(","))
        if cut <= 0:
            return out
        key = key[:cut].strip().rstrip(".").strip()
        if key:
            out.append(key)


def _map_values(value, where: str, path) -> tuple[str, ...]:
    def one(v) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip():
            raise InputFileError(path, f"{where}: {v!r} is not a code or class name",
                                 "give a SNOMED CT code (e.g. 426783006), a class name, a list of them, or [] "
                                 "for a statement that is no finding")
        return str(v).strip()

    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(one(v) for v in value)
    return (one(value),)


def _read_label_map_yaml(path: Path) -> dict[str, tuple[str, ...]]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "label map not found", "set data.label_map to a YAML file of 'text: code' lines "
                             "(see sigvision/resources/dx_mapping/label_map.yaml)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(p, f"label map is not valid YAML ({first})", "write one 'text: code' line per entry") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputFileError(p, f"label map must be a mapping of text -> code(s), got a {type(data).__name__}",
                             "write one 'text: code' line per entry, e.g. 'Sinus rhythm: 426783006'")
    out: dict[str, tuple[str, ...]] = {}
    origin: dict[str, str] = {}
    for k, v in data.items():
        key = normalize_label_text(k)
        if not key:
            raise InputFileError(p, f"label map entry {k!r} has an empty key", "remove it")
        if key in out and out[key] != _map_values(v, f"entry {k!r}", p):
            raise InputFileError(p, f"entries {origin[key]!r} and {k!r} are the same text (case and full stops "
                                 "ignored) but map to different codes", "keep one of them")
        out[key] = _map_values(v, f"entry {k!r}", p)
        origin[key] = str(k)
    return out


@functools.lru_cache(maxsize=1)
def _builtin_label_map() -> dict[str, tuple[str, ...]]:
    return _read_label_map_yaml(_csv_path(_LABEL_MAP))


@functools.lru_cache(maxsize=1)
def _table_lookup() -> dict[str, tuple[str, ...]]:
    """Abbreviations and diagnosis names of both Challenge tables -> code (case-insensitive)."""
    table = _tables()
    out: dict[str, tuple[str, ...]] = {}
    for col in ("abbreviation", "name"):
        for text, code in zip(table[col], table["code"]):
            key = normalize_label_text(text)
            if key and key not in out:
                out[key] = (code,)
    return out


class LabelMap:
    """Diagnosis statements (codes, abbreviations, free text) -> label codes.

    Lookup of one statement, first hit wins:

    1. a statement of digits only is a code and stays as it is (``"59118001"``);
    2. the user's map (``data.label_map``), then the packaged ``label_map.yaml``, then the
       abbreviations and diagnosis names of the Challenge tables, compared after
       :func:`normalize_label_text` (case, spaces and trailing full stops ignored);
    3. the same with the statement cut at its last ``:`` or ``,``, repeatedly
       (``"Ischemia: lateral wall."`` -> ``"Ischemia"``).

    Parameters
    ----------
    user_map : str or Path, optional
        A YAML file ``text: code`` / ``text: [code, code]`` / ``text: []`` whose entries take
        precedence over the packaged ones.
    """

    def __init__(self, user_map: str | Path | None = None):
        self.user_map_path = Path(user_map) if user_map else None
        self._user = _read_label_map_yaml(self.user_map_path) if self.user_map_path else {}
        self._maps = (self._user, _builtin_label_map(), _table_lookup())

    def lookup(self, text: str) -> tuple[str, ...] | None:
        """Codes of one statement: a tuple (empty for a known statement that is no finding),
        or ``None`` when nothing matches."""
        raw = str(text).strip()
        if _CODE_RE.match(raw):
            return (raw,)
        key = normalize_label_text(raw)
        if not key:
            return ()
        for candidate in [key] + _label_heads(key):
            for m in self._maps:
                if candidate in m:
                    return m[candidate]
        return None

    def map_labels(self, statements: Iterable[str]) -> tuple[list[str], list[str]]:
        """Codes of several statements, in order and without repeats, and the statements that
        matched nothing (kept as written, stripped, in the codes too).

        Returns
        -------
        labels : list of str
        unknown : list of str
        """
        labels: list[str] = []
        unknown: list[str] = []
        for s in statements:
            codes = self.lookup(s)
            if codes is None:
                text = _SPACES.sub(" ", str(s)).strip().rstrip(".").strip()
                unknown.append(text)
                codes = (text,)
            for c in codes:
                if c not in labels:
                    labels.append(c)
        return labels, unknown

    def is_known_code(self, code: str) -> bool:
        """Whether a code is in a Challenge table or among the values of a label map."""
        if code in set(_tables()["code"]):
            return True
        return any(code in vals for m in self._maps[:2] for vals in m.values())


@functools.lru_cache(maxsize=16)
def load_label_map(user_map: str | None = None) -> LabelMap:
    """The :class:`LabelMap` of an optional user YAML file (cached per path)."""
    return LabelMap(user_map or None)
