"""Readers and writers for 12-lead ECG files.

Every reader returns :class:`~sigvision.loaders.base.ECGRecord` objects whose ``signals``
are float32 arrays of shape ``(n_leads, n_samples)`` (channels first) in **millivolts**.

Supported layouts
-----------------
* **WFDB** (PhysioNet), as used by the PhysioNet/CinC Challenges 2020-2021: a ``<rec>.hea``
  text header plus either a MATLAB v4 ``<rec>.mat`` file holding one variable ``val``
  (digital units, shape ``(n_leads, n_samples)``; header format ``16x1+24``) or ordinary
  WFDB ``.dat`` signal files (formats 8, 16, 24, 32, 61, 80, 160, 212, 310, 311 and the
  FLAC formats, read through :func:`wfdb.rdrecord`). Header comments give age, sex and
  labels: ``# Age:``/``# Sex:``/``# Dx:`` (CinC; ``Dx`` as SNOMED CT codes, 2021, or as
  abbreviations, the 2020 early release's ``#Dx: RBBB, AF``), or LUDB's ``#<age>:``,
  ``#<sex>:`` and the free-text diagnosis lines after ``#<diagnoses>:``; abbreviations and
  text become codes through a :class:`~sigvision.loaders.dx.LabelMap`. Lead names are matched
  case-insensitively with the usual aliases (:func:`match_leads`). See
  :func:`read_wfdb_record`, :func:`iter_wfdb_folder`, :func:`load_wfdb_folder`,
  :func:`write_wfdb_mat_record`.
* **AIWIN 2021** ECG task (http://ailab.aiwin.org.cn/competitions/64): one ``.mat`` file per
  record holding a 12 x N matrix (variable ``ecgdata`` in the public solutions; 500 Hz,
  10 s, mV) plus a label CSV ``name,label[,label...]``. See :func:`read_aiwin_folder`.
* **Hefei** (Tianchi "合肥高新杯" 2019 ECG contest): one text file per record, a header line
  ``I II V1 V2 V3 V4 V5 V6`` and one row of 8 integers per sample (500 Hz); the four other
  limb leads are derived. Labels, age and sex come from a separate table
  (``<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...``). See :func:`read_hefei_txt`,
  :func:`read_hefei_label_table`, :func:`iter_hefei_folder`.

Helpers: :func:`resample_ecg`, :func:`fix_length`, :func:`derive_limb_leads`.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import re
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from sigvision.io.artifacts import write_bytes, write_text
from sigvision.errors import InputFileError
from sigvision.loaders.base import ECGRecord
from sigvision.loaders.dx import LabelMap, check_policy, load_label_map

__all__ = [
    "STANDARD_LEADS",
    "HEFEI_LEADS",
    "WfdbHeader",
    "WfdbSignalSpec",
    "sample_cinc2021_dir",
    "parse_wfdb_header",
    "read_wfdb_record",
    "iter_wfdb_folder",
    "load_wfdb_folder",
    "write_wfdb_mat_record",
    "read_aiwin_mat",
    "read_aiwin_folder",
    "iter_aiwin_folder",
    "read_hefei_txt",
    "HefeiLabelRow",
    "read_hefei_label_table",
    "iter_hefei_folder",
    "derive_limb_leads",
    "resample_ecg",
    "fix_length",
    "match_leads",
    "LEAD_ALIASES",
]

log = logging.getLogger(__name__)

#: Standard 12-lead order used by every 12-lead record sigvision produces.
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: The 8 independent leads stored in Hefei contest files.
HEFEI_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
#: Other names of the standard leads, beside the case-insensitive name itself (``i``,
#: ``avr``, ``AVR``): Roman-numeral ``D`` names (DI, DII, DIII; Italian/French devices),
#: Arabic ``D1..D3``, ``lead I`` forms and the Holter ``MLII``. Users add their own with
#: ``data.channel_aliases`` (``{aVR: [minus_aVR_inverted]}``).
LEAD_ALIASES: dict[str, tuple[str, ...]] = {
    "I": ("DI", "D1", "lead I", "lead_I"), "II": ("DII", "D2", "lead II", "lead_II", "MLII"),
    "III": ("DIII", "D3", "lead III", "lead_III"), "aVR": ("lead aVR",), "aVL": ("lead aVL",),
    "aVF": ("lead aVF",), **{f"V{i}": (f"lead V{i}", f"C{i}") for i in range(1, 7)},
}

#: Millivolts per header unit, keyed by the lower-cased unit string.
_UNIT_TO_MV: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}
#: WFDB default gain (adu per physical unit) when the header gives none or 0.
_WFDB_DEFAULT_GAIN = 200.0
#: WFDB default sampling rate when the record line gives none.
_WFDB_DEFAULT_FS = 250.0
#: Bits per sample of the WFDB storage formats whose file size we can check.
_FORMAT_BITS: dict[str, Fraction] = {
    "8": Fraction(8), "80": Fraction(8), "16": Fraction(16), "61": Fraction(16), "160": Fraction(16),
    "24": Fraction(24), "32": Fraction(32), "212": Fraction(12), "310": Fraction(32, 3), "311": Fraction(32, 3),
}
#: Digital value WFDB uses to mark an invalid (missing) sample, per format.
_FORMAT_INVALID: dict[str, int] = {
    "80": -128, "16": -32768, "61": -32768, "160": -32768, "212": -2048,
    "310": -512, "311": -512, "24": -(2 ** 23), "32": -(2 ** 31),
}
_MISSING_WORDS = {"", "nan", "unknown", "none", "null", "n/a", "na", "?"}
_HEADER_SUFFIXES = (".hea", ".mat", ".dat")


# ----------------------------------------------------------------------------- resources
def sample_cinc2021_dir() -> Path:
    """Folder of the 35 real CinC 2021 records shipped with sigvision.

    ``sigvision/resources/sample/cinc2021`` (see ``PROVENANCE.md`` there): WFDB ``.hea`` +
    MATLAB v4 ``.mat``, 12 leads, 500 Hz, 5000 samples, gain 1000 adu/mV.
    """
    try:
        from importlib.resources import files

        root = Path(str(files("sigvision").joinpath("resources", "sample", "cinc2021")))
        if root.is_dir():
            return root
    except (ImportError, TypeError, ValueError, AttributeError, FileNotFoundError):
        pass
    return Path(__file__).resolve().parents[1] / "resources" / "sample" / "cinc2021"


# ----------------------------------------------------------------------------- WFDB header
@dataclass
class WfdbSignalSpec:
    """One signal line of a WFDB header.

    Attributes
    ----------
    file_name : str
        Signal file, relative to the header's folder (``E07500.mat``, ``100.dat``).
    fmt : str
        WFDB storage format (``"16"``, ``"212"``, ...).
    samples_per_frame, skew, byte_offset : int
        From the ``fmt[xspf][:skew][+offset]`` field (defaults 1, 0, 0).
    gain : float
        ADC units per physical unit (``200`` when the header gives none or ``0``).
    baseline : int
        Digital value of 0 physical units (defaults to ``adc_zero``).
    units : str
        Physical unit as written (``mV`` when absent).
    adc_res, adc_zero, init_value, checksum, block_size : int or None
        Remaining numeric fields (``None`` when absent).
    description : str
        Signal (lead) name.
    gain_given : bool
        ``False`` when the header gave no gain or a gain of 0 (uncalibrated signal).
    """

    file_name: str
    fmt: str
    samples_per_frame: int = 1
    skew: int = 0
    byte_offset: int = 0
    gain: float = _WFDB_DEFAULT_GAIN
    baseline: int = 0
    units: str = "mV"
    adc_res: int | None = None
    adc_zero: int = 0
    init_value: int | None = None
    checksum: int | None = None
    block_size: int | None = None
    description: str = ""
    gain_given: bool = True


@dataclass
class WfdbHeader:
    """A parsed single-segment WFDB header.

    Attributes
    ----------
    path : Path
        The ``.hea`` file.
    record_name : str
    n_sig : int
        Number of signals declared on the record line.
    fs_hz : float
        Sampling rate (250 Hz, the WFDB default, when absent).
    n_samples : int or None
        Samples per signal, ``None`` when absent.
    signals : list of WfdbSignalSpec
    comments : list of str
        Comment lines without the leading ``#``.
    """

    path: Path
    record_name: str
    n_sig: int
    fs_hz: float
    n_samples: int | None
    signals: list[WfdbSignalSpec] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def comment_fields(self) -> dict[str, str]:
        """``Key: value`` comments as a dict (first occurrence wins), keys as written."""
        out: dict[str, str] = {}
        for line in self.comments:
            if ":" in line:
                key, value = line.split(":", 1)
                out.setdefault(key.strip(), value.strip())
        return out


_FMT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
_GAIN_RE = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\(([-+]?\d+)\))?(?:/(.+))?$")
_FS_RE = re.compile(r"^((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:/[^()]+)?(?:\([^()]*\))?$")


def _header_path(path: str | Path) -> Path:
    """``X``, ``X.hea``, ``X.mat`` or ``X.dat`` -> ``X.hea``."""
    p = Path(path)
    if p.suffix.lower() in _HEADER_SUFFIXES:
        return p.with_suffix(".hea")
    return p.with_name(p.name + ".hea")


def _hdr_error(path: Path, lineno: int, line: str, problem: str) -> InputFileError:
    return InputFileError(
        path,
        f"corrupt WFDB header line {lineno} {line[:80]!r}: {problem}",
        "repair the header (see https://physionet.org/physiotools/wag/header-5.htm) or re-export the record",
    )


def _to_int(tok: str, path: Path, lineno: int, line: str, what: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise _hdr_error(path, lineno, line, f"{what} {tok!r} is not an integer") from None


def parse_wfdb_header(path: str | Path) -> WfdbHeader:
    """Parse a single-segment WFDB header.

    Parameters
    ----------
    path : str or Path
        Record path with or without the ``.hea`` extension (``.mat`` / ``.dat`` are
        replaced by ``.hea``).

    Returns
    -------
    WfdbHeader

    Raises
    ------
    InputFileError
        Missing header; unreadable or malformed record line or signal line; signal-line count
        different from the declared number of signals; multi-segment record.
    """
    hea = _header_path(path)
    if not hea.is_file():
        raise InputFileError(
            hea, "WFDB header (.hea) not found", "give the path of an existing record, with or without '.hea'"
        )
    raw = hea.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "\x00" in text:
        raise InputFileError(hea, "header contains NUL bytes (binary file?)", "give the text .hea file of the record")

    comments: list[str] = []
    content: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            comments.append(s[1:].strip())
        else:
            content.append((lineno, s))
    if not content:
        raise InputFileError(hea, "header has no record line (empty or only comments)", "re-export the record")

    lineno, line = content[0]
    toks = line.split()
    name = toks[0]
    if "/" in name:
        raise InputFileError(
            hea,
            f"multi-segment WFDB record ({name!r}) is not supported",
            "convert it to a single-segment record, e.g. with wfdb.rdrecord(...).wrsamp()",
        )
    if len(toks) < 2:
        raise _hdr_error(hea, lineno, line, "record line lacks the number of signals")
    n_sig = _to_int(toks[1], hea, lineno, line, "number of signals")
    if n_sig < 1:
        raise _hdr_error(hea, lineno, line, f"number of signals is {n_sig}; an ECG record needs at least one")
    fs = _WFDB_DEFAULT_FS
    if len(toks) >= 3:
        m = _FS_RE.match(toks[2])
        if not m:
            raise _hdr_error(hea, lineno, line, f"sampling frequency {toks[2]!r} is not a number")
        fs = float(m.group(1))
        if not (fs > 0 and math.isfinite(fs)):
            raise _hdr_error(hea, lineno, line, f"sampling frequency {toks[2]!r} must be positive")
    n_samples = None
    if len(toks) >= 4:
        n_samples = _to_int(toks[3], hea, lineno, line, "number of samples")
        if n_samples < 0:
            raise _hdr_error(hea, lineno, line, f"number of samples {n_samples} is negative")

    sig_lines = content[1:]
    if len(sig_lines) != n_sig:
        raise InputFileError(
            hea,
            f"corrupt WFDB header: record line declares {n_sig} signals but {len(sig_lines)} signal lines follow",
            "make the signal count on the first line match the signal lines",
        )
    specs = [_parse_signal_line(hea, ln, s) for ln, s in sig_lines]
    return WfdbHeader(hea, name, n_sig, fs, n_samples, specs, comments)


def _parse_signal_line(hea: Path, lineno: int, line: str) -> WfdbSignalSpec:
    parts = line.split(None, 8)
    if len(parts) < 2:
        raise _hdr_error(hea, lineno, line, "signal line lacks the storage format field")
    m = _FMT_RE.match(parts[1])
    if not m:
        raise _hdr_error(hea, lineno, line, f"storage format {parts[1]!r} is not of the form fmt[xspf][:skew][+offset]")
    spec = WfdbSignalSpec(
        file_name=parts[0],
        fmt=m.group(1),
        samples_per_frame=int(m.group(2) or 1),
        skew=int(m.group(3) or 0),
        byte_offset=int(m.group(4) or 0),
    )
    baseline = None
    if len(parts) >= 3:
        g = _GAIN_RE.match(parts[2])
        if not g:
            raise _hdr_error(hea, lineno, line, f"gain field {parts[2]!r} is not of the form gain[(baseline)][/units]")
        gain = float(g.group(1))
        if not math.isfinite(gain):
            raise _hdr_error(hea, lineno, line, f"gain {parts[2]!r} is not finite")
        if gain == 0:
            spec.gain_given = False
        else:
            spec.gain = gain
        if g.group(2) is not None:
            baseline = int(g.group(2))
        if g.group(3) is not None:
            spec.units = g.group(3).strip()
    else:
        spec.gain_given = False
    names = ("adc_res", "adc_zero", "init_value", "checksum", "block_size")
    for attr, tok in zip(names, parts[3:8]):
        setattr(spec, attr, _to_int(tok, hea, lineno, line, attr.replace("_", " ")))
    if spec.adc_zero is None:
        spec.adc_zero = 0
    spec.baseline = spec.adc_zero if baseline is None else baseline
    spec.description = parts[8].strip() if len(parts) >= 9 else ""
    return spec


# ----------------------------------------------------------------------------- metadata
def _parse_age(value: str | None, hea: Path) -> float | None:
    if value is None or value.strip().lower() in _MISSING_WORDS:
        return None
    try:
        age = float(value.strip())
    except ValueError:
        log.warning("%s: age %r is not a number; age set to None", hea, value)
        return None
    if not math.isfinite(age) or age < 0:
        return None
    return age


def _parse_sex(value: str | None, hea: Path) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("m", "male"):
        return "M"
    if v in ("f", "female"):
        return "F"
    if v not in _MISSING_WORDS:
        log.warning("%s: sex %r is not Male/Female/M/F; sex set to None", hea, value)
    return None


def _parse_dx(value: str | None) -> list[str]:
    if value is None:
        return []
    codes = [c.strip() for c in value.split(",")]
    return [c for c in codes if c.lower() not in _MISSING_WORDS]


def _comment_key(key: str) -> str:
    """``"<age>"``, ``" Age "`` -> ``"age"``: LUDB's angle brackets and case do not matter."""
    return key.strip().strip("<>").strip().lower()


