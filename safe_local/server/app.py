"""The HTTP API: an OpenAI-compatible FastAPI app over the scheduler, with ollama's API beside it
(safe_local.server.ollama).

Routes: `GET /health`, and under `/v1` (also without the prefix, for clients whose base URL
lacks it) `GET /models`, `GET /models/{id}`, `POST /chat/completions` and `POST /completions`. Streaming replies
are server-sent events, `data: {chunk}` lines ending with `data: [DONE]`. A client that
disconnects cancels its generation at once, whether it streams, waits for a whole reply or is
still in line. With an API key, every route but /health wants `Authorization: Bearer KEY`;
/health answers anyone with `ok` or `loading`, and its details (models loaded, queue) only with
the key (ollama's routes too). `cors_origins` lets browser pages from those origins call the API (Starlette's CORS
middleware, outside the key check so preflights pass). Left out: binding, signals and the
command line (safe_local.commands.serve).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from safe_local.errors import SafeLocalError
from safe_local.reply_shape import ReplyShape
from safe_local.server.errors import ApiError, from_exception, install_handlers
from safe_local.server.generations import Generations
from safe_local.server.loaded import LoadedEnsemble
from safe_local.server.models import Choice, ModelIds
from safe_local.server.ollama import JsonBodies, ollama_router
from safe_local.server.replies import ChatReply, Reply, TextReply
from safe_local.server.scheduler import Scheduler
from safe_local.server.schema import ChatRequest, CompletionRequest


@dataclass(frozen=True)
class Settings:
    queue: int = 16  # requests that may wait for the ensemble; more get 429
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API


def create_app(default: Choice, loaded: LoadedEnsemble, settings: Settings = Settings()) -> FastAPI:
    """The app serving `default` when a request names no model; `loaded` may already hold it."""
    ids = ModelIds(default)
    scheduler = Scheduler(loaded, settings.queue)
    generations = Generations(ids, scheduler, loaded)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.loop = asyncio.get_running_loop()
        yield
        await scheduler.close()

    app = FastAPI(title="safe-local", summary="OpenAI-compatible API over a SAFE ensemble", lifespan=lifespan)
    app.state.scheduler = scheduler
    install_handlers(app)
    app.add_middleware(JsonBodies)
    if settings.api_key is not None:
        app.add_middleware(KeyCheck, key=settings.api_key)
    if settings.cors_origins:  # added last, so it runs first: a preflight carries no key
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        status = {"status": "loading" if loaded.loading else "ok"}
        if settings.api_key is not None and key_problem(request.headers.get("authorization", ""), settings.api_key):
            return status
        return status | {"model": default.id, **scheduler.status()}

    api = APIRouter()

    @api.get("/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": await asyncio.to_thread(ids.listing)}

    @api.get("/models/{model_id:path}")
    async def model(model_id: str) -> dict[str, Any]:
        listing = await asyncio.to_thread(ids.listing)
        found = next((entry for entry in listing if entry["id"] == model_id), None)
        if found is None:
            raise ApiError(404, f"no model {model_id[:60]!r} here: GET /v1/models lists them", param="model",
                           code="model_not_found")
        return found

    @api.post("/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Any:
        return await _complete(request, body, ChatReply)

    @api.post("/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        return await _complete(request, body, TextReply)

    async def _complete(request: Request, body: ChatRequest | CompletionRequest, shape: type[Reply]) -> Any:
        try:
            return await _answer(request, body, shape)
        except SafeLocalError as e:  # an error response, not an exception Starlette would log as a crash
            raise from_exception(e) from None

    async def _answer(request: Request, body: ChatRequest | CompletionRequest, shape: type[Reply]) -> Any:
        for field, why in body.unsupported()[:1]:
            shown = field if field.isprintable() and len(field) <= 60 else json.dumps(field)[:60]
            raise ApiError(400, f"{shown}: {why}", param=field, code="unsupported_parameter")
        choice = await generations.choice(body.model)
        config = generations.config(choice, body.options())
        try:
            grammar = await asyncio.to_thread(body.grammar)
        except SafeLocalError as e:
            raise ApiError(400, str(e), param="tool_choice" if body.engine_tools() else "response_format") from None
        try:
            top_logprobs = body.top_logprobs_wanted()
        except SafeLocalError as e:
            raise ApiError(400, str(e), param="top_logprobs") from None
        started = await generations.start(request, choice, body.engine_messages(), config,
                                          ReplyShape(grammar, body.engine_tools(), top_logprobs), body.cache_prompt)
        echo = body.prompt if isinstance(body, CompletionRequest) and body.echo else ""
        reply = shape(choice.id, body.include_usage, top_logprobs is not None, body.engine_tools(), echo)
        return await generations.respond(started, reply, body.stream)

    app.include_router(api, prefix="/v1")
    app.include_router(api, include_in_schema=False)
    app.include_router(ollama_router(generations))
    return app


def key_problem(authorization: str, key: str) -> str | None:
    """What is wrong with an Authorization header for this key, or None when it carries the key."""
    scheme, _, token = authorization.partition(" ")
    if not token:
        return "no API key: send the header 'Authorization: Bearer KEY' with the server's --api-key"
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode("latin-1", "replace"),
                                                                  key.encode()):
        return "wrong API key: use the key the server was started with (--api-key)"
    return None


class KeyCheck:
    """ASGI middleware: 401 unless `Authorization: Bearer KEY` (/health answers itself).

    Checked before the body is read, so a wrong key is told as such whatever the body holds.
    """

    def __init__(self, app: ASGIApp, key: str):
        self.app, self.key = app, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            problem = key_problem(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"), self.key)
            if problem is not None:
                error = ApiError(401, problem, code="invalid_api_key").response(scope["path"])
                return await error(scope, receive, send)
        await self.app(scope, receive, send)
