"""Post-processing gain: kappa / macro-F1 before and after each method, on real hypnograms.

What it does
------------
1. Takes the real human hypnograms shipped with the project (147 Sleep-EDF Expanded
   nights, one R&K scorer; 19 DOD-H + 41 DOD-O nights, 5-scorer AASM majority vote).
2. Splits them so nothing evaluated was used to learn the transitions (fixed, no seed):
   Sleep-EDF *subjects* (first 5 characters of the night name, SC400, ST701, ...) in
   sorted order go by index i: i % 4 in {0, 1} -> ``fit`` (the HMM transitions and the
   simulated classifier's stage priors are learned there), i % 4 == 2 -> ``dev`` (where the
   rule thresholds and HMM options were tuned), i % 4 == 3 -> ``test``. The DOD nights
   (each a different subject, not in ``fit``) alternate dev / test in sorted order. The
   reported numbers are on ``test`` unless ``--split dev``.
3. Simulates a classifier on every evaluated night (probabilities, not labels):

   * its per-stage confusion is that of a published automatic stager: the diagonal is
     YASA's sensitivity on 327 held-out adolescent nights (W 93.0 %, N1 40.4 %, N2 87.7 %,
     N3 84.5 %, REM 86.0 %; Sleep Health 2023;9(6):910-924, doi:10.1016/j.sleh.2023.07.019,
     YASA: Vallat & Walker, eLife 2021); how each stage's errors split over the other
     stages (N1 -> W/N2/REM, N2 -> N1/N3, N3 -> N2, REM -> N1/N2/W, W -> N1) is our
     assumption following the usual pattern of automatic stagers (:data:`ERROR_SHARES`);
   * probabilities are *calibrated by construction*: with ``R[k, y] = P(true y | the
     model leans to k)`` from the confusion and the stage priors, each epoch draws the
     stage k the model leans to from the confusion row of its true stage, then
     ``p ~ Dirichlet(c * R[k] + onehot(true))``. This is exactly the posterior of a
     model whose outputs follow the mixture of Dirichlet(c * R[k]) (so P(true | p) = p);
     ``c`` (``--concentration``, default 3) sets how peaked the outputs are (with c = 3
     the argmax recall and the share of epochs with max p >= 0.8 come out close to
     YASA's; both are printed);
   * errors are correlated in time through an AR(1) latent with coefficient ``rho`` per
     epoch (Gaussian copula): one AR(1) chooses the leaned-to stage k (runs of errors),
     five more drive the Dirichlet's gamma draws (the evidence itself repeats, it is not
     fresh each epoch). rho = 0.3 is "mildly correlated" (correlation gone after ~2
     epochs), rho = 0.9 "strongly correlated" (~5 min).
4. Post-processes each night with ``argmax``, ``mode`` (k = 3), ``rules`` (defaults),
   ``hmm`` (transitions learned on ``fit``, default options: posterior emissions,
   transition_weight 0.4, any start stage), ``hmm_robust`` (the same with the night-start
   distribution) and ``hmm_textbook`` (``hmm`` with the priors divided out,
   transition_weight 1 and the night-start distribution: the default before it lost kappa
   on real outputs) and reports kappa and macro-F1 (over scored epochs) per night and on
   average, the change per night, and how many nights got worse by more than 0.03.
   Targets checked per setting: rules and hmm raise the mean kappa, no night loses more
   than 0.03, rules beat the mode filter (``targets_met``; the same for hmm_robust in
   ``targets_met_hmm_robust``). ``--excerpt-epochs 60`` evaluates consecutive 30-min
   excerpts cut from the nights instead (short recordings: naps, excerpts), where kappa
   is only counted on excerpts with at least two stages.
5. Times ``smooth_many`` on 1,000 simulated nights (held-out hypnograms, cycled, real
   lengths, mild setting) for each method: best of ``--repeats`` runs, one process.

Last line of output: one JSON object.

    python benchmarks/postprocess_gain.py [--seed 0] [--nights N] [--split test|dev]
        [--rho 0.3,0.9] [--timing-nights 1000] [--per-night | --no-per-night]
    python benchmarks/postprocess_gain.py --write-shipped-hmm   # rebuild the shipped model
    python benchmarks/postprocess_gain.py --write-yasa-fixture  # YASA's probabilities on the
        # real Sleep-EDF excerpt (tests/data/psg_real), the test fixture; needs yasa
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from scipy.signal import lfilter
from scipy.special import gammaincinv, ndtr

from sigvision import postprocess as pp
from sigvision.metrics.classification import classification_metrics
from sigvision.synth.samples import list_sample_hypnograms, load_sample_hypnogram, resource_path

#: Rows of the report: label -> registered method (``hmm_robust``: posterior emissions and
#: transition_weight 0.4, options chosen on the dev split).
METHODS = {"argmax": "argmax", "mode": "mode", "rules": "rules", "hmm": "hmm", "hmm_robust": "hmm_robust",
           "hmm_textbook": "hmm"}
#: Options of the ``hmm_textbook`` row (the hybrid-HMM decoder of the textbook).
TEXTBOOK_HMM = {"divide_priors": True, "transition_weight": 1.0, "initial": "night", "n3_per_epoch": False}

#: Diagonal: YASA sensitivity per stage (W, N1, N2, N3, REM), Sleep Health 2023 (see doc).
PUBLISHED_RECALL = np.array([0.9304, 0.4039, 0.8767, 0.8446, 0.8602])
#: Our assumption: how each true stage's errors split over the other stages (rows sum to 1
#: over the off-diagonal; the diagonal entry is ignored).
ERROR_SHARES = np.array([
    # W     N1    N2    N3    REM     <- predicted, for true:
    [0.00, 0.60, 0.20, 0.03, 0.17],  # W
    [0.30, 0.00, 0.47, 0.01, 0.22],  # N1
    [0.10, 0.35, 0.00, 0.40, 0.15],  # N2
    [0.03, 0.01, 0.95, 0.00, 0.01],  # N3
    [0.18, 0.35, 0.45, 0.02, 0.00],  # REM
])


def target_confusion() -> np.ndarray:
    """Row-stochastic confusion (true x leaned-to stage), shape (5, 5)."""
    shares = ERROR_SHARES / ERROR_SHARES.sum(1, keepdims=True)
    conf = (1 - PUBLISHED_RECALL)[:, None] * shares
    conf[np.diag_indices(5)] = PUBLISHED_RECALL
    return conf


# --------------------------------------------------------------------------- data
def load_nights() -> list[dict]:
    """All shipped Sleep-EDF and DOD (consensus) nights with source and subject."""
    nights = []
    for name in list_sample_hypnograms("sleep_edf"):
        nights.append({"name": name, "source": "sleep_edf", "subject": name[:5],
                       "stages": load_sample_hypnogram(name, "sleep_edf")})
    for src in ("dodh", "dodo"):
        for name in list_sample_hypnograms(src):
            nights.append({"name": f"{src}:{name[:8]}", "source": src, "subject": f"{src}:{name}",
                           "stages": load_sample_hypnogram(name, src)})
    return nights


def split_nights(nights: list[dict]) -> dict[str, list[dict]]:
    """Fixed subject-level split: fit / dev / test (see module docstring)."""
    out = {"fit": [], "dev": [], "test": []}
    subjects = sorted({n["subject"] for n in nights if n["source"] == "sleep_edf"})
    part = {s: ("fit", "fit", "dev", "test")[i % 4] for i, s in enumerate(subjects)}
    dod = sorted((n for n in nights if n["source"] != "sleep_edf"), key=lambda n: n["subject"])
    for i, n in enumerate(dod):
        part[n["subject"]] = ("dev", "test")[i % 2]
    for n in nights:
        out[part[n["subject"]]].append(n)
    return out


# --------------------------------------------------------------------------- simulator
class SimulatedStager:
    """Calibrated probabilities with a given confusion and AR(1)-correlated errors.

    Parameters
    ----------
    confusion : ndarray, shape (5, 5)
        Row-stochastic P(leaned-to stage k | true stage y).
    priors : ndarray, shape (5,)
        Stage frequencies the simulated model was trained on.
    concentration : float
        Dirichlet concentration ``c`` (higher: flatter, less confident outputs).
    """

    def __init__(self, confusion: np.ndarray, priors: np.ndarray, concentration: float = 3.0):
        self.confusion = confusion
        self.priors = priors
        w = priors @ confusion  # P(k)
        self.reverse = (priors[:, None] * confusion).T / w[:, None]  # R[k, y] = P(y | k)
        self.c = concentration
        # copula order per true stage: the correct stage first, then the others
        self.order = np.array([[y] + [j for j in range(5) if j != y] for y in range(5)])
        self.cum = np.cumsum(np.take_along_axis(confusion, self.order, 1), 1)

    @staticmethod
    def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> np.ndarray:
        """Stationary AR(1) N(0, 1) series along the last axis."""
        e = rng.standard_normal(shape)
        if rho == 0:
            return e
        x = lfilter([np.sqrt(1 - rho ** 2)], [1.0, -rho], e, axis=-1)
        # start in the stationary distribution: add the decaying effect of x_{-1} ~ N(0, 1)
        x += rho ** np.arange(1, shape[-1] + 1) * rng.standard_normal(shape[:-1] + (1,))
        return x

    def simulate(self, stages: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
        """Probabilities (n_epochs, 5) for one night of true ``stages`` (-1 = unscored).

        Unscored epochs are simulated as the previous scored stage (they are not scored
        in the metrics).
        """
        y = np.asarray(stages).copy()
        idx = np.where(y >= 0, np.arange(y.size), 0)
        np.maximum.accumulate(idx, out=idx)
        y = np.where(y >= 0, y, y[idx])
        y[y < 0] = 0
        n = y.size
        u = ndtr(self._ar1(rng, (n,), rho))
        pos = np.minimum((u[:, None] > self.cum[y]).sum(1), 4)
        k = self.order[y, pos]
        alpha = self.c * self.reverse[k] + np.eye(5)[y]
        q = ndtr(self._ar1(rng, (5, n), rho)).T
        g = gammaincinv(alpha, np.clip(q, 1e-12, 1 - 1e-12))
        g = np.maximum(g, 1e-300)
        return g / g.sum(1, keepdims=True)


# --------------------------------------------------------------------------- evaluation
def night_metrics(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    ok = truth >= 0
    m = classification_metrics(truth[ok], pred[ok], 5)
    return m["kappa"], m["macro_f1"]


def cut_excerpts(nights: list[dict], probs: list[np.ndarray], n_epochs: int) -> tuple[list[dict], list[np.ndarray]]:
    """Consecutive ``n_epochs``-epoch excerpts of each night (and its probabilities), keeping
    those with at least two scored stages (kappa is undefined otherwise)."""
    out_n, out_p = [], []
    for n, p in zip(nights, probs):
        for j, a in enumerate(range(0, n["stages"].size - n_epochs + 1, n_epochs)):
            st = n["stages"][a:a + n_epochs]
            if np.unique(st[st >= 0]).size >= 2:
                out_n.append({**n, "name": f"{n['name'][:12]}@{j}", "stages": st})
                out_p.append(p[a:a + n_epochs])
    return out_n, out_p


def write_yasa_fixture() -> str:
    """YASA's probabilities on the real Sleep-EDF excerpt shipped in tests/data/psg_real."""
    import logging
    import warnings

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from benchmarks.sim_to_real import DEFAULT_REAL, yasa_probs

    warnings.filterwarnings("ignore")
    logging.getLogger("yasa").setLevel(logging.ERROR)
    import yasa

    psg = DEFAULT_REAL / "SC4001E0-PSG.edf"
    p, _ = yasa_probs(psg, {"EEG": "EEG Fpz-Cz", "EOG": "EOG horizontal", "EMG": "EMG submental"})
    path = DEFAULT_REAL / "SC4001E0-yasa_proba.csv"
    lines = [f"# yasa {yasa.__version__} SleepStaging(eeg='EEG Fpz-Cz', eog='EOG horizontal', "
             f"emg='EMG submental').predict() probabilities, one row per 30-s epoch from the file start; "
             f"made by: python benchmarks/postprocess_gain.py --write-yasa-fixture",
             "W,N1,N2,N3,REM"]
    lines += [",".join(f"{v:.6f}" for v in row) for row in p]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def evaluate(nights: list[dict], probs: list[np.ndarray], method_opts: dict) -> dict:
    """Per-night kappa / macro-F1 for each method."""
    res = {}
    for m, method in METHODS.items():
        preds = pp.smooth_many(probs, method, **method_opts.get(m, {}))
        km = np.array([night_metrics(n["stages"], p) for n, p in zip(nights, preds)])
        res[m] = {"kappa": km[:, 0], "f1": km[:, 1]}
    return res


