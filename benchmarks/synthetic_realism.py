"""Realism benchmark for the synthetic PSG generator: blind staging with YASA, and spectra.

For a fixed, seeded selection of real human-scored nights (Sleep-EDF SC and ST nights,
and Dreem DOD-H / DOD-O nights whose 5 scorers are merged by majority vote), the script

1. synthesises the night with :func:`sigvision.synth.nights.write_synthetic_night`
   (EDF pair written to a temporary folder),
2. reads the PSG back with ``mne.io.read_raw_edf`` (so the EDF writer is exercised),
3. stages it with YASA's pre-trained classifier on the montage's central EEG (or its first
   EEG lead), its EOG and chin EMG -- by default the AASM montage, ``yasa.SleepStaging(raw,
   eeg_name="EEG C4-M1", eog_name="EOG E1-M2", emg_name="EMG chin")``, the derivations
   YASA was trained on; ``--montage sleep_edf`` stages Fpz-Cz -- YASA never sees the
   hypnogram,
4. computes Cohen's kappa between YASA's stages and the driving hypnogram on scored
   epochs (sklearn); with ``--label-noise`` also against the noisy labels written.

``--spectra`` instead prints the spectral realism table: per-stage medians (over 30-s
epochs, then over nights) of the 0.5-30 Hz RMS and the relative delta/theta/alpha/sigma/
beta powers on the central derivation of synthetic nights, next to the same statistics of
the real recordings available (the Sleep-EDF wake excerpt and YASA's N2/N3 snippets in
tests/data/psg_real; any folder of scored EDF pairs given with ``--real DIR``, e.g. the
DREAMS excerpts converted by ``benchmarks/sim_to_real.py --convert-dreams``), and three
ratios: wake alpha / N2 alpha (relative), N2 sigma / N1 sigma (relative), N3 delta / N2
delta (absolute power).

It prints a per-night table and, on its last line, one JSON object::

    {"yasa_kappa_mean": ..., "yasa_kappa_min": ..., "n_nights": ..., "per_night": {...}}

Usage::

    python benchmarks/synthetic_realism.py [--nights 10] [--hypnogram-dir DIR] [--seed 0]
        [--montage aasm] [--label-noise 0]
    python benchmarks/synthetic_realism.py --spectra [--real DIR] [--nights 10]

Needs the benchmark extras (``pip install -r requirements-bench.txt``: yasa and its
LightGBM / antropy dependencies).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sigvision.synth.montages import DERIVATIONS, MONTAGES
from sigvision.synth.nights import write_synthetic_night

STAGE_CHARS = {"WAKE": 0, "W": 0, "N1": 1, "N2": 2, "N3": 3, "REM": 4, "R": 4}
#: share of the selected nights per source (largest-remainder rounding)
SOURCE_SHARE = (("sleep_edf_sc", 0.4), ("sleep_edf_st", 0.2), ("dodh", 0.2), ("dodo", 0.2))
BANDS = (("delta", 0.5, 4.0), ("theta", 4.0, 8.0), ("alpha", 8.0, 12.0), ("sigma", 12.0, 16.0),
         ("beta", 16.0, 30.0))
REAL_FIXTURES = REPO / "tests" / "data" / "psg_real"


def montage_leads(montage: str) -> tuple[str, str | None, str | None]:
    """(EEG, EOG, EMG) channel names YASA reads on a montage: the central EEG when there is one."""
    spec = MONTAGES[montage]
    eeg = [name for name, t, d in spec if t == "eeg"]
    central = [name for name, t, d in spec if t == "eeg" and d in ("C-M", "Cz-M")]
    eog = next((name for name, t, _ in spec if t == "eog"), None)
    emg = next((name for name, t, d in spec if t == "emg" and d == "chin"), None)  # not the 1-Hz envelope
    return (central or eeg)[0], eog, emg


def central_row(names: list[str]) -> int:
    """Row of the central derivation of a synthetic montage (else its first EEG lead)."""
    for spec in MONTAGES.values():
        if [s[0] for s in spec] == list(names):
            for i, (_, t, d) in enumerate(spec):
                if t == "eeg" and d in ("C-M", "Cz-M"):
                    return i
            return next(i for i, (_, t, _) in enumerate(spec) if t == "eeg")
    raise ValueError(f"not a synthetic montage: {names}")


def epoch_stats(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Per-epoch 0.5-30 Hz RMS (uV), absolute delta power and relative band powers; x (n, samples)."""
    from scipy.signal import butter, sosfiltfilt, welch

    f, p = welch(x, fs, nperseg=int(4 * fs), axis=-1)
    hi = min(30.0, 0.45 * fs)
    tot = p[:, (f >= 0.5) & (f < hi)].sum(1)
    out = {b: p[:, (f >= lo) & (f < h)].sum(1) / tot for b, lo, h in BANDS}
    out["delta_abs"] = p[:, (f >= 0.5) & (f < 4)].sum(1) * (f[1] - f[0])
    out["rms"] = sosfiltfilt(butter(4, [0.5, hi], "bandpass", fs=fs, output="sos"), x, axis=-1).std(1)
    return out


