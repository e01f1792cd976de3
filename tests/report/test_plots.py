"""Plots return valid PNG bytes of the expected size."""
from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from sigvision.metrics.classification import confusion
from sigvision.report.plots import confusion_png, hypnogram_png, save_png, training_curves_png
from sigvision.synth.samples import load_sample_hypnogram

SIG = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == SIG
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.fixture(scope="module")
def night():
    t = load_sample_hypnogram("SC4001E0")[:300]
    rng = np.random.default_rng(0)
    p = t.copy()
    flip = rng.random(t.size) < 0.15
    p[flip] = rng.integers(0, 5, int(flip.sum()))
    return t, p


def test_hypnogram_png(night, tmp_path):
    t, p = night
    png = hypnogram_png(t, p, title="night")
    assert _size(png) == (1100, 480)
    t2 = t.copy()
    t2[10:20] = -1
    assert _size(hypnogram_png(t2, p, errors=False, figsize=(8, 4), dpi=50)) == (400, 200)
    assert _size(hypnogram_png(t)) == (1100, 260)
    out = save_png(tmp_path / "sub" / "h.png", png)
    assert out.read_bytes() == png


def test_hypnogram_png_rejects_bad_input(night):
    t, p = night
    with pytest.raises(ValueError, match="epochs"):
        hypnogram_png(t, p[:-1])
    with pytest.raises(ValueError, match="stage code 7"):
        hypnogram_png(np.full(10, 7))
    with pytest.raises(ValueError, match="epoch_s"):
        hypnogram_png(t, p, epoch_s=0)


def test_confusion_png(night):
    t, p = night
    cm = confusion(t, p, 5)
    names = ["W", "N1", "N2", "N3", "REM"]
    assert _size(confusion_png(cm, names, figsize=(6, 5))) == (600, 500)
    assert _size(confusion_png(cm, names, normalize=False, title="counts", figsize=(6, 5), dpi=80)) == (480, 400)
    empty_row = cm.copy()
    empty_row[1] = 0
    assert _size(confusion_png(empty_row, names)) == (810, 600)  # default (0.9 C + 3.6, 0.8 C + 2) in
    with pytest.raises(ValueError, match="class_names"):
        confusion_png(cm, names[:4])
    with pytest.raises(ValueError, match="square"):
        confusion_png(cm[:4], names)


def test_training_curves_png():
    rows = [{"fold": f, "epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1), "kappa": e / 10}
            for f in range(3) for e in range(5)]
    df = pd.DataFrame(rows)
    assert _size(training_curves_png(df)) == (1100, 400)
    assert _size(training_curves_png(df[df.fold == 0].drop(columns="fold"), title="one", dpi=50)) == (550, 200)
    with pytest.raises(ValueError, match="kappa"):
        training_curves_png(df.drop(columns="kappa"))
    with pytest.raises(ValueError, match="DataFrame"):
        training_curves_png(pd.DataFrame())


def test_save_png_rejects_non_png(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        save_png(tmp_path / "x.png", b"not a png")
