"""PSG loading: EDF/EDF+ signals plus a hypnogram, cut into aligned 30-s epochs.

The signal file is read with :func:`mne.io.read_raw_edf`. MNE returns volts; we convert to
microvolts explicitly (``get_data(units="uV")``) and refuse channels whose physical unit
is not a voltage. Channels are picked by name with aliases (``EEG Fpz-Cz`` also matches
``Fpz-Cz``, ``FPZ-CZ`` ...), resampled to ``fs_hz`` with a polyphase filter, cut into
epochs aligned to the hypnogram onset, and movement/unscored epochs are dropped and
counted in :attr:`SleepNight.summary`.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import InputFileError
from .base import SleepNight
from .hypnogram import MOVEMENT, UNSCORED, Hypnogram, read_hypnogram

__all__ = [
    "DEFAULT_CHANNEL_ALIASES",
    "channel_type_of",
    "find_channels",
    "read_psg_signals",
    "load_sleep_night",
    "pair_sleep_edf_files",
    "subject_of",
    "trim_wake_edges",
    "resample_signals",
]

log = logging.getLogger(__name__)

#: Canonical channel name -> accepted aliases (compared case- and punctuation-insensitively).
DEFAULT_CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "EEG Fpz-Cz": ("Fpz-Cz", "FpzCz", "EEG Fpz-Cz"),
    "EEG Pz-Oz": ("Pz-Oz", "PzOz", "EEG Pz-Oz"),
    "EEG C4-M1": ("C4-M1", "C4-A1", "EEG C4-A1", "C4", "EEG C4"),
    "EEG C3-M2": ("C3-M2", "C3-A2", "EEG C3-A2", "C3", "EEG C3"),
    "EEG O2-M1": ("O2-M1", "O2-A1", "EEG O2-A1"),
    "EEG F4-M1": ("F4-M1", "F4-A1", "EEG F4-A1"),
    "EOG horizontal": ("EOG", "HEOG", "EOG horizontal", "EOG E1-M2", "E1-M2", "LOC-A2",
                       "EOG LOC-A2", "EOG(L)", "EOG left", "LOC"),
    "EMG submental": ("EMG", "Chin", "EMG chin", "Chin EMG", "Chin1-Chin2", "EMG Chin1-Chin2",
                      "EMG submental", "CHIN1-CHIN2"),
}

_TYPE_PREFIXES = (("EEG", "eeg"), ("EOG", "eog"), ("EMG", "emg"), ("ECG", "ecg"), ("EKG", "ecg"))
_VOLT_SCALE_TO_UV = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def channel_type_of(name: str) -> str:
    """Channel type from its canonical name (``eeg``, ``eog``, ``emg``, ``ecg``, ``other``)."""
    up = name.strip().upper()
    for prefix, typ in _TYPE_PREFIXES:
        if up.startswith(prefix):
            return typ
    for canon, aliases in DEFAULT_CHANNEL_ALIASES.items():
        if _key(name) in {_key(a) for a in aliases + (canon,)}:
            return channel_type_of(canon)
    return "other"


def find_channels(available: Sequence[str], wanted: Sequence[str], *,
                  aliases: dict[str, Sequence[str]] | None = None,
                  source: str | os.PathLike | None = None) -> list[str]:
    """Return the file's channel name for each wanted channel.

    Raises
    ------
    InputFileError
        When a wanted channel (and all its aliases) is absent; lists the channels present.
    """
    table = dict(DEFAULT_CHANNEL_ALIASES)
    if aliases:
        table.update({k: tuple(v) for k, v in aliases.items()})
    by_key = {}
    for ch in available:
        by_key.setdefault(_key(ch), ch)
    found, missing = [], []
    for w in wanted:
        cands = (w,) + tuple(table.get(w, ()))
        hit = next((by_key[_key(c)] for c in cands if _key(c) in by_key), None)
        if hit is None:
            missing.append(w)
        else:
            found.append(hit)
    if missing:
        raise InputFileError(
            source, f"required channel(s) {', '.join(missing)} not found; the file has: "
                    f"{', '.join(available)}",
            "set data.channels to channels the file has, or add an alias in data.channel_aliases")
    return found


def resample_signals(x: np.ndarray, fs_from_hz: float, fs_to_hz: float) -> np.ndarray:
    """Resample ``x`` (..., n_samples) from ``fs_from_hz`` to ``fs_to_hz`` (polyphase FIR)."""
    if abs(fs_from_hz - fs_to_hz) < 1e-9:
        return x
    from scipy.signal import resample_poly

    frac = Fraction(fs_to_hz / fs_from_hz).limit_denominator(1000)
    return resample_poly(x, frac.numerator, frac.denominator, axis=-1).astype(x.dtype, copy=False)


@dataclass
class _Signals:
    data: np.ndarray  # (n_channels, n_samples) float32 microvolts
    fs_hz: float
    names: list[str]
    start: object
    duration_s: float


def _native_rates(raw) -> dict[str, float]:
    """Each channel's own sampling rate in the EDF file (MNE upsamples all to the highest)."""
    try:
        ex = raw._raw_extras[0]
        rec_s = float(ex["record_length"][0])
        names = list(ex.get("ch_names") or raw.ch_names)
        return {n: float(k) / rec_s for n, k in zip(names, ex["n_samps"])}
    except (AttributeError, KeyError, IndexError, TypeError, ZeroDivisionError):  # pragma: no cover
        return {}


