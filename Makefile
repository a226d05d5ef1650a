# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install demo test lint format ui bench browser-deps postgres-deps clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Runs the whole product end to end against the local MTurk: no credentials needed.
demo: $(STAMP)
	$(BIN)/qual-pipeline demo

## Chromium for the browser test (Debian's package; no browser can be downloaded here).
browser-deps:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

## PostgreSQL's server programs (initdb, postgres) for the shared-profile tests: Debian's package.
## No default cluster is created or started: each test session starts its own in a temp folder.
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo "installing Debian's postgresql for the shared-profile tests"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo 'create_main_cluster = false' | \
	    $$SUDO tee /etc/postgresql-common/createcluster.d/qual-pipeline-tests.conf >/dev/null && \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

## 4 workers whatever the cores: most of the long tests wait (Dagster's 30 s daemon ticks, MTurk
## latencies, child processes), and with 2 workers 2 cores were half idle. --maxschedchunk 1 sends
## each worker one more test as it finishes one (pytest-xdist keeps two queued per worker), in the
## order tests/conftest.py sets (tests marked slow first, longest first, the first 8 paired longest
## with shortest). --durations=20: the slowest tests, in every log.
test: $(STAMP) browser-deps postgres-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 4 --maxschedchunk 1 --durations=20

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The Dagster UI on dagster_home/ with a local MTurk behind it.
ui: $(STAMP)
	$(BIN)/qual-pipeline ui

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	mkdir -p bench/results
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data bench/results test-artifacts
	find dagster_home -mindepth 1 ! -name dagster.yaml ! -name .gitkeep -exec rm -rf {} +
