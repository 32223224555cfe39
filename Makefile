# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed
# The settings refuse to start without APP_ENV: every target says which environment it runs in.
DEV := APP_ENV=$(or $(APP_ENV),dev)
RUN_METRICS := $(or $(PROMETHEUS_MULTIPROC_DIR),$(CURDIR)/var/run-metrics)
CI := APP_ENV=ci

.PHONY: venv services migrate preflight run test lint typecheck pytest clean assets

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP)

# A no-op with APP_ENV=prod: production's Postgres and Redis are the deployment's, never started from here.
services:
	$(DEV) bash scripts/services.sh

# The only step with the schema owner's DSN (scripts/with-owner.sh); the web and worker processes never see it.
migrate: venv services
	$(DEV) bash scripts/with-owner.sh $(BIN)/python manage.py migrate --noinput

# What a deploy pipeline gates on; processes' checks (live workers, one scheduler) wait for them to start.
preflight: venv services
	$(DEV) $(BIN)/python manage.py preflight --skip-processes

# The console's front-end libraries (package.json, pinned) into ballast/ops/static/ops/vendor/ (committed).
assets:
	bash scripts/vendor_assets.sh

run: migrate
	$(DEV) $(BIN)/python manage.py bootstrap_dev
	$(DEV) $(BIN)/python manage.py preflight --skip-processes
	@echo "API docs: http://127.0.0.1:8000/api/docs/   readiness: http://127.0.0.1:8000/readyz"
	@# One directory for the stack's processes: a scrape of /metrics sums the web's and the worker's counters.
	mkdir -p $(RUN_METRICS) && rm -f $(RUN_METRICS)/*.db
	$(DEV) PROMETHEUS_MULTIPROC_DIR=$(RUN_METRICS) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --port 8000

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(CI) $(BIN)/mypy .

pytest: venv services
	$(CI) $(BIN)/pytest

test: venv services lint typecheck pytest

clean:
	rm -rf $(VENV) var/static node_modules .mypy_cache .pytest_cache .ruff_cache .import_linter_cache
