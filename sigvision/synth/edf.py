"""EDF / EDF+ writing on top of `edfio <https://github.com/the-siesta-group/edfio>`_.

edfio (the library MNE uses for its own EDF export) lays out the header, digitises the
signals (physical range rounded outwards to the 8-character header field, full int16
digital range) and writes the EDF+ time-keeping and annotation TALs. This module adds what
the project's callers expect on top of it:

* :func:`write_edf` writes ordinary signals (EEG/EOG/EMG in microvolts, or any physical
  unit) as EDF+C with an ``EDF Annotations`` signal (or as plain EDF when
  ``edf_plus=False``): channels of different rates padded to whole data records, physical
  ranges defaulting to each channel's data range, samples clipped into the range, and
  one-line :class:`ValueError` messages for bad input.
* :func:`write_hypnogram_edf` writes an annotation-only EDF+ file in the layout of the
  Sleep-EDF ``*-Hypnogram.edf`` files (one annotation per run of identical stages,
  ``"Sleep stage W"`` ... ``"Sleep stage R"``).

Every file is written atomically (a temporary file next to the target, renamed over it).
"""
from __future__ import annotations

import math
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from edfio import Edf, EdfAnnotation, EdfSignal, Patient, Recording

from ..io.artifacts import atomic_path

__all__ = [
    "write_edf",
    "write_hypnogram_edf",
    "SLEEP_EDF_STAGE_TEXT",
    "stage_descriptions",
]

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
# input checks (edfio checks these too, but with messages that do not say which field or
# what to do; ours name the argument and the limit)
# --------------------------------------------------------------------------------------
def _check_text(text, width: int, what: str) -> str:
    """A header text field: printable US-ASCII, at most ``width`` characters."""
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
    return text


def _header_number(value: float) -> str:
    """The text edfio writes for a number in a header field (whole numbers without '.0')."""
    return str(int(value)) if float(value).is_integer() else str(value)


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


def _check_annotation_text(text) -> str:
    if not isinstance(text, str) or not text:
        raise ValueError(f"annotation text must be a non-empty string, got {text!r}")
    if any(c in text for c in ("\x00", "\x14", "\x15")):
        raise ValueError(
            f"annotation text {text!r} contains a reserved TAL byte (0x00, 0x14 or 0x15)"
        )
    return text


def _normalise_annotations(annotations) -> list[EdfAnnotation]:
    """(onset_s, duration_s, text) tuples as edfio annotations; duration 0 -> None (an
    instantaneous event, written without a duration field as before)."""
    out: list[EdfAnnotation] = []
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
            if duration == 0:
                duration = None
        out.append(EdfAnnotation(onset, duration, _check_annotation_text(text)))
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


def _check_ids(patient_id: str, recording_id: str | None, edf_plus: bool) -> None:
    """The identification header texts; a given recording field must start with
    ``Startdate `` in EDF+ (the default, ``Startdate dd-MMM-yyyy X X X``, comes from edfio's
    :class:`~edfio.Recording`, which also fills the legacy start-date field)."""
    _check_text(patient_id, 80, "patient_id")
    if recording_id is not None:
        _check_text(recording_id, 80, "recording_id")
        if edf_plus and not recording_id.startswith("Startdate "):
            raise ValueError(
                f"recording_id {recording_id!r} must start with 'Startdate dd-MMM-yyyy' in EDF+"
            )


