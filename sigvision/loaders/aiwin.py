"""AIWIN 2021 ECG task (http://ailab.aiwin.org.cn/competitions/64): one ``.mat`` file per
record holding a 12 x N matrix (variable ``ecgdata`` in the public solutions; 500 Hz, 10 s,
mV) plus a label CSV ``name,label[,label...]``."""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from sigvision.errors import InputFileError
from sigvision.loaders.base import ECGRecord
from sigvision.loaders.dx import check_policy

from .ecg import STANDARD_LEADS

# scipy.io is imported where a .mat file is read (heavy).

log = logging.getLogger(__name__)


_CSV_HEADER_NAMES = {"name", "id", "record", "record_id", "recordid", "file", "filename", "file_name", "filepath"}


def _pick_aiwin_variable(mat_path: Path, variables: dict, variable: str | None, n_leads: int) -> tuple[str, np.ndarray]:
    def describe() -> str:
        return ", ".join(f"{k} {getattr(v, 'shape', '')}" for k, v in variables.items()) or "none"

    if variable is not None:
        if variable not in variables:
            raise InputFileError(
                mat_path, f"MATLAB file has no variable {variable!r} (variables present: {describe()})", "pass the right variable="
            )
        return variable, np.asarray(variables[variable])
    if "ecgdata" in variables:
        return "ecgdata", np.asarray(variables["ecgdata"])
    candidates = [
        (k, np.asarray(v))
        for k, v in variables.items()
        if isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind in "iuf" and n_leads in v.shape
    ]
    if len(candidates) != 1:
        raise InputFileError(
            mat_path,
            f"expected variable 'ecgdata' or exactly one 2-D numeric variable with {n_leads} rows or columns, "
            f"found {len(candidates)} (variables present: {describe()})",
            "pass variable='<name>'",
        )
    return candidates[0]


def read_aiwin_mat(
    path: str | Path,
    *,
    fs_hz: float = 500.0,
    lead_names: Sequence[str] = STANDARD_LEADS,
    mv_per_unit: float = 1.0,
    variable: str | None = None,
    labels: Sequence[str] = (),
) -> ECGRecord:
    """Read one AIWIN 2021 ECG ``.mat`` file.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file; its stem is the record id.
    fs_hz : float, default 500.0
        Sampling rate (AIWIN: 500 Hz, 5000 samples = 10 s).
    lead_names : sequence of str, default :data:`STANDARD_LEADS`
        Lead order of the rows (AIWIN: I, II, III, aVR, aVL, aVF, V1-V6).
    mv_per_unit : float, default 1.0
        Millivolts per stored unit (AIWIN data are stored in mV).
    variable : str, optional
        Variable to read. Default: ``ecgdata`` (the name used by public AIWIN solutions)
        if present, else the only 2-D numeric variable with ``len(lead_names)`` rows or
        columns.
    labels : sequence of str
        Labels to attach (see :func:`read_aiwin_folder`).

    Returns
    -------
    ECGRecord
        ``signals`` float32 ``(n_leads, n_samples)`` in mV. A stored ``(n_samples, n_leads)``
        matrix is transposed; a square matrix is taken as leads x samples.
    """
    import scipy.io

    mat_path = Path(path)
    if not mat_path.is_file():
        raise InputFileError(mat_path, "AIWIN .mat file not found", "check the path")
    try:
        content = scipy.io.loadmat(str(mat_path))
    except Exception as exc:
        raise InputFileError(mat_path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})", "re-download the file") from None
    variables = {k: v for k, v in content.items() if not k.startswith("__")}
    n_leads = len(lead_names)
    name, arr = _pick_aiwin_variable(mat_path, variables, variable, n_leads)
    if arr.ndim != 2 or arr.dtype.kind not in "iuf":
        raise InputFileError(
            mat_path, f"variable {name!r} must be a 2-D numeric matrix, got dtype {arr.dtype} shape {arr.shape}", "check the file"
        )
    if arr.shape[0] == n_leads:
        data = arr
    elif arr.shape[1] == n_leads:
        data = arr.T
    else:
        raise InputFileError(
            mat_path,
            f"variable {name!r} has shape {arr.shape}; expected ({n_leads}, n_samples) or (n_samples, {n_leads})",
            "pass lead_names matching the stored leads",
        )
    signals = data.astype(np.float64) * float(mv_per_unit)
    if not np.isfinite(signals).all():
        raise InputFileError(
            mat_path, f"{int((~np.isfinite(signals)).sum())} non-finite samples in {name!r}", "repair or drop the record"
        )
    return ECGRecord(
        record_id=mat_path.stem,
        signals=signals.astype(np.float32),
        fs_hz=float(fs_hz),
        lead_names=list(lead_names),
        labels=[str(x) for x in labels],
        source=str(mat_path),
        units="mV",
        meta={"format": "aiwin-mat", "variable": name, "mv_per_unit": float(mv_per_unit)},
    )


