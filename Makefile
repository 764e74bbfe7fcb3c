# NewRetail — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The test suite runs on PostgreSQL and Redis (the local servers unless told otherwise).
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/newretail)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/0)

.DEFAULT_GOAL := help
.PHONY: help install run web worker migrate seed test test-fast lint format bench bench-data bench-dashboard clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate ## Create .venv and install the pinned dependencies

migrate: install ## Apply database migrations
	$(BIN)/python manage.py migrate --noinput

seed: migrate ## Load the demo merchant (idempotent)
	$(BIN)/python manage.py seed_demo

run: seed ## Install, migrate, load demo data, serve web + Celery worker
	@echo ""
	@echo "  NewRetail is starting on http://$(HOST):$(PORT)/   (Ctrl-C stops web and worker)"
	@echo ""
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A config worker -Q default,imports,reports,recommendations --loglevel=INFO --concurrency=2 & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install ## Run a Celery worker only
	$(BIN)/celery -A config worker -Q default,imports,reports,recommendations --loglevel=INFO

test: install ## Run the whole test suite on PostgreSQL and Redis
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: install ## Ruff lint and format check, Django system checks, missing migrations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Scale benchmarks on PostgreSQL (writes benchmarks/results/)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python benchmarks/run.py

bench-data: install ## Build (or reuse) the 10M-line benchmark merchant's database newretail_bench10m
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python benchmarks/dataset10m.py $(DATA_ARGS)

bench-dashboard: bench-data ## Dashboard, analytics API and rollup refresh benchmarks on that database
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python benchmarks/dashboard_bench.py $(DASHBOARD_ARGS)

clean: ## Remove the venv and local development state (var/)
	rm -rf $(VENV) var
