"""benchmarks/golden.py, the behaviour-unchanged check of the restructure: its comparison of
two files (the part that decides pass/fail) on hand-made files; the demos it runs are
tested by their own tests."""
import json
import math
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.golden import compare, diff  # noqa: E402


def test_npy_difference_is_the_max_abs_and_a_shape_change_is_infinite(tmp_path):
    a, b, c = tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.npy"
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    np.save(a, x)
    y = x.copy()
    y[2, 1] += 1e-3
    np.save(b, y)
    np.save(c, x[:3])
    worst, other = diff(a, b)
    assert worst == pytest.approx(1e-3, rel=1e-3) and other == []
    assert diff(a, a) == (0.0, [])
    assert diff(a, c)[0] == math.inf


def test_csv_numbers_compare_by_value_and_labels_by_text(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("record,epoch,stage,p_W\nr1,0,W,0.90\nr1,1,N2,0.10\n")
    b.write_text("record,epoch,stage,p_W\nr1,0,W,0.9004\nr1,1,N3,0.10\n")
    worst, other = diff(a, b)
    assert worst == pytest.approx(4e-4)
    assert other == ["column stage: 1 rows differ (first at row 1: 'N2' -> 'N3')"]


def test_json_ignores_paths_but_not_keys_or_labels(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    a.write_text(json.dumps({"weights": {"vit": 0.25, "eff": 0.75}, "out": "/tmp/run1/x.csv", "method": "sqrt"}))
    b.write_text(json.dumps({"weights": {"vit": 0.2501, "eff": 0.7499}, "out": "/tmp/run2/x.csv", "method": "sqrt"}))
    c.write_text(json.dumps({"weights": {"vit": 0.25, "eff": 0.75}, "out": "/tmp/run1/x.csv", "method": "mean"}))
    worst, other = diff(a, b)
    assert worst == pytest.approx(1e-4) and other == []
    worst, other = diff(a, c)
    assert worst == 0.0 and other == [".method: 'sqrt' -> 'mean'"]


def test_compare_without_a_golden_set_says_how_to_make_one(tmp_path):
    with pytest.raises(SystemExit, match=r"MANIFEST\.json not found; run `python benchmarks/golden\.py save"):
        compare(tmp_path, 0.0)