def summary_rows(res: dict) -> list[dict]:
    base_k, base_f = res["argmax"]["kappa"], res["argmax"]["f1"]
    rows = []
    for m in METHODS:
        d = res[m]["kappa"] - base_k
        rows.append({"method": m, "kappa": float(res[m]["kappa"].mean()),
                     "macro_f1": float(res[m]["f1"].mean()),
                     "delta_kappa": float(d.mean()), "min_delta_kappa": float(d.min()),
                     "delta_f1": float((res[m]["f1"] - base_f).mean()),
                     "n_worse_0.03": int((d < -0.03).sum()),
                     # the issue's target: recordings the stager already scores well (argmax kappa > 0.6)
                     "n_good": int((base_k > 0.6).sum()),
                     "n_good_worse_0.03": int(((d < -0.03) & (base_k > 0.6)).sum())})
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'method':13s} {'kappa':>7s} {'macroF1':>8s} {'d_kappa':>8s} {'min_d':>7s} "
          f"{'d_F1':>7s} {'worse>0.03':>10s} {'of good (argmax k>0.6)':>23s}")
    for r in rows:
        print(f"{r['method']:13s} {r['kappa']:7.3f} {r['macro_f1']:8.3f} {r['delta_kappa']:+8.3f} "
              f"{r['min_delta_kappa']:+7.3f} {r['delta_f1']:+7.3f} {r['n_worse_0.03']:10d} "
              f"{str(r['n_good_worse_0.03']) + ' of ' + str(r['n_good']):>23s}")


