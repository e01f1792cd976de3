"""A small EDF / EDF+ writer, written from the EDF (Kemp et al. 1992) and EDF+ (Kemp &
Olivan 2003) specifications.

Two public functions:

* :func:`write_edf` writes ordinary signals (EEG/EOG/EMG in microvolts, or any physical
  unit) as EDF+C with an ``EDF Annotations`` signal that carries the time-keeping TAL of
  every data record plus optional annotations (or as plain EDF when ``edf_plus=False``).
* :func:`write_hypnogram_edf` writes an annotation-only EDF+ file in the layout of the
  Sleep-EDF ``*-Hypnogram.edf`` files (one annotation per run of identical stages,
  ``"Sleep stage W"`` ... ``"Sleep stage R"``).

File layout (all header fields are left-aligned printable ASCII padded with spaces)::

    256-byte header: version(8) patient(80) recording(80) startdate(8) starttime(8)
                     header bytes(8) reserved(44) n records(8) record duration(8) ns(4)
    ns * 256 bytes:  label(16) transducer(80) physical dim(8) physical min(8)
                     physical max(8) digital min(8) digital max(8) prefilter(80)
                     samples per record(8) reserved(32)   [field-major: all labels first]
    data records:    per record, per signal, ``samples per record`` little-endian int16

Physical value ``p`` and digital value ``d`` are related by the linear map
``p = (d - dmin) * (pmax - pmin) / (dmax - dmin) + pmin``; every reader (MNE, EDFbrowser,
pyedflib) applies it, so the written header values are exactly those used to digitise.

Every file is written atomically (temporary file renamed over the target).
"""
from __future__ import annotations

import math
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..artifacts import atomic_path

__all__ = [
    "write_edf",
    "write_hypnogram_edf",
    "SLEEP_EDF_STAGE_TEXT",
    "stage_descriptions",
]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_ANNOT_LABEL = "EDF Annotations"

#: Sleep-EDF annotation text per integer stage code (sigvision codes: -1 unscored, 0 W,
#: 1 N1, 2 N2, 3 N3, 4 REM). ``"Sleep stage 4"`` and ``"Movement time"`` are accepted as
#: string input but never produced from integers (N3 is written as stage 3).
SLEEP_EDF_STAGE_TEXT: dict[int, str] = {
    -1: "Sleep stage ?",
    0: "Sleep stage W",
    1: "Sleep stage 1",
    2: "Sleep stage 2",
    3: "Sleep stage 3",
    4: "Sleep stage R",
}
_VALID_STAGE_TEXT = (
    "Sleep stage W",
    "Sleep stage 1",
    "Sleep stage 2",
    "Sleep stage 3",
    "Sleep stage 4",
    "Sleep stage R",
    "Sleep stage ?",
    "Movement time",
)
# Short R&K / AASM spellings accepted as input and the Sleep-EDF text they map to.
_STAGE_ALIASES: dict[str, str] = {
    "W": "Sleep stage W",
    "WAKE": "Sleep stage W",
    "1": "Sleep stage 1",
    "S1": "Sleep stage 1",
    "N1": "Sleep stage 1",
    "2": "Sleep stage 2",
    "S2": "Sleep stage 2",
    "N2": "Sleep stage 2",
    "3": "Sleep stage 3",
    "S3": "Sleep stage 3",
    "N3": "Sleep stage 3",
    "4": "Sleep stage 4",
    "S4": "Sleep stage 4",
    "R": "Sleep stage R",
    "REM": "Sleep stage R",
    "?": "Sleep stage ?",
    "M": "Movement time",
    "MT": "Movement time",
    "MOVEMENT": "Movement time",
}


