"""CoSD's verifier-confidence condition on the real trio: off, it changes nothing; at a bar no
verifier reaches, every open position keeps its drafted token, so SAFE gives the drafter's own
reply (checked against the drafter run alone, an independent path); in between it ensembles a
subset of the positions it ensembled without the condition."""

from __future__ import annotations

from dataclasses import replace

from safe_local.generation_config import GenerationConfig

QUESTION = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then she sold half "
             "as many clips in May. How many clips did Natalia sell altogether in April and May?"}]
# The authors' UniTE + SAFE with equal weights: no gate and no drafter-decided positions, so the
# verifiers' votes count at many positions (tiny's gate leaves few on this question).
EQUAL = GenerationConfig(method="safe", base="unite", max_tokens=64)


def _fresh(engine, config):
    for m in engine.models:
        m.reset()  # the same batch shapes for every run: replies compared token for token
    return engine.generate(QUESTION, config)


def test_the_condition_keeps_drafted_tokens_where_no_verifier_is_sure(trio):
    plain = _fresh(trio, EQUAL)
    assert plain.stats.ensembled > 0 and plain.stats.verifiers_unsure == 0  # the prompt has open positions
    assert _fresh(trio, replace(EQUAL, verifier_confidence=0.0)).text == plain.text

    never = _fresh(trio, replace(EQUAL, verifier_confidence=1.0))  # no verifier is ever that sure
    alone = _fresh(trio, replace(EQUAL, method="single"))
    assert never.text == alone.text and never.stats.ensembled == 0 and never.stats.verifiers_unsure > 0

    beats = _fresh(trio, replace(EQUAL, verifier_beats_drafter=True, verifier_confidence=0.5))
    assert beats.stats.ensembled + beats.stats.verifiers_unsure >= 1
    assert beats.stats.ensembled <= plain.stats.ensembled + beats.stats.verifiers_unsure


def test_sampled_keeps_the_drafters_draw_where_no_verifier_is_sure(trio):
    sampled = replace(EQUAL, temperature=0.8, top_p=0.95, min_p=0.05, seed=7, verifier_confidence=1.0)
    reply = _fresh(trio, sampled)
    assert reply.stats.ensembled == 0 and reply.stats.verifiers_unsure > 0 and reply.text.strip()