def print_per_night(nights: list[dict], res: dict) -> None:
    head = " ".join(f"{'k_' + m:>10s}" for m in METHODS) + " " + " ".join(f"{'F1_' + m:>11s}" for m in METHODS)
    print(f"{'night':18s} {'epochs':>6s} {head}")
    for i, n in enumerate(nights):
        ks = " ".join(f"{res[m]['kappa'][i]:10.3f}" for m in METHODS)
        fs = " ".join(f"{res[m]['f1'][i]:11.3f}" for m in METHODS)
        print(f"{n['name']:18s} {n['stages'].size:6d} {ks} {fs}")


def simulator_check(sim: SimulatedStager, nights: list[dict], probs: list[np.ndarray]) -> dict:
    """Recall of the simulated argmax and share of epochs with max p >= 0.8, per stage."""
    cm = np.zeros((5, 5))
    hi = np.zeros(5)
    for n, p in zip(nights, probs):
        y = n["stages"]
        ok = y >= 0
        np.add.at(cm, (y[ok], p[ok].argmax(1)), 1)
        np.add.at(hi, y[ok], p[ok].max(1) >= 0.8)
    sup = cm.sum(1)
    return {"recall": (np.diag(cm) / sup).round(3).tolist(), "share_max_p_ge_0.8": (hi / sup).round(3).tolist()}