# --------------------------------------------------------------------------------------
# small formatting helpers
# --------------------------------------------------------------------------------------
def _field(text: str, width: int, what: str) -> bytes:
    """Left-align ``text`` in a space-padded ASCII field of ``width`` bytes."""
    if not isinstance(text, str):
        raise ValueError(f"EDF header field {what} must be a string, got {type(text).__name__}")
    if any(not (32 <= ord(c) <= 126) for c in text):
        raise ValueError(
            f"EDF header field {what}={text!r} contains characters outside printable "
            "US-ASCII (bytes 32..126); write e.g. 'uV' instead of 'µV'"
        )
    if len(text) > width:
        raise ValueError(
            f"EDF header field {what}={text!r} is {len(text)} characters long; "
            f"the EDF specification allows at most {width}"
        )
    return text.ljust(width).encode("ascii")


def _trim_number(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def _format_edf_number(value: float, rounding: str = "nearest", width: int = 8) -> tuple[str, float]:
    """Format ``value`` in at most ``width`` characters without an exponent.

    Parameters
    ----------
    value : float
        The number.
    rounding : {"nearest", "down", "up"}
        How to round when the number has more digits than fit: ``"down"`` never returns a
        number above ``value`` (used for physical minima), ``"up"`` never one below it.
    width : int
        Field width (8 for every numeric EDF field).

    Returns
    -------
    text : str
        The field text.
    parsed : float
        ``float(text)``, the value every reader will see.
    """
    if not np.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value!r} into an EDF header")
    for decimals in range(width - 1, -1, -1):
        scale = 10.0**decimals
        if rounding == "down":
            v = math.floor(value * scale) / scale
        elif rounding == "up":
            v = math.ceil(value * scale) / scale
        else:
            v = round(value * scale) / scale
        text = _trim_number(f"{v:.{decimals}f}")
        if len(text) <= width:
            return text, float(text)
    raise ValueError(
        f"the number {value!r} does not fit into an {width}-character EDF header field; "
        "rescale the signal (e.g. write mV instead of uV)"
    )


def _format_onset(seconds: float) -> str:
    """TAL onset: sign, then seconds with up to 6 decimals (no exponent)."""
    sign = "-" if seconds < 0 else "+"
    return sign + _trim_number(f"{abs(seconds):.6f}")


def _format_duration(seconds: float) -> str:
    return _trim_number(f"{seconds:.6f}")


def _as_datetime(start: datetime | None) -> datetime:
    if start is None:
        return datetime(2000, 1, 1, 0, 0, 0)
    if not isinstance(start, datetime):
        raise ValueError(f"start must be a datetime.datetime, got {type(start).__name__}")
    if start.tzinfo is not None:
        # EDF stores local clock time without a zone; keep the wall-clock reading.
        start = start.replace(tzinfo=None)
    if not 1985 <= start.year <= 2084:
        raise ValueError(
            f"start year {start.year} cannot be stored in an EDF header "
            "(the two-digit year field covers 1985..2084)"
        )
    return start


def _edf_plus_date(start: datetime) -> str:
    return f"{start.day:02d}-{_MONTHS[start.month - 1]}-{start.year:04d}"


def _recording_id(recording_id: str | None, start: datetime, edf_plus: bool) -> str:
    """The recording field: ``Startdate dd-MMM-yyyy X X X`` by default; EDF+ requires the
    ``Startdate`` prefix on a given one."""
    if recording_id is None:
        return f"Startdate {_edf_plus_date(start)} X X X"
    if edf_plus and not recording_id.startswith("Startdate "):
        raise ValueError(f"recording_id {recording_id!r} must start with 'Startdate dd-MMM-yyyy' in EDF+")
    return recording_id


