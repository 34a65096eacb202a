"""ollama's API beside the OpenAI one, for clients that speak only ollama's (Open WebUI, oterm,
Continue, Enchanted, Page Assist, many editor plugins): `GET /api/tags`, `POST /api/show`,
`GET /api/ps`, `GET /api/version`, `POST /api/chat` and `POST /api/generate`, plus `GET /`
("Ollama is running", which several clients probe). `safe-local serve --port 11434` makes the
server a drop-in for a client configured for ollama.

The routes share the OpenAI routes' scheduler, key check and model rule: a name is an id
`GET /v1/models` lists, written the way ollama clients write names, `NAME:TAG`. A name without
a tag is listed with ollama's `:latest` (`tiny` is `tiny:latest`, and a request may use either);
a name with its own tag (`qwen2.5-coder-0.5b:Q8_0`, a quant) keeps it. Errors are ollama's
`{"error": "..."}` with the same statuses as the OpenAI routes. What the listing says of a
model: its members, their total file size, their families and parameter counts from the
catalog, and a digest that identifies the set of files (a hash of names and sizes, not of
bytes: reading gigabytes per listing would be too slow); never a path or an address.
`/api/pull`, `/api/create`, `/api/delete` and the other model-management routes are refused:
models are the operator's to install (`safe-local pull`). Left out: the request fields
(safe_local.server.ollama_schema) and reply shapes (safe_local.server.ollama_replies).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from safe_local import __version__
from safe_local.errors import SafeLocalError
from safe_local.placement import model_name
from safe_local.reply_shape import ReplyShape
from safe_local.server.errors import ApiError, is_ollama
from safe_local.server.generations import Generations
from safe_local.server.models import Choice, ModelNotDownloaded
from safe_local.server.ollama_replies import OllamaChatReply, OllamaReply, done_only
from safe_local.server.ollama_schema import (
    OllamaChat,
    OllamaGenerate,
    OllamaRequest,
    OllamaShow,
)
from safe_local.store import load_catalog, resolve_model

log = logging.getLogger(__name__)

LATEST = ":latest"
# ollama's routes that change the models on the machine, or that need models this server has not.
_REFUSED = {"pull": "models are installed by the server's operator (safe-local pull NAME)",
            "push": "safe-local does not publish models", "create": "presets are the server's operator's to write",
            "copy": "presets are the server's operator's to write", "delete": "models are the operator's to remove",
            "embed": "safe-local serves no embedding model", "embeddings": "safe-local serves no embedding model"}


class JsonBodies:
    """ASGI middleware: a POST to ollama's routes is JSON whatever its Content-Type says, as ollama
    reads it (clients such as LiteLLM send none, or form encoding's default)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and is_ollama(scope["path"]):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": headers + [(b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def ollama_name(model_id: str) -> str:
    """An id as ollama clients write model names: with a tag, `:latest` unless it has one."""
    return model_id if ":" in model_id.rsplit("/", 1)[-1] else model_id + LATEST


def ollama_router(generations: Generations) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    ids, loaded = generations.ids, generations.loaded

    def choice_named(name: str | None) -> Choice:
        """The Choice an ollama name means: the id itself, or the id without ollama's :latest."""
        try:
            return ids.resolve(name)
        except ModelNotDownloaded:
            raise
        except ApiError:
            if name and name.endswith(LATEST):
                return choice_named(name[: -len(LATEST)])
            shown = name if name.isprintable() and len(name) <= 60 else repr(name[:60])
            raise ApiError(404, f'model "{shown}" not found: GET /api/tags lists the models this server offers',
                           param="model", code="model_not_found") from None

    @router.api_route("/", methods=["GET", "HEAD"])
    async def running() -> PlainTextResponse:
        return PlainTextResponse("Ollama is running (safe-local)")

    @router.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @router.get("/api/tags")
    async def tags() -> dict[str, Any]:
        choices = await asyncio.to_thread(ids.choices)
        return {"models": [_entry(choice) for choice in choices]}

    @router.get("/api/ps")
    async def ps() -> dict[str, Any]:
        specs = loaded.specs
        if specs is None:
            return {"models": []}
        choices = await asyncio.to_thread(ids.choices)
        choice = next((c for c in choices if c.specs == specs), ids.default)
        return {"models": [_entry(choice) | {"expires_at": None, "size_vram": 0, "size": loaded.memory,
                                             "context_length": loaded.n_ctx}]}

    @router.post("/api/show")
    async def show(body: OllamaShow) -> dict[str, Any]:
        choice = await asyncio.to_thread(choice_named, body.wanted)
        return await asyncio.to_thread(_show, choice, loaded.n_ctx)

    @router.post("/api/chat")
    async def chat(body: OllamaChat, request: Request) -> Response:
        return await _generate(request, body, OllamaChatReply, bool(body.messages), body.tools)

    @router.post("/api/generate")
    async def generate(body: OllamaGenerate, request: Request) -> Response:
        return await _generate(request, body, OllamaReply, bool(body.prompt), None)

    async def _generate(request: Request, body: OllamaChat | OllamaGenerate, reply_class: type[OllamaReply],
                        asked: bool, tools: list[dict[str, Any]] | None) -> Response:
        received = time.monotonic()
        for field, why in body.unsupported()[:1]:
            raise ApiError(400, f"{field[:60]}: {why}", param=field, code="unsupported_parameter")
        choice = await asyncio.to_thread(choice_named, body.model)
        name = ollama_name(choice.id)
        if not asked:  # ollama's way to load (or, with keep_alive 0, unload) a model ahead of use
            return await _load_or_unload(request, body, choice, name, reply_class is OllamaChatReply)
        try:
            shape, options = _asked(body, tools, loaded.n_ctx)
        except SafeLocalError as e:
            raise ApiError(400, str(e)) from None
        config = generations.config(choice, options, "options.num_predict")
        started = await generations.start(request, choice, body.engine_messages(), config, shape)
        reply = reply_class(name, received, started, shape.top_logprobs is not None, tools)
        response = await generations.respond(started, reply, body.stream)
        if body.unload_after:
            response.background = BackgroundTask(_unload, generations)
        return response

    async def _load_or_unload(request: Request, body: OllamaRequest, choice: Choice, name: str,
                              chat: bool) -> Response:
        gone = asyncio.ensure_future(_never())
        try:
            if body.unload_after:
                await generations.scheduler.unload(gone)
                reason = "unload"
            else:
                await generations.scheduler.load(choice, gone)
                reason = "load"
        finally:
            gone.cancel()
        line = done_only(name, reason)
        if chat:
            del line["response"]
            line["message"] = {"role": "assistant", "content": ""}
        return JSONResponse(line)

    @router.api_route("/api/{route}", methods=["GET", "POST", "DELETE", "HEAD"])
    async def refused(route: str) -> JSONResponse:
        why = _REFUSED.get(route)
        if why is None:
            raise ApiError(404, f"no such endpoint: /api/{route[:40]} (safe-local offers /api/chat, /api/generate, "
                           "/api/tags, /api/show, /api/ps and /api/version)")
        raise ApiError(501, f"/api/{route} is not offered by safe-local: {why}")

    return router


def _asked(body: OllamaChat | OllamaGenerate, tools: list[dict[str, Any]] | None,
           n_ctx: int) -> tuple[ReplyShape, dict[str, Any]]:
    """What the body asks of the reply, and its engine options (SafeLocalError naming what is wrong)."""
    context = body.context_limit(n_ctx)
    options = body.engine_options()
    if body.until_full():
        options["max_tokens"] = context or n_ctx
    shape = ReplyShape(body.grammar(tools), tools or None, body.top_logprobs_wanted(), context)
    return shape, options


async def _unload(generations: Generations) -> None:
    """keep_alive 0: unload once the reply is sent (a background task of its response)."""
    gone = asyncio.ensure_future(_never())
    try:
        await generations.scheduler.unload(gone)
    except ApiError as e:  # the server is stopping: it unloads anyway
        log.info("keep_alive 0: %s", e.message)
    finally:
        gone.cancel()


async def _never() -> None:
    await asyncio.Event().wait()


def _files(choice: Choice) -> list[Path]:
    files = []
    for spec, file in zip(choice.specs, choice.files or (None,) * len(choice.specs)):
        try:
            files.append(Path(file) if file is not None else resolve_model(model_name(spec)))
        except SafeLocalError:  # gone since it was listed: the listing says what is left
            continue
    return files


def _details(choice: Choice) -> dict[str, Any]:
    catalog = load_catalog().models
    known = [catalog.get(name.split(":")[0]) for name in choice.names]
    quants = [name.split(":")[1] if ":" in name else (m.default_quant if m else None) or ""
              for name, m in zip(choice.names, known)]
    return {"parent_model": "", "format": "gguf", "family": known[0].family if known[0] else "",
            "families": [m.family if m else "" for m in known],
            "parameter_size": "+".join(m.params if m else "?" for m in known),
            "quantization_level": "+".join(quants) if any(quants) else ""}


def _entry(choice: Choice) -> dict[str, Any]:
    files = _files(choice)
    stats = [f.stat() for f in files]
    digest = hashlib.sha256("\n".join(f"{name}:{s.st_size}" for name, s in zip(choice.names, stats)).encode())
    modified = max((s.st_mtime for s in stats), default=0.0)
    name = ollama_name(choice.id)
    return {"name": name, "model": name, "modified_at": datetime.fromtimestamp(modified, UTC).isoformat(),
            "size": sum(s.st_size for s in stats), "digest": digest.hexdigest(), "details": _details(choice),
            "safe_local": {"models": choice.names}}


def _show(choice: Choice, n_ctx: int) -> dict[str, Any]:
    entry = _entry(choice)
    details = entry["details"]
    family = details["family"] or "safe-local"
    parameters = "\n".join(f"{key} {value}" for key, value in sorted(choice.options.items()))
    modelfile = (f"# safe-local ensemble {entry['name']}: {', '.join(choice.names)} (drafter first)\n"
                 + "".join(f"PARAMETER {line}\n" for line in parameters.splitlines()))
    return {"license": "", "modelfile": modelfile, "parameters": parameters, "template": "",
            "details": details, "modified_at": entry["modified_at"], "capabilities": ["completion", "tools"],
            "model_info": {"general.architecture": family, "general.basename": choice.id,
                           f"{family}.context_length": n_ctx, "safe_local.models": choice.names}}

