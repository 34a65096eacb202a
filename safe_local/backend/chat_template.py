"""Render a conversation into a model's prompt text with the model's own chat template.

Each model in an ensemble keeps its own prompt format; only the generated text is shared.
The template comes from the GGUF metadata (`tokenizer.chat_template`); a base model without
one gets its family's turn format from `models/chat_templates.toml`. Rendering uses
llama-cpp-python's Jinja2ChatFormatter (the same sandboxed Jinja environment as Transformers),
so we do not re-implement template semantics. Tool calls and images are left out.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Sequence

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from safe_local.errors import SafeLocalError

ROLES = ("system", "user", "assistant")


@cache
def _family_templates() -> dict[str, str]:
    data = tomllib.loads(resources.files("safe_local.catalog").joinpath("chat_templates.toml").read_text("utf-8"))
    return {arch: entry["template"] for entry in data.values() for arch in entry["architectures"]}


@dataclass
class ChatTemplate:
    source: str  # "gguf" or "family:<architecture>"
    formatter: Jinja2ChatFormatter

    @classmethod
    def for_model(cls, name: str, architecture: str, embedded: str | None, bos_token: str, eos_token: str) -> "ChatTemplate":
        if embedded:
            template, source = embedded, "gguf"
        elif architecture in _family_templates():
            template, source = _family_templates()[architecture], f"family:{architecture}"
        else:
            raise SafeLocalError(
                f"{name}: the GGUF has no chat template and there is no default for architecture "
                f"'{architecture}': use an instruct model that ships a template"
            )
        return cls(source, Jinja2ChatFormatter(template, eos_token=eos_token, bos_token=bos_token))

    def render(self, messages: Sequence[dict]) -> str:
        for m in messages:
            if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise SafeLocalError(f"bad message {m!r}: each message needs a role in {ROLES} and a text content")
        return self.formatter(messages=list(messages)).prompt
