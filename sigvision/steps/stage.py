"""Interoperability: stage a night held in memory, write hypnograms other tools read.

* :func:`stage` — ``sigvision.stage(raw, run_dir=...)``: one night as an ``mne.io.Raw`` (or a
  NumPy array in µV with its sampling rate and channel names) through a trained run: every
  fold of every blended model, the blend weights and temperature, and the run's
  post-processing. Returns one stage code per 30-s epoch from the start of the signal
  (0 W, 1 N1, 2 N2, 3 N3, 4 REM: YASA's coding).
* :func:`load_signals` — the run's channels picked (with aliases) from a Raw or an array, in µV.
* :func:`write_hypnogram_txt` — YASA's plain format: one integer per line (0 W, 1 N1, 2 N2,
  3 N3, 4 REM; -1 artefact/movement, -2 unscored), readable with ``numpy.loadtxt`` and
  ``yasa.Hypnogram.from_integers`` (``yasa.hypno_int_to_str`` before YASA 0.7).
* :func:`write_hypnogram_edfplus` — a Sleep-EDF-style annotation-only EDF+ file
  (``Sleep stage W/1/2/3/R/?``, ``Movement time``), readable with ``mne.read_annotations``
  and by every Sleep-EDF tool.

The night goes through the same code as ``sigvision prepare`` / ``predict`` (µV, polyphase
resampling to ``data.fs_hz``, the run's renderer and amplitude scales, the models' own
normalisation), in a temporary folder that is removed afterwards.
"""
from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..blend import blend_models
from ..config import config_hash, config_to_dict
from ..ensemble import (
    fold_means,
    fold_members,
    predict_rows_tta,
    read_run,
    run_checkpoints,
    run_members,
)
from ..errors import InputFileError
from ..io.artifacts import write_json, write_text
from ..io.runs import CACHE_LAYOUT
from ..loaders.base import STAGES
from ..loaders.edfinfo import read_edf_header, unit_to_uv
from ..loaders.hypnogram import MOVEMENT, UNSCORED, map_stage_label
from ..loaders.psg import _mne_scales, channel_type_of, find_channels, resample_signals
from ..postprocess import smooth
from ..quality import NONFINITE, apply_policy, assess
from ..render import get_renderer, render_night
from ..synth.edf import write_hypnogram_edf
from ..tasks import task_for

__all__ = ["stage", "load_signals", "write_hypnogram_txt", "write_hypnogram_edfplus", "to_stage_codes"]

log = logging.getLogger(__name__)

_RECORD = "night"


# ---------------------------------------------------------------------------- stage codes
def to_stage_codes(stages) -> np.ndarray:
    """Stages (sigvision integer codes 0-4, -1 unscored, -2 movement; or labels such as
    ``W``, ``N1``, ``REM``, ``Sleep stage 2``, ``?``) -> int64 array of sigvision codes."""

    if isinstance(stages, (str, bytes)):
        raise ValueError("stages must be a sequence of stages, one per epoch, not a single string")
    arr = np.asarray(stages, dtype=object).ravel() if not isinstance(stages, np.ndarray) else stages.ravel()
    if arr.size == 0:
        raise ValueError("stages is empty; give one stage per 30-s epoch")
    out = np.empty(arr.size, dtype=np.int64)
    for i, s in enumerate(arr.tolist()):
        if isinstance(s, bool):
            raise ValueError(f"stage {i}: boolean {s!r} is not a sleep stage")
        if isinstance(s, float):
            if not (np.isfinite(s) and float(s).is_integer()):
                raise ValueError(f"stage {i}: {s!r} is not a stage code; accepted: 0-4, -1 unscored, -2 movement")
            s = int(s)
        if isinstance(s, int):
            if s not in (0, 1, 2, 3, 4, UNSCORED, MOVEMENT):
                raise ValueError(f"stage {i}: code {s} is not a stage; accepted: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, "
                                 "-1 unscored, -2 movement")
            out[i] = s
        elif isinstance(s, str):
            out[i] = map_stage_label(s)
        else:
            raise ValueError(f"stage {i}: {s!r} ({type(s).__name__}) is not a sleep stage")
    return out


