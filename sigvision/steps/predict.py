"""``sigvision predict --run RUN_DIR --input DIR --out FILE``: new recordings through a
trained run (every fold of every blended model, the blend weights, and the ECG thresholds or
the sleep post-processing), written as ``files_post.csv`` (plus, for an ECG run whose config
sets ``postprocess.submission``, the competition's answer file beside it).

``RUN_DIR`` is ``<weights_dir>/<experiment>`` after ``train`` + ``infer`` + ``blend`` (+
``postprocess`` for ECG thresholds). The input folder is prepared with the run's own data and
render settings in a temporary folder (nothing is written next to the input).

Each model predicts with the checkpoint whose predictions the blend weights were fitted on:
the blend report's ``checkpoints`` (else the model config's ``blend.checkpoint``, else
``best``). ``--checkpoint`` overrides it: ``4`` (every model), ``4,1`` (one per blended model,
in the report's order) or ``vit_base_patch16_224=4,tf_efficientnet_b4_ns=1``.

A user's folder is read as it is: any ``.edf``/``.bdf``/``.fif`` is a recording, no
hypnogram is read, and ``--set`` adjusts how files are read (:data:`PREDICT_SETTABLE`:
channel and lead names, aliases, units, file pattern, length and quality policies) without
touching what the models were trained on; ``--eeg C3-M2 --eog E1-M2 --emg Chin`` names the
file's channel for each of the run's channels of that type, in the run's order.

Sleep output: ``record, epoch, onset_s, stage, stage_code``, the hypnodensity ``p_W, p_N1,
p_N2, p_N3, p_REM`` (the blend's calibrated probabilities), ``confidence`` (the probability of
the stage written, after post-processing) and ``quality`` (``ok`` or the epoch's signal flags,
see :mod:`sigvision.quality`). ECG output: ``record``, ``prob_<class>``, ``label_<class>``,
``quality``.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from ..blend import blend_models
from ..config import (
    config_to_dict,
)
from ..config.load import apply_overrides, config_from_dict
from ..ensemble import (
    fold_means,
    fold_members,
    predict_rows_tta,
    read_run,
    run_checkpoints,
    run_members,
)
from ..errors import ConfigError, InputFileError
from ..io.artifacts import write_csv
from ..io.runs import load_prepared
from ..io.submission import write_submission
from ..loaders.psg import (
    DEFAULT_CHANNEL_ALIASES,
    MissingChannelError,
    candidates_of_type,
    channel_type_of,
)
from ..tasks import task_for
from .prepare import prepare_dataset

__all__ = ["predict_folder", "run_predict", "predict_overrides", "PREDICT_SETTABLE"]


#: ``--set`` keys ``predict`` accepts: how new recordings are read (channel and lead names,
#: aliases, units, file names, length and quality policies) and how prediction runs; none
#: changes what the models were trained on (rates, epochs, rendering, models, blending and
#: post-processing are the run's own).
PREDICT_SETTABLE = ("data.channels", "data.channel_aliases", "data.channel_units", "data.leads", "data.file_pattern",
                    "data.on_length_mismatch", "data.on_start_mismatch", "data.on_epoch_mismatch", "data.min_fs_hz",
                    "data.on_low_sampling_rate", "data.on_unknown_label", "data.on_unknown_code", "data.label_map",
                    "data.on_bad_signal",
                    "data.amplitude_bounds", "data.max_bad_fraction", "infer.batch_size", "infer.num_workers",
                    "infer.prefetch_factor", "infer.amp")
_TYPED_OPTIONS = ("eeg", "eog", "emg", "ecg")  # predict --eeg/--eog/--emg/--ecg


def _run_types(d) -> list[str]:
    return list(d.channel_types) or [channel_type_of(c) for c in d.channels]


def predict_overrides(cfg, overrides=(), channel_picks: dict | None = None):
    """``cfg`` (a model's training config) with ``predict``'s ``--set`` overrides and its
    ``--eeg/--eog/--emg/--ecg`` picks applied.

    Only :data:`PREDICT_SETTABLE` keys are accepted; others are refused naming the key.
    ``data.channels`` may rename the run's channels (the file's names, same number and
    types; the types stay the run's); ``data.leads`` likewise for ECG leads.
    ``channel_picks``: type -> the file's channel names for the run's channels of that
    type, in the run's order (YASA's ``eeg_name``/``eog_name``/``emg_name``).
    """

    run_d = cfg.data
    for ov in overrides:
        key = ov.split("=", 1)[0].strip()
        if "=" not in ov:
            raise ConfigError(f"predict --set {ov!r} must look like section.key=value; fix: e.g. "
                              "--set data.on_bad_signal=drop")
        if key == "data.root":
            raise ConfigError(f"predict --set {ov}: the recordings to predict are --input; fix: drop this --set and "
                              "pass --input FOLDER")
        if key == "data.labels_csv":
            raise ConfigError(f"predict --set {ov}: the new records' label table is --labels; fix: pass --labels TABLE")
        if not any(key == k or key.startswith(k + ".") for k in PREDICT_SETTABLE):
            raise ConfigError(f"predict --set {ov}: {key} is fixed by the trained run (its models were trained with "
                              f"it); fix: drop it, or set one of the keys predict accepts: {', '.join(PREDICT_SETTABLE)}")
    if overrides:
        data = apply_overrides(config_to_dict(cfg), list(overrides))  # its errors name the --set already
        try:
            cfg = config_from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"predict --set {' '.join(overrides)}: {exc}") from None
    d = cfg.data
    types = _run_types(run_d)
    if tuple(d.channels) != tuple(run_d.channels):
        if len(d.channels) != len(run_d.channels):
            raise ConfigError(f"predict --set data.channels={list(d.channels)}: the run reads {len(run_d.channels)} "
                              f"channels ({', '.join(run_d.channels)}); fix: give one file channel for each, in that "
                              "order, or use --eeg/--eog/--emg")
        d = replace(d, channel_types=tuple(types))
    if tuple(d.leads) != tuple(run_d.leads) and len(d.leads) != len(run_d.leads):
        raise ConfigError(f"predict --set data.leads={list(d.leads)}: the run reads {len(run_d.leads)} leads "
                          f"({', '.join(run_d.leads)}); fix: give the records' name for each, in that order")
    picks = {t: list(v) for t, v in (channel_picks or {}).items() if v}
    if picks:
        if task_for(run_d).signal_kind != "psg":
            raise ConfigError(f"--{next(iter(picks))} picks PSG channels; this is an ECG run: use --set data.leads=[...]")
        chans = list(d.channels)
        for t, names in picks.items():
            mine = [i for i, ty in enumerate(types) if ty == t]
            want = [run_d.channels[i] for i in mine]
            if len(names) != len(mine):
                raise ConfigError(f"--{t} {','.join(names)}: the run uses {len(mine)} {t.upper()} channel(s)"
                                  + (f" ({', '.join(want)})" if want else "") +
                                  (f"; fix: give {len(mine)}, comma-separated, e.g. --{t} "
                                   f"{','.join(['NAME'] * len(mine))}" if mine else f"; fix: drop --{t}"))
            for i, name in zip(mine, names):
                chans[i] = name
        d = replace(d, channels=tuple(chans), channel_types=tuple(types))
    return replace(cfg, data=d)


def _channel_fix(e, run_d, d) -> str:
    """The fix for a channel the file lacks, in ``predict``'s terms: ``--eeg/--eog/--emg``
    with the file's channels of each type as the suggestion."""

    types = _run_types(run_d)
    missing_types = {types[list(d.channels).index(m)] for m in e.missing if m in d.channels}
    order = [a for aliases in DEFAULT_CHANNEL_ALIASES.values() for a in aliases[:1]]  # the derivations themselves
    parts = []
    for t in _TYPED_OPTIONS:
        n = types.count(t)
        if t not in missing_types or not n:
            continue
        cands = candidates_of_type(e.available, t)
        cands.sort(key=lambda c: (c not in order, order.index(c) if c in order else 0))
        names = (cands + [f"<{t.upper()} channel>"] * n)[:n]
        parts.append(f"--{t} {','.join(names)}")
    runs = ", ".join(f"{c} ({ty})" for c, ty in zip(run_d.channels, types))
    return (f"name the file's channel for each of the run's ({runs}): {' '.join(parts)}" if parts else
            "name the file's channels with --eeg/--eog/--emg") + \
        f", or --set 'data.channel_aliases={{{e.missing[0]}: [<name in the file>]}}'"


