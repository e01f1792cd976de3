# The two commands a new user types (each sets up its own environment first):
#   make demo   - run the pipeline on the sample data shipped in the repo
#   make test   - run the test suite
# Every output can be redirected: `make demo OUT=/scratch/me/demo`, `make ecg-demo OUT=/scratch/me/ecg`,
# `make bench OUT=/scratch/me/bench` (JSON of every benchmark there). Without OUT the outputs go
# where the README says (demo_out/, runs/ + weights/, the terminal).
OUT ?=
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test bench bench-realism ecg-demo clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install -q -r requirements-bench.txt
	touch $(BENCH_STAMP)

DEMO_OUT := $(if $(OUT),$(OUT),demo_out)
BENCH_JSON := $(if $(OUT),--json-out $(OUT)/benchmarks.json,)

demo: $(STAMP)
	$(BIN)/sigvision demo --out $(DEMO_OUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

ecg-demo: $(STAMP)
	$(BIN)/sigvision ecg-demo $(if $(OUT),--out $(OUT),)

bench: $(STAMP)
	$(BIN)/python -m benchmarks --full $(BENCH_JSON)
	$(BIN)/python benchmarks/ecg_cv.py

bench-realism: $(BENCH_STAMP)
	$(BIN)/python benchmarks/synthetic_realism.py

clean:
	rm -rf demo_out runs .pytest_cache