def write_hypnogram_txt(path: str | os.PathLike, stages) -> Path:
    """Write YASA's integer hypnogram: one line per epoch (0 W, 1 N1, 2 N2, 3 N3, 4 REM;
    sigvision's unscored (-1) is written as YASA's -2 "Uns", movement (-2) as -1 "Art").
    Read back with ``numpy.loadtxt(path, dtype=int)`` or :func:`sigvision.loaders.hypnogram.read_hypnogram`."""

    codes = to_stage_codes(stages)
    yasa = np.where(codes == UNSCORED, -2, np.where(codes == MOVEMENT, -1, codes))
    return write_text(path, "\n".join(str(int(c)) for c in yasa) + "\n")


def write_hypnogram_edfplus(path: str | os.PathLike, stages, start: datetime | None = None, *,
                            epoch_s: float = 30.0) -> Path:
    """Write a Sleep-EDF-style hypnogram (annotation-only EDF+; ``Sleep stage W``, ``1``,
    ``2``, ``3``, ``R``, ``?`` and ``Movement time``, runs of one stage merged).

    ``start`` is the start of the first epoch: give the PSG file's start
    (``raw.info["meas_date"]``) so readers pairing the two files find them aligned.
    """

    codes = to_stage_codes(stages)
    items = ["Movement time" if c == MOVEMENT else int(c) for c in codes]
    if start is not None and not isinstance(start, datetime):
        raise ValueError(f"start must be a datetime (e.g. raw.info['meas_date']), got {type(start).__name__}")
    return write_hypnogram_edf(path, items, start=start, epoch_s=epoch_s)


# ---------------------------------------------------------------------------- signals
def _is_raw(x) -> bool:
    return hasattr(x, "get_data") and hasattr(x, "info") and hasattr(x, "ch_names")


def _expected_types(data_cfg) -> list[str]:
    return list(data_cfg.channel_types) or [channel_type_of(c) for c in data_cfg.channels]


