"""Shared fixtures: small seeded synthetic data written to temp folders (never the repo)."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never use the network (read by huggingface_hub at import)

START = datetime(2020, 1, 1, 22, 0, 0, tzinfo=timezone.utc)


def write_test_edf(path, signals_uv, fs_hz, names, *, dims=None, start=START, record_duration_s=1.0):
    """Write an EDF+ file with the project's writer (signals (C, N) in the given unit)."""
    from sigvision.synth.edf import write_edf

    dims = dims or ["uV"] * len(names)
    return write_edf(path, np.asarray(signals_uv, dtype=np.float64), fs_hz, names, dims, start=start,
                     record_duration_s=record_duration_s)


def write_test_hypnogram(path, stages, start=START):
    from sigvision.synth.edf import write_hypnogram_edf

    return write_hypnogram_edf(path, stages, start=start)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """Two synthetic nights (subject SC400, nights 1 and 2), 40 epochs each."""
    from sigvision.synth.samples import write_sample_psg

    d = tmp_path_factory.mktemp("synth_psg")
    write_sample_psg(d, 2, seed=0, max_epochs=40)
    return d


@pytest.fixture(scope="session")
def synth_dir4(tmp_path_factory) -> Path:
    """Four synthetic nights from two subjects, 30 epochs each."""
    from sigvision.synth.samples import write_sample_psg

    d = tmp_path_factory.mktemp("synth_psg4")
    write_sample_psg(d, 4, seed=1, max_epochs=30)
    return d