def _prepare_new(first, prepared: Path, run_data, labels_csv, progress):
    """Prepare the new recordings (``first``'s data settings, root ``--input``) into
    ``prepared``; errors name ``predict``'s options (``--input``, ``--eeg``...)."""
    new_data = first.data
    if task_for(new_data).signal_kind == "ecg":  # the training table (AIWIN, Hefei) lists other records: only the new ones' own
        if labels_csv is not None and new_data.format not in ("aiwin", "hefei"):
            raise ConfigError(f"--labels reads an AIWIN or Hefei table; this run reads data.format="
                              f"{new_data.format}, whose files carry their own labels, age and sex: drop --labels")
        if labels_csv is not None and not Path(labels_csv).is_file():
            raise InputFileError(labels_csv, "label table not found", "pass the new records' table, or no --labels")
        new_data = replace(new_data, labels_csv=str(labels_csv) if labels_csv else "")
    try:
        return prepare_dataset(replace(first, prepared_dir=str(prepared), data=new_data), prepared,
                               labels_required=False, progress=progress)
    except MissingChannelError as e:
        raise InputFileError(e.path, e.problem, _channel_fix(e, run_data, new_data)) from None
    except InputFileError as e:
        if "data.root" not in e.fix:
            raise
        # the recordings of predict are --input (it refuses --set data.root)
        raise InputFileError(e.path, e.problem, e.fix.replace("set data.root to", "pass --input")
                             .replace("data.root", "--input")) from None