def stage_medians(x: np.ndarray, fs: float, stages: np.ndarray) -> dict[int, dict[str, float]]:
    st = epoch_stats(x, fs)
    return {s: {k: float(np.median(v[stages == s])) for k, v in st.items()} for s in range(5)
            if np.any(stages == s)}


def ratios(m: dict[int, dict[str, float]]) -> dict[str, float | None]:
    def r(a, b, s1, s2):
        return round(m[s1][a] / m[s2][b], 2) if s1 in m and s2 in m and m[s2][b] > 0 else None
    return {"alpha W/N2": r("alpha", "alpha", 0, 2), "sigma N2/N1": r("sigma", "sigma", 2, 1),
            "delta N3/N2": r("delta_abs", "delta_abs", 3, 2)}


def spectra_report(args) -> dict:
    """The spectral realism table (see the module docstring)."""
    import mne

    from sigvision.synth.generator import synthesize_night

    rows: list[tuple[str, dict]] = []
    # synthetic: central derivation of the AASM montage (and Fpz-Cz of the Sleep-EDF one)
    nights = select_nights(args.hypnogram_dir or default_hypnogram_dir(), args.nights, args.seed)
    for montage, row in (("aasm", 1), ("sleep_edf", 0), ("sleep_edf", 1)):
        per = []
        for i, (_, name, hyp) in enumerate(nights):
            n = synthesize_night(np.where(hyp < 0, 0, hyp), seed=args.seed * 1000 + i, montage=montage)
            per.append(stage_medians(n.signals[row].reshape(hyp.size, -1).astype(np.float64), n.fs_hz, n.hypnogram))
        rows.append((f"synthetic {n.channel_names[row]} ({len(nights)} nights)", _median_of(per)))
    # real snippets shipped with the tests
    raw = mne.io.read_raw_edf(REAL_FIXTURES / "SC4001E0-PSG.edf", preload=True, verbose="error")
    for ch in ("EEG Fpz-Cz", "EEG Pz-Oz"):
        x = raw.get_data(picks=[ch], units="uV")[0]
        rows.append((f"real Sleep-EDF SC4001 {ch} (10 W epochs)",
                     stage_medians(x[: x.size // 3000 * 3000].reshape(-1, 3000), 100.0, np.zeros(x.size // 3000, int))))
    n3 = np.loadtxt(REAL_FIXTURES / "data_N3_no-spindles_30sec_100Hz.txt")[None]
    n2 = np.loadtxt(REAL_FIXTURES / "data_N2_spindles_15sec_200Hz.txt")[None]
    rows.append(("real YASA snippet N3 (30 s)", stage_medians(n3, 100.0, np.array([3]))))
    rows.append(("real YASA snippet N2 (15 s, spindles)", stage_medians(n2, 200.0, np.array([2]))))
    if args.real:
        per = [stage_medians(ep, fs, st) for ep, fs, st in real_central_epochs(args.real)]
        rows.append((f"real {Path(args.real).name} central ({len(per)} recordings)", _median_of(per)))
    print(f"{'source':<46}{'stage':<6}{'RMS uV':>7}" + "".join(f"{b:>7}" for b, _, _ in BANDS))
    for label, m in rows:
        for s, v in m.items():
            print(f"{label:<46}{'W N1 N2 N3 R'.split()[s]:<6}{v['rms']:7.1f}" + "".join(f"{v[b]:7.3f}" for b, _, _ in BANDS))
    print("\nratios (relative alpha W/N2, relative sigma N2/N1, absolute delta N3/N2):")
    for label, m in rows:
        rr = ratios(m)
        if any(v is not None for v in rr.values()):
            print(f"  {label:<46}" + "  ".join(f"{k} {v}" for k, v in rr.items() if v is not None))
    return {label: {"stages": {"W N1 N2 N3 R".split()[s]: {k: round(v, 4) for k, v in d.items()} for s, d in m.items()},
                    "ratios": ratios(m)} for label, m in rows}


#: bands of the within-subject contrast table (``--contrasts``)
CONTRAST_BANDS = ((0.5, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 20.0), (20.0, 25.0),
                  (25.0, 30.0))


def real_central_epochs(real_dir):
    """Yield ``(epochs, fs, stages)`` per recording of a folder of real scored PSG: the scored
    30-s epochs (k, 30*fs) in uV of its first central channel (C3/C4/Cz; else its first channel)."""
    import mne

    from sigvision.loaders.hypnogram import read_hypnogram
    from sigvision.loaders.pairing import pair_sleep_edf_files

    for psg, hyp_path in pair_sleep_edf_files(real_dir):
        raw = mne.io.read_raw_edf(psg, preload=True, verbose="error")
        central = [c for c in raw.ch_names if any(k in c.upper() for k in ("C3", "C4", "CZ"))] or raw.ch_names[:1]
        fs = float(raw.info["sfreq"])
        x = raw.get_data(picks=[central[0]], units="uV")[0]
        st = read_hypnogram(hyp_path).stages
        spe = int(round(30 * fs))
        k = min(st.size, x.size // spe)
        ok = st[:k] >= 0
        yield x[: k * spe].reshape(k, spe)[ok], fs, st[:k][ok]


def band_db(x: np.ndarray, fs: float, bands=CONTRAST_BANDS) -> np.ndarray:
    """Per-epoch mean power spectral density in dB (re 1 uV^2/Hz) per band; x (n_epochs, samples)."""
    from scipy.signal import welch

    f, p = welch(x, fs, nperseg=int(2 * fs), axis=-1)
    return np.stack([10 * np.log10(p[:, (f >= lo) & (f < hi)].mean(1) + 1e-12) for lo, hi in bands], axis=1)


def stage_contrasts(recordings: list[tuple[np.ndarray, np.ndarray]]) -> tuple[dict, dict]:
    """Gain-free realism statistics over recordings of ``(band_db (n, B), stages (n,))``.

    Each epoch's band powers are taken relative to its own recording's median N2 epoch (so a
    subject's or amplifier's gain cancels). Returns ``(contrast, spread)``: per stage, the
    median over recordings of the stage's median relative power (dB per band), and the
    interquartile range over all that stage's epochs (dB per band: how much epochs of one
    stage differ from one another). Recordings with fewer than 5 N2 epochs are skipped."""
    rel: dict[int, list[np.ndarray]] = {s: [] for s in range(5)}
    med: dict[int, list[np.ndarray]] = {s: [] for s in range(5)}
    for db, st in recordings:
        if np.sum(st == 2) < 5:
            continue
        ref = np.median(db[st == 2], axis=0)
        for s in range(5):
            if np.sum(st == s) >= 3:
                rel[s].append(db[st == s] - ref)
                med[s].append(np.median(db[st == s] - ref, axis=0))
    contrast = {s: np.median(med[s], axis=0) for s in range(5) if med[s]}
    spread = {s: np.subtract(*np.percentile(np.concatenate(rel[s]), [75, 25], axis=0)) for s in range(5) if rel[s]}
    return contrast, spread


#: 1-Hz bands of the probe classifier (``--contrasts``)
PROBE_BANDS = tuple((float(lo), float(lo + 1)) for lo in range(1, 30)) + ((0.5, 1.0),)


def _probe_model():
    """The probe: standardised band powers -> L2 logistic regression (C 0.1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))


def probe_kappa(syn_db: list[np.ndarray], real_db: list[np.ndarray], syn_y: np.ndarray, real_y: np.ndarray) -> float:
    """Cohen's kappa on the real epochs of a logistic regression trained on the synthetic ones
    (per-epoch band powers in dB, standardised with the synthetic statistics; bands missing in
    any recording, above a low sampling rate's Nyquist frequency, are left out): a 1-minute
    check of whether what separates the synthetic stages also separates the real ones."""
    from sklearn.metrics import cohen_kappa_score

    xs, xr = np.concatenate(syn_db), np.concatenate(real_db)
    cols = np.isfinite(xs).all(0) & np.isfinite(xr).all(0)  # bands above a low-rate recording's Nyquist
    xs, xr = xs[:, cols], xr[:, cols]
    keep = syn_y >= 0
    clf = _probe_model().fit(xs[keep], syn_y[keep])
    return float(cohen_kappa_score(real_y, clf.predict(xr), labels=list(range(5))))


def loro_probe_kappa(real_db: list[np.ndarray], real_y: list[np.ndarray]) -> float:
    """The same probe trained on the real recordings themselves, leave one recording out
    (pooled Cohen's kappa over the held-out predictions): how far 1-Hz band powers of this
    lead go on these recordings when the training data is real, the reference for the
    synthetic-trained probe. Needs at least two recordings."""
    from sklearn.metrics import cohen_kappa_score

    if len(real_db) < 2:
        raise ValueError("leave-one-recording-out needs at least two real recordings")
    cols = np.all([np.isfinite(d).all(0) for d in real_db], axis=0)
    preds = []
    for i in range(len(real_db)):
        rest = [j for j in range(len(real_db)) if j != i]
        clf = _probe_model().fit(np.concatenate([real_db[j][:, cols] for j in rest]),
                                 np.concatenate([real_y[j] for j in rest]))
        preds.append(clf.predict(real_db[i][:, cols]))
    return float(cohen_kappa_score(np.concatenate(real_y), np.concatenate(preds), labels=list(range(5))))


def contrasts_report(args) -> dict:
    """``--contrasts``: within-subject stage contrasts and within-stage spread of synthetic
    central EEG next to a folder of real scored recordings (``--real``)."""
    from sigvision.synth.generator import synthesize_night

    nights = select_nights(args.hypnogram_dir or default_hypnogram_dir(), args.nights, args.seed)
    syn, syn_fine, real_fine = [], [], []
    for i, (_, _, hyp) in enumerate(nights):
        n = synthesize_night(np.where(hyp < 0, 0, hyp), seed=args.seed * 1000 + i, montage="aasm")
        x = n.signals[1].reshape(hyp.size, -1).astype(np.float64)
        syn.append((band_db(x, n.fs_hz), n.hypnogram))
        syn_fine.append((band_db(x, n.fs_hz, PROBE_BANDS), n.hypnogram))
    real = []
    for ep, fs, st in real_central_epochs(args.real):
        real.append((band_db(ep, fs), st))
        real_fine.append((band_db(ep, fs, PROBE_BANDS), st))
    out = {"probe_kappa": probe_kappa([r for r, _ in syn_fine], [r for r, _ in real_fine],
                                      np.concatenate([s for _, s in syn_fine]), np.concatenate([s for _, s in real_fine]))}
    print(f"probe: a logistic regression on 1-Hz band powers, trained on the synthetic epochs, "
          f"stages the real ones at kappa {out['probe_kappa']:.3f}")
    if len(real_fine) >= 2:
        out["probe_kappa_real_loro"] = loro_probe_kappa([r for r, _ in real_fine], [s for _, s in real_fine])
        print(f"reference: the same probe trained on the real recordings, leave one recording out: "
              f"kappa {out['probe_kappa_real_loro']:.3f}")
    head = "".join(f"{f'{lo:g}-{hi:g}':>8}" for lo, hi in CONTRAST_BANDS)
    for title, idx in (("stage contrast: median dB relative to the same recording's N2", 0),
                       ("within-stage spread: interquartile range over epochs, dB", 1)):
        print(f"\n{title}\n{'source':<34}{'stage':<6}{head}")
        syn_t, real_t = stage_contrasts(syn)[idx], stage_contrasts(real)[idx]
        for s in range(5):
            for label, t in ((f"synthetic C4-M1 ({len(syn)} nights)", syn_t), (f"real {Path(args.real).name}", real_t)):
                if s in t:
                    print(f"{label:<34}{'W N1 N2 N3 R'.split()[s]:<6}" + "".join(f"{v:8.1f}" for v in t[s]))
        out["contrast" if idx == 0 else "spread"] = {
            src: {"W N1 N2 N3 R".split()[s]: [round(float(v), 2) for v in t[s]] for s in t}
            for src, t in (("synthetic", syn_t), ("real", real_t))}
    return out


def _median_of(per: list[dict]) -> dict[int, dict[str, float]]:
    out = {}
    for s in range(5):
        have = [p[s] for p in per if s in p]
        if have:
            out[s] = {k: float(np.median([h[k] for h in have])) for k in have[0]}
    return out


def default_hypnogram_dir() -> Path:
    """``sigvision/resources/sample/hypnograms`` when present, else the shared data copy."""
    packaged = REPO / "sigvision" / "resources" / "sample" / "hypnograms"
    if (packaged / "sleep_edf_dreem").is_dir() or (packaged / "dreem_dodh").is_dir():
        return packaged
    return Path("/work/shared/data/sleep_hypnograms")


def _load_json(path: Path) -> np.ndarray:
    with open(path) as fh:
        return np.asarray(json.load(fh), dtype=np.int64)


def dod_consensus(scorings: list[np.ndarray]) -> np.ndarray:
    """Majority vote of several epoch-aligned scorings (-1 = not scored).

    Ties are broken in favour of the scorer who agrees most with the others overall
    (the rule of the Dreem Open Datasets paper); epochs nobody scored stay -1.
    """
    s = np.stack(scorings)  # (n_scorers, n_epochs)
    n_sc, n_ep = s.shape
    agree = np.zeros(n_sc)
    for i in range(n_sc):
        for j in range(n_sc):
            if i != j:
                both = (s[i] >= 0) & (s[j] >= 0)
                agree[i] += np.mean(s[i][both] == s[j][both]) if both.any() else 0.0
    rank = np.argsort(-agree, kind="stable")
    votes = np.zeros((5, n_ep), dtype=np.int64)
    for k in range(5):
        votes[k] = (s == k).sum(axis=0)
    best = votes.max(axis=0)
    out = np.full(n_ep, -1, dtype=np.int64)
    for e in np.flatnonzero(best > 0):
        tied = np.flatnonzero(votes[:, e] == best[e])
        if tied.size == 1:
            out[e] = tied[0]
        else:
            for r in rank:
                if s[r, e] in tied:
                    out[e] = s[r, e]
                    break
    return out


def list_nights(root: Path) -> dict[str, list[tuple[str, object]]]:
    """Available nights per source: (name, loader) pairs, sorted by name."""
    out: dict[str, list[tuple[str, object]]] = {k: [] for k, _ in SOURCE_SHARE}
    sed = root / "sleep_edf_dreem"
    if sed.is_dir():
        for f in sorted(sed.glob("*.json")):
            key = "sleep_edf_sc" if f.name.startswith("SC") else "sleep_edf_st"
            out[key].append((f.name.split("-")[0], (lambda f=f: _load_json(f))))
    for src in ("dodh", "dodo"):
        d = root / f"dreem_{src}"
        first = d / "scorer_1"
        if not first.is_dir():
            continue
        for f in sorted(first.glob("*.json")):
            files = sorted(d.glob(f"scorer_*/{f.name}"))
            out[src].append(
                (f"{src}_{f.stem[:8]}", (lambda files=files: dod_consensus([_load_json(x) for x in files])))
            )
    return out


def select_nights(root: Path, n_nights: int, seed: int) -> list[tuple[str, str, np.ndarray]]:
    """Fixed seeded selection of ``n_nights`` nights mixing the sources."""
    avail = list_nights(root)
    present = [(k, s) for k, s in SOURCE_SHARE if avail[k]]
    if not present:
        raise SystemExit(f"no hypnograms found under {root}")
    total = sum(s for _, s in present)
    quota = {k: n_nights * s / total for k, s in present}
    counts = {k: min(int(q), len(avail[k])) for k, q in quota.items()}
    # largest remainder, respecting availability
    while sum(counts.values()) < n_nights:
        cand = [k for k, _ in present if counts[k] < len(avail[k])]
        if not cand:
            break
        k = max(cand, key=lambda k: (quota[k] - counts[k], -counts[k]))
        counts[k] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for k, _ in present:
        idx = np.sort(rng.choice(len(avail[k]), size=counts[k], replace=False))
        for i in idx:
            name, load = avail[k][i]
            chosen.append((k, name, load()))
    return chosen


def stage_with_yasa(psg_path: Path, montage: str = "aasm") -> np.ndarray:
    import mne
    import yasa

    eeg, eog, emg = montage_leads(montage)
    raw = mne.io.read_raw_edf(psg_path, preload=True, verbose="error")
    sls = yasa.SleepStaging(raw, eeg_name=eeg, eog_name=eog, emg_name=emg)
    hyp = sls.predict()
    # yasa >= 0.7 returns a yasa.Hypnogram (stages in .hypno), older versions an array
    values = np.asarray(getattr(hyp, "hypno", hyp))
    return np.array([STAGE_CHARS[str(v).upper()] for v in values], dtype=np.int64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nights", type=int, default=10, help="number of nights (default 10)")
    ap.add_argument("--hypnogram-dir", type=Path, default=None,
                    help="folder with sleep_edf_dreem/, dreem_dodh/, dreem_dodo/ "
                         "(default: sigvision/resources/sample/hypnograms if present, "
                         "else /work/shared/data/sleep_hypnograms)")
    ap.add_argument("--seed", type=int, default=0, help="selection and synthesis seed")
    ap.add_argument("--montage", default="aasm", choices=sorted(MONTAGES),
                    help="montage of the synthetic nights (default aasm: YASA reads C4-M1, E1-M2, chin)")
    ap.add_argument("--label-noise", type=float, default=0.0,
                    help="human-scorer label noise of the written hypnograms (0-1); kappa is reported "
                         "against the driving hypnogram and against these labels")
    ap.add_argument("--spectra", action="store_true", help="print the spectral realism table instead")
    ap.add_argument("--real", type=Path, default=None,
                    help="with --spectra: a folder of real scored EDF pairs to add to the table")
    ap.add_argument("--contrasts", action="store_true",
                    help="print within-recording stage contrasts and within-stage spread, synthetic "
                         "next to the real recordings of --real (needed)")
    args = ap.parse_args(argv)
    if args.nights < 1:
        ap.error("--nights must be >= 1")
    if args.contrasts:
        if args.real is None:
            ap.error("--contrasts compares with real recordings: give --real DIR (scored EDF pairs)")
        print(json.dumps(contrasts_report(args)))
        return 0
    if args.spectra:
        print(json.dumps(spectra_report(args)))
        return 0
    root = args.hypnogram_dir or default_hypnogram_dir()
    logging.getLogger("yasa").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    t_all = time.perf_counter()
    nights = select_nights(root, args.nights, args.seed)
    per_night: dict[str, dict] = {}
    per_night_scored: list[float] = []
    eeg, eog, emg = montage_leads(args.montage)
    print(f"montage {args.montage}: YASA reads EEG {eeg!r}, EOG {eog!r}, EMG {emg!r}")
    conf_total = np.zeros((5, 5), dtype=np.int64)
    print(f"hypnograms: {root}")
    print(f"{'night':<22}{'source':<14}{'epochs':>7}{'kappa':>8}{'acc':>7}{'synth_s':>9}{'yasa_s':>8}  "
          "stages W/N1/N2/N3/R (truth)")
    with tempfile.TemporaryDirectory(prefix="sigvision_realism_") as tmp:
        for i, (source, name, hyp) in enumerate(nights):
            t0 = time.perf_counter()
            psg, hyp_path = write_synthetic_night(tmp, name, hyp, seed=args.seed * 1000 + i,
                                                  montage=args.montage, label_noise=args.label_noise)
            t1 = time.perf_counter()
            pred = stage_with_yasa(psg, args.montage)
            t2 = time.perf_counter()
            n = min(hyp.size, pred.size)  # one YASA stage per complete 30-s epoch
            m = hyp[:n] >= 0  # kappa on scored epochs only
            truth, guess = hyp[:n][m], pred[:n][m]
            kappa = float(cohen_kappa_score(truth, guess))
            acc = float(np.mean(truth == guess))
            conf_total += confusion_matrix(truth, guess, labels=range(5))
            cnt = Counter(truth.tolist())
            if args.label_noise > 0:
                from sigvision.loaders.hypnogram import read_hypnogram

                scored = read_hypnogram(hyp_path).stages[:n]
                ms = scored >= 0
                per_night_scored.append(float(cohen_kappa_score(scored[ms], pred[:n][ms])))
            per_night[name] = {
                "source": source,
                "n_epochs": int(hyp.size),
                "n_scored": int(m.sum()),
                "kappa": round(kappa, 4),
                "accuracy": round(acc, 4),
            }
            print(f"{name:<22}{source:<14}{hyp.size:>7}{kappa:>8.3f}{acc:>7.3f}{t1 - t0:>9.1f}"
                  f"{t2 - t1:>8.1f}  " + "/".join(str(cnt.get(k, 0)) for k in range(5)), flush=True)
            Path(psg).unlink(missing_ok=True)
    kappas = [v["kappa"] for v in per_night.values()]
    print("confusion matrix over all nights (rows truth, cols YASA; W N1 N2 N3 R):")
    for k, row in zip(("W", "N1", "N2", "N3", "R"), conf_total):
        print(f"  {k:<3}" + "".join(f"{v:>7}" for v in row))
    print(f"total time {time.perf_counter() - t_all:.1f} s")
    if per_night_scored:
        print(f"kappa against the noisy labels written (label noise {args.label_noise}): "
              f"mean {np.mean(per_night_scored):.3f}")
    result = {
        "yasa_kappa_mean": round(float(np.mean(kappas)), 4),
        "yasa_kappa_min": round(float(np.min(kappas)), 4),
        "n_nights": len(kappas),
        "montage": args.montage,
        "eeg": eeg,
        "label_noise": args.label_noise,
        "per_night": per_night,
        **({"yasa_kappa_mean_vs_scored": round(float(np.mean(per_night_scored)), 4)} if per_night_scored else {}),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