def _diagnosis_statements(hdr: WfdbHeader) -> tuple[list[str], str]:
    """The record's diagnosis statements and where they came from: the ``Dx:`` field split on
    commas (CinC), or every comment line after ``<diagnoses>:`` (LUDB), or none (``""``)."""
    fields = {_comment_key(k): v for k, v in hdr.comment_fields().items()}
    if "dx" in fields:
        return _parse_dx(fields["dx"]), "Dx"
    for i, line in enumerate(hdr.comments):
        if ":" in line and _comment_key(line.split(":", 1)[0]) == "diagnoses":
            after = line.split(":", 1)[1].strip()
            rest = ([after] if after else []) + [c for c in hdr.comments[i + 1:]
                                                 if _comment_key(c.split(":", 1)[0]) not in ("age", "sex")]
            return [c for c in (r.strip() for r in rest) if c and c.lower() not in _MISSING_WORDS], "diagnoses"
    return [], ""


# ----------------------------------------------------------------------------- WFDB data
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


# ----------------------------------------------------------------------------- writer
def _fmt_number(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def write_wfdb_mat_record(
    path_stem: str | Path,
    signals_mv: np.ndarray,
    fs_hz: float,
    lead_names: Sequence[str],
    *,
    age: float | None = None,
    sex: str | None = None,
    dx: Sequence[str] = (),
    gain: float = 1000.0,
) -> Path:
    """Write a record in the CinC Challenge layout: ``<stem>.hea`` + MATLAB v4 ``<stem>.mat``.

    Parameters
    ----------
    path_stem : str or Path
        Output path without extension (a ``.hea``/``.mat`` suffix is dropped); its name is
        the record name.
    signals_mv : ndarray, shape (n_leads, n_samples)
        Voltages in mV.
    fs_hz : float
        Sampling rate in Hz.
    lead_names : sequence of str
        One name per row of ``signals_mv``.
    age : float, optional
        Years; written as ``Unknown`` when ``None``.
    sex : {"M", "F", "Male", "Female"}, optional
        Written as ``Male``/``Female``, ``Unknown`` when ``None``.
    dx : sequence of str
        Diagnosis codes for the ``# Dx:`` line (``Unknown`` when empty).
    gain : float, default 1000.0
        ADC units per mV. The digital values ``round(signals_mv * gain)`` must fit in int16
        (±32.767 mV at the default gain).

    Returns
    -------
    Path
        The ``.hea`` file. The ``.mat`` holds one int16 variable ``val`` of shape
        ``(n_leads, n_samples)`` after a 24-byte MAT v4 header, matching the header's
        ``16x1+24`` format (readable by :func:`scipy.io.loadmat`, :func:`wfdb.rdrecord` and
        :func:`read_wfdb_record`). Each file is written atomically, the ``.mat`` first.
    """
    x = np.asarray(signals_mv, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"signals_mv must have shape (n_leads, n_samples), got {x.shape}")
    n_leads, n_samples = x.shape
    names = [str(n) for n in lead_names]
    if len(names) != n_leads:
        raise ValueError(f"{len(names)} lead names for {n_leads} leads")
    if any(not n.strip() or "\n" in n or "\r" in n for n in names):
        raise ValueError(f"lead names must be non-empty single-line strings, got {names}")
    if not (float(fs_hz) > 0 and math.isfinite(float(fs_hz))):
        raise ValueError(f"fs_hz must be positive, got {fs_hz}")
    if not (float(gain) > 0 and math.isfinite(float(gain))):
        raise ValueError(f"gain must be positive, got {gain}")
    if not np.isfinite(x).all():
        raise ValueError("signals_mv contains NaN or inf")
    adc = np.round(x * float(gain))
    limit = 32767
    if np.abs(adc).max() > limit:
        raise ValueError(
            f"signals reach {np.abs(x).max():.3f} mV; at gain {gain:g} adu/mV int16 holds at most "
            f"{limit / float(gain):.3f} mV (and -32768 is WFDB's missing-sample marker); lower the gain"
        )
    adc = adc.astype("<i2")
    codes = [str(c).strip() for c in dx]
    if any(not c or "," in c or "\n" in c for c in codes):
        raise ValueError(f"dx codes must be non-empty and contain no commas/newlines, got {codes}")
    if sex is None:
        sex_txt = "Unknown"
    else:
        sex_map = {"m": "Male", "male": "Male", "f": "Female", "female": "Female"}
        if str(sex).strip().lower() not in sex_map:
            raise ValueError(f"sex must be 'M', 'F', 'Male', 'Female' or None, got {sex!r}")
        sex_txt = sex_map[str(sex).strip().lower()]
    if age is None:
        age_txt = "Unknown"
    else:
        if not math.isfinite(float(age)) or float(age) < 0:
            raise ValueError(f"age must be a non-negative number or None, got {age!r}")
        age_txt = _fmt_number(age)

    stem = Path(path_stem)
    if stem.suffix.lower() in (".hea", ".mat"):
        stem = stem.with_suffix("")
    name = stem.name
    if not name or any(ch.isspace() for ch in name):
        raise ValueError(f"record name {name!r} must be non-empty without spaces")
    mat_path = stem.with_name(name + ".mat")
    hea_path = stem.with_name(name + ".hea")

    # MATLAB v4 matrix: 5 little-endian int32 (type 30 = little-endian int16 full matrix,
    # rows, cols, imaginary flag, name length incl. NUL) + b"val\0" = 24 bytes, then the
    # data in column-major order (sample by sample, all leads) = WFDB format 16 interleaving.
    mat_header = struct.pack("<5i", 30, n_leads, n_samples, 0, 4) + b"val\x00"
    write_bytes(mat_path, mat_header + np.ascontiguousarray(adc.T).tobytes())

    sums = adc.astype(np.int64).sum(axis=1) % 65536
    checksums = np.where(sums > 32767, sums - 65536, sums)
    lines = [f"{name} {n_leads} {_fmt_number(fs_hz)} {n_samples}"]
    for i, lead in enumerate(names):
        lines.append(
            f"{name}.mat 16x1+24 {float(gain)!r}(0)/mV 16 0 {int(adc[i, 0])} {int(checksums[i])} 0 {lead}"
        )
    lines += [
        f"# Age: {age_txt}",
        f"# Sex: {sex_txt}",
        f"# Dx: {','.join(codes) if codes else 'Unknown'}",
        "# Rx: Unknown",
        "# Hx: Unknown",
        "# Sx: Unknown",
    ]
    write_text(hea_path, "\n".join(lines) + "\n")
    return hea_path


# ----------------------------------------------------------------------------- AIWIN
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


# ----------------------------------------------------------------------------- Hefei
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


# ----------------------------------------------------------------------------- leads
def _lead_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "", str(name)).casefold()


