# The template's two commands: `make demo` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEMO_DIR := build/demo
DEMO_PROJECT := $(DEMO_DIR)/shop-analytics
HOST ?= 127.0.0.1
PORT ?= 3000
# The project's Makefile finds uv (installed below) on PATH and uses it.
export PATH := $(BIN):$(PATH)

.PHONY: help demo test lint screenshots bench bench-large clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

demo: $(VENV)/.installed ## Bake the default project into build/demo, run every asset once, open the UI
	@if [ -d $(DEMO_PROJECT) ]; then \
		echo "Using the project already baked in $(DEMO_PROJECT) (make clean to bake it again)"; \
	else \
		$(BIN)/cookiecutter --no-input . --output-dir $(DEMO_DIR); \
	fi
	@$(MAKE) --no-print-directory -C $(DEMO_PROJECT) run \
		|| echo ">>> The run failed where the demo fails on purpose (group failure_demo): see docs/tutorial.md"
	@$(MAKE) --no-print-directory -C $(DEMO_PROJECT) dev HOST=$(HOST) PORT=$(PORT)

# Two workers (pytest-xdist): the tests mostly wait on the projects they run, so two at a time keep
# two cores busy. Each test file runs whole on one worker (--dist loadfile), so its module fixtures
# (a PostgreSQL server, the every-kind reference) are built once; each worker installs its own bakes.
# The longest files go first (tests/conftest.py, LONGEST_FIRST), not the files with most tests.
test: $(VENV)/.installed ## Run every test of the template (bakes, installs and runs real projects)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.installed ## Check the template's own code with ruff
	$(BIN)/ruff check hooks tests

bench: $(VENV)/.installed ## Benchmark the generated project against bare SQLMesh (see benchmarks/README.md)
	$(BIN)/python benchmarks/run.py --models 10 50 100 200 --repeat 3 --concurrency 2 4

bench-large: $(VENV)/.installed ## The same at 200 and 1,000 models, in process only (about 10 minutes)
	$(BIN)/python benchmarks/run.py --models 200 1000 --repeat 1 --marginal 200 1000 \
		--contestants bare default python-api dagster-floor defs-load bare-load

screenshots: $(VENV)/.installed ## Retake the UI screenshots of the generated project's docs (needs /usr/bin/chromium)
	$(BIN)/python docs/screenshots.py

clean: ## Delete build/ (the demo project) and the template's .venv
	rm -rf build $(VENV)
