# gifting-jobs: `make test` and `make demo` bootstrap everything from the repo's own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python >= 3.12 (Django 6): a python3.12 on PATH, else pyenv's 3.12 (.python-version pins it).
PYTHON ?= $(shell command -v python3.12 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.12*/bin/python 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test slow lint browser screenshots hostproject faults demo bench relevance check clean

help:
	@echo "make test   - bootstrap the venv and run the suite (real Postgres+pgvector, Redis, workers; slow tests apart)"
	@echo "make slow   - the slow end-to-end tests that start processes (CI runs them too)"
	@echo "make browser - the admin in headless Chromium (needs Debian's chromium and chromium-driver)"
	@echo "make faults - run the fault suite (outages and crashes against real processes) and print its table"
	@echo "make demo   - bootstrap and run the end-to-end demo on the embedded defaults"
	@echo "make hostproject - the README's 'Add gifting_jobs to your Django project' on a fresh startproject, from the wheel"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make lint   - ruff (lint + format), mypy --strict on gifting_jobs, import-linter layer contracts"
	@echo "make relevance - nDCG@10 of the recommendations on the labelled set and both gift-set splits"

$(STAMP): requirements-dev.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.12 not found: install it (e.g. 'pyenv install 3.12') or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "$(PYTHON) is older than 3.12" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# The host-project test (a wheel into a fresh virtualenv) and the browser tests run in their own
# targets, which .ci/run calls too.
HOSTPROJECT_TEST := tests/e2e/test_host_project.py

# The README's suite (under 5 minutes on 2 cores): everything but the slow, browser, host-project and fault tests.
test: venv
	$(BIN)/python -m pytest -m "not slow and not browser" --ignore=$(HOSTPROJECT_TEST)

# The slow-marked end-to-end tests that start processes (~2 minutes); CI runs them after `make test`.
slow: venv
	$(BIN)/python -m pytest -m "slow and not browser" --ignore=$(HOSTPROJECT_TEST)

LINTED := gifting_jobs core tests bench manage.py

lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy gifting_jobs
	$(BIN)/lint-imports

browser: venv
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { echo "install Chromium first: apt-get install -y chromium chromium-driver" >&2; exit 1; }
	SE_OFFLINE=true $(BIN)/python -m pytest -m browser

# The browser tests, writing the README's page screenshots to docs/screenshots/.
screenshots: venv
	SAVE_SCREENSHOTS=1 SE_OFFLINE=true $(BIN)/python -m pytest -m browser

# The wheel in a fresh virtualenv, `startproject`, the README's lines, a worker, the admin (~1 min).
hostproject: venv
	$(BIN)/python -m pytest $(HOSTPROJECT_TEST)

# Fault scenarios on the shipped defaults; they are deselected from `make test` unless GIFTING_FAULTS is set.
faults: venv
	GIFTING_FAULTS=1 $(BIN)/python -m pytest tests/faults -m faults --ds=tests.faults.settings -p no:cacheprovider

# The demo is a development run: DEBUG on (DJANGO_DEBUG=1) lets it sign with the dev webhook secret.
demo: venv
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py gifting_demo

bench: venv
	$(BIN)/python bench/enqueue_drain.py
	$(BIN)/python bench/pickup.py

relevance: venv
	$(BIN)/python bench/relevance.py

check: venv
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) .pytest_cache
