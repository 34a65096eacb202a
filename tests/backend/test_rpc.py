"""Models on llama.cpp RPC servers: real `ggml-rpc-server` processes on 127.0.0.1, real models.

Every server is started by the test on a free loopback port (`make test` builds the binary with
`make rpc-server`), and stopped, killed or frozen by it; nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import numpy as np
import pytest

from safe_local.api import Ensemble
from safe_local.backend import LoadOptions
from safe_local.backend.remote import PER_TOKEN, RemoteModel, RemoteModelLost
from safe_local.backend.rpc import LoopbackServer, server_binary
from safe_local.engine import Engine, GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.events import EnsembleEvent, GenerationResult, TextDelta
from tests.real_models import NAMES, OPTIONS

PROMPTS = ["What is 17 * 23? Answer briefly.", "Name three rivers in Europe.", "Write a haiku about autumn rain."]
GREEDY_SAFE = GenerationConfig(method="safe", max_tokens=40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rpc_servers(tmp_path):
    """start(n) -> n fresh loopback servers (LoopbackServer); all stopped at the end."""
    if not server_binary().is_file():
        pytest.fail(f"{server_binary()} is missing: run `make rpc-server` (make test does)")
    started: list[LoopbackServer] = []

    def start(n: int) -> list[LoopbackServer]:
        for _ in range(n):
            started.append(LoopbackServer(log=tmp_path / f"rpc-{len(started)}.log"))
        return started[-n:]

    yield start
    for server in started:
        if server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)  # a frozen one must wake to die
        server.stop()


def _messages(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def _reply(engine: Engine, prompt: str) -> tuple[GenerationResult, list[tuple[int, str]]]:
    """The greedy SAFE reply and its ensembled positions (index, chosen string)."""
    events = list(engine.stream(_messages(prompt), GREEDY_SAFE))
    return events[-1].result, [(e.index, e.chosen) for e in events if isinstance(e, EnsembleEvent)]


def test_greedy_safe_with_every_model_on_its_own_server_equals_all_local(rpc_servers, trio):
    endpoints = [server.endpoint for server in rpc_servers(3)]
    with Ensemble.load(list(NAMES), placement=dict(zip(NAMES, endpoints)), n_ctx=OPTIONS.n_ctx) as ens:
        assert [type(m) for m in ens.models] == [RemoteModel] * 3
        assert [m.endpoint for m in ens.models] == endpoints
        for prompt in PROMPTS:
            trio.reset_caches()
            ens.engine.reset_caches()
            local, local_votes = _reply(trio, prompt)
            remote, remote_votes = _reply(ens.engine, prompt)
            assert remote.text == local.text and remote.stats.tokens == local.stats.tokens
            assert remote_votes == local_votes  # the same positions put to the vote, the same strings chosen
            assert [m.tokens for m in remote.stats.models] == [m.tokens for m in local.stats.models]


def test_a_name_at_host_port_spec_places_that_model_and_the_rest_stay_here(rpc_servers, trio):
    endpoint = rpc_servers(1)[0].endpoint
    specs = [NAMES[0], NAMES[1], f"{NAMES[2]}@{endpoint}"]
    with Ensemble.load(specs, n_ctx=OPTIONS.n_ctx) as ens:
        assert [type(m).__name__ for m in ens.models] == ["LlamaModel", "LlamaModel", "RemoteModel"]
        assert ens.names == list(NAMES)
        trio.reset_caches()
        local = trio.generate(_messages(PROMPTS[0]), GREEDY_SAFE)
        assert ens.engine.generate(_messages(PROMPTS[0]), GREEDY_SAFE).text == local.text


def test_a_server_that_is_down_at_load_is_one_line_naming_it(offline_model_paths):
    port = _free_port()  # nothing listens there
    began = time.monotonic()
    with pytest.raises(SafeLocalError) as e:
        Ensemble.load([NAMES[0], NAMES[2]], placement={NAMES[2]: f"127.0.0.1:{port}"})
    message = str(e.value)
    assert message.startswith(f"RPC server 127.0.0.1:{port} is not reachable") and "\n" not in message
    assert f"ggml-rpc-server -p {port}" in message
    assert time.monotonic() - began < 30  # refused at once, before any model loads


def test_a_server_killed_mid_generation_ends_it_with_an_error_and_the_rest_stays_usable(rpc_servers, qwen, smol):
    server = rpc_servers(1)[0]
    endpoint = server.endpoint
    remote = RemoteModel(smol.path, "smollm2-135m", LoadOptions(n_ctx=OPTIONS.n_ctx, rpc=endpoint))
    try:
        engine = Engine([qwen, remote])
        qwen.reset()
        events = engine.stream(_messages("Write a long story about a dragon who bakes bread."),
                               GenerationConfig(method="safe", max_tokens=400, chunk=4))
        began = None
        with pytest.raises(RemoteModelLost) as lost:
            for event in events:
                if isinstance(event, TextDelta) and began is None:
                    server.process.kill()
                    began = time.monotonic()
        assert began is not None and time.monotonic() - began < 60
        message = str(lost.value)
        assert f"smollm2-135m on RPC server {endpoint} is lost" in message and "\n" not in message
        assert "llama.cpp aborted: " in message  # ggml's own last words, from the child's log
        assert not remote._process.is_alive()
        with pytest.raises(RemoteModelLost):  # and stays lost, at once, without a hang
            remote.evaluate([1, 2, 3], [2])
        # the drafter's cache is consistent: it scores a new prompt as a fresh cache does (up to
        # llama.cpp's batch-shape differences, far below the gap to the runner-up here)
        target = qwen.prompt_tokens(_messages(PROMPTS[0]))
        after = qwen.evaluate(target, [len(target) - 1])[0]
        qwen.reset()
        fresh = qwen.evaluate(target, [len(target) - 1])[0]
        assert after.argmax() == fresh.argmax() and np.abs(after - fresh).max() < 0.5
    finally:
        remote.close()


def test_a_server_that_stops_answering_ends_the_call_after_its_timeout(rpc_servers, smol):
    server = rpc_servers(1)[0]
    remote = RemoteModel(smol.path, "smollm2-135m", LoadOptions(n_ctx=512, rpc=server.endpoint), call_timeout=5)
    try:
        prompt = remote.prompt_tokens(_messages(PROMPTS[1]))
        os.kill(remote._process.pid, signal.SIGINT)  # Ctrl+C is the parent's to handle, not the child's
        remote.evaluate(prompt, [len(prompt) - 1])
        assert remote.cached_tokens == prompt and not remote.lost
        os.kill(server.process.pid, signal.SIGSTOP)  # alive, listening, silent: ggml would wait forever
        began = time.monotonic()
        allowed = 5 + PER_TOKEN * len(prompt)  # the call's timeout grows with the tokens it must decode
        with pytest.raises(RemoteModelLost, match=f"no answer after {allowed:.0f} s while evaluate"):
            remote.evaluate(prompt + prompt, [2 * len(prompt) - 1])
        assert allowed <= time.monotonic() - began < allowed + 30
    finally:
        remote.close()
