"""Sim-to-real transfer: train on synthetic nights only, stage real scored recordings.

What it does
------------
1. Reads a folder of real recordings, EDF/EDF+ files named ``<record>-PSG.edf`` each with
   its hypnogram (``<record>-Hypnogram.edf`` or ``.txt/.csv/.json``, or a Sleep-EDF-style
   name differing in the last character), any channel names.
2. Picks the slots every real recording has among ``EEG``, ``EOG`` and ``EMG`` of
   ``configs/sleep_sim2real.yaml``: each slot takes the first of its aliases found in a file
   (central EEG first, then frontal, then Sleep-EDF's bipolar leads). ``--alias
   SLOT=NAME[,NAME...]`` puts your own channel names first; ``--channels EEG`` forces
   the slots.
3. Synthesises ``--nights`` training nights from the real human hypnograms shipped with
   sigvision (Sleep-EDF, Dreem DOD-H/DOD-O), with a random montage per night and
   human-scorer label noise (domain randomisation, :mod:`sigvision.synth.generator`),
   and trains the config's model on them (k folds, the folds' models averaged). No real
   recording is used for training, tuning or early stopping (the folds' validation nights
   are synthetic).
4. Stages every real recording with the trained models; with sigvision's classical feature
   stager (:mod:`sigvision.baselines.sleep`: EEG amplitude, Hjorth, entropy, relative
   band-power, slow-wave and spindle features, a random forest) fitted on ``--feature-nights``
   synthetic nights (default 200, drawn like the image model's; fitting it costs seconds, and
   it transferred better with more nights), also without any real recording; and, as the
   reference, with YASA's bundled classifier (``yasa.SleepStaging`` on the same EEG, plus
   EOG/EMG when present).
5. Prints per recording: scored epochs, stages present, Cohen's kappa and accuracy of each
   stager (``ours``, ``feat``, ``yasa``), and the kappa of each post-processing method
   (argmax, mode, rules, hmm, hmm_robust) applied to each stager's probabilities; then pooled
   over all recordings.
   A recording scored with a single stage has no defined kappa: it prints ``n/a`` and the
   accuracy, and says so.

The last line is one JSON object (``kappa_pooled``, ``features_kappa_pooled``,
``yasa_kappa_pooled``, the same per record, and ``flags``: the ``WARNING`` lines printed when a
stager predicts one stage for every epoch or finds none of a stage's five or more true epochs).

Usage::

    python benchmarks/sim_to_real.py                       # the real Sleep-EDF excerpt shipped in tests/data
    python benchmarks/sim_to_real.py --real /data/my_psg   # your scored recordings
    python benchmarks/sim_to_real.py --real DIR --alias EEG="EEG C3-Ref" --alias EMG=Chin_L
    python benchmarks/sim_to_real.py --convert-dreams DatabaseSpindles/ OUT/   # see below
    python benchmarks/sim_to_real.py --real DIR --set render.night_norm=amplitude   # per-night gain
    python benchmarks/sim_to_real.py --real DIR --montage matched --randomize wide --epochs-per-night 60-300

Transfer options (all off by default; what each measured on DREAMS is in the README's
*Sim-to-real*): ``render.night_norm`` (a config field, so training and the real files are
rendered alike), ``--montage matched`` (synthetic EEG leads from the real leads' scalp
region), ``--randomize wide`` (wider per-night parameters than the generator's defaults),
``--epochs-per-night MIN-MAX`` (training recordings of random length), ``--set
render.spec_fmin_hz=1.0`` (leave the spectrogram's 0-0.5 Hz bins out: they carry the
recording system's high-pass filter), ``--adapt-bn pooled|record`` (AdaBN: a BatchNorm
model's normalisation statistics re-estimated on the real epochs, label-free; e.g. with
``--set model.name=test_efficientnet``). With ``--keep WORK``, ``WORK/real_probs.npz`` holds
every stager's probabilities (``probs``, ``features_probs``, ``yasa_probs``) for ``benchmarks/sim2real_postprocess_grid.py``.

``--convert-dreams SRC OUT`` writes the DREAMS Sleep Spindles database (Devuyst et al.,
University of Mons; ``excerptN.txt`` one central EEG lead, 50-200 Hz, 30 min, and
``Hypnogram_excerptN.txt`` R&K stages per 5 s: 5 W, 4 REM, 3 S1, 2 S2, 1 S3, 0 S4) into
``OUT/DREAMS_excerptN-PSG.edf`` + ``-Hypnogram.edf`` (30-s epochs by majority of the six
5-s labels), so that ``--real OUT`` stages it. DREAMS is CC BY-NC-ND: sigvision does not
ship it; get it from its authors.

Needs the benchmark extras for the YASA reference (``pip install -r
requirements-bench.txt``); ``--no-yasa`` runs without. Takes about 10 minutes on 2 CPU
cores with the defaults (synthesis, prepare, training; the feature stager's 200 nights about
4 of them; ``--feature-nights 40`` fits it on the image model's nights instead).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

# one thread: on a shared 2-core machine two torch threads can be 50x slower than one
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_REAL = REPO / "tests" / "data" / "psg_real"
DEFAULT_CONFIG = REPO / "configs" / "sleep_sim2real.yaml"
SLOTS = ("EEG", "EOG", "EMG")
METHODS = ("argmax", "mode", "rules", "hmm", "hmm_robust")
STAGE_CHARS = {"WAKE": 0, "W": 0, "N1": 1, "N2": 2, "N3": 3, "REM": 4, "R": 4}


# --------------------------------------------------------------------------- DREAMS
_DREAMS_RK = {5: 0, 4: 4, 3: 1, 2: 2, 1: 3, 0: 3}  # R&K code -> sigvision stage


def dreams_epochs(codes_5s: np.ndarray, per_epoch: int = 6) -> np.ndarray:
    """DREAMS 5-s R&K codes -> 30-s stages by majority (ties: the earlier label; -1 when
    no 5-s label of the epoch is a stage)."""
    st = np.array([_DREAMS_RK.get(int(c), -1) for c in codes_5s])
    out = []
    for e in range(st.size // per_epoch):
        seg = st[e * per_epoch:(e + 1) * per_epoch]
        seg = seg[seg >= 0]
        if seg.size == 0:
            out.append(-1)
            continue
        counts = np.bincount(seg, minlength=5)
        best = np.flatnonzero(counts == counts.max())
        out.append(int(next(s for s in seg if s in best)))
    return np.asarray(out, dtype=np.int64)


def convert_dreams(src: Path, out: Path) -> list[Path]:
    """Write DREAMS Sleep Spindles excerpts as EDF + hypnogram pairs (see module doc)."""
    from sigvision.synth.edf import write_edf, write_hypnogram_edf
    from sigvision.synth.montages import DEFAULT_START

    src, out = Path(src), Path(out)
    files = sorted(src.glob("excerpt*.txt"), key=lambda p: int("".join(c for c in p.stem if c.isdigit()) or 0))
    if not files:
        raise SystemExit(f"{src}: no excerptN.txt files (the DREAMS Sleep Spindles text files)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in files:
        n = "".join(c for c in f.stem if c.isdigit())
        hyp_file = src / f"Hypnogram_excerpt{n}.txt"
        if not hyp_file.is_file():
            print(f"skip {f.name}: no {hyp_file.name}")
            continue
        with open(f) as fh:
            channel = fh.readline().strip().strip("[]") or "EEG"
        x = np.loadtxt(f, skiprows=1)
        codes = np.loadtxt(hyp_file, skiprows=1)
        fs = int(round(x.size / (codes.size * 5.0)))
        if fs <= 0 or abs(x.size - fs * codes.size * 5) > fs * 5:  # more than one 5-s label off
            raise SystemExit(f"{f.name}: {x.size} samples do not fit {codes.size} 5-s labels")
        stages = dreams_epochs(codes)
        x = x[: stages.size * 30 * fs]
        psg = out / f"DREAMS_excerpt{n}-PSG.edf"
        write_edf(psg, x[None, :], fs, [channel.upper()], "uV", start=DEFAULT_START,
                  patient_id=f"DREAMS_excerpt{n} X X X")
        write_hypnogram_edf(out / f"DREAMS_excerpt{n}-Hypnogram.edf", stages, start=DEFAULT_START)
        written.append(psg)
        print(f"wrote {psg.name}: {channel}, {fs} Hz, {stages.size} epochs, stages "
              + "/".join(str(int(np.sum(stages == k))) for k in range(5)) + " (W/N1/N2/N3/R)")
    return written


# --------------------------------------------------------------------------- helpers
def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def resolve_slot(available: list[str], aliases: list[str]) -> str | None:
    """The file's channel name for a slot: the first alias present, or None."""
    by_key = {}
    for ch in available:
        by_key.setdefault(_key(ch), ch)
    return next((by_key[_key(a)] for a in aliases if _key(a) in by_key), None)


