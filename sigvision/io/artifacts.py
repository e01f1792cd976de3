"""Atomic writers for every artifact the pipeline produces, and the output-folder lock.

Each writer writes to a temporary file in the destination folder and renames it over the
target, so a crash or a full disk never leaves a truncated file behind. The renamed file gets
the permissions a plain ``open()`` would give under the process's umask (``mkstemp`` creates
its files 0600, which would hide results from colleagues on a shared server). A full disk
raises :class:`~sigvision.errors.InputFileError` saying "no space left on device" and naming
the file; the temporary file is removed and the target keeps its old content.

:func:`folder_lock` keeps two runs from writing one output folder at once.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputFileError

__all__ = ["atomic_path", "write_text", "write_json", "save_npy", "write_csv", "write_bytes",
           "file_mode", "folder_lock", "remove_stale_temps", "disk_full_again", "LOCK_NAME"]

#: errno values that mean the disk (or the user's quota) is full
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

#: name of the lock file :func:`folder_lock` keeps inside an output folder
LOCK_NAME = ".sigvision.lock"


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``/proc``);
    elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """Permission bits a plain ``open(path, "w")`` would give a new file now (0o666 & ~umask)."""
    return 0o666 & ~_current_umask()


def _no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched; a full
    disk becomes an :class:`InputFileError` naming ``path``. The renamed file has the mode
    :func:`file_mode` gives (the umask's, as a plain ``open()``).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    except OSError as exc:
        if _no_space(exc):
            raise _disk_full(path) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if _no_space(exc):
            raise _disk_full(path) from None
        raise


# ".<target name>.<8 random characters from mkstemp><suffix>", as atomic_path names them
_TEMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}(\.tmp|\.npy|\.csv|\.pt|\.onnx)$")


_DISK_FULL = "no space left on device while writing this file (nothing half-written was kept)"


def _disk_full(path: Path, fix: str = "") -> InputFileError:
    return InputFileError(path, _DISK_FULL, fix or "free space on that disk, or write elsewhere (--out / weights_dir "
                                                   "/ prepared_dir), and run the same command again")


def disk_full_again(exc: BaseException, fix: str) -> BaseException:
    """``exc`` with another fix when it is the disk-full error (a step that can resume says
    how), else ``exc`` itself."""
    if isinstance(exc, InputFileError) and exc.problem == _DISK_FULL:
        return _disk_full(Path(exc.path), fix)
    return exc


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete the temporary files :func:`atomic_path` leaves when a process is killed
    (``.<name>.<random><suffix>``) anywhere under ``folder``; returns how many. Call it only
    while holding the folder's :func:`folder_lock`, so no live writer's file is removed."""
    n = 0
    root = Path(folder)
    if not root.is_dir():
        return 0
    for p in root.rglob(".*"):
        if p.name == LOCK_NAME or not p.is_file():
            continue
        if _TEMP_RE.match(p.name):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
    return n


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) while the block runs.

    The lock is an ``flock`` on ``folder/.sigvision.lock``; the kernel releases it when the
    process ends, however it ends, so a killed run never leaves a stale lock. A second run
    asking for the same folder is refused at once with an :class:`InputFileError` naming the
    process (host, pid, command, start time) that holds it. ``what`` names this run's command
    in that message (e.g. ``"sigvision prepare"``).
    """
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise InputFileError(folder, f"another run is writing this folder ({holder})",
                                 "wait for it to finish, or write to another folder") from None
        info = f"{what}, pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode("utf-8"), 0)
        try:
            yield lock
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsync before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` atomically."""
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame to CSV atomically (no index column)."""
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)