def load_signals(x, data_cfg, *, fs_hz: float | None = None, channels: Sequence[str] | None = None,
                 channel_types: Sequence[str] | None = None, source: str = "input",
                 clean: bool = True) -> tuple[np.ndarray, float]:
    """The run's channels (``data_cfg.channels``, in that order) from ``x``, in µV.

    Parameters
    ----------
    x : ``mne.io.Raw`` (volts, as MNE holds them; converted to µV), or a NumPy array
        ``(n_channels, n_samples)`` already in µV.
    data_cfg : the run's :class:`sigvision.config.DataConfig`.
    fs_hz : sampling rate of an array (required for arrays; for a Raw it must match
        ``raw.info["sfreq"]`` when given).
    channels : arrays: the name of each row (required). Raw: optional, the Raw's channel to
        use for each of the run's channels, in the run's order (else picked by name/alias).
    channel_types : optional, one per entry of ``channels`` (``eeg``, ``eog``, ``emg``, ...);
        each is checked against the type the run was trained with for that channel.
    clean : set NaN/inf samples to 0 (with a logged warning); ``False`` keeps them.

    A Raw read from an EDF whose unit field MNE does not recognise (``UV``, read as volts by
    MNE) is rescaled from its written unit, with a logged warning.

    Returns
    -------
    (float32 array (n_run_channels, n_samples) in µV, sampling rate in Hz)
    """

    wanted = list(data_cfg.channels)
    aliases = dict(data_cfg.channel_aliases) or None
    if channel_types is not None:
        if channels is None:
            raise ValueError("channel_types needs channels: give the channel names they describe, in the same order")
        if len(channel_types) != len(channels):
            raise ValueError(f"channel_types has {len(channel_types)} entries for {len(channels)} channels; "
                             "give one type per channel")
    if _is_raw(x):
        names = list(x.ch_names)
        sfreq = float(x.info["sfreq"])
        if fs_hz is not None and abs(float(fs_hz) - sfreq) > 1e-6:
            raise ValueError(f"fs_hz={fs_hz} but the Raw is sampled at {sfreq:g} Hz; leave fs_hz out for a Raw "
                             "(or resample it with raw.resample first)")
        if channels is not None:
            channels = [str(c) for c in channels]
            if len(channels) != len(wanted):
                raise ValueError(f"channels lists {len(channels)} Raw channel(s) for the run's {len(wanted)} "
                                 f"({', '.join(wanted)}); give one per run channel, in that order")
            missing = [c for c in channels if c not in names]
            if missing:
                raise InputFileError(source, f"channel(s) {', '.join(missing)} not in the Raw (it has "
                                             f"{', '.join(names)})", "pass names from raw.ch_names")
            picks = channels
            given = dict(zip(wanted, channels))
        else:
            picks = find_channels(names, wanted, aliases=aliases, source=source)
            given = {}
        try:
            data = x.get_data(picks=picks, units="uV")
        except (ValueError, TypeError) as exc:
            raise InputFileError(source, f"cannot read {', '.join(picks)} in µV ({exc})",
                                 "set those channels' types to eeg/eog/emg (raw.set_channel_types) so MNE "
                                 "knows they are voltages") from None
        data = np.asarray(data, dtype=np.float32) * _edf_unit_correction(x, picks, source)[:, None]
        fs = sfreq
    else:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"cannot use a {type(x).__name__} as signals; give an mne.io.Raw or a numeric "
                             "array (n_channels, n_samples) in µV") from None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(f"the array has shape {arr.shape}; give (n_channels, n_samples) in µV")
        if fs_hz is None or not np.isfinite(float(fs_hz)) or float(fs_hz) <= 0:
            raise ValueError("an array needs its sampling rate: pass fs_hz=<Hz> (e.g. fs_hz=100)")
        if channels is None:
            raise ValueError(f"an array needs the name of each row: pass channels=[...] (the run uses "
                             f"{', '.join(wanted)})")
        channels = [str(c) for c in channels]
        if len(channels) != arr.shape[0]:
            if arr.shape[0] > arr.shape[1] and len(channels) == arr.shape[1]:
                raise ValueError(f"the array has shape {arr.shape}: channels run along the columns; "
                                 "pass the transpose (n_channels, n_samples)")
            raise ValueError(f"channels names {len(channels)} row(s) but the array has {arr.shape[0]}")
        picks = find_channels(channels, wanted, aliases=aliases, source=source)
        rows = [channels.index(p) for p in picks]
        data = arr[rows].astype(np.float32)
        given = dict(zip(wanted, picks))
        fs = float(fs_hz)
        finite = np.abs(data[np.isfinite(data)])
        if finite.size and 0 < np.percentile(finite, 99) < 0.01:
            raise ValueError("the signals are smaller than 0.01 µV: they look like volts; multiply by 1e6 "
                             "(sigvision expects µV for arrays)")
    if channel_types is not None:
        types_of = dict(zip([str(c) for c in channels], [str(t).lower() for t in channel_types]))
        for run_ch, typ in zip(wanted, _expected_types(data_cfg)):
            mine = types_of.get(given.get(run_ch, ""))
            if mine is not None and mine != typ:
                raise ValueError(f"channel {given[run_ch]!r} is given as {mine} but the run uses it as "
                                 f"{run_ch} ({typ}); pass the right channel for {run_ch}")
    if data.shape[1] == 0:
        raise ValueError("the signal holds no samples")
    if clean:
        bad = ~np.isfinite(data)
        if bad.any():
            log.warning("%s: %d NaN/inf sample(s) set to 0", source, int(bad.sum()))
            data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return data, fs


def _edf_unit_correction(raw, picks, source) -> np.ndarray:
    """Per picked channel, the factor that corrects MNE's scale of an EDF-read Raw whose unit
    field MNE does not recognise (``UV`` is read as volts): 1 where MNE read it right."""
    out = np.ones(len(picks), dtype=np.float32)
    written = dict(getattr(raw, "_orig_units", None) or {})  # MNE rewrites some spellings ('UV' -> 'µV')
    files = getattr(raw, "filenames", None) or ()
    if written and files and files[0] and str(files[0]).lower().endswith((".edf", ".bdf")):
        try:
            sigs = read_edf_header(files[0]).data_signals
            if len(sigs) == len(raw.ch_names):
                written = {ch: s.unit for ch, s in zip(raw.ch_names, sigs)}
        except (InputFileError, OSError):
            pass
    applied = _mne_scales(raw) if written else {}
    for k, ch in enumerate(picks):
        to_uv = unit_to_uv(written.get(ch))
        if to_uv is None or ch not in applied:
            continue
        f = to_uv / (applied[ch] * 1e6)
        if abs(f - 1.0) > 1e-9:
            log.warning("%s: channel %r has EDF unit %r, which MNE read as %g V per unit; rescaled to %g µV per "
                        "unit", source, ch, written[ch], applied[ch], to_uv)
            out[k] = f
    return out