def kappa_or_none(truth: np.ndarray, pred: np.ndarray) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if truth.size == 0 or np.unique(truth).size < 2:
        return None
    return float(cohen_kappa_score(truth, pred, labels=list(range(5))))


def _fmt(k: float | None) -> str:
    return "   n/a" if k is None else f"{k:6.3f}"


def postprocess_all(probs: np.ndarray) -> dict[str, np.ndarray]:
    from sigvision.postprocess import smooth

    return {m: smooth(probs, method=m) for m in METHODS}


def yasa_probs(psg: Path, names: dict[str, str | None]) -> tuple[np.ndarray, float]:
    """YASA's per-epoch probabilities (n_epochs_from_file_start, 5) in W, N1, N2, N3, REM order."""
    import mne
    import yasa

    raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
    keep = [c for c in names.values() if c]
    raw.pick(keep)
    if raw.info["sfreq"] != 100:  # YASA needs >= 80 Hz: a 50-Hz recording is upsampled (nothing above 25 Hz)
        raw.resample(100, verbose="error")
    sls = yasa.SleepStaging(raw, eeg_name=names["EEG"], eog_name=names.get("EOG"), emg_name=names.get("EMG"))
    hyp = sls.predict()
    # yasa >= 0.7: a yasa.Hypnogram carrying .proba (columns WAKE/N1/N2/N3/REM); older: predict_proba()
    proba = hyp.proba if getattr(hyp, "proba", None) is not None else sls.predict_proba()
    cols = {STAGE_CHARS[str(c).upper()]: c for c in proba.columns}
    order = [cols[k] for k in range(5)]
    p = proba[order].to_numpy(dtype=np.float64)
    return p / p.sum(1, keepdims=True), float(sls.sf)


