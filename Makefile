# operate-export: every target creates or reuses the local virtual environment in .venv.
# `make help` lists the targets.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint test demo bench

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Reinstall only when pyproject.toml changes; an existing .venv is reused as it is.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with its dev tools

lint: $(STAMP) ## ruff check + format --check, import contracts (lint-imports), mypy
	$(VENV)/bin/ruff check exporter tests
	$(VENV)/bin/ruff format --check exporter tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint ## Lint, then run the test suite (in parallel: one worker per core)
	$(PY) -m pytest -n auto

demo: $(STAMP) ## Start the bundled simulator, export configs/demo.yaml, print a summary
	$(PY) -m exporter.demo

bench: $(STAMP) ## Run the benchmarks (installs the bench extras)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run.py
	$(PY) bench/sharded.py