def _write_atomically(edf: Edf, path: str | os.PathLike, patient_id: str, recording_id: str | None) -> Path:
    # edfio's Patient/Recording take parsed subfields; callers pass the raw header texts
    # (e.g. "SC4001 X X X"), which edfio accepts through its identification properties.
    edf.local_patient_identification = patient_id
    if recording_id is not None:
        edf.local_recording_identification = recording_id
    with atomic_path(path, suffix=".edf") as tmp:
        with open(tmp, "wb") as fh:
            edf.write(fh)
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
        into the time-keeping TALs as the EDF+ specification prescribes (EDF+ only; plain
        EDF keeps whole seconds).
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
        Physical range per channel. Default: the data range of each channel (a flat
        channel gets its value +-1). edfio rounds the range outwards to what fits into the
        8-character header field. Samples outside the range are clipped.
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
    if _ANNOT_LABEL in names:
        raise ValueError(f"'{_ANNOT_LABEL}' is reserved for the annotation signal")
    names = [_check_text(x, 16, f"label[{i}]") for i, x in enumerate(names)]
    dims = ["" if d is None else d for d in _per_channel(physical_dims, n_ch, "physical_dims")]
    dims = [_check_text(x, 8, f"physical_dim[{i}]") for i, x in enumerate(dims)]
    prefilters = ["" if p is None else p for p in _per_channel(prefilter, n_ch, "prefilter")]
    prefilters = [_check_text(x, 80, f"prefilter[{i}]") for i, x in enumerate(prefilters)]
    transducers = ["" if t is None else t for t in _per_channel(transducer, n_ch, "transducer")]
    transducers = [_check_text(x, 80, f"transducer[{i}]") for i, x in enumerate(transducers)]
    fs = [float(f) for f in _per_channel(fs_hz, n_ch, "fs_hz")]

    rec_dur = float(record_duration_s)
    if not (np.isfinite(rec_dur) and rec_dur > 0 and len(_header_number(rec_dur)) <= 8):
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

    # ---- annotations ---------------------------------------------------------------
    annots = _normalise_annotations(annotations)
    if annots and not edf_plus:
        raise ValueError("annotations need EDF+ (edf_plus=True)")
    _check_ids(patient_id, recording_id, edf_plus)

    # ---- signals for edfio: physical range, zero padding to whole records, clipping ----
    pmins = _per_channel(physical_min, n_ch, "physical_min")
    pmaxs = _per_channel(physical_max, n_ch, "physical_max")
    edf_signals = []
    for i, s in enumerate(sigs):
        lo = float(s.min()) if pmins[i] is None else float(pmins[i])
        hi = float(s.max()) if pmaxs[i] is None else float(pmaxs[i])
        if pmins[i] is None and pmaxs[i] is None and hi - lo < 1e-6:
            lo, hi = lo - 1.0, hi + 1.0  # flat channel
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"channel {i} ({names[i]!r}): physical range [{lo}, {hi}] is not finite")
        if not hi > lo:
            raise ValueError(
                f"channel {i} ({names[i]!r}): physical_max {hi} must be greater than "
                f"physical_min {lo}"
            )
        padded = np.zeros(n_records * spr[i], dtype=np.float64)
        padded[: s.size] = s
        try:
            edf_signals.append(
                EdfSignal(
                    np.clip(padded, lo, hi),
                    spr[i] / rec_dur,
                    label=names[i],
                    transducer_type=transducers[i],
                    physical_dimension=dims[i],
                    physical_range=(lo, hi),
                    digital_range=(int(digital_min), int(digital_max)),
                    prefiltering=prefilters[i],
                )
            )
        except ValueError as exc:  # e.g. a range of 1e9 uV cannot be written in 8 characters
            raise ValueError(
                f"channel {i} ({names[i]!r}): {exc}; rescale the signal (e.g. write mV "
                "instead of uV)"
            ) from None

    # EDF+ keeps sub-second starts in the time-keeping TALs; plain EDF has whole seconds.
    starttime = start.time() if edf_plus else start.time().replace(microsecond=0)
    edf = Edf(
        edf_signals,
        patient=Patient(),
        recording=Recording(startdate=start.date()),
        starttime=starttime,
        data_record_duration=rec_dur,
        annotations=annots if edf_plus else None,
    )
    return _write_atomically(edf, path, patient_id, recording_id)


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
    _check_ids(patient_id, recording_id, True)

    runs = []
    i, n = 0, len(descr)
    while i < n:
        j = i + 1
        while j < n and descr[j] == descr[i]:
            j += 1
        runs.append(EdfAnnotation(i * epoch_s, (j - i) * epoch_s, descr[i]))
        i = j
    edf = Edf(
        [],
        patient=Patient(),
        recording=Recording(startdate=start.date()),
        starttime=start.time(),
        # left to edfio: it writes duration 0 for annotation-only files (passing 0 here
        # divides by zero in edfio 0.4.18)
        annotations=runs,
    )
    return _write_atomically(edf, path, patient_id, recording_id)
