"""PSG loading: EDF/EDF+/BDF (or MNE .fif) signals plus a hypnogram, cut into aligned 30-s epochs.

The EDF header is first checked against the file size (a truncated file is refused as
damaged, :mod:`.edfinfo`); the signals are read with MNE. MNE returns volts; we convert to
microvolts explicitly, reading the header's unit case-insensitively (MNE reads ``UV`` as
volts), and refuse channels whose physical unit is not a voltage. Channels are picked by
name with aliases (:data:`DEFAULT_CHANNEL_ALIASES`, extended by ``data.channel_aliases``),
resampled to ``fs_hz`` with a polyphase filter, cut into epochs aligned to the hypnogram
onset; movement/unscored epochs are dropped and counted in :attr:`SleepNight.summary`, and
every epoch's signal quality is checked (:mod:`sigvision.quality`). The folder pairing rule
is :data:`PAIRING_RULE` (:func:`pair_sleep_edf_files`).
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
from ..quality import CLIPPED, FLAT, NONFINITE, apply_policy, assess
from .base import SleepNight
from .edfinfo import check_complete, read_edf_header, unit_to_uv
from .hypnogram import MOVEMENT, UNSCORED, Hypnogram, read_hypnogram
from .pairing import _record_id_of, pair_sleep_edf_files, subject_of

# MNE and scipy.signal are imported where a file is read or resampled (heavy; most importers
# only need the channel tables).

__all__ = [
    "DEFAULT_CHANNEL_ALIASES",
    "MissingChannelError",
    "candidates_of_type",
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

#: Canonical channel name -> accepted aliases (compared case- and punctuation-insensitively,
#: so ``C3-M2``, ``c3m2`` and ``C3 M2`` are one name). The canonical names are the run's
#: channel names (``data.channels``); a file's channel is picked by the canonical name first,
#: then by the aliases of ``data.channel_aliases`` (which extend this table, tried first),
#: then by these, in order. AASM montages: EEG F4-M1, C4-M1, O2-M1 (and F3-M2, C3-M2, O1-M2;
#: ``-A1``/``-A2`` are the older names of the mastoid references), EOG E1-M2 / E2-M1, chin EMG.
#: An alias names the same derivation; using another derivation for a run's channel (C3-M2
#: for a run trained on Fpz-Cz) is an explicit choice: ``sigvision predict --eeg C3-M2,...``.
DEFAULT_CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "EEG Fpz-Cz": ("Fpz-Cz", "FpzCz", "EEG Fpz-Cz"),
    "EEG Pz-Oz": ("Pz-Oz", "PzOz", "EEG Pz-Oz"),
    "EEG F3-M2": ("F3-M2", "F3-A2", "EEG F3-A2", "F3", "EEG F3"),
    "EEG F4-M1": ("F4-M1", "F4-A1", "EEG F4-A1", "F4", "EEG F4"),
    "EEG C3-M2": ("C3-M2", "C3-A2", "EEG C3-A2", "C3", "EEG C3"),
    "EEG C4-M1": ("C4-M1", "C4-A1", "EEG C4-A1", "C4", "EEG C4"),
    "EEG O1-M2": ("O1-M2", "O1-A2", "EEG O1-A2", "O1", "EEG O1"),
    "EEG O2-M1": ("O2-M1", "O2-A1", "EEG O2-A1", "O2", "EEG O2"),
    "EOG horizontal": ("EOG", "HEOG", "EOG horizontal", "EOG E1-M2", "E1-M2", "E1-A2", "EOG E1-A2", "E1",
                       "LOC-A2", "LOC-M2", "EOG LOC-A2", "EOG(L)", "EOG L", "EOG left", "LEOG", "LOC"),
    "EOG E2-M1": ("E2-M1", "E2-A1", "EOG E2-A1", "E2", "ROC-A1", "ROC-M1", "EOG ROC-A1", "EOG(R)", "EOG R",
                  "EOG right", "REOG", "ROC"),
    "EMG submental": ("EMG", "Chin", "EMG chin", "Chin EMG", "Chin-EMG", "Chin1-Chin2", "Chin 1-Chin 2",
                      "EMG Chin1-Chin2", "Chin1-Chin3", "Chin2-Chin3", "EMG1-EMG2", "EMG submental", "Submental",
                      "CHIN1-CHIN2"),
}

_TYPE_PREFIXES = (("EEG", "eeg"), ("EOG", "eog"), ("EMG", "emg"), ("ECG", "ecg"), ("EKG", "ecg"))


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


class MissingChannelError(InputFileError):
    """A wanted channel is not in the file: ``missing`` (the run's names), ``available``
    (the file's), so a caller can phrase the fix in its own terms (``predict --eeg ...``)."""

    def __init__(self, source, missing: Sequence[str], available: Sequence[str], fix: str):
        self.missing, self.available = list(missing), list(available)
        super().__init__(source, f"required channel(s) {', '.join(missing)} not found; the file has: "
                                 f"{', '.join(available)}", fix)


def candidates_of_type(available: Sequence[str], channel_type: str) -> list[str]:
    """The ``available`` channel names whose type (:func:`channel_type_of`) is ``channel_type``."""
    return [ch for ch in available if channel_type_of(ch) == channel_type]


def find_channels(available: Sequence[str], wanted: Sequence[str], *,
                  aliases: dict[str, Sequence[str]] | None = None,
                  source: str | os.PathLike | None = None) -> list[str]:
    """Return the file's channel name for each wanted channel.

    Each wanted name is looked up as itself, then through ``aliases`` (``data.channel_aliases``,
    which extends :data:`DEFAULT_CHANNEL_ALIASES`), then through the default aliases.

    Raises
    ------
    MissingChannelError
        When a wanted channel (and all its aliases) is absent; lists the channels present.
    """
    user = {_key(k): tuple(v) for k, v in (aliases or {}).items()}
    by_key = {}
    for ch in available:
        by_key.setdefault(_key(ch), ch)
    found, missing = [], []
    for w in wanted:
        cands = (w,) + user.get(_key(w), ()) + tuple(DEFAULT_CHANNEL_ALIASES.get(w, ()))
        hit = next((by_key[_key(c)] for c in cands if _key(c) in by_key), None)
        if hit is None:
            missing.append(w)
        else:
            found.append(hit)
    if missing:
        first = missing[0]
        raise MissingChannelError(
            source, missing, available,
            f"name the file's channel for it: --set 'data.channel_aliases={{{first}: [<name in the file>]}}' "
            "(or the same under data.channel_aliases in the YAML)")
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
    rails_uv: np.ndarray | None = None  # (n_channels, 2): recordable min, max (EDF physical range) in µV
    step_uv: np.ndarray | None = None  # (n_channels,): one digital step in µV
    file_channels: list[str] | None = None  # the file's name of each channel


def _is_fif(path: Path) -> bool:
    return path.suffix.lower() == ".fif" or path.name.lower().endswith(".fif.gz")


def _open_raw(path: Path):
    """The MNE Raw of an EDF/BDF/FIF file (not preloaded); errors name the file."""
    import mne

    try:
        if _is_fif(path):
            return mne.io.read_raw_fif(path, preload=False, verbose="error")
        if path.suffix.lower() == ".bdf":
            return mne.io.read_raw_bdf(path, preload=False, verbose="error")
        return mne.io.read_raw_edf(path, preload=False, verbose="error")
    except Exception as exc:
        kind = "FIF" if _is_fif(path) else "EDF"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputFileError(path, f"cannot read as {kind} ({type(exc).__name__}: {first})",
                             f"check the file is a complete {kind} file (re-download or re-export it)") from None


def _unit_override(ch: str, canon: str, units: dict[str, str] | None) -> str | None:
    """``data.channel_units`` entry for a picked channel: by the run's name or the file's."""
    if not units:
        return None
    by_key = {_key(k): v for k, v in units.items()}
    return by_key.get(_key(canon), by_key.get(_key(ch)))


def read_psg_signals(path: str | os.PathLike, channels: Sequence[str], *, fs_hz: float | None = None,
                     aliases: dict[str, Sequence[str]] | None = None, min_fs_hz: float = 0.0,
                     on_low_sampling_rate: str = "warn", channel_units: dict[str, str] | None = None) -> _Signals:
    """Read the chosen channels of an EDF/EDF+/BDF (or MNE ``.fif``) file in microvolts.

    Parameters
    ----------
    path : path to ``.edf``, ``.bdf`` or ``.fif``.
    channels : canonical channel names (see :data:`DEFAULT_CHANNEL_ALIASES`).
    fs_hz : target sampling rate; ``None`` keeps the file's rate.
    channel_units : channel (the run's name or the file's) -> the unit to read it in when
        the header's unit field is empty or wrong (``data.channel_units``).

    Returns
    -------
    An object with ``data`` float32 (n_channels, n_samples) in µV, ``fs_hz``, ``names``,
    ``start`` (the file's measurement date), ``duration_s``, and for EDF/BDF files
    ``rails_uv`` (n_channels, 2), the physical range of each channel in µV, and ``step_uv``.

    EDF units are read case-insensitively (``uV``, ``UV``, ``µV``, ``mV``, ``V``): MNE scales
    only the exact spellings ``uV``/``µV``/``mV`` and reads the rest as volts, so the loader
    corrects its scale. The header is checked against the file size first: a truncated file
    is refused as damaged (:func:`sigvision.loaders.edfinfo.check_complete`).
    """

    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file not found", "check data.root and the file name")
    fif = _is_fif(path)
    header = None
    if not fif:
        header = read_edf_header(path)
        check_complete(header)
    raw = _open_raw(path)
    picks = find_channels(raw.ch_names, channels, aliases=aliases, source=path)
    pos = [raw.ch_names.index(ch) for ch in picks]
    hsig = None
    if header is not None and len(header.data_signals) == len(raw.ch_names):
        hsig = [header.data_signals[i] for i in pos]
    rates = {ch: s.rate_hz(header.record_s) for ch, s in zip(picks, hsig)} if hsig else {}
    floor = max(float(min_fs_hz), 0.0)
    low = [f"{ch} ({rates[ch]:g} Hz)" for ch in picks if ch in rates and rates[ch] < floor]
    if low:
        _apply_policy(on_low_sampling_rate, path,
                      f"channel(s) {', '.join(low)} sampled below data.min_fs_hz={floor:g} Hz",
                      "use channels recorded at a higher rate, or --set data.min_fs_hz=<Hz> to lower the floor, "
                      "or --set data.on_low_sampling_rate=warn to upsample them anyway", "upsampled")
    rails = step = None
    if fif:
        from mne.io.constants import FIFF

        for ch, i in zip(picks, pos):
            unit = raw.info["chs"][i]["unit"]
            if unit != FIFF.FIFF_UNIT_V:
                raise InputFileError(path, f"channel {ch!r} is not a voltage (FIFF unit code {int(unit)})",
                                     "pick voltage channels (EEG, EOG, EMG, ECG)")
        data = _get_data(raw, picks, path, units=None) * np.float32(1e6)
    else:
        mne_scale = _mne_scales(raw)
        scale = np.ones(len(picks))
        rails = np.full((len(picks), 2), np.nan)
        step = np.full(len(picks), np.nan)
        for k, (ch, canon) in enumerate(zip(picks, channels)):
            written = hsig[k].unit if hsig else str((getattr(raw, "_orig_units", {}) or {}).get(ch, ""))
            over = _unit_override(ch, canon, channel_units)
            to_uv = unit_to_uv(over if over is not None else written)
            if to_uv is None:
                what = f"has data.channel_units {over!r}" if over is not None else f"has physical unit {written!r}"
                raise InputFileError(path, f"channel {ch!r} {what}, not a voltage",
                                     f"export the channel in uV, mV or V, or, if it is a voltage whose unit field is "
                                     f"empty or wrong, --set 'data.channel_units={{{canon}: uV}}'")
            applied = mne_scale.get(ch)
            if applied is None:  # pragma: no cover - MNE versions without _raw_extras units
                applied = 1e-6 if written in ("uV", "\u00b5V", "\u03bcV") else 1e-3 if written == "mV" else 1.0
            scale[k] = to_uv / (applied * 1e6)
            if abs(scale[k] - 1.0) > 1e-9:
                log.info("%s: channel %r unit field %r read as %g µV per unit (MNE read it as %g V)", path, ch,
                         written, to_uv, applied)
            if hsig:
                s = hsig[k]
                rails[k] = sorted((s.physical_min * to_uv, s.physical_max * to_uv))
                step[k] = s.step * to_uv
        data = _get_data(raw, picks, path, units="uV")
        data *= scale[:, None].astype(np.float32)
    fs_file = float(raw.info["sfreq"])
    if fs_hz is not None:
        data = resample_signals(data, fs_file, float(fs_hz))
        fs_out = float(fs_hz)
    else:
        fs_out = fs_file
    start = raw.info.get("meas_date")
    duration = data.shape[1] / fs_out
    return _Signals(data=data, fs_hz=fs_out, names=list(channels), start=start, duration_s=duration,
                    rails_uv=rails, step_uv=step, file_channels=list(picks))


def _mne_scales(raw) -> dict[str, float]:
    """The factor (volts per unit as written) MNE applied to each channel of an EDF/BDF Raw."""
    try:
        units = np.asarray(raw._raw_extras[0]["units"], dtype=np.float64)
        if units.shape[0] == len(raw.ch_names):
            return dict(zip(raw.ch_names, units.tolist()))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):  # pragma: no cover - other MNE versions
        pass
    return {}  # pragma: no cover


def _get_data(raw, picks, path, units):
    try:
        return raw.get_data(picks=picks, units=units).astype(np.float32)
    except Exception as exc:
        raise InputFileError(path, f"cannot read the signal data ({type(exc).__name__}: {exc})",
                             "the file is truncated or corrupt: copy it again from the source") from None


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
                     channel_units: dict[str, str] | None = None,
                     on_bad_signal: str = "flag", amplitude_bounds: dict | None = None,
                     max_bad_fraction: float = 0.5, on_epoch_mismatch: str = "raise",
                     record_id: str | None = None, subject_id: str | None = None) -> SleepNight:
    """Load one night: signals in µV at ``fs_hz``, cut into epochs aligned to the hypnogram.

    Parameters
    ----------
    psg_path : EDF/EDF+/BDF (or MNE ``.fif``) signal file.
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
    channel_units : channel -> unit to read it in when its EDF unit field is empty or wrong.
    on_bad_signal, amplitude_bounds, max_bad_fraction : the signal-quality policy
        (:mod:`sigvision.quality`): epochs with a flat, clipped, non-finite or implausibly
        scaled channel are kept and flagged (``flag``), left out (``drop``) or refused
        (``raise``); a night with more than ``max_bad_fraction`` of its epochs flagged is
        refused, naming the file and the channels.
    on_epoch_mismatch : ``"raise"`` | ``"resample"`` when an EDF+ hypnogram is scored in
        epochs of another length than ``epoch_s`` (see :func:`hypnogram_from_annotations`).

    Returns
    -------
    :class:`SleepNight`, whose ``quality`` holds one text per epoch (``ok`` or the flags) and
    whose ``summary`` counts what was excluded and flagged.
    """

    for name, val in (("on_length_mismatch", on_length_mismatch), ("on_start_mismatch", on_start_mismatch)):
        if val not in ("raise", "warn", "ignore"):
            raise ValueError(f"{name}={val!r}; accepted: 'raise', 'warn', 'ignore'")
    psg_path = Path(psg_path)
    hyp = None
    if hypnogram is not None:  # read first: a bad hypnogram is refused before the signals are read
        hyp = hypnogram if isinstance(hypnogram, Hypnogram) else \
            read_hypnogram(hypnogram, epoch_s=epoch_s, on_epoch_mismatch=on_epoch_mismatch)
    sig = read_psg_signals(psg_path, channels, fs_hz=fs_hz, aliases=aliases, min_fs_hz=min_fs_hz,
                           on_low_sampling_rate=on_low_sampling_rate, channel_units=channel_units)
    types = list(channel_types) if channel_types else [channel_type_of(c) for c in channels]
    n_per = int(round(epoch_s * fs_hz))
    n_sig_epochs = sig.data.shape[1] // n_per
    rid = record_id or _record_id_of(psg_path)
    summary: dict = {"epochs_in_signal": int(n_sig_epochs)}

    if hyp is None:
        stages = np.full(n_sig_epochs, -1, dtype=np.int64)
        offset_s = 0.0
        hyp_src = ""
    else:
        hyp_src = hyp.source
        if abs(hyp.epoch_s - epoch_s) > 1e-9:
            raise InputFileError(hyp.source, f"hypnogram epochs are {hyp.epoch_s:g} s, config says {epoch_s:g} s",
                                 f"--set data.epoch_s={hyp.epoch_s:g} to use the hypnogram's epoch length")
        offset_s = float(hyp.onset_s)
        if hyp.start is not None and sig.start is not None:
            delta = (hyp.start - sig.start).total_seconds()
            if abs(delta) > 1e-6:
                msg = (f"hypnogram starts {delta:+.0f} s after the signal file {psg_path.name} "
                       f"({hyp.start.isoformat()} vs {sig.start.isoformat()})")
                _apply_policy(on_start_mismatch, hyp.source, msg,
                              "pair the hypnogram with its own recording, or --set "
                              "data.on_start_mismatch=warn to apply the offset", "offset applied")
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
                          "check the hypnogram belongs to this recording, or --set "
                          "data.on_length_mismatch=warn to keep the overlap", "keeping the overlap")
        summary["epochs_outside_signal"] = int(np.sum(outside))
        stages = stages[~outside]
        offset_s = float(idx_sig[~outside][0] * epoch_s) if (~outside).any() else 0.0

    n = stages.shape[0]
    first_epoch = int(round(offset_s / epoch_s))
    keep = np.ones(n, dtype=bool)
    if trim_wake_edges_min is not None and hyp is not None:
        a, b = trim_wake_edges(stages, int(round(trim_wake_edges_min * 60 / epoch_s)))
        keep[:a] = False
        keep[b:] = False
        summary["trimmed_wake_epochs"] = int(n - (b - a))
    summary["movement_epochs"] = int(np.sum(keep & (stages == MOVEMENT)))
    summary["unscored_epochs"] = int(np.sum(keep & (stages == UNSCORED))) if hyp is not None else 0
    if hyp is not None:
        keep &= stages >= 0
    idx = np.flatnonzero(keep)
    epoch_idx = first_epoch + idx
    starts = epoch_idx * n_per
    windows = starts[:, None] + np.arange(n_per)[None, :]
    epochs = np.ascontiguousarray(np.transpose(sig.data[:, windows], (1, 0, 2)))
    del sig.data
    q = assess(epochs, types, unit="uV", names=list(channels), rails=sig.rails_uv, step=sig.step_uv,
               bounds=amplitude_bounds)
    bad = q.flags & NONFINITE
    if bad.any():
        epochs = np.nan_to_num(epochs, nan=0.0, posinf=0.0, neginf=0.0)
    summary["nonfinite_epochs"] = int(bad.any(axis=1).sum())
    summary["flat_channel_epochs"] = int((q.flags & FLAT).any(axis=1).sum())
    summary["clipped_channel_epochs"] = int((q.flags & CLIPPED).any(axis=1).sum())
    summary["bad_signal_epochs"] = int(q.bad.sum())
    summary["bad_signal"] = q.describe()
    keep_q = apply_policy(q, policy=on_bad_signal, max_bad_fraction=max_bad_fraction, source=psg_path)
    labels_q = q.labels()
    if not keep_q.all():
        summary["dropped_bad_epochs"] = int((~keep_q).sum())
        epochs, idx, epoch_idx = epochs[keep_q], idx[keep_q], epoch_idx[keep_q]
        labels_q = [t for t, k in zip(labels_q, keep_q) if k]
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
        quality=labels_q,
    )


def iter_sleep_folder(folder: str | os.PathLike, **kw) -> Iterator[SleepNight]:
    """Yield one :class:`SleepNight` per recording in ``folder`` (one at a time, streaming)."""
    for psg, hyp in pair_sleep_edf_files(folder):
        yield load_sleep_night(psg, hyp, **kw)
