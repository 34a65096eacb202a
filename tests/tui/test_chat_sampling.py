"""The chat's sampling defaults and the penalty fields of the settings form."""

from __future__ import annotations

from safe_local.chat_defaults import CHAT_SAMPLING
from safe_local.engine import GenerationConfig
from tests.tui.conftest import SIZE
from tui.settings import ChatSettings
from tui.settings_screen import SettingsScreen


def test_a_new_chat_samples_with_the_measured_defaults_and_the_engine_accepts_them():
    options = ChatSettings().stream_options()
    assert {k: options[k] for k in CHAT_SAMPLING} == CHAT_SAMPLING
    assert options["temperature"] > 0  # not the engine's greedy default
    config = GenerationConfig(**options)
    config.validate(3)
    # A conversation stored before the penalties existed gets the chat's defaults for them.
    stored = ChatSettings.from_dict({"temperature": 0.0, "method": "single"})
    assert stored.temperature == 0.0 and stored.repeat_penalty == ChatSettings().repeat_penalty
    assert ChatSettings.from_dict(ChatSettings().to_dict()) == ChatSettings()


async def test_penalties_set_in_the_form_reach_the_settings(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        app.screen.query_one("#repeat_penalty").value = "0"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen), "a repeat penalty of 0 is refused"
        assert "repeat_penalty" in str(app.screen.query_one("#settings-error").render())
        for field, value in (("repeat_penalty", "1.3"), ("min_p", "0.1"), ("presence_penalty", "0.5"),
                             ("dry_multiplier", "0.8")):
            app.screen.query_one(f"#{field}").value = value
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)
        s = app.settings
        assert (s.repeat_penalty, s.min_p, s.presence_penalty, s.dry_multiplier) == (1.3, 0.1, 0.5, 0.8)
