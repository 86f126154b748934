# Two commands for a fresh machine: `make up` runs the local stack, `make test` runs the suite.
# Both bootstrap .venv (Python 3.11) and the npm Azurite package themselves.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: up test lint bootstrap clean bench

bootstrap: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# DEVHOST_PROCESSES=2: two devhost workers share the task hub and port 7071 (uses both cores; devhost/README.md).
DEVHOST_PROCESSES ?= 1
up: bootstrap
	$(PY) -m stack up --processes $(DEVHOST_PROCESSES)

# pytest exits 5 when it collects nothing; make fails on any non-zero exit, so an empty run fails.
test: bootstrap lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check .

# The create path end to end, the durable engine and the cleanup timer on this machine (own Azurite on free
# ports); one table, figures in bench/results.json; see bench/README.md. BENCH_ARGS=--small for a quick try.
BENCH_ARGS ?=
bench: bootstrap
	$(PY) -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache
