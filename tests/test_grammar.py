"""Constraints on real models' vocabularies: schemas and grammars compile or fail in one line,
masks allow exactly the tokens that keep the text valid (checked against the text itself), any
tokenization of valid text is followed, and the engine's every method keeps a reply valid."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from safe_local.engine import GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.grammar import SAFE_INTEGER, Constraint, Grammar, _bounded
from safe_local.reply_shape import ReplyShape

PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120}},
          "required": ["name", "age"], "additionalProperties": False}


@pytest.mark.parametrize("make, says", [
    (lambda: Grammar.from_json_schema("{bad"), "the JSON schema is not valid JSON"),
    (lambda: Grammar.from_json_schema([1, 2]), "a JSON schema must be a JSON object"),
    (lambda: Grammar.from_json_schema({"type": "object", "minProperties": "x"}), "unusable json schema"),
    (lambda: Grammar.from_grammar("  "), "the grammar is empty"),
    (lambda: Grammar.from_grammar("start: undefined_rule"), "unusable grammar"),
])
def test_an_unusable_constraint_is_one_line(make, says):
    with pytest.raises(SafeLocalError, match=says) as e:
        make()
    assert "\n" not in str(e.value)


def test_unbounded_integers_get_json_safe_bounds_and_data_stays_data():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "m": {"type": ["integer", "null"], "minimum": 3},
                                               "c": {"const": {"type": "integer"}}}}
    out = _bounded(schema)
    assert out["properties"]["n"] == {"type": "integer", "maximum": SAFE_INTEGER, "minimum": -SAFE_INTEGER}
    assert out["properties"]["m"] == {"type": ["integer", "null"], "minimum": 3, "maximum": SAFE_INTEGER}
    assert out["properties"]["c"] == {"const": {"type": "integer"}} and schema["properties"]["n"] == {"type": "integer"}


def test_a_mask_allows_exactly_the_tokens_that_keep_the_text_valid(trio):
    """Against the text itself: for each model, every allowed token extends the prefix to a prefix
    of some valid reply, and the tokens the mask refuses include those that cannot."""
    grammar = Grammar.from_grammar('start: "{\\"age\\":" /[1-9][0-9]?/ "}"')
    constraint = Constraint(grammar, [m.vocab for m in trio.models])
    for m, model in enumerate(trio.models):
        prefix = model.vocab.tokenize(b'{"age":')
        mask = constraint.mask(m, prefix)
        allowed = {model.vocab.pieces[i] for i in np.flatnonzero(mask)}
        assert allowed and all(p[:1].isdigit() and p[:1] != b"0" for p in allowed if p), allowed
        assert mask[model.vocab.tokenize(b"4")[0]] and not mask[model.vocab.tokenize(b"x")[0]]
        assert not mask[list(model.vocab.eog_ids)].any()  # the reply cannot end before "}"
        done = constraint.mask(m, model.vocab.tokenize(b'{"age":42}'))
        assert set(np.flatnonzero(done)) == set(model.vocab.eog_ids)  # only the end is left
        # A text tokenized byte by byte is followed too (a verifier's tokenization is not the drafter's).
        bytewise = [t for b in b'{"age":4' for t in model.vocab.tokenize(bytes([b]))]
        assert constraint.mask(m, bytewise)[model.vocab.tokenize(b"2")[0]]


@pytest.mark.parametrize("options", [dict(method="single"), dict(method="safe", base="gac", weights=[4, 1, 1]),
                                     dict(method="safe", base="unite"), dict(method="unite"), dict(method="gac"),
                                     dict(method="safe", base="gac", weights=[4, 1, 1], temperature=0.8, seed=3)])
def test_every_method_replies_within_the_schema(trio, options):
    grammar = Grammar.from_json_schema(PERSON)
    messages = [{"role": "user", "content": "Describe a person called Ada."}]
    result = trio.generate(messages, GenerationConfig(max_tokens=60, **options), shape=ReplyShape(grammar))
    assert result.stop_reason == "eos", result.text
    jsonschema.validate(json.loads(result.text), PERSON)

