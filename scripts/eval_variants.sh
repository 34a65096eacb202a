#!/usr/bin/env bash
# Ensemble variants the paper offers, each measured with SAFE (base UniTE) on the same first
# items as the main run (docs/eval), one results directory per variant under docs/eval-variants:
# dropping Gemma (a base model that echoes the prompt), drafter-heavy weights, geometric
# sharpening. scripts/compare_variants.py compares them with the main run.
# The main run's safe-unite row is the reference: 3 models, equal weights, heuristic sharpening.
# Rerunning resumes each variant; VARIANT_ITEMS and EVAL_ARGS (e.g. "--threads 1") override.
set -euo pipefail
cd "$(dirname "$0")/.."
items="${VARIANT_ITEMS:-gsm8k:20,arc-challenge:20}"
out=docs/eval-variants
trio=qwen2.5-coder-0.5b,gemma3-270m,smollm2-135m  # named, so the tiny preset's options do not apply
run() {
    local name="$1"; shift
    .venv/bin/safe-local eval --task "$items" --methods safe-unite --stop-loops --out "$out/$name" ${EVAL_ARGS:-} "$@"
}
run two-models-qwen-smollm --models qwen2.5-coder-0.5b,smollm2-135m
run weights-2-1-1 --models "$trio" --weights 2,1,1
run geometric-sharpening --models "$trio" --sharpening geometric
