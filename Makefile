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
	@echo "make lint         ruff, mypy, shellcheck (make test runs it first)"
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

test: lint
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not cluster and not browser" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy harness sample-app/app.py
	$(VENV)/bin/shellcheck -x -P SCRIPTDIR cluster-local/*.sh .ci/run

report: $(STAMP)
	@test -n "$(RUN)" || { echo "usage: make report RUN=reports/<run folder>"; exit 2; }
	$(VENV)/bin/harness report $(RUN)

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

# Only run folders (they hold run.json) are removed, whatever OUT names.
clean:
	@test -n "$(OUT)" || { echo "make clean: OUT is empty"; exit 2; }
	@test ! -d "$(OUT)" || find "$(OUT)" -mindepth 1 -maxdepth 1 -type d -exec test -f {}/run.json \; -print -exec rm -rf {} +

# The local real Kubernetes (v1.20 built from Debian's packages; needs root). See cluster-local/README.md.
# PROXY_MIN_SYNC_PERIOD=3s restarts its kube-proxy with that --iptables-min-sync-period (default: its own).
cluster-local:
	@$(if $(PROXY_MIN_SYNC_PERIOD),DRAINLAB_PROXY_MIN_SYNC_PERIOD=$(PROXY_MIN_SYNC_PERIOD)) bash cluster-local/up.sh

cluster-local-down:
	@bash cluster-local/down.sh
