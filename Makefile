# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed

.PHONY: venv services migrate run test lint typecheck pytest bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP)

services:
	bash scripts/services.sh

migrate: venv services
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py bootstrap_dev
	@echo "API docs: http://127.0.0.1:8000/api/docs/   readiness: http://127.0.0.1:8000/readyz"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --port 8000

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

pytest: venv services
	APP_ENV=ci $(BIN)/pytest

test: venv services lint typecheck pytest

clean:
	rm -rf $(VENV) var/static .mypy_cache .pytest_cache .ruff_cache
