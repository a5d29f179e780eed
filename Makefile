# articlebot: `make run` serves the web chat, `make test` runs every check.
# Both create .venv/ at the repo root and install what they need from the package registries.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A CPU build of torch: here `pip install torch==2.13.0` takes a local CPU wheel. Elsewhere,
# point pip at PyTorch's CPU wheel index, e.g.
#   make run TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
HOST ?= 127.0.0.1
# The public datasets (NorQuAD, XQuAD), outside the repo; the tests read them from here too
# (ARTICLEBOT_DATASETS).
DATASETS ?= $(abspath ../shared/data)
PORT ?= 7860

.PHONY: run test test-fast install install-dev browser lint typecheck pytest pytest-fast bench data clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH)"
	touch $@

# `make run`: the default install plus the `st` embedders, the LLM clients and PDF articles.
$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e ".[st,llm,pdf]"
	touch $@

# `make test`: every extra, since the tests cover every path.
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[st,train,eval,llm,bench,pdf,dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/articlebot index
	$(BIN)/articlebot serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's chromium and fail without it; as root (CI) it is installed
# when missing. Elsewhere: `apt-get install chromium`, or `pytest -m "not browser"`.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# ruff; the architecture's import contracts; every import declared, nothing unused declared
lint: install-dev
	$(BIN)/ruff check core bot index tests app.py scripts
	$(BIN)/ruff format --check core bot index tests app.py scripts
	$(BIN)/lint-imports
	$(BIN)/deptry .

typecheck: install-dev
	$(BIN)/mypy

# the slowest tests are listed at the end: `make test` has a 30-minute budget
pytest: install-dev browser
	$(BIN)/pytest --durations=30

# everything but what loads the real model, a server, a subprocess or a browser
pytest-fast: install-dev
	$(BIN)/pytest -m "not integration and not browser"

test: lint typecheck pytest

test-fast: lint typecheck pytest-fast

bench: install-dev
	$(BIN)/articlebot bench

# Download NorQuAD and XQuAD into $(DATASETS) (needs the internet; never run by the tests).
data:
	$(PYTHON) scripts/get_datasets.py --out "$(DATASETS)"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
