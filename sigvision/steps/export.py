"""``sigvision export``: trained checkpoints -> ONNX files (as the ECM solution shipped them).

Each ONNX file takes what the PyTorch model takes after sigvision's own pre-processing and
returns raw logits:

==========  ==========================================================================
name        meaning
==========  ==========================================================================
``input``   image models: float32 ``(batch, 3, H, W)``, the rendered uint8 RGB image
            divided by 255, minus ``mean``, divided by ``std`` (per channel; the values
            are in the file's metadata). 1-D models: float32 ``(batch, in_chans, L)``,
            sleep signals in µV x 0.01, ECG signals in mV (``L`` = ``data.epoch_s x
            data.fs_hz`` for sleep, ``data.ecg_length_s x data.fs_hz`` for ECG).
``meta``    only for models trained with ``model.meta_features`` (age, sex):
            float32 ``(batch, n_meta)`` as :func:`sigvision.models.factory.meta_vector` encodes it.
``logits``  float32 ``(batch, n_classes)``; apply softmax (single-label) or a sigmoid per
            class (multi-label, ``multilabel`` in the metadata) to get probabilities.
==========  ==========================================================================

The batch axis is dynamic unless ``batch_dynamic=False``. The metadata (``metadata_props``)
holds ``classes`` (JSON), ``mean``, ``std``, ``input_kind``, ``multilabel``,
``signal_scale``, ``model``, ``checkpoint`` and ``sigvision_version``.

The exporter is PyTorch's TorchScript-based one (``dynamo=False``): it needs neither
network access nor ``onnxscript``. Files are written to a temporary name and renamed.
``export_run(cfg)`` writes ``<weights>/<experiment>/<model>/fold_<k>/<checkpoint>.onnx``
for every fold; :func:`check_onnx` compares onnxruntime's output with PyTorch's.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .._version import __version__
from ..ensemble import fold_members, run_members
from ..errors import InputFileError, SigvisionError
from ..io.artifacts import atomic_path
from ..models.meta import META_SIZES
from ..train.checkpoints import load_checkpoint_model

# onnx and onnxruntime are imported when a file is exported or checked (heavy, optional).

__all__ = ["export_onnx", "export_run", "check_onnx", "onnx_input_shape", "DEFAULT_OPSET"]

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


def _signal_length(meta: dict) -> int:
    """Samples per 1-D model input from the training config stored in the checkpoint."""
    data = (meta.get("config") or {}).get("data") or {}
    fs = float(data.get("fs_hz", 0) or 0)
    if data.get("task") == "ecg":
        secs = float(data.get("ecg_length_s", 0) or 0)
    else:
        secs = float(data.get("epoch_s", 0) or 0)
    n = int(round(fs * secs))
    if n <= 0:
        raise SigvisionError("the checkpoint's config has no data.fs_hz / signal length; "
                             "fix: pass signal_length=<samples> to export_onnx")
    return n


def onnx_input_shape(meta: dict, *, signal_length: int | None = None) -> tuple[int, ...]:
    """The model input shape without the batch axis, from checkpoint metadata:
    ``(3, H, W)`` for image models, ``(in_chans, L)`` for 1-D models."""
    if meta.get("input", "image") == "signal":
        return (int(meta.get("in_chans", 1)), int(signal_length or _signal_length(meta)))
    h = int(meta["img_size"])
    render = (meta.get("config") or {}).get("render") or {}
    w = int(render.get("width", h) or h)
    return (3, h, w)


def _n_meta(meta: dict) -> int:
    return int(sum(META_SIZES[m] for m in meta.get("meta_features", [])))


def _wrapper(model, n_meta: int):
    import torch

    class _Export(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, meta=None):
            return self.m(x, meta)

    return _Export(model).eval()


def _export_kwargs(fn) -> dict:
    """``dynamo=False`` where torch knows the argument (torch >= 2.5); the legacy exporter
    is the default before that."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return {}
    return {"dynamo": False} if "dynamo" in params else {}


def _add_metadata(path: Path, props: dict) -> None:
    try:
        import onnx
    except ImportError:  # metadata is a convenience; the graph is complete without it
        log.warning("onnx is not installed: %s written without metadata (pip install onnx)", path)
        return
    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in props.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = str(k), v if isinstance(v, str) else json.dumps(v)
    onnx.save(m, str(path))


