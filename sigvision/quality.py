"""Signal quality: flat, clipped, non-finite and implausible-amplitude windows.

Pure functions on arrays, channels first. A *window* is what one output row stands for: a
30-s epoch of a sleep night, or a whole ECG record. Every path that reads signals uses
these checks (``sigvision prepare`` for sleep and ECG, ``sigvision predict``, and
``sigvision.stage()`` for arrays and ``mne.io.Raw`` objects), so a recording that is all
zeros, stuck at the amplifier's limits or read with the wrong unit is flagged (or refused)
instead of giving a confident answer.

Flags, per window and channel (a bit mask, :data:`NONFINITE` | :data:`CLIPPED` | ...):

``nonfinite``
    at least one NaN/inf sample (the samples are then set to 0 by the loaders).
``clipped``
    at least :data:`CLIP_FRACTION` of the window's samples sit at the channel's limits, in
    runs of at least 3 samples (stuck, not the peak of a wave): the
    EDF physical minimum/maximum or the WFDB ADC range when the file gives them, else the
    channel's own extremes over the whole recording. A window stuck at a limit is clipped,
    never flat.
``flat``
    the window's peak-to-peak amplitude is at most two quantisation steps of the file (or
    :data:`FLAT_FLOOR` in the unit when the step is unknown), and it is not clipped.
``amplitude``
    the window's standard deviation lies outside the plausible range of the channel's type
    (:data:`DEFAULT_AMPLITUDE_BOUNDS`, configurable as ``data.amplitude_bounds``): a unit or
    gain error (an EDF unit field ``UV`` read as volts, a WFDB gain off by 1000).

What happens to flagged windows is the ``data.on_bad_signal`` policy (:func:`apply_policy`):
``flag`` (default: kept, a logged warning and the ``quality`` column say which), ``drop``
(left out) or ``raise``. A recording with more than ``data.max_bad_fraction`` of its windows
flagged is refused whatever the policy, naming the file and the channels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .errors import InputFileError
from .errors import ConfigError

__all__ = ["NONFINITE", "CLIPPED", "FLAT", "AMPLITUDE", "KINDS", "DEFAULT_AMPLITUDE_BOUNDS", "CLIP_FRACTION",
           "FLAT_FLOOR", "POLICIES", "Quality", "assess", "amplitude_bounds_for", "check_bounds_table", "apply_policy",
           "setting_text", "OK", "parse_labels",
           "format_counts", "check_folder"]

log = logging.getLogger(__name__)

NONFINITE, CLIPPED, FLAT, AMPLITUDE = 1, 2, 4, 8
#: Flag bit -> name, in the order they are reported.
KINDS: dict[int, str] = {NONFINITE: "nonfinite", CLIPPED: "clipped", FLAT: "flat", AMPLITUDE: "amplitude"}
OK = "ok"
POLICIES = ("raise", "flag", "drop")

#: Plausible standard deviation of one window, per channel type, in the unit of the key's
#: suffix: ``(low, high)``. Wide on purpose: they catch unit and gain errors (x1000, x1e6),
#: not artefacts. Sleep-EDF's chin EMG is an envelope of a few µV, so EMG has no floor.
DEFAULT_AMPLITUDE_BOUNDS: dict[str, tuple[float, float]] = {
    "eeg_uv": (0.5, 1000.0),
    "eog_uv": (0.5, 2000.0),
    "emg_uv": (0.0, 1000.0),
    "ecg_mv": (0.005, 10.0),
}
#: Share of a window's samples at a channel limit from which the window counts as clipped.
CLIP_FRACTION = 0.05
#: Peak-to-peak amplitude at or below which a window is flat when the file's step is unknown.
FLAT_FLOOR = {"uV": 1e-3, "mV": 1e-6}
_TO_UV = {"uv": 1.0, "mv": 1e3}
_UNIT_WORD = {"uv": "µV", "mv": "mV"}


def check_bounds_table(bounds: Mapping[str, Sequence[float]] | None, key: str = "data.amplitude_bounds") -> None:
    """Refuse a bounds table whose keys are not ``<type>_uv``/``<type>_mv`` or whose values
    are not ``[low, high]`` with ``0 <= low < high``."""

    for name, val in (bounds or {}).items():
        typ, _, unit = str(name).rpartition("_")
        if not typ or unit not in _TO_UV:
            raise ConfigError(f"{key}.{name}: name a channel type and unit, e.g. eeg_uv, eog_uv, emg_uv or ecg_mv")
        v = list(val)
        if len(v) != 2 or not 0 <= float(v[0]) < float(v[1]):
            raise ConfigError(f"{key}.{name}={v} must be [low, high] standard deviations with 0 <= low < high "
                              f"(in {_UNIT_WORD[unit]})")


def amplitude_bounds_for(channel_type: str, unit: str,
                         bounds: Mapping[str, Sequence[float]] | None = None) -> tuple[float, float] | None:
    """The plausible (low, high) standard deviation of a ``channel_type`` window in ``unit``
    (``uV`` or ``mV``): the table's ``<type>_<unit>`` entry, else its entry in the other
    unit converted; ``bounds`` entries override :data:`DEFAULT_AMPLITUDE_BOUNDS`. ``None``
    when the type has none (``other`` channels are not checked)."""
    table = {**DEFAULT_AMPLITUDE_BOUNDS, **{str(k).lower(): tuple(v) for k, v in (bounds or {}).items()}}
    u = unit.lower()
    t = channel_type.lower()
    if f"{t}_{u}" in table:
        lo, hi = table[f"{t}_{u}"]
        return float(lo), float(hi)
    for other, f in _TO_UV.items():
        if other != u and f"{t}_{other}" in table:
            lo, hi = table[f"{t}_{other}"]
            k = f / _TO_UV[u]
            return float(lo) * k, float(hi) * k
    return None


@dataclass
class Quality:
    """Flags of ``n_windows`` x ``n_channels`` and what they were judged against.

    Attributes
    ----------
    flags : ndarray, uint8, shape (n_windows, n_channels)
        Bit mask per window and channel (:data:`KINDS`).
    std : ndarray, float32, shape (n_windows, n_channels)
        Standard deviation of each window (non-finite samples as 0), in ``unit``.
    bounds : list of (low, high) or None, one per channel
        The plausible standard deviations used.
    names : list of str
        Channel names, for messages.
    unit : str
        ``uV`` or ``mV``.
    """

    flags: np.ndarray
    std: np.ndarray
    bounds: list
    names: list
    unit: str

    @property
    def bad(self) -> np.ndarray:
        """(n_windows,) bool: any channel flagged."""
        return self.flags.any(axis=1)

    def labels(self) -> list[str]:
        """One text per window for the ``quality`` column: ``ok``, or e.g.
        ``flat:EMG submental;clipped:EEG Fpz-Cz,EEG Pz-Oz``."""
        out = []
        for row in self.flags:
            if not row.any():
                out.append(OK)
                continue
            parts = []
            for bit, kind in KINDS.items():
                chans = [n for n, f in zip(self.names, row) if f & bit]
                if chans:
                    parts.append(f"{kind}:{','.join(chans)}")
            out.append(";".join(parts))
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """kind -> channel -> number of windows flagged so (only kinds and channels that occur)."""
        out: dict[str, dict[str, int]] = {}
        for bit, kind in KINDS.items():
            per = {n: int(c) for n, c in zip(self.names, ((self.flags & bit) > 0).sum(axis=0)) if c}
            if per:
                out[kind] = per
        return out

    def describe(self) -> str:
        """The flagged channels per kind, e.g. ``flat: EMG submental (12); amplitude: EEG
        Fpz-Cz (60; std up to 2.1e+07 µV, plausible 0.5-1000 µV)``."""
        word = _UNIT_WORD.get(self.unit.lower(), self.unit)
        parts = []
        for kind, per in self.counts().items():
            items = []
            for name, c in per.items():
                extra = ""
                if kind == "amplitude":
                    j = self.names.index(name)
                    sel = (self.flags[:, j] & AMPLITUDE) > 0
                    lo, hi = self.bounds[j]
                    vals = self.std[sel, j]
                    big = vals > hi
                    what = f"std up to {vals.max():.3g}" if big.any() else f"std down to {vals.min():.3g}"
                    extra = f"; {what} {word}, plausible {lo:g}-{hi:g} {word}"
                items.append(f"{name} ({c}{extra})")
            parts.append(f"{kind}: {', '.join(items)}")
        return "; ".join(parts)


def assess(x: np.ndarray, channel_types: Sequence[str], *, unit: str, names: Sequence[str] | None = None,
           rails: np.ndarray | None = None, step: np.ndarray | None = None,
           bounds: Mapping[str, Sequence[float]] | None = None) -> Quality:
    """Flag each window and channel of ``x``.

    Parameters
    ----------
    x : ndarray, shape (n_windows, n_channels, n_samples)
        Signals in ``unit`` (``uV`` for sleep, ``mV`` for ECG records).
    channel_types : one per channel: ``eeg``, ``eog``, ``emg``, ``ecg`` or ``other``.
    unit : ``uV`` or ``mV``.
    names : channel names for messages (default ``ch0``, ``ch1``, ...).
    rails : ndarray, shape (n_channels, 2), optional
        The channel's recordable (min, max) in ``unit`` (EDF physical range, WFDB ADC range);
        a row of NaN (or ``None`` for all) uses the channel's own extremes over ``x``.
    step : ndarray, shape (n_channels,), optional
        Quantisation step in ``unit``; NaN or ``None`` when unknown.
    bounds : ``data.amplitude_bounds`` (overrides of :data:`DEFAULT_AMPLITUDE_BOUNDS`).

    Returns
    -------
    :class:`Quality`
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be (n_windows, n_channels, n_samples), got shape {x.shape}")
    n, c, _ = x.shape
    names = list(names) if names is not None else [f"ch{i}" for i in range(c)]
    if len(channel_types) != c or len(names) != c:
        raise ValueError(f"{len(channel_types)} channel types and {len(names)} names for {c} channels")
    flags = np.zeros((n, c), np.uint8)
    std = np.zeros((n, c), np.float32)
    if n == 0 or x.shape[2] == 0:
        return Quality(flags, std, [None] * c, names, unit)
    floor = FLAT_FLOOR.get(unit, 1e-3)
    rails = np.full((c, 2), np.nan) if rails is None else np.asarray(rails, dtype=np.float64).reshape(c, 2)
    step = np.full(c, np.nan) if step is None else np.asarray(step, dtype=np.float64).reshape(c)
    band = []
    for j in range(c):  # one channel at a time: temporaries of one channel, not of the night
        xj = x[:, j, :]
        lo_w, hi_w = xj.min(axis=1).astype(np.float64), xj.max(axis=1).astype(np.float64)
        nonfinite = ~(np.isfinite(lo_w) & np.isfinite(hi_w))  # NaN and inf show in the extremes
        if nonfinite.any():
            flags[nonfinite, j] |= NONFINITE
            xj = np.where(np.isfinite(xj), xj, 0)
            lo_w, hi_w = xj.min(axis=1).astype(np.float64), xj.max(axis=1).astype(np.float64)
        std[:, j] = xj.std(axis=1)
        lo, hi = rails[j]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = lo_w.min(), hi_w.max()  # the channel's own extremes
        st = step[j] if np.isfinite(step[j]) and step[j] > 0 else 0.0
        tol = max(1.5 * st, 1e-4 * (hi - lo))
        flat_thr = max(floor, 2.0 * st)
        if hi - lo > flat_thr:  # a channel constant over the whole recording has no limits to sit at
            at = (xj >= hi - tol) | (xj <= lo + tol)
            clipped = at.mean(axis=1) >= CLIP_FRACTION  # necessary; then only those rows are looked at closely
            if clipped.any():
                clipped[clipped] = _stuck_fraction(at[clipped]) >= CLIP_FRACTION
            flags[clipped, j] |= CLIPPED
        else:
            clipped = np.zeros(n, bool)
        flat = ((hi_w - lo_w) <= flat_thr) & ~clipped
        flags[flat, j] |= FLAT
        b = amplitude_bounds_for(channel_types[j], unit, bounds)
        band.append(b)
        if b is not None:
            implausible = ((std[:, j] < b[0]) | (std[:, j] > b[1])) & ~flat & ~clipped
            flags[implausible, j] |= AMPLITUDE
    return Quality(flags, std, band, names, unit)


