"""Sampled SAFE emits what every-token ensemble sampling emits, tested statistically on real models.

At a position every model has a token boundary at (the reply's first, and every position of the
two Qwen-Coder models, which share a tokenizer), SAFE's sampled string must be distributed as the
every-token method's with the same models, weights and sampler (safe_local.core.speculative):
every-token UniTE for SAFE-UniTE, GaC with its threshold for GaC + SAFE with its gate. Each case
draws the first string DRAWS times from each (one seed per draw) and compares the two samples
with a chi-square test of homogeneity; a planted bug (the raw softmax as the proposal q in the
acceptance test) must be caught by the same test.

The models are real; their rows are kept per prefix (`Memo`): a row is a function of the tokens
before it, so the 2 x DRAWS replies of a case cost a few llama.cpp decodes, and both methods read
the very same numbers (llama.cpp's logits otherwise move with the batch shape, SAFE_SPEC).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from safe_local.backend import LlamaModel, LoadOptions
from safe_local.chat_defaults import CHAT_SAMPLING
from safe_local.core import Vocab, softmax
from safe_local.engine import Engine, GenerationConfig
from safe_local.events import EnsembleEvent
from safe_local.runs.base import max_prob
from safe_local.runs.safe import SafeRun

DRAWS = 2000
COLOUR = [{"role": "user", "content": "Name one colour, then say why you like it."}]
TEMPERATURE_1 = {"temperature": 1.0}


class Memo:
    """A real model whose logits rows are computed once per prefix, then read back."""

    def __init__(self, model: Any):
        self.model = model
        self.rows: dict[tuple[int, ...], np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def evaluate(self, target, positions) -> np.ndarray:
        keys = [tuple(target[: p + 1]) for p in positions]
        missing = [p for p, key in zip(positions, keys) if key not in self.rows]
        if missing:
            for p, row in zip(missing, self.model.evaluate(list(target), missing)):
                self.rows[tuple(target[: p + 1])] = row.copy()
        return np.stack([self.rows[key] for key in keys])


def _first_strings(engine: Engine, messages, config: GenerationConfig) -> Counter:
    """The string each of DRAWS seeded replies puts first (its first ensembled position's choice)."""
    seen: Counter = Counter()
    for seed in range(DRAWS):
        for event in engine.stream(messages, dataclasses.replace(config, seed=seed)):
            if isinstance(event, EnsembleEvent):
                assert event.offset == 0, event
                seen[event.chosen] += 1
                break
        else:
            pytest.fail("the first position was not ensembled")
    return seen


def _homogeneity(a: Counter, b: Counter) -> float:
    """The chi-square test's p-value that two samples come from one distribution (rare strings pooled)."""
    keys = sorted(set(a) | set(b), key=lambda k: -(a[k] + b[k]))
    table = np.array([[a[k] for k in keys], [b[k] for k in keys]], dtype=float)
    common = table.sum(axis=0) >= 10
    table = np.column_stack([table[:, common], table[:, ~common].sum(axis=1)]) if (~common).any() else table
    table = table[:, table.sum(axis=0) > 0]
    return float(chi2_contingency(table)[1])


@pytest.fixture(scope="module")
def coders(pulled_model_paths, offline_model_paths) -> list[Memo]:
    small = LlamaModel(offline_model_paths["qwen2.5-coder-0.5b"], name="qwen2.5-coder-0.5b", options=LoadOptions(n_ctx=512))
    large = LlamaModel(pulled_model_paths["qwen2.5-coder-1.5b"], name="qwen2.5-coder-1.5b", options=LoadOptions(n_ctx=512))
    yield [Memo(small), Memo(large)]
    small.close()
    large.close()


@pytest.fixture(scope="module")
def memo_trio(trio) -> list[Memo]:
    return [Memo(m) for m in trio.models]


def _config(method: str, sampler: dict, **options: Any) -> GenerationConfig:
    return GenerationConfig(method=method, max_tokens=1, **(sampler | options))


@pytest.mark.parametrize("sampler", [TEMPERATURE_1, CHAT_SAMPLING], ids=["temperature-1", "chat-defaults"])
def test_safe_unite_on_one_tokenizer_samples_as_every_token_unite(coders, sampler):
    safe = _first_strings(Engine(coders), COLOUR, _config("safe", sampler, base="unite"))
    unite = _first_strings(Engine(coders), COLOUR, _config("unite", sampler))
    assert len(safe) >= 3, safe  # a first token with several likely strings, or the test would say little
    assert _homogeneity(safe, unite) > 0.01, (safe, unite)


@pytest.mark.parametrize("sampler", [TEMPERATURE_1, CHAT_SAMPLING], ids=["temperature-1", "chat-defaults"])
def test_tiny_with_the_unite_base_samples_as_every_token_unite(memo_trio, sampler):
    options = {"weights": [4, 1, 1], "sharpening": "heuristic"}
    safe = _first_strings(Engine(memo_trio), COLOUR, _config("safe", sampler, base="unite", **options))
    unite = _first_strings(Engine(memo_trio), COLOUR, _config("unite", sampler, **options))
    assert _homogeneity(safe, unite) > 0.01, (safe, unite)


def test_tiny_gac_with_its_gate_samples_as_gac_with_its_threshold(memo_trio):
    """The shipped default path: GaC + SAFE, weights 4,1,1, gate 0.5, under the chat's sampler."""
    drafter = memo_trio[0]
    first = drafter.evaluate(drafter.prompt_tokens(COLOUR), [len(drafter.prompt_tokens(COLOUR)) - 1])[0]
    assert max_prob(first) < 0.5  # the gate is open at the first position, so it is ensembled
    options = {"weights": [4, 1, 1], "gac_threshold": 0.5}
    safe = _first_strings(Engine(memo_trio), COLOUR, _config("safe", CHAT_SAMPLING, base="gac", **options))
    gac = _first_strings(Engine(memo_trio), COLOUR, _config("gac", CHAT_SAMPLING, **options))
    assert _homogeneity(safe, gac) > 0.01, (safe, gac)


def test_a_raw_proposal_in_the_acceptance_test_is_caught(coders, monkeypatch):
    """The planted bug: q read from the drafter's raw softmax, not the sampler it drew from."""
    unite = _first_strings(Engine(coders), COLOUR, _config("unite", CHAT_SAMPLING))
    monkeypatch.setattr(SafeRun, "proposal_of", lambda self, draft, j: softmax(draft.logits[j]))
    planted = _first_strings(Engine(coders), COLOUR, _config("safe", CHAT_SAMPLING, base="unite"))
    assert _homogeneity(planted, unite) < 1e-6, (planted, unite)


class Toy:
    """A hand-built model for the pure-logic case: a few byte pieces, a longest-match tokenizer and
    fixed logits at the reply's first position (no llama.cpp; the real-model cases are above)."""

    def __init__(self, name: str, pieces: list[bytes], logits: list[float]):
        self.name, self.path, self.n_ctx, self.n_decoded = name, Path(__file__), 64, 0
        self.pieces = pieces
        self.vocab = Vocab(pieces + [b"<end>"], [len(pieces)], self.tokenize)
        self.logits = np.array(logits + [-4.0])
        self.cached_tokens: list[int] = []

    def tokenize(self, text: bytes, special: bool = False) -> list[int]:
        ids = []
        while text:
            i = max((i for i, p in enumerate(self.pieces) if text.startswith(p)), key=lambda i: len(self.pieces[i]))
            ids.append(i)
            text = text[len(self.pieces[i]):]
        return ids

    def prompt_tokens(self, messages, tools=None) -> list[int]:
        return [0]

    def evaluate(self, target, positions) -> np.ndarray:
        return np.stack([self.logits.copy() for _ in positions])

    def reset(self) -> None:
        pass


def _naive_unite_target(models: list[Toy], weights: list[float], temperature: float, top_p: float, min_p: float
                        ) -> dict[bytes, float]:
    """P* written out by hand for these toys: every string is in each model's top 10, a model
    scores a string it lacks by its first token, each row is softmaxed over the union, averaged,
    tempered, cut to the nucleus and to min-p."""
    strings = list(dict.fromkeys(s for m in models for s in m.pieces + [b"<eog>"]))
    rows = []
    for m in models:
        own = {p: m.logits[i] for i, p in enumerate(m.pieces)} | {b"<eog>": m.logits[-1]}
        x = np.array([own[s] if s in own else m.logits[m.tokenize(s)[0]] for s in strings])
        rows.append(np.exp(x) / np.exp(x).sum())
    p = np.average(rows, axis=0, weights=weights) ** (1 / temperature)
    p /= p.sum()
    order = np.argsort(-p)
    keep = order[: int(np.searchsorted(np.cumsum(p[order]), top_p)) + 1]
    keep = [i for i in keep if p[i] >= min_p * p.max()]
    return {strings[i]: p[i] / p[keep].sum() for i in keep}


@pytest.mark.parametrize("sampler", [TEMPERATURE_1, CHAT_SAMPLING], ids=["temperature-1", "chat-defaults"])
def test_on_a_toy_vocabulary_both_emit_the_hand_computed_target(sampler):
    drafter = Toy("a", [b"a", b"b", b"ab", b" "], [1.0, 0.2, 0.8, -1.0])
    verifier = Toy("b", [b"a", b"b", b"ba", b" "], [-0.5, 1.2, 0.9, 0.0])
    options = {"weights": [2, 1], "sharpening": "none", **sampler}
    expected = _naive_unite_target([drafter, verifier], [2, 1], options["temperature"],
                                   options.get("top_p", 1.0), options.get("min_p", 0.0))
    keys = sorted(expected)
    for method, extra in (("safe", {"base": "unite"}), ("unite", {})):
        seen = _first_strings(Engine([drafter, verifier]), COLOUR, _config(method, {}, **options, **extra))
        assert set(seen) <= {k.decode() for k in keys}, seen
        counts = np.array([seen[k.decode()] for k in keys])
        assert chisquare(counts, DRAWS * np.array([expected[k] for k in keys])).pvalue > 0.01, (method, seen, expected)
