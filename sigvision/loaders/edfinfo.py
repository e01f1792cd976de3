"""EDF/EDF+/BDF headers read directly, to check what MNE leaves unsaid.

MNE reads a file whose data area is shorter than its header says as a shorter recording
(with a warning that sigvision's loaders would otherwise swallow), and scales only the
exact unit spellings ``uV``/``µV``/``mV`` (an upper-case ``UV`` is read as volts, a factor
of 1e6). :func:`read_edf_header` gives the header as written; :func:`check_complete`
refuses a damaged (truncated) file, naming it; :func:`unit_to_uv` reads units
case-insensitively.

EDF layout (Kemp et al. 1992; EDF+ 2003): a 256-byte fixed header, then 256 bytes per
signal (label 16, transducer 80, physical dimension 8, physical min 8, physical max 8,
digital min 8, digital max 8, prefiltering 80, samples per data record 8, reserved 32),
then ``n_records`` data records of ``sum(samples per record)`` samples, 2 bytes each (BDF:
3 bytes). ``n_records = -1`` means "unknown" (a recording that was not closed).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError

__all__ = ["EdfSignal", "EdfHeader", "read_edf_header", "check_complete", "unit_to_uv", "ANNOTATION_LABELS"]

log = logging.getLogger(__name__)

ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")

_VOLT_TO_UV = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3, "kv": 1e9}
_SPELLED = {"microvolt": "uv", "microvolts": "uv", "millivolt": "mv", "millivolts": "mv", "volt": "v", "volts": "v",
            "nanovolt": "nv", "nanovolts": "nv"}


def unit_to_uv(unit: str | None) -> float | None:
    """Microvolts per physical unit for a voltage unit written any way (``uV``, ``UV``,
    ``µV``, ``μV``, ``mV``, ``MV``, ``V``, ``nV``, ``microvolts`` ...), else ``None``.

    Upper-case ``MV`` is read as millivolts: megavolts are not a physiological unit, and
    headers written in capitals spell millivolts so."""
    if unit is None:
        return None
    u = str(unit).strip().replace("\u00b5", "u").replace("\u03bc", "u").lower()
    u = _SPELLED.get(u, u)
    return _VOLT_TO_UV.get(u)


@dataclass
class EdfSignal:
    """One signal of an EDF header (values as written)."""

    label: str
    unit: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    samples_per_record: int

    @property
    def is_annotation(self) -> bool:
        return self.label in ANNOTATION_LABELS

    def rate_hz(self, record_s: float) -> float:
        return self.samples_per_record / record_s if record_s > 0 else 0.0

    @property
    def step(self) -> float:
        """Physical value of one digital step (in the signal's own unit)."""
        span = self.digital_max - self.digital_min
        return abs(self.physical_max - self.physical_min) / span if span else 0.0


@dataclass
class EdfHeader:
    """The fixed part and the signals of an EDF/BDF header, plus the file size."""

    path: Path
    bdf: bool
    header_bytes: int
    n_records: int
    record_s: float
    signals: list[EdfSignal]
    file_bytes: int

    @property
    def bytes_per_sample(self) -> int:
        return 3 if self.bdf else 2

    @property
    def record_bytes(self) -> int:
        return sum(s.samples_per_record for s in self.signals) * self.bytes_per_sample

    @property
    def data_signals(self) -> list[EdfSignal]:
        """The signals that are not EDF+ annotation channels (MNE's ``raw.ch_names`` order)."""
        return [s for s in self.signals if not s.is_annotation]

    @property
    def annotation_only(self) -> bool:
        """An EDF+ file holding annotations only (a hypnogram), no signal."""
        return bool(self.signals) and not self.data_signals


def _num(raw: bytes, what: str, path: Path) -> float:
    text = raw.decode("latin-1").strip()
    try:
        return float(text)
    except ValueError:
        raise InputFileError(path, f"EDF header field {what} is {text!r}, not a number",
                             "the file is damaged or not an EDF/BDF file: copy or export it again") from None


def read_edf_header(path: str | os.PathLike) -> EdfHeader:
    """Parse the header of an EDF/EDF+/BDF file.

    Raises
    ------
    InputFileError
        When the file is shorter than its header or a numeric field is not a number.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fixed = fh.read(256)
        if len(fixed) < 256:
            raise InputFileError(path, f"only {len(fixed)} bytes, shorter than an EDF header (256 bytes)",
                                 "the file is truncated: copy it again from the source")
        bdf = fixed[:8] == b"\xffBIOSEMI"
        header_bytes = int(_num(fixed[184:192], "'number of bytes in header'", path))
        n_records = int(_num(fixed[236:244], "'number of data records'", path))
        record_s = _num(fixed[244:252], "'duration of a data record'", path)
        ns = int(_num(fixed[252:256], "'number of signals'", path))
        if ns < 0 or header_bytes != 256 * (ns + 1):
            raise InputFileError(path, f"EDF header says {ns} signals in {header_bytes} header bytes "
                                       f"(expected {256 * (ns + 1)})",
                                 "the file is damaged or not an EDF/BDF file: copy or export it again")
        rest = fh.read(256 * ns)
    if len(rest) < 256 * ns:
        raise InputFileError(path, f"EDF is damaged: the file ends inside its header ({size} bytes, the header "
                                   f"alone takes {header_bytes})",
                             "the file is truncated: copy it again from the source")

    def field(offset: int, width: int) -> list[bytes]:
        base = offset * ns
        return [rest[base + i * width: base + (i + 1) * width] for i in range(ns)]

    labels = [b.decode("latin-1").strip() for b in field(0, 16)]
    units = [b.decode("latin-1").strip() for b in field(96, 8)]
    pmin = [_num(b, "physical minimum", path) for b in field(104, 8)]
    pmax = [_num(b, "physical maximum", path) for b in field(112, 8)]
    dmin = [int(_num(b, "digital minimum", path)) for b in field(120, 8)]
    dmax = [int(_num(b, "digital maximum", path)) for b in field(128, 8)]
    nsamp = [int(_num(b, "samples per data record", path)) for b in field(216, 8)]
    sigs = [EdfSignal(*v) for v in zip(labels, units, pmin, pmax, dmin, dmax, nsamp)]
    return EdfHeader(path=path, bdf=bdf, header_bytes=header_bytes, n_records=n_records, record_s=record_s,
                     signals=sigs, file_bytes=size)


def check_complete(h: EdfHeader) -> int:
    """The number of complete data records of the file; refuses a damaged one.

    A file whose data area holds fewer records than the header's ``number of data records``
    is truncated (a copy or download cut short); with ``-1`` records (a recording that was
    not closed) a data area that ends inside a record is damaged the same way. Extra bytes
    after the last record are ignored with a logged warning.

    Raises
    ------
    InputFileError
        Naming the file, saying it is damaged, and how much is missing.
    """
    rec = h.record_bytes
    data = h.file_bytes - h.header_bytes
    fix = "the file is damaged: copy it again from its source (the copy or download was cut short), " \
          "or export it again from the recording software"
    if rec <= 0:
        raise InputFileError(h.path, "EDF header gives no samples per data record", fix)
    complete, partial = divmod(max(data, 0), rec)
    dur = f"{h.record_s:g}-s"
    if h.n_records == -1:
        if partial:
            raise InputFileError(h.path, f"EDF is damaged (truncated): the header leaves the number of data records "
                                         f"unset (-1) and the data ends {rec - partial} bytes into data record "
                                         f"{complete + 1} ({complete} complete {dur} records)", fix)
        return complete
    if h.n_records < 0:
        raise InputFileError(h.path, f"EDF header says {h.n_records} data records", fix)
    expected = h.n_records * rec
    if data < expected:
        missing = expected - data
        raise InputFileError(h.path, f"EDF is damaged (truncated): the header says {h.n_records} data records "
                                     f"({h.n_records * h.record_s:g} s) but the file holds {complete} complete "
                                     f"{dur} record(s) ({complete * h.record_s:g} s); {missing} bytes are missing",
                             fix)
    if data > expected:
        log.warning("%s: %d bytes after the last of the %d data records the header announces; ignored", h.path,
                    data - expected, h.n_records)
    return h.n_records
