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

up: bootstrap
	$(PY) -m stack up

# pytest exits 5 when it collects nothing; make fails on any non-zero exit, so an empty run fails.
test: bootstrap lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check .

# Durable Functions throughput of devhost on this machine (own Azurite on free ports); see bench/README.md.
bench: bootstrap
	$(PY) -m bench.durable_bench
	$(PY) -m bench.cleanup_bench

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache
