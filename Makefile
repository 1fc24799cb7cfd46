# castmeter — `make run` starts the dashboard (demo fleet when nothing is configured),
# `make check` is the developer loop (lint, types, the fast tests), `make test` runs lint, type
# checks and the whole test suite with coverage.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
# What the linters and type checker look at (only the paths that exist).
CODE_DIRS := castmeter pages ui analytics collectors core store simulator harness tests bench scripts
CODE := $(wildcard app.py setup.py) $(foreach d,$(CODE_DIRS),$(if $(wildcard $(d)/*.py $(d)/*/*.py),$(d)))
PYTEST_ARGS ?=
# The fast set: no real component (PostgreSQL, Prometheus, livekit-server, Alertmanager, nginx,
# Chromium) and nothing slower than about half a second. Tests asking for a real-component fixture
# are marked by tests/conftest.py; the others carry their marker (pyproject.toml lists them).
FAST_TESTS := not slow and not postgres and not prometheus and not e2e and not browser
# Coverage of the product packages, reported by `make test` only (files at 100 % are not listed).
# It costs CPU in the test process (the fast set: 40 s → 83 s of CPU; tests that wait on servers
# and subprocesses pay much less); `make test COVERAGE_ARGS=` runs without it.
COVERAGE_ARGS ?= --cov=analytics --cov=collectors --cov=store --cov=ui --cov=core --cov=castmeter \
	--cov=simulator --cov-report=term:skip-covered

.PHONY: help venv deps livekit-server run check test lint typecheck pytest pytest-fast bench clean prices-audit

help:
	@echo "make run        start castmeter (demo fleet unless castmeter.toml / LIVEKIT_URL / PROMETHEUS_URL)"
	@echo "make check      ruff + mypy + the fast tests (no real components, nothing slow): under a minute"
	@echo "make test       ruff + mypy + every test with coverage (installs system packages and the venv first)"
	@echo "make lint | typecheck | pytest | pytest-fast | bench | deps | venv | livekit-server | clean"

# The venv is rebuilt only when a requirements file changes (stamp file).
venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

deps:
	@bash scripts/install-deps.sh

# The real SFU for the e2e tests, built once into ~/.cache/castmeter (needs Go; skipped without it,
# and the e2e tests then skip locally / fail in CI).
livekit-server:
	@if command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || [ -n "$${LIVEKIT_SERVER_BIN:-}" ]; then \
		bash scripts/build-livekit-server.sh; \
	else echo "livekit-server: no Go toolchain; e2e tests against the real server will skip"; fi

run: venv
	@bash scripts/run.sh

lint: venv
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: venv
	$(BIN)/mypy $(CODE)

pytest: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

pytest-fast: venv
	$(BIN)/python -m pytest -q -m "$(FAST_TESTS)" $(PYTEST_ARGS)

# The developer loop: 46 s on the 2-vCPU dev machine with a CI run beside it (load 1.9; ruff 2 s,
# mypy 1 s on a warm cache, 459 tests in 42 s); bench/README.md, "make check". mypy's first run
# (no .mypy_cache yet) alone takes about a minute.
check: lint typecheck pytest-fast

# All three run even when one fails, so CI always shows the pytest summary; any failure fails.
# The price catalogue audit is printed for the reviewer and never fails the build.
test: deps venv livekit-server
	@status=0; \
	echo "== prices audit (a report: stale, unverified, single-source and disputed rates)"; \
	$(BIN)/python -m analytics prices audit --older-than 180d || echo "prices audit could not run"; \
	echo "== ruff"; $(BIN)/ruff check $(CODE) || status=1; \
	$(BIN)/ruff format --check $(CODE) || status=1; \
	echo "== mypy"; $(BIN)/mypy $(CODE) || status=1; \
	echo "== pytest"; $(BIN)/python -m pytest $(COVERAGE_ARGS) $(PYTEST_ARGS) || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; fi; \
	exit $$status

prices-audit: venv
	$(BIN)/python -m analytics prices audit --older-than 180d

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache bench/out tests/artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +
