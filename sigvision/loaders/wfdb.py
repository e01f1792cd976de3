"""WFDB records in millivolts: a header plus a MATLAB v4 ``.mat`` (CinC) or ``.dat`` signal files
(read through :func:`wfdb.rdrecord`), digital values turned into physical ones by each
signal's gain, baseline and unit; folders of them, with the label map of their diagnoses."""
from __future__ import annotations

import logging
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from sigvision.errors import InputFileError
from sigvision.loaders.base import ECGRecord
from sigvision.loaders.dx import LabelMap, check_policy, load_label_map

from .wfdb_header import (
    _FORMAT_BITS,
    _FORMAT_INVALID,
    _UNIT_TO_MV,
    _WFDB_DEFAULT_GAIN,
    WfdbHeader,
    WfdbSignalSpec,
    _comment_key,
    _diagnosis_statements,
    _parse_age,
    _parse_sex,
    parse_wfdb_header,
)

# wfdb and scipy.io are imported where a record is read (heavy).

log = logging.getLogger(__name__)


def _unit_factor(spec: WfdbSignalSpec, hea: Path, index: int) -> float:
    factor = _UNIT_TO_MV.get(spec.units.strip().lower())
    if factor is None:
        raise InputFileError(
            hea,
            f"signal {index} ({spec.description or 'unnamed'}) has units {spec.units!r}, not a voltage (mV, uV or V)",
            "sigvision returns ECG in mV; fix the header units or read non-voltage signals with wfdb.rdrecord",
        )
    return factor


def _read_mat_digital(hdr: WfdbHeader, mat_path: Path) -> np.ndarray:
    import scipy.io

    try:
        content = scipy.io.loadmat(str(mat_path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise InputFileError(
            mat_path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})", "re-export the record as MATLAB v4 with variable 'val'"
        ) from None
    variables = {k: v for k, v in content.items() if not k.startswith("__")}
    if "val" not in variables:
        present = ", ".join(f"{k} {getattr(v, 'shape', '')}" for k, v in variables.items()) or "none"
        raise InputFileError(
            mat_path,
            f"MATLAB file has no variable 'val' (variables present: {present})",
            "store the digital signals as 'val' with shape (n_leads, n_samples), as in the CinC Challenge",
        )
    val = np.asarray(variables["val"])
    if val.ndim != 2 or val.dtype.kind not in "iuf":
        raise InputFileError(
            mat_path,
            f"variable 'val' must be a 2-D numeric array, got dtype {val.dtype} shape {val.shape}",
            "store the digital signals as shape (n_leads, n_samples)",
        )
    n_sig, n_samp = hdr.n_sig, hdr.n_samples
    if val.shape[0] != n_sig:
        hint = ""
        if val.shape[1] == n_sig:
            hint = " (the matrix looks transposed: samples x leads)"
        raise InputFileError(
            mat_path,
            f"data has {val.shape[0]} leads (val shape {val.shape}) but the header {hdr.path.name} declares {n_sig}{hint}",
            "make the header's signal lines match the rows of 'val' (n_leads, n_samples)",
        )
    if n_samp is not None and val.shape[1] != n_samp:
        raise InputFileError(
            mat_path,
            f"data has {val.shape[1]} samples per lead but the header {hdr.path.name} declares {n_samp}",
            "fix the sample count on the header's first line or re-export the record",
        )
    return val


def _check_dat_sizes(hdr: WfdbHeader, folder: Path) -> None:
    groups: dict[str, list[WfdbSignalSpec]] = {}
    for spec in hdr.signals:
        groups.setdefault(spec.file_name, []).append(spec)
    for fname, specs in groups.items():
        path = folder / fname
        if not path.is_file():
            raise InputFileError(
                path, f"signal file referenced by {hdr.path.name} is missing", f"put {fname} next to {hdr.path.name}"
            )
        if hdr.n_samples is None:
            continue
        fmt = specs[0].fmt
        bits = _FORMAT_BITS.get(fmt)
        if bits is None or any(s.fmt != fmt for s in specs):
            continue
        frame_bits = bits * sum(s.samples_per_frame for s in specs)
        payload = path.stat().st_size - specs[0].byte_offset
        frames = math.floor(Fraction(max(payload, 0) * 8) / frame_bits)
        if frames != hdr.n_samples:
            raise InputFileError(
                path,
                f"data file holds {frames} samples per signal ({len(specs)} signals, format {fmt}) "
                f"but the header {hdr.path.name} declares {hdr.n_samples}",
                "fix the sample count on the header's first line or re-export the record",
            )


def _read_dat_digital(hdr: WfdbHeader) -> np.ndarray:
    import wfdb

    folder = hdr.path.parent
    _check_dat_sizes(hdr, folder)
    base = str(hdr.path)[: -len(".hea")]
    try:
        rec = wfdb.rdrecord(base, physical=False)
    except Exception as exc:  # wfdb raises many types for malformed records
        raise InputFileError(
            hdr.path, f"wfdb could not read the record ({type(exc).__name__}: {exc})", "check the header and signal files"
        ) from None
    d = rec.d_signal
    if d is None or d.ndim != 2:
        raise InputFileError(hdr.path, "wfdb returned no signal matrix", "check the header and signal files")
    d = d.T
    if d.shape[0] != hdr.n_sig:
        raise InputFileError(
            hdr.path,
            f"data has {d.shape[0]} signals but the header declares {hdr.n_sig}",
            "make the header's signal lines match the signal files",
        )
    if hdr.n_samples is not None and d.shape[1] != hdr.n_samples:
        raise InputFileError(
            hdr.path,
            f"data has {d.shape[1]} samples per signal but the header declares {hdr.n_samples}",
            "fix the sample count on the header's first line or re-export the record",
        )
    d = d.astype(np.float64)
    for i, spec in enumerate(hdr.signals):
        bad = _FORMAT_INVALID.get(spec.fmt)
        if bad is not None:
            d[i, d[i] == bad] = np.nan
    return d


def read_wfdb_record(path: str | Path, *, on_unknown: str = "warn",
                     label_map: LabelMap | str | Path | None = None) -> ECGRecord:
    """Read one WFDB ECG record (CinC ``.hea`` + ``.mat``, or ``.hea`` + ``.dat``).

    Parameters
    ----------
    path : str or Path
        Record path with or without extension: ``"data/E07500"``, ``"data/E07500.hea"`` and
        ``"data/E07500.mat"`` are the same record.
    on_unknown : {"warn", "raise", "ignore"}, default "warn"
        What to do with a diagnosis the label map does not know: a ``Dx`` code in neither
        Challenge table, or an abbreviation or text statement nothing maps. It is kept in
        ``labels`` as written (and listed in ``meta["unknown_labels"]``), logged with
        ``"warn"``, or raises :class:`~sigvision.errors.InputFileError` with ``"raise"``.
    label_map : LabelMap or path, optional
        How abbreviations and free text become codes (:class:`~sigvision.loaders.dx.LabelMap`);
        a path names a user YAML file extending the packaged map. Default: the packaged map.

    Returns
    -------
    ECGRecord
        ``signals``: float32, shape ``(n_leads, n_samples)``, in mV, computed per lead as
        ``(adc - baseline) / gain`` in the header's units, then converted to mV (``uV`` is
        divided by 1000, ``V`` multiplied by 1000; the unit is matched case-insensitively, so
        ``mv`` = ``mV``). ``fs_hz`` and ``lead_names`` from the header; ``age`` (years,
        ``None`` for ``NaN``/``Unknown``/missing; ``# Age:`` or LUDB's ``#<age>:``); ``sex``
        (``"M"``, ``"F"`` or ``None``); ``labels``: codes as strings, from the ``# Dx:`` field
        (codes kept, abbreviations mapped) or LUDB's diagnosis lines (text mapped), empty when
        the header names no diagnosis. ``meta`` holds the data-file format, the header
        comments as a dict, the per-lead gain/baseline/units, ``dx_statements`` (as
        written), ``labels_from`` (``"Dx"``, ``"diagnoses"`` or ``""``: unlabelled) and
        ``unknown_labels``.

    Raises
    ------
    InputFileError
        Missing header or data file; corrupt header line; ``.mat`` without variable ``val``
        (the variables present are listed); lead or sample count in the data different from
        the header; non-voltage units; non-finite samples (NaN/inf in a float ``val``, or
        WFDB invalid-sample markers such as -32768 in format-16 ``.dat`` files); an unknown
        Dx code with ``on_unknown="raise"``.

    Notes
    -----
    ``.mat`` values are taken as they are (the Challenge convention), so -32768 in a
    ``.mat`` is a sample value, whereas WFDB ``.dat`` readers treat it as "missing". A header
    without a gain (or gain 0) is uncalibrated; WFDB's default of 200 adu/unit is used and a
    warning is issued.
    """
    check_policy(on_unknown)
    hdr = parse_wfdb_header(path)
    hea = hdr.path
    files = {s.file_name for s in hdr.signals}
    is_mat = [f.lower().endswith(".mat") for f in files]
    if any(s.samples_per_frame != 1 for s in hdr.signals):
        raise InputFileError(
            hea,
            "multi-frequency record (samples per frame > 1) is not supported",
            "resample every signal to one rate, e.g. wfdb.rdrecord(..., smooth_frames=True), and rewrite it",
        )
    if any(is_mat):
        if len(files) != 1:
            raise InputFileError(
                hea, f"signals are spread over several files {sorted(files)} including a .mat", "store all leads in one .mat variable 'val'"
            )
        mat_path = hea.parent / next(iter(files))
        if not mat_path.is_file():
            raise InputFileError(
                mat_path, f"data file referenced by {hea.name} is missing", f"put {mat_path.name} next to {hea.name}"
            )
        digital = _read_mat_digital(hdr, mat_path).astype(np.float64)
        data_format, data_files = "wfdb-mat", [str(mat_path)]
    else:
        digital = _read_dat_digital(hdr)
        data_format, data_files = "wfdb-dat", [str(hea.parent / f) for f in sorted(files)]

    factors = np.array([_unit_factor(s, hea, i) for i, s in enumerate(hdr.signals)], dtype=np.float64)
    gains = np.array([s.gain for s in hdr.signals], dtype=np.float64)
    baselines = np.array([s.baseline for s in hdr.signals], dtype=np.float64)
    uncalibrated = [s.description or str(i) for i, s in enumerate(hdr.signals) if not s.gain_given]
    if uncalibrated:
        log.warning("%s: no ADC gain (or gain 0) for signals %s; using the WFDB default %g adu per unit, "
                    "amplitudes may be wrong", hea, uncalibrated, _WFDB_DEFAULT_GAIN)
    signals = (digital - baselines[:, None]) / gains[:, None] * factors[:, None]
    finite = np.isfinite(signals)
    if not finite.all():
        bad_leads = [hdr.signals[i].description or str(i) for i in np.flatnonzero(~finite.all(axis=1))]
        raise InputFileError(
            data_files[0],
            f"{int((~finite).sum())} non-finite or invalid samples (NaN/inf or WFDB missing-value markers) in leads {bad_leads}",
            "repair or drop the record (sigvision does not interpolate missing samples)",
        )

    fields = hdr.comment_fields()
    lower = {_comment_key(k): v for k, v in fields.items()}
    statements, labels_from = _diagnosis_statements(hdr)
    lmap = label_map if isinstance(label_map, LabelMap) else load_label_map(str(label_map) if label_map else None)
    labels, unknown = lmap.map_labels(statements)
    unknown += [c for c in labels if c.isdigit() and c not in unknown and not lmap.is_known_code(c)]
    if unknown and on_unknown == "raise":
        raise InputFileError(
            hea,
            f"diagnosis label(s) {unknown} map to no code (neither a code of the Challenge tables nor an "
            "abbreviation or text of the label map)",
            "correct them, add them to a label map YAML named by data.label_map ('text: code'), or set "
            "data.on_unknown_label: warn to keep them as written",
        )
    if unknown and on_unknown == "warn":
        log.warning("%s: diagnosis label(s) %s map to no code; kept as written", hea, unknown)

    lead_names = [s.description or f"ch{i}" for i, s in enumerate(hdr.signals)]
    return ECGRecord(
        record_id=hdr.record_name,
        signals=signals.astype(np.float32),
        fs_hz=float(hdr.fs_hz),
        lead_names=lead_names,
        labels=labels,
        age=_parse_age(lower.get("age"), hea),
        sex=_parse_sex(lower.get("sex"), hea),
        source=str(hea),
        units="mV",
        meta={
            "format": data_format,
            "data_files": data_files,
            "header_comments": fields,
            "header_units": [s.units for s in hdr.signals],
            "gain_adu_per_unit": gains.tolist(),
            "baseline_adu": baselines.astype(int).tolist(),
            "dx_statements": statements,
            "labels_from": labels_from,
            "unknown_labels": unknown,
        },
    )


