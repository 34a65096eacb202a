"""Log-probabilities through the real server, as the openai SDK asks for them: one entry per
emitted piece whose bytes make up the reply, values <= 0, alternatives sorted and summing to at
most 1, and greedy the emitted piece is the first alternative (it was the argmax of what it was
chosen from: the drafter's softmax or, ensembled, the sharpened ensemble)."""

from __future__ import annotations

import math

import pytest

from tests.server.conftest import request

QUESTION = [{"role": "user", "content": "Name three rivers in France."}]


def _check(entries, text: str, greedy: bool) -> None:
    assert entries and bytes(b for e in entries for b in e.bytes).decode() == text
    for e in entries:
        tops = [t.logprob for t in e.top_logprobs]
        assert e.logprob <= 0 and all(t <= 0 for t in tops) and tops == sorted(tops, reverse=True)
        assert sum(math.exp(t) for t in tops) <= 1 + 1e-9
        if greedy:
            assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == pytest.approx(e.logprob)


@pytest.mark.parametrize("options", [{}, {"method": "unite"}, {"method": "single"},
                                     {"temperature": 0.8, "seed": 2, "min_p": 0.05}])
def test_chat_logprobs_whole_and_streamed(client, options):
    greedy = "temperature" not in options
    options = options | {"cache_prompt": False}  # both replies from empty caches: the same numbers
    reply = client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=24, logprobs=True, top_logprobs=3,
                                           extra_body=options, seed=options.get("seed"))
    entries = reply.choices[0].logprobs.content
    _check(entries, reply.choices[0].message.content, greedy)
    sources = {e.model_extra["source"] for e in entries}
    assert sources == ({"drafter"} if options.get("method") == "single" else
                       {"ensemble"} if options.get("method") == "unite" else sources)
    assert all(len(e.top_logprobs) <= 3 for e in entries)
    stream = client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=24, logprobs=True, top_logprobs=3,
                                            extra_body=options, seed=options.get("seed"), stream=True)
    streamed, text = [], ""
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            streamed += (chunk.choices[0].logprobs.content if chunk.choices[0].logprobs else None) or []
    assert text == reply.choices[0].message.content
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in entries]


def test_text_completion_logprobs_in_the_legacy_shape(client):
    reply = client.completions.create(model="tiny", prompt="Name a river.", max_tokens=12, logprobs=2)
    lp = reply.choices[0].logprobs
    assert "".join(lp.tokens) == reply.choices[0].text
    assert all(v <= 0 for v in lp.token_logprobs) and all(len(t) <= 2 for t in lp.top_logprobs)
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]


def test_no_logprobs_unless_asked(client):
    assert client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=4).choices[0].logprobs is None


@pytest.mark.parametrize("body, says", [
    ({"top_logprobs": 3}, "top_logprobs needs logprobs: true"),
    ({"logprobs": True, "top_logprobs": 21}, "must be from 0 to 20"),
    ({"logprobs": "yes"}, "valid boolean"),
])
def test_bad_logprob_requests_are_a_400(tiny_server, body, says):
    status, _, reply = request(tiny_server, "POST", "/v1/chat/completions", {"messages": QUESTION, **body})
    assert status == 400 and says in reply["error"]["message"], reply


def test_echo_with_logprobs_is_a_400(tiny_server):
    status, _, reply = request(tiny_server, "POST", "/v1/completions", {"prompt": "Hi", "echo": True, "logprobs": 1})
    assert status == 400 and "drop one of them" in reply["error"]["message"], reply
