"""Constraining a reply to a JSON schema or a grammar, for every model of an ensemble.

The grammar engine is llguidance (what llama.cpp itself uses for JSON schemas when built with it),
chosen by measurement on this project's models: a token mask costs 0.06-0.4 ms for a 49k-262k
vocabulary, against about 10 ms for llama.cpp's own GBNF sampler on Qwen's 151k (docs/structured-
output.md). A `Grammar` is compiled once per request; a `Constraint` holds one llguidance matcher
per model, each kept at that model's own tokens of the reply so far (the drafter's drafted ids, a
verifier's re-tokenization: llguidance lexes bytes, so any tokenization of valid text is
accepted), and answers "which of this model's tokens keep the output valid after these tokens".
The engine masks every logits row with it before anything reads the row (runs/base.py), so each
model's vote is already its distribution over valid tokens: an ensembled position's union holds
only valid strings, C1/C2 and sharpening work on those, and end of generation is allowed only
where the grammar accepts.

Grammars are written in llguidance's Lark dialect, or in llama.cpp's GBNF (`root ::= ...`),
which is converted. Left out: where the masks are applied (the runs), and tool-call formats
(the server builds their schema).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence
from weakref import WeakKeyDictionary

import llguidance
import numpy as np
from llguidance.gbnf_to_lark import any_to_lark

from safe_local.backend.base import common_prefix
from safe_local.core import Vocab
from safe_local.errors import SafeLocalError

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions  # in llguidance's stubs only

# Compact JSON: flexible whitespace lets a small model fill a reply with blanks between tokens.
_JSON_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False}
# A tool call's JSON is written as Qwen2.5 writes it (`{"name": "f", "arguments": {...}}`).
_CALL_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
# An integer the schema leaves unbounded is kept within JSON's interoperable range (RFC 8259 §6:
# IEEE 754 doubles hold integers exactly up to 2^53 - 1), as llama.cpp's own converter keeps it
# to 16 digits: unbounded, the small models here write "7700000000..." until the token limit.
SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True)
class Grammar:
    """A compiled constraint (llguidance's grammar text) and what it was made from, for messages."""

    text: str
    source: str  # "json schema", "json object", "grammar"

    @classmethod
    def from_json_schema(cls, schema: dict[str, Any] | str | bool) -> Grammar:
        """Any JSON Schema (draft 2020-12 keywords llguidance knows); `True`/`{}` is any JSON value."""
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except json.JSONDecodeError as e:
                raise SafeLocalError(f"the JSON schema is not valid JSON ({e.msg} at line {e.lineno}): fix it") from None
        if schema is True:
            schema = {}
        if not isinstance(schema, dict):
            raise SafeLocalError(f"a JSON schema must be a JSON object, got {json.dumps(schema)[:60]}")
        try:
            text = llguidance.LLMatcher.grammar_from_json_schema(_bounded(schema), defaults=_JSON_OPTIONS)
        except ValueError as e:
            raise SafeLocalError(f"unusable JSON schema: {e}") from None
        return cls._checked(text, "json schema")

    @classmethod
    def json_object(cls) -> Grammar:
        """Any JSON object (OpenAI's response_format json_object)."""
        return cls._checked(llguidance.LLMatcher.grammar_from_json_schema({"type": "object"}, defaults=_JSON_OPTIONS),
                            "json object")

    @classmethod
    def tool_calls(cls, tools: Sequence[dict[str, Any]], choice: str = "auto") -> Grammar:
        """A reply that calls one of `tools` (OpenAI function descriptions) as
        `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, the arguments valid under
        the function's parameters; `choice` "required" (any tool), a tool's name (that one), or
        "auto": a call, or text that does not start with "<" or "{" (a reply that starts with "{" is
        a call written without its tags, as small models often do). Separators as Qwen2.5 writes them."""
        calls = [{"type": "object", "additionalProperties": False, "required": ["name", "arguments"],
                  "properties": {"name": {"const": t["function"]["name"]},
                                 "arguments": _bounded(t["function"].get("parameters") or {"type": "object"})}}
                 for t in tools if choice in ("auto", "required") or t["function"]["name"] == choice]
        if not calls:
            raise SafeLocalError(f"tool_choice names {choice!r}, which is not one of the tools")
        schema = {"anyOf": calls, "x-guidance": _CALL_OPTIONS}
        call = 'call: "<tool_call>\\n" arguments "\\n</tool_call>"\narguments: %json ' + json.dumps(schema)
        start = "start: call | arguments | TEXT\nTEXT: /[^<{][\\s\\S]*/" if choice == "auto" else "start: call"
        return cls._checked(llguidance.LLMatcher.grammar_from_lark(start + "\n" + call + "\n"), "tool call")

    @classmethod
    def from_grammar(cls, grammar: str) -> Grammar:
        """A Lark grammar (llguidance's dialect), or a GBNF one as llama.cpp writes them."""
        if not grammar.strip():
            raise SafeLocalError("the grammar is empty: give a Lark or GBNF grammar")
        try:
            lark = any_to_lark(grammar)
        except Exception as e:  # noqa: BLE001 - the converter raises plain exceptions for bad GBNF
            raise SafeLocalError(f"unusable grammar: {e}") from None
        return cls._checked(llguidance.LLMatcher.grammar_from_lark(lark), "grammar")

    @classmethod
    def _checked(cls, text: str, source: str) -> Grammar:
        error = llguidance.LLMatcher.validate_grammar(text)
        if error:
            raise SafeLocalError(f"unusable {source}: {error.splitlines()[0]}")
        return cls(text, source)


_VALUES = {"const", "enum", "default", "examples"}  # keywords whose contents are data, not schemas


def _bounded(schema: Any) -> Any:
    """A copy of the schema whose unbounded integers are bounded by +-SAFE_INTEGER."""
    if isinstance(schema, list):
        return [_bounded(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v if k in _VALUES else _bounded(v) for k, v in schema.items()}
    kind = out.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        if "maximum" not in out and "exclusiveMaximum" not in out:
            out["maximum"] = SAFE_INTEGER
        if "minimum" not in out and "exclusiveMinimum" not in out:
            out["minimum"] = -SAFE_INTEGER
    return out


_tokenizers: WeakKeyDictionary[Vocab, llguidance.LLTokenizer] = WeakKeyDictionary()
_tokenizers_lock = threading.Lock()


def _tokenizer(vocab: Vocab) -> llguidance.LLTokenizer:
    """llguidance's view of a model's vocabulary, built once per model (0.1-1.1 s on these)."""
    with _tokenizers_lock:
        if vocab not in _tokenizers:
            _tokenizers[vocab] = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Tokens(vocab)),
                                                        eos_token=list(vocab.eog_ids))
        return _tokenizers[vocab]


