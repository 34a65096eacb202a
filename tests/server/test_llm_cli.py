"""simonw/llm as a real client: a model added through extra-openai-models.yaml answers through the
server, streamed and not, with the engine's reply and token counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from safe_local.api import config_for, make_messages
from safe_local.store import load_catalog

PROMPT = "What is the capital of France? Answer in one sentence."
LLM = str(Path(sys.executable).parent / "llm")


def test_llm_answers_through_extra_openai_models_yaml(tiny_server, tmp_path, trio):
    (tmp_path / "extra-openai-models.yaml").write_text(
        f'- model_id: safe-tiny\n  model_name: tiny\n  api_base: "{tiny_server.base_url}"\n')
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"LLM_USER_PATH": str(tmp_path)}

    def llm(*args: str) -> str:
        p = subprocess.run([LLM, *args], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stdout

    ref = trio.generate(make_messages(PROMPT), config_for(3, load_catalog().presets["tiny"].generation_options(),
                                                          {"max_tokens": 12}))
    assert "safe-tiny" in llm("models")
    assert llm("-m", "safe-tiny", "-o", "max_tokens", "12", PROMPT).strip() == ref.text.strip()  # streams
    assert llm("-m", "safe-tiny", "--no-stream", "-o", "max_tokens", "12", PROMPT).strip() == ref.text.strip()
    logged = json.loads(llm("logs", "-n", "1", "--json"))[0]
    assert (logged["input_tokens"], logged["output_tokens"]) == (ref.stats.prompt_tokens, ref.stats.tokens)
