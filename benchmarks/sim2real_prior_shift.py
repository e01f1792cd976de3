"""Label-free prior-shift adaptation of a sim-to-real run, measured (issue 17).

The synthetic training nights have their own stage frequencies (about 18 % W, 8 % N1, 46 % N2,
11 % N3, 17 % REM); a 30-min real excerpt has others (DREAMS: mostly N2, 5 REM epochs in 480).
This re-estimates each real recording's stage prior from the model's own probabilities by EM
(Saerens, Latinne and Decaestecker 2002: rescale the posteriors by new prior / training prior,
renormalise, take the mean as the new prior, repeat) and prints the kappa of the argmax before
and after, per recording and with one prior for all recordings. No label of a real recording is
used. Measured on DREAMS it makes kappa much worse (see the README's *Sim-to-real*), so it is
not an option of the pipeline.

    python benchmarks/sim_to_real.py --real dreams_edf --keep work/
    python benchmarks/sim2real_prior_shift.py work/
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def em_prior(probs: np.ndarray, train_prior: np.ndarray, iters: int = 100, tol: float = 1e-6):
    """Posteriors adapted to the prior EM finds for ``probs`` (n, k), and that prior."""
    prior = train_prior.copy()
    q = probs
    for _ in range(iters):
        q = probs * (prior / train_prior)
        q = q / q.sum(1, keepdims=True)
        new = q.mean(0)
        done = np.abs(new - prior).max() < tol
        prior = new
        if done:
            break
    return q, prior


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import cohen_kappa_score

    from sigvision.io.runs import load_prepared

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python benchmarks/sim2real_prior_shift.py WORK  (the --keep folder of sim_to_real.py)")
    work = Path(argv[0])
    if not (work / "real_probs.npz").is_file():
        raise SystemExit(f"{work}: no real_probs.npz; fix: run benchmarks/sim_to_real.py --real DIR --keep {work}")
    d = np.load(work / "real_probs.npz")
    probs, labels, rec = d["probs"], d["labels"].astype(int), d["record"]
    rows, _ = load_prepared(work / "prepared_synth")
    train_prior = np.bincount(rows["label"].to_numpy(dtype=int), minlength=5) / len(rows)
    print("training prior (W N1 N2 N3 R):", np.round(train_prior, 3))
    preds = {"argmax": probs.argmax(1), "em_per_record": np.empty(len(labels), int),
             "em_pooled": em_prior(probs, train_prior)[0].argmax(1)}
    for r in np.unique(rec):
        m = rec == r
        preds["em_per_record"][m] = em_prior(probs[m], train_prior)[0].argmax(1)
    for name, p in preds.items():
        k = cohen_kappa_score(labels, p, labels=list(range(5)))
        print(f"{name:<15} pooled kappa {k:6.3f}   calls W/N1/N2/N3/R {'/'.join(map(str, np.bincount(p, minlength=5)))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
