"""Golden outputs: prove that a refactor leaves the pipeline's results unchanged.

Runs the sleep demo (``sigvision demo``) and the ECG demo (``sigvision ecg-demo``, what ``make ecg-demo`` runs) on
CPU with their fixed seeds, and keeps what a user would compare: the sleep demo's
``files_post.csv``, every ``.npy`` probability file and the blend report; the ECG demo's
``files_post.csv`` and ``thresholds.json``.

    python benchmarks/golden.py save DIR      # before the change: DIR/golden/... + MANIFEST.json
    python benchmarks/golden.py compare DIR   # after it: byte-identical, or the largest difference

``compare`` reruns both demos and prints, per file, ``identical`` or the maximum absolute
difference of its numbers (``.npy`` arrays; numeric columns of CSVs; numbers in JSON), and
any non-numeric difference (a stage, a label, a key) in full. It exits 0 when every file is
byte-identical (JSON reports: identical apart from the paths of the run's
folders; render caches are compared by file name, not by their path-dependent key folder), 1 otherwise; ``--tolerance T`` accepts numeric differences up to T when
nothing else differs (a change of library that moves the last digits, e.g. an optimiser
implementation: say so where the change is described). Last line: one JSON object.

Both demos need only the shipped sample data; about 3-4 minutes on 2 CPU cores per run.
Byte-identical outputs need the same torch version and CPU (``MANIFEST.json`` records the
versions the golden files were made with and ``compare`` warns when they differ).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path) -> None:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"golden: `{' '.join(cmd)}` failed (exit {res.returncode}):\n{res.stderr[-3000:]}")


def produce(work: Path) -> dict[str, Path]:
    """Run both demos under ``work``; returns {name in the golden set: produced file}."""
    py = sys.executable
    sleep = work / "sleep"
    _run([py, "-m", "sigvision", "-q", "demo", "--out", str(sleep), "--overwrite"], REPO)
    ecg = work / "ecg"
    # the chain of `make ecg-demo`, run by the same function (sigvision.steps.demo.run_ecg_demo)
    _run([py, "-m", "sigvision", "-q", "ecg-demo", "--out", str(ecg)], REPO)
    files: dict[str, Path] = {}
    for p in sorted(sleep.rglob("*")):
        rel = p.relative_to(sleep).as_posix()
        parts = rel.split("/")
        if "cache" in parts[:-2]:  # cache/<key>/: the key hashes this run's folders, not the content
            i = parts.index("cache")
            rel = "/".join(parts[:i + 1] + parts[i + 2:])
        if p.is_file() and (p.suffix == ".npy" or p.name == "files_post.csv"
                            or (p.name.startswith("files_blend_") and p.suffix == ".json")):
            files[f"sleep/{rel}"] = p
    for name in ("files_post.csv", "thresholds.json"):
        found = sorted(ecg.rglob(name))
        if len(found) != 1:
            raise SystemExit(f"golden: the ECG demo wrote {len(found)} {name} files under {ecg}, expected 1")
        files[f"ecg/{name}"] = found[0]
    if not any(k.endswith(".npy") for k in files) or not any(
            k.startswith("sleep/") and k.endswith("files_post.csv") for k in files):
        raise SystemExit(f"golden: the sleep demo under {sleep} wrote no .npy or no files_post.csv")
    return files


def _versions() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "machine": platform.machine(), "processor": platform.processor()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _numbers(obj, out: list, other: list, where: str = "") -> None:
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        other.append((where, obj))
    elif isinstance(obj, (int, float)):
        out.append((where, float(obj)))
    elif isinstance(obj, dict):
        for k in sorted(obj):
            _numbers(obj[k], out, other, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _numbers(v, out, other, f"{where}[{i}]")


def _path_free(obj):
    """JSON values that name this run's folders differ between any two runs: drop them."""
    if isinstance(obj, dict):
        return {k: _path_free(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_path_free(v) for v in obj]
    if isinstance(obj, str) and ("/" in obj or "\\" in obj):
        return "<path>"
    return obj


def diff(golden: Path, new: Path) -> tuple[float, list[str]]:
    """(max abs numeric difference, non-numeric differences) of two files of one kind."""
    if golden.suffix == ".npy":
        a, b = np.load(golden), np.load(new)
        if a.shape != b.shape:
            return math.inf, [f"shape {a.shape} -> {b.shape}"]
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0)), []
    if golden.suffix == ".csv":
        import pandas as pd

        a, b = pd.read_csv(golden, dtype=str, keep_default_na=False), pd.read_csv(new, dtype=str, keep_default_na=False)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            return math.inf, [f"columns/rows {list(a.columns)} x {len(a)} -> {list(b.columns)} x {len(b)}"]
        worst, other = 0.0, []
        for c in a.columns:
            x, y = pd.to_numeric(a[c], errors="coerce"), pd.to_numeric(b[c], errors="coerce")
            if x.notna().all() and y.notna().all() and len(a):
                worst = max(worst, float(np.max(np.abs(x.to_numpy(float) - y.to_numpy(float)))))
            else:
                bad = (a[c] != b[c]).to_numpy()
                if bad.any():
                    i = int(np.argmax(bad))
                    other.append(f"column {c}: {int(bad.sum())} rows differ (first at row {i}: "
                                 f"{a[c].iloc[i]!r} -> {b[c].iloc[i]!r})")
        return worst, other
    na, oa, nb, ob = [], [], [], []
    _numbers(_path_free(json.loads(golden.read_text())), na, oa)
    _numbers(_path_free(json.loads(new.read_text())), nb, ob)
    new_other = dict(ob)
    other = [f"{w}: {v!r} -> {new_other.get(w)!r}" for w, v in oa if new_other.get(w, object()) != v]
    if [w for w, _ in na] != [w for w, _ in nb]:
        return math.inf, other + ["the numbers sit under different keys"]
    worst = max((abs(x - y) for (_, x), (_, y) in zip(na, nb)), default=0.0)
    return float(worst), other


