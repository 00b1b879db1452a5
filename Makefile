# The one task runner. `make demo` and `make test` work on a fresh machine: they create .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv browser demo test test-fast e2e lint bench plan clean

venv: $(STAMP)

# pip installs only the pinned, hash-checked uv; uv installs the rest (same hashes, a tenth of pip's time), compiled
# to bytecode once (about a minute): where PYTHONDONTWRITEBYTECODE is set, every test worker, demo and job subprocess
# would otherwise compile what it imports from source (measured: the suite 412 s -> 319 s on 2 cores).
$(STAMP): requirements/bootstrap.txt requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --no-deps --compile-bytecode \
		-r requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The end-to-end test opens the demo report in a real headless browser (Debian's chromium).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the report rendering test"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(STAMP)
	$(BIN)/autoretrain demo --out demo-output

# ruff, mypy strict, and the house: import-linter's contracts in pyproject.toml (a layer imports only downward).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# The whole suite, the end-to-end demo scenario (tests/e2e) included: its tests share one demo run and live in one
# module, which `--dist loadfile` keeps on one xdist worker while the other worker takes the rest.
test: lint browser
	$(BIN)/pytest -n 2 --dist loadfile

e2e: $(STAMP) browser
	$(BIN)/pytest -m e2e tests/e2e

test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "not integration and not e2e"

bench: $(STAMP)
	$(BIN)/python -m bench

plan: $(STAMP)
	$(BIN)/autoretrain plan

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .hypothesis demo-output bench/results
