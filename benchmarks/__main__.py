"""Every benchmark in one run: ``python -m benchmarks`` (``make bench``).

Runs each benchmark script as its own process (so one's imports, threads and memory do not
colour another's), reads the JSON object on its last line, and prints one table: each row a
ratio or figure measured side by side in the same run, its target, pass/fail, and the
absolute figures behind it; then the machine (CPU model, cores, load average, torch, GPU)
and, as the last line, one JSON object with every figure under stable keys::

    render_speedup_vs_matplotlib, datapath_ratio, night_end_to_end_s, mem_ratio_8v1,
    prepare_time_ratio_8v1, postprocess_1000_nights_s, cache_speedup, infer_img_s, train_img_s

(``infer_img_s`` / ``train_img_s`` map each preset to images/s; they are measured with
``--full`` and null otherwise.) A figure whose script failed or was skipped is null.

Rows: 1. render (``render.py``) 2. training data path (``train_throughput.py``) 3. inference
per preset and one night end to end (``night_e2e.py``) 4. memory and prepare scaling
(``memory.py``) 5. blend + post-processing of 1,000 nights (``postprocess_gain.py``) 6. render
cache vs on the fly (``cache.py``) and, when ``yasa`` is importable, 7. realism of the
synthetic PSG (``synthetic_realism.py``).

    python -m benchmarks [--full] [--quick] [--only render,cache] [--skip realism] [--quiet]

``--full`` adds the large presets (ViT-B/16 at 224 px, EfficientNet-B4 at 380 px) to the
throughput benchmark (on a GPU with their full data path, data-path ratio and peak GPU memory); ``--quick`` runs every script at small sizes (a smoke test: the figures
are not meaningful, the table and the JSON keys are the same).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

STABLE_KEYS = ("render_speedup_vs_matplotlib", "datapath_ratio", "night_end_to_end_s", "mem_ratio_8v1",
               "prepare_time_ratio_8v1", "postprocess_1000_nights_s", "cache_speedup", "infer_img_s", "train_img_s")

# name -> (script, normal arguments, --quick arguments)
BENCHES = {
    "render": ("render.py", [], ["--epochs", "200", "--mpl-images", "4"]),
    "train_throughput": ("train_throughput.py", [],
                         ["--size", "32", "--batch", "8", "--steps", "2", "--rounds", "1", "--nights", "2",
                          "--images", "64"]),
    "night_e2e": ("night_e2e.py", [], ["--epochs", "100", "--repeats", "0"]),
    "memory": ("memory.py", [], ["--epochs", "30", "--rounds", "1"]),
    "cache": ("cache.py", [], ["--nights", "2", "--epochs", "40", "--size", "32", "--batch", "16", "--rounds", "1"]),
    "postprocess": ("postprocess_gain.py", ["--no-per-night"],
                    ["--no-per-night", "--nights", "4", "--rho", "0.3", "--timing-nights", "40", "--repeats", "1"]),
    "realism": ("synthetic_realism.py", [], ["--nights", "1"]),
}
# the tiny trained run shared by night_e2e and memory (trained once)
TRAIN_QUICK = ["--train-nights", "4", "--train-epochs", "20", "--train-size", "32"]


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "os": platform.system(),
            "python": platform.python_version()}
    try:
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        info["ram_gib"] = round(mem_kb / 2**20, 1)
    except (OSError, StopIteration):  # pragma: no cover
        pass
    try:
        info["load_avg_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        info["torch"], info["gpu"] = None, None
    return info


def run_script(name: str, script: str, args: list[str], *, quiet: bool, timeout: float | None) -> tuple[dict | None, float, str]:
    """Run one benchmark; returns (its last-line JSON or None, seconds, error text)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, str(HERE / script), *args]
    if not quiet:
        print(f"\n=== {name}: {' '.join(['python', 'benchmarks/' + script, *args])}", flush=True)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0, f"timed out after {timeout:.0f} s"
    secs = time.perf_counter() - t0
    lines = r.stdout.rstrip().splitlines()
    if not quiet:
        for line in lines[:-1]:
            print("  " + line)
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        if not quiet:
            print("  " + "\n  ".join(r.stderr.strip().splitlines()[-15:]))
        return None, secs, f"exit {r.returncode}: {err}"
    try:
        res = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return None, secs, "last line is not JSON"
    return res, secs, ""


