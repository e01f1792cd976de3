"""Writing WFDB records (header + MATLAB v4 ``.mat``, the CinC 2021 layout): the sample ECG
data and tests write records that every WFDB reader reads back."""
from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from sigvision.io.artifacts import write_bytes, write_text


def _fmt_number(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def write_wfdb_mat_record(
    path_stem: str | Path,
    signals_mv: np.ndarray,
    fs_hz: float,
    lead_names: Sequence[str],
    *,
    age: float | None = None,
    sex: str | None = None,
    dx: Sequence[str] = (),
    gain: float = 1000.0,
) -> Path:
    """Write a record in the CinC Challenge layout: ``<stem>.hea`` + MATLAB v4 ``<stem>.mat``.

    Parameters
    ----------
    path_stem : str or Path
        Output path without extension (a ``.hea``/``.mat`` suffix is dropped); its name is
        the record name.
    signals_mv : ndarray, shape (n_leads, n_samples)
        Voltages in mV.
    fs_hz : float
        Sampling rate in Hz.
    lead_names : sequence of str
        One name per row of ``signals_mv``.
    age : float, optional
        Years; written as ``Unknown`` when ``None``.
    sex : {"M", "F", "Male", "Female"}, optional
        Written as ``Male``/``Female``, ``Unknown`` when ``None``.
    dx : sequence of str
        Diagnosis codes for the ``# Dx:`` line (``Unknown`` when empty).
    gain : float, default 1000.0
        ADC units per mV. The digital values ``round(signals_mv * gain)`` must fit in int16
        (±32.767 mV at the default gain).

    Returns
    -------
    Path
        The ``.hea`` file. The ``.mat`` holds one int16 variable ``val`` of shape
        ``(n_leads, n_samples)`` after a 24-byte MAT v4 header, matching the header's
        ``16x1+24`` format (readable by :func:`scipy.io.loadmat`, :func:`wfdb.rdrecord` and
        :func:`read_wfdb_record`). Each file is written atomically, the ``.mat`` first.
    """
    x = np.asarray(signals_mv, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"signals_mv must have shape (n_leads, n_samples), got {x.shape}")
    n_leads, n_samples = x.shape
    names = [str(n) for n in lead_names]
    if len(names) != n_leads:
        raise ValueError(f"{len(names)} lead names for {n_leads} leads")
    if any(not n.strip() or "\n" in n or "\r" in n for n in names):
        raise ValueError(f"lead names must be non-empty single-line strings, got {names}")
    if not (float(fs_hz) > 0 and math.isfinite(float(fs_hz))):
        raise ValueError(f"fs_hz must be positive, got {fs_hz}")
    if not (float(gain) > 0 and math.isfinite(float(gain))):
        raise ValueError(f"gain must be positive, got {gain}")
    if not np.isfinite(x).all():
        raise ValueError("signals_mv contains NaN or inf")
    adc = np.round(x * float(gain))
    limit = 32767
    if np.abs(adc).max() > limit:
        raise ValueError(
            f"signals reach {np.abs(x).max():.3f} mV; at gain {gain:g} adu/mV int16 holds at most "
            f"{limit / float(gain):.3f} mV (and -32768 is WFDB's missing-sample marker); lower the gain"
        )
    adc = adc.astype("<i2")
    codes = [str(c).strip() for c in dx]
    if any(not c or "," in c or "\n" in c for c in codes):
        raise ValueError(f"dx codes must be non-empty and contain no commas/newlines, got {codes}")
    if sex is None:
        sex_txt = "Unknown"
    else:
        sex_map = {"m": "Male", "male": "Male", "f": "Female", "female": "Female"}
        if str(sex).strip().lower() not in sex_map:
            raise ValueError(f"sex must be 'M', 'F', 'Male', 'Female' or None, got {sex!r}")
        sex_txt = sex_map[str(sex).strip().lower()]
    if age is None:
        age_txt = "Unknown"
    else:
        if not math.isfinite(float(age)) or float(age) < 0:
            raise ValueError(f"age must be a non-negative number or None, got {age!r}")
        age_txt = _fmt_number(age)

    stem = Path(path_stem)
    if stem.suffix.lower() in (".hea", ".mat"):
        stem = stem.with_suffix("")
    name = stem.name
    if not name or any(ch.isspace() for ch in name):
        raise ValueError(f"record name {name!r} must be non-empty without spaces")
    mat_path = stem.with_name(name + ".mat")
    hea_path = stem.with_name(name + ".hea")

    # MATLAB v4 matrix: 5 little-endian int32 (type 30 = little-endian int16 full matrix,
    # rows, cols, imaginary flag, name length incl. NUL) + b"val\0" = 24 bytes, then the
    # data in column-major order (sample by sample, all leads) = WFDB format 16 interleaving.
    mat_header = struct.pack("<5i", 30, n_leads, n_samples, 0, 4) + b"val\x00"
    write_bytes(mat_path, mat_header + np.ascontiguousarray(adc.T).tobytes())

    sums = adc.astype(np.int64).sum(axis=1) % 65536
    checksums = np.where(sums > 32767, sums - 65536, sums)
    lines = [f"{name} {n_leads} {_fmt_number(fs_hz)} {n_samples}"]
    for i, lead in enumerate(names):
        lines.append(
            f"{name}.mat 16x1+24 {float(gain)!r}(0)/mV 16 0 {int(adc[i, 0])} {int(checksums[i])} 0 {lead}"
        )
    lines += [
        f"# Age: {age_txt}",
        f"# Sex: {sex_txt}",
        f"# Dx: {','.join(codes) if codes else 'Unknown'}",
        "# Rx: Unknown",
        "# Hx: Unknown",
        "# Sx: Unknown",
    ]
    write_text(hea_path, "\n".join(lines) + "\n")
    return hea_path
