# The two commands a new user needs: `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON := 3.11
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The newest Python the unit tests must also pass on: pyenv's 3.13 if there is one (its shim
# answers only for the global version), else whatever `python3.13` uv finds.
VENV_313 := .venv-3.13
PYTHON_313 ?= $(or $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3.13))),3.13)

.PHONY: help venv up migrate test test-unit test-py313 test-integration lint fmt typecheck clean bench
.PHONY: test-rabbitmq4 chaos asyncapi config-reference compose-test cluster-test

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(UV) sync --frozen --all-packages
	@touch $@

venv: $(VENV)/.synced ## Create .venv with the locked versions (done by up and test)

migrate: venv ## Migrate every service schema (Alembic); starts RabbitMQ and Postgres if they do not answer
	$(BIN)/python scripts/preflight.py --start
	$(BIN)/station-registry migrate
	$(BIN)/session-service migrate
	$(BIN)/command-api migrate
	$(BIN)/message-log migrate
	$(BIN)/load-manager migrate
	$(BIN)/roaming migrate

up: migrate ## Start the whole suite: two gateways (9000, 9001) and every service
	@test -n "$$CSMS_ADMIN_API_KEY" -o -s .csms-dev-admin-key || \
		$(BIN)/python -c 'import secrets; print("csms_dev_" + secrets.token_urlsafe(24))' > .csms-dev-admin-key
	@test -n "$$CSMS_ADMIN_PASSWORD" -o -s .csms-dev-admin-password || \
		$(BIN)/python -c 'import secrets; print("dev-" + secrets.token_urlsafe(12))' > .csms-dev-admin-password
	@export CSMS_ADMIN_API_KEY="$${CSMS_ADMIN_API_KEY:-$$(cat .csms-dev-admin-key)}" && \
		export CSMS_ADMIN_PASSWORD="$${CSMS_ADMIN_PASSWORD:-$$(cat .csms-dev-admin-password)}" && \
		$(BIN)/python scripts/preflight.py --banner && \
		exec $(BIN)/honcho -f Procfile start

test: venv ## Run every test (lint, unit, integration against the local RabbitMQ and Postgres)
	scripts/browser.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict shared/src/csms_shared services/*/src
	PROMTOOL="$$(scripts/promtool.sh)" $(BIN)/pytest

test-unit: venv ## Unit tests only
	$(BIN)/pytest shared/tests services

# --no-build: every locked package must have a wheel for 3.13 (nothing compiled from source).
$(VENV_313)/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml $(wildcard services/*/pyproject.toml)
	UV_PYTHON=$(PYTHON_313) UV_PROJECT_ENVIRONMENT=$(VENV_313) $(UV) sync --frozen --no-build --all-packages
	@touch $@

test-py313: $(VENV_313)/.synced ## Unit tests on Python 3.13 too (own venv, the locked versions)
	$(VENV_313)/bin/pytest shared/tests services

test-integration: venv ## Integration tests only
	scripts/browser.sh
	$(BIN)/pytest tests/integration

test-rabbitmq4: venv ## Integration tests against RabbitMQ 4.x (Debian sid chroot, root), deprecated features denied
	scripts/rabbitmq4.sh start
	# test_chaos.py and test_pg_failover.py run on a RabbitMQ node of their own (they stop
	# it), never on this one: here they would only repeat `make test`.
	eval "$$(scripts/rabbitmq4.sh env)" && $(BIN)/pytest tests/integration \
		--deselect tests/integration/test_chaos.py \
		--deselect tests/integration/test_pg_failover.py $(PYTEST_ARGS)

compose-test: venv ## Dockerfile and docker-compose.yml really started with podman (root; base images built locally); COMPOSE_TEST_ARGS=--keep leaves it up
	$(BIN)/python scripts/compose_test.py $(COMPOSE_TEST_ARGS)

chaos: venv ## Faults injected into a busy suite of its own (1,000 CPs); CHAOS_ARGS=--write records it
	$(BIN)/python -m chaos $(CHAOS_ARGS)

.PHONY: failover-test
failover-test: venv ## Postgres primary killed under 300 CPs, standby promoted: sync loses nothing, async does
	$(BIN)/python -m chaos.failover_cli $(FAILOVER_ARGS)

.PHONY: cluster-test
cluster-test: venv ## The suite on a 3-node RabbitMQ cluster of its own, 1,000 CPs, node faults; CLUSTER_ARGS=--write records it
	$(BIN)/python -m chaos.cluster_cli $(CLUSTER_ARGS)

bench: venv ## Benchmarks against a suite of their own; BENCH_PROFILE=full for 19,000 CPs
	$(BIN)/python -m bench --profile $(or $(BENCH_PROFILE),quick) $(BENCH_ARGS)

asyncapi: venv ## Write docs/events.asyncapi.yaml from the event models
	$(BIN)/python scripts/asyncapi.py

config-reference: venv ## Write docs/configuration.md from the settings classes
	$(BIN)/python scripts/config_reference.py

.PHONY: screenshots
screenshots: venv ## Run the console's browser tests and keep their screenshots in docs/console
	scripts/browser.sh
	CSMS_CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest tests/integration/test_console.py tests/integration/test_console_charging.py

lint: venv ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtual environments and caches
	rm -rf $(VENV) $(VENV_313) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache .hypothesis