# ---------------------------------------------------------------------------- run
def _prepare_night(cfg, epochs: np.ndarray, folder: Path) -> Path:
    """A minimal prepared folder (signals, render cache, prepare.json) for one night."""

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "signals").mkdir(exist_ok=True)
    np.save(folder / "signals" / f"{_RECORD}.npy", epochs)
    cache = Path("cache") / config_hash(cfg, ("data", "render"))
    (folder / cache).mkdir(parents=True, exist_ok=True)
    renderer = get_renderer(cfg.render, fs_hz=cfg.data.fs_hz)
    mm = np.lib.format.open_memmap(folder / cache / f"{_RECORD}.npy", mode="w+", dtype=np.uint8,
                                   shape=(epochs.shape[0], 3, renderer.height, renderer.width))
    render_night(renderer, epochs, _expected_types(cfg.data), batch_size=cfg.prepare.batch_size, out=mm,
                 planar=True)
    mm.flush()
    del mm
    write_json(folder / "prepare.json", {"config": config_to_dict(cfg), "cache_dir": str(cache),
                                         "cache_layout": CACHE_LAYOUT,
                                         "config_hash": config_hash(cfg, ("data", "render"))})
    return folder


def _night_quality(data: np.ndarray, fs: float, d, names: Sequence[str], n_epochs: int, *,
                   bounds=None):
    """(epochs (n_epochs, C, S) µV at ``d.fs_hz`` with NaN set to 0, their :class:`Quality`)
    from ``data`` (C, n) µV at ``fs`` Hz, which may hold NaN."""

    n_raw = int(round(d.epoch_s * fs))
    finite = np.isfinite(data[:, :n_epochs * n_raw])
    nonfinite = ~finite.reshape(data.shape[0], n_epochs, n_raw).all(axis=2).T  # (n_epochs, C)
    if nonfinite.any():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    data = resample_signals(data, fs, d.fs_hz).astype(np.float32, copy=False)
    n_per = int(round(d.epoch_s * d.fs_hz))
    epochs = np.ascontiguousarray(data[:, :n_epochs * n_per].reshape(data.shape[0], n_epochs, n_per)
                                  .transpose(1, 0, 2))
    q = assess(epochs, _expected_types(d), unit="uV", names=list(names), bounds=bounds)
    q.flags[nonfinite] |= NONFINITE
    return epochs, q


