# The two commands a new user types (each sets up its own environment first):
#   make demo   - run the pipeline on the sample data shipped in the repo
#   make test   - run the test suite
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

demo: $(STAMP)
	$(BIN)/sigvision demo --out demo_out --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

ecg-demo: $(STAMP)
	$(BIN)/sigvision -q prepare -c configs/ecg_cinc2021.yaml --overwrite
	$(BIN)/sigvision -q train -c configs/ecg_demo_img.yaml --overwrite
	$(BIN)/sigvision -q train -c configs/ecg_demo_1d.yaml --overwrite
	$(BIN)/python inferblend.py configs/ecg_demo_img.yaml configs/ecg_demo_1d.yaml
	$(BIN)/python blend.py -c configs/ecg_cinc2021.yaml
	$(BIN)/python postprocess.py -c configs/ecg_cinc2021.yaml
	$(BIN)/sigvision evaluate -c configs/ecg_cinc2021.yaml

bench: $(STAMP)
	$(BIN)/python -m benchmarks --full
	$(BIN)/python benchmarks/ecg_cv.py

bench-realism: $(BENCH_STAMP)
	$(BIN)/python benchmarks/synthetic_realism.py

clean:
	rm -rf demo_out runs .pytest_cache