# --------------------------------------------------------------------------- training
#: ``--randomize wide``: per-night parameters drawn more widely than the generator's own
#: :func:`sigvision.synth.montages.draw_night_params` (its defaults, which the realism
#: benchmark measures, are unchanged): name -> (kind, a, b), lognormal(log a, b) multipliers
#: "ln", normal(a, b) "n", log-uniform between a and b "lu", uniform "u". Recording setups
#: differ in amplifier gain, spectral tilt, rhythm strength, filters and noise.
WIDE_RANDOMIZATION = {
    "gain_eeg": ("ln", 1.0, 0.5),       # default lognormal(0, 0.25)
    "bg_slope": ("n", 0.0, 0.35),       # default normal(0, 0.15)
    "theta_gain": ("ln", 1.0, 0.45),    # default lognormal(0, 0.2)
    "alpha_gain": ("ln", 1.0, 0.8),     # default lognormal(0, 0.55)
    "beta_gain": ("ln", 1.0, 0.6),      # default lognormal(0, 0.35)
    "sw_gain": ("ln", 1.0, 0.35),       # default lognormal(0, 0.2)
    "spindle_amp": ("ln", 1.0, 0.5),    # default lognormal(0, 0.3)
    "noise_uv": ("ln", 0.8, 0.8),       # default lognormal(log 0.8, 0.4)
    "hp_hz": ("lu", 0.1, 1.0),          # default log-uniform 0.1-0.5 Hz
    "lp_hz": ("u", 15.0, 45.0),         # default uniform 25-45 Hz
}


def wide_params(rng: np.random.Generator) -> dict[str, float]:
    """One night's overrides for ``--randomize wide`` (see :data:`WIDE_RANDOMIZATION`)."""
    out = {}
    for name, (kind, a, b) in WIDE_RANDOMIZATION.items():
        if kind == "ln":
            out[name] = float(rng.lognormal(np.log(a), b))
        elif kind == "n":
            out[name] = float(rng.normal(a, b))
        elif kind == "lu":
            out[name] = float(np.exp(rng.uniform(np.log(a), np.log(b))))
        else:
            out[name] = float(rng.uniform(a, b))
    return out


#: scalp region of each synthetic EEG derivation (:data:`sigvision.synth.montages.MONTAGES`)
_DERIVATION_REGION = {"C-M": "central", "Cz-M": "central", "F-M": "frontal", "Fpz-Cz": "frontal",
                      "O-M": "occipital", "Pz-Oz": "occipital"}


def channel_region(name: str) -> str | None:
    """Scalp region of a real EEG channel from its first electrode (``C3-A1`` -> central,
    ``EEG Fpz-Cz`` -> frontal, ``O2-M1``/``Pz-Oz`` -> occipital); None when not recognised."""
    k = _key(name)
    k = k[3:] if k.startswith("eeg") else k
    for prefix, region in (("fp", "frontal"), ("f", "frontal"), ("c", "central"), ("o", "occipital"),
                           ("p", "occipital")):
        if k.startswith(prefix) and len(k) > len(prefix) and (k[len(prefix)].isdigit() or k[len(prefix)] == "z"):
            return region
    return None


def matched_montages(real_eeg_names: list[str], eeg_aliases: list[str]) -> tuple[str, ...]:
    """The random montages whose EEG slot (resolved with the same aliases as the real files)
    lies in a scalp region of the real recordings' EEG leads; all of them when a real lead's
    region is not recognised or none matches."""
    from sigvision.synth.montages import MONTAGES, RANDOM_MONTAGES

    regions = {channel_region(n) for n in real_eeg_names}
    if None in regions:
        return RANDOM_MONTAGES
    keep = []
    for m in RANDOM_MONTAGES:
        label = resolve_slot([c[0] for c in MONTAGES[m]], eeg_aliases)
        deriv = next((c[2] for c in MONTAGES[m] if c[0] == label), None)
        if _DERIVATION_REGION.get(deriv) in regions:
            keep.append(m)
    return tuple(keep) or RANDOM_MONTAGES


def hypnogram_pool(exclude_subjects: frozenset[str] | set[str] = frozenset()) -> list[tuple[str, str]]:
    """``(name, source)`` of every shipped hypnogram that drives synthetic training nights:
    Sleep-EDF's (less those of ``exclude_subjects``, keys of
    :func:`sigvision.loaders.pairing.subject_of`), then Dreem's DOD-H and DOD-O."""
    from sigvision.loaders.pairing import subject_of
    from sigvision.synth.samples import list_sample_hypnograms

    pool = [(n, "sleep_edf") for n in list_sample_hypnograms("sleep_edf") if subject_of(n) not in exclude_subjects]
    return pool + [(n, s) for s in ("dodh", "dodo") for n in list_sample_hypnograms(s)]