def save(dest: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="sigvision_golden_") as tmp:
        files = produce(Path(tmp))
        out = dest / "golden"
        if out.exists():
            shutil.rmtree(out)
        manifest = {"versions": _versions(), "files": {}}
        for name, p in files.items():
            q = out / name
            q.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, q)
            manifest["files"][name] = _sha(q)
        (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"saved {len(files)} golden files under {out}")
    return {"saved": len(files), "dir": str(dest)}


def compare(dest: Path, tolerance: float) -> dict:
    manifest_path = dest / "MANIFEST.json"
    if not manifest_path.is_file():
        raise SystemExit(f"golden: {manifest_path} not found; run `python benchmarks/golden.py save {dest}` "
                         "on the code before the change first")
    manifest = json.loads(manifest_path.read_text())
    now = _versions()
    changed = {k: (v, now.get(k)) for k, v in manifest["versions"].items() if now.get(k) != v}
    if changed:
        print(f"warning: the golden files were made with other versions {changed}: bytes may differ for that "
              "reason alone")
    result = {"identical": 0, "files": {}}
    with tempfile.TemporaryDirectory(prefix="sigvision_golden_") as tmp:
        files = produce(Path(tmp))
        missing = sorted(set(manifest["files"]) - set(files))
        extra = sorted(set(files) - set(manifest["files"]))
        for name in sorted(manifest["files"]):
            if name not in files:
                continue
            new = files[name]
            if _sha(new) == manifest["files"][name]:
                result["identical"] += 1
                result["files"][name] = {"identical": True}
                print(f"{name:60s} identical")
                continue
            worst, other = diff(dest / "golden" / name, new)
            if name.endswith(".json") and worst == 0.0 and not other:
                # the same report but for the paths of this run's folders
                result["identical"] += 1
                result["files"][name] = {"identical": True}
                print(f"{name:60s} identical apart from run folder paths")
                continue
            result["files"][name] = {"identical": False, "max_abs_diff": worst, "other": other}
            print(f"{name:60s} max abs difference {worst:.3g}" + "".join(f"\n    {o}" for o in other))
    result["missing"], result["extra"] = missing, extra
    for m in missing:
        print(f"{m:60s} MISSING: the golden set has it, the new run did not write it")
    for e in extra:
        print(f"{e:60s} NEW: written now, not in the golden set")
    diffs = [v for v in result["files"].values() if not v["identical"]]
    result["max_abs_diff"] = max((v["max_abs_diff"] for v in diffs), default=0.0)
    result["byte_identical"] = not diffs and not missing and not extra
    result["within_tolerance"] = (not missing and not extra and all(not v["other"] for v in diffs)
                                  and result["max_abs_diff"] <= tolerance)
    print(f"{result['identical']} of {len(manifest['files'])} files byte-identical; largest numeric difference "
          f"{result['max_abs_diff']:.3g}")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("save", "compare"))
    ap.add_argument("dir", type=Path, help="where the golden files are kept")
    ap.add_argument("--tolerance", type=float, default=0.0,
                    help="compare: accept numeric differences up to this when nothing else differs (default 0)")
    args = ap.parse_args(argv)
    if args.action == "save":
        args.dir.mkdir(parents=True, exist_ok=True)
        res = save(args.dir.resolve())
        print(json.dumps(res))
        return 0
    res = compare(args.dir.resolve(), args.tolerance)
    print(json.dumps({k: v for k, v in res.items() if k != "files"}))
    return 0 if res["byte_identical"] or (args.tolerance > 0 and res["within_tolerance"]) else 1


if __name__ == "__main__":
    sys.exit(main())
