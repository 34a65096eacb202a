"""A preset's sampling and repetition-penalty options: read, checked, and handed to the engine."""

from __future__ import annotations

import pytest

from safe_local.api import config_for
from safe_local.errors import SafeLocalError
from safe_local.store import load_catalog
from tests.store.test_catalog import write_config


def test_a_presets_penalties_reach_the_generation_config():
    write_config('''
[presets.chatty]
models = ["qwen2.5-coder-0.5b", "smollm2-135m"]
[presets.chatty.defaults]
temperature = 0.7
min_p = 0.05
repeat_penalty = 1.1
dry_multiplier = 0.8
dry_sequence_breakers = ["\\n", "."]
''')
    options = load_catalog().presets["chatty"].generation_options()
    config = config_for(2, options, {"presence_penalty": 0.5})
    assert (config.min_p, config.repeat_penalty, config.dry_multiplier, config.presence_penalty) == (0.05, 1.1, 0.8, 0.5)
    assert config.dry_sequence_breakers == ("\n", ".")


@pytest.mark.parametrize("option, message", [
    ('repeat_penalty = "strong"', "repeat_penalty must be a number, got 'strong'"),
    ("dry_allowed_length = 1.5", "dry_allowed_length must be a whole number, got 1.5"),
    ("dry_sequence_breakers = [1]", "dry_sequence_breakers must be a list of non-empty strings"),
])
def test_wrongly_typed_penalties_in_a_preset_are_one_line_errors(option, message):
    write_config(f'[presets.x]\nmodels = ["smollm2-135m", "gemma3-270m"]\n[presets.x.defaults]\n{option}')
    with pytest.raises(SafeLocalError, match=message) as exc:
        load_catalog()
    assert "\n" not in str(exc.value)
