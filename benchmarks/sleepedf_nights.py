"""Staging and post-processing on 20 real, whole Sleep-EDF nights, from per-epoch EEG features
(issue 17: a real set beyond DREAMS, the development set; since the generator's Pz-Oz gains were
fitted to subjects SC400-SC404 here, only SC405-SC409 are independent of the generator).

No full night of real PSG signal can be brought onto our machines, but a public repository
keeps per-epoch EEG features of 20 real Sleep-EDF Expanded nights (SC4001-SC4092: 10 subjects x
2 nights, EEG Fpz-Cz and Pz-Oz at 100 Hz) next to their original human hypnograms:
github.com/matteo-omizzolo/sleep-EDF (MIT; the data are Sleep-EDF Expanded, ODC-By 1.0; cite
Kemp et al. 2000 and PhysioNet), ``data/processed/sleep_edf_subjects/SC4xxxE0.npz`` (``X``:
(n_epochs, 72), ``y``: 0-4 for W, N1, N2, N3, R with S3 and S4 merged; '?' and movement epochs
dropped) and ``data/raw/sleep-cassette/SC4xxxEx-Hypnogram.edf``. Their features, per 30-s
epoch and channel (:func:`base_features` computes the same from a signal): log Welch band
powers (delta 0.5-4, theta 4-8, alpha 8-13, beta 13-30, gamma 30-50 Hz; 256-sample Hann
segments, signal in volts, 1e-10 added inside the log), the theta/alpha and alpha/delta ratios
of those logs, the log variance and the Hjorth mobility: 18 columns, channel-major; then their
first differences, 3-epoch rolling means and rolling standard deviations (72 in all).

1. Each night's feature rows are matched to its hypnogram (the kept rows must be the
   hypnogram's scored epochs, one for one, stage for stage, or the night is refused) and cut to
   the sleep period +- 30 min (the recordings run about 22 h). The repository dropped the
   unscored and movement epochs, so a night's rows can skip an epoch (7 nights, 1-12 times);
   post-processing sees them as neighbours. SC4011E0's features stop about 2.4 h into its
   sleep (its signal file there ends early): it is staged as far as it goes, and said so.
   The recipe's 1e-10 inside the logs is in V^2/Hz, near the EEG's own power: the band-power
   columns vary little (a forest does not mind; the standardisation below rescales them).
2. Stagers trained on the real nights, leave one subject out: a random forest and a logistic
   regression on the 18 per-epoch columns (``rf``, ``logreg``) and on all 72 (``rf_context``,
   ``logreg_context``: they see the neighbouring epochs).
3. ``--synthetic-nights N`` (default 100; 0 skips): forests trained only on synthetic nights
   (montage ``sleep_edf``, driven by shipped hypnograms of subjects other than the tested
   ones, cut the same way), on the same 18 features computed here from the synthetic signals,
   each night's features robustly standardised (median and interquartile range per column);
   ``synthetic_rf`` on them, ``synthetic_rf_context`` with the differences and rolling
   statistics recomputed from the standardised columns.
4. For every stager: pooled and per-night kappa; for every post-processing method (as
   ``sim2real_postprocess_grid.py``): pooled gain and the worst change on a night whose argmax
   kappa is above ``--good`` (0.6; the issue's target: none below -0.03). Then every stager's
   pooled kappa on the nights of :data:`CALIBRATION_SUBJECTS` (the generator's Pz-Oz gains were
   fitted to them, ``sleepedf_calibrate.py``) and on the others.
5. ``--out FILE`` writes the out-of-fold probabilities (float16) in the format
   ``sim2real_postprocess_grid.py`` reads (``probs`` = ``rf``, ``<stager>_probs`` for the others,
   ``labels``, ``record``, ``epoch``: the epoch's index in the recording). With
   ``--synthetic-nights 0`` that is ``tests/data/sleepedf_nights/oof_probs.npz``, which the
   tests judge post-processing on.

    git clone https://github.com/matteo-omizzolo/sleep-EDF /data/omizzolo   # 28 MB of it is read
    python benchmarks/sleepedf_nights.py --features /data/omizzolo
    python benchmarks/sleepedf_nights.py --features /data/omizzolo --synthetic-nights 0 --out probs.npz

Last line: one JSON object (per stager: pooled, per-night kappa, the post-processing table, and
``pooled_fitted_subjects`` / ``pooled_held_out_subjects``).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.sim2real_postprocess_grid import SETTINGS, evaluate  # noqa: E402
from benchmarks.sim_to_real import _fmt, hypnogram_pool, kappa_or_none  # noqa: E402
from sigvision.loaders.pairing import subject_of  # noqa: E402
from sigvision.loaders.psg import trim_wake_edges  # noqa: E402

#: Welch bands of the feature recipe (Hz, both edges included).
BANDS = ((0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 50.0))
#: Per-epoch columns of one channel: 5 log band powers, 2 ratios, log variance, Hjorth mobility.
BASE_PER_CHANNEL = 9
#: Column of the log variance within a channel's columns.
LOG_VAR_COLUMN = 7
#: Added inside every log of the recipe (values in V^2/Hz and V^2).
LOG_EPS = 1e-10
#: Subjects whose nights ``sleepedf_calibrate.py`` fits the Sleep-EDF montage's gains to (the
#: generator ships its Pz-Oz fit); the other subjects' nights are held out from that fit.
CALIBRATION_SUBJECTS = ("SC400", "SC401", "SC402", "SC403", "SC404")
#: Epochs kept around the sleep period (60 = 30 min).
PAD_EPOCHS = 60
#: Real-trained stagers: name -> (classifier, columns "base" or "all").
REAL_STAGERS = {"rf": ("rf", "base"), "logreg": ("logreg", "base"),
                "rf_context": ("rf", "all"), "logreg_context": ("logreg", "all")}
_NIGHT = re.compile(r"^SC4\d\d\dE0$")
#: The post-processing methods judged (names of ``SETTINGS``).
METHODS = ("mode", "rules", "hmm", "hmm_robust")


def base_features(epochs_v: np.ndarray, fs_hz: float = 100.0) -> np.ndarray:
    """The recipe's 9 per-epoch columns per channel.

    Parameters
    ----------
    epochs_v : ndarray, shape (n_channels, n_epochs, n_samples)
        EEG in volts, cut in 30-s epochs.
    fs_hz : float

    Returns
    -------
    ndarray, shape (n_epochs, 9 * n_channels)
        Per channel: log band powers (5), theta/alpha and alpha/delta ratios of the logs,
        log variance, Hjorth mobility.
    """
    from scipy.signal import welch

    freqs, psd = welch(epochs_v, fs_hz, nperseg=min(256, epochs_v.shape[-1]), axis=-1)
    logp = [np.log(psd[..., (freqs >= lo) & (freqs <= hi)].mean(-1) + LOG_EPS) for lo, hi in BANDS]
    var = epochs_v.var(axis=-1)
    cols = []
    for c in range(epochs_v.shape[0]):
        cols += [logp[0][c], logp[1][c], logp[2][c], logp[3][c], logp[4][c],
                 logp[1][c] / (logp[2][c] + LOG_EPS), logp[2][c] / (logp[0][c] + LOG_EPS),
                 np.log(var[c] + LOG_EPS), np.sqrt(np.diff(epochs_v[c], axis=-1).var(-1) / (var[c] + LOG_EPS))]
    return np.stack(cols, axis=1)


def context_features(base: np.ndarray, window: int = 3) -> np.ndarray:
    """``[base, first difference, rolling mean, rolling std]`` over ``window`` epochs (the
    recipe's 72 columns from its 18): the first row's difference repeats the second's, the
    rolling mean repeats the edge values, the rolling std uses the epochs available."""
    from scipy.ndimage import uniform_filter1d

    n = base.shape[0]
    diff = np.zeros_like(base)
    if n > 1:
        diff[1:] = np.diff(base, axis=0)
        diff[0] = diff[1]
    mean = uniform_filter1d(base, size=window, axis=0, mode="nearest")
    half = window // 2
    std = np.stack([base[max(0, i - half):min(n, i + half + 1)].std(0) for i in range(n)]) if n else base
    return np.concatenate([base, diff, mean, std], axis=1)


def standardise_night(base: np.ndarray) -> np.ndarray:
    """Each column minus its median over the night, over its interquartile range."""
    med = np.median(base, axis=0)
    q75, q25 = np.percentile(base, [75, 25], axis=0)
    return (base - med) / (q75 - q25 + 1e-12)


def sleep_period(stages: np.ndarray, pad: int = PAD_EPOCHS) -> slice:
    """First to last sleep epoch (N1-R), ``pad`` epochs either side, within the night
    (:func:`sigvision.loaders.psg.trim_wake_edges`); a night without sleep keeps nothing."""
    if not ((stages >= 1) & (stages <= 4)).any():
        return slice(0, 0)
    return slice(*trim_wake_edges(stages, pad))


def find_nights(root: Path) -> list[tuple[str, Path, Path]]:
    """``(night, features.npz, hypnogram.edf)`` for every ``SC4xxxE0.npz`` under ``root`` with a
    ``SC4xxxE?-Hypnogram.edf`` beside it anywhere under ``root``; a one-line error otherwise."""
    if not root.is_dir():
        raise SystemExit(f"{root}: not a folder; fix: give --features the clone of "
                         "github.com/matteo-omizzolo/sleep-EDF (or a folder of SC4xxxE0.npz + SC4xxxEx-Hypnogram.edf)")
    hyps = {p.name[:6]: p for p in sorted(root.rglob("SC4*-Hypnogram.edf"))}
    out, seen = [], set()
    for npz in sorted(root.rglob("SC4*E0.npz")):
        rec = npz.stem
        if not _NIGHT.match(rec):
            continue
        if rec[:6] not in hyps or rec in seen:
            why = "no SC4xxxEx-Hypnogram.edf of it" if rec not in seen else "a second copy of that night"
            print(f"{npz}: skipped ({why} under {root})")
            continue
        seen.add(rec)
        out.append((rec, npz, hyps[rec[:6]]))
    if not out:
        raise SystemExit(f"{root}: no SC4xxxE0.npz with a SC4xxxEx-Hypnogram.edf found; fix: give the clone of "
                         "github.com/matteo-omizzolo/sleep-EDF (data/processed/sleep_edf_subjects, data/raw/sleep-cassette)")
    return out


def load_night(rec: str, npz: Path, hyp: Path) -> dict:
    """One night's feature rows matched to its hypnogram and cut to the sleep period.

    Returns ``{"X": (n, 72), "y": (n,), "epoch": (n,) epoch index in the recording}``.
    """
    from sigvision.loaders.hypnogram import read_hypnogram_edf

    d = np.load(npz)
    hypnogram = read_hypnogram_edf(hyp)
    if hypnogram.onset_s:
        raise SystemExit(f"{hyp}: its first stage starts {hypnogram.onset_s:g} s into the recording, the features at 0; "
                         "fix: give the Sleep-EDF hypnogram of this recording as PhysioNet publishes it")
    if "X" not in d.files or "y" not in d.files or d["X"].ndim != 2 or d["X"].shape[1] != 4 * 2 * BASE_PER_CHANNEL:
        raise SystemExit(f"{npz}: expected arrays X (n_epochs, 72) and y; fix: give the sleep_edf_subjects npz files")
    x, y = d["X"].astype(np.float64), d["y"].astype(np.int64)
    stages = hypnogram.stages
    scored = np.flatnonzero(stages >= 0)
    # the feature rows stop where the signal stops; the hypnogram may run longer (SC4011)
    if y.size > scored.size or not np.array_equal(stages[scored[:y.size]], y) or y.size != x.shape[0]:
        raise SystemExit(f"{npz}: its {y.size} labels are not the scored epochs of {hyp.name}; "
                         "fix: pair each npz with the hypnogram of the same recording")
    if ((stages[scored[y.size:]] >= 1) & (stages[scored[y.size:]] <= 4)).any():
        print(f"{npz}: the features stop at epoch {scored[y.size - 1] + 1} of {stages.size}, before the "
              f"hypnogram's sleep ends: a partial night (staged as far as it goes)")
    cut = sleep_period(y)
    return {"X": x[cut], "y": y[cut], "epoch": scored[:y.size][cut]}


def _classifier(kind: str, seed: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "rf":
        return RandomForestClassifier(300, min_samples_leaf=5, class_weight="balanced", n_jobs=-1, random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced"))


def _full_proba(clf, x: np.ndarray) -> np.ndarray:
    """Probabilities over all five stages (a class absent from training gets 0)."""
    p = clf.predict_proba(x)
    out = np.zeros((x.shape[0], 5))
    out[:, np.asarray(clf.classes_, dtype=int)] = p
    return out


def real_stagers(nights: dict[str, dict], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Out-of-fold probabilities, leave one subject (both its nights) out."""
    subjects = sorted({subject_of(r) for r in nights})
    out: dict[str, dict[str, np.ndarray]] = {s: {} for s in REAL_STAGERS}
    for name, (kind, cols) in REAL_STAGERS.items():
        sel = slice(0, 2 * BASE_PER_CHANNEL) if cols == "base" else slice(None)
        for subj in subjects:
            train = [r for r in nights if subject_of(r) != subj]
            clf = _classifier(kind, seed)
            clf.fit(np.concatenate([nights[r]["X"][:, sel] for r in train]),
                    np.concatenate([nights[r]["y"] for r in train]))
            for r in nights:
                if subject_of(r) == subj:
                    out[name][r] = _full_proba(clf, nights[r]["X"][:, sel])
    return out


def parse_gains(items: list[str]) -> dict[tuple[str, str], float]:
    """``["Fpz-Cz:spin_fast=-1.1", ...]`` -> ``{("Fpz-Cz", "spin_fast"): -1.1}``; a one-line error
    names an unknown derivation or generator."""
    from sigvision.synth.montages import DERIVATIONS

    out = {}
    for item in items:
        m = re.fullmatch(r"([^:]+):([^=]+)=(.+)", item)
        try:
            value = float(m.group(3)) if m else None
        except ValueError:
            value = None
        if m is None or value is None or m.group(1) not in DERIVATIONS or m.group(2) not in DERIVATIONS[m.group(1)]:
            raise SystemExit(f"--gain {item!r}: expected DERIVATION:GENERATOR=VALUE with a derivation of "
                             f"{sorted(DERIVATIONS)} and a generator of {list(DERIVATIONS['Fpz-Cz'])}")
        out[(m.group(1), m.group(2))] = value
    return out


@contextmanager
def overridden_gains(overrides: dict[tuple[str, str], float]):
    """The generator's DERIVATIONS with ``overrides`` applied inside the block, restored after."""
    from sigvision.synth.montages import DERIVATIONS

    saved = {k: DERIVATIONS[k[0]][k[1]] for k in overrides}
    try:
        for (d, g), v in overrides.items():
            DERIVATIONS[d][g] = v
        yield
    finally:
        for (d, g), v in saved.items():
            DERIVATIONS[d][g] = v


def describe_gains(overrides: dict[tuple[str, str], float]) -> str:
    """The line a run with ``--gain`` prints ("" without overrides)."""
    if not overrides:
        return ""
    return "generator gains overridden for this run: " + ", ".join(f"{d}:{g}={v:g}" for (d, g), v in overrides.items())


def iter_synthetic_nights(n_nights: int, seed: int, exclude_subjects: set[str], label_noise: float = 0.5,
                          log=print):
    """Yield ``(night, samples_per_epoch, n_epochs)`` for ``n_nights`` synthetic nights (montage
    ``sleep_edf``), driven by shipped hypnograms whose subject (``SC4ss``) is not tested, each cut
    to its sleep period +- 30 min like the real nights; seeded, so every caller gets the same
    nights for the same arguments."""
    from sigvision.synth.generator import synthesize_night
    from sigvision.synth.samples import load_sample_hypnogram

    pool = hypnogram_pool(exclude_subjects)
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(pool), size=min(n_nights, len(pool)), replace=False))
    t0 = time.time()
    for i, j in enumerate(pick):
        name, src = pool[j]
        hyp = np.asarray(load_sample_hypnogram(name, src))
        hyp = hyp[sleep_period(hyp)]
        night = synthesize_night(hyp, seed=seed * 10007 + i, montage="sleep_edf",
                                 label_noise=float(rng.uniform(0.3, 1.0)) * label_noise)
        per = int(round(night.fs_hz * night.epoch_s))
        yield night, per, night.signals.shape[1] // per
        if (i + 1) % 20 == 0 or i + 1 == len(pick):
            log(f"  synthetic nights {i + 1}/{len(pick)} ({time.time() - t0:.0f} s)")


