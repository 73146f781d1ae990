# Quickstart targets: each creates the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The test suite also runs a real llama.cpp server (extra bench-server): llama-cpp-python (pinned in
# .ci/constraints.txt) builds from source once (~4.5 min on 2 cores, needs a C/C++ compiler and CMake) into a
# wheel cache that every later install reuses (.ci/llama-wheel prints progress while it builds).
SERVER_STAMP := $(VENV)/.installed-bench-server
WHEELHOUSE ?= $(or $(INFERONOMICS_WHEELHOUSE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/inferonomics/wheels)

.PHONY: demo test lint bench validate clean docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,app,dask]'
	touch $(STAMP)

$(SERVER_STAMP): $(STAMP) .ci/constraints.txt
	INFERONOMICS_WHEELHOUSE="$(WHEELHOUSE)" bash .ci/llama-wheel $(BIN)/python
	$(BIN)/python -m pip install --quiet --find-links "$(WHEELHOUSE)" -c .ci/constraints.txt -e '.[dev,bench-server]'
	touch $(SERVER_STAMP)

demo: $(STAMP)
	$(BIN)/inferonomics demo
	$(BIN)/inferonomics report --out report

test: $(STAMP) $(SERVER_STAMP)
	$(BIN)/python -m pytest

docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/python -m mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check src tests validation benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/perf_sweep.py
	$(BIN)/python benchmarks/api_speed.py
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/bench_client_overhead.py

validate: $(STAMP)
	$(BIN)/python validation/validate.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