def export_onnx(checkpoint_path: str | os.PathLike, out_path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                batch_dynamic: bool = True, signal_length: int | None = None, loaded=None) -> Path:
    """Write the model of one checkpoint (``best.pt``, ``last.pt``, ``epoch_<e>.pt``) as ONNX.

    Parameters
    ----------
    checkpoint_path : a checkpoint written by ``sigvision train``.
    out_path : the ``.onnx`` file to write (atomically; parent folders are created).
    opset : ONNX opset version (17 by default; onnxruntime >= 1.14 runs it).
    batch_dynamic : leave the batch axis free (``batch``); else fixed at 1.
    signal_length : samples per 1-D input (default: from the checkpoint's config).
    loaded : ``(model, meta)`` of this checkpoint when the caller has loaded (and checked) it.

    Returns
    -------
    Path
        ``out_path``.
    """
    import torch


    ckpt = Path(checkpoint_path)
    out = Path(out_path)
    if out.suffix.lower() != ".onnx":
        raise InputFileError(out, "ONNX output must end in .onnx", "name the output file <something>.onnx")
    model, meta = loaded if loaded is not None else load_checkpoint_model(ckpt, "cpu")
    if getattr(model, "classical", False):
        raise SigvisionError(f"{ckpt}: {meta.get('model')} is a classical model (hand-crafted features and "
                             "a NumPy classifier), which ONNX cannot hold; fix: export the deep models "
                             "only, and use 'sigvision predict' for the classical one")
    model = model.float().eval()
    shape = onnx_input_shape(meta, signal_length=signal_length)
    n_meta = _n_meta(meta)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2 if batch_dynamic else 1,) + shape, generator=g)
    args: tuple = (x,)
    names = ["input"]
    if n_meta:
        args = (x, torch.zeros((x.shape[0], n_meta)))
        names.append("meta")
    dynamic = {n: {0: "batch"} for n in names + ["logits"]} if batch_dynamic else None
    wrapped = _wrapper(model, n_meta)
    with atomic_path(out, suffix=".onnx") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings and the legacy exporter's deprecation note
            try:
                torch.onnx.export(wrapped, args, str(tmp), input_names=names, output_names=["logits"],
                                  dynamic_axes=dynamic, opset_version=int(opset), do_constant_folding=True,
                                  **_export_kwargs(torch.onnx.export))
            except ModuleNotFoundError as exc:
                raise SigvisionError(f"{ckpt}: ONNX export needs the {exc.name!r} package; "
                                     f"fix: pip install {exc.name}") from None
            except Exception as exc:
                first = str(exc).splitlines()[0][:200] if str(exc) else ""
                raise SigvisionError(f"{ckpt}: ONNX export of {meta.get('model')} failed ({type(exc).__name__}: "
                                     f"{first}); fix: try another opset (--opset 18) or report the model name") from None
        _add_metadata(tmp, {
            "model": str(meta.get("model", "")), "classes": list(meta.get("classes", [])),
            "mean": list(meta.get("mean", [])), "std": list(meta.get("std", [])),
            "input_kind": meta.get("input", "image"), "multilabel": bool(meta.get("multilabel", False)),
            "meta_features": list(meta.get("meta_features", [])),
            "signal_scale": ("uV*0.01" if (meta.get("config") or {}).get("data", {}).get("task") == "sleep" else "mV")
            if meta.get("input") == "signal" else "",
            "checkpoint": str(ckpt), "sigvision_version": __version__,
        })
    return out


def check_onnx(checkpoint_path: str | os.PathLike, onnx_path: str | os.PathLike, *, batch: int = 3,
               seed: int = 0, signal_length: int | None = None) -> float:
    """Max absolute difference between onnxruntime's and PyTorch's logits (CPU) on a random
    batch of ``batch`` inputs (a batch size different from the export's checks the free axis)."""
    import torch


    try:
        import onnxruntime as ort
    except ImportError:
        raise SigvisionError("checking an ONNX file needs onnxruntime; fix: pip install onnxruntime") from None
    model, meta = load_checkpoint_model(checkpoint_path, "cpu")
    shape = onnx_input_shape(meta, signal_length=signal_length)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    feeds = {"input": x}
    n_meta = _n_meta(meta)
    m = None
    if n_meta:
        m = rng.random((batch, n_meta)).astype(np.float32)
        feeds["meta"] = m
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], feeds)[0]
    with torch.no_grad():
        ref = model.float()(torch.from_numpy(x), None if m is None else torch.from_numpy(m)).numpy()
    if got.shape != ref.shape:
        raise SigvisionError(f"{onnx_path}: output shape {got.shape} differs from PyTorch's {ref.shape}; "
                             "fix: export again with this sigvision version")
    return float(np.max(np.abs(got - ref))) if got.size else 0.0


def export_run(cfg, *, which: str | None = None, out_dir: str | os.PathLike | None = None,
               opset: int = DEFAULT_OPSET, verify: bool = False, atol: float = 1e-4) -> list[Path]:
    """Export every fold of ``cfg.model``, each checked as every ensemble member is
    (:func:`sigvision.ensemble.run_members`: config hash and class order) (``which``: best, last or an epoch number; default
    ``infer.checkpoint``, for this model (``model.key``) when it is given per model). Files go next to the checkpoints
    (``<weights>/<experiment>/<model>/fold_<k>/<which>.onnx``) or to
    ``out_dir/<model>_fold_<k>_<which>.onnx``. With ``verify`` each file is run by
    onnxruntime and compared with PyTorch (max abs difference must stay below ``atol``)."""
    which = str(which or cfg.infer_checkpoint)
    members = fold_members({cfg.model.key: cfg}, which)
    for m in members:
        if not m.checkpoint.is_file():
            raise InputFileError(m.checkpoint, "checkpoint not found",
                                 f"train {cfg.model.name} first (sigvision train), or pick another --checkpoint")

    def export_one(m, model, meta):
        out = (Path(out_dir) / f"{m.name}_fold_{m.fold}_{which}.onnx") if out_dir else m.checkpoint.with_suffix(".onnx")
        export_onnx(m.checkpoint, out, opset=opset, loaded=(model, meta))
        if verify:
            diff = check_onnx(m.checkpoint, out)
            if not diff < atol:
                raise SigvisionError(f"{out}: onnxruntime differs from PyTorch by {diff:.2e} (> {atol:g}); "
                                     "fix: try another opset, or do not use this ONNX file")
            log.info("%s: max |onnxruntime - torch| = %.2e", out, diff)
        return out

    written, _ = run_members(members, export_one, device="cpu", desc="export")
    return written
