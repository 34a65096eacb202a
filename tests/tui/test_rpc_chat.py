"""The chat with a model on a real llama.cpp RPC server (127.0.0.1) that dies mid-reply."""

from __future__ import annotations

from safe_local import Ensemble
from safe_local.backend import LoadOptions
from safe_local.backend.remote import RemoteModel
from safe_local.backend.rpc import LoopbackServer
from safe_local.history import History
from tests.tui.conftest import GREEDY, SIZE, send, wait_for
from tui.app import ChatApp
from tui.turns import AssistantTurn


async def test_a_server_lost_mid_reply_ends_it_with_the_error_and_the_history_keeps_it(home, tmp_path, qwen, smol):
    server = LoopbackServer()
    remote = RemoteModel(smol.path, "smollm2-135m", LoadOptions(n_ctx=2048, rpc=server.endpoint))
    try:
        ensemble = Ensemble([qwen, remote], {"method": "safe"})
        app = ChatApp(ensemble=ensemble, history=tmp_path / "history.sqlite3",
                      config={"chat": {"max_tokens": 400, **GREEDY}})
        async with app.run_test(size=SIZE) as pilot:
            await send(pilot, "Write a long story about a dragon who bakes bread.")
            turn = app.query_one(AssistantTurn)
            await wait_for(pilot, lambda: len(turn.text) > 10)
            server.stop()  # killed: ggml would abort a process that held the model itself
            await wait_for(pilot, lambda: app.reply.finished.is_set())
            await pilot.pause()
            failed = [n.message for n in app._notifications if n.title == "Reply failed"]
            assert failed and f"smollm2-135m on RPC server {server.endpoint} is lost" in failed[0]
            assert turn.status == "error" and app.is_running
            text, conversation = turn.text, app.reply.conversation_id
        with History(tmp_path / "history.sqlite3") as h:
            user, stored = h.messages(conversation)
        assert user.content.startswith("Write a long story") and stored.status == "error" and stored.content == text
    finally:
        remote.close()
        server.stop()
