"""Pilot tests of the chat app on the real offline models (headless, `App.run_test`)."""

from __future__ import annotations

from dataclasses import replace

from safe_local.history import History
from tests.tui.conftest import SIZE, reply_done, send, wait_for
from tui import catalog
from tui.composer import Composer
from tui.help import HelpScreen
from tui.inspector import InspectorScreen
from tui.picker import Choice
from tui.settings_screen import SettingsScreen
from tui.sidebar import ConversationList
from tui.status import StatusLine
from tui.token_view import TokenView
from tui.turns import AssistantTurn, UserTurn


def status_text(app) -> str:
    return str(app.query_one(StatusLine).render())


async def test_send_streams_a_reply_and_saves_it(make_app):
    app = make_app(max_tokens=24)
    chunks, statuses = [], []

    def on_chunk(reply, text, events):
        chunks.append(text)
        statuses.append(status_text(app))
        original(reply, text, events)

    async with app.run_test(size=SIZE) as pilot:
        original, app._on_chunk = app._on_chunk, on_chunk
        await send(pilot, "What is the capital of France? Answer in one sentence.")
        assert [t.text for t in app.query(UserTurn)] == ["What is the capital of France? Answer in one sentence."]
        assert app.query_one(Composer).text == ""
        await reply_done(pilot)
        assert statuses and all("generating" in s for s in statuses)
        (turn,) = app.query(AssistantTurn)
        assert turn.text.strip(), "the models replied"
        assert "".join(chunks) == turn.text  # the reply arrived as streamed batches
        assert turn.status == "done"
        from textual.widgets import Markdown

        assert turn.query_one(Markdown).source == turn.text
        status = status_text(app)
        assert "tok/s" in status and "E/T" in status and "safe/unite" in status
        assert "qwen2.5-coder-0.5b" in status and "ctx " in status
        stored = app.history.messages(app.conversation.id)
        assert [(m.role, m.status) for m in stored] == [("user", "done"), ("assistant", "done")]
        assert stored[1].content == turn.text
        assert stored[1].meta["figures"]["tokens"] <= 24


async def test_escape_stops_at_once_keeps_text_and_next_reply_works(make_app):
    app = make_app(max_tokens=400)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Write a long story about a dragon who learns to bake bread.")
        turn = app.query_one(AssistantTurn)
        await wait_for(pilot, lambda: len(turn.text) > 10)
        await pilot.press("escape")
        kept = turn.text
        assert turn.status == "stopped"
        assert "generating" not in status_text(app)
        await wait_for(pilot, lambda: app.reply.finished.is_set())
        assert turn.text == kept, "nothing is added after Esc"
        assert app.reply.cancel.is_set()
        assert app.figures.stop_reason == "cancelled"
        stored = app.history.messages(app.conversation.id)[-1]
        assert (stored.content, stored.status) == (kept, "stopped")

        app.settings.max_tokens = 12
        await send(pilot, "Say hello.")
        await reply_done(pilot)
        second = list(app.query(AssistantTurn))[-1]
        assert second is not turn and second.text and second.status == "done"
        assert app.figures.stop_reason in ("eos", "length")


async def test_escape_before_any_text_gives_the_prompt_back(make_app):
    app = make_app(max_tokens=64)
    async with app.run_test(size=SIZE) as pilot:
        app.send("Tell me about rivers.")  # no wait for idle: Esc comes before the first text can
        await pilot.press("escape")
        assert app.query_one(Composer).text == "Tell me about rivers."
        assert not app.query(UserTurn) and not app.query(AssistantTurn)
        await wait_for(pilot, lambda: app.reply.finished.is_set())
        assert app.history.list_conversations() == []
        assert not app.query(AssistantTurn), "a late result does not bring the withdrawn reply back"
        await pilot.press("enter")  # the restored prompt is sent normally
        await reply_done(pilot)
        assert app.query_one(AssistantTurn).text and app.query_one(AssistantTurn).status == "done"


async def test_history_is_reloaded_by_a_new_app(make_app, tmp_path):
    first = make_app(max_tokens=12)
    async with first.run_test(size=SIZE) as pilot:
        await send(pilot, "Name one planet.")
        await reply_done(pilot)
        reply = first.query_one(AssistantTurn)
        text, events = reply.text, reply.events
        conv_id = first.conversation.id

    second = make_app()
    async with second.run_test(size=SIZE) as pilot:
        sidebar = second.query_one(ConversationList)
        assert sidebar.option_count == 1 and str(sidebar.get_option_at_index(0).prompt) == "Name one planet."
        sidebar.focus()
        sidebar.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert second.conversation.id == conv_id
        assert [t.text for t in second.query(UserTurn)] == ["Name one planet."]
        reloaded = second.query_one(AssistantTurn)
        assert reloaded.text == text and reloaded.events == events
        assert second.figures is not None and "tok/s" in status_text(second)


