# make run: the console on the embedded demo cluster. make test: everything CI runs.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SOURCES := engine console themes tests benchmarks

.PHONY: run test lint typecheck contracts pytest bench screenshots clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/swarmdeck

test: lint typecheck contracts pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(VENV)/.installed
	$(BIN)/mypy

contracts: $(VENV)/.installed
	$(BIN)/lint-imports

pytest: $(VENV)/.installed
	$(BIN)/pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/scheduler.py
	$(PY) benchmarks/api.py
	$(PY) benchmarks/console.py
	$(PY) benchmarks/mesh.py

screenshots: $(VENV)/.installed
	rm -f screenshots/*.svg
	$(BIN)/swarmdeck screenshots --out screenshots

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