def match_leads(lead_names: Sequence[str], wanted: Sequence[str], *, aliases: dict | None = None,
                source: str | Path | None = None) -> tuple[list[int], list[str]]:
    """Rows of a record's leads that give the ``wanted`` leads, in order.

    A wanted lead matches a file lead of the same name ignoring case, spaces, ``_`` and ``-``
    (``aVR`` = ``avr`` = ``AVR``, ``V1`` = ``v1``), or one of its aliases: the usual ones
    (:data:`LEAD_ALIASES`: ``DII``, ``MLII``, ...) and ``aliases`` (the user's
    ``data.channel_aliases``, wanted lead -> other names), matched the same way.

    Parameters
    ----------
    lead_names : sequence of str
        The record's leads, one per row of its signals.
    wanted : sequence of str
        Leads to pick (``data.leads``).
    aliases : dict of str to sequence of str, optional
    source : path, optional
        Named in errors.

    Returns
    -------
    rows : list of int
        ``signals[rows]`` are the wanted leads in the wanted order.
    dropped : list of str
        The record's leads that were not wanted (e.g. PTB's Frank leads ``vx, vy, vz``).

    Raises
    ------
    InputFileError
        A wanted lead the record lacks (the message lists the record's leads and the fix), or
        one that two of the record's leads match.
    """
    keys = [_lead_key(n) for n in lead_names]
    rows: list[int] = []
    missing: list[str] = []
    for w in wanted:
        names = [w, *LEAD_ALIASES.get(w, ()), *((aliases or {}).get(w, ()) or ())]
        want = {_lead_key(n) for n in names}
        hits = [i for i, k in enumerate(keys) if k in want]
        if not hits:
            missing.append(w)
        elif len(hits) > 1:
            raise InputFileError(source, f"lead {w} is matched by {len(hits)} leads of the record "
                                 f"({', '.join(lead_names[i] for i in hits)})",
                                 "rename the leads in the header so that each is named once")
        else:
            rows.append(hits[0])
    if missing:
        raise InputFileError(source, f"lead(s) {', '.join(missing)} missing (the record has "
                             f"{', '.join(map(str, lead_names))})",
                             "set data.leads to leads the records have, or name their other spellings in "
                             "data.channel_aliases (e.g. {II: [ECG2]})")
    used = set(rows)
    return rows, [str(n) for i, n in enumerate(lead_names) if i not in used]