class _Tokens:
    """What llguidance's TokenizerWrapper reads: every token's bytes (control tokens, which have
    none here, marked special as llama.cpp's bridge does), the end tokens, and the tokenizer."""

    def __init__(self, vocab: Vocab):
        self.tokens = [b"\xff<special-%d>" % i if not p else p for i, p in enumerate(vocab.pieces)]
        self.special_token_ids = [i for i, p in enumerate(vocab.pieces) if not p]
        self.eos_token_id = vocab.eog_ids[0] if vocab.eog_ids else None
        self.bos_token_id = None
        self._tokenize = vocab.tokenize

    def __call__(self, text: bytes) -> list[int]:
        return list(self._tokenize(text))


class Constraint:
    """One reply's matchers, one per model; `mask(m, tokens)` is what model m may say next."""

    def __init__(self, grammar: Grammar, vocabs: Sequence[Vocab]):
        self.grammar = grammar
        self.vocabs = list(vocabs)
        self._matchers = [llguidance.LLMatcher(_tokenizer(v), grammar.text) for v in self.vocabs]
        self._consumed: list[list[int]] = [[] for _ in self.vocabs]
        for matcher in self._matchers:
            if matcher.is_error():
                raise SafeLocalError(f"unusable {grammar.source}: {matcher.get_error()}")

    def mask(self, m: int, tokens: Sequence[int]) -> np.ndarray:
        """(n_vocab,) bool: model m's tokens that keep the output valid after its `tokens` of the reply."""
        matcher = self._advance(m, tokens)
        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[: self.vocabs[m].n_vocab].astype(bool)

    def _advance(self, m: int, tokens: Sequence[int]) -> llguidance.LLMatcher:
        matcher, done = self._matchers[m], self._consumed[m]
        keep = common_prefix(done, tokens)
        if keep < len(done):
            matcher.rollback(len(done) - keep)
            del done[keep:]
        rest = [int(t) for t in tokens[keep:]]
        if rest:
            if not matcher.consume_tokens(rest) or matcher.is_error():
                text = b"".join(self.vocabs[m].pieces[t] for t in tokens)
                raise SafeLocalError(f"the reply left the {self.grammar.source} at {text[-40:]!r}: "
                                     f"{matcher.get_error() or 'no valid continuation'}")
            done.extend(rest)
        return matcher
