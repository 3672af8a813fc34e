# Placewise Warehouse — every entry point a user needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o \( -name '*.sql' -o -name '*.yml' \) -print 2>/dev/null)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export DO_NOT_TRACK := 1
# Cosmos reads the OpenLineage namespace on import and warns when it is not configured.
export AIRFLOW__OPENLINEAGE__NAMESPACE ?= placewise-warehouse
# Airflow writes config and logs under AIRFLOW_HOME on import; keep them inside the checkout.
export AIRFLOW_HOME ?= $(CURDIR)/.demo/airflow

.DEFAULT_GOAL := help
.PHONY: help venv lock demo test test-distributed lint format bench bench-scale bench-dag bench-peer airflow docs up down clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Cosmos renders the dbt DAG from this manifest, so parsing a DAG never runs dbt.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/python -m placewise.airflow.dbt

venv: $(STAMP) $(MANIFEST) ## Create/update .venv from the pinned requirements (and the dbt manifest)

# requirements.txt is the full lock of requirements.in, compiled by pip-tools in a throwaway venv.
# Current pins are kept where they still fit; UPGRADE=1 re-resolves everything to the newest.
PIP_TOOLS := pip==26.3 pip-tools==7.6.2
define LOCK_HEADER
# Full lock of requirements.in for Python 3.11: every package an install needs, pinned.
# Compiled by pip-compile (pip-tools 7.6.2, in a throwaway venv); do not edit by hand: change
# requirements.in, then run `make lock` (keeps today's pins where they still fit;
# `make lock UPGRADE=1` moves everything to the newest versions that fit).
# The project itself is not in the lock: it installs with `pip install --no-deps -e .`.
endef
export LOCK_HEADER
lock: ## Recompile requirements.txt (the full lock) from requirements.in; UPGRADE=1 to upgrade all
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install --quiet $(PIP_TOOLS); \
	cp requirements.txt "$$tmp/lock.txt"; \
	"$$tmp/venv/bin/pip-compile" --quiet --no-header --strip-extras --no-emit-index-url \
	    --no-emit-find-links $(if $(UPGRADE),--upgrade) --output-file "$$tmp/lock.txt" requirements.in; \
	{ echo "$$LOCK_HEADER"; echo; cat "$$tmp/lock.txt"; } > requirements.txt
	@echo "requirements.txt: $$(grep -c '==' requirements.txt) pinned packages"

demo: $(STAMP) $(MANIFEST) ## Run the nightly sync + a 30-day backfill on the embedded stack and print a summary
	$(BIN)/python -m placewise.demo

test: $(STAMP) $(MANIFEST) ## Run the whole suite (embedded PostgreSQL unless WAREHOUSE_URL is set)
	$(BIN)/python -m pytest

test-distributed: $(STAMP) $(MANIFEST) ## CeleryExecutor scale-out test: two workers, Redis on 127.0.0.1:6379
	$(BIN)/python -m pytest -m distributed tests/distributed

lint: $(STAMP) ## ruff + sqlfluff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/macros dbt_project/tests dbt_project/analyses

format: $(STAMP) ## Apply ruff formatting and fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Benchmarks (ratios against a baseline measured in the same run)
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/pacer_bench.py

bench-scale: $(STAMP) ## Nightly cost with 365 vs 15 days of history (ARGS="--clubs 3 --days 60" for a quick run)
	$(BIN)/python bench/scale_bench.py $(ARGS)

bench-dag: $(STAMP) $(MANIFEST) ## Wall time of a real scheduler run per dbt execution mode (local vs watcher)
	$(BIN)/python bench/dag_run_bench.py

# dlt is a benchmark-only dependency: it gets its own virtualenv (the lock + requirements-bench.txt)
# so that the runtime .venv never carries it.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): requirements.txt requirements-bench.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements.txt -r requirements-bench.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(BENCH_VENV)/bin/python -m pip check
	@touch $(BENCH_STAMP)

bench-peer: $(BENCH_STAMP) ## Load and end-to-end sync against dlt (own venv .venv-bench; ARGS="--clubs 600")
	RUNTIME__DLTHUB_TELEMETRY=false $(BENCH_VENV)/bin/python bench/peer_bench.py $(ARGS)

airflow: $(STAMP) $(MANIFEST) ## Airflow standalone on the embedded stack (Ctrl-C stops everything it started)
	$(BIN)/python -m placewise.local.airflow_standalone

docs: $(STAMP) ## dbt docs over the demo's warehouse on http://localhost:8081 (Ctrl-C stops it)
	$(BIN)/python -m placewise.local.dbt_docs

up: ## Build the image and start Airflow + Celery + both databases (docker compose)
	@test -f .env || python3 docker/generate_env.py
	docker compose up -d --build

down: ## Stop the docker compose deployment (volumes kept; `docker compose down -v` drops them)
	docker compose down

clean: ## Remove the demo state (.demo/) and build leftovers
	rm -rf .demo dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
