"""Paths the tests use: the repository and the test data shipped with the tests."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