def synthetic_features(n_nights: int, seed: int, exclude_subjects: set[str], label_noise: float = 0.5,
                       log=print) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Standardised base features and scored stages of the nights of :func:`iter_synthetic_nights`."""
    xs, ys = [], []
    for night, per, n_ep in iter_synthetic_nights(n_nights, seed, exclude_subjects, label_noise, log):
        eeg = night.signals[:2, :n_ep * per].astype(np.float64).reshape(2, n_ep, per) * 1e-6  # uV -> V
        scored = night.scored[:n_ep]
        keep = scored >= 0
        xs.append(standardise_night(base_features(eeg, night.fs_hz)[keep]))  # as the real rows: scored epochs only
        ys.append(scored[keep])
    return xs, ys


def synthetic_stagers(nights: dict[str, dict], n_nights: int, seed: int, log=print) -> dict[str, dict[str, np.ndarray]]:
    """Forests trained only on synthetic nights, applied to every real night."""
    from sklearn.ensemble import RandomForestClassifier

    xs, ys = synthetic_features(n_nights, seed, {subject_of(r) for r in nights}, log=log)
    real = {r: standardise_night(d["X"][:, :2 * BASE_PER_CHANNEL]) for r, d in nights.items()}
    out = {}
    for name, ctx in (("synthetic_rf", False), ("synthetic_rf_context", True)):
        clf = RandomForestClassifier(300, min_samples_leaf=20, max_features=1, class_weight="balanced",
                                     n_jobs=-1, random_state=seed)
        clf.fit(np.concatenate([context_features(x) if ctx else x for x in xs]), np.concatenate(ys))
        out[name] = {r: _full_proba(clf, context_features(z) if ctx else z) for r, z in real.items()}
    return out


def summarise_stager(probs: np.ndarray, per: dict[str, np.ndarray], nights: dict[str, dict], records: list[str],
                     labels: np.ndarray, rec_col: np.ndarray, good: float) -> tuple[dict, str]:
    """One stager's pooled and per-night kappa and post-processing table (``METHODS``), and the
    line the benchmarks print for it (without the name): pooled, per-night min / median / max,
    then per method the pooled gain and the worst change on a night above ``good`` ('!' past
    the issue's -0.03). ``probs``: ``per``'s nights concatenated in the order of ``records``
    (the rows of ``labels`` and ``rec_col``)."""
    per_night = {r: kappa_or_none(nights[r]["y"], per[r].argmax(1)) for r in records}
    vals = np.array([v for v in per_night.values() if v is not None])
    table = evaluate(probs, labels, rec_col, good, {m: SETTINGS[m] for m in METHODS})
    pooled = kappa_or_none(labels, probs.argmax(1))
    pp = "  ".join(f"{m} {'n/a' if e['gain'] is None else format(e['gain'], '+.3f')}/{e['worst']:+.3f}"
                   f"{'!' if e['worst'] < -0.03 else ''}" for m, e in table.items())
    spread = f"{vals.min():.3f} / {np.median(vals):.3f} / {vals.max():.3f}" if vals.size else "n/a"
    line = f"{_fmt(pooled):>8}  {spread}  ({table['rules']['n_good']} above)  {pp}"
    return {"pooled": pooled, "per_night": per_night, "postprocessing": table}, line


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` to a temporary file renamed to ``path`` (nothing half-written)."""
    from sigvision.io.artifacts import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a handle: numpy adds no suffix
        np.savez_compressed(fh, **arrays)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path, required=True,
                    help="clone of github.com/matteo-omizzolo/sleep-EDF (or a folder of SC4xxxE0.npz + hypnograms)")
    ap.add_argument("--synthetic-nights", type=int, default=100, help="synthetic training nights (0: skip; default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--good", type=float, default=0.6, help="argmax kappa above which no loss is allowed (0.6)")
    ap.add_argument("--out", type=Path, help="write the out-of-fold probabilities here (.npz)")
    ap.add_argument("--gain", action="append", default=[], metavar="DERIVATION:GENERATOR=VALUE",
                    help="override one gain of the generator's DERIVATIONS for the synthetic nights of this run, "
                         "e.g. Fpz-Cz:spin_fast=-1.6 (repeatable; an experiment, the shipped row is unchanged)")
    args = ap.parse_args(argv)
    overrides = parse_gains(args.gain)
    if args.synthetic_nights < 0:
        ap.error("--synthetic-nights must be 0 or more")
    t0 = time.time()
    nights = {rec: load_night(rec, npz, hyp) for rec, npz, hyp in find_nights(args.features)}
    records = sorted(nights)
    labels = np.concatenate([nights[r]["y"] for r in records])
    rec_col = np.concatenate([np.full(nights[r]["y"].size, r) for r in records])
    counts = np.bincount(labels, minlength=5)
    print(f"{len(records)} real nights, {counts.sum()} scored epochs in the sleep periods "
          f"(W {counts[0]}, N1 {counts[1]}, N2 {counts[2]}, N3 {counts[3]}, R {counts[4]}); "
          f"{len({subject_of(r) for r in records})} subjects")
    stagers = real_stagers(nights, args.seed)
    if args.synthetic_nights:
        print(f"synthesising {args.synthetic_nights} training nights (subjects other than the tested ones)")
        if overrides:
            print(describe_gains(overrides))
        with overridden_gains(overrides):
            stagers.update(synthetic_stagers(nights, args.synthetic_nights, args.seed))
    pooled_probs = {name: np.concatenate([per[r] for r in records]) for name, per in stagers.items()}
    result = {}
    print(f"\n{'stager':<22}{'pooled':>8}  per-night kappa (min / median / max)   "
          f"post-processing: pooled gain, worst change on nights above {args.good:g} (target >= -0.03)")
    for name, per in stagers.items():
        result[name], line = summarise_stager(pooled_probs[name], per, nights, records, labels, rec_col, args.good)
        print(f"{name:<22}{line}")
    print("('!' marks a method that loses more than 0.03 on a night above the threshold; the synthetic_* "
          "stagers never saw a real night; Sleep-EDF EEG Fpz-Cz + Pz-Oz, features, not signals)")
    # the generator's Pz-Oz gains were fitted to some of these subjects' nights
    fitted = np.array([subject_of(r) in CALIBRATION_SUBJECTS for r in rec_col])
    if fitted.any() and not fitted.all():
        print(f"pooled kappa on the nights of the subjects the generator's Pz-Oz gains were fitted to "
              f"({CALIBRATION_SUBJECTS[0]}-{CALIBRATION_SUBJECTS[-1]}, sleepedf_calibrate.py) / on the others:")
        for name in stagers:
            split = [kappa_or_none(labels[m], pooled_probs[name][m].argmax(1)) for m in (fitted, ~fitted)]
            result[name]["pooled_fitted_subjects"], result[name]["pooled_held_out_subjects"] = split
            print(f"  {name:<22}{_fmt(split[0]):>8} / {_fmt(split[1])}")
    if args.out:
        arrays = {"probs": pooled_probs["rf"].astype(np.float16),
                  "labels": labels.astype(np.int8), "record": rec_col,
                  "epoch": np.concatenate([nights[r]["epoch"] for r in records]).astype(np.int32)}
        arrays.update({f"{name}_probs": p.astype(np.float16) for name, p in pooled_probs.items() if name != "rf"})
        save_arrays(args.out, arrays)
        print(f"wrote {args.out}")
    print(f"({time.time() - t0:.0f} s)")
    print(json.dumps({"nights": len(records), "synthetic_nights": args.synthetic_nights, "seed": args.seed,
                      "gains": {f"{d}:{g}": v for (d, g), v in overrides.items()},
                      "stagers": result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
