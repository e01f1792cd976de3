"""Realism benchmark for the synthetic PSG generator: blind staging with YASA.

For a fixed, seeded selection of real human-scored nights (Sleep-EDF SC and ST nights,
and Dreem DOD-H / DOD-O nights whose 5 scorers are merged by majority vote), the script

1. synthesises the night with :func:`sigvision.loaders.synthetic.write_synthetic_night`
   (EDF pair written to a temporary folder),
2. reads the PSG back with ``mne.io.read_raw_edf`` (so the EDF writer is exercised),
3. stages it with YASA's pre-trained classifier, ``yasa.SleepStaging(raw,
   eeg_name="EEG Fpz-Cz", eog_name="EOG horizontal", emg_name="EMG submental")`` --
   YASA never sees the hypnogram,
4. computes Cohen's kappa between YASA's stages and the driving hypnogram on scored
   epochs (sklearn).

It prints a per-night table and, on its last line, one JSON object::

    {"yasa_kappa_mean": ..., "yasa_kappa_min": ..., "n_nights": ..., "per_night": {...}}

Usage::

    python benchmarks/synthetic_realism.py [--nights 10] [--hypnogram-dir DIR] [--seed 0]

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

from sigvision.loaders.synthetic import write_synthetic_night  # noqa: E402

STAGE_CHARS = {"WAKE": 0, "W": 0, "N1": 1, "N2": 2, "N3": 3, "REM": 4, "R": 4}
#: share of the selected nights per source (largest-remainder rounding)
SOURCE_SHARE = (("sleep_edf_sc", 0.4), ("sleep_edf_st", 0.2), ("dodh", 0.2), ("dodo", 0.2))
EEG, EOG, EMG = "EEG Fpz-Cz", "EOG horizontal", "EMG submental"


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


def stage_with_yasa(psg_path: Path) -> np.ndarray:
    import mne
    import yasa

    raw = mne.io.read_raw_edf(psg_path, preload=True, verbose="error")
    sls = yasa.SleepStaging(raw, eeg_name=EEG, eog_name=EOG, emg_name=EMG)
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
    args = ap.parse_args(argv)
    if args.nights < 1:
        ap.error("--nights must be >= 1")
    root = args.hypnogram_dir or default_hypnogram_dir()
    logging.getLogger("yasa").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    t_all = time.perf_counter()
    nights = select_nights(root, args.nights, args.seed)
    per_night: dict[str, dict] = {}
    conf_total = np.zeros((5, 5), dtype=np.int64)
    print(f"hypnograms: {root}")
    print(f"{'night':<22}{'source':<14}{'epochs':>7}{'kappa':>8}{'acc':>7}{'synth_s':>9}{'yasa_s':>8}  "
          "stages W/N1/N2/N3/R (truth)")
    with tempfile.TemporaryDirectory(prefix="sigvision_realism_") as tmp:
        for i, (source, name, hyp) in enumerate(nights):
            t0 = time.perf_counter()
            psg, _ = write_synthetic_night(tmp, name, hyp, seed=args.seed * 1000 + i)
            t1 = time.perf_counter()
            pred = stage_with_yasa(psg)
            t2 = time.perf_counter()
            n = min(hyp.size, pred.size)  # one YASA stage per complete 30-s epoch
            m = hyp[:n] >= 0  # kappa on scored epochs only
            truth, guess = hyp[:n][m], pred[:n][m]
            kappa = float(cohen_kappa_score(truth, guess))
            acc = float(np.mean(truth == guess))
            conf_total += confusion_matrix(truth, guess, labels=range(5))
            cnt = Counter(truth.tolist())
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
    result = {
        "yasa_kappa_mean": round(float(np.mean(kappas)), 4),
        "yasa_kappa_min": round(float(np.min(kappas)), 4),
        "n_nights": len(kappas),
        "per_night": per_night,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
