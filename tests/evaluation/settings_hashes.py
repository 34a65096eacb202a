"""Settings hashes computed independently of evaluation.methods, for tests that compare with stored ones."""

from __future__ import annotations

import hashlib
import json


def settings_hash(settings: dict) -> str:
    """The hash of stored settings, as the results files key them (12 hex digits of sha256)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:12]


def without_code(settings: dict) -> str:
    """The hash of the settings without the code that answered: what it was before the code was in them."""
    return settings_hash({k: v for k, v in settings.items() if k != "code"})