def synthesize_training_set(out: Path, n_nights: int, max_epochs: int, seed: int, montage: str | tuple[str, ...],
                            label_noise: float, randomize: str = "default", min_epochs: int | None = None) -> int:
    """``n_nights`` synthetic nights from the shipped hypnograms (Sleep-EDF and Dreem mixed);
    a random stretch of ``max_epochs`` epochs each, or, with ``min_epochs``, of a random length
    between the two inside the sleep period (recordings as short as an excerpt: what a
    per-night normalisation sees on them);     ``randomize="wide"`` overrides some per-night parameters with :func:`wide_params`
    (drawn from their own stream: the nights' other draws stay as with ``default``). Returns
    the number of nights written (at most one per shipped hypnogram, 207)."""
    from sigvision.synth.nights import write_synthetic_night
    from sigvision.synth.samples import crop_hypnogram, load_sample_hypnogram

    pool = hypnogram_pool()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pool), size=min(n_nights, len(pool)), replace=False)
    for i, j in enumerate(sorted(pick)):
        name, src = pool[j]
        hyp = load_sample_hypnogram(name, src)
        start = int(rng.integers(0, max(1, hyp.size - max_epochs)))
        if min_epochs is not None:  # a length from min_epochs to max_epochs, a stretch inside the sleep period
            own = np.random.default_rng([seed, 31, i])
            n_ep = int(own.integers(min_epochs, max_epochs + 1))
            sleep = np.flatnonzero((hyp >= 1) & (hyp <= 4))
            lo, hi = (int(sleep[0]), int(sleep[-1])) if sleep.size else (0, hyp.size)
            start = int(np.clip(own.integers(lo, max(lo + 1, hi - n_ep + 1)), 0, max(0, hyp.size - n_ep)))
            hyp = hyp[start:start + n_ep]
        else:
            hyp = hyp[start:start + max_epochs] if hyp.size > max_epochs else crop_hypnogram(hyp, max_epochs)
        noise = float(rng.uniform(0.3, 1.0)) * label_noise
        rid = f"SIM{i:03d}_{src}_{name[:8]}"
        night_montage = montage
        if not isinstance(montage, str):  # a set to draw from (--montage matched), its own stream
            night_montage = montage[int(np.random.default_rng([seed, 7919, i]).integers(len(montage)))]
        params = wide_params(np.random.default_rng([seed, 17, i])) if randomize == "wide" else None
        write_synthetic_night(out, rid, hyp, seed=seed * 10007 + i, montage=night_montage, label_noise=noise,
                              params=params)
    return len(pick)


def synthesize_as_asked(out: Path, n_nights: int, args, montage: str | tuple[str, ...]) -> int:
    """:func:`synthesize_training_set` with the command line's seed, label noise,
    randomisation and ``--epochs-per-night`` (N, or MIN-MAX); returns the nights written."""
    lo, _, hi = str(args.epochs_per_night).partition("-")
    min_ep, max_ep = (int(lo), int(hi)) if hi else (None, int(lo))
    return synthesize_training_set(out, n_nights, max_ep, args.seed, montage, args.label_noise, args.randomize,
                                   min_epochs=min_ep)


def train_on_synthetic(cfg, work: Path, args):
    """Synthesise ``--nights`` nights, prepare them and train the config's model on them;
    returns the run's config (pointing at ``work``) and the montage option as resolved."""
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.steps.train import train

    synth = work / "synthetic"
    t0 = time.perf_counter()
    montage = args.montage
    if montage == "matched":
        montage = matched_montages(args.real_eeg_names, list(cfg.data.channel_aliases.get("EEG", ())))
        print(f"montages matching the real EEG leads ({', '.join(sorted(set(args.real_eeg_names)))}): "
              f"{', '.join(montage)}")
    n = synthesize_as_asked(synth, args.nights, args, montage)
    print(f"synthesised {n} nights ({args.montage} montage, label noise up to {args.label_noise}, "
          f"{args.randomize} randomisation) "
          f"in {time.perf_counter() - t0:.0f} s")
    cfg = replace(cfg, data=replace(cfg.data, root=str(synth)), prepared_dir=str(work / "prepared_synth"),
                  weights_dir=str(work / "weights"))
    t0 = time.perf_counter()
    res = prepare_dataset(cfg, cfg.prepared_path)
    print(f"prepared {res.n_samples} synthetic epochs in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    for r in train(cfg):
        print(f"  fold {r['fold']}: best {r['monitor']} {r['best']:.3f} on synthetic validation nights "
              f"(epoch {r['best_epoch']})")
    print(f"trained in {time.perf_counter() - t0:.0f} s")
    return cfg, montage


def batchnorm_layers(model) -> list:
    """The model's BatchNorm layers (what :func:`adapt_batchnorm` re-estimates)."""
    import torch

    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def require_batchnorm(model, model_name: str, how: str) -> None:
    """A one-line error for ``--adapt-bn`` with a model that has nothing to adapt."""
    if not batchnorm_layers(model):
        raise SystemExit(f"--adapt-bn {how}: model {model_name} has no BatchNorm layer to adapt; "
                         "fix: --set model.name=test_efficientnet (or another BatchNorm model) or --adapt-bn none")


def adapt_batchnorm(model, predict_fn) -> int:
    """AdaBN (Li et al. 2016, arXiv 1603.04779): replace every BatchNorm layer's running mean
    and variance with their averages over the target data that ``predict_fn(model)`` runs
    through it (label-free; the learned scale and shift stay). Returns the number of layers
    adapted (0: the model has no BatchNorm, e.g. a ViT, and is left as it was)."""
    import torch

    bns = batchnorm_layers(model)
    if not bns:
        return 0
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every batch seen

    class _KeepBNTraining(torch.nn.Module):  # predict_dataset calls .eval(); BN must keep collecting
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *a, **k):
            return self.inner(*a, **k)

        def train(self, mode: bool = True):
            super().train(mode)
            for m in bns:
                m.train(True)
            return self

    predict_fn(_KeepBNTraining(model))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return len(bns)