def parse_labels(labels) -> dict[str, dict[str, int]]:
    """kind -> channel -> count from ``quality`` column texts (:meth:`Quality.labels`)."""
    out: dict[str, dict[str, int]] = {}
    for text in labels:
        text = str(text)
        if not text or text == OK:
            continue
        for part in text.split(";"):
            kind, _, chans = part.partition(":")
            per = out.setdefault(kind, {})
            for ch in filter(None, chans.split(",")):
                per[ch] = per.get(ch, 0) + 1
    return out


def format_counts(counts: Mapping[str, Mapping[str, int]]) -> str:
    """``flat: EMG submental (12); clipped: EEG Fpz-Cz (3)``."""
    return "; ".join(f"{kind}: " + ", ".join(f"{ch} ({n})" for ch, n in per.items()) for kind, per in counts.items())


def check_folder(n_bad: int, n: int, counts: Mapping[str, Mapping[str, int]], *, policy: str,
                 max_bad_fraction: float, source, what: str = "record", examples: Sequence[str] = (),
                 syntax: str = "cli") -> None:
    """The folder-level rule for recordings judged one window each (ECG records): more than
    ``max_bad_fraction`` of them flagged refuses the folder, naming the leads; else one logged
    warning (flagged or dropped records, a few names)."""
    if n_bad == 0:
        return
    detail = format_counts(counts)
    names = f" ({', '.join(examples[:5])}{' ...' if len(examples) > 5 else ''})" if examples else ""
    have = "has" if n_bad == 1 else "have"
    plural = what + ("s" if n != 1 else "")
    if n_bad > max_bad_fraction * n:
        raise InputFileError(source, f"mostly unusable: {n_bad} of {n} {plural} {have} bad signals{names}: {detail}",
                             "check the recordings, their leads and units (a gain off by 1000 shows as "
                             "'amplitude'); to use them anyway, " + setting_text("max_bad_fraction", 1.0, syntax))
    done = "dropped" if policy == "drop" else "kept and flagged in the quality column"
    log.warning("%s: %d of %d %s %s bad signals%s: %s; %s (data.on_bad_signal: %s)", source, n_bad, n, plural,
                have, names, detail, done, policy)


