"""Seeding, devices, AMP and torchrun (DistributedDataParallel) plumbing.

Nothing happens at import time; the device is chosen when asked, never globally.
"""
from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
from .errors import ConfigError
import shutil

# torch and tqdm are imported inside the functions that use them: the CLI imports this module
# first, and `sigvision --help` or a refused config must not wait for torch.

__all__ = ["Progress", "no_progress", "tqdm_progress", "seed_everything", "DistInfo", "dist_info", "init_distributed",
           "cleanup_distributed", "share_from_primary", "resolve_device", "resolve_amp", "autocast_context", "epoch_seed"]


#: A progress wrapper ``progress(iterable, total=None, desc="") -> iterable`` (tqdm's call form).
Progress = Callable[..., Iterable]


def no_progress(it: Iterable, total: int | None = None, desc: str = "") -> Iterable:
    """The :data:`Progress` that shows nothing."""
    return it


def epoch_seed(seed: int, *parts: int) -> int:
    """A derived seed for (seed, fold, epoch, rank, ...), stable across runs and resumes."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(p) & 0xFFFFFFFF for p in parts]])
    return int(ss.generate_state(1)[0])


def seed_everything(seed: int, rank: int = 0) -> None:
    """Seed python, numpy and torch (CPU and CUDA) from ``seed`` and ``rank``."""
    import torch

    s = epoch_seed(seed, rank)
    random.seed(s)
    np.random.seed(s % (2**32))
    torch.manual_seed(s)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def primary(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    return DistInfo(rank=int(os.environ.get("RANK", 0)), world_size=int(os.environ.get("WORLD_SIZE", 1)),
                    local_rank=int(os.environ.get("LOCAL_RANK", 0)))


def resolve_device(name: str = "auto", info: DistInfo | None = None):
    import torch

    info = info or dist_info()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if info.enabled and name.startswith("cuda:"):
        # every rank would take that one GPU (NCCL: duplicate GPU, or ranks piled on one card)
        raise ConfigError(f"train.device={name} under torchrun: each process takes the GPU of its LOCAL_RANK; "
                          "set train.device: cuda (or auto), and choose GPUs with CUDA_VISIBLE_DEVICES")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but no CUDA device is available; use auto or cpu")
        return torch.device("cuda", info.local_rank if info.enabled else torch.cuda.current_device())
    return torch.device(name)


def init_distributed(device) -> DistInfo:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU) when WORLD_SIZE > 1."""
    import torch
    import torch.distributed as dist

    info = dist_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info


def share_from_primary(value):
    """``value`` as rank 0 has it, on every rank of the process group; returns after every rank
    has it. The barrier matters when the ranks then stop together (a refusal): a rank that tore
    the group down while another was still receiving aborted now and then (SIGABRT, gloo)."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    dist.barrier()
    return box[0]


def cleanup_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def resolve_amp(mode: str, device, key: str = "train.amp") -> str | None:
    """'auto' -> bf16 on CUDA where the GPU computes it natively (:func:`native_bf16`), else
    fp16 (with a grad scaler) on CUDA; off on CPU."""
    if mode == "off":
        return None
    if mode == "auto":
        if device.type != "cuda":
            return None
        return "bf16" if native_bf16() else "fp16"
    if mode == "fp16" and device.type != "cuda":
        raise ConfigError(f"{key}=fp16 needs a CUDA device; use bf16 or off on CPU")
    return mode


def check_compile_toolchain(key: str = "train.compile") -> None:
    """Refuse ``torch.compile`` up front where its code generator cannot run: inductor builds
    C++ kernels on CPU (and Triton's launchers on a GPU) with the system's compiler. Without one
    the first training step would fail deep inside torch with a long trace."""

    names = [os.environ.get("CXX", ""), os.environ.get("CC", ""), "g++", "c++", "clang++", "gcc", "cc", "clang"]
    if not any(n and shutil.which(n) for n in names):
        raise ConfigError(f"{key}=true needs a C/C++ compiler on PATH for torch.compile (none of g++, clang++, "
                          f"gcc, cc found; $CXX unset or not found): install one, or set {key}=false")


def native_bf16() -> bool:
    """Whether the current CUDA device computes in bf16 in hardware (compute capability 8.0+:
    A100, H100, RTX 30xx and later). ``torch.cuda.is_bf16_supported()`` alone also says yes
    where bf16 is only emulated (V100, T4), much slower there than fp16."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.4 has no including_emulation (and reports native support only)
        return bool(torch.cuda.is_bf16_supported())


def autocast_context(amp: str | None, device):
    """An autocast context for ``amp`` ('bf16'/'fp16'), or a no-op when off."""
    import torch

    if amp is None:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def tqdm_progress(enabled: bool, unit: str = "rec") -> Progress:
    """A :data:`Progress` drawing tqdm bars; silent unless ``enabled`` and on rank 0."""
    enabled = enabled and dist_info().primary

    def wrap(it: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        if not enabled:
            return it
        from tqdm import tqdm  # when a bar is drawn only: the CLI's start stays cheap

        return tqdm(it, total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)

    return wrap
