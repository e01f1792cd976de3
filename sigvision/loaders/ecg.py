"""12-lead ECG files: what every reader shares (the standard lead order, lead-name matching,
resampling and length fixing) and where each format is read.

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
  :mod:`sigvision.loaders.wfdb` (:func:`read_wfdb_record`, :func:`iter_wfdb_folder`,
  :func:`load_wfdb_folder`) and :mod:`sigvision.loaders.wfdb_header`; writing:
  :func:`sigvision.synth.wfdb.write_wfdb_mat_record`.
* **AIWIN 2021** ECG task (http://ailab.aiwin.org.cn/competitions/64): one ``.mat`` file per
  record holding a 12 x N matrix (variable ``ecgdata`` in the public solutions; 500 Hz,
  10 s, mV) plus a label CSV ``name,label[,label...]``. See :mod:`sigvision.loaders.aiwin`.
* **Hefei** (Tianchi "合肥高新杯" 2019 ECG contest): one text file per record, a header line
  ``I II V1 V2 V3 V4 V5 V6`` and one row of 8 integers per sample (500 Hz); the four other
  limb leads are derived. Labels, age and sex come from a separate table
  (``<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...``). See
  :mod:`sigvision.loaders.hefei`.

Here: :data:`STANDARD_LEADS`, :func:`match_leads`, :func:`resample_ecg`, :func:`fix_length`.
"""
from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from sigvision.errors import InputFileError

__all__ = ["STANDARD_LEADS", "HEFEI_LEADS", "LEAD_ALIASES", "sample_cinc2021_dir", "match_leads", "resample_ecg",
           "fix_length"]

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