async def test_inspector_shows_a_real_ensembled_position(make_app):
    app = make_app(max_tokens=40)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "List three colours of the rainbow, comma separated.")
        await reply_done(pilot)
        turn = app.query_one(AssistantTurn)
        assert turn.events, "SAFE ensembled at least one position of this reply"
        await pilot.press("ctrl+t")
        assert turn.show_votes and turn.token_view.active
        assert turn.token_view.display and not turn.query_one(".body").display
        await pilot.press("ctrl+g")
        view = turn.query_one(TokenView)
        assert view.has_focus and view.selected == len(turn.events) - 1
        if len(turn.events) > 1:
            await pilot.press("left")
            assert view.selected == len(turn.events) - 2
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, InspectorScreen)
        event = turn.events[view.selected]
        summary = str(screen.query_one("#summary").render())
        assert f"position {event.index + 1} of {len(turn.events)}" in summary
        assert f"C2 {event.c2:.3f}" in summary
        for m, model in enumerate(event.models):
            box = screen.query_one(f"#model-{m}")
            block = str(box.render())
            assert model.name in box.border_title and f"p={model.prob:.3f}" in block
            assert f"{model.top[0][1]:5.3f}" in block and "share among the union's strings" in block
        ensemble_block = str(screen.query_one("#ensemble").render())
        assert f"{event.top[0][1]:5.3f}" in ensemble_block and "chose" in ensemble_block
        await pilot.press("escape")
        assert not isinstance(app.screen, InspectorScreen)


async def test_settings_changes_reach_the_engine(make_app):
    app = make_app(max_tokens=32)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#method").value = "single"
        screen.query_one("#max_tokens").value = "6"
        screen.query_one("#system").text = "You answer in French."
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)
        assert app.settings.method == "single" and app.settings.max_tokens == 6
        assert "single" in status_text(app)
        await send(pilot, "Say good morning.")
        await reply_done(pilot)
        figures = app.figures
        assert figures.method == "single" and figures.models == ["qwen2.5-coder-0.5b"]
        assert figures.tokens <= 6
        assert not app.query_one(AssistantTurn).events
        stored = app.history.get(app.conversation.id).settings
        assert stored["method"] == "single" and stored["system"] == "You answer in French."


async def test_a_reply_that_loops_is_ended_and_the_chat_says_why(make_app):
    app = make_app(max_tokens=512)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        switch = app.screen.query_one("#stop_loops")
        assert switch.value is True, "a chat stops loops unless told otherwise"
        app.screen.query_one("#method").value = "single"  # the drafter alone: the loop comes sooner
        await pilot.press("ctrl+s")
        await pilot.pause()
        await send(pilot, 'Repeat the word "hello" 300 times.')
        await reply_done(pilot)
        assert app.figures.stop_reason == "loop" and app.figures.tokens < 512
        assert app.query_one(AssistantTurn).text.count("hello") >= 100
        assert "loop stopped" in status_text(app)
        assert any(n.title == "Loop stopped" for n in app._notifications)

        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.click("#stop_loops")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.settings.stop_loops is False
        assert app.history.get(app.conversation.id).settings["stop_loops"] is False


