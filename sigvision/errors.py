"""Error types shared by every stage.

Every input problem raises :class:`SigvisionError` (a ``ValueError``) whose message is one
line naming the file, what is wrong and how to fix it. The CLI prints that line and exits
with code 2.
"""
from __future__ import annotations

from os import PathLike

__all__ = ["SigvisionError", "InputFileError", "ConfigError"]


class SigvisionError(ValueError):
    """A user-facing error: one line, names what is wrong and the fix."""


class InputFileError(SigvisionError):
    """A file the user gave is missing, unreadable or malformed.

    Parameters
    ----------
    path : str or PathLike
        The offending file (or folder).
    problem : str
        What is wrong with it.
    fix : str
        What the user should do.
    """

    def __init__(self, path: str | PathLike | None, problem: str, fix: str = ""):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path else ""
        msg = f"{where}{problem}"
        if fix:
            msg += f"; fix: {fix}"
        super().__init__(" ".join(msg.split("\n")))


class ConfigError(SigvisionError):
    """A configuration value or key is invalid."""
