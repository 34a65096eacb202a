"""Many clients at once, clients that hang up, a full queue, an API key and Ctrl+C, on a real
server running SmolLM2 alone (fast enough to keep these tests short)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from safe_local.api import config_for
from safe_local.engine import Engine
from tests.server.conftest import RawStream, request, start_server, wait_for

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LONG = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Write a very long story about a cat."}],
        "max_tokens": 1000, "stream": True}


@pytest.fixture(scope="module")
def small(tmp_path_factory, offline_model_paths):
    server = start_server(tmp_path_factory.mktemp("small-server"), "--models", "smollm2-135m", "--queue", "8",
                          "--api-key", KEY, "--ctx", "1024")
    yield server
    assert server.stop() == 0, server.log.read_text()


def _ask(server, content: str, max_tokens: int, **extra) -> tuple[int, dict, dict]:
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, **extra}
    return request(server, "POST", "/v1/chat/completions", body, AUTH)


def _streaming(server, body=LONG) -> RawStream:
    """A long reply in progress: its first content has arrived."""
    stream = RawStream(server, body, AUTH)
    events = stream.events()
    next(events)  # the role chunk
    next(events)  # the first text
    return stream


def test_an_api_key_is_required_everywhere_but_health(small):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        status, _, reply = request(small, "POST", "/v1/chat/completions", b"{not json", headers)
        assert status == 401 and reply["error"]["code"] == "invalid_api_key"
        assert request(small, "GET", "/v1/models", None, headers)[0] == 401
    assert request(small, "GET", "/v1/models", None, AUTH)[0] == 200
    assert small.client(api_key=KEY).models.list().data
    assert request(small, "GET", "/health")[0] == 200


def test_eight_concurrent_clients_each_get_their_whole_reply_in_arrival_order(small, smol):
    prompts = [f"Say the number {i} in words." for i in range(8)]
    alone = Engine([smol])
    expected = []
    for p in prompts:  # each from empty caches, as the server is asked to (a near-tie may fall either way otherwise)
        alone.reset_caches()
        expected.append(alone.generate([{"role": "user", "content": p}], config_for(1, {}, {"max_tokens": 8})))
    replies: dict[int, dict] = {}
    finished: list[int] = []

    def client(i: int) -> None:
        status, _, reply = _ask(small, prompts[i], 8, cache_prompt=False)
        assert status == 200, reply
        replies[i] = reply
        finished.append(i)

    hold = _streaming(small)  # a reply in progress, so the eight queue up in a known order
    threads = []
    for i in range(8):
        threads.append(threading.Thread(target=client, args=(i,)))
        threads[-1].start()
        wait_for(lambda n=i + 1: small.health()["queued"] == n, 30, f"client {i} in line")
    hold.hang_up()
    for t in threads:
        t.join(120)
    assert finished == list(range(8))  # first come, first served; none lost
    for i, ref in enumerate(expected):
        assert replies[i]["choices"][0]["message"]["content"] == ref.text
        assert replies[i]["usage"]["completion_tokens"] == ref.stats.tokens


def test_a_full_queue_answers_429_with_retry_after(small):
    hold = _streaming(small)
    results: list[int] = []
    waiting = [threading.Thread(target=lambda: results.append(_ask(small, "Hi", 2)[0])) for _ in range(8)]
    for t in waiting:
        t.start()
    wait_for(lambda: small.health()["queued"] == 8, 30, "eight requests in line")
    status, headers, reply = _ask(small, "Hi", 2)
    assert status == 429 and reply["error"]["code"] == "queue_full" and reply["error"]["type"] == "rate_limit_error"
    assert int(headers["retry-after"]) >= 1
    hold.hang_up()
    for t in waiting:
        t.join(120)
    assert results == [200] * 8


def test_a_client_that_hangs_up_mid_stream_frees_the_ensemble_at_once(small):
    before = _ask(small, "What is 2+2?", 12)[2]["choices"][0]["message"]["content"]
    stream = _streaming(small)
    stream.hang_up()
    # 1000 tokens would take many seconds; a cancel stops at the engine's next step.
    assert wait_for(lambda: not small.health()["generating"], 5, "the generation stopping") < 5
    after = _ask(small, "What is 2+2?", 12)[2]["choices"][0]["message"]["content"]
    assert after == before  # the cancelled reply left the caches consistent


def test_a_client_that_hangs_up_while_waiting_or_before_a_whole_reply_cancels_it(small):
    hold = _streaming(small)
    waiter = RawStream(small, {**LONG, "stream": False}, AUTH)
    wait_for(lambda: small.health()["queued"] == 1, 30, "the second request in line")
    waiter.hang_up()
    wait_for(lambda: small.health()["queued"] == 0, 5, "the request leaving the line")
    hold.hang_up()
    wait_for(lambda: not small.health()["generating"], 5, "the stream stopping")

    whole = RawStream(small, {**LONG, "stream": False}, AUTH)  # waits for the whole reply
    wait_for(lambda: small.health()["generating"], 30, "the generation starting")
    time.sleep(0.3)
    whole.hang_up()
    assert wait_for(lambda: not small.health()["generating"], 5, "the generation stopping") < 5


def test_ctrl_c_stops_the_server_cleanly_in_the_middle_of_a_reply(tmp_path, offline_model_paths):
    server = start_server(tmp_path, "--models", "smollm2-135m")
    stream = RawStream(server, {k: v for k, v in LONG.items() if k != "model"})
    events = stream.events()
    next(events), next(events)
    start = time.monotonic()
    assert server.stop(timeout=30) == 0
    assert time.monotonic() - start < 15
    rest = list(events)  # the reply ends properly: its last chunk says why, then [DONE]
    assert rest[-1] == "[DONE]" and rest[-2]["safe"]["stop_reason"] == "cancelled"
    log = server.log.read_text()
    assert "server stopped" in log and "Traceback" not in log


def test_a_second_ctrl_c_quits_at_once_but_after_the_generation_has_stopped(tmp_path, offline_model_paths):
    server = start_server(tmp_path, "--models", "smollm2-135m")
    streams = [RawStream(server, {k: v for k, v in LONG.items() if k != "model"}) for _ in range(2)]
    events = streams[0].events()
    next(events), next(events)  # one reply in progress, one waiting
    start = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 0
    assert time.monotonic() - start < 15
    log = server.log.read_text()
    assert "server stopped" in log and "did not stop" not in log and "Traceback" not in log, log
