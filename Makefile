# Model-registry governance as code. `make up` and `make test` do all the set-up.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PY := .venv/bin/python
STACK ?= local
PULUMI := scripts/pulumi.sh
export PYTHONPATH := $(CURDIR)
# The local server's database: sqlite (default) or postgres (a private PostgreSQL cluster; docs/postgres.md).
DB ?= sqlite
# The database of the tests' own servers (tests/conftest.py); the environment's MRGOV_TEST_DB wins.
export MRGOV_TEST_DB ?= $(DB)

.PHONY: help venv engine mlflow-up mlflow-down train up down preview migrate test lint clean

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

venv: .venv/.installed ## Create the virtualenv with the pinned dependencies

.venv/.installed: requirements.lock
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	@touch $@

engine: ## Build or find the Pulumi engine (cached outside the clone)
	@scripts/engine.sh >/dev/null

mlflow-up: venv ## Start the local MLflow server on 127.0.0.1 (data in .state/mlflow; DB=postgres for PostgreSQL)
	@$(PY) -m localdev.mlflow_server up --db $(DB)

mlflow-down: ## Stop the local MLflow server (and its PostgreSQL, if any)
	@$(PY) -m localdev.mlflow_server down

train: mlflow-up ## Train the demo models so the local stack's alias pins resolve (idempotent)
	@$(PY) examples/train.py

up: venv engine mlflow-up train ## The main job: pulumi up on the local stack (upgrades a dynamic-provider state first)
	@$(PULUMI) stack select --create $(STACK) >/dev/null
	@$(PY) -m localdev.migrate --stack $(STACK)
	$(PULUMI) up --yes --stack $(STACK)
	@echo "MLflow UI: http://127.0.0.1:5000  user: admin  password: MLFLOW_TRACKING_PASSWORD in .state/secrets.env"

# The server stops even when destroy fails; the recipe then fails with destroy's exit code.
down: venv engine ## pulumi destroy on the local stack, then stop the server
	@rc=0; if $(PY) -m localdev.mlflow_server status >/dev/null; then \
	  $(PULUMI) destroy --yes --stack $(STACK) || rc=$$?; fi; \
	$(PY) -m localdev.mlflow_server down; exit $$rc

preview: venv engine ## pulumi preview --diff on STACK (default local)
	$(PULUMI) preview --diff --stack $(STACK)

migrate: venv engine ## Upgrade STACK's state from the dynamic providers to the mrgov provider (idempotent; docs/upgrading.md)
	@$(PY) -m localdev.migrate --stack $(STACK)

.PHONY: audit
audit: venv ## Audit STACK's live registry against the seed's Validation Checklist (docs/audit.md); .state/audit-STACK.md/.json
	@$(PY) -m localdev.audit --stack $(STACK) $(ARGS)

.PHONY: preview-all new-env
preview-all: venv engine ## Preview every stack with the policy pack; Markdown summary in .state/preview-all.md
	@$(PY) -m localdev.preview_all $(ARGS)

new-env: venv engine ## New stack from a template: ENV=qa CATALOG=qa_catalog FROM=staging [PRINCIPALS='role=a,b ...'] [ARGS=...]
	@test -n "$(ENV)" && test -n "$(CATALOG)" && test -n "$(FROM)" || { \
	  echo "usage: make new-env ENV=qa CATALOG=qa_catalog FROM=staging [PRINCIPALS='role=a,b ...'] [ARGS='--tracking-uri URL']" >&2; exit 2; }
	@$(PY) -m localdev.new_env "$(ENV)" --catalog "$(CATALOG)" --from "$(FROM)" $(foreach p,$(PRINCIPALS),--principals "$(p)") $(ARGS)

test: venv engine ## Lint, type-check, then unit, integration and e2e tests (DB=postgres: on PostgreSQL)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

.PHONY: bench
BENCH_N ?= 50 200 1000
BENCH_DB ?= sqlite,postgres
bench: venv engine ## Benchmarks, not part of test (BENCH_N="50 200 1000", BENCH_DB=sqlite,postgres); JSON in bench/results/
	$(PY) -m bench.program_eval
	$(PY) -m bench.provider
	$(PY) -m bench.engine --n $(BENCH_N) --db $(BENCH_DB)
	$(PY) -m bench.report

clean: mlflow-down ## Stop the server and delete all local state
	rm -rf .state