def _read_label_csv(csv_path: Path, has_header: bool | None) -> dict[str, list[str]]:
    if not csv_path.is_file():
        raise InputFileError(csv_path, "label CSV not found", "check the path of the label file")
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        rows = [[c.strip() for c in row] for row in csv.reader(fh)]
    rows = [(i, r) for i, r in enumerate(rows, 1) if any(r)]
    if not rows:
        raise InputFileError(csv_path, "label CSV is empty", "give the CSV with rows 'name,label'")
    first = rows[0][1]
    if has_header is None:
        has_header = first[0].lower() in _CSV_HEADER_NAMES
    if has_header:
        rows = rows[1:]
    out: dict[str, list[str]] = {}
    for lineno, row in rows:
        name = row[0]
        if name.lower().endswith(".mat"):
            name = name[: -len(".mat")]
        labels = [c for c in row[1:] if c]
        if not name:
            raise InputFileError(csv_path, f"line {lineno} has an empty record name", "fill in the first column")
        if not labels:
            raise InputFileError(csv_path, f"line {lineno} (record {name!r}) has no label", "give 'name,label' on every row")
        if name in out:
            raise InputFileError(csv_path, f"record {name!r} is listed twice (line {lineno})", "keep one row per record")
        out[name] = labels
    if not out:
        raise InputFileError(csv_path, "label CSV has a header but no rows", "add one 'name,label' row per record")
    return out


def _first_csv_name(csv_path: Path) -> str | None:
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        for row in csv.reader(fh):
            if row and row[0].strip():
                name = row[0].strip()
                return name[: -len(".mat")] if name.lower().endswith(".mat") else name
    return None


def _names_preview(names: Iterable[str], k: int = 5) -> str:
    names = sorted(names)
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def read_aiwin_folder(mat_dir: str | Path, labels_csv: str | Path | None = None, **kw) -> list[ECGRecord]:
    """Read an AIWIN 2021 ECG folder into a list: :func:`iter_aiwin_folder` (same parameters),
    all records at once."""
    return list(iter_aiwin_folder(mat_dir, labels_csv, **kw))


def iter_aiwin_folder(
    mat_dir: str | Path,
    labels_csv: str | Path | None = None,
    *,
    on_mismatch: str = "raise",
    has_header: bool | None = None,
    fs_hz: float = 500.0,
    lead_names: Sequence[str] = STANDARD_LEADS,
    mv_per_unit: float = 1.0,
    variable: str | None = None,
) -> Iterator[ECGRecord]:
    """Read an AIWIN 2021 ECG folder (one ``.mat`` per record) and its optional label CSV,
    one record at a time (a list of 40,000 records would hold about 10 GB of signals).

    The folder and the CSV are checked when this is called, before the first record is read.

    Parameters
    ----------
    mat_dir : str or Path
        Folder with the ``<name>.mat`` files (task 1 training set: 1600 records, 12 leads,
        500 Hz, 10 s, mV).
    labels_csv : str or Path, optional
        CSV with the record name in the first column (``.mat`` suffix optional) and the
        label(s) in the following columns: task 1 (normal/abnormal) has one label per row,
        task 2 several. Labels are kept as the strings written (e.g. ``"0"``/``"1"``).
    on_mismatch : {"raise", "warn", "ignore"}, default "raise"
        A record listed in the CSV but missing on disk, or a ``.mat`` absent from the CSV:
        ``"raise"`` raises :class:`~sigvision.errors.InputFileError` naming them;
        ``"warn"``/``"ignore"`` load the ``.mat`` files on disk (those absent from the CSV
        get no labels) and skip CSV rows without a file, with/without a warning.
    has_header : bool, optional
        Whether the CSV's first row is a header. Default: detected when its first cell is a
        column name such as ``name``, ``id`` or ``file``.
    fs_hz, lead_names, mv_per_unit, variable
        See :func:`read_aiwin_mat`.

    Returns
    -------
    iterator of ECGRecord
        Sorted by record name.
    """
    check_policy(on_mismatch, "on_mismatch")
    root = Path(mat_dir)
    if not root.is_dir():
        raise InputFileError(root, "AIWIN data folder does not exist or is not a folder", "give the folder with the .mat files")
    mats = sorted((p for p in root.iterdir() if p.suffix.lower() == ".mat" and p.is_file()), key=lambda p: p.stem)
    if not mats:
        raise InputFileError(root, "folder holds no .mat files", "point to the AIWIN folder with <name>.mat files")
    labels: dict[str, list[str]] = {}
    if labels_csv is not None:
        csv_path = Path(labels_csv)
        labels = _read_label_csv(csv_path, has_header)
        on_disk = {p.stem for p in mats}
        missing = set(labels) - on_disk
        unlabelled = on_disk - set(labels)
        problems = []
        if missing:
            problems.append(f"{len(missing)} record(s) listed in {csv_path.name} have no .mat file in {root}: {_names_preview(missing)}")
        if unlabelled:
            problems.append(f"{len(unlabelled)} .mat file(s) are absent from {csv_path.name}: {_names_preview(unlabelled)}")
        if problems:
            msg = "; ".join(problems)
            fix = "make the CSV and the folder agree, or pass on_mismatch='warn' to load what matches"
            if has_header is None and _first_csv_name(csv_path) in missing:
                fix += " (if the first row is a column header, pass has_header=True)"
            if on_mismatch == "raise":
                raise InputFileError(csv_path, msg, fix)
            if on_mismatch == "warn":
                log.warning("%s: %s", csv_path, msg)
    return (
        read_aiwin_mat(
            p, fs_hz=fs_hz, lead_names=lead_names, mv_per_unit=mv_per_unit, variable=variable, labels=labels.get(p.stem, ())
        )
        for p in mats
    )
