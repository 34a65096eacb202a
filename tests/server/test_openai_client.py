"""The official `openai` client against a real server: the replies, usage and statistics are the
engine's own for the same options (greedy, so token for token), streamed or not."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest

from safe_local.api import config_for, make_messages
from safe_local.events import GenerationResult
from safe_local.server.replies import FINISH
from safe_local.store import load_catalog
from tests.real_models import NAMES

PROMPT = "What is the capital of France? Answer in one sentence."
MESSAGES = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": PROMPT}]
TINY = load_catalog().presets["tiny"].generation_options()


def engine(trio, messages, **options) -> GenerationResult:
    """What the engine itself answers, with the tiny preset's options under the call's."""
    return trio.generate(messages, config_for(len(NAMES), TINY, options))


def test_chat_reply_usage_and_statistics_are_the_engines(client, trio):
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=16)
    ref = engine(trio, MESSAGES, max_tokens=16)
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == ref.text and ref.text.strip()
    assert choice.finish_reason == FINISH[ref.stop_reason]
    assert reply.object == "chat.completion" and reply.model == "tiny" and reply.id.startswith("chatcmpl-")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (ref.stats.prompt_tokens, ref.stats.tokens)
    assert reply.usage.total_tokens == ref.stats.prompt_tokens + ref.stats.tokens
    safe = reply.model_extra["safe"]
    assert safe["models"] == list(NAMES) and safe["drafter"] == NAMES[0] and safe["method"] == "safe"
    assert (safe["ensembled"], safe["cycles"]) == (ref.stats.ensembled, ref.stats.cycles)
    assert safe["ensemble_rate"] == ref.stats.ensemble_rate
    assert [m["name"] for m in safe["per_model"]] == list(NAMES) and safe["per_model"][0]["seconds"] > 0


def test_streamed_chat_is_the_same_reply_in_openais_chunks(client, trio):
    chunks = list(client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=16, stream=True,
                                                 stream_options={"include_usage": True}))
    ref = engine(trio, MESSAGES, max_tokens=16)
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choices = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == ref.text
    finishes = [c.choices[0].finish_reason for c in with_choices]
    assert finishes[-1] == FINISH[ref.stop_reason] and not any(finishes[:-1])
    usage = chunks[-1]  # the usage chunk comes last and has no choices
    assert usage.choices == [] and usage.usage.completion_tokens == ref.stats.tokens
    assert usage.usage.prompt_tokens == ref.stats.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert with_choices[-1].model_extra["safe"]["tokens"] == ref.stats.tokens
    assert len({c.id for c in chunks}) == 1


def test_streaming_without_include_usage_sends_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=4, stream=True))
    assert all(c.choices for c in chunks) and chunks[-1].choices[0].finish_reason


def test_max_tokens_ends_with_finish_reason_length(client, trio):
    prompt = [{"role": "user", "content": "Write a long poem about the sea."}]
    reply = client.chat.completions.create(model="tiny", messages=prompt, max_completion_tokens=5)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 5
    assert reply.choices[0].message.content == engine(trio, prompt, max_tokens=5).text


def test_a_stop_string_ends_the_reply_before_it(client, trio):
    prompt = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    reply = client.chat.completions.create(model="tiny", messages=prompt, max_tokens=40, stop=["5"])
    ref = engine(trio, prompt, max_tokens=40, stop=["5"])
    assert ref.stop_reason == "stop" and "4" in ref.text
    text = reply.choices[0].message.content
    assert text == ref.text and "5" not in text and reply.choices[0].finish_reason == "stop"


def test_a_seed_makes_sampling_repeatable_and_equal_to_the_engines(client, trio):
    # Fresh caches on both sides: a sample falls where the logits put it, and reused prefixes
    # (decoded in other batch shapes) move the logits, so history would decide the reply.
    prompt = [{"role": "user", "content": "Name a color."}]
    options = dict(model="tiny", messages=prompt, max_tokens=8, temperature=1.0, top_p=0.95, seed=7,
                   extra_body={"cache_prompt": False})
    first = client.chat.completions.create(**options).choices[0].message.content
    client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=4)  # another history in between
    assert client.chat.completions.create(**options).choices[0].message.content == first
    trio.reset_caches()
    assert first == engine(trio, prompt, max_tokens=8, temperature=1.0, top_p=0.95, seed=7).text


def test_text_completion_continues_the_raw_prompt_and_echoes_it(client, trio):
    raw = "The capital of France is"
    reply = client.completions.create(model="tiny", prompt=raw, max_tokens=12)
    ref = engine(trio, [{"role": "raw", "content": raw}], max_tokens=12)
    assert reply.object == "text_completion" and reply.choices[0].text == ref.text
    assert reply.usage.completion_tokens == ref.stats.tokens
    # No chat template: the prompt is the raw text, tokenized as each model tokenizes it (with its BOS).
    assert reply.usage.prompt_tokens == len(trio.models[0].tokenize(raw.encode()))
    assert ref.text != engine(trio, make_messages(raw), max_tokens=12).text
    streamed = list(client.completions.create(model="tiny", prompt=raw, max_tokens=12, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == ref.text
    assert streamed[-1].choices[0].finish_reason == FINISH[ref.stop_reason]
    echoed = client.completions.create(model="tiny", prompt=raw, max_tokens=12, echo=True)
    assert echoed.choices[0].text == raw + ref.text
    streamed = list(client.completions.create(model="tiny", prompt=raw, max_tokens=12, stream=True, echo=True))
    assert "".join(c.choices[0].text for c in streamed) == raw + ref.text


def test_ensemble_options_in_the_body_reach_the_engine(client, trio):
    alone = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=8, extra_body={"method": "single"})
    safe = alone.model_extra["safe"]
    assert safe["method"] == "single" and safe["models"] == [NAMES[0]] and safe["ensembled"] == 0
    assert alone.choices[0].message.content == engine(trio, MESSAGES, max_tokens=8, method="single").text

    options = {"base": "gac", "chunk": 3, "weights": [2, 1, 1], "sharpening": "none"}
    gac = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=8, extra_body=options)
    assert gac.model_extra["safe"]["base"] == "gac"
    assert gac.choices[0].message.content == engine(trio, MESSAGES, max_tokens=8, **options).text

    # OpenAI's own penalty fields are engine options of the same name.
    penalized = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=8, frequency_penalty=1.5)
    assert penalized.choices[0].message.content == engine(trio, MESSAGES, max_tokens=8, frequency_penalty=1.5).text


def test_the_same_reply_as_safe_local_run(client):
    p = subprocess.run([sys.executable, "-m", "safe_local", "run", "--json", "--ctx", "2048", "--max-tokens", "12",
                        "--system", "You are brief.", PROMPT], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    ran = json.loads(p.stdout)
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=12)
    assert reply.choices[0].message.content == ran["text"]
    assert reply.usage.completion_tokens == ran["tokens"] and reply.usage.prompt_tokens == ran["prompt_tokens"]


def test_models_lists_presets_and_local_models_with_ids(client):
    models = client.models.list().data
    ids = [m.id for m in models]
    assert all(ids) and len(ids) == len(set(ids))
    assert "tiny" in ids and set(NAMES) <= set(ids)
    assert next(m for m in models if m.id == "tiny").model_extra["models"] == list(NAMES)
    for model_id in ("tiny", NAMES[2]):
        assert client.models.retrieve(model_id).model_dump() == next(m for m in models if m.id == model_id).model_dump()
    with pytest.raises(openai.NotFoundError, match="no model 'nope' here"):
        client.models.retrieve("nope")