async def test_bad_settings_stay_in_the_form(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#weights").value = "1,2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        assert "weights" in str(app.screen.query_one("#settings-error").render())
        assert app.settings.weights is None


async def test_prompt_too_long_is_a_notification_not_a_crash(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        long_prompt = "word " * 3000
        await send(pilot, long_prompt)
        await reply_done(pilot)
        assert any("context" in n.message for n in app._notifications)
        assert app.query_one(Composer).text == long_prompt.strip()
        assert not app.query(AssistantTurn)
        assert app.is_running


async def test_keybindings_from_config_and_help(make_app):
    app = make_app(config={"keybindings": {"help": "f2", "bogus": "x"}})
    async with app.run_test(size=SIZE) as pilot:
        assert any("bogus" in n.message for n in app._notifications)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "f2" in str(app.screen.query("Static").last().render())
        await pilot.press("escape")
        await pilot.press("f1")  # the old key no longer opens help
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_rename_export_delete(make_app, home):
    app = make_app(max_tokens=8)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        await reply_done(pilot)
        conv_id = app.conversation.id
        await pilot.press("ctrl+r")
        await pilot.pause()
        app.screen.query_one("#answer").value = "Greetings"
        await pilot.press("enter")
        await pilot.pause()
        assert app.history.get(conv_id).title == "Greetings"
        await pilot.press("ctrl+s")
        exported = home / "data" / "exports" / f"greetings-{conv_id}.md"
        assert exported.read_text().startswith("# Greetings\n")
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.history.list_conversations() == [] and app.conversation is None
        assert not app.query(UserTurn)
    with History(app.history.path) as h:
        assert h.list_conversations() == []


async def test_missing_model_is_a_notification_and_the_app_keeps_working(home, tmp_path):
    from tui.app import ChatApp

    app = ChatApp(models=["no-such-model"], history=tmp_path / "h.sqlite3")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(n.title == "Cannot load models" for n in app._notifications))
        assert any("no-such-model" in n.message for n in app._notifications)
        assert app.ensemble is None and "no models loaded" in status_text(app)
        await send(pilot, "Hello?")
        await reply_done(pilot)
        assert any(n.title == "Reply failed" and "no-such-model" in n.message for n in app._notifications)
        assert app.query_one(Composer).text == "Hello?" and not app.query(UserTurn)
        assert app.is_running


async def test_quitting_mid_reply_keeps_the_text_as_stopped(make_app, ensemble):
    app = make_app(max_tokens=400)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Write a long poem about the sea.")
        turn = app.query_one(AssistantTurn)
        await wait_for(pilot, lambda: len(turn.text) > 10)
        reply = app.reply
    assert reply.finished.is_set() and reply.cancel.is_set()
    with History(app.history.path) as h:
        stored = h.messages(reply.conversation_id)[-1]
    assert stored.status == "stopped" and stored.content == turn.text and len(stored.content) > 10
    assert ensemble.generate("Hi", max_tokens=2).text is not None  # the engine is free again


async def test_a_new_chat_takes_the_defaults_of_the_ensemble_it_is_on(make_app, home):
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text(
        '[presets.pair]\nmodels = ["smollm2-135m", "gemma3-270m"]\nweights = [3, 1]\n')
    app = make_app(max_tokens=8, config={"chat": {"temperature": 0.5}})
    async with app.run_test(size=SIZE) as pilot:
        app.apply_settings(catalog.apply_preset(app.settings, "pair"))  # what picking it does
        await pilot.press("ctrl+n")
        s = app.settings
        assert (s.preset, s.weights, s.temperature, s.max_tokens) == ("pair", [3.0, 1.0], 0.5, 8)
        app.apply_settings(catalog.apply_choice(app.settings, Choice("model", "smollm2-135m", ["smollm2-135m"], "", True)))
        await pilot.press("ctrl+n")
        assert (app.settings.models, app.settings.method, app.settings.weights) == (["smollm2-135m"], "single", None)
        app.apply_settings(replace(app.defaults, temperature=0.9))  # back on the first ensemble
        await pilot.press("ctrl+n")
        assert app.settings == app.defaults


async def test_after_a_safe_reply_the_verifiers_are_caught_up(make_app, ensemble, monkeypatch):
    # 4,1,1 lets the drafter decide most positions alone, so the verifiers lag during the reply;
    # the chat decodes the finished reply into them while the user reads.
    app = make_app(max_tokens=48, config={"chat": {"weights": [4, 1, 1]}})
    lagging = []
    catch_up = ensemble.engine.catch_up

    def watched(messages, reply):
        lagging.extend(m.name for m in ensemble.models[1:]
                       if m.cached_tokens != m.prompt_tokens(list(messages)) + m.tokenize(reply.encode()))
        catch_up(messages, reply)

    monkeypatch.setattr(ensemble.engine, "catch_up", watched)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Name three rivers in Europe.")
        await reply_done(pilot)
        turn = app.query_one(AssistantTurn)
        assert turn.status == "done" and turn.text.strip()
        messages = [{"role": "user", "content": "Name three rivers in Europe."}]
        for model in ensemble.models[1:]:
            assert model.cached_tokens == model.prompt_tokens(messages) + model.tokenize(turn.text.encode()), model.name
    assert lagging, "some verifier was behind the reply when the chat caught it up"
