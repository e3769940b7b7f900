# gifting-jobs: `make test` and `make demo` bootstrap everything from the repo's own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python >= 3.12 (Django 6): a python3.12 on PATH, else pyenv's 3.12 (.python-version pins it).
PYTHON ?= $(shell command -v python3.12 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.12*/bin/python 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test test-fast faults demo bench check clean

help:
	@echo "make test   - bootstrap the venv and run the whole suite (real Postgres+pgvector, Redis, workers)"
	@echo "make faults - run the fault suite (outages and crashes against real processes) and print its table"
	@echo "make demo   - bootstrap and run the end-to-end demo on the embedded defaults"
	@echo "make bench  - run the benchmarks in bench/"

$(STAMP): requirements-dev.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.12 not found: install it (e.g. 'pyenv install 3.12') or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "$(PYTHON) is older than 3.12" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

test: venv
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

# Fault scenarios on the shipped defaults; they are deselected from `make test` unless GIFTING_FAULTS is set.
faults: venv
	GIFTING_FAULTS=1 $(BIN)/python -m pytest tests/faults -m faults --ds=tests.faults.settings -p no:cacheprovider

demo: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py gifting_demo

bench: venv
	$(BIN)/python bench/enqueue_drain.py

check: venv
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) .pytest_cache