def _check_annotation_text(text: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise ValueError(f"annotation text must be a non-empty string, got {text!r}")
    if any(c in text for c in ("\x00", "\x14", "\x15")):
        raise ValueError(
            f"annotation text {text!r} contains a reserved TAL byte (0x00, 0x14 or 0x15)"
        )
    return text.encode("utf-8")


def _tal(onset: float, duration: float | None, texts: Sequence[bytes]) -> bytes:
    """One Time-stamped Annotations List: ``+onset[\\x15dur]\\x14text\\x14...\\x00``."""
    out = _format_onset(onset).encode("ascii")
    if duration is not None and duration > 0:
        out += b"\x15" + _format_duration(duration).encode("ascii")
    out += b"\x14"
    if texts:
        for t in texts:
            out += t + b"\x14"
    else:
        out += b"\x14"  # time-keeping TAL: empty annotation
    return out + b"\x00"


def _normalise_annotations(annotations) -> list[tuple[float, float | None, bytes]]:
    out = []
    if annotations is None:
        return out
    for i, item in enumerate(annotations):
        try:
            onset, duration, text = item
        except (TypeError, ValueError):
            raise ValueError(
                f"annotation {i} must be an (onset_s, duration_s, text) tuple, got {item!r}"
            ) from None
        onset = float(onset)
        if not np.isfinite(onset):
            raise ValueError(f"annotation {i} has a non-finite onset {onset!r}")
        if duration is not None:
            duration = float(duration)
            if not np.isfinite(duration) or duration < 0:
                raise ValueError(f"annotation {i} has an invalid duration {duration!r} (need >= 0)")
        out.append((onset, duration, _check_annotation_text(text)))
    return out


def _per_channel(value, n: int, what: str) -> list:
    if value is None:
        return [None] * n
    if isinstance(value, (str, bytes)) or np.isscalar(value):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{what} has {len(value)} entries but there are {n} channels")
    return value


def _header_bytes(
    *,
    patient_id: str,
    recording_id: str,
    start: datetime,
    reserved: str,
    n_records: int,
    record_duration_text: str,
    labels: list[str],
    transducers: list[str],
    dims: list[str],
    pmin_text: list[str],
    pmax_text: list[str],
    dmin: list[int],
    dmax: list[int],
    prefilters: list[str],
    spr: list[int],
) -> bytes:
    ns = len(labels)
    head = b"".join(
        [
            _field("0", 8, "version"),
            _field(patient_id, 80, "patient_id"),
            _field(recording_id, 80, "recording_id"),
            _field(f"{start.day:02d}.{start.month:02d}.{start.year % 100:02d}", 8, "startdate"),
            _field(f"{start.hour:02d}.{start.minute:02d}.{start.second:02d}", 8, "starttime"),
            _field(str(256 * (ns + 1)), 8, "header bytes"),
            _field(reserved, 44, "reserved"),
            _field(str(n_records), 8, "number of data records"),
            _field(record_duration_text, 8, "record duration"),
            _field(str(ns), 4, "number of signals"),
        ]
    )
    parts = [head]
    parts += [_field(x, 16, f"label[{i}]") for i, x in enumerate(labels)]
    parts += [_field(x, 80, f"transducer[{i}]") for i, x in enumerate(transducers)]
    parts += [_field(x, 8, f"physical_dim[{i}]") for i, x in enumerate(dims)]
    parts += [_field(x, 8, f"physical_min[{i}]") for i, x in enumerate(pmin_text)]
    parts += [_field(x, 8, f"physical_max[{i}]") for i, x in enumerate(pmax_text)]
    parts += [_field(str(int(x)), 8, f"digital_min[{i}]") for i, x in enumerate(dmin)]
    parts += [_field(str(int(x)), 8, f"digital_max[{i}]") for i, x in enumerate(dmax)]
    parts += [_field(x, 80, f"prefilter[{i}]") for i, x in enumerate(prefilters)]
    parts += [_field(str(int(x)), 8, f"samples per record[{i}]") for i, x in enumerate(spr)]
    parts += [_field("", 32, "reserved") for _ in range(ns)]
    out = b"".join(parts)
    if len(out) != 256 * (ns + 1):  # pragma: no cover - guarded by _field widths
        raise RuntimeError("internal error: EDF header has the wrong size")
    return out


def _write_file(path: str | os.PathLike, chunks: Iterable[bytes]) -> Path:
    with atomic_path(path, suffix=".edf") as tmp:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def write_edf(
    path: str | os.PathLike,
    signals,
    fs_hz,
    channel_names: Sequence[str],
    physical_dims,
    *,
    start: datetime | None = None,
    patient_id: str = "X X X X",
    recording_id: str | None = None,
    record_duration_s: float = 1.0,
    annotations: Iterable[tuple[float, float | None, str]] | None = None,
    physical_min=None,
    physical_max=None,
    digital_min: int = -32768,
    digital_max: int = 32767,
    prefilter=None,
    transducer=None,
    edf_plus: bool = True,
) -> Path:
    """Write signals to an EDF+C (or plain EDF) file.

    Parameters
    ----------
    path : str or PathLike
        Output file (``.edf``); written atomically, parent folders are created.
    signals : ndarray, shape (n_channels, n_samples), or list of 1-D arrays
        Samples per channel in the physical unit of ``physical_dims`` (e.g. microvolts for
        ``"uV"``). A list allows channels of different lengths/sampling rates (e.g. EMG at
        1 Hz next to EEG at 100 Hz); channel ``i`` must cover the same duration
        ``len(signals[i]) / fs_hz[i]`` as the others (up to one data record).
    fs_hz : float or sequence of float
        Sampling rate in Hz, one for all channels or one per channel. ``fs_hz *
        record_duration_s`` must be a whole number of samples for every channel.
    channel_names : sequence of str
        EDF labels (at most 16 ASCII characters), e.g. ``"EEG Fpz-Cz"``.
    physical_dims : str or sequence of str
        Physical unit per channel (at most 8 ASCII characters), e.g. ``"uV"``. MNE scales
        ``"uV"`` to volts and ``"mV"`` to volts on reading.
    start : datetime, optional
        Wall-clock start of the first sample (local time; a tz-aware value keeps its
        wall-clock reading). Default 2000-01-01 00:00:00. Sub-second parts are written
        into the time-keeping TALs as the EDF+ specification prescribes.
    patient_id : str
        EDF+ patient field ``"code sex birthdate name"``; ``"X X X X"`` when unknown.
    recording_id : str, optional
        EDF+ recording field; must start with ``"Startdate "``. Default
        ``"Startdate dd-MMM-yyyy X X X"`` with the date of ``start``.
    record_duration_s : float
        Duration of a data record in seconds (1 s by default). The last record is padded
        with zeros (physical value 0, clipped into range).
    annotations : iterable of (onset_s, duration_s, text), optional
        Annotations relative to ``start``; ``duration_s`` may be ``None`` or 0 for an
        instantaneous event. Each is stored in the data record in which its onset falls.
    physical_min, physical_max : float or sequence of float, optional
        Physical range per channel. Default: the data range of each channel, rounded
        outwards to what fits into the 8-character header field. Samples outside the range
        are clipped.
    digital_min, digital_max : int
        Digital range (default the full int16 range).
    prefilter, transducer : str or sequence of str, optional
        Header text per channel (e.g. ``"HP:0.5Hz LP:100Hz"``, ``"Ag-AgCl electrode"``).
    edf_plus : bool
        Write EDF+C with an ``EDF Annotations`` signal (default). ``False`` writes plain EDF
        (no annotations allowed).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On inconsistent shapes, rates that do not fit the record duration, header text
        that is too long or not ASCII, non-finite samples or invalid annotations.
    """
    start = _as_datetime(start)
    # ---- signals -------------------------------------------------------------------
    if isinstance(signals, np.ndarray):
        if signals.ndim == 1:
            signals = signals[None, :]
        if signals.ndim != 2:
            raise ValueError(
                f"signals must be 2-D (n_channels, n_samples) or a list of 1-D arrays, "
                f"got shape {signals.shape}"
            )
        sigs = [np.asarray(s, dtype=np.float64) for s in signals]
    else:
        sigs = [np.asarray(s, dtype=np.float64) for s in signals]
    n_ch = len(sigs)
    if n_ch == 0:
        raise ValueError("signals is empty: need at least one channel")
    for i, s in enumerate(sigs):
        if s.ndim != 1:
            raise ValueError(f"channel {i} must be 1-D, got shape {s.shape}")
        if s.size == 0:
            raise ValueError(f"channel {i} has no samples")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"channel {i} contains NaN or infinite values")
    names = list(channel_names)
    if len(names) != n_ch:
        raise ValueError(f"{len(names)} channel names for {n_ch} channels")
    if edf_plus and _ANNOT_LABEL in names:
        raise ValueError(f"'{_ANNOT_LABEL}' is reserved for the annotation signal")
    dims = _per_channel(physical_dims, n_ch, "physical_dims")
    dims = ["" if d is None else d for d in dims]
    fs = [float(f) for f in _per_channel(fs_hz, n_ch, "fs_hz")]
    prefilters = ["" if p is None else p for p in _per_channel(prefilter, n_ch, "prefilter")]
    transducers = ["" if t is None else t for t in _per_channel(transducer, n_ch, "transducer")]

    rec_text, rec_dur = _format_edf_number(float(record_duration_s))
    if not rec_dur > 0 or abs(rec_dur - float(record_duration_s)) > 1e-9:
        raise ValueError(
            f"record_duration_s={record_duration_s!r} must be a positive number that fits "
            "into 8 characters (e.g. 1, 30, 0.5)"
        )
    spr = []
    for i, f in enumerate(fs):
        if not (np.isfinite(f) and f > 0):
            raise ValueError(f"fs_hz of channel {i} must be positive, got {f!r}")
        n = f * rec_dur
        if abs(n - round(n)) > 1e-6 or round(n) < 1:
            raise ValueError(
                f"channel {i} ({names[i]!r}): fs_hz={f} times record_duration_s={rec_dur} "
                f"= {n} is not a whole number of samples; choose a record duration that "
                "divides evenly (e.g. 1 s for integer rates)"
            )
        spr.append(int(round(n)))
    n_records_ch = [math.ceil(s.size / k) for s, k in zip(sigs, spr)]
    n_records = max(n_records_ch)
    if min(n_records_ch) < n_records - 1:
        raise ValueError(
            "channels cover different durations: "
            + ", ".join(f"{nm}={s.size / f:g}s" for nm, s, f in zip(names, sigs, fs))
        )
    if not (-32768 <= digital_min < digital_max <= 32767):
        raise ValueError(
            f"digital range [{digital_min}, {digital_max}] must satisfy "
            "-32768 <= digital_min < digital_max <= 32767"
        )

    # ---- physical ranges -----------------------------------------------------------
    pmins = _per_channel(physical_min, n_ch, "physical_min")
    pmaxs = _per_channel(physical_max, n_ch, "physical_max")
    pmin_text, pmax_text, pmin_v, pmax_v = [], [], [], []
    for i, s in enumerate(sigs):
        lo = float(s.min()) if pmins[i] is None else float(pmins[i])
        hi = float(s.max()) if pmaxs[i] is None else float(pmaxs[i])
        if pmins[i] is None and pmaxs[i] is None and hi - lo < 1e-6:
            lo, hi = lo - 1.0, hi + 1.0  # flat channel
        t_lo, v_lo = _format_edf_number(lo, "down" if pmins[i] is None else "nearest")
        t_hi, v_hi = _format_edf_number(hi, "up" if pmaxs[i] is None else "nearest")
        if not v_hi > v_lo:
            raise ValueError(
                f"channel {i} ({names[i]!r}): physical_max {v_hi} must be greater than "
                f"physical_min {v_lo}"
            )
        pmin_text.append(t_lo)
        pmax_text.append(t_hi)
        pmin_v.append(v_lo)
        pmax_v.append(v_hi)

    # ---- digitise ------------------------------------------------------------------
    digital = []
    for i, s in enumerate(sigs):
        padded = np.zeros(n_records * spr[i], dtype=np.float64)
        padded[: s.size] = s
        gain = (digital_max - digital_min) / (pmax_v[i] - pmin_v[i])
        d = np.rint((np.clip(padded, pmin_v[i], pmax_v[i]) - pmin_v[i]) * gain + digital_min)
        d = np.clip(d, digital_min, digital_max).astype("<i2")
        digital.append(d.reshape(n_records, spr[i]))

    # ---- annotations ---------------------------------------------------------------
    annots = _normalise_annotations(annotations)
    if annots and not edf_plus:
        raise ValueError("annotations need EDF+ (edf_plus=True)")
    frac = start.microsecond / 1e6
    header_start = start.replace(microsecond=0)
    labels = names
    all_spr = list(spr)
    all_dims, all_pmin, all_pmax = list(dims), list(pmin_text), list(pmax_text)
    dmins, dmaxs = [digital_min] * n_ch, [digital_max] * n_ch
    records_annot = None
    if edf_plus:
        per_record: list[list[bytes]] = [[] for _ in range(n_records)]
        for k in range(n_records):
            per_record[k].append(_tal(frac + k * rec_dur, None, []))
        for onset, duration, text in sorted(annots, key=lambda a: a[0]):
            k = int(min(max(math.floor(onset / rec_dur), 0), n_records - 1))
            per_record[k].append(_tal(onset + frac, duration, [text]))
        blobs = [b"".join(r) for r in per_record]
        n_bytes = max(len(b) for b in blobs)
        annot_spr = (n_bytes + 1) // 2
        records_annot = [b.ljust(2 * annot_spr, b"\x00") for b in blobs]
        labels = names + [_ANNOT_LABEL]
        all_spr = spr + [annot_spr]
        all_dims = dims + [""]
        all_pmin = pmin_text + ["-1"]
        all_pmax = pmax_text + ["1"]
        dmins = dmins + [-32768]
        dmaxs = dmaxs + [32767]
        prefilters = prefilters + [""]
        transducers = transducers + [""]

    recording_id = _recording_id(recording_id, header_start, edf_plus)
    header = _header_bytes(
        patient_id=patient_id,
        recording_id=recording_id,
        start=header_start,
        reserved="EDF+C" if edf_plus else "",
        n_records=n_records,
        record_duration_text=rec_text,
        labels=labels,
        transducers=transducers,
        dims=all_dims,
        pmin_text=all_pmin,
        pmax_text=all_pmax,
        dmin=dmins,
        dmax=dmaxs,
        prefilters=prefilters,
        spr=all_spr,
    )

    def chunks():
        yield header
        # Build the data area in blocks of records to bound memory and calls.
        block = 512
        for k0 in range(0, n_records, block):
            k1 = min(n_records, k0 + block)
            parts = [d[k0:k1] for d in digital]
            if records_annot is not None:
                ann = np.frombuffer(b"".join(records_annot[k0:k1]), dtype="<i2")
                parts.append(ann.reshape(k1 - k0, -1))
            yield np.concatenate(parts, axis=1).astype("<i2").tobytes()

    return _write_file(path, chunks())


