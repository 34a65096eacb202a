"""`safe-local chat`: its options reach the app (preset, models, history file, user config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from safe_local.cli import build_parser, main
from safe_local.commands.chat import chat_command, make_app
from tui.app import ChatApp


def test_chat_is_a_subcommand_with_preset_or_models():
    args = build_parser().parse_args(["chat", "--preset", "tiny"])
    assert args.handler is chat_command and args.preset == "tiny" and args.models is None


def test_preset_and_models_exclude_each_other(capsys):
    assert main(["chat", "--preset", "tiny", "--models", "a,b"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_options_and_config_reach_the_app(home, tmp_path):
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text('[chat]\nmax_tokens = 77\n[keybindings]\nhelp = "f2"\n')
    app = make_app(build_parser().parse_args(["chat", "--models", "smollm2-135m, gemma3-270m", "--db",
                                              str(tmp_path / "h.sqlite3")]))
    assert app.defaults.models == ["smollm2-135m", "gemma3-270m"] and app.defaults.preset is None
    assert app.defaults.max_tokens == 77 and app.keymap == {"help": "f2"}
    assert app.history.path == tmp_path / "h.sqlite3"
    app.history.close()

    preset = make_app(build_parser().parse_args(["chat", "--preset", "tiny", "--db", str(tmp_path / "h.sqlite3")]))
    assert preset.defaults.preset == "tiny" and preset.defaults.method == "safe" and preset.defaults.models == []
    preset.history.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["chat", "--preset", "nope"], "unknown preset 'nope'"),
        (["chat", "--models", "nosuch,smollm2-135m"], "unknown model 'nosuch'"),
        (["chat", "--models", ","], "names no model"),
        (["chat", "--db", "/nonexistent/dir/x.sqlite3"], "its directory does not exist"),
    ],
)
def test_a_bad_choice_fails_before_the_app_opens(args, message, home, capsys, monkeypatch):
    monkeypatch.setattr(ChatApp, "run", lambda self: pytest.fail("the app opened"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not Path("/nonexistent").exists()


def test_a_known_model_not_downloaded_yet_opens_the_app_to_pull_it(home, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(ChatApp, "run", lambda self: (opened.append(self.defaults.models), self.history.close()))
    assert main(["chat", "--models", "qwen2.5-0.5b,smollm2-135m", "--db", str(tmp_path / "h.sqlite3")]) == 0
    assert opened == [["qwen2.5-0.5b", "smollm2-135m"]]


def test_bad_config_is_a_one_line_error(home, capsys):
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text("[chat\n")
    assert main(["chat"]) == 2
    assert "syntax error in config file" in capsys.readouterr().err


def test_without_a_choice_the_chat_starts_on_the_default_presets_options(home, tmp_path):
    db = ["--db", str(tmp_path / "h.sqlite3")]
    plain = make_app(build_parser().parse_args(["chat", *db]))
    # The default preset's weights, as `safe-local run` uses them, and its name, so a stored
    # conversation keeps tiny when the default preset changes later.
    assert (plain.defaults.preset, plain.defaults.models) == ("tiny", [])
    assert plain.defaults.weights == [4.0, 1.0, 1.0] and plain.defaults.method == "safe"
    plain.history.close()

    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text("[chat]\nweights = [1, 1, 3]\n")
    configured = make_app(build_parser().parse_args(["chat", *db]))
    assert configured.defaults.weights == [1.0, 1.0, 3.0]  # the [chat] table over the preset
    configured.history.close()

    (home / "config" / "config.toml").write_text(
        '[chat]\npreset = "mine"\nchunk = 5\n[presets.mine]\nmodels = ["smollm2-135m", "gemma3-270m"]\n'
        'base = "gac"\nweights = [3, 1]\n[presets.mine.defaults]\nchunk = 2\nsharpening = "geometric"\n')
    chosen = make_app(build_parser().parse_args(["chat", *db]))
    s = chosen.defaults
    assert (s.preset, s.base, s.weights, s.sharpening, s.chunk) == ("mine", "gac", [3.0, 1.0], "geometric", 5)
    chosen.history.close()

    # --preset wins over the [chat] table; models (given or in [chat]) take no preset's options.
    explicit = make_app(build_parser().parse_args(["chat", "--preset", "tiny", *db])).defaults
    assert (explicit.preset, explicit.weights, explicit.chunk) == ("tiny", [4.0, 1.0, 1.0], 5)
    (home / "config" / "config.toml").write_text('[chat]\npreset = "tiny"\nmodels = ["smollm2-135m"]\n')
    listed = make_app(build_parser().parse_args(["chat", *db])).defaults
    assert (listed.preset, listed.models, listed.weights, listed.method) == (None, ["smollm2-135m"], None, "single")
