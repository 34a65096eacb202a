"""Repetition penalties and min-p in the engine, on the real trio.

With every penalty off the replies are those recorded before penalties existed, byte for byte.
With penalties on, every model's logits are penalized from its own token ids: a SAFE event's
per-model probabilities are recomputed here from fresh model calls penalized with each model's
own prompt and tokenization of the text, and they match; DRY ends the dragon loop of issue 17.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from safe_local.backend import LlamaModel
from safe_local.engine import Engine, GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.events import EnsembleEvent
from safe_local.loop_guard import is_looping
from safe_local.offline_models import packaged_path
from tests.real_models import OPTIONS
from tests.runs.test_event_probabilities import QUESTION, TOLERANCE, _fresh_prob

PROMPTS = {"colors": [{"role": "user", "content": "Name three colors."}],
           "dragon": [{"role": "user", "content": "Write a very long story about a dragon who learns to bake bread."}]}
CONFIGS = {"single": dict(method="single"), "safe": dict(method="safe"), "safe-gac": dict(method="safe", base="gac"),
           "unite": dict(method="unite"), "gac": dict(method="gac"),
           "single-sampled": dict(method="single", temperature=0.8, top_p=0.95, seed=7)}
# Replies of 48 tokens from emptied caches, recorded at commit 771094d (before penalties and
# min-p existed) with this repository's llama.cpp build, contexts of 2048 tokens. Sampled SAFE
# is left out: where auto chunks end decides which positions draw random numbers, and 2acf2c7
# moved those ends (greedy replies stayed the same).
BEFORE = json.loads((Path(__file__).parent / "replies_before_penalties.json").read_text())
DRAGON = PROMPTS["dragon"]


def _from_empty_caches(engine, messages, config):
    for m in engine.models:
        m.reset()
    return engine.generate(messages, config)


@pytest.fixture(scope="module")
def trio_as_recorded(qwen, gemma) -> Engine:
    """The trio as it was when BEFORE was recorded: SmolLM2 from its package's Q4_1 file, not
    the Q8_0 it is loaded as since (safe_local.backend.requantize)."""
    with LlamaModel(packaged_path("smollm2-135m"), name="smollm2-135m", options=OPTIONS) as smol:
        yield Engine([qwen, gemma, smol])


@pytest.mark.parametrize("prompt", PROMPTS)
def test_with_penalties_off_every_method_gives_the_replies_of_before(trio_as_recorded, prompt):
    for name, options in CONFIGS.items():
        reply = _from_empty_caches(trio_as_recorded, PROMPTS[prompt], GenerationConfig(max_tokens=48, **options))
        assert reply.text == BEFORE[f"{prompt}/{name}"], name


def test_dry_ends_the_dragon_loop(trio):
    # Greedy, the drafter alone loops ("... ask them to help him bake bread.") within 384 tokens.
    plain = GenerationConfig(method="single", max_tokens=384, stop_loops=True)
    assert _from_empty_caches(trio, DRAGON, plain).stop_reason == "loop"
    penalized = _from_empty_caches(trio, DRAGON, replace(plain, dry_multiplier=0.8))
    assert penalized.stop_reason != "loop" and not is_looping(penalized.text)


PENALTIES = dict(repeat_penalty=1.3, repeat_last_n=-1, presence_penalty=0.4, frequency_penalty=0.2,
                 dry_multiplier=0.8, dry_allowed_length=2)


def test_each_model_is_penalized_from_its_own_tokens(trio):
    config = GenerationConfig(method="safe", max_tokens=96, chunk=5, **PENALTIES)
    for m in trio.models:
        m.reset()
    events = list(trio.stream(QUESTION, config))
    ensembles = [e for e in events if isinstance(e, EnsembleEvent)]
    assert ensembles
    reply = events[-1].result.text.encode()
    checked = changed = 0
    for event in ensembles[:6]:
        before = reply[: event.offset]
        for model, view in zip(trio.models, event.models):
            ids = model.vocab.tokenize(before) if before else []
            if before and sum(len(model.vocab.pieces[i]) for i in ids) != len(before):
                continue  # no token boundary of this model here (see test_event_probabilities)
            token = view.token.encode()
            prob, _, _ = _fresh_prob(model, QUESTION, before, token, config.penalizer(model.vocab))
            assert abs(prob - view.prob) <= TOLERANCE, (model.name, event.index, prob, view.prob)
            plain, _, _ = _fresh_prob(model, QUESTION, before, token)
            changed += abs(plain - view.prob) > TOLERANCE
            checked += 1
    assert checked >= 6 * len(trio.models) - 4
    assert changed, "the penalties changed no probability: the test would not see them missing"


def test_min_p_and_penalties_sample_reproducibly(trio):
    tuned = GenerationConfig(method="safe", max_tokens=24, temperature=0.8, seed=3, min_p=0.05, dry_multiplier=0.8,
                             repeat_penalty=1.1)
    first, again = (_from_empty_caches(trio, DRAGON, tuned).text for _ in range(2))
    assert first == again


@pytest.mark.parametrize("options, message", [
    (dict(min_p=1.5), "min_p must be in \\[0, 1\\]"),
    (dict(repeat_penalty=0), "repeat_penalty must be > 0"),
    (dict(presence_penalty=3), "presence_penalty must be in \\[-2, 2\\]"),
    (dict(frequency_penalty=float("nan")), "frequency_penalty must be in"),
    (dict(dry_multiplier=-1), "dry_multiplier must be >= 0"),
    (dict(dry_base=0.5), "dry_base must be >= 1"),
    (dict(dry_allowed_length=0), "dry_allowed_length must be at least 1"),
    (dict(repeat_last_n=-2), "repeat_last_n must be -1 \\(all\\), 0 \\(off\\)"),
    (dict(dry_penalty_last_n=1.5), "dry_penalty_last_n must be a whole number"),
    (dict(repeat_penalty="high"), "repeat_penalty must be a number"),
    (dict(dry_sequence_breakers=["\n", ""]), "dry_sequence_breakers must be a list of non-empty strings"),
])
def test_bad_penalty_options_are_one_line_errors(trio, options, message):
    with pytest.raises(SafeLocalError, match=message):
        trio.generate(DRAGON, GenerationConfig(**options))


def test_defaults_penalize_nothing_and_one_breaker_string_is_one_breaker(qwen):
    assert GenerationConfig().penalizer(qwen.vocab) is None
    assert GenerationConfig(repeat_penalty=1.5, repeat_last_n=0).penalizer(qwen.vocab) is None
    assert GenerationConfig(dry_sequence_breakers="\n\n").dry_sequence_breakers == ("\n\n",)
    assert GenerationConfig(dry_sequence_breakers=["\n", ":"]) == GenerationConfig(dry_sequence_breakers=("\n", ":"))