def _stuck_fraction(at: np.ndarray) -> np.ndarray:
    """Per row of ``at`` (n, S) bool: the share of samples in runs of at least 3 consecutive
    True (a signal stuck at a limit; the isolated peak samples of a sine are not)."""
    if at.shape[1] < 3:
        return at.mean(axis=1)
    centre = at[:, 1:-1] & at[:, :-2] & at[:, 2:]
    stuck = np.zeros_like(at)
    stuck[:, 1:-1] |= centre
    stuck[:, :-2] |= centre
    stuck[:, 2:] |= centre
    return stuck.mean(axis=1)


def setting_text(key: str, value, syntax: str = "cli") -> str:
    """How to set ``data.<key>`` in the caller's terms: ``--set data.key=value`` on the
    command line, ``key=value`` as a keyword of :func:`sigvision.stage`."""
    if syntax == "python":
        return f"{key}={value!r}"
    return f"--set data.{key}={value}"


def apply_policy(q: Quality, *, policy: str, max_bad_fraction: float, source, what: str = "epoch",
                 syntax: str = "cli") -> np.ndarray:
    """Apply ``data.on_bad_signal`` to a recording's windows; returns the (n_windows,) mask of
    windows to keep.

    More than ``max_bad_fraction`` of the windows flagged refuses the recording (an
    :class:`~sigvision.errors.InputFileError` naming ``source`` and the channels) whatever
    the policy; otherwise ``raise`` refuses any flagged window, ``flag`` keeps them with a
    logged warning, ``drop`` leaves them out with a logged warning.
    """
    if policy not in POLICIES:
        raise ValueError(f"on_bad_signal={policy!r}; accepted: {', '.join(POLICIES)}")
    bad = q.bad
    n, n_bad = int(bad.size), int(bad.sum())
    if n_bad == 0:
        return np.ones(n, bool)
    detail = q.describe()
    plural = what + ("s" if n != 1 else "")
    have = "has" if n_bad == 1 else "have"
    if n_bad > max_bad_fraction * n:
        raise InputFileError(source, f"mostly unusable: {n_bad} of {n} {plural} {have} bad signals ({detail})",
                             "check the recording, its channels and their units (a wrong unit or gain shows as "
                             "'amplitude'); to use it anyway, " + setting_text("max_bad_fraction", 1.0, syntax))
    if policy == "raise":
        raise InputFileError(source, f"{n_bad} of {n} {plural} {have} bad signals ({detail})",
                             f"check the recording; {setting_text('on_bad_signal', 'flag', syntax)} keeps them, "
                             f"flagged in the quality column, or {setting_text('on_bad_signal', 'drop', syntax)} "
                             "leaves them out")
    if policy == "drop":
        log.warning("%s: %d of %d %s %s bad signals (%s); dropped (data.on_bad_signal: drop)", source, n_bad, n,
                    plural, have, detail)
        return ~bad
    log.warning("%s: %d of %d %s %s bad signals (%s); kept and flagged in the quality column "
                "(data.on_bad_signal: flag)", source, n_bad, n, plural, have, detail)
    return np.ones(n, bool)
