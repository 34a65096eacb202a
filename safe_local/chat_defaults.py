"""The chat's sampling defaults: what a new conversation generates with, chosen by measurement.

Greedy decoding is the engine's default because benchmarks need it (`eval`, `run` and the API
stay greedy); in a chat it makes small models loop. `CHAT_SAMPLING` holds the GenerationConfig
options a chat starts from instead, measured on open-ended prompts by scripts/chat_defaults.py
(docs/chat-defaults.md has the table and the reasons). The chat app (tui.settings) reads them
from here; a preset's options and the user's `[chat]` table still go over them. Left out: the
chat's other defaults (reply length, loop stopping), which are the app's.
"""

from __future__ import annotations

from typing import Any

# The row of docs/chat-defaults.md with the fewest replies ending in a loop (0 of 16, drafter
# alone and tiny ensemble) and the most varied words, by the rule fixed before the run.
# Temperature, top-p and min-p are llama.cpp's sampler defaults (llama-cpp-python's too); the
# repeat penalty 1.1 over the last 64 tokens (repeat_last_n 64 is GenerationConfig's) is ollama's,
# whose top-p is 0.9 and which uses no min-p. Both also keep only the top 40 tokens; there is no
# such cut here.
CHAT_SAMPLING: dict[str, Any] = {
    "temperature": 0.8,
    "top_p": 0.95,
    "min_p": 0.05,
    "repeat_penalty": 1.1,
}
