"""Synthetic nights as files: the signals of :func:`~sigvision.synth.generator.synthesize_night`
written as an EDF+ recording plus its scored hypnogram (Sleep-EDF layout), each file written
atomically."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
import numpy as np
from .edf import write_edf, write_hypnogram_edf
from .montages import (
    DEFAULT_START,
    _check_hypnogram,
)
from .generator import synthesize_night


def _physical_range(x: np.ndarray) -> tuple[float, float]:
    """Symmetric range rounded up to 100 uV (at least +-200 uV), Sleep-EDF-like."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    m = max(200.0, 100.0 * np.ceil(m / 100.0))
    return -m, m


def write_synthetic_night(
    out_dir: str | os.PathLike,
    record_id: str,
    hypnogram,
    *,
    seed: int,
    start: datetime | None = None,
    extra_wake_epochs: int = 0,
    **kw,
) -> tuple[Path, Path]:
    """Synthesise a night and write it as a Sleep-EDF-like EDF pair.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder (created if missing).
    record_id : str
        Record name; files are ``<record_id>-PSG.edf`` and ``<record_id>-Hypnogram.edf``.
    hypnogram : array_like of int, shape (n_epochs,)
        -1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM per 30-s epoch.
    seed : int
        Seed; the same seed and arguments give byte-identical files.
    start : datetime, optional
        Recording start written to both headers; default :data:`DEFAULT_START`.
    extra_wake_epochs : int
        Wake epochs added before and after the hypnogram (so that an edge-trimming step
        has something to trim); they appear in both files.
    **kw
        Passed to :func:`synthesize_night` (``fs_hz``, ``epoch_s``, ``artifacts``,
        ``params``, ``montage``, ``label_noise``).

    Returns
    -------
    (psg_path, hypnogram_path) : tuple of Path
        The PSG file holds the montage's channels (physical dimension ``uV``) plus the
        EDF+ annotation signal, data records of 1 s; the hypnogram is annotation-only
        EDF+ and holds the night's ``scored`` labels (the driving hypnogram unless
        ``label_noise > 0``).
    """
    if not isinstance(record_id, str) or not record_id or any(c in record_id for c in "/\\"):
        raise ValueError(f"record_id must be a non-empty file-name-safe string, got {record_id!r}")
    if (
        isinstance(extra_wake_epochs, bool)
        or not isinstance(extra_wake_epochs, (int, np.integer))
        or extra_wake_epochs < 0
    ):
        raise ValueError(f"extra_wake_epochs must be a non-negative int, got {extra_wake_epochs!r}")
    hyp = _check_hypnogram(hypnogram)
    pad = np.zeros(int(extra_wake_epochs), dtype=np.int64)
    hyp = np.concatenate([pad, hyp, pad])
    start = DEFAULT_START if start is None else start
    night = synthesize_night(hyp, seed=seed, **kw)
    out_dir = Path(out_dir)
    psg_path = out_dir / f"{record_id}-PSG.edf"
    hyp_path = out_dir / f"{record_id}-Hypnogram.edf"
    fs = night.fs_hz
    signals, prefilters = [], []
    hp, lp = night.params["hp_hz"], night.params["lp_hz"]
    for x, typ, ch_fs in zip(night.signals, night.channel_types, night.channel_fs_hz):
        if ch_fs != fs:
            step = int(round(fs / ch_fs))
            signals.append(x[::step].astype(np.float64))
            prefilters.append("HP:16Hz Rectification LP:0.7Hz")
        else:
            signals.append(x.astype(np.float64))
            prefilters.append("HP:10Hz LP:45Hz" if typ == "emg" else
                              f"HP:{hp:.2g}Hz LP:{min(lp, fs / 2):.3g}Hz")
    ranges = [_physical_range(x) for x in signals]
    code = "_".join(record_id.split())
    write_edf(
        psg_path,
        signals,
        night.channel_fs_hz,
        night.channel_names,
        "uV",
        start=start,
        patient_id=f"{code} X X X",
        record_duration_s=1.0 if float(fs).is_integer() else night.epoch_s,
        physical_min=[r[0] for r in ranges],
        physical_max=[r[1] for r in ranges],
        prefilter=prefilters,
        transducer=["Ag-AgCl electrodes"] * len(signals),
    )
    write_hypnogram_edf(hyp_path, night.scored, start=start, epoch_s=night.epoch_s, patient_id=f"{code} X X X")
    return psg_path, hyp_path