def read_psg_signals(path: str | os.PathLike, channels: Sequence[str], *, fs_hz: float | None = None,
                     aliases: dict[str, Sequence[str]] | None = None, min_fs_hz: float = 0.0,
                     on_low_sampling_rate: str = "warn") -> _Signals:
    """Read the chosen channels of an EDF/EDF+ file in microvolts.

    Parameters
    ----------
    path : path to ``.edf`` (or ``.bdf``).
    channels : canonical channel names (see :data:`DEFAULT_CHANNEL_ALIASES`).
    fs_hz : target sampling rate; ``None`` keeps the file's rate.

    Returns
    -------
    An object with ``data`` float32 (n_channels, n_samples) in µV, ``fs_hz``, ``names``,
    ``start`` (the file's measurement date) and ``duration_s``.
    """
    import mne

    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file not found", "check data.root and the file name")
    if path.stat().st_size < 256:
        raise InputFileError(path, f"only {path.stat().st_size} bytes, shorter than an EDF header",
                             "the file is truncated: copy it again from the source")
    try:
        raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
    except Exception as exc:
        raise InputFileError(path, f"cannot read as EDF ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                             "check the file is a complete EDF/EDF+ file (re-download or re-export it)") from None
    picks = find_channels(raw.ch_names, channels, aliases=aliases, source=path)
    rates = _native_rates(raw)
    floor = max(float(min_fs_hz), 0.0)
    low = [f"{ch} ({rates[ch]:g} Hz)" for ch in picks if ch in rates and rates[ch] < floor]
    if low:
        _apply_policy(on_low_sampling_rate, path,
                      f"channel(s) {', '.join(low)} sampled below data.min_fs_hz={floor:g} Hz",
                      "use channels recorded at a higher rate, lower data.min_fs_hz, or set "
                      "data.on_low_sampling_rate: warn to upsample them anyway", "upsampled")
    orig_units = getattr(raw, "_orig_units", {}) or {}
    scales = []
    for ch in picks:
        unit = str(orig_units.get(ch, "uV")).strip().lower().replace("micro", "u")
        if unit not in _VOLT_SCALE_TO_UV:
            raise InputFileError(path, f"channel {ch!r} has physical unit {orig_units.get(ch)!r}, not a voltage",
                                 "export the channel in uV, mV or V")
        scales.append(unit)
    fs_file = float(raw.info["sfreq"])
    try:
        data = raw.get_data(picks=picks, units="uV").astype(np.float32)
    except Exception as exc:
        raise InputFileError(path, f"cannot read the signal data ({type(exc).__name__}: {exc})",
                             "the file is truncated or corrupt: copy it again from the source") from None
    if fs_hz is not None:
        data = resample_signals(data, fs_file, float(fs_hz))
        fs_out = float(fs_hz)
    else:
        fs_out = fs_file
    start = raw.info.get("meas_date")
    duration = data.shape[1] / fs_out
    return _Signals(data=data, fs_hz=fs_out, names=list(channels), start=start, duration_s=duration)


def trim_wake_edges(stages: np.ndarray, keep_wake_epochs: int) -> tuple[int, int]:
    """Bounds ``[a, b)`` keeping ``keep_wake_epochs`` before the first and after the last sleep epoch.

    Sleep is any of N1, N2, N3, REM. A night without sleep keeps everything.
    """
    sleep = np.flatnonzero((stages >= 1) & (stages <= 4))
    if sleep.size == 0:
        return 0, int(stages.shape[0])
    a = max(0, int(sleep[0]) - keep_wake_epochs)
    b = min(int(stages.shape[0]), int(sleep[-1]) + 1 + keep_wake_epochs)
    return a, b


def _apply_policy(policy: str, source, problem: str, fix: str, action: str) -> None:
    """``raise`` an InputFileError, ``warn`` (log and go on with ``action``) or ``ignore``."""
    if policy == "raise":
        raise InputFileError(source, problem, fix)
    if policy == "warn":
        log.warning("%s: %s; %s", source, problem, action)


def load_sleep_night(psg_path: str | os.PathLike, hypnogram: str | os.PathLike | Hypnogram | None, *,
                     channels: Sequence[str] = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental"),
                     channel_types: Sequence[str] | None = None,
                     aliases: dict[str, Sequence[str]] | None = None,
                     fs_hz: float = 100.0, epoch_s: float = 30.0,
                     trim_wake_edges_min: float | None = 30.0,
                     on_length_mismatch: str = "raise",
                     on_start_mismatch: str = "raise",
                     min_fs_hz: float = 0.0, on_low_sampling_rate: str = "warn",
                     record_id: str | None = None, subject_id: str | None = None) -> SleepNight:
    """Load one night: signals in µV at ``fs_hz``, cut into epochs aligned to the hypnogram.

    Parameters
    ----------
    psg_path : EDF/EDF+ signal file.
    hypnogram : hypnogram file (EDF+, text, CSV or JSON), a :class:`Hypnogram`, or ``None``
        to cut the whole signal into unlabelled epochs (labels ``-1``).
    channels : canonical channel names, in the order of the output's channel axis.
    fs_hz : output sampling rate in Hz.
    epoch_s : epoch length in seconds.
    trim_wake_edges_min : keep this many minutes of wake before the first and after the
        last sleep epoch (Sleep-EDF convention: 30); ``None`` keeps the whole night.
    on_length_mismatch : ``"raise"`` | ``"warn"`` | ``"ignore"`` when scored epochs lie
        beyond the end of the signal, or the hypnogram (scored and unscored epochs)
        ends more than one epoch before the signal does.
    on_start_mismatch : ``"raise"`` | ``"warn"`` | ``"ignore"`` when an EDF+ hypnogram
        starts at a different time than the signal (the offset is applied either way).
    min_fs_hz, on_low_sampling_rate : a picked channel recorded below ``min_fs_hz`` (for
        example Sleep-EDF SC's 1-Hz chin-EMG envelope) raises, warns or is silently upsampled.
    """
    for name, val in (("on_length_mismatch", on_length_mismatch), ("on_start_mismatch", on_start_mismatch)):
        if val not in ("raise", "warn", "ignore"):
            raise ValueError(f"{name}={val!r}; accepted: 'raise', 'warn', 'ignore'")
    psg_path = Path(psg_path)
    sig = read_psg_signals(psg_path, channels, fs_hz=fs_hz, aliases=aliases, min_fs_hz=min_fs_hz,
                           on_low_sampling_rate=on_low_sampling_rate)
    types = list(channel_types) if channel_types else [channel_type_of(c) for c in channels]
    n_per = int(round(epoch_s * fs_hz))
    n_sig_epochs = sig.data.shape[1] // n_per
    rid = record_id or _record_id_of(psg_path)
    summary: dict = {"epochs_in_signal": int(n_sig_epochs)}

    if hypnogram is None:
        stages = np.full(n_sig_epochs, -1, dtype=np.int64)
        offset_s = 0.0
        hyp_src = ""
    else:
        hyp = hypnogram if isinstance(hypnogram, Hypnogram) else read_hypnogram(hypnogram, epoch_s=epoch_s)
        hyp_src = hyp.source
        if abs(hyp.epoch_s - epoch_s) > 1e-9:
            raise InputFileError(hyp.source, f"hypnogram epochs are {hyp.epoch_s:g} s, config says {epoch_s:g} s",
                                 "set data.epoch_s to the hypnogram's epoch length")
        offset_s = float(hyp.onset_s)
        if hyp.start is not None and sig.start is not None:
            delta = (hyp.start - sig.start).total_seconds()
            if abs(delta) > 1e-6:
                msg = (f"hypnogram starts {delta:+.0f} s after the signal file {psg_path.name} "
                       f"({hyp.start.isoformat()} vs {sig.start.isoformat()})")
                _apply_policy(on_start_mismatch, hyp.source, msg,
                              "pair the hypnogram with its own recording, or set "
                              "data.on_start_mismatch: warn to apply the offset", "offset applied")
                offset_s += delta
        stages = hyp.stages.copy()
        first = offset_s / epoch_s
        if abs(first - round(first)) > 1e-3:
            raise InputFileError(hyp.source, f"hypnogram onset {offset_s:g} s is not a multiple of {epoch_s:g} s",
                                 "re-export the hypnogram aligned to the epoch grid")
        # Epochs falling outside the signal.
        start_idx = int(round(first))
        idx_sig = start_idx + np.arange(stages.shape[0])
        outside = (idx_sig < 0) | (idx_sig >= n_sig_epochs)
        scored_outside = int(np.sum(outside & (stages >= 0)))
        hyp_end = start_idx + stages.shape[0]
        short_by = n_sig_epochs - hyp_end
        problem = None
        if scored_outside > 0:
            problem = (f"hypnogram is longer than the signal: {scored_outside} scored epoch(s) lie beyond "
                       f"the {sig.duration_s:.0f} s of {psg_path.name}")
        elif short_by > 1:
            problem = (f"hypnogram is shorter than the signal: it covers {hyp_end} of the "
                       f"{n_sig_epochs} epochs of {psg_path.name}")
        if problem:
            _apply_policy(on_length_mismatch, hyp.source, problem,
                          "check the hypnogram belongs to this recording, or set "
                          "data.on_length_mismatch: warn to keep the overlap", "keeping the overlap")
        summary["epochs_outside_signal"] = int(np.sum(outside))
        stages = stages[~outside]
        offset_s = float(idx_sig[~outside][0] * epoch_s) if (~outside).any() else 0.0

    n = stages.shape[0]
    first_epoch = int(round(offset_s / epoch_s))
    keep = np.ones(n, dtype=bool)
    if trim_wake_edges_min is not None and hypnogram is not None:
        a, b = trim_wake_edges(stages, int(round(trim_wake_edges_min * 60 / epoch_s)))
        keep[:a] = False
        keep[b:] = False
        summary["trimmed_wake_epochs"] = int(n - (b - a))
    summary["movement_epochs"] = int(np.sum(keep & (stages == MOVEMENT)))
    summary["unscored_epochs"] = int(np.sum(keep & (stages == UNSCORED))) if hypnogram is not None else 0
    if hypnogram is not None:
        keep &= stages >= 0
    idx = np.flatnonzero(keep)
    epoch_idx = first_epoch + idx
    starts = epoch_idx * n_per
    windows = starts[:, None] + np.arange(n_per)[None, :]
    epochs = np.ascontiguousarray(np.transpose(sig.data[:, windows], (1, 0, 2)))
    bad = ~np.isfinite(epochs).all(axis=(1, 2))
    if bad.any():
        log.warning("%s: %d epoch(s) hold NaN/inf samples; set to 0 and flagged", psg_path, int(bad.sum()))
        epochs = np.nan_to_num(epochs, nan=0.0, posinf=0.0, neginf=0.0)
    summary["nonfinite_epochs"] = int(bad.sum())
    flat = (np.ptp(epochs, axis=2) < 1e-3)  # (n_epochs, n_channels) flat at 0.001 µV
    summary["flat_channel_epochs"] = int(flat.any(axis=1).sum())
    # clipped: a channel sits at its night-wide extreme for >= 20 % of an epoch (saturated amplifier)
    if epochs.size:
        hi = epochs.max(axis=(0, 2), keepdims=True)
        lo = epochs.min(axis=(0, 2), keepdims=True)
        at_rail = (np.isclose(epochs, hi, atol=1e-3) | np.isclose(epochs, lo, atol=1e-3)).mean(axis=2)
        clipped = (at_rail >= 0.2) & ~flat
        summary["clipped_channel_epochs"] = int(clipped.any(axis=1).sum())
        if clipped.any():
            log.warning("%s: %d epoch(s) look clipped (signal at the amplifier's limit)", psg_path,
                        int(clipped.any(axis=1).sum()))
    summary["epochs_kept"] = int(idx.size)
    summary["hypnogram"] = hyp_src
    return SleepNight(
        record_id=rid,
        subject_id=subject_id or subject_of(rid),
        epochs=epochs.astype(np.float32, copy=False),
        labels=stages[idx].astype(np.int64),
        onsets_s=(epoch_idx * epoch_s).astype(np.float64),
        fs_hz=float(fs_hz),
        channel_names=list(channels),
        channel_types=types,
        epoch_s=float(epoch_s),
        units="uV",
        source=str(psg_path),
        summary=summary,
    )


_SLEEP_EDF_RE = re.compile(r"^(.*S[CT]\d{3})\d[A-Z][A-Z0-9]$")


def subject_of(record_id: str) -> str:
    """Subject of a night: Sleep-EDF names (``SC4001E0`` -> ``SC400``, also with a prefix:
    ``SYN_SC4001E0`` -> ``SYN_SC400``), else the record id itself."""
    m = _SLEEP_EDF_RE.match(record_id)
    return m.group(1) if m else record_id


def _record_id_of(psg_path: Path) -> str:
    stem = psg_path.stem
    for suf in ("-PSG", "_PSG", "-psg", "_psg"):
        if stem.endswith(suf):
            return stem[: -len(suf)]
    return stem


_HYP_SUFFIXES = ("-Hypnogram", "_Hypnogram", "-hypnogram", "_hypnogram", "-hypno", "_hypno")
_HYP_EXTS = (".edf", ".txt", ".csv", ".json", ".tsv")


def pair_sleep_edf_files(folder: str | os.PathLike, *, require_hypnogram: bool = True) -> list[tuple[Path, Path | None]]:
    """Pair each ``*-PSG.edf`` in ``folder`` with its hypnogram file.

    The hypnogram is ``<record>-Hypnogram.<ext>`` or, Sleep-EDF style, a file whose record
    id differs only in the last character (``SC4001E0-PSG.edf`` + ``SC4001EC-Hypnogram.edf``).
    A recording without a hypnogram raises an error naming it, unless
    ``require_hypnogram=False`` (prediction of new recordings), where it pairs with ``None``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "folder not found", "set data.root to the folder holding the EDF files")
    psgs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".edf" and
                  p.stem.upper().endswith(("-PSG", "_PSG")))
    if not psgs:
        raise InputFileError(folder, "no '*-PSG.edf' files found",
                             "put the EDF recordings (named <record>-PSG.edf) in this folder")
    hyps: dict[str, Path] = {}
    for p in folder.iterdir():
        if p.suffix.lower() in _HYP_EXTS:
            for suf in _HYP_SUFFIXES:
                if p.stem.endswith(suf):
                    hyps[p.stem[: -len(suf)]] = p
    pairs = []
    for psg in psgs:
        rid = _record_id_of(psg)
        hyp = hyps.get(rid)
        if hyp is None:
            cands = [h for k, h in hyps.items() if len(k) == len(rid) and k[:-1] == rid[:-1]]
            if len(cands) == 1:
                hyp = cands[0]
        if hyp is None and require_hypnogram:
            raise InputFileError(psg, "no hypnogram file found for this recording",
                                 f"add {rid}-Hypnogram.edf (or .txt/.csv) next to it")
        pairs.append((psg, hyp))
    return pairs


def iter_sleep_folder(folder: str | os.PathLike, **kw) -> Iterator[SleepNight]:
    """Yield one :class:`SleepNight` per recording in ``folder`` (one at a time, streaming)."""
    for psg, hyp in pair_sleep_edf_files(folder):
        yield load_sleep_night(psg, hyp, **kw)
