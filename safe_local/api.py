"""The Python API: load an ensemble once, then generate or stream replies from it.

    from safe_local import Ensemble
    with Ensemble.load() as ens:  # the default preset, with its options (Ensemble.options)
        result = ens.generate("What is 2+2?", max_tokens=64)
        print(result.text, result.stats.ensemble_rate)
        for event in ens.stream("Tell me a joke", method="safe", base="gac"):
            ...

Models stay loaded (and their KV caches warm) across calls. An ensemble loaded from a preset
(or the default preset) generates with that preset's options (method, base, weights, ...) unless
a call passes its own. The engine does the work; this module only resolves names, loads models
and turns a prompt into messages. Chat history storage is left to the callers (the chat UI keeps
its own).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from safe_local.backend import LlamaModel, LoadOptions, Model
from safe_local.backend.base import Message
from safe_local.backend.chat_template import RAW
from safe_local.backend.remote import RemoteModel, RemoteModelLost
from safe_local.engine import Engine, GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.events import Event, GenerationResult
from safe_local.grammar import Grammar
from safe_local.placement import check_reachable, place
from safe_local.reply_shape import ReplyShape
from safe_local.store import NotDownloaded, check_ensemble, resolve_model, select_ensemble

# The API's names. Message, Model, RAW and RemoteModelLost come from the backend but are the API's
# vocabulary too: a conversation (RAW as a message's role: its content is the prompt, untemplated),
# the models an Ensemble holds, and the error a call raises when a model's RPC server went away.
# The server and the chat use the engine through these names only (pyproject.toml, importlinter).
__all__ = ["RAW", "Ensemble", "Message", "Model", "RemoteModelLost", "config_for", "constraint_of", "make_config",
           "make_messages"]

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(GenerationConfig)}


def make_messages(prompt: str | Sequence[Message], system: str | None = None) -> list[Message]:
    """A prompt string (or a message list) as chat messages, with an optional system message first."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if system:
        if messages and messages[0].get("role") == "system":
            raise SafeLocalError("the messages already start with a system message; do not also pass system=")
        messages.insert(0, {"role": "system", "content": system})
    return messages


def make_config(**options: Any) -> GenerationConfig:
    unknown = sorted(set(options) - _CONFIG_FIELDS)
    if unknown:
        raise SafeLocalError(f"unknown generation option(s) {', '.join(unknown)}: use any of {', '.join(sorted(_CONFIG_FIELDS))}")
    return GenerationConfig(**options)


def config_for(n_models: int, defaults: dict[str, Any], options: dict[str, Any]) -> GenerationConfig:
    """The generation config of a call: its options over the defaults, checked for n_models.

    One model with no method asked for runs alone (`single`), as one would expect of a model
    list of one; a method given for it (`safe`, say) is still refused with the reason.
    """
    merged = {**defaults, **options}
    if n_models == 1 and "method" not in options:
        merged["method"] = "single"
    config = make_config(**merged)
    config.validate(n_models)
    return config


class Ensemble:
    """A loaded set of models (the first drafts) ready to generate."""

    def __init__(self, models: Sequence[Model], options: dict[str, Any] | None = None):
        self.models = list(models)
        self.engine = Engine(self.models)
        # Generation options every call starts from (a preset's); a call's own keywords win.
        self.options = dict(options or {})

    @classmethod
    def load(
        cls,
        models: Sequence[str | Path] | None = None,
        *,
        preset: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        placement: dict[str, str] | None = None,
    ) -> Ensemble:
        """Load models by short name, Hub spec (owner/repo[:QUANT]) or .gguf path, or a preset.

        With neither, the default preset (the offline trio, Qwen drafting). A preset's generation
        options (the default preset's too) become the ensemble's `options`. Before anything is
        loaded, every name is resolved (offline, from the local caches) and the GGUF headers
        and the ensemble's estimated memory at n_ctx are checked.

        `placement` ({model name: "host:port"}) runs models on llama.cpp RPC servers, like a
        `name@host:port` spec or a preset's `rpc` table (it wins over both). Such a model is
        held by a child process (safe_local.backend.remote); every server is checked to answer
        before anything loads, and the memory check counts only the models that stay here.
        """
        if isinstance(models, (str, Path)):  # one model, not the characters of its name
            models = [models]
        if models is not None and not models:
            raise SafeLocalError("no models given: name at least one, or pass none for the default preset")
        specs, preset_options = select_ensemble(models, preset)
        specs, endpoints = place(specs, placement)
        config_for(len(specs), preset_options, {})  # a preset that does not fit the models fails before any load
        options = LoadOptions(n_ctx=n_ctx, n_threads=n_threads)
        paths = _resolve_all(specs)
        names = [_display_name(s) for s in specs]
        for endpoint in dict.fromkeys(e for e in endpoints if e):
            check_reachable(endpoint)
        check_ensemble(list(zip(names, paths)), n_ctx, remote={n for n, e in zip(names, endpoints) if e})
        loaded: list[Model] = []
        try:
            for name, path, endpoint in zip(names, paths, endpoints):
                if endpoint:
                    loaded.append(RemoteModel(path, name, dataclasses.replace(options, rpc=endpoint)))
                else:
                    loaded.append(LlamaModel(path, name=name, options=options))
        except BaseException:
            for m in loaded:
                m.close()
            raise
        return cls(loaded, preset_options)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    @property
    def remote(self) -> bool:
        """Whether any model runs on an RPC server."""
        return any(getattr(m, "endpoint", None) for m in self.models)

    @property
    def lost(self) -> bool:
        """Whether a model on an RPC server was lost: the ensemble must be loaded again."""
        return any(getattr(m, "lost", False) for m in self.models)

    def stream(
        self,
        prompt: str | Sequence[Message],
        *,
        system: str | None = None,
        cancel: threading.Event | None = None,
        json_schema: dict[str, Any] | str | bool | None = None,
        grammar: str | None = None,
        **options: Any,
    ) -> Iterator[Event]:
        """Yield TextDelta / EnsembleEvent events as the reply is generated, then Done.

        `json_schema` (a JSON Schema, as a dict or its text) or `grammar` (Lark, or llama.cpp's
        GBNF) constrains the reply: every model of the ensemble only says what keeps it valid.
        Options and messages are checked at the call, before the first event is asked for.
        """
        return self.engine.stream(make_messages(prompt, system), self._config(options), cancel,
                                  ReplyShape(constraint_of(json_schema, grammar)))

    def generate(
        self,
        prompt: str | Sequence[Message],
        *,
        system: str | None = None,
        cancel: threading.Event | None = None,
        json_schema: dict[str, Any] | str | bool | None = None,
        grammar: str | None = None,
        **options: Any,
    ) -> GenerationResult:
        """The whole reply with its statistics. Options are GenerationConfig fields, over `options`;
        `json_schema` / `grammar` constrain it as for `stream`."""
        return self.engine.generate(make_messages(prompt, system), self._config(options), cancel,
                                    ReplyShape(constraint_of(json_schema, grammar)))

    def catch_up(self, prompt: str | Sequence[Message], reply: str, *, system: str | None = None) -> None:
        """After a SAFE reply to `prompt`, decode `reply` into the verifiers' lagging caches now.

        Optional: the next turn would do it itself, in its first verification; a chat calls it
        while the user reads the reply, so that turn starts sooner.
        """
        self.engine.catch_up(make_messages(prompt, system), reply)

    def _config(self, options: dict[str, Any]) -> GenerationConfig:
        return config_for(len(self.models), self.options, options)

    def close(self) -> None:
        for m in self.models:
            m.close()

    def __enter__(self) -> Ensemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve_all(specs: Sequence[str]) -> list[Path]:
    """Every spec's file, before any load; one error names all the models still to download."""
    paths, missing = [], []
    for spec in specs:
        try:
            paths.append(resolve_model(spec))
        except NotDownloaded as e:
            missing += e.specs
    if missing:
        raise NotDownloaded(missing)
    return paths


def _display_name(spec: str | Path) -> str:
    """A short label: the file stem for a path or owner/repo/FILE.gguf, else the name as typed."""
    s = str(spec)
    return Path(s).stem if s.lower().endswith(".gguf") else s


def constraint_of(json_schema: dict[str, Any] | str | bool | None, grammar: str | None) -> Grammar | None:
    """The compiled constraint of a request: a JSON schema or a grammar, not both."""
    if json_schema is not None and grammar is not None:
        raise SafeLocalError("give a JSON schema or a grammar, not both")
    if json_schema is not None:
        return Grammar.from_json_schema(json_schema)
    return None if grammar is None else Grammar.from_grammar(grammar)