def stage(raw_or_array, *, run_dir: str | os.PathLike, fs_hz: float | None = None,
          channels: Sequence[str] | None = None, channel_types: Sequence[str] | None = None,
          checkpoint=None, device: str = "cpu", return_probs: bool = False, return_quality: bool = False,
          on_bad_signal: str | None = None, max_bad_fraction: float | None = None,
          amplitude_bounds: dict | None = None):
    """Sleep stages of one night with a trained run (``sigvision.stage(raw, run_dir=...)``).

    Parameters
    ----------
    raw_or_array : ``mne.io.Raw`` (channels picked by name with the run's aliases, volts ->
        µV), or a NumPy array ``(n_channels, n_samples)`` in µV with ``fs_hz`` and ``channels``.
    run_dir : ``<weights_dir>/<experiment>`` after train -> infer -> blend.
    fs_hz, channels, channel_types : see :func:`load_signals`.
    checkpoint : None (each model's checkpoint of the run's blend), or ``best``, ``last`` or an
        epoch number for every model, a list (one per blended model) or a mapping model ->
        checkpoint (see :func:`sigvision.ensemble.run_checkpoints`).
    device : ``cpu`` or ``cuda``.
    return_probs : also return the blended (calibrated) probabilities before post-processing.
    return_quality : also return one signal-quality text per epoch (``ok`` or the flags, as
        the ``quality`` column of ``sigvision predict``).
    on_bad_signal, max_bad_fraction, amplitude_bounds : the signal-quality settings
        (default: the run's ``data.*``; see :mod:`sigvision.quality`). Epochs with a flat,
        clipped, non-finite or implausibly scaled channel are staged and flagged (``flag``,
        a logged warning), staged as unscored ``-1`` (``drop``: the output stays one value per
        epoch) or refused (``raise``); a night with more than ``max_bad_fraction`` of its
        epochs flagged is refused, naming the channels.

    Returns
    -------
    numpy.ndarray of int64, shape (n_epochs,)
        Stage per 30-s epoch from the first sample (0 W, 1 N1, 2 N2, 3 N3, 4 REM); a final
        partial epoch is dropped. With ``return_probs``: ``(stages, probs (n_epochs, 5))``;
        with ``return_quality`` the list of quality texts comes last.
    """
    import torch

    tr = read_run(run_dir, how="pass run_dir=<weights_dir>/<experiment> of a trained run")
    run, report = tr.path, tr.report
    models = [(m, w, tr.configs[m]) for m, w in zip(tr.models, tr.weights)]
    which = run_checkpoints(report, tr.configs, checkpoint)
    first = models[0][2]
    if task_for(first.data).signal_kind != "psg":
        raise ValueError(f"{run} is an ECG run; stage() stages sleep. Use sigvision.steps.predict.predict_folder for ECG")
    if first.data.format == "image_folder":
        raise ValueError(f"{run} was trained on image folders, not signals; stage() needs a signal-trained run")
    source = getattr(raw_or_array, "filenames", None)
    source = str(source[0]) if source and source[0] else ("mne Raw" if _is_raw(raw_or_array) else "array")
    data, fs = load_signals(raw_or_array, first.data, fs_hz=fs_hz, channels=channels, channel_types=channel_types,
                            source=source, clean=False)
    d = first.data
    n_epochs = int(data.shape[1] // round(d.epoch_s * fs))
    if n_epochs == 0:
        raise ValueError(f"the signal lasts {data.shape[1] / fs:.1f} s, shorter than one {d.epoch_s:g}-s epoch")
    policy = on_bad_signal if on_bad_signal is not None else d.on_bad_signal
    epochs, q = _night_quality(data, fs, d, d.channels, n_epochs,
                               bounds=amplitude_bounds if amplitude_bounds is not None else d.amplitude_bounds)
    del data
    keep = apply_policy(q, policy=policy, source=source, syntax="python",
                        max_bad_fraction=max_bad_fraction if max_bad_fraction is not None else d.max_bad_fraction)
    rows = pd.DataFrame({"record": [_RECORD] * n_epochs, "epoch": np.arange(n_epochs)})
    dev = torch.device(device)
    cfgs = {name: cfg for name, _, cfg in models}
    with tempfile.TemporaryDirectory(prefix="sigvision_stage_") as tmp:
        prepared: dict[str, Path] = {}  # one prepared night per data/render setting
        for cfg in cfgs.values():
            h = config_hash(cfg, ("data", "render"))
            if h not in prepared:
                prepared[h] = _prepare_night(cfg, epochs, Path(tmp) / h)
        members = fold_members(cfgs, which)
        results, classes = run_members(
            members, lambda mb, model, mmeta: predict_rows_tta(
                model, mmeta, mb.cfg, prepared[config_hash(mb.cfg, ("data", "render"))], rows, device=dev),
            device=dev, desc="stage")
    if list(classes) != list(STAGES):
        raise ValueError(f"{run}: the models predict {classes}, not the sleep stages {list(STAGES)}")
    means = fold_means(members, results)
    probs = blend_models([means[name] for name in cfgs], [w for _, w, _ in models], method=report["method"],
                         multilabel=False, temperature=report.get("temperature"))
    stages = np.full(n_epochs, -1, dtype=np.int64)  # drop: unscored, so the output stays one value per epoch
    if keep.any():
        stages[keep] = smooth(probs[keep], method=first.postprocess.method, **dict(first.postprocess.options))
    out = (stages, probs) if return_probs else (stages,)
    if return_quality:
        out += (q.labels(),)
    return out if len(out) > 1 else out[0]
