"""``sigvision infer`` under torchrun: record-level shards, gathered on rank 0, equal to one process."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sigvision.config.load import config_from_dict, save_config
from sigvision.steps.infer import infer, shard_records
from sigvision.io.probs import load_probs
from sigvision.io.runs import load_prepared
from sigvision.steps.prepare import prepare_dataset
from sigvision.steps.train import train
from tests.paths import REPO



def test_shard_records_cover_every_record_once():
    recs = ["c", "a", "b", "a", "d", "e", "c"]
    parts = [shard_records(recs, r, 2) for r in range(2)]
    assert parts == [["a", "c", "e"], ["b", "d"]]
    assert sorted(parts[0] + parts[1]) == sorted(set(recs))
    assert shard_records(recs, 5, 6) == [] and shard_records(recs, 0, 1) == ["a", "b", "c", "d", "e"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_infer_two_processes_equals_single_process(synth_dir4, tmp_path):
    prepared = tmp_path / "prep"
    base = {"name": "d", "seed": 3, "prepared_dir": str(prepared), "data": {"root": str(synth_dir4)},
            "render": {"height": 32, "width": 32}, "model": {"name": "test_vit"},
            "train": {"folds": 2, "epochs": 1, "batch_size": 16, "max_steps_per_epoch": 2, "t0_epochs": 1,
                      "device": "cpu"},
            # odd batch so shards end in partial batches; TTA exercises the re-rendering path too
            "infer": {"batch_size": 7, "tta_shifts_s": [3.0], "test_dir": str(prepared)}}
    cfg = config_from_dict({**base, "weights_dir": str(tmp_path / "w")})
    prepare_dataset(cfg, prepared)
    train(cfg)
    single = infer(cfg)
    cfg_path = save_config(cfg, tmp_path / "cfg.yaml")

    # the same trained run, predicted again by 2 processes (files are overwritten by rank 0)
    ref = {k: load_probs(p) for k, p in single.items()}
    for p in single.values():
        Path(p).unlink()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(_free_port()), "-m", "sigvision", "--quiet", "infer", "-c", str(cfg_path)],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    # rank 0 alone prints what it wrote (one line per file)
    assert r.stdout.count("oof: ") == 1, r.stdout

    index, _ = load_prepared(prepared)
    rows = sorted(zip(index["record"].astype(str), index["epoch"].astype(int)))
    assert set(single) == {"oof", "test", "fold_0", "fold_1"}
    for key, path in single.items():
        probs, meta = load_probs(path)
        ids = list(zip(meta["records"], meta["epochs"]))
        assert len(ids) == len(set(ids)), f"{key}: a row predicted twice"
        assert sorted(ids) == rows, f"{key}: rows missing"
        p_ref, m_ref = ref[key]
        assert ids == list(zip(m_ref["records"], m_ref["epochs"]))  # same rows, same order
        np.testing.assert_allclose(probs, p_ref, rtol=0, atol=1e-6, err_msg=key)
        assert meta.get("labels") == m_ref.get("labels")
