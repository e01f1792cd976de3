"""The ``sigvision`` command line (also ``python -m sigvision``).

Input problems print one line (``sigvision: error: <file>: <problem>; fix: <fix>``) and
exit with code 2; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from ._version import __version__
from .errors import SigvisionError
from .runtime import tqdm_progress

# Each verb imports its step when it runs: `sigvision --help`, a mistyped option or a refused
# config answer at once, without importing torch.

log = logging.getLogger("sigvision")

EXAMPLES = {
    "synth": "sigvision synth --out data/psg --nights 4",
    "prepare": "sigvision prepare --config configs/sleep_demo.yaml --set data.root=data/psg --out runs/demo/prepared",
    "contact-sheet": "sigvision contact-sheet --prepared runs/demo/prepared --out runs/demo/contact_sheet.png",
    "config": "sigvision config show --config configs/sleep_demo.yaml --set render.width=128",
    "demo": "sigvision demo --out demo_out",
    "ecg-demo": "sigvision ecg-demo --out ecg_out",
    "export": "sigvision export -c configs/sleep_demo_vit.yaml --verify",
    "doctor": "sigvision doctor",
    "weights": "sigvision weights",
    "tune": "sigvision tune -c configs/sleep_demo_vit.yaml --trials 20",
    "predict": "sigvision predict --run weights/sleep_demo --input my_edfs/ --out stages.csv --eeg C4-M1,O2-M1 "
               "--eog E1-M2 --emg Chin",
    "train": "sigvision train -c configs/sleep_demo_vit.yaml --set data.root=demo_out/psg",
    "infer": "sigvision infer -c configs/sleep_demo_vit.yaml --set infer.checkpoint=last",
    "blend": "sigvision blend -c configs/sleep_demo.yaml --set blend.method=sqrt",
    "postprocess": "sigvision postprocess -c configs/sleep_demo.yaml --set postprocess.method=hmm",
    "evaluate": "sigvision evaluate -c configs/sleep_demo.yaml",
}


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="experiment YAML (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set render.width=128 (repeatable)")
    p.add_argument("--pretrained-file", default=None, metavar="PATH",
                   help="local pretrained weights for model.name (sets model.pretrained: true)")


def _load_cfg(args):
    from .config.load import load_config

    extra = []
    if getattr(args, "pretrained_file", None):
        extra = [f"model.pretrained_file={args.pretrained_file}", "model.pretrained=true"]
    return load_config(args.config, [*args.overrides, *extra])


#: ``sigvision synth --montage`` choices (the keys of sigvision.synth.montages.MONTAGES,
#: listed here so that building the parser does not import the generator; a test checks).
SYNTH_MONTAGES = ("sleep_edf", "sleep_edf_sc", "aasm", "aasm_left", "central", "cz", "frontal")


def _unit_interval(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in [0, 1]")
    return v


def cmd_synth(args) -> int:
    from .synth.samples import write_sample_psg

    pairs = write_sample_psg(args.out, args.nights, seed=args.seed, source=args.source,
                             max_epochs=args.max_epochs, montage=args.montage, label_noise=args.label_noise)
    for psg, hyp in pairs:
        print(f"wrote {psg}  +  {hyp.name}")
    print(f"{len(pairs)} synthetic night(s) (signals synthesised from real human-scored hypnograms) in {args.out}")
    return 0


def _quality_lines(q: dict) -> list[str]:
    """The signal-quality part of a prepare/predict summary (nothing when all is clean)."""
    from .quality import format_counts

    if not q or not (q.get("flagged") or q.get("dropped")):
        return []
    unit = q.get("unit", "epochs")
    lines = []
    if q.get("flagged"):
        lines.append(f"  quality: {q['flagged']} of {q['of']} {unit} flagged ({format_counts(q.get('counts', {}))}); "
                     "see the quality column")
    if q.get("dropped"):
        lines.append(f"  quality: {q['dropped']} {unit} with bad signals dropped (data.on_bad_signal: drop)")
    return lines


def cmd_prepare(args) -> int:
    from .steps.prepare import prepare_dataset

    cfg = _load_cfg(args)
    out = args.out or str(cfg.prepared_path)
    res = prepare_dataset(cfg, out, overwrite=args.overwrite, update=args.update,
                          progress=tqdm_progress(not args.quiet), limit=args.limit)
    print(f"prepared {res.n_records} record(s), {res.n_samples} sample(s) in {res.seconds:.1f} s")
    print(f"  index: {res.index_csv}")
    if res.cache_dir is not None:
        print(f"  image cache: {res.cache_dir}")
    sm = res.summary
    if "fs_hz_file" in sm:  # ECG: what was resampled, left out or unlabelled
        print(f"  ECG: sampling rates in the files {sm['fs_hz_file']} (Hz: records) -> {cfg.data.fs_hz:g} Hz; "
              f"{sm['duration_s']['min']:g}-{sm['duration_s']['max']:g} s long; leads left out "
              f"{sm['leads_left_out'] or 'none'}; records without labels {sm['unlabelled_records']}; labels no map "
              f"knows {len(sm['unknown_labels'])}")
    for line in _quality_lines(sm.get("quality", {})):
        print(line)
    return 0


def cmd_contact_sheet(args) -> int:
    from .io.artifacts import write_bytes
    from .steps.contact_sheet import contact_sheet_from_prepared
    from .report.images import encode_png

    sheet = contact_sheet_from_prepared(args.prepared, per_group=args.per_group, seed=args.seed)
    write_bytes(args.out, encode_png(sheet))
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]} px)")
    return 0


def cmd_config(args) -> int:
    import yaml

    from .config import config_hash, config_to_dict

    cfg = _load_cfg(args)
    sys.stdout.write(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    print(f"# data+render hash: {config_hash(cfg)}")
    return 0


def cmd_train(args) -> int:
    from .train.checkpoints import model_dir
    from .steps.train import train

    cfg = _load_cfg(args)
    results = train(cfg, resume=args.resume, overwrite=args.overwrite,
                    progress=tqdm_progress(not args.quiet, unit="batch"))
    from .runtime import dist_info

    if dist_info().primary:
        for r in results:
            print(f"fold {r['fold']}: best {r['monitor']} {r['best']:.4f} at epoch {r['best_epoch']} "
                  f"({r['epochs_run']} epoch(s) run)")
        print(f"weights, metrics.csv and config in {model_dir(cfg)}")
    return 0


def cmd_infer(args) -> int:
    from .steps.infer import infer

    cfg = _load_cfg(args)
    written = infer(cfg, progress=tqdm_progress(not args.quiet, unit="fold"))
    for k, p in written.items():
        print(f"{k}: {p}")
    return 0


def cmd_blend(args) -> int:
    from .steps.blend import run_blend

    cfg = _load_cfg(args)
    res = run_blend(cfg)
    rep = res["report"]
    print(f"blend ({rep['method']}), weights {rep['weights_from']}: "
          + ", ".join(f"{k} {v:.3f}" for k, v in rep["weights"].items()))
    print("  checkpoints: " + ", ".join(f"{k} {v}" for k, v in rep["checkpoints"].items()))
    for name, sc in rep.get("scores", {}).items():
        print(f"  {name:24s} kappa {sc['kappa']:.3f}  macro-F1 {sc['macro_f1']:.3f}  accuracy {sc['accuracy']:.3f}")
    print(f"wrote {res['csv']}")
    return 0


def cmd_postprocess(args) -> int:
    from .steps.postprocess import run_postprocess

    cfg = _load_cfg(args)
    out = run_postprocess(cfg, args.input, args.out)
    print(f"wrote {out} ({cfg.postprocess.method})")
    if cfg.postprocess.submission != "none":  # refused by the config for a task without an answer file
        from .io.submission import submission_path

        print(f"wrote {submission_path(cfg.postprocess.submission, out)} ({cfg.postprocess.submission} answer file)")
    return 0


def cmd_evaluate(args) -> int:
    from .steps.evaluate import run_evaluate

    cfg = _load_cfg(args)
    res = run_evaluate(cfg, args.input, args.out)
    o = res["overall"]
    if "kappa" in o:
        print(f"accuracy {o['accuracy']:.3f}  macro-F1 {o['macro_f1']:.3f}  kappa {o['kappa']:.3f}  "
              f"({len(res['per_night'])} night(s))")
        q = res.get("quality") or {}
        if q.get("flagged"):
            from .quality import format_counts

            u = q.get("overall_unflagged")
            print(f"  {q['flagged']} of {q['of']} epochs flagged for signal quality ({format_counts(q['counts'])})"
                  + (f"; on the {q['of'] - q['flagged']} unflagged: accuracy {u['accuracy']:.3f}  macro-F1 "
                     f"{u['macro_f1']:.3f}  kappa {u['kappa']:.3f}" if u else ""))
        print(f"metrics, per-night sleep statistics, hypnograms and confusion matrix in {res['out_dir']}")
        print(f"report: {res['report']}")
    else:
        split = f" ({cfg.blend.split} split, {o['n_recordings']} records)"
        if "binary" in o:
            b = o["binary"]
            print(f"abnormal vs normal{split}: accuracy {b['accuracy']:.3f}  precision {b['precision']:.3f}  "
                  f"recall {b['recall']:.3f}  F1 {b['f1']:.3f}  AUROC {b['auroc']:.3f}")
        else:
            print(f"challenge score {o['challenge_score']:.3f}  accuracy {o['accuracy']:.3f}{split}")
        print(f"macro precision {o['macro_precision']:.3f}  macro recall {o['macro_recall']:.3f}  "
              f"macro-F1 {o['macro_f1']:.3f}  macro-AUROC {o['macro_auroc']:.3f}  macro-AUPRC {o['macro_auprc']:.3f}")
        q = res.get("quality") or {}
        if q.get("flagged"):
            from .quality import format_counts

            print(f"  {q['flagged']} of {q['of']} records flagged for signal quality ({format_counts(q['counts'])})")
        print(f"metrics.json, metrics.md and per_class.csv (precision, recall, F1 per class) in {res['out_dir']}")
        print(f"report: {res['report']}")
    return 0


def cmd_export(args) -> int:
    from .steps.export import export_run

    cfg = _load_cfg(args)
    for p in export_run(cfg, which=args.checkpoint, out_dir=args.out_dir, opset=args.opset, verify=args.verify):
        print(f"wrote {p}")
    return 0


def cmd_doctor(args) -> int:
    import json

    from .steps.doctor import doctor_report, format_doctor

    d = doctor_report(hub_check=not args.no_hub)
    print(json.dumps(d, indent=2, default=str) if args.json else format_doctor(d), end="" if not args.json else "\n")
    return 0


def cmd_weights(args) -> int:
    from .steps.doctor import format_weights_table, weights_table

    print(format_weights_table(weights_table()), end="")
    return 0


def cmd_tune(args) -> int:
    from .steps.tune import tune

    cfg = _load_cfg(args)
    from .steps.tune import parse_space

    res = tune(cfg, n_trials=args.trials, storage=args.storage, study_name=args.study, fold=args.fold,
               timeout_s=args.timeout, progress=tqdm_progress(not args.quiet, unit="batch"), sampler=args.sampler,
               space=parse_space(args.space) if args.space else None, standard=args.standard)
    print(f"study {res['study']}: {res['n_trials']} trial(s) ({res['n_pruned']} pruned), best {res['best_value']:.4f}")
    for k, v in res["best_params"].items():
        print(f"  train.{k} = {v:.4g}" if isinstance(v, float) else f"  train.{k} = {v}")
    if res["n_kept"] is not None:
        print(f"{res['n_kept']} trial(s) met the standard {args.standard}: "
              f"{cfg.run_path / f'tune_kept_{cfg.model.key}.csv'} (the others: tune_avoid_{cfg.model.key}.csv)")
    print(f"best config: {res['best_config']}  (storage {res['storage']})")
    return 0


def cmd_predict(args) -> int:
    from .steps.predict import run_predict

    picks = {t: [c.strip() for v in getattr(args, t) for c in v.split(",") if c.strip()]
             for t in ("eeg", "eog", "emg", "ecg") if getattr(args, t)}
    res = run_predict(args.run, args.input, args.out, checkpoint=args.checkpoint, device=args.device,
                      labels_csv=args.labels, overrides=args.overrides, channel_picks=picks,
                      progress=tqdm_progress(not args.quiet))
    what = "epoch(s)" if "stage_counts" in res else "record(s)"
    print(f"predicted {res['rows']} {what} of {res['records']} recording(s)")
    if "stage_counts" in res:
        print("  stages: " + ", ".join(f"{k} {v}" for k, v in res["stage_counts"].items()))
    for line in _quality_lines(res.get("quality", {})):
        print(line)
    print(f"wrote {res['csv']}")
    return 0


def cmd_demo(args) -> int:
    from .steps.demo import run_demo

    run_demo(args.out, nights=args.nights, max_epochs=args.max_epochs, overwrite=args.overwrite,
             progress=not args.quiet, epochs=args.epochs)
    return 0


def cmd_ecg_demo(args) -> int:
    from .steps.demo import run_ecg_demo

    out = [f"output_dir={args.out}", f"weights_dir={args.out}/weights"] if args.out else []
    res = run_ecg_demo([*out, *args.overrides], progress=not args.quiet)
    for k in ("files_post", "thresholds", "report"):
        print(f"{k}: {res[k]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sigvision",
        description="Physiological recordings (PSG, 12-lead ECG) -> images -> timm ensembles.",
        epilog="example:\n  " + "\n  ".join(EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"sigvision {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)  # the global flags also work after the command
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {EXAMPLES[name]}",
                            formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
        return sp

    sp = add("synth", "write synthetic EDF+ PSG nights driven by the real hypnograms shipped with sigvision")
    sp.add_argument("--out", required=True, help="output folder")
    sp.add_argument("--nights", type=int, default=4, help="number of nights (default 4)")
    sp.add_argument("--source", default="sleep_edf", choices=["sleep_edf", "dodh", "dodo", "yasa"],
                    help="which shipped hypnograms drive the generator")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--max-epochs", type=int, default=None, help="crop each night to this many 30-s epochs")
    sp.add_argument("--montage", default="sleep_edf", choices=[*SYNTH_MONTAGES, "random"],
                    help="electrode montage: sleep_edf (Fpz-Cz, Pz-Oz; default), sleep_edf_sc (1-Hz EMG "
                         "envelope), aasm / aasm_left (F-M, C-M, O-M), central (C3-A2), cz (Cz-A1), "
                         "frontal (F4-M1), random (one per night, drawn from the seed)")
    sp.add_argument("--label-noise", type=_unit_interval, default=0.0,
                    help="0-1: relabel the written hypnograms like a single human scorer (1 = the "
                         "inter-scorer disagreement of the Dreem nights); default 0")
    sp.set_defaults(func=cmd_synth)

    sp = add("prepare", "index a folder of recordings and cache rendered images")
    _add_config_args(sp)
    sp.add_argument("--out", help="output folder (default <output_dir>/<name>/prepared)")
    sp.add_argument("--overwrite", action="store_true", help="replace an output folder that holds results")
    sp.add_argument("--update", action="store_true",
                    help="reuse unchanged records of an earlier prepare; rebuild partial, stale or new ones")
    sp.add_argument("--limit", type=int, default=None, help="only the first N recordings")
    sp.set_defaults(func=cmd_prepare)

    sp = add("contact-sheet", "a PNG grid of rendered images per class from a prepared folder")
    sp.add_argument("--prepared", required=True, help="folder written by 'sigvision prepare'")
    sp.add_argument("--out", required=True, help="PNG file to write")
    sp.add_argument("--per-group", type=int, default=6, help="images per class (default 6)")
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=cmd_contact_sheet)

    sp = add("config", "print the resolved configuration")
    sp.add_argument("action", choices=["show"])
    _add_config_args(sp)
    sp.set_defaults(func=cmd_config)

    sp = add("train", "k-fold training of one model (per-fold weights, metrics.csv); works under torchrun")
    _add_config_args(sp)
    sp.add_argument("--resume", action="store_true", help="continue each fold from its last.pt")
    sp.add_argument("--overwrite", action="store_true", help="delete this model's earlier weights first")
    sp.set_defaults(func=cmd_train)

    sp = add("infer", "write out-of-fold (and test) probability .npy files with JSON sidecars")
    _add_config_args(sp)
    sp.set_defaults(func=cmd_infer)

    sp = add("blend", "weighted mean of square-rooted probabilities (or mean/geometric/rank) -> files_blend_*.csv")
    _add_config_args(sp)
    sp.set_defaults(func=cmd_blend)

    sp = add("postprocess", "context post-processing of a files_blend CSV -> files_post.csv")
    _add_config_args(sp)
    sp.add_argument("--input", help="files_blend CSV (default: the experiment's)")
    sp.add_argument("--out", help="output CSV (default <weights>/<experiment>/files_post.csv)")
    sp.set_defaults(func=cmd_postprocess)

    sp = add("evaluate", "metrics, sleep statistics and plots of files_post.csv against the truth")
    _add_config_args(sp)
    sp.add_argument("--input", help="files_post.csv (default: the experiment's)")
    sp.add_argument("--out", help="output folder (default <weights>/<experiment>/eval)")
    sp.set_defaults(func=cmd_evaluate)

    sp = add("export", "write every fold of a trained model to ONNX (optionally checked against PyTorch)")
    _add_config_args(sp)
    sp.add_argument("--checkpoint", default=None, help="best, last or an epoch number (default infer.checkpoint)")
    sp.add_argument("--out-dir", default=None, help="folder for the .onnx files (default: beside each checkpoint)")
    sp.add_argument("--opset", type=int, default=17)
    sp.add_argument("--verify", action="store_true", help="compare onnxruntime with PyTorch (max abs diff < 1e-4)")
    sp.set_defaults(func=cmd_export)

    sp = add("doctor", "versions of Python, torch, CUDA, timm and the driver, GPUs, pretrained-weight reachability")
    sp.add_argument("--json", action="store_true", help="print the raw report as JSON")
    sp.add_argument("--no-hub", action="store_true", help="skip the hub reachability check")
    sp.set_defaults(func=cmd_doctor)

    sp = add("weights", "the presets and where each expects its pretrained file ($SIGVISION_WEIGHTS)")
    sp.set_defaults(func=cmd_weights)

    sp = add("tune", "Optuna search (TPE or random) over train settings on one fold; by default lr, weight "
                     "decay, cutout, label smoothing and FMix")
    _add_config_args(sp)
    sp.add_argument("--trials", type=int, default=20, help="trials to run now (a stored study resumes)")
    sp.add_argument("--storage", help="Optuna storage URL (default sqlite in the run folder); share it across workers")
    sp.add_argument("--study", help="study name (default <experiment>_<model>)")
    sp.add_argument("--fold", type=int, default=0, help="the cross-validation fold to tune on")
    sp.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    sp.add_argument("--sampler", choices=("tpe", "random"), default="tpe",
                    help="tpe (learns from earlier trials) or random (ECM's random search over the ranges)")
    sp.add_argument("--space", action="append", metavar="NAME=SPEC",
                    help="a train setting to search instead of the default set, repeatable: lr=1e-5:1e-2:log, "
                         "cutout_holes=4:12, batch_size=16,32,64")
    sp.add_argument("--standard", type=float, default=None,
                    help="score a trial must reach to keep its weights (listed in tune_kept_<model>.csv; the "
                         "others' settings go to tune_avoid_<model>.csv and their weights are deleted)")
    sp.set_defaults(func=cmd_tune)

    sp = add("predict", "new recordings through a trained run (folds, blend weights, thresholds) -> files_post.csv")
    sp.add_argument("--run", required=True, help="<weights_dir>/<experiment> of a trained, inferred and blended run")
    sp.add_argument("--input", required=True, help="folder of new recordings (same format as the training data)")
    sp.add_argument("--out", required=True, help="CSV to write")
    sp.add_argument("--checkpoint", default=None, metavar="CKPT",
                    help="override the checkpoint each model predicts with (default: the one the run's blend "
                         "used for it): best, last or an epoch number for every model; 4,1 (one per blended "
                         "model, in order); or MODEL=CKPT,... e.g. vit_base_patch16_224=4,tf_efficientnet_b4_ns=1")
    sp.add_argument("--device", default="cpu", help="cpu or cuda")
    sp.add_argument("--labels", default=None, metavar="TABLE",
                    help="ECG (AIWIN/Hefei): the new records' own table, e.g. Hefei's test list with age and sex "
                         "for models trained with model.meta_features")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="how to read the new files, repeatable: data.channels, data.channel_aliases, "
                         "data.channel_units, data.leads, data.file_pattern, the data.on_* policies, "
                         "data.amplitude_bounds, data.max_bad_fraction, infer.batch_size ... (keys that change "
                         "what the models were trained on are refused)")
    for t, ex in (("eeg", "C4-M1,O2-M1"), ("eog", "E1-M2"), ("emg", "Chin"), ("ecg", "ECG")):
        sp.add_argument(f"--{t}", action="append", default=[], metavar="NAMES",
                        help=f"the file's {t.upper()} channel(s) for the run's {t.upper()} channels, in the run's "
                             f"order, comma-separated (e.g. --{t} {ex})")
    sp.set_defaults(func=cmd_predict)

    sp = add("demo", "the whole chain on the shipped sample data: synthetic EDF nights -> files_post.csv")
    sp.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    sp.add_argument("--nights", type=int, default=6, help="synthetic nights (2 per subject; default 6)")
    sp.add_argument("--max-epochs", type=int, default=None, help="crop nights to this many 30-s epochs (quick runs)")
    sp.add_argument("--epochs", type=int, default=None, help="training epochs per fold (default: the demo configs')")
    sp.add_argument("--overwrite", action="store_true")
    sp.set_defaults(func=cmd_demo)

    sp = add("ecg-demo", "the ECG chain on the 35 real CinC 2021 records shipped with sigvision -> files_post.csv")
    sp.add_argument("--out", default=None, help="write under this folder (default: the configs' runs/ and weights/)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a value of every config of the demo (repeatable)")
    sp.set_defaults(func=cmd_ecg_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for h in logging.getLogger().handlers:  # the console stays quiet; run folders get INFO logs
        h.setLevel(level)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SigvisionError as exc:
        if args.debug:
            raise
        print(f"sigvision: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sigvision: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as exc:
        if args.debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"sigvision: error: {where}{exc.strerror or exc}; fix: check free disk space and "
              f"permissions of the output folder", file=sys.stderr)
        return 2
