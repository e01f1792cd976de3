"""train.checkpoints.CheckpointSaver: the weights are serialised once per epoch, the epoch and
best copies are one file (hard links), last.pt holds the resumable state, and a failed save
leaves the previous files whole."""
from __future__ import annotations

import os

import pytest
import torch

import sigvision.train.checkpoints as C


def _weights(v: float) -> dict:
    return {"model": {"w": torch.full((3, 3), v)}, "epoch": int(v), "meta": {"classes": ["a", "b"]}}


def test_one_serialisation_links_epoch_and_best(tmp_path, monkeypatch):
    saves = []
    real = torch.save
    monkeypatch.setattr(C.torch, "save", lambda obj, f, *a, **k: saves.append(str(f)) or real(obj, f, *a, **k))
    saver = C.CheckpointSaver(tmp_path)
    saver.save(0, _weights(0.0), {"model": _weights(0.0)["model"], "epoch": 0}, keep_epoch=True, is_best=True)
    assert len(saves) == 2  # the weights once, last.pt once
    e0, best, last = tmp_path / "epoch_0.pt", tmp_path / "best.pt", tmp_path / "last.pt"
    assert os.path.samefile(e0, best) and last.is_file()
    assert torch.equal(torch.load(best)["model"]["w"], torch.zeros(3, 3))
    # a later, worse epoch: its own file; best.pt keeps epoch 0's weights
    saver.save(1, _weights(1.0), {"epoch": 1}, keep_epoch=True, is_best=False)
    assert torch.equal(torch.load(best)["model"]["w"], torch.zeros(3, 3))
    assert torch.equal(torch.load(tmp_path / "epoch_1.pt")["model"]["w"], torch.ones(3, 3))
    # a better one replaces best.pt (a new file: epoch_0.pt is untouched)
    saver.save(2, _weights(2.0), {"epoch": 2}, keep_epoch=True, is_best=True)
    assert os.path.samefile(tmp_path / "epoch_2.pt", best) and not os.path.samefile(e0, best)
    assert torch.equal(torch.load(e0)["model"]["w"], torch.zeros(3, 3))
    assert torch.load(last, weights_only=False)["epoch"] == 2


def test_best_alone_when_epochs_are_not_kept(tmp_path):
    C.CheckpointSaver(tmp_path).save(0, _weights(0.0), None, keep_epoch=False, is_best=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    saver = C.CheckpointSaver(tmp_path)
    saver.save(0, _weights(0.0), {"epoch": 0}, keep_epoch=False, is_best=True)

    def boom(obj, f, *a, **k):
        open(f, "wb").write(b"partial")
        raise OSError("disk went away")

    monkeypatch.setattr(C.torch, "save", boom)
    with pytest.raises(OSError):
        saver.save(1, _weights(1.0), {"epoch": 1}, keep_epoch=False, is_best=True)
    monkeypatch.undo()
    assert torch.equal(torch.load(tmp_path / "best.pt")["model"]["w"], torch.zeros(3, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temporary left
