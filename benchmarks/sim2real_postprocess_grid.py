"""Post-processing judged on real stager outputs, several stagers at once (issue 17).

Reads the ``real_probs.npz`` that ``benchmarks/sim_to_real.py --keep WORK`` leaves (our
stager's probabilities on every scored real epoch, the human stages, the recording names, the
feature stager's probabilities and, unless ``--no-yasa``, YASA's on the same epochs) from one or more runs, and
prints for every stager and every post-processing setting: the pooled kappa, its change from
argmax, and the worst per-recording change on the recordings whose argmax kappa is above
``--good`` (default 0.6). The issue's target: no method loses more than 0.03 there.
The settings are the shipped methods (``mode``, ``rules``, ``hmm``, ``hmm_robust``) and the
HMM at lower transition weights (0.2, 0.1), so a default can be chosen on outputs of more
than one stager without retraining anything.

    python benchmarks/sim_to_real.py --real dreams_edf --keep work_s0/
    python benchmarks/sim_to_real.py --real dreams_edf --keep work_s1/ --seed 1
    python benchmarks/sim2real_postprocess_grid.py work_s0/ work_s1/

Last line: one JSON object (per stager and setting: pooled, gain, worst, n_good).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.sim_to_real import _fmt, kappa_or_none  # noqa: E402

#: name -> (method, options) given to :func:`sigvision.postprocess.smooth`
SETTINGS: dict[str, tuple[str, dict]] = {
    "argmax": ("argmax", {}),
    "mode": ("mode", {}),
    "rules": ("rules", {}),
    "hmm": ("hmm", {}),
    "hmm_robust": ("hmm_robust", {}),
    "hmm_w0.2": ("hmm", {"transition_weight": 0.2}),
    "hmm_w0.1": ("hmm", {"transition_weight": 0.1}),
}


def load_stagers(paths: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{"ours:<run>": (probs, labels, records), "features:<run>": ..., "yasa:<run>": ...}`` (every
    ``<stager>_probs`` array next to ours) from --keep folders or
    npz files; a one-line error names a file that is missing or not a sim_to_real output."""
    out = {}
    for p in paths:
        f = p / "real_probs.npz" if p.is_dir() else p
        if not f.is_file():
            raise SystemExit(f"{f}: not found; fix: run benchmarks/sim_to_real.py --real DIR --keep {p}")
        d = np.load(f)
        missing = [k for k in ("probs", "labels", "record") if k not in d.files]
        if missing:
            raise SystemExit(f"{f}: lacks {', '.join(missing)}; fix: give the real_probs.npz that "
                             "benchmarks/sim_to_real.py --keep writes")
        run = p.name if p.is_dir() else p.parent.name
        y, rec = d["labels"].astype(np.int64), d["record"].astype(str)
        out[f"ours:{run}"] = (d["probs"], y, rec)
        for key in sorted(k for k in d.files if k.endswith("_probs")):  # features_probs, yasa_probs
            out[f"{key[:-len('_probs')]}:{run}"] = (d[key], y, rec)
    return out


def evaluate(probs: np.ndarray, labels: np.ndarray, records: np.ndarray, good: float = 0.6,
             settings: dict[str, tuple[str, dict]] = SETTINGS) -> dict[str, dict]:
    """Per setting: pooled kappa, gain over argmax, worst change on recordings with argmax
    kappa above ``good`` (0.0 when none got worse), how many such recordings, and the changes.
    Kappa is None where it is undefined (a single true stage), as in ``sim_to_real.py``."""
    from sigvision.postprocess import smooth

    recs = list(dict.fromkeys(records))
    sel = [records == r for r in recs]
    y_all = np.concatenate([labels[m] for m in sel])
    base = {r: kappa_or_none(labels[m], probs[m].argmax(1)) for r, m in zip(recs, sel)}
    k0 = kappa_or_none(y_all, np.concatenate([probs[m].argmax(1) for m in sel]))
    good_recs = [r for r in recs if base[r] is not None and base[r] > good]
    res = {}
    for name, (method, opts) in settings.items():
        preds = {r: smooth(probs[m], method=method, **opts) for r, m in zip(recs, sel)}
        pooled = kappa_or_none(y_all, np.concatenate([preds[r] for r in recs]))
        deltas = {r: kappa_or_none(labels[m], preds[r]) - base[r] for r, m in zip(recs, sel) if r in good_recs}
        res[name] = {"pooled": pooled, "gain": None if pooled is None else pooled - k0,
                     "worst": min([0.0] + list(deltas.values())), "n_good": len(good_recs),
                     "deltas": {r: round(v, 4) for r, v in deltas.items()}}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="--keep folders of sim_to_real.py (or their real_probs.npz)")
    ap.add_argument("--good", type=float, default=0.6, help="argmax kappa above which no loss is allowed")
    args = ap.parse_args(argv)
    stagers = load_stagers(args.runs)
    out = {}
    print(f"{'stager':<24}{'setting':<12}{'pooled':>8}{'gain':>8}{'worst':>8}  changes on recordings above "
          f"{args.good:g} (target: none below -0.03)")
    for sname, (p, y, r) in stagers.items():
        res = evaluate(p, y, r, args.good)
        out[sname] = res
        for name, e in res.items():
            flag = "  <- loses more than 0.03" if e["worst"] < -0.03 else ""
            gain = "     n/a" if e["gain"] is None else f"{e['gain']:+8.3f}"
            print(f"{sname:<24}{name:<12}{_fmt(e['pooled']):>8}{gain}{e['worst']:8.3f}  "
                  f"{list(e['deltas'].values()) if e['n_good'] else 'none above'}{flag}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
