"""config.load_config: missing file, a whole table, one-line syntax errors."""

from __future__ import annotations

import pytest

from safe_local.config import config_path, load_config
from safe_local.errors import SafeLocalError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path))


def test_missing_file_is_an_empty_config():
    assert not config_path().exists()
    assert load_config() == {}


def test_the_whole_table_is_returned_for_every_reader():
    config_path().parent.mkdir(parents=True)
    config_path().write_text('[chat]\nmax_tokens = 64\n[keybindings]\nnewline = "ctrl+j"\n', encoding="utf-8")
    assert load_config() == {"chat": {"max_tokens": 64}, "keybindings": {"newline": "ctrl+j"}}


def test_syntax_error_names_the_file_and_line():
    config_path().parent.mkdir(parents=True)
    config_path().write_text('[chat]\nmax_tokens = 64\noops = \n', encoding="utf-8")
    with pytest.raises(SafeLocalError) as exc:
        load_config()
    message = str(exc.value)
    assert message.startswith(f"syntax error in config file {config_path()}:3: ")
    assert message.endswith("fix or remove the file") and "\n" not in message
