"""Sample data shipped with the package, and synthetic PSG nights made from it.

* ``resources/sample/cinc2021``: 35 real 12-lead ECGs from the PhysioNet/CinC 2021
  training set (WFDB), see its ``PROVENANCE.md``.
* ``resources/sample/hypnograms``: real human-scored hypnograms (Sleep-EDF Expanded,
  Dreem DOD-H/DOD-O with 5 scorers, YASA examples), see ``PROVENANCE.md``.
* No real PSG nights ship (none could be redistributed here): :func:`write_sample_psg`
  synthesises EDF+ nights from the real hypnograms, with amplitudes and spectra calibrated
  to real EEG (see :mod:`sigvision.synth.generator`). Accuracy measured on them says how
  well a model recovers the *synthetic* physiology, not real-PSG performance.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputFileError

# The hypnogram reader and the generator are imported where a night is read or written: the
# config reads this module to resolve sample: paths, and every command reads a config.

__all__ = ["resource_path", "sample_path", "sample_ecg_dir", "hypnogram_dir", "list_sample_hypnograms",
           "load_sample_hypnogram", "consensus_hypnogram", "write_sample_psg", "crop_hypnogram"]


def resource_path(*parts: str) -> Path:
    """Path of a file or folder under ``sigvision/resources``."""
    return Path(str(resources.files("sigvision").joinpath("resources", *parts)))


def sample_path(name: str) -> Path:
    """The shipped sample folder ``name`` (what a config's ``sample:NAME`` path means): under
    ``sigvision/resources/sample/`` in the installed package, else under ``sample_data/`` of the
    source checkout the package runs from (larger sets ship only with the repository)."""
    name = name.strip().strip("/")
    roots = [resource_path("sample"), Path(__file__).resolve().parents[2] / "sample_data"]
    for root in roots:
        if name and (root / name).exists():
            return root / name
    have = sorted({p.name for r in roots if r.is_dir() for p in r.iterdir() if not p.name.startswith(".")})
    raise InputFileError(f"sample:{name}", "no such sample data shipped with sigvision",
                         f"use one of: {', '.join('sample:' + h for h in have)}, or a folder path")


def sample_ecg_dir() -> Path:
    return resource_path("sample", "cinc2021")


def hypnogram_dir() -> Path:
    return resource_path("sample", "hypnograms")


_SOURCES = {"sleep_edf": "sleep_edf_dreem", "dodh": "dreem_dodh", "dodo": "dreem_dodo", "yasa": "yasa"}


def list_sample_hypnograms(source: str = "sleep_edf") -> list[str]:
    """Names of the shipped nights of one source (``sleep_edf``, ``dodh``, ``dodo``, ``yasa``)."""
    if source not in _SOURCES:
        raise ValueError(f"unknown hypnogram source {source!r}; accepted: {', '.join(_SOURCES)}")
    base = hypnogram_dir() / _SOURCES[source]
    if source == "sleep_edf":
        return sorted(p.name[: -len("-PSG.json")] for p in base.glob("*-PSG.json"))
    if source == "yasa":
        return sorted(p.stem for p in base.glob("*.txt"))
    return sorted(p.stem for p in (base / "scorer_1").glob("*.json"))


def consensus_hypnogram(stacks: np.ndarray) -> np.ndarray:
    """Majority vote over scorers, shape (n_scorers, n_epochs) -> (n_epochs,).

    Epochs a scorer left unscored (-1) do not vote; ties go to the lowest-numbered scorer's
    stage among the tied ones; an epoch nobody scored stays -1.
    """
    stacks = np.asarray(stacks)
    n_ep = stacks.shape[1]
    votes = np.zeros((n_ep, 5), dtype=np.int64)
    for row in stacks:
        ok = row >= 0
        np.add.at(votes, (np.flatnonzero(ok), row[ok]), 1)
    out = np.full(n_ep, -1, dtype=np.int64)
    has = votes.sum(1) > 0
    best = votes.max(1, keepdims=True)
    for i in np.flatnonzero(has):
        tied = np.flatnonzero(votes[i] == best[i])
        if tied.size == 1:
            out[i] = tied[0]
        else:
            first = next((s for s in stacks[:, i] if s in tied), tied[0])
            out[i] = first
    return out


def load_sample_hypnogram(name: str, source: str = "sleep_edf") -> np.ndarray:
    """A shipped night as ints per 30-s epoch (-1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM).

    DOD nights return the 5-scorer majority vote.
    """

    base = hypnogram_dir() / _SOURCES.get(source, "")
    if source == "sleep_edf":
        p = base / f"{name}-PSG.json"
    elif source == "yasa":
        p = base / f"{name}.txt"
    elif source in ("dodh", "dodo"):
        stacks = [json.loads((base / f"scorer_{k}" / f"{name}.json").read_text()) for k in range(1, 6)]
        return consensus_hypnogram(np.asarray(stacks, dtype=np.int64))
    else:
        raise ValueError(f"unknown hypnogram source {source!r}; accepted: {', '.join(_SOURCES)}")
    if not p.is_file():
        raise InputFileError(p, "no such sample hypnogram", f"pick one of list_sample_hypnograms({source!r})")
    from ..loaders.hypnogram import read_hypnogram

    stages = read_hypnogram(p).stages
    stages[stages < -1] = -1  # movement -> unscored for driving the generator
    return stages


def crop_hypnogram(stages: np.ndarray, max_epochs: int | None, lead_in: int = 10) -> np.ndarray:
    """At most ``max_epochs`` epochs starting ``lead_in`` epochs before sleep onset."""
    if max_epochs is None or stages.shape[0] <= max_epochs:
        return stages
    sleep = np.flatnonzero((stages >= 1) & (stages <= 4))
    start = max(0, int(sleep[0]) - lead_in) if sleep.size else 0
    start = min(start, stages.shape[0] - max_epochs)
    return stages[start:start + max_epochs]


def write_sample_psg(out_dir: str | os.PathLike, n_nights: int = 4, *, seed: int = 0,
                     source: str = "sleep_edf", max_epochs: int | None = None,
                     names: list[str] | None = None, prefix: str = "SYN_",
                     montage: str = "sleep_edf", label_noise: float = 0.0) -> list[tuple[Path, Path]]:
    """Synthesise EDF+ PSG nights (+ Sleep-EDF-style hypnogram files) from shipped hypnograms.

    The first ``n_nights`` nights of ``source`` (sorted by name; for Sleep-EDF that pairs
    the two nights of each subject) drive the generator; night ``i`` uses seed ``seed + i``.
    Files are named ``<prefix><night>-PSG.edf`` and ``<prefix><night>-Hypnogram.edf``.
    ``montage`` (a key of :data:`sigvision.synth.montages.MONTAGES`, or ``"random"``:
    one drawn per night) and ``label_noise`` (0-1, human-scorer-like relabelling of the
    written hypnograms) are passed to the generator.
    """
    from .nights import write_synthetic_night


    names = names or list_sample_hypnograms(source)[:n_nights]
    if len(names) < n_nights:
        raise ValueError(f"only {len(names)} {source} nights ship; asked for {n_nights}")
    out = []
    for i, name in enumerate(names):
        hyp = crop_hypnogram(load_sample_hypnogram(name, source), max_epochs)
        out.append(tuple(write_synthetic_night(out_dir, f"{prefix}{name}", hyp, seed=seed + i,
                                               montage=montage, label_noise=label_noise)))
    return out
