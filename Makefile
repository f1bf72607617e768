# drainlab: `make chaos` runs the main job, `make test` the tests. Both set up .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BACKEND ?= auto
SCENARIO ?=
OUT ?= reports
ARGS ?=

.PHONY: help venv chaos test test-fast lint report clean bench cluster-local cluster-local-down

help:
	@echo "make chaos        run the default scenario on the best available backend (BACKEND=auto|embedded|kind|kube)"
	@echo "make test         run the test suite (sets up .venv, chromium and the local cluster on first use)"
	@echo "make lint         ruff + mypy"
	@echo "make report RUN=reports/<run>   regenerate a run's report"
	@echo "make bench        benchmarks (print figures and ratios)"
	@echo "make clean        remove run output"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

chaos: $(STAMP)
	$(VENV)/bin/harness run --backend $(BACKEND) $(if $(SCENARIO),--scenario $(SCENARIO)) --out $(OUT) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not cluster and not browser" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check harness tests bench sample-app
	$(VENV)/bin/ruff format --check harness tests bench sample-app
	$(VENV)/bin/mypy harness sample-app/app.py

report: $(STAMP)
	@test -n "$(RUN)" || { echo "usage: make report RUN=reports/<run folder>"; exit 2; }
	$(VENV)/bin/harness report $(RUN)

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

clean:
	find $(OUT) -mindepth 1 -maxdepth 1 ! -name .gitignore ! -name README.md -exec rm -rf {} +

# The local real Kubernetes (v1.20 built from Debian's packages; needs root). See cluster-local/README.md.
cluster-local:
	@bash cluster-local/up.sh

cluster-local-down:
	@bash cluster-local/down.sh