def predict_real(cfg, real: Path, work: Path, adapt_bn: str = "none"):
    """Probabilities of the folds' models (averaged) on every scored epoch of the real folder,
    through sigvision's ensemble loop (each checkpoint checked against the training config).
    ``adapt_bn``: ``pooled`` re-estimates BatchNorm statistics on all the real epochs before
    predicting (:func:`adapt_batchnorm`), ``record`` on each recording's epochs for that
    recording, ``none`` keeps the synthetic statistics."""
    import torch

    from sigvision.ensemble import fold_members, predict_rows_tta, run_members
    from sigvision.io.runs import load_prepared
    from sigvision.steps.prepare import prepare_dataset

    pattern = "*-PSG.edf" if real == DEFAULT_REAL else cfg.data.file_pattern  # the fixture's scored pair
    rcfg = replace(cfg, data=replace(cfg.data, root=str(real), trim_wake_edges_min=None, file_pattern=pattern),
                   prepared_dir=str(work / "prepared_real"))
    prepare_dataset(rcfg, rcfg.prepared_path)
    rows, _ = load_prepared(rcfg.prepared_path)
    dev = torch.device("cpu")
    key = cfg.model.key
    members = fold_members({key: rcfg}, "best", trained={key: cfg})  # read like the training nights were

    def predict(rs, model, meta):
        return predict_rows_tta(model, meta, rcfg, rcfg.prepared_path, rs, device=dev)

    def member(m, model, meta):
        if adapt_bn == "none":
            return predict(rows, model, meta)
        groups = ([rows.index.to_numpy()] if adapt_bn == "pooled"
                  else [g.index.to_numpy() for _, g in rows.groupby("record", sort=False)])
        require_batchnorm(model, cfg.model.name, adapt_bn)
        out = np.zeros((len(rows), len(meta["classes"])), np.float32)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for idx in groups:
            model.load_state_dict(state)  # each recording adapts from the synthetic statistics
            sub = rows.loc[idx].reset_index(drop=True)
            adapt_batchnorm(model, lambda mm: predict(sub, mm, meta))
            out[rows.index.get_indexer(idx)] = predict(sub, model, meta)
        return out

    probs, _ = run_members(members, member, device=dev)
    return rows, np.mean(probs, axis=0)


# --------------------------------------------------------------------------- other stagers
def prepared_eeg_features(prepared: Path, rows, slot: str = "EEG") -> np.ndarray:
    """:func:`sigvision.baselines.sleep.sleep_epoch_features` of the ``slot`` channel for
    every row (record, epoch) of a prepared folder, in the rows' order."""
    import pandas as pd

    from sigvision.baselines.sleep import SLEEP_FEATURE_NAMES, sleep_epoch_features

    recs = pd.read_csv(prepared / "records.csv").set_index("record")
    out = np.zeros((len(rows), len(SLEEP_FEATURE_NAMES)))
    for rec, g in rows.groupby("record", sort=False):
        sig = prepared / "signals" / f"{rec}.npy"
        if not sig.is_file():
            raise SystemExit(f"{sig}: missing; the feature stager reads the prepared signals; "
                             "fix: leave prepare.save_signals at true")
        channels = str(recs.loc[rec, "channels"]).split(";")
        x = np.load(sig, mmap_mode="r")
        ep = g["epoch"].to_numpy()
        out[rows.index.get_indexer(g.index)] = sleep_epoch_features(
            np.asarray(x[ep, channels.index(slot)], dtype=np.float64), float(recs.loc[rec, "fs_hz"]))
    return out


def feature_training_set(cfg, work: Path, args, montage) -> tuple[Path, int]:
    """The prepared folder the feature stager fits on: the image model's own synthetic nights
    when ``--feature-nights`` equals ``--nights``, else a set of its own, ``feature_nights``
    nights synthesised and prepared exactly as the image model's (same seed, montage option,
    label noise, randomisation and night length), and its number of nights. Only the prepared
    signals are kept (``work/prepared_synth_features``: no image cache; the synthesised EDF
    files are deleted once prepared)."""
    from sigvision.steps.prepare import prepare_dataset

    if args.feature_nights == args.nights:
        return work / "prepared_synth", args.nights
    t0 = time.perf_counter()
    synth = work / "synthetic_features"
    n = synthesize_as_asked(synth, args.feature_nights, args, montage)
    prepared = work / "prepared_synth_features"
    # the stager reads the prepared signals only: no image cache (1.6 GB for 200 nights), and
    # the EDF files go once prepared (1.4 GB); a temporary work folder holds about 0.7 GB more
    fcfg = replace(cfg, data=replace(cfg.data, root=str(synth)), prepared_dir=str(prepared),
                   prepare=replace(cfg.prepare, cache_images=False, save_signals=True))
    res = prepare_dataset(fcfg, fcfg.prepared_path)
    shutil.rmtree(synth, ignore_errors=True)
    print(f"synthesised and prepared {n} nights ({res.n_samples} epochs) for the feature "
          f"stager in {time.perf_counter() - t0:.0f} s")
    return prepared, n


