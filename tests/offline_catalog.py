"""Offline-model catalog text (offline.toml tables) for tests that stand in a model of their own."""

from __future__ import annotations

import hashlib


def model_entry(name: str, file: str, data: bytes, parts: list[str], sha256: str | None = None) -> str:
    """A [models.NAME] table for a model whose bytes are ``data``; ``parts`` are TOML inline tables, in order."""
    return f"""
[models."{name}"]
display_name = "Fake"
family = "fake"
license = "none"
file = "{file}"
size = {len(data)}
sha256 = "{sha256 or hashlib.sha256(data).hexdigest()}"
parts = [{", ".join(parts)}]
"""
