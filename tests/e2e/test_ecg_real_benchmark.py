"""benchmarks/ecg_real.py at a tiny size: it runs the three seed tasks end to end and its last line
is one JSON object with every member's figures and the constant-rule flags."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tests.paths import REPO



@pytest.mark.slow
def test_ecg_real_benchmark_runs_and_reports_every_member(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "benchmarks/ecg_real.py", "--records", "8", "--folds", "2", "--epochs", "2"],
                       cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["records"] == {"cpsc2018": 8, "ludb": 8, "cinc2021": 8}
    for task in ("af", "normal", "cpsc"):
        res = last["ecg_real"][task]
        for member in ("deep", "baseline", "blend"):
            m = res[member]
            assert set(m) >= {"auroc", "f1", "sensitivity", "specificity", "challenge", "constant_rules"}
            assert 0 <= m["f1"] <= 1 and isinstance(m["constant_rules"], list)
        assert res["seconds"]["total"] > 0
    assert last["ecg_real"]["af"]["classes"] == ["rest", "AF"]
    assert last["ecg_real"]["cpsc"]["deep"]["challenge"] is not None
    assert "constant?" in r.stdout
