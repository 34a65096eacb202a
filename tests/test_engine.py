"""The engine on real models: SAFE and the baselines, end to end."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from safe_local.backend import LlamaModel, LoadOptions
from safe_local.engine import Engine, GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.events import Done, EnsembleEvent, TextDelta
from safe_local.loop_guard import is_looping
from safe_local.runs import safe as safe_run

QUESTION = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"}]
SHORT = [{"role": "user", "content": "Name three colors."}]


def _probs(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_safe_without_ensembling_is_the_drafters_greedy_output(trio):
    single = trio.generate(QUESTION, GenerationConfig(method="single", max_tokens=48))
    never = GenerationConfig(method="safe", max_tokens=48, consensus_threshold=-1.0)
    safe = trio.generate(QUESTION, never)
    assert safe.stats.ensembled == 0
    assert safe.text == single.text
    assert safe.stats.tokens == single.stats.tokens
    assert safe.stats.rejected == 0 and safe.stats.accepted == safe.stats.drafted


def test_three_model_safe_ensembles_and_reports_why(trio):
    events = list(trio.stream(QUESTION, GenerationConfig(method="safe", max_tokens=96)))
    result = events[-1].result
    ensembles = [e for e in events if isinstance(e, EnsembleEvent)]
    assert result.stats.ensembled >= 1 and len(ensembles) == result.stats.ensembled
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == result.text and text.strip()
    for e in ensembles:
        assert e.c1 is False and e.c2 <= 0.5 == e.c2_threshold  # only positions without consensus are ensembled
        assert [m.name for m in e.models] == ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]
        assert e.chosen == e.top[0][0] and abs(sum(e.weights) - 1) < 1e-6
        assert e.replaced == (e.chosen != e.drafted)
        for m in e.models:
            assert 0.0 <= m.prob <= 1.0 and len(m.top) == 5
    replaced = [e for e in ensembles if e.replaced]
    for e in replaced:
        assert result.text[e.char_offset:].startswith(e.chosen) or e.chosen == "<eog>" or result.stop_reason == "stop"
    s = result.stats
    assert 0 < s.ensemble_rate <= 1 and s.tokens <= 96
    assert s.accepted + s.rejected == s.drafted and s.cycles >= s.tokens / 5
    assert [m.name for m in s.models] == result.models and all(m.decode_calls > 0 for m in s.models)


def test_an_ensembled_position_carries_the_c2_threshold_of_its_generation(trio):
    # The inspector says what c2 was held against; a preset may set consensus_threshold.
    events = list(trio.stream(QUESTION, GenerationConfig(method="safe", max_tokens=48, consensus_threshold=0.7)))
    ensembles = [e for e in events if isinstance(e, EnsembleEvent)]
    assert ensembles and all(e.c2_threshold == 0.7 and e.c2 <= 0.7 for e in ensembles)


@pytest.mark.parametrize(
    "config",
    [
        GenerationConfig(method="single", max_tokens=24),
        GenerationConfig(method="single", max_tokens=24, single_model=1),
        GenerationConfig(method="safe", base="unite", max_tokens=24),
        GenerationConfig(method="safe", base="gac", max_tokens=24),
        GenerationConfig(method="safe", base="unite", sharpening="geometric", max_tokens=24),
        GenerationConfig(method="safe", max_tokens=24, temperature=0.8, top_p=0.9, seed=7),
        GenerationConfig(method="unite", max_tokens=24),
        GenerationConfig(method="gac", max_tokens=24),
    ],
    ids=["single", "single-gemma", "safe-unite", "safe-gac", "safe-geometric", "safe-sampling", "unite", "gac"],
)
def test_every_method_runs_end_to_end(trio, config):
    result = trio.generate(SHORT, config)
    assert result.text.strip()
    assert result.stop_reason in ("eos", "length")
    assert 0 < result.stats.tokens <= 24
    if config.method == "unite":
        assert result.stats.ensembled == result.stats.cycles  # every token is ensembled
    if config.method == "single":
        assert result.stats.ensembled == 0 and len(result.models) == 1
        assert result.drafter == trio.models[config.single_model].name


def test_sampling_is_reproducible_with_a_seed(trio):
    config = GenerationConfig(method="safe", max_tokens=24, temperature=0.9, seed=123)
    assert trio.generate(SHORT, config).text == trio.generate(SHORT, config).text


def test_weights_and_bad_options(trio):
    with pytest.raises(SafeLocalError, match="weights"):
        trio.generate(SHORT, GenerationConfig(weights=[1, 2]))
    with pytest.raises(SafeLocalError, match="method"):
        trio.generate(SHORT, GenerationConfig(method="vote"))
    with pytest.raises(SafeLocalError, match="at least 2 models"):
        Engine(trio.models[:1]).generate(SHORT, GenerationConfig(method="safe"))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"chunk": "six"}, "chunk must be a whole number or \"auto\", got 'six'"),
        ({"max_tokens": 2.5}, "max_tokens must be a whole number"),
        ({"single_model": 1.0}, "single_model must be a whole number"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"top_p": True}, "top_p must be a number"),
        ({"seed": "abc"}, "seed must be a whole number"),
        ({"method": 3}, "method must be a name"),
        ({"stop_loops": "yes"}, "stop_loops must be true or false"),
        ({"stop": [1, 2]}, "stop must be a string or a list of strings"),
        ({"weights": "2"}, "weights must be a list of numbers"),
        ({"weights": [2, "1"]}, "weights must be a list of numbers"),
    ],
)
def test_options_of_the_wrong_type_are_one_line_errors(options, message):
    # From a config file or a keyword, a wrong type used to surface as a TypeError mid-generation.
    with pytest.raises(SafeLocalError, match=message):
        GenerationConfig(**options).validate(3)


def test_a_stop_string_is_one_stop_string_and_single_ignores_weights():
    assert GenerationConfig(stop="xyz").stop == ("xyz",)
    GenerationConfig(method="single", weights=[2, 1, 1]).validate(1)  # the preset's weights, one model
    GenerationConfig(weights=np.array([2.0, 1.0]), seed=np.int64(3), chunk=np.int64(4)).validate(2)


def test_max_tokens_and_stop_strings(trio):
    r = trio.generate(QUESTION, GenerationConfig(method="safe", max_tokens=7))
    assert r.stop_reason == "length" and r.stats.tokens == 7
    full = trio.generate(QUESTION, GenerationConfig(method="single", max_tokens=40)).text
    word = full.split()[3]
    stopped = trio.generate(QUESTION, GenerationConfig(method="single", max_tokens=40, stop=[word]))
    assert stopped.stop_reason == "stop" and word not in stopped.text
    assert full.startswith(stopped.text)
    # A string is one stop string, not a set of characters (it used to stop at the first "x").
    one = trio.generate(QUESTION, GenerationConfig(method="single", max_tokens=40, stop="xyzzy"))
    assert one.text == full


# Gemma 270M, a base model, echoes this GSM8K question (with the paper's instruction) over and over.
ECHOED = [{"role": "user", "content": "A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take? Please reason step by step, and put your final answer within \\boxed{}."}]


def test_stop_loops_ends_a_looping_reply_and_leaves_others_alone(trio):
    looping = GenerationConfig(method="single", single_model=1, max_tokens=1024, stop_loops=True)
    r = trio.generate(ECHOED, looping)
    assert r.stop_reason == "loop" and r.message
    assert r.stats.tokens < 700 and is_looping(r.text)
    unguarded = trio.generate(ECHOED, replace(looping, stop_loops=False, max_tokens=r.stats.tokens + 64))
    assert unguarded.stop_reason == "length" and unguarded.text.startswith(r.text)
    # A reply that ends by itself is the same with or without the guard. Both start from empty
    # caches: a prompt partly reused from the cache gives logits a rounding apart, enough to
    # flip a near-tie, whatever ran before in the session.
    plain = GenerationConfig(method="safe", max_tokens=120)
    assert _from_empty_caches(trio, replace(plain, stop_loops=True)).text == _from_empty_caches(trio, plain).text


def _from_empty_caches(engine, config):
    for m in engine.models:
        m.reset()
    return engine.generate(QUESTION, config)


def _assert_cache_is_consistent(model, paths):
    tokens = model.cached_tokens
    live = model.evaluate(tokens + [tokens[-1]], [len(tokens)])[0]
    with LlamaModel(paths[model.name], name=model.name, options=LoadOptions(n_ctx=2048)) as fresh:
        direct = fresh.evaluate(tokens + [tokens[-1]], [len(tokens)])[0]
    p, q = _probs(live), _probs(direct)
    assert np.abs(p - q).sum() < 0.35, model.name
    assert int(p.argmax()) == int(q.argmax()), model.name


def test_caches_after_ensembles_match_fresh_models(trio, offline_model_paths):
    result = trio.generate(QUESTION, GenerationConfig(method="safe", max_tokens=64))
    assert result.stats.ensembled >= 1
    for model in trio.models:
        _assert_cache_is_consistent(model, offline_model_paths)


def test_cancel_from_another_thread_keeps_caches_consistent(trio, offline_model_paths):
    cancel = threading.Event()
    got = []
    for event in trio.stream(QUESTION, GenerationConfig(method="safe", max_tokens=200), cancel):
        got.append(event)
        if isinstance(event, TextDelta) and len(got) == 3:
            threading.Thread(target=cancel.set).start()
    result = got[-1].result
    assert isinstance(got[-1], Done) and result.stop_reason == "cancelled"
    assert result.stats.tokens < 200
    for model in trio.models:
        _assert_cache_is_consistent(model, offline_model_paths)
    after = trio.generate(SHORT, GenerationConfig(method="safe", max_tokens=24))
    assert after.stop_reason in ("eos", "length") and after.text.strip()


def test_one_generation_at_a_time(trio):
    stream = trio.stream(SHORT, GenerationConfig(max_tokens=8))
    next(stream)
    with pytest.raises(SafeLocalError, match="already generating"):
        trio.generate(SHORT, GenerationConfig(max_tokens=8))
    stream.close()
    assert trio.generate(SHORT, GenerationConfig(max_tokens=8)).stats.tokens > 0


def test_a_closed_model_refuses_work_instead_of_crashing(offline_model_paths):
    model = LlamaModel(offline_model_paths["smollm2-135m"], name="smollm2-135m", options=LoadOptions(n_ctx=256))
    model.close()
    engine = Engine([model])
    for call in (lambda: engine.generate(SHORT, GenerationConfig(method="single", max_tokens=2)),
                 model.reset, lambda: model.tokenize(b"hi")):
        with pytest.raises(SafeLocalError, match="smollm2-135m is closed"):  # it used to segfault
            call()


@pytest.mark.parametrize("options, message", [({"n_ctx": 0}, "context length"), ({"n_ctx": -5}, "context length"),
                                              ({"n_threads": 0}, "number of threads"), ({"n_threads": 2.5}, "number of threads")])
def test_bad_load_options_are_refused(options, message):
    with pytest.raises(SafeLocalError, match=message):
        LoadOptions(**options)


def test_context_errors(offline_model_paths):
    with LlamaModel(offline_model_paths["qwen2.5-coder-0.5b"], options=LoadOptions(n_ctx=64)) as q, \
         LlamaModel(offline_model_paths["smollm2-135m"], options=LoadOptions(n_ctx=64)) as s:
        engine = Engine([q, s])
        with pytest.raises(SafeLocalError, match="prompt is .* tokens"):
            engine.generate([{"role": "user", "content": "word " * 100}])
        r = engine.generate(SHORT, GenerationConfig(method="safe", max_tokens=500))
        assert r.stop_reason in ("context", "eos")
        long = engine.generate([{"role": "user", "content": "Count from 1 to 100, one number per line."}],
                               GenerationConfig(method="safe", max_tokens=500))
        assert long.stop_reason == "context" and "context" in long.message


OPEN_ENDED = [
    [{"role": "user", "content": "Write a short poem about the sea."}],
    [{"role": "user", "content": "Explain recursion in two sentences."}],
    [{"role": "user", "content": "Translate to French: the cat sleeps on the warm windowsill."}],
]


def _fresh_reply(trio, messages, config):
    for m in trio.models:
        m.reset()
    events = list(trio.stream(messages, config))
    return events[-1].result, [e for e in events if isinstance(e, EnsembleEvent)]


def _choices(events, replaced_only=False):
    return [(e.offset, e.drafted, e.chosen) for e in events if e.replaced or not replaced_only]


# Two replies may part where the ensemble's two best strings are this close: llama.cpp's logits
# move with batch shape (SAFE_SPEC), so a near-tie can go either way. Seen: 0.004 (" crash"
# against " are" in the sea poem, once SmolLM2 was loaded as Q8_0).
NEAR_TIE = 0.02


def _same_or_parted_at_a_near_tie(a, a_events, b, b_events):
    """The replies are the same with the same replacements, or they part at one ensembled
    position that both runs reached with the same text, where the two choices were the
    ensemble's two best strings and nearly tied: batch-shape noise, never a rule applied differently."""
    if a.text == b.text:
        assert _choices(a_events, True) == _choices(b_events, True)
        return
    parted = next(i for i, (x, y) in enumerate(zip(a.text, b.text)) if x != y)
    x = [e for e in a_events if e.char_offset <= parted][-1]
    y = [e for e in b_events if e.char_offset <= parted][-1]
    assert (x.char_offset, x.drafted) == (y.char_offset, y.drafted) and x.chosen != y.chosen
    assert _choices([e for e in a_events if e.offset < x.offset], True) == _choices(
        [e for e in b_events if e.offset < y.offset], True)
    for e in (x, y):
        (first, p1), (second, p2) = e.top[:2]
        assert {x.chosen, y.chosen} == {first, second} and p1 - p2 < NEAR_TIE, (e.chosen, e.top[:2])


@pytest.mark.parametrize("messages", [QUESTION, SHORT] + OPEN_ENDED)
def test_early_acceptance_changes_no_greedy_reply(trio, messages, monkeypatch):
    # With the drafter weighing 2/3 it decides every position where it is more than 75 % sure;
    # switched off, every candidate asks the verifiers, whose caches then advance every chunk.
    config = GenerationConfig(method="safe", weights=[4, 1, 1], max_tokens=64, chunk=5)  # chunks as the only variable
    fast, fast_events = _fresh_reply(trio, messages, config)
    monkeypatch.setattr(safe_run, "drafter_decides", lambda *args: False)
    slow, slow_events = _fresh_reply(trio, messages, config)
    assert fast.stats.drafter_decided > 0 and slow.stats.drafter_decided == 0
    assert fast.text == slow.text
    assert _choices(fast_events) == _choices(slow_events)  # the same positions ensembled, to the same strings
    assert fast.stats.checked == slow.stats.checked
    verifier_calls = [sum(m.decode_calls for m in r.stats.models[1:]) for r in (fast, slow)]
    assert verifier_calls[0] <= verifier_calls[1]  # chunks decided by the drafter call no verifier


@pytest.mark.parametrize("options, room", [
    (dict(consensus_threshold=-1.0), 16),  # C2 always passes: the drafter settles every position alone
    (dict(consensus_threshold=-1.0), 48),
    (dict(weights=[4, 1, 1]), 32),  # the drafter settles the positions it is more than 75 % sure of
])
def test_a_verifiers_context_ends_a_reply_where_it_would_if_that_verifier_were_asked_everywhere(
        loaded_models, offline_model_paths, monkeypatch, options, room):
    # SmolLM2, the cheapest verifier (asked first, at every candidate the drafter leaves open),
    # gets a context of its prompt and `room` tokens. Where the drafter settles a position alone,
    # SmolLM2 scores nothing there; with drafter_decides switched off it scores every candidate,
    # so its context is checked at every chunk (the reference; the same text, as
    # test_early_acceptance_changes_no_greedy_reply shows). Checked only where asked, a reply the
    # drafter settled ran on past SmolLM2's context to the token limit.
    qwen, gemma, smol = (loaded_models[n] for n in ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"))
    n_ctx = len(smol.prompt_tokens(QUESTION)) + room
    config = GenerationConfig(method="safe", max_tokens=96, chunk=5, **options)
    with LlamaModel(offline_model_paths["smollm2-135m"], name="smollm2-135m", options=LoadOptions(n_ctx=n_ctx)) as small:
        engine = Engine([qwen, gemma, small])
        fast = _from_empty_caches(engine, config)
        monkeypatch.setattr(safe_run, "drafter_decides", lambda *args: False)
        slow = _from_empty_caches(engine, config)
    assert fast.stats.drafter_decided > 0 and slow.stats.drafter_decided == 0
    assert fast.stop_reason == slow.stop_reason == "context"
    assert fast.message == slow.message == f"smollm2-135m's context of {n_ctx} tokens is full"
    assert fast.text == slow.text and fast.stats.tokens == slow.stats.tokens < config.max_tokens
    if config.consensus_threshold < 0:  # nothing is ensembled: the drafter's own reply, cut short
        alone = engine.generate(QUESTION, GenerationConfig(method="single", max_tokens=96))
        assert fast.stats.ensembled == 0 and alone.text.startswith(fast.text)


@pytest.mark.parametrize("messages", [QUESTION, SHORT] + OPEN_ENDED)
def test_skipping_a_dearer_verifier_changes_no_greedy_reply(trio, messages, monkeypatch):
    # At the paper's equal weights the drafter never decides alone, but where it and SmolLM2
    # (the cheaper verifier) already pass C2, Gemma computes no row; switched off, Gemma scores
    # every candidate. Gemma's cache then advances in other batches, so a reply may part at a
    # near-tie (batch-shape noise), never by a rule applied differently.
    config = GenerationConfig(method="safe", max_tokens=64, chunk=5)
    assert [trio.models[v].name for v in safe_run.SafeRun(trio.models, None, messages, config,
                                                          threading.Event()).verifier_order] == ["smollm2-135m", "gemma3-270m"]
    fast, fast_events = _fresh_reply(trio, messages, config)
    monkeypatch.setattr(safe_run, "c2_settled", lambda *args: False)
    slow, slow_events = _fresh_reply(trio, messages, config)
    assert fast.stats.verifier_rows_saved > 0 and slow.stats.verifier_rows_saved == 0
    _same_or_parted_at_a_near_tie(fast, fast_events, slow, slow_events)
    if fast.text == slow.text:
        assert fast.stats.checked == slow.stats.checked
        gemma = [r.stats.models[1] for r in (fast, slow)]
        assert gemma[0].decode_calls <= gemma[1].decode_calls  # chunks settled before Gemma call it not at all


def test_chunk_length_policy():
    fixed = safe_run.ChunkLength(7)
    fixed.update(2, 7)
    fixed.update(7, 7)
    assert fixed.n == 7  # a number fixes it
    auto = safe_run.ChunkLength("auto")
    assert auto.n == 5  # the paper's n to start
    seen = []
    for _ in range(8):  # whole chunks kept: +2 each time, up to 16
        auto.update(auto.n, auto.n)
        seen.append(auto.n)
    assert seen == [7, 9, 11, 13, 15, 16, 16, 16]
    auto.update(3, 16)
    assert auto.n == 8  # a cut chunk halves it
    for _ in range(5):
        auto.update(0, auto.n)
    assert auto.n == 2  # never below 2
    auto.update(1, 1)  # a chunk cut short by the token limit is no evidence
    assert auto.n == 2


def test_auto_chunks_grow_on_easy_text_and_keep_the_drafters_reply(trio):
    never = dict(method="safe", max_tokens=96, consensus_threshold=-1.0)  # nothing is ensembled
    fixed = trio.generate(QUESTION, GenerationConfig(chunk=5, **never))
    auto = trio.generate(QUESTION, GenerationConfig(chunk="auto", **never))
    single = trio.generate(QUESTION, GenerationConfig(method="single", max_tokens=96))
    assert auto.text == fixed.text == single.text  # where chunks end changes no drafted token
    assert auto.stats.cycles < fixed.stats.cycles  # every chunk is kept, so they grow
    assert auto.stats.drafted / auto.stats.cycles > 5


def test_auto_chunks_with_ensembling(trio):
    result = trio.generate(QUESTION, GenerationConfig(method="safe", chunk="auto", weights=[4, 1, 1], max_tokens=96))
    s = result.stats
    assert result.text.strip() and s.tokens <= 96
    assert s.accepted + s.rejected == s.drafted and s.checked >= s.drafter_decided


@pytest.mark.parametrize("chunk", ["sometimes", 0, True])
def test_bad_chunk_lengths_are_one_line_errors(trio, chunk):
    with pytest.raises(SafeLocalError, match="chunk"):
        trio.generate(SHORT, GenerationConfig(chunk=chunk, max_tokens=4))


def test_cancel_with_lagging_verifiers_then_the_next_turn_is_as_from_fresh_caches(trio, offline_model_paths):
    # With 4,1,1 the drafter decides most positions alone and the verifiers' caches lag behind the
    # text; a cancel mid-reply must leave every cache a consistent prefix, and the next
    # generation must not depend on what the cancelled one left behind.
    config = GenerationConfig(method="safe", weights=[4, 1, 1], max_tokens=64)
    cancel = threading.Event()
    got = []
    for event in trio.stream(QUESTION, replace(config, max_tokens=200), cancel):
        got.append(event)
        if isinstance(event, TextDelta) and len(got) >= 3:
            cancel.set()  # mid-reply, a few chunks in
    assert got[-1].result.stop_reason == "cancelled" and got[-1].result.stats.drafter_decided > 0
    for model in trio.models:
        _assert_cache_is_consistent(model, offline_model_paths)
    after = list(trio.stream(QUESTION, config))
    for model in trio.models:
        model.reset()
    fresh = list(trio.stream(QUESTION, config))
    assert after[-1].result.text == fresh[-1].result.text
    # A verifier's logits depend a little on the batch shapes its cache was filled in, which differ
    # here: a position may be ensembled in one run and pass C2 in the other, but only on a knife
    # edge (C2 within 0.05 of the threshold), and there the ensemble kept the drafted token.
    events = [{e.offset: e for e in run if isinstance(e, EnsembleEvent)} for run in (after, fresh)]
    for offset in events[0].keys() & events[1].keys():
        assert events[0][offset].chosen == events[1][offset].chosen
    for only, other in ((events[0], events[1]), (events[1], events[0])):
        for offset in only.keys() - other.keys():
            assert not only[offset].replaced and abs(only[offset].c2 - 0.5) < 0.05, only[offset]


def test_catch_up_brings_lagging_verifiers_to_the_reply_in_one_call(trio):
    config = GenerationConfig(method="safe", weights=[4, 1, 1], max_tokens=48)
    for m in trio.models:
        m.reset()
    result = trio.generate(QUESTION, config)
    behind = [m for m in trio.models[1:]
              if m.cached_tokens != m.prompt_tokens(QUESTION) + m.tokenize(result.text.encode())]
    assert behind, "with 4,1,1 some verifier lags behind the finished reply"
    calls = [m.n_decoded for m in trio.models]
    trio.catch_up(QUESTION, result.text)
    for m in trio.models[1:]:
        assert m.cached_tokens == m.prompt_tokens(QUESTION) + m.tokenize(result.text.encode()), m.name
    assert trio.models[0].n_decoded == calls[0]  # the drafter is never touched
    again = [m.n_decoded for m in trio.models]
    trio.catch_up(QUESTION, result.text)
    assert [m.n_decoded for m in trio.models] == again  # already up to date: nothing decoded


def test_the_drafter_gate_keeps_confident_drafts_and_spares_the_verifiers(trio):
    # The authors' GaC + SAFE: ensemble a position without consensus only where the drafter's
    # probability of its token is below 0.5. That is "auto" for base gac; 1 switches it off.
    gated = list(trio.stream(QUESTION, GenerationConfig(method="safe", base="gac", max_tokens=96, chunk=5)))
    open_ = list(trio.stream(QUESTION, GenerationConfig(method="safe", base="gac", max_tokens=96, chunk=5,
                                                         drafter_gate=1.0)))
    gated_events = [e for e in gated if isinstance(e, EnsembleEvent)]
    open_events = [e for e in open_ if isinstance(e, EnsembleEvent)]
    assert all(e.models[0].prob < 0.5 for e in gated_events)
    assert any(e.models[0].prob >= 0.5 for e in open_events)  # the gate had something to keep
    # Equal weights never let C2 pass on the drafter's share; the gate does settle positions alone.
    assert gated[-1].result.stats.drafter_decided > 0 == open_[-1].result.stats.drafter_decided
    unite = trio.generate(QUESTION, GenerationConfig(method="safe", base="unite", max_tokens=32, chunk=5))
    assert unite.stats.drafter_decided == 0  # no gate for base unite unless asked
    asked = trio.generate(QUESTION, GenerationConfig(method="safe", base="unite", max_tokens=32, chunk=5,
                                                     drafter_gate=0.5))
    assert asked.stats.drafter_decided > 0


@pytest.mark.parametrize("gate", [0, -0.5, 1.5, "often"])
def test_bad_drafter_gates_are_one_line_errors(trio, gate):
    with pytest.raises(SafeLocalError, match="drafter.gate"):
        trio.generate(SHORT, GenerationConfig(drafter_gate=gate))


def test_equal_weight_auto_chunks_end_where_the_drafter_is_unsure(trio, monkeypatch):
    # Equal weights: the drafter never settles a token alone, so an auto chunk ends at a token it
    # gives less than 1/2 instead; drafting on past it is what an ensemble would throw away.
    config = GenerationConfig(method="safe", max_tokens=64)
    cut = [_fresh_reply(trio, messages, config) for messages in OPEN_ENDED]
    monkeypatch.setattr(safe_run.SafeRun, "unsure", lambda self, p, gate_p: False)
    plain = [_fresh_reply(trio, messages, config) for messages in OPEN_ENDED]
    for (a, a_events), (b, b_events) in zip(cut, plain):
        # Only where chunks end changed, and with it which positions every verifier's
        # tokenization has a boundary at, and the batch shapes: a confirmed (unchanged) token may
        # be checked at another position, and a near-tie may go the other way; nothing else.
        _same_or_parted_at_a_near_tie(a, a_events, b, b_events)
    assert sum(r.stats.rejected for r, _ in cut) < sum(r.stats.rejected for r, _ in plain)
    assert sum(r.stats.models[0].decode_calls for r, _ in cut) < sum(r.stats.models[0].decode_calls for r, _ in plain)


def test_after_reset_caches_a_sampled_reply_is_a_freshly_loaded_ensembles(trio, offline_model_paths):
    config = GenerationConfig(method="safe", max_tokens=24, temperature=1.0, seed=3)
    trio.generate(SHORT, config)  # a history whose cached prefix would be reused
    trio.reset_caches()
    assert all(m.cached_tokens == [] for m in trio.models)
    after_reset = trio.generate(QUESTION, config)
    fresh_models = [LlamaModel(offline_model_paths[m.name], name=m.name, options=LoadOptions(n_ctx=2048))
                    for m in trio.models]
    try:
        fresh = Engine(fresh_models).generate(QUESTION, config)
    finally:
        for m in fresh_models:
            m.close()
    assert after_reset.text == fresh.text and after_reset.stats.ensembled == fresh.stats.ensembled
