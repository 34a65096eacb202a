"""ollama's request fields read as ollama means them: names and tags, limits, keep_alive, and the
fields refused by name (pure logic, no models)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safe_local.backend.chat_template import RAW
from safe_local.errors import SafeLocalError
from safe_local.server.ollama import ollama_name
from safe_local.server.ollama_schema import OllamaChat, OllamaGenerate

ASK = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("model_id, name", [
    ("tiny", "tiny:latest"), ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b:latest"),
    ("qwen2.5-coder-0.5b:Q8_0", "qwen2.5-coder-0.5b:Q8_0"), ("owner/repo/file.gguf", "owner/repo/file.gguf:latest"),
    ("owner/repo:Q4_K_M", "owner/repo:Q4_K_M"),
])
def test_names_get_ollamas_latest_tag_unless_they_have_a_tag(model_id, name):
    assert ollama_name(model_id) == name


@pytest.mark.parametrize("keep_alive, unload", [
    (0, True), (0.0, True), ("0", True), ("0s", True), ("0m", True), (" 0 ", True),
    (-1, False), ("5m", False), (300, False), ("10s", False), (None, False), ("", False),
])
def test_keep_alive_zero_and_only_zero_unloads(keep_alive, unload):
    assert OllamaChat(messages=ASK, keep_alive=keep_alive).unload_after is unload


def test_num_predict_absent_or_negative_means_until_the_context_is_full():
    assert OllamaChat(messages=ASK).until_full() and OllamaChat(messages=ASK, options={"num_predict": -2}).until_full()
    limited = OllamaChat(messages=ASK, options={"num_predict": 7, "temperature": 0.3, "weights": [2, 1]})
    assert not limited.until_full()
    assert limited.engine_options() == {"max_tokens": 7, "temperature": 0.3, "weights": [2, 1]}
    assert "max_tokens" not in OllamaChat(messages=ASK, options={"num_predict": -1}).engine_options()
    for bad in (0, -3, 2.5, "12"):
        with pytest.raises(SafeLocalError, match="num_predict"):
            OllamaChat(messages=ASK, options={"num_predict": bad}).engine_options()


def test_num_ctx_up_to_the_servers_context():
    assert OllamaChat(messages=ASK, options={"num_ctx": 512}).context_limit(2048) == 512
    assert OllamaChat(messages=ASK, options={"num_ctx": 2048}).context_limit(2048) is None  # the server's own
    assert OllamaChat(messages=ASK).context_limit(2048) is None
    with pytest.raises(SafeLocalError, match="--ctx 4096"):
        OllamaChat(messages=ASK, options={"num_ctx": 4096}).context_limit(2048)


def test_null_options_are_absent_and_unknown_ones_are_named():
    body = OllamaChat(messages=ASK, options={"temperature": None, "top_k": 40, "num_gpu": 1, "min_p": 0.1},
                      surprise=1, think=True)
    assert [field for field, _ in body.unsupported()] == ["surprise", "think", "options.top_k", "options.num_gpu"]
    assert body.engine_options() == {"min_p": 0.1}


def test_generate_builds_the_conversation_ollama_would():
    assert OllamaGenerate(prompt="hi", system="be brief").engine_messages() == [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert OllamaGenerate(prompt="1, 2,", raw=True).engine_messages() == [{"role": RAW, "content": "1, 2,"}]
    refused = OllamaGenerate(prompt="x", raw=True, system="s", suffix="y", template="t", context=[1], images=["aGk="])
    assert {field for field, _ in refused.unsupported()} == {"system", "suffix", "template", "context", "images"}
    assert OllamaGenerate(prompt="x", context=[]).unsupported() == []


@given(st.dictionaries(st.sampled_from(["temperature", "top_p", "min_p", "seed", "repeat_penalty", "stop",
                                        "num_predict", "num_ctx", "method", "chunk"]),
                       st.integers(1, 5)))
def test_every_supported_option_is_taken_or_checked_never_refused(options):
    assert OllamaChat(messages=ASK, options=options).unsupported() == []
