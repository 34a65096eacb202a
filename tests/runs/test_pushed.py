"""The every-token baselines feed every model but the drafter its canonical tokenization.

UniTE's released code keeps the primary model's ids and re-tokenizes the whole text for the
other model at every step. The reference here is each verifier's own tokenizer run on the text
its cache holds: the cached ids must be exactly that tokenization, of a prefix of the reply.
"""

from __future__ import annotations

import pytest

from safe_local.engine import GenerationConfig

QUESTION = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then she sold half "
             "as many clips in May. How many clips did Natalia sell altogether in April and May?"}]


@pytest.mark.parametrize("method", ["unite", "gac"])
def test_verifiers_hold_the_canonical_tokenization_of_the_reply(trio, method):
    for m in trio.models:
        m.reset()
    result = trio.generate(QUESTION, GenerationConfig(method=method, max_tokens=48, gac_threshold=1.0))
    reply = result.text.encode()
    assert len(reply) > 40
    for model in trio.models[1:]:
        prompt = model.prompt_tokens(QUESTION)
        cached = model.cached_tokens
        assert cached[: len(prompt)] == prompt
        held = b"".join(model.vocab.pieces[i] for i in cached[len(prompt):])
        assert reply.startswith(held) and len(held) > len(reply) - 40, model.name
        assert cached[len(prompt):] == model.vocab.tokenize(held), model.name
