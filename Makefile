# Two commands do everything on a machine with only Python: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install migrate demo clean e2e help

help:
	@echo "make run    - install, migrate, load demo data, start web + websockets + worker + beat on http://127.0.0.1:8000"
	@echo "make test   - install and run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make lint   - ruff + mypy (django-stubs) + makemigrations --check + pip-audit of constraints.txt"
	@echo "make bench  - benchmarks in tests/benchmarks/ (needs DATABASE_URL=postgres://...)"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The settings leave DEBUG off unless it is set (a deployment that forgets it gets the strict
# defaults); these developer targets turn it on. An explicit DEBUG in the environment wins. The
# test suite sets it itself (tests/settings.py), so `pytest` alone works too.
migrate demo run lint: export DEBUG ?= true

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

run: demo
	$(BIN)/python manage.py run_stack

test: install
	$(BIN)/python -m tests.describe_environment
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check apps config tests
	$(BIN)/ruff format --check apps config tests
	$(BIN)/mypy apps config
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python .ci/pip_audit.py constraints.txt

bench: install
	$(BIN)/python -m pytest tests/benchmarks -s -p no:randomly $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .var