# ----------------------------------------------------------------------------- helpers
def resample_ecg(
    signals: np.ndarray, fs_from_hz: float, fs_to_hz: float, *, max_denominator: int = 1000, rtol: float = 1e-6
) -> np.ndarray:
    """Resample along the last axis with a polyphase filter (:func:`scipy.signal.resample_poly`).

    Parameters
    ----------
    signals : ndarray, shape (..., n_samples)
        E.g. ``(n_leads, n_samples)`` in mV.
    fs_from_hz, fs_to_hz : float
        Current and wanted sampling rates in Hz.
    max_denominator : int, default 1000
        The ratio ``fs_to / fs_from`` is approximated by ``up / down`` with
        ``down <= max_denominator`` (:meth:`fractions.Fraction.limit_denominator`);
        e.g. 500 -> 257 Hz uses up=257, down=500, 360 -> 500 Hz uses 25/18.
    rtol : float, default 1e-6
        ``ValueError`` when that approximation is off by more than this relative error
        (raise ``max_denominator`` in that case).

    Returns
    -------
    ndarray, shape (..., ceil(n_samples * up / down))
        Same dtype as the input for floating inputs (float64 otherwise). Returned unchanged
        (a copy) when the rates are equal.
    """
    from scipy.signal import resample_poly

    x = np.asarray(signals)
    f0, f1 = float(fs_from_hz), float(fs_to_hz)
    if not (f0 > 0 and f1 > 0 and math.isfinite(f0) and math.isfinite(f1)):
        raise ValueError(f"sampling rates must be positive, got {fs_from_hz} -> {fs_to_hz}")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"signals must have at least one sample on the last axis, got shape {x.shape}")
    if f0 == f1:
        return x.copy()
    ratio = (Fraction(f1) / Fraction(f0)).limit_denominator(max_denominator)
    if abs(float(ratio) - f1 / f0) > rtol * (f1 / f0):
        raise ValueError(
            f"{f0:g} -> {f1:g} Hz is not approximated by up/down with down <= {max_denominator} "
            f"(best {ratio.numerator}/{ratio.denominator}); raise max_denominator"
        )
    out_dtype = x.dtype if x.dtype.kind == "f" else np.float64
    y = resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator, axis=-1)
    return y.astype(out_dtype, copy=False)


