"""An ensemble event's per-model probabilities, recomputed from fresh model calls.

The engine reports, at each ensembled position, the probability every model gave its aligned
token. Here an independent path recomputes them: each model is reset, fed its own prompt and
its own tokenization of the reply text before the position in one fresh decode, and its
softmax over the whole vocabulary is read at the aligned token. The engine got the same
distributions from lazily advanced caches and batched verification, so they may differ by the
batch-shape effect llama.cpp has (SAFE_SPEC: up to L1 0.3 for Gemma), never by more.
"""

from __future__ import annotations

import numpy as np

from safe_local.engine import GenerationConfig
from safe_local.events import EnsembleEvent

QUESTION = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then she sold half "
             "as many clips in May. How many clips did Natalia sell altogether in April and May?"}]
# The largest |engine - fresh| seen on these 18 probabilities was 0.025 (Gemma, 0.334 vs 0.309).
TOLERANCE = 0.08


def _fresh_prob(model, messages, before: bytes, token: bytes, penalizer=None) -> tuple[float, bool, float]:
    """P(token | prompt + the model's tokenization of `before`) from an emptied cache, whether it
    is the argmax, and the gap between the two most likely tokens; penalized from those ids
    when a penalizer is given."""
    model.reset()
    ids = model.prompt_tokens(messages) + (model.vocab.tokenize(before) if before else [])
    logits = model.evaluate(ids, [len(ids) - 1])[0].astype(np.float64)
    logits[model.vocab.excluded_mask] = -np.inf
    if penalizer is not None:
        penalizer.apply(logits, np.asarray(ids))
    p = np.exp(logits - logits.max())
    p /= p.sum()
    first, second = np.sort(p)[-2:][::-1]
    gap = float(first - second)
    if token == b"<eog>":
        return float(p[list(model.vocab.eog_ids)].sum()), bool(model.vocab.eog_mask[int(np.argmax(p))]), gap
    own = model.vocab.id_of(token)
    return float(p[own]), int(np.argmax(p)) == own, gap


def test_a_safe_events_probabilities_come_from_the_models(trio):
    for m in trio.models:
        m.reset()
    events = list(trio.stream(QUESTION, GenerationConfig(method="safe", max_tokens=96, chunk=5)))
    ensembles = [e for e in events if isinstance(e, EnsembleEvent)]
    assert ensembles
    reply = events[-1].result.text.encode()
    checked = 0
    for event in ensembles[:6]:
        before = reply[: event.offset]
        for model, view in zip(trio.models, event.models):
            token = view.token.encode()
            # Only where the model's own tokenization of the text puts a token boundary at the
            # position (as the engine's did) is the fresh call the same question.
            ends = np.cumsum([len(model.vocab.pieces[i]) for i in model.vocab.tokenize(before)]) if before else [0]
            if before and ends[-1] != len(before):
                continue
            prob, agrees, gap = _fresh_prob(model, QUESTION, before, token)
            assert abs(prob - view.prob) <= TOLERANCE, (model.name, event.index, prob, view.prob)
            if gap > TOLERANCE:  # not a near-tie for first place
                assert agrees == view.agrees, (model.name, event.index)
            checked += 1
    assert checked >= 6 * len(trio.models) - 4