def stage_descriptions(stages) -> list[str]:
    """Sleep-EDF annotation text for each epoch.

    Parameters
    ----------
    stages : sequence of int or str
        Integers ``-1`` (unscored) and ``0..4`` (W, N1, N2, N3, REM), or strings: the
        Sleep-EDF texts themselves (``"Sleep stage W"``, ..., ``"Movement time"``) or short
        names (``W``, ``1``/``N1``/``S1``, ``2``, ``3``, ``4``, ``R``/``REM``, ``?``,
        ``M``/``MT``).

    Returns
    -------
    list of str
        One Sleep-EDF description per epoch.
    """
    out = []
    for i, s in enumerate(stages):
        if isinstance(s, (bool, np.bool_)):
            raise ValueError(f"stage {i}: boolean {s!r} is not a sleep stage")
        if isinstance(s, (int, np.integer)) or (
            isinstance(s, (float, np.floating)) and float(s).is_integer()
        ):
            code = int(s)
            if code not in SLEEP_EDF_STAGE_TEXT:
                raise ValueError(
                    f"stage {i}: invalid stage code {code}; use -1 (unscored), 0 W, 1 N1, "
                    "2 N2, 3 N3 or 4 REM"
                )
            out.append(SLEEP_EDF_STAGE_TEXT[code])
        elif isinstance(s, str):
            if s in _VALID_STAGE_TEXT:
                out.append(s)
            elif s.strip().upper() in _STAGE_ALIASES:
                out.append(_STAGE_ALIASES[s.strip().upper()])
            else:
                raise ValueError(
                    f"stage {i}: unknown stage {s!r}; use one of {list(_VALID_STAGE_TEXT)} "
                    "or W/1/2/3/4/R/?/M"
                )
        else:
            raise ValueError(f"stage {i}: {s!r} ({type(s).__name__}) is not a sleep stage")
    return out


