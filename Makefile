# Two entry points: `make demo` (main job) and `make test` (whole suite).
# Both create or reuse .venv with plain python3 -m venv; nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real npm smee-client that tests/e2e/test_smee_interop.py runs.
INTEROP := tests/interop

.PHONY: demo test lint bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Without npm this does nothing: the interop tests then skip (and fail under CI=true).
$(INTEROP)/node_modules: $(INTEROP)/package-lock.json
	if command -v npm >/dev/null; then cd $(INTEROP) && npm ci --no-audit --no-fund; fi

demo: $(STAMP)
	$(BIN)/python demo/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench demo
	$(BIN)/ruff format --check src tests bench demo
	$(BIN)/mypy

test: lint $(INTEROP)/node_modules
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py

# docs/configuration.md is generated from the CLI; tests/test_config_reference.py
# fails when the committed copy is out of date.
docs: $(STAMP)
	$(BIN)/python -m gosmee_trio.cli.reference > docs/configuration.md

clean:
	rm -rf $(VENV) $(INTEROP)/node_modules .pytest_cache .mypy_cache .ruff_cache .coverage
