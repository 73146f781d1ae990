# Quickstart targets: each creates the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/inferonomics demo
	$(BIN)/inferonomics report --out report

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests validation benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/perf_sweep.py
	$(BIN)/python benchmarks/cli_startup.py

validate: $(STAMP)
	$(BIN)/python validation/validate.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