def _header_files(folder: str | Path, recursive: bool) -> list[Path]:
    root = Path(folder)
    if not root.exists():
        raise InputFileError(root, "folder does not exist", "give the folder holding the .hea/.mat records")
    if not root.is_dir():
        raise InputFileError(root, "is not a folder", "give the folder holding the .hea/.mat records")
    pattern = "**/*" if recursive else "*"
    heads = [p for p in root.glob(pattern) if p.suffix.lower() == ".hea" and p.is_file()]
    if not heads:
        what = "is empty" if not any(root.iterdir()) else "holds no WFDB header (.hea) files"
        extra = "" if recursive else " (sub-folders are not searched; pass recursive=True)"
        raise InputFileError(root, f"folder {what}{extra}", "point to the folder holding the <record>.hea and .mat/.dat files")
    return sorted(heads, key=lambda p: (p.stem, str(p)))


def iter_wfdb_folder(
    folder: str | Path, *, on_unknown: str = "warn", recursive: bool = False,
    label_map: LabelMap | str | Path | None = None, stats: dict | None = None,
) -> Iterator[ECGRecord]:
    """Yield every WFDB record of a folder, sorted by record name.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``<record>.hea`` files and their ``.mat``/``.dat`` data.
    on_unknown : {"warn", "raise", "ignore"}, default "warn"
        Policy for diagnoses that map to no code (see :func:`read_wfdb_record`). With
        ``"warn"`` one summary is logged once the folder is exhausted (labels and how many
        records carry each) instead of one line per record.
    recursive : bool, default False
        Also search sub-folders (the CinC 2021 download nests records in ``g1/``, ``g2/``...).
    label_map : LabelMap or path, optional
        See :func:`read_wfdb_record`.
    stats : dict, optional
        Filled while iterating: ``unknown_labels`` (label -> records) and ``unlabelled``
        (ids of records whose header names no diagnosis).

    Returns
    -------
    iterator of ECGRecord
        The folder is checked when this function is called: a missing folder, an empty one,
        or one without ``.hea`` files raises :class:`~sigvision.errors.InputFileError`
        immediately; each record's own problems raise when it is reached.
    """
    check_policy(on_unknown)
    heads = _header_files(folder, recursive)
    lmap = label_map if isinstance(label_map, LabelMap) else load_label_map(str(label_map) if label_map else None)
    stats = {} if stats is None else stats
    stats.setdefault("unknown_labels", {})
    stats.setdefault("unlabelled", [])

    def _gen() -> Iterator[ECGRecord]:
        unknown = stats["unknown_labels"]
        per_record = "raise" if on_unknown == "raise" else "ignore"
        for hea in heads:
            rec = read_wfdb_record(hea, on_unknown=per_record, label_map=lmap)
            for code in rec.meta.get("unknown_labels", []):
                unknown[code] = unknown.get(code, 0) + 1
            if not rec.meta.get("labels_from"):
                stats["unlabelled"].append(rec.record_id)
            yield rec
        if unknown and on_unknown == "warn":
            log.warning("%s: %d diagnosis label(s) map to no code and are kept as written (label: records): %s; "
                        "add them to a label map YAML (data.label_map) or set data.on_unknown_label: raise to stop "
                        "on them", folder, len(unknown), dict(sorted(unknown.items(), key=lambda kv: -kv[1])[:10]))

    return _gen()


def load_wfdb_folder(folder: str | Path, *, on_unknown: str = "warn", recursive: bool = False,
                     label_map: LabelMap | str | Path | None = None) -> list[ECGRecord]:
    """Read every WFDB record of a folder into a list sorted by record name.

    Same parameters and errors as :func:`iter_wfdb_folder`.

    Returns
    -------
    list of ECGRecord
    """
    return list(iter_wfdb_folder(folder, on_unknown=on_unknown, recursive=recursive, label_map=label_map))