def feature_stager_probs(prepared_synth: Path, work: Path, real_rows, seed: int) -> np.ndarray:
    """Probabilities of :class:`sigvision.baselines.sleep.SleepFeatureStager` fitted on the
    EEG features of every synthetic epoch of ``prepared_synth`` (no real recording) for the
    real rows."""
    from sigvision.baselines.sleep import SleepFeatureStager
    from sigvision.io.runs import load_prepared

    synth_rows, _ = load_prepared(prepared_synth)
    synth_rows = synth_rows[synth_rows["label"].between(0, 4)].reset_index(drop=True)
    stager = SleepFeatureStager(seed=seed).fit(prepared_eeg_features(prepared_synth, synth_rows),
                                               synth_rows["label"].to_numpy(dtype=np.int64))
    return stager.predict_proba(prepared_eeg_features(work / "prepared_real", real_rows.reset_index(drop=True)))


def yasa_rows(rows, pairs, found, epoch_s: float) -> np.ndarray:
    """YASA's probabilities for every row (record, onset), aligned with ``rows``; an epoch
    beyond YASA's (a scored epoch past the end of its 30-s windows) gets 0.2 each."""
    rows = rows.reset_index(drop=True)
    out = np.full((len(rows), 5), 0.2)
    for rec, g in rows.groupby("record", sort=False):
        psg = next(p for p, _ in pairs if p.name.startswith(str(rec)))
        yp, _ = yasa_probs(psg, found[psg.name])
        ep = np.rint(g["onset_s"].to_numpy() / epoch_s).astype(int)
        ok = ep < yp.shape[0]
        if not ok.all():
            print(f"  {rec}: {int((~ok).sum())} scored epoch(s) beyond YASA's epochs are counted as wrong")
        idx = rows.index.get_indexer(g.index)
        out[idx[ok]] = yp[ep[ok]]
    return out


def stage_flags(who: str, truth: np.ndarray, pred: np.ndarray, min_epochs: int = 5) -> list[str]:
    """Loud lines for degenerate staging: one stage predicted for every epoch, or a stage with
    at least ``min_epochs`` true epochs of which none is found."""
    from sigvision.loaders.base import STAGES as STAGE_NAMES

    flags = []
    if truth.size and np.unique(pred).size == 1:
        flags.append(f"{who} predicts {STAGE_NAMES[int(pred[0])]} for every one of the {truth.size} epochs")
    for k, name in enumerate(STAGE_NAMES):
        n = int(np.sum(truth == k))
        if n >= min_epochs and not np.any(pred[truth == k] == k):
            called = np.bincount(pred[truth == k], minlength=5)
            flags.append(f"{who} finds none of the {n} true {name} epochs (called "
                         + ", ".join(f"{STAGE_NAMES[j]} {c}" for j, c in enumerate(called) if c) + ")")
    return flags


#: How each stager's figures are named in the JSON: ours unprefixed (``kappa_pooled``), the
#: others with their name (``features_kappa_pooled``, ``yasa_kappa_pooled``).
def _prefix(who: str) -> str:
    return "" if who == "ours" else f"{who}_"


_SHORT = {"features": "feat"}