def _fmt(v, nd=3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def build_rows(res: dict, errors: dict) -> list[dict]:
    """The table: one dict per row (row, figure, target, pass, absolute figures)."""
    rows = []

    def row(key, name, figure, target, ok, absolute, bench):
        if bench in errors:
            figure, ok, absolute = "n/a", None, errors[bench]
        rows.append({"key": key, "row": name, "figure": figure, "target": target, "pass": ok, "absolute": absolute})

    r = res.get("render") or {}
    v = r.get("render_speedup_vs_matplotlib")
    row("render", "1. render: ours vs matplotlib (same image)", f"{_fmt(v)}x", ">= 100x", None if v is None else v >= 100,
        f"{_fmt(r.get('ours_ms_per_image'))} vs {_fmt(r.get('matplotlib_ms_per_image'))} ms/image "
        f"({r.get('image_px')} px); night of {r.get('night_epochs')} epochs {_fmt(r.get('night_render_s'))} s", "render")

    t = res.get("train_throughput") or {}
    v = t.get("datapath_ratio")
    row("datapath", "2. training data path / model only", _fmt(v), ">= 0.95", None if v is None else v >= 0.95,
        f"{_fmt(t.get('pipeline_img_s'))} vs {_fmt(t.get('model_only_img_s'))} img/s ({t.get('model')} "
        f"{t.get('image_px')} px, batch {t.get('batch')}); albumentations cutout {_fmt(t.get('datapath_ratio_albumentations'))}",
        "train_throughput")
    for preset, v in (t.get("datapath_ratio_presets") or {}).items():  # measured on a GPU (or asked for)
        target = 0.90 if preset.startswith("vit_base") else None
        row(f"datapath_{preset}", f"2. training data path / model only, {preset}", _fmt(v),
            ">= 0.90" if target else "-", None if target is None else v >= target,
            f"{_fmt(t['pipeline_train_img_s'][preset])} vs {_fmt(t['train_img_s'][preset])} img/s "
            f"(batch {(t.get('preset_batch') or {}).get(preset, {}).get('train')})", "train_throughput")
    if t.get("infer_img_s"):
        for preset, ips in t["infer_img_s"].items():
            pb = (t.get("preset_batch") or {}).get(preset, {})
            mem = (t.get("peak_gpu_mem_gib") or {}).get(preset)
            row(f"infer_{preset}", f"3. inference {preset}", f"{_fmt(ips)} img/s", "-", None,
                f"training {_fmt(t.get('train_img_s', {}).get(preset))} img/s"
                + (f" (batches {pb.get('train')} / {pb.get('infer')}, amp {pb.get('amp')})" if pb else "")
                + (f"; peak GPU memory {mem['train']} GiB training, {mem['infer']} GiB inference" if mem else ""),
                "train_throughput")
    else:
        rows.append({"key": "infer_presets", "row": "3. inference per preset (ViT-B/16, EffNet-B4)", "figure": "skipped", "target": "-",
                     "pass": None, "absolute": "large presets run with --full"})
    e = res.get("night_e2e") or {}
    row("night_e2e", "3. one night end to end (EDF -> files_post.csv)", f"{_fmt(e.get('night_end_to_end_s'))} s", "-", None,
        f"{e.get('night_epochs')} epochs, {e.get('model')} {e.get('image_px')} px x {e.get('folds')} folds; "
        f"prepare {_fmt(e.get('night_prepare_s'))} s; cold {_fmt(e.get('night_end_to_end_cold_s'))} s", "night_e2e")

    m = res.get("memory") or {}
    v = m.get("mem_ratio_8v1")
    n = m.get("nights", 8)
    row("mem_8v1", "4. peak RSS predicting 8 nights / 1 night", _fmt(v), "<= 1.25", None if v is None else v <= 1.25,
        f"{_fmt(m.get(f'peak_rss_{n}_nights_mb'))} vs {_fmt(m.get('peak_rss_1_night_mb'))} MiB; above imports "
        f"{_fmt(m.get(f'peak_above_imports_{n}_nights_mb'))} vs {_fmt(m.get('peak_above_imports_1_night_mb'))} MiB "
        f"(ratio {_fmt(m.get('mem_work_ratio_8v1'))})", "memory")
    v = m.get("prepare_time_ratio_8v1")
    row("prepare_8v1", "4. prepare time 8 nights / 1 night", _fmt(v), "<= 10 (linear 8)", None if v is None else v <= 10,
        f"{_fmt(m.get(f'prepare_{n}_nights_s'))} vs {_fmt(m.get('prepare_1_night_s'))} s; "
        f"{_fmt(m.get(f'prepare_s_per_night_{n}'))} vs {_fmt(m.get('prepare_s_per_night_1'))} s/night", "memory")

    p = res.get("postprocess") or {}
    tm = p.get("postprocess_1000_nights_s") or {}
    need = [tm.get(k) for k in ("argmax", "rules", "hmm")]
    ok = None if any(x is None for x in need) else max(need) < 5.0
    row("postprocess", f"5. blend + post-process {p.get('timing_nights', 1000)} nights", f"{_fmt(max(need) if ok is not None else None)} s max",
        "< 5 s each", ok, ", ".join(f"{k} {_fmt(x)} s" for k, x in tm.items()), "postprocess")

    c = res.get("cache") or {}
    v = c.get("cache_speedup")
    row("cache", "6. training epoch: render cache vs on the fly", f"{_fmt(v)}x", "> 1x", None if v is None else v > 1.0,
        f"{_fmt(c.get('epoch_cache_img_s'))} vs {_fmt(c.get('epoch_on_the_fly_img_s'))} img/s; data path alone "
        f"{_fmt(c.get('cache_data_speedup'))}x ({c.get('model')} {c.get('image_px')} px)", "cache")

    if "realism" in res or "realism" in errors:
        s = res.get("realism") or {}
        v = s.get("yasa_kappa_mean")
        row("realism", "7. synthetic PSG realism: YASA kappa", _fmt(v), ">= 0.75", None if v is None else v >= 0.75,
            f"min {_fmt(s.get('yasa_kappa_min'))} over {s.get('n_nights')} nights", "realism")
    return rows


def print_table(rows: list[dict], machine: dict) -> None:
    w = max(len(r["row"]) for r in rows)
    fw = max(8, max(len(str(r["figure"])) for r in rows))
    tw = max(6, max(len(r["target"]) for r in rows))
    print()
    print(f"{'row':{w}s}  {'figure':>{fw}s}  {'target':{tw}s}  {'pass':4s}  absolute figures")
    print("-" * (w + fw + tw + 30))
    for r in rows:
        ok = {True: "yes", False: "NO", None: "-"}[r["pass"]]
        print(f"{r['row']:{w}s}  {str(r['figure']):>{fw}s}  {r['target']:{tw}s}  {ok:4s}  {r['absolute']}")
    print()
    gpu = machine.get("gpu") or "none"
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine.get('ram_gib', '?')} GiB RAM, "
          f"torch {machine.get('torch')} ({machine.get('torch_threads')} threads), GPU: {gpu}; load average "
          f"{machine.get('load_avg_start')} at start, {machine.get('load_avg_end')} at end")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also time the large presets (ViT-B/16, EfficientNet-B4)")
    ap.add_argument("--quick", action="store_true", help="small sizes everywhere (smoke test)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    ap.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per benchmark script")
    ap.add_argument("--quiet", action="store_true", help="do not echo each script's own output")
    ap.add_argument("--json-out", default=None, help="also write every script's full JSON here")
    args = ap.parse_args(argv)

    names = [n for n in BENCHES if not args.only or n in args.only.split(",")]
    unknown = set(filter(None, (args.only + "," + args.skip).split(","))) - set(BENCHES)
    if unknown:
        ap.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {list(BENCHES)}")
    names = [n for n in names if n not in args.skip.split(",")]
    skipped = {}
    if "realism" in names and importlib.util.find_spec("yasa") is None:
        names.remove("realism")
        skipped["realism"] = "yasa not installed (pip install -r requirements-bench.txt)"
    if args.quick and "realism" in names and not args.only:
        names.remove("realism")  # YASA staging of even one night is slow; run it with --only realism
        skipped["realism"] = "left out by --quick"

    machine = machine_info()
    t_all = time.perf_counter()
    results, errors, seconds = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="sigvision_bench_") as tmp:
        run_args: list[str] = []
        if {"night_e2e", "memory"} & set(names):  # one tiny trained run shared by both
            tr = ["--train-only", tmp] + (TRAIN_QUICK if args.quick else [])
            out, secs, err = run_script("train tiny run (shared)", "night_e2e.py", tr, quiet=args.quiet,
                                        timeout=args.timeout)
            seconds["train_tiny_run"] = round(secs, 1)
            if out:
                run_args = ["--run", out["run"]]
            else:
                errors["night_e2e"] = errors["memory"] = f"training the tiny run failed: {err}"
        for name in names:
            if name in errors:
                continue
            script, normal, quick = BENCHES[name]
            a = list(quick if args.quick else normal)
            if name == "train_throughput" and not args.full:
                a.append("--skip-large")
            if name in ("night_e2e", "memory"):
                a += run_args
            out, secs, err = run_script(name, script, a, quiet=args.quiet, timeout=args.timeout)
            seconds[name] = round(secs, 1)
            if out is None:
                errors[name] = err
            else:
                results[name] = out
    try:
        machine["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass

    rows = build_rows(results, errors)
    print_table(rows, machine)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    for name, why in errors.items():
        print(f"FAILED {name}: {why}")

    t = results.get("train_throughput") or {}
    figs = {
        "render_speedup_vs_matplotlib": (results.get("render") or {}).get("render_speedup_vs_matplotlib"),
        "datapath_ratio": t.get("datapath_ratio"),
        "night_end_to_end_s": (results.get("night_e2e") or {}).get("night_end_to_end_s"),
        "mem_ratio_8v1": (results.get("memory") or {}).get("mem_ratio_8v1"),
        "prepare_time_ratio_8v1": (results.get("memory") or {}).get("prepare_time_ratio_8v1"),
        "postprocess_1000_nights_s": (results.get("postprocess") or {}).get("postprocess_1000_nights_s"),
        "cache_speedup": (results.get("cache") or {}).get("cache_speedup"),
        "infer_img_s": t.get("infer_img_s"),
        "train_img_s": t.get("train_img_s"),
    }
    m = results.get("memory") or {}
    e = results.get("night_e2e") or {}
    c = results.get("cache") or {}
    r = results.get("render") or {}
    s = results.get("realism") or {}
    extra = {
        "night_render_s": r.get("night_render_s"),
        "model_only_img_s": t.get("model_only_img_s"), "pipeline_img_s": t.get("pipeline_img_s"),
        "datapath_ratio_albumentations": t.get("datapath_ratio_albumentations"),
        "datapath_ratio_presets": t.get("datapath_ratio_presets"), "peak_gpu_mem_gib": t.get("peak_gpu_mem_gib"),
        "night_epochs": e.get("night_epochs"), "night_prepare_s": e.get("night_prepare_s"),
        "mem_work_ratio_8v1": m.get("mem_work_ratio_8v1"), "peak_rss_1_night_mb": m.get("peak_rss_1_night_mb"),
        "peak_rss_8_nights_mb": m.get("peak_rss_8_nights_mb"),
        "prepare_s_per_night_1": m.get("prepare_s_per_night_1"), "prepare_s_per_night_8": m.get("prepare_s_per_night_8"),
        "cache_data_speedup": c.get("cache_data_speedup"),
        "yasa_kappa_mean": s.get("yasa_kappa_mean"),
    }
    out = {**figs, **{k: v for k, v in extra.items() if v is not None},
           "targets_met": {row_["key"]: row_["pass"] for row_ in rows if row_["pass"] is not None},
           "quick": args.quick, "full": args.full, "errors": errors, "skipped": skipped,
           "seconds": {**seconds, "total": round(time.perf_counter() - t_all, 1)}, "machine": machine}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"summary": out, "results": results}, indent=1))
    print(json.dumps(out))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
