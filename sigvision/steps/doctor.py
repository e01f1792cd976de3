"""``sigvision doctor`` and ``sigvision weights``: what this machine has, and where the
pretrained weights of the presets are expected.

* :func:`doctor_report` -> dict: Python, sigvision, torch (CUDA build, cuDNN), timm and
  other library versions, the NVIDIA driver version, the GPUs torch sees, and whether
  pretrained weights are reachable: files in ``$SIGVISION_WEIGHTS`` for the presets, the
  Hugging Face cache, ``HF_HUB_OFFLINE``, and a HEAD request to the hub (3 s timeout, run in
  a daemon thread so it never hangs; skipped when ``HF_HUB_OFFLINE=1``).
  :func:`format_doctor` turns it into the text the CLI prints.
* :func:`weights_table` -> one row per preset config (``configs/*.yaml``): the model, whether
  it asks for pretrained weights, the file names looked for under ``$SIGVISION_WEIGHTS`` (in
  the order :func:`sigvision.models.factory.find_pretrained_file` tries them), the file found, and
  the hub repository timm would download from. :func:`format_weights_table` prints it.

Nothing here raises on a missing library or GPU; every probe reports what it found.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from .._version import __version__
from ..config import ModelConfig
from ..config.load import load_config
from ..errors import SigvisionError
from ..registry import MODELS

# torch, timm and huggingface_hub are imported by the checks that need them: each check
# reports a library that fails to import instead of the command failing.

__all__ = ["doctor_report", "format_doctor", "weights_table", "format_weights_table", "PRESET_MODELS",
           "WEIGHT_EXTENSIONS", "hub_repo_for", "check_hub"]

#: The pretrained presets of the MAIC 2021 solution (configs/sleep_vit_b16.yaml, sleep_effnet_b4.yaml).
PRESET_MODELS: tuple[str, ...] = ("vit_base_patch16_224", "tf_efficientnet_b4_ns")

#: Extensions tried under $SIGVISION_WEIGHTS, in order (as sigvision.models.factory.find_pretrained_file).
WEIGHT_EXTENSIONS: tuple[str, ...] = (".safetensors", ".pth", ".bin", ".pt")

HUB_TIMEOUT_S = 3.0
#: Library name shown -> distributions that provide it (read from package metadata, no import).
_LIBS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",), "timm": ("timm",), "torchvision": ("torchvision",), "mne": ("mne",), "edfio": ("edfio",),
    "scipy": ("scipy",), "pandas": ("pandas",), "scikit-learn": ("scikit-learn",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
               "opencv-contrib-python"),
    "albumentations": ("albumentations",), "huggingface_hub": ("huggingface_hub", "huggingface-hub"),
    "safetensors": ("safetensors",), "onnx": ("onnx",), "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "matplotlib": ("matplotlib",),
}


def _version(dists: tuple[str, ...]) -> str | None:
    """Installed version of the first of ``dists`` found (package metadata; nothing imported)."""
    from importlib import metadata

    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # pragma: no cover - broken metadata
            return "?"
    return None


def _truthy(v: str | None) -> bool:
    return str(v or "").strip().lower() in ("1", "true", "yes", "on")


def hf_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it (environment, or its constant)."""
    if _truthy(os.environ.get("HF_HUB_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except Exception:
        return False


def _driver_version() -> tuple[str | None, str]:
    """NVIDIA driver version and where it came from (``/proc`` or ``nvidia-smi``)."""
    proc = Path("/proc/driver/nvidia/version")
    try:
        text = proc.read_text()
        for tok in text.split():
            parts = tok.split(".")
            if len(parts) >= 2 and all(p.isdigit() for p in parts):
                return tok, str(proc)
    except OSError:
        pass
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip().splitlines()[0].strip(), "nvidia-smi"
        return None, f"nvidia-smi exited with {r.returncode}"
    except FileNotFoundError:
        return None, "no NVIDIA driver found (/proc/driver/nvidia/version, nvidia-smi)"
    except Exception as exc:  # timeout, permissions
        return None, f"nvidia-smi failed ({type(exc).__name__})"


def _torch_info() -> dict:
    try:
        import torch
    except Exception as exc:
        return {"version": None, "error": f"{type(exc).__name__}: {exc}"}
    out: dict = {"version": torch.__version__, "cuda_build": torch.version.cuda,
                 "hip_build": getattr(torch.version, "hip", None), "threads": torch.get_num_threads()}
    try:
        out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:
        out["cudnn"] = None
    gpus = []
    try:
        out["cuda_available"] = bool(torch.cuda.is_available())
        n = torch.cuda.device_count() if out["cuda_available"] else 0
        for i in range(n):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2 ** 30, 1),
                         "capability": f"{p.major}.{p.minor}"})
        out["bf16_supported"] = bool(n and torch.cuda.is_bf16_supported())
    except Exception as exc:  # a broken driver makes these raise
        out["cuda_available"] = False
        out["cuda_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    out["gpus"] = gpus
    out["gpu_count"] = len(gpus)
    try:
        out["mps_available"] = bool(torch.backends.mps.is_available())
    except Exception:
        out["mps_available"] = False
    return out


def hub_repo_for(model: str) -> str | None:
    """The Hugging Face repository timm downloads ``model``'s default weights from
    (``vit_base_patch16_224`` -> ``timm/vit_base_patch16_224.augreg2_in21k_ft_in1k``)."""
    try:
        import timm.models as tm
    except Exception:
        return None
    names = [model]
    try:  # deprecated aliases (tf_efficientnet_b4_ns -> tf_efficientnet_b4.ns_jft_in1k)
        from timm.models._registry import get_deprecated_models

        alias = get_deprecated_models().get(model)
        if alias:
            names.insert(0, alias)
    except Exception:
        pass
    for n in names:
        try:
            cfg = tm.get_pretrained_cfg(n)
        except Exception:
            cfg = None
        if cfg is not None and getattr(cfg, "hf_hub_id", None):
            return str(cfg.hf_hub_id)
    return None


def _cached_file(repo: str | None) -> str | None:
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        for fname in ("model.safetensors", "pytorch_model.bin"):
            p = try_to_load_from_cache(repo, fname)
            if isinstance(p, str):
                return p
    except Exception:
        pass
    return None


def _hub_head(repo: str, timeout: float) -> str:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    meta = get_hf_file_metadata(hf_hub_url(repo, "model.safetensors"), timeout=timeout)
    size = getattr(meta, "size", None)
    return f"reachable ({repo}/model.safetensors" + (f", {size / 2 ** 20:.0f} MiB)" if size else ")")


def check_hub(repo: str | None, *, timeout: float = HUB_TIMEOUT_S,
              head: Callable[[str, float], str] | None = None) -> dict:
    """Is ``repo``'s weight file reachable on the Hugging Face hub? Never hangs: the request
    runs in a daemon thread that is abandoned after ``timeout + 1`` s. Returns
    ``{"checked": bool, "reachable": bool | None, "detail": str}``."""
    if hf_offline():
        return {"checked": False, "reachable": None, "detail": "skipped: HF_HUB_OFFLINE=1"}
    if not repo:
        return {"checked": False, "reachable": None, "detail": "skipped: no hub repository known for this model"}
    head = head or _hub_head
    box: dict = {}

    def run():
        try:
            box["detail"] = head(repo, timeout)
            box["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - every failure is a report, never a crash
            first = str(exc).splitlines()[0][:160] if str(exc) else ""
            box["detail"] = f"unreachable ({type(exc).__name__}: {first})" if first else \
                f"unreachable ({type(exc).__name__})"
            box["ok"] = False

    t = threading.Thread(target=run, name="sigvision-hub-check", daemon=True)
    t.start()
    t.join(timeout + 1.0)
    if t.is_alive():
        return {"checked": True, "reachable": False, "detail": f"no answer within {timeout:g} s (timeout)"}
    return {"checked": True, "reachable": bool(box.get("ok")), "detail": box.get("detail", "")}


def _weights_folder() -> tuple[str | None, bool, list[str]]:
    folder = os.environ.get("SIGVISION_WEIGHTS") or None
    if not folder:
        return None, False, []
    p = Path(folder)
    if not p.is_dir():
        return folder, False, []
    try:
        files = sorted(f.name for f in p.iterdir() if f.is_file())
    except OSError:
        files = []
    return folder, True, files


def _local_file(model: str, folder: str | None) -> str | None:
    if not folder:
        return None
    for ext in WEIGHT_EXTENSIONS:
        p = Path(folder) / f"{model}{ext}"
        if p.is_file():
            return str(p)
    return None


def doctor_report(*, hub_check: bool = True, hub_timeout: float = HUB_TIMEOUT_S,
                  head: Callable[[str, float], str] | None = None) -> dict:
    """Versions, GPUs and pretrained-weight reachability of this machine (a JSON-able dict).

    Parameters
    ----------
    hub_check : make the HEAD request to the hub (skipped anyway when ``HF_HUB_OFFLINE=1``).
    hub_timeout : seconds for that request.
    head : replacement for the request ``head(repo, timeout) -> str`` (tests).
    """

    torch_info = _torch_info()
    driver, driver_src = _driver_version()
    folder, folder_ok, folder_files = _weights_folder()
    offline = hf_offline()
    presets = []
    for model in PRESET_MODELS:
        repo = hub_repo_for(model)
        presets.append({"model": model, "local_file": _local_file(model, folder), "hub_repo": repo,
                        "hf_cache": _cached_file(repo)})
    if hub_check and not offline:
        hub = check_hub(presets[0]["hub_repo"], timeout=hub_timeout, head=head)
    elif offline:
        hub = {"checked": False, "reachable": None, "detail": "skipped: HF_HUB_OFFLINE=1"}
    else:
        hub = {"checked": False, "reachable": None, "detail": "skipped (hub_check=False)"}
    for p in presets:
        p["available"] = bool(p["local_file"] or p["hf_cache"] or hub.get("reachable"))
    return {
        "sigvision": __version__,
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "platform": {"system": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "torch": torch_info,
        "driver": {"version": driver, "source": driver_src},
        "libraries": {name: _version(dists) for name, dists in _LIBS.items()},
        "pretrained": {
            "SIGVISION_WEIGHTS": folder, "folder_exists": folder_ok, "folder_files": folder_files[:50],
            "HF_HUB_OFFLINE": offline, "hub": hub, "presets": presets,
        },
    }


def format_doctor(d: dict) -> str:
    """The report as aligned text lines (what ``sigvision doctor`` prints)."""
    t = d.get("torch", {})
    lines = [f"sigvision      {d.get('sigvision')}",
             f"python        {d['python']['version']} ({d['python']['executable']})",
             f"platform      {d['platform']['system']}, {d['platform']['cpus']} CPU(s)"]
    if t.get("version"):
        cuda = t.get("cuda_build") or ("ROCm " + t["hip_build"] if t.get("hip_build") else "none (CPU build)")
        lines.append(f"torch         {t['version']} (CUDA build {cuda}, cuDNN {t.get('cudnn') or '-'})")
    else:
        lines.append(f"torch         NOT IMPORTABLE ({t.get('error', '')})")
    libs = d.get("libraries", {})
    lines.append(f"timm          {libs.get('timm') or 'not installed'}")
    drv = d.get("driver", {})
    lines.append(f"driver        {drv.get('version') or '-'}" + ("" if drv.get("version") else f" ({drv.get('source')})"))
    gpus = t.get("gpus", [])
    lines.append(f"GPUs          {len(gpus)}" + ("" if gpus else " (torch sees no CUDA device; training runs on CPU)"))
    for g in gpus:
        lines.append(f"  cuda:{g['index']}      {g['name']}, {g['memory_gib']} GiB, compute {g['capability']}")
    if t.get("cuda_error"):
        lines.append(f"  CUDA error  {t['cuda_error']}")
    others = ", ".join(f"{k} {v}" for k, v in libs.items() if k != "timm" and v)
    missing = ", ".join(k for k, v in libs.items() if not v)
    lines.append(f"libraries     {others}")
    if missing:
        lines.append(f"not installed {missing}")
    pre = d.get("pretrained", {})
    folder = pre.get("SIGVISION_WEIGHTS")
    if folder:
        state = f"{len(pre.get('folder_files', []))} file(s)" if pre.get("folder_exists") else "MISSING folder"
        lines.append(f"SIGVISION_WEIGHTS {folder} ({state})")
    else:
        lines.append("SIGVISION_WEIGHTS not set")
    lines.append(f"HF_HUB_OFFLINE {'1 (hub not used)' if pre.get('HF_HUB_OFFLINE') else '0'}")
    hub = pre.get("hub", {})
    lines.append(f"hub           {hub.get('detail', '-')}")
    for p in pre.get("presets", []):
        where = p.get("local_file") or (f"HF cache {p['hf_cache']}" if p.get("hf_cache") else None) or \
            ("hub" if hub.get("reachable") else None)
        verdict = f"ok ({where})" if p.get("available") else \
            (f"NOT FOUND: put {p['model']}.safetensors in $SIGVISION_WEIGHTS or set model.pretrained_file")
        lines.append(f"  {p['model']:22s} {verdict}")
    return "\n".join(lines) + "\n"


def _config_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "configs"


def weights_table(config_dir: str | os.PathLike | None = None) -> list[dict]:
    """One row per preset config: where its pretrained weights are expected.

    Rows: ``preset`` (config file), ``model``, ``pretrained`` (does the preset ask for
    weights), ``pretrained_file`` (the config's explicit file, if any), ``expected`` (file
    names tried under ``$SIGVISION_WEIGHTS``, in order), ``folder`` (``$SIGVISION_WEIGHTS``),
    ``found`` (the file that would be used, or None), ``hub_repo``. Without a ``configs``
    folder (an installed package), the two pretrained presets are listed by model name.
    """

    folder = os.environ.get("SIGVISION_WEIGHTS") or None
    cdir = Path(config_dir) if config_dir else _config_dir()
    entries: list[tuple[str, object]] = []
    if cdir.is_dir():
        for p in sorted(cdir.glob("*.yaml")):
            try:
                entries.append((p.name, load_config(p).model))
            except SigvisionError as exc:
                entries.append((p.name, exc))
    else:
        entries = [(f"(model) {m}", ModelConfig(name=m, pretrained=True)) for m in PRESET_MODELS]
    rows = []
    for preset, m in entries:
        if isinstance(m, Exception):
            rows.append({"preset": preset, "model": None, "pretrained": False, "pretrained_file": "",
                         "expected": [], "folder": folder, "found": None, "hub_repo": None,
                         "note": f"config not readable: {m}"})
            continue
        own = m.name in MODELS
        explicit = m.pretrained_file or ""
        found = None
        if explicit:
            found = explicit if Path(explicit).is_file() else None
        elif m.pretrained:
            found = _local_file(m.name, folder)
        if not m.pretrained:
            note = "trained from scratch (model.pretrained: false); no file needed"
        elif explicit:
            note = "model.pretrained_file " + ("found" if found else "MISSING")
        elif found:
            note = "found in $SIGVISION_WEIGHTS"
        elif folder:
            note = "not in $SIGVISION_WEIGHTS; timm's hub is tried when online"
        else:
            note = "SIGVISION_WEIGHTS not set; timm's hub is tried when online"
        rows.append({"preset": preset, "model": m.name, "pretrained": bool(m.pretrained),
                     "pretrained_file": explicit,
                     "expected": [] if own else [f"{m.name}{ext}" for ext in WEIGHT_EXTENSIONS],
                     "folder": folder, "found": found, "hub_repo": None if own else hub_repo_for(m.name),
                     "note": note})
    return rows


def format_weights_table(rows: list[dict]) -> str:
    """Text table of :func:`weights_table` (what ``sigvision weights`` prints)."""
    folder = next((r["folder"] for r in rows if r.get("folder")), None)
    out = [f"SIGVISION_WEIGHTS={folder}" if folder else "SIGVISION_WEIGHTS is not set "
           "(export SIGVISION_WEIGHTS=/path/to/folder to use local files)"]
    w1 = max([len("preset")] + [len(r["preset"]) for r in rows])
    w2 = max([len("model")] + [len(str(r["model"])) for r in rows])
    out.append(f"{'preset':{w1}s}  {'model':{w2}s}  pretrained  expected file (first found is used) / status")
    for r in rows:
        pre = "yes" if r["pretrained"] else "no"
        if r["pretrained"] and r.get("pretrained_file"):
            where = r["pretrained_file"]
        elif r["pretrained"] and r["expected"]:
            where = "$SIGVISION_WEIGHTS/" + " | ".join(r["expected"])
        else:
            where = "-"
        out.append(f"{r['preset']:{w1}s}  {str(r['model']):{w2}s}  {pre:10s}  {where}")
        status = f"found: {r['found']}" if r.get("found") else r.get("note", "")
        if r.get("hub_repo") and r["pretrained"] and not r.get("found"):
            status += f" (hf hub: {r['hub_repo']})"
        out.append(f"{'':{w1}s}  {'':{w2}s}  {'':10s}  -> {status}")
    return "\n".join(out) + "\n"
