"""Containers returned by every loader.

Layout is channels first everywhere: ``signals`` has shape ``(n_channels, n_samples)``.
Units are explicit: sleep signals are in microvolts (``uV``), ECG signals in millivolts
(``mV``); the ``units`` field says which.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["STAGES", "STAGE_TO_INT", "SleepNight", "ECGRecord"]

#: Canonical sleep-stage order used by every array and file in sigvision.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
STAGE_TO_INT: dict[str, int] = {s: i for i, s in enumerate(STAGES)}


@dataclass
class SleepNight:
    """One night of PSG cut into 30-s epochs aligned to its hypnogram.

    Attributes
    ----------
    record_id, subject_id : str
        Night and subject identifiers (folds are assigned by subject).
    epochs : ndarray, float32, shape (n_epochs, n_channels, n_samples_per_epoch)
        Signals per epoch in ``units`` (microvolts for EEG/EOG/EMG).
    labels : ndarray, int64, shape (n_epochs,)
        Stage per epoch as an index into :data:`STAGES`; ``-1`` where the night has no
        usable label (only when loaded without a hypnogram).
    onsets_s : ndarray, float64, shape (n_epochs,)
        Onset of each epoch in seconds from the start of the signal file.
    fs_hz : float
        Sampling rate of ``epochs``.
    channel_names, channel_types : list of str
        One name and one type (``eeg``, ``eog``, ``emg``, ``ecg``, ``other``) per channel.
    epoch_s : float
        Epoch length in seconds (30 by default).
    summary : dict
        Counts of what the loader excluded (movement, unscored, trimmed wake, ...).
    quality : list of str
        One per epoch: ``ok``, or the signal-quality flags (``flat:EMG submental;...``, see
        :mod:`sigvision.quality`); empty when not assessed.
    """

    record_id: str
    subject_id: str
    epochs: np.ndarray
    labels: np.ndarray
    onsets_s: np.ndarray
    fs_hz: float
    channel_names: list[str]
    channel_types: list[str]
    epoch_s: float = 30.0
    units: str = "uV"
    source: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    quality: list[str] = field(default_factory=list)

    @property
    def n_epochs(self) -> int:
        return int(self.epochs.shape[0])


@dataclass
class ECGRecord:
    """One 12-lead (or other) ECG recording.

    Attributes
    ----------
    record_id, subject_id : str
        Record identifier and patient identifier (the record id when unknown).
    signals : ndarray, float32, shape (n_leads, n_samples)
        Voltages in millivolts.
    fs_hz : float
        Sampling rate.
    lead_names : list of str
        Lead per row of ``signals`` (``I, II, III, aVR, aVL, aVF, V1..V6`` order when 12).
    age : float or None
        Age in years; ``None`` when missing or unknown.
    sex : str or None
        ``"M"``, ``"F"`` or ``None`` when missing or unknown.
    labels : list of str
        Diagnosis codes (SNOMED CT codes as strings for CinC data, else label names).
    source : str
        Path of the file the record came from.
    """

    record_id: str
    signals: np.ndarray
    fs_hz: float
    lead_names: list[str]
    labels: list[str] = field(default_factory=list)
    age: float | None = None
    sex: str | None = None
    subject_id: str = ""
    source: str = ""
    units: str = "mV"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.subject_id:
            self.subject_id = self.record_id