def write_hypnogram_edf(
    path: str | os.PathLike,
    stages,
    *,
    start: datetime | None = None,
    epoch_s: float = 30.0,
    patient_id: str = "X X X X",
    recording_id: str | None = None,
) -> Path:
    """Write a Sleep-EDF-style hypnogram: an annotation-only EDF+ file.

    Consecutive identical stages are merged into one annotation whose duration covers the
    run (``onset = first epoch * epoch_s``, ``duration = run length * epoch_s``), like the
    ``SC4001EC-Hypnogram.edf`` files of Sleep-EDF Expanded. The file holds a single
    ``EDF Annotations`` signal in one data record of duration 0 (allowed by EDF+ for files
    without ordinary signals); read it with ``mne.read_annotations(path)``.

    Parameters
    ----------
    path : str or PathLike
        Output file, written atomically.
    stages : sequence of int or str, length n_epochs
        Stage per epoch; see :func:`stage_descriptions` (``-1`` → ``"Sleep stage ?"``,
        ``0`` → W, ``1``, ``2``, ``3`` → ``"Sleep stage 3"``, ``4`` → ``"Sleep stage R"``).
    start : datetime, optional
        Start of the first epoch (same as the PSG file's start); default 2000-01-01.
    epoch_s : float
        Epoch length in seconds (30).
    patient_id, recording_id : str
        EDF+ header identification fields (see :func:`write_edf`).

    Returns
    -------
    Path
        ``path``.
    """
    descr = stage_descriptions(stages)
    if len(descr) == 0:
        raise ValueError("stages is empty: a hypnogram needs at least one epoch")
    epoch_s = float(epoch_s)
    if not (np.isfinite(epoch_s) and epoch_s > 0):
        raise ValueError(f"epoch_s must be positive, got {epoch_s!r}")
    start = _as_datetime(start)
    frac = start.microsecond / 1e6
    header_start = start.replace(microsecond=0)

    tals = [_tal(frac, None, [])]
    i = 0
    n = len(descr)
    while i < n:
        j = i + 1
        while j < n and descr[j] == descr[i]:
            j += 1
        tals.append(_tal(frac + i * epoch_s, (j - i) * epoch_s, [descr[i].encode("ascii")]))
        i = j
    blob = b"".join(tals)
    spr = (len(blob) + 1) // 2
    blob = blob.ljust(2 * spr, b"\x00")
    recording_id = _recording_id(recording_id, header_start, True)
    header = _header_bytes(
        patient_id=patient_id,
        recording_id=recording_id,
        start=header_start,
        reserved="EDF+C",
        n_records=1,
        record_duration_text="0",
        labels=[_ANNOT_LABEL],
        transducers=[""],
        dims=[""],
        pmin_text=["-1"],
        pmax_text=["1"],
        dmin=[-32768],
        dmax=[32767],
        prefilters=[""],
        spr=[spr],
    )
    return _write_file(path, [header, blob])