def time_methods(probs: list[np.ndarray], method_opts: dict, repeats: int) -> dict:
    out = {}
    for m in METHODS:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            pp.smooth_many(probs, METHODS[m], **method_opts.get(m, {}))
            best = min(best, time.perf_counter() - t0)
        out[m] = round(best, 3)
    return out


# --------------------------------------------------------------------------- shipped model
def write_shipped_hmm() -> str:
    """Fit the shipped model on every Sleep-EDF (SC + ST) night and every DOD consensus night."""
    nights = load_nights()
    meta = {
        "description": "Sleep-stage transition model (30-s epochs) learned from real human "
                       "hypnograms shipped in sigvision/resources/sample/hypnograms",
        "version": 1,
        "trained_on": {
            "sleep_edf": {"what": "Sleep-EDF Expanded 1.0.0, SC and ST nights, one R&K scorer, "
                                  "S3+S4 merged into N3, movement/unscored = break",
                          "n_nights": sum(n["source"] == "sleep_edf" for n in nights),
                          "n_sc": sum(n["name"].startswith("SC") for n in nights),
                          "n_st": sum(n["name"].startswith("ST") for n in nights),
                          "nights": [n["name"] for n in nights if n["source"] == "sleep_edf"]},
            "dodh": {"what": "Dreem DOD-H, majority vote of 5 AASM scorers",
                     "nights": list_sample_hypnograms("dodh")},
            "dodo": {"what": "Dreem DOD-O, majority vote of 5 AASM scorers",
                     "nights": list_sample_hypnograms("dodo")},
        },
        "initial": "first scored epoch of each night",
        "made_by": "python benchmarks/postprocess_gain.py --write-shipped-hmm",
    }
    params = pp.fit_hmm([n["stages"] for n in nights], pseudocount=1.0, meta=meta)
    path = resource_path("hmm", pp.SHIPPED_HMM)
    pp.save_hmm(params, path)
    return str(path)


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="simulation seed (the split is fixed)")
    ap.add_argument("--nights", type=int, default=None, help="evaluate only the first N nights of the split")
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--rho", default="0.3,0.9", help="AR(1) error correlations, comma-separated; "
                                                     "the first is the headline setting")
    ap.add_argument("--concentration", type=float, default=3.0)
    ap.add_argument("--timing-nights", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--per-night", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--rules-opts", default="{}", help="JSON dict of options for method rules")
    ap.add_argument("--hmm-opts", default="{}", help="JSON dict of options for method hmm (not hmm=)")
    ap.add_argument("--excerpt-epochs", type=int, default=None,
                    help="evaluate consecutive excerpts of this many epochs (e.g. 60 = 30 min) instead of nights")
    ap.add_argument("--write-shipped-hmm", action="store_true",
                    help="rebuild sigvision/resources/hmm/sleep_edf_dod_v1.json and exit")
    ap.add_argument("--write-yasa-fixture", action="store_true",
                    help="write YASA's probabilities on tests/data/psg_real/SC4001E0-PSG.edf and exit (needs yasa)")
    args = ap.parse_args()

    if args.write_shipped_hmm:
        print(json.dumps({"written": write_shipped_hmm()}))
        return
    if args.write_yasa_fixture:
        print(json.dumps({"written": write_yasa_fixture()}))
        return

    t_start = time.perf_counter()
    parts = split_nights(load_nights())
    evald = parts[args.split][: args.nights] if args.nights else parts[args.split]
    hmm = pp.fit_hmm([n["stages"] for n in parts["fit"]], pseudocount=1.0)
    opts = {"mode": {"k": 3}, "rules": json.loads(args.rules_opts),
            "hmm": {"hmm": hmm, **json.loads(args.hmm_opts)},
            "hmm_robust": {"hmm": hmm}, "hmm_textbook": {"hmm": hmm, **TEXTBOOK_HMM}}
    sim = SimulatedStager(target_confusion(), hmm.priors, args.concentration)
    rhos = [float(r) for r in args.rho.split(",")]
    rng = np.random.default_rng(args.seed)
    n_by_src = {s: sum(n["source"] == s for n in evald) for s in ("sleep_edf", "dodh", "dodo")}
    print(f"split: fit {len(parts['fit'])} Sleep-EDF nights "
          f"({len({n['subject'] for n in parts['fit']})} subjects) -> HMM transitions + stage priors; "
          f"evaluated on {args.split}: {len(evald)} nights {n_by_src}")
    print(f"simulated stager: confusion diagonal {PUBLISHED_RECALL.tolist()} (YASA), "
          f"concentration {args.concentration}, rho {rhos}, seed {args.seed}")

    settings = {}
    for rho in rhos:
        probs = [sim.simulate(n["stages"], rho, rng) for n in evald]
        chk = simulator_check(sim, evald, probs)
        units = evald
        if args.excerpt_epochs:
            units, probs = cut_excerpts(evald, probs, args.excerpt_epochs)
            print(f"{len(units)} excerpts of {args.excerpt_epochs} epochs with >= 2 stages")
        res = evaluate(units, probs, opts)
        rows = summary_rows(res)
        print(f"\n=== rho = {rho} ({'mild' if rho <= 0.5 else 'strong'} error correlation) ===")
        print(f"simulated argmax recall {chk['recall']}; share max p >= 0.8 {chk['share_max_p_ge_0.8']}")
        if args.per_night:
            print_per_night(units, res)
        print_table(rows)
        settings[str(rho)] = {"rows": rows, "simulator": chk}

    def row(rho_key: str, m: str) -> dict:
        return next(r for r in settings[rho_key]["rows"] if r["method"] == m)

    checks = {}
    for key in settings:
        checks[key] = {
            "rules_raise_mean_kappa": row(key, "rules")["delta_kappa"] > 0,
            "hmm_raise_mean_kappa": row(key, "hmm")["delta_kappa"] > 0,
            "rules_no_night_worse_0.03": row(key, "rules")["min_delta_kappa"] >= -0.03,
            "hmm_no_night_worse_0.03": row(key, "hmm")["min_delta_kappa"] >= -0.03,
            "hmm_robust_raise_mean_kappa": row(key, "hmm_robust")["delta_kappa"] > 0,
            "hmm_robust_no_night_worse_0.03": row(key, "hmm_robust")["min_delta_kappa"] >= -0.03,
            "rules_beat_mode": row(key, "rules")["kappa"] > row(key, "mode")["kappa"],
        }
    print("\ntargets:", json.dumps(checks))

    # timing: 1,000 simulated nights (held-out hypnograms cycled, real lengths)
    t_rng = np.random.default_rng(args.seed + 1)
    src = [evald[i % len(evald)]["stages"] for i in range(args.timing_nights)]
    t_probs = [sim.simulate(s, rhos[0], t_rng) for s in src]
    timing = time_methods(t_probs, opts, args.repeats)
    mean_epochs = float(np.mean([p.shape[0] for p in t_probs]))
    print(f"\npost-processing {args.timing_nights} nights (mean {mean_epochs:.0f} epochs), best of "
          f"{args.repeats}, seconds: {timing}")

    head = str(rhos[0])
    out = {f"kappa_{m}": round(row(head, m)["kappa"], 4) for m in METHODS}
    out.update({f"f1_{m}": round(row(head, m)["macro_f1"], 4) for m in METHODS})
    out.update({
        "worst_night_delta_rules": round(row(head, "rules")["min_delta_kappa"], 4),
        "worst_night_delta_hmm": round(row(head, "hmm")["min_delta_kappa"], 4),
        "worst_night_delta_hmm_robust": round(row(head, "hmm_robust")["min_delta_kappa"], 4),
        "rho": rhos[0],
        "by_rho": {k: {**{f"kappa_{r['method']}": round(r["kappa"], 4) for r in v["rows"]},
                       **{f"f1_{r['method']}": round(r["macro_f1"], 4) for r in v["rows"]},
                       "worst_night_delta_rules": round(row(k, "rules")["min_delta_kappa"], 4),
                       "worst_night_delta_hmm": round(row(k, "hmm")["min_delta_kappa"], 4),
                       "worst_night_delta_hmm_robust": round(row(k, "hmm_robust")["min_delta_kappa"], 4)}
                   for k, v in settings.items()},
        # required: rules and default hmm raise the mean, no night down > 0.03, rules > mode
        "targets_met": {k: all(v for name, v in c.items() if not name.startswith("hmm_robust"))
                        for k, c in checks.items()},
        "targets_met_hmm_robust": {k: c["hmm_robust_raise_mean_kappa"] and c["hmm_robust_no_night_worse_0.03"]
                                   for k, c in checks.items()},
        "postprocess_1000_nights_s": timing,
        "timing_nights": args.timing_nights,
        "timing_mean_epochs": round(mean_epochs, 1),
        "split": args.split,
        "n_eval_nights": len(evald),
        "n_fit_nights": len(parts["fit"]),
        "seed": args.seed,
        "concentration": args.concentration,
        "runtime_s": round(time.perf_counter() - t_start, 1),
    })
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