def fix_length(signals: np.ndarray, n_samples: int, *, mode: str = "center", pad: str = "zero") -> np.ndarray:
    """Crop or pad the last axis to exactly ``n_samples``.

    Parameters
    ----------
    signals : ndarray, shape (..., n)
        E.g. ``(n_leads, n_samples)``.
    n_samples : int
        Wanted length (> 0).
    mode : {"center", "start"}, default "center"
        ``"center"``: crop or pad equally on both sides (the odd sample goes to the end);
        ``"start"``: keep the first ``n_samples`` samples, or pad at the end only.
    pad : {"zero", "edge"}, default "zero"
        Fill with zeros (0 mV) or repeat the first/last sample.

    Returns
    -------
    ndarray, shape (..., n_samples)
        Same dtype as the input; a copy even when no change is needed.
    """
    if mode not in ("center", "start"):
        raise ValueError(f"mode={mode!r} is not valid; use 'center' or 'start'")
    if pad not in ("zero", "edge"):
        raise ValueError(f"pad={pad!r} is not valid; use 'zero' or 'edge'")
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    x = np.asarray(signals)
    if x.ndim < 1:
        raise ValueError("signals must have at least one axis")
    n = x.shape[-1]
    if n == n_samples:
        return x.copy()
    if n > n_samples:
        start = (n - n_samples) // 2 if mode == "center" else 0
        return x[..., start : start + n_samples].copy()
    if n == 0 and pad == "edge":
        raise ValueError("cannot edge-pad an empty signal")
    missing = n_samples - n
    before = missing // 2 if mode == "center" else 0
    widths = [(0, 0)] * (x.ndim - 1) + [(before, missing - before)]
    if pad == "zero":
        return np.pad(x, widths, mode="constant", constant_values=0)
    return np.pad(x, widths, mode="edge")
