"""WFDB headers (``<rec>.hea``) as PhysioNet and the CinC Challenges write them: the record
line, one line per signal (format, gain, baseline, units, name) and the comment lines that
carry age, sex and diagnoses (CinC ``# Dx:`` codes or abbreviations, LUDB free text).
Malformed lines are refused naming the file, the line and the fix."""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from sigvision.errors import InputFileError

log = logging.getLogger(__name__)


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