def predict_folder(run_dir: str | os.PathLike, input_dir: str | os.PathLike, out_csv: str | os.PathLike,
                   *, checkpoint=None, device: str = "cpu", labels_csv: str | os.PathLike | None = None,
                   overrides=(), channel_picks: dict | None = None, progress=None) -> Path:
    """Predict every recording in ``input_dir`` with the trained run; returns the CSV path
    (:func:`run_predict` also returns what was flagged)."""
    return run_predict(run_dir, input_dir, out_csv, checkpoint=checkpoint, device=device, labels_csv=labels_csv,
                       overrides=overrides, channel_picks=channel_picks, progress=progress)["csv"]


def run_predict(run_dir: str | os.PathLike, input_dir: str | os.PathLike, out_csv: str | os.PathLike,
                *, checkpoint=None, device: str = "cpu", labels_csv: str | os.PathLike | None = None,
                overrides=(), channel_picks: dict | None = None, progress=None) -> dict:
    """Predict every recording in ``input_dir`` with the trained run.

    ``checkpoint``: None (each model's checkpoint of the blend, see :func:`run_checkpoints`)
    or an override in any form :func:`run_checkpoints` accepts. ``labels_csv``: the new
    records' own table for AIWIN/Hefei folders (e.g. Hefei's test list, whose age and sex
    columns feed models trained with ``model.meta_features``); the training table is never
    used for new records. ``overrides`` / ``channel_picks``: see :func:`predict_overrides`.
    No hypnogram is read (a folder's hypnograms may not fit new recordings). ``progress``:
    ``progress(iterable, total, desc)`` (the CLI passes tqdm).

    Returns
    -------
    dict with ``csv`` (the written path), ``rows``, ``records`` and ``quality`` (the prepare
    summary's flagged/dropped counts).
    """
    import torch


    progress = progress or (lambda it, total=None, desc="": it)
    if not Path(input_dir).is_dir():
        raise InputFileError(input_dir, "folder not found", "pass --input the folder holding the new recordings")
    tr = read_run(run_dir, how="point --run at <weights_dir>/<experiment>")
    run, report, models, weights, trained = tr.path, tr.report, tr.models, tr.weights, tr.configs
    cfgs = {m: replace(predict_overrides(trained[m], overrides, channel_picks), weights_dir=str(run.parent))
            for m in models}
    cfgs = {m: replace(c, data=replace(c.data, root=str(input_dir))) for m, c in cfgs.items()}
    first = next(iter(cfgs.values()))
    run_data = trained[models[0]].data  # the channels the models were trained on, before --set/--eeg
    which = run_checkpoints(report, cfgs, checkpoint)
    dev = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared"
        res = _prepare_new(first, prepared, run_data, labels_csv, progress)
        rows, _ = load_prepared(prepared)
        if "epoch" not in rows:
            rows = rows.assign(epoch=0)
        members = fold_members({m: replace(c, prepared_dir=str(prepared)) for m, c in cfgs.items()}, which,
                               trained=trained)
        # every model and fold must predict the blend's classes, in its order
        results, classes = run_members(
            members, lambda mb, model, mmeta: predict_rows_tta(model, mmeta, mb.cfg, prepared, rows, device=dev),
            device=dev, classes=report.get("classes"), progress=progress, desc="predict")
        means = fold_means(members, results)
        per_model = [means[m] for m in cfgs]
    quality = rows["quality"].astype(str).to_numpy() if "quality" in rows else None
    info = {"rows": int(len(rows)), "records": int(rows["record"].nunique()),
            "quality": res.summary.get("quality", {})}
    task = task_for(first.data)
    probs = blend_models(per_model, weights, method=report["method"], multilabel=task.multilabel,
                         temperature=report.get("temperature"))
    out, extra = task.decide_new(first, run, rows, probs, classes)
    if quality is not None:
        out["quality"] = quality
    written = write_csv(out_csv, out)
    if first.postprocess.submission != "none":  # the run's answer file (AIWIN answer.csv) beside it
        write_submission(first, written)
    return {"csv": written, **info, **extra}
