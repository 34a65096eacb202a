#!/usr/bin/env bash
# Ensemble variants the paper offers, each measured on the same first items as the main run
# (docs/eval), one results directory per variant under docs/eval-variants: dropping Gemma (a base
# model that echoes the prompt), drafter-heavy weights (2,1,1 and 4,1,1), geometric sharpening,
# SmolLM2 drafting instead of Qwen (all SAFE with base UniTE), and the drafter weighted 2,1,1
# with GaC, the best ensemble of the main run. scripts/compare_variants.py compares them with the
# main run, whose safe-unite row is the reference: 3 models, Qwen drafting, equal weights,
# heuristic sharpening.
# Rerunning resumes each variant; VARIANT_ITEMS and EVAL_ARGS (e.g. "--threads 1") override.
set -euo pipefail
cd "$(dirname "$0")/.."
items="${VARIANT_ITEMS:-gsm8k:20,arc-challenge:20}"
out=docs/eval-variants
trio=qwen2.5-coder-0.5b,gemma3-270m,smollm2-135m  # named, so the tiny preset's options do not apply
run() {  # run NAME METHOD [eval options...]
    local name="$1" method="$2"; shift 2
    .venv/bin/safe-local eval --task "$items" --methods "$method" --stop-loops --out "$out/$name" ${EVAL_ARGS:-} "$@"
}
run two-models-qwen-smollm safe-unite --models qwen2.5-coder-0.5b,smollm2-135m
run weights-2-1-1 safe-unite --models "$trio" --weights 2,1,1
run weights-4-1-1 safe-unite --models "$trio" --weights 4,1,1
run geometric-sharpening safe-unite --models "$trio" --sharpening geometric
run smollm-drafts safe-unite --models smollm2-135m,qwen2.5-coder-0.5b,gemma3-270m
run gac-weights-2-1-1 gac --models "$trio" --weights 2,1,1