def report(rows, stagers: dict[str, np.ndarray], real: Path, slots, nights: int) -> tuple[dict, dict]:
    """Print kappa and accuracy per recording and pooled for every stager, their confusion
    matrices and each post-processing method's kappa; return (per_record, results)."""
    from sklearn.metrics import confusion_matrix

    rows = rows.reset_index(drop=True)
    records = list(dict.fromkeys(rows["record"].astype(str)))
    rec_of = rows["record"].astype(str).to_numpy()
    truth_all = rows["label"].to_numpy(dtype=np.int64)
    preds = {w: p.argmax(1) for w, p in stagers.items()}
    per: dict[str, dict] = {}
    pp_all = {w: {m: np.zeros(len(rows), np.int64) for m in METHODS} for w in stagers}
    print()
    print(f"{'record':<26}{'epochs':>7}  {'W/N1/N2/N3/R':<18}"
          + "".join(f"{_SHORT.get(w, w) + '_k':>9}{_SHORT.get(w, w) + '_acc':>11}" for w in stagers))
    for rec in records:
        m = rec_of == rec
        truth = truth_all[m]
        entry = {"n_epochs": int(truth.size), "stages": [int(np.sum(truth == k)) for k in range(5)]}
        line = f"{rec:<26}{truth.size:>7}  {'/'.join(map(str, entry['stages'])):<18}"
        for w, p in stagers.items():
            pre, pred = _prefix(w), preds[w][m]
            entry[f"{pre}kappa"] = kappa_or_none(truth, pred)
            entry[f"{pre}accuracy"] = float(np.mean(pred == truth))
            pp = postprocess_all(p[m])
            entry[f"{pre}postprocess_kappa"] = {k: kappa_or_none(truth, v) for k, v in pp.items()}
            entry[f"{pre}postprocess_accuracy"] = {k: float(np.mean(v == truth)) for k, v in pp.items()}
            for k, v in pp.items():
                pp_all[w][k][m] = v
            line += f"{_fmt(entry[pre + 'kappa']):>9}{entry[pre + 'accuracy']:11.3f}"
        per[rec] = entry
        print(line)
    res = {"real_dir": str(real), "n_records": len(records), "n_epochs": int(truth_all.size),
           "slots": slots, "synthetic_nights": nights}
    line = f"{'pooled':<26}{truth_all.size:>7}  {'':<18}"
    for w in stagers:
        pre = _prefix(w)
        res[f"{pre}kappa_pooled"] = kappa_or_none(truth_all, preds[w])
        res[f"{pre}accuracy_pooled"] = float(np.mean(preds[w] == truth_all))
        line += f"{_fmt(res[pre + 'kappa_pooled']):>9}{res[pre + 'accuracy_pooled']:11.3f}"
    print(line)
    for w in stagers:
        cm = confusion_matrix(truth_all, preds[w], labels=range(5))
        res[f"confusion_{w}"] = cm.tolist()
        print(f"confusion, {w} (rows truth, columns predicted; W N1 N2 N3 R):")
        for k, r in zip(("W", "N1", "N2", "N3", "R"), cm):
            print(f"  {k:<3}" + "".join(f"{v:>6}" for v in r))
    res["flags"] = [f for w in stagers for f in stage_flags(w, truth_all, preds[w])]
    for f in res["flags"]:
        print(f"WARNING: {f}")
    if res["kappa_pooled"] is None:
        print("kappa is undefined here: every scored epoch has the same stage (the shipped excerpt is 300 s of "
              "wake); the accuracy is the only honest figure, and it says nothing about the other stages")
    print("\npost-processing, kappa per record (accuracy where kappa is undefined):")
    print(f"{'record':<26}{'stager':<9}" + "".join(f"{m:>11}" for m in METHODS))
    for rec, e in per.items():
        for w in stagers:
            pre = _prefix(w)
            vals = [e[f"{pre}postprocess_kappa"][m] for m in METHODS]
            if all(v is None for v in vals):
                accs = e[f"{pre}postprocess_accuracy"]
                print(f"{rec:<26}{w:<9}" + "".join(f"{'acc ' + format(accs[m], '.3f'):>11}" for m in METHODS))
            else:
                print(f"{rec:<26}{w:<9}" + "".join(f"{_fmt(v):>11}" for v in vals))
    res["postprocess_kappa_pooled"] = {w: {m: kappa_or_none(truth_all, pp_all[w][m]) for m in METHODS}
                                       for w in stagers}
    for w in stagers:
        print(f"{'pooled':<26}{w:<9}" + "".join(f"{_fmt(res['postprocess_kappa_pooled'][w][m]):>11}"
                                                 for m in METHODS))
    return per, res


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, default=DEFAULT_REAL,
                    help="folder of real <record>-PSG.edf + hypnogram pairs (default: the Sleep-EDF "
                         "excerpt in tests/data/psg_real)")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="model/render/train config")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, e.g. train.epochs=6 (repeatable)")
    ap.add_argument("--alias", action="append", default=[], metavar="SLOT=NAME[,NAME]",
                    help="channel names of your recordings for a slot (EEG, EOG, EMG), tried first")
    ap.add_argument("--channels", default="auto",
                    help="slots the model reads: auto (those every real recording has) or e.g. EEG,EOG")
    ap.add_argument("--nights", type=int, default=40, help="synthetic training nights (default 40)")
    ap.add_argument("--feature-nights", type=int, default=200,
                    help="synthetic nights the feature stager fits on (default 200; equal to --nights: the "
                         "image model's own nights, else a set of its own drawn the same way)")
    ap.add_argument("--epochs-per-night", default="300",
                    help="30-s epochs per synthetic night, a random stretch of the driving hypnogram (300), "
                         "or MIN-MAX: a random length per night, inside the sleep period")
    ap.add_argument("--montage", default="random",
                    help="montage of the synthetic nights: random (default), matched (random among the montages "
                         "whose EEG lead lies in the scalp region of the real recordings' EEG leads) or a name")
    ap.add_argument("--label-noise", type=float, default=0.5,
                    help="maximum human-scorer label noise of the synthetic nights (0-1, default 0.5)")
    ap.add_argument("--randomize", choices=("default", "wide"), default="default",
                    help="per-night parameters of the synthetic nights: the generator's own draws (default) "
                         "or wider ones (gain, spectral tilt, rhythms, filters, noise; WIDE_RANDOMIZATION)")
    ap.add_argument("--adapt-bn", choices=("none", "pooled", "record"), default="none",
                    help="AdaBN: re-estimate BatchNorm statistics on the real epochs (all pooled, or each "
                         "recording's own) before staging them; label-free; needs a BatchNorm model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-yasa", action="store_true", help="skip the YASA reference")
    ap.add_argument("--keep", type=Path, default=None, help="keep the work folder here (default: temporary)")
    ap.add_argument("--convert-dreams", nargs=2, type=Path, metavar=("SRC", "OUT"),
                    help="convert the DREAMS Sleep Spindles files in SRC to EDF pairs in OUT and exit")
    args = ap.parse_args(argv)
    lo, dash, hi = args.epochs_per_night.partition("-")
    if not (lo.isdigit() and (not dash or (hi.isdigit() and 0 < int(lo) <= int(hi))) and int(lo) > 0):
        ap.error(f"--epochs-per-night {args.epochs_per_night!r}: give N or MIN-MAX (positive, MIN <= MAX)")
    for flag, n in (("--nights", args.nights), ("--feature-nights", args.feature_nights)):
        if n < 1:
            ap.error(f"{flag} {n}: give a number of synthetic nights >= 1")
    if args.convert_dreams:
        convert_dreams(*args.convert_dreams)
        return 0
    logging.getLogger("yasa").setLevel(logging.ERROR)
    logging.getLogger("sigvision").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import mne
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from sigvision.config.load import load_config
    from sigvision.loaders.pairing import pair_sleep_edf_files

    t_all = time.perf_counter()
    cfg = load_config(args.config, args.overrides)
    aliases = {k: list(v) for k, v in cfg.data.channel_aliases.items()}
    for a in args.alias:
        slot, _, names = a.partition("=")
        if slot not in SLOTS or not names:
            ap.error(f"--alias {a!r}: give SLOT=NAME[,NAME] with SLOT one of {', '.join(SLOTS)}")
        aliases[slot] = [n.strip() for n in names.split(",")] + aliases.get(slot, [])
    # the shipped fixture folder also holds an unscored Nox file: only its Sleep-EDF pair is read
    pairs = pair_sleep_edf_files(args.real, pattern="*-PSG.edf" if args.real == DEFAULT_REAL else "")
    found: dict[str, dict[str, str | None]] = {}
    for psg, _ in pairs:
        names = mne.io.read_raw_edf(psg, preload=False, verbose="error").ch_names
        found[psg.name] = {s: resolve_slot(names, aliases.get(s, [])) for s in SLOTS}
        if found[psg.name]["EEG"] is None:
            raise SystemExit(f"{psg}: no EEG channel matches the EEG aliases; its channels: {', '.join(names)}; "
                             "fix: --alias EEG=<your EEG channel>")
    if args.channels == "auto":
        slots = [s for s in SLOTS if all(f[s] for f in found.values())]
    else:
        slots = [s.strip() for s in args.channels.split(",")]
        bad = [s for s in slots if s not in SLOTS]
        if bad or "EEG" not in slots:
            ap.error(f"--channels must list slots among {', '.join(SLOTS)} including EEG; got {args.channels}")
    print(f"real recordings: {args.real} ({len(pairs)})")
    for name, f in found.items():
        print(f"  {name}: " + ", ".join(f"{s} <- {f[s] or '-'}" for s in SLOTS))
    print(f"the model reads: {', '.join(slots)}")
    args.real_eeg_names = [f["EEG"] for f in found.values()]
    cfg = replace(cfg, data=replace(cfg.data, channels=tuple(slots),
                                    channel_aliases={k: tuple(v) for k, v in aliases.items()}))

    if args.adapt_bn != "none":  # checked before minutes of training, not after
        from sigvision.models.factory import build_model

        probe = build_model(replace(cfg.model, pretrained=False), 5, img_size=(cfg.render.height, cfg.render.width))
        require_batchnorm(probe, cfg.model.name, args.adapt_bn)
    with tempfile.TemporaryDirectory(prefix="sigvision_sim2real_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cfg, montage = train_on_synthetic(cfg, work, args)
        rows, probs = predict_real(cfg, args.real, work, args.adapt_bn)
        prepared_features, feature_nights = feature_training_set(cfg, work, args, montage)
        t0 = time.perf_counter()
        stagers = {"ours": probs, "features": feature_stager_probs(prepared_features, work, rows, args.seed)}
        print(f"feature stager (sigvision.baselines.sleep) trained on {feature_nights} synthetic nights "
              f"in {time.perf_counter() - t0:.0f} s")
    if not args.no_yasa:
        stagers["yasa"] = yasa_rows(rows, pairs, found, cfg.data.epoch_s)
    per, res = report(rows, stagers, args.real, slots, args.nights)
    if args.keep:
        extra = {f"{w}_probs": p for w, p in stagers.items() if w != "ours"}
        np.savez(Path(args.keep) / "real_probs.npz", probs=probs, labels=rows["label"].to_numpy(),
                 record=np.asarray(rows["record"].astype(str).to_numpy(), dtype=str), **extra)
    res["feature_nights"] = feature_nights
    res["per_record"] = per
    res["seconds"] = round(time.perf_counter() - t_all, 1)
    print(f"total time {res['seconds']:.0f} s")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
