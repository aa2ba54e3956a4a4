# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when it is
# missing (or older than pyproject.toml) with the Python 3.11+ found on PATH.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet

.PHONY: run demo test lint format bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("supporterflow needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# The service alone (what `make run` needs): fewer packages, a faster first start.
$(VENV)/.run-ready: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	@touch $@

# Everything for tests, lint and benchmarks.
$(VENV)/.dev-ready: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev,aws]'
	@touch $(VENV)/.run-ready $@

run: $(VENV)/.run-ready
	@echo "supporterflow: starting on the embedded default (SQLite under ./var, no credentials)."
	@echo "guided demo (a scripted story on its own data; runs beside this one): make demo"
	$(BIN)/supporterflow serve

# The guided demo: a scripted story against a fresh service of its own (temporary data, port 8081).
demo: $(VENV)/.run-ready
	$(BIN)/supporterflow demo --port 8081

lint: $(VENV)/.dev-ready
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(VENV)/.dev-ready
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# pytest exits 5 when it collects no test: that is a failure here too (make stops on any non-zero).
# One worker per core (pytest-xdist); ``python -m pytest PATH`` alone still runs in one process.
test: lint
	$(BIN)/python -m pytest -n auto

bench: $(VENV)/.dev-ready
	$(BIN)/python -m benchmarks.queue
	$(BIN)/python -m benchmarks.http_baseline
	$(BIN)/python -m benchmarks.supporter_validation
	$(BIN)/python -m benchmarks.supporter_ingest
	$(BIN)/python -m benchmarks.supporter_drain
	$(BIN)/python -m benchmarks.apple_ingest
	$(BIN)/python -m benchmarks.apple_drain
	$(BIN)/python -m benchmarks.google_ingest
	$(BIN)/python -m benchmarks.google_drain
	$(BIN)/python -m benchmarks.user_subscriptions
	$(BIN)/python -m benchmarks.link
	$(BIN)/python -m benchmarks.export
	$(BIN)/python -m benchmarks.aws_requests
	$(BIN)/python -m benchmarks.dashboard

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
