"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with an HTTP status
(under ollama's routes, ollama's: `{"error": "message"}`).

`ApiError` is what the server's own code raises; `install_handlers` makes FastAPI answer
request-validation failures, unknown routes and unexpected exceptions in the same shape, so a
client never has to parse a second error format. What a client is told never says where a model
runs: a lost or unreachable RPC server is "a remote model is unreachable" with the model's name,
and an unexpected exception is its type only; the server's log has the rest. Left out: deciding
which failures are which (the routes and the job do that).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from safe_local.api import RemoteModelLost

log = logging.getLogger(__name__)

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          429: "rate_limit_error", 503: "server_error", 500: "server_error", 501: "server_error"}


class ApiError(Exception):
    """A failure the client is told about: its status, one-line message, and OpenAI's param/code."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self, path: str = "") -> JSONResponse:
        """The error as a response to a request for `path`: ollama's shape under ollama's routes."""
        body = {"error": self.message} if is_ollama(path) else self.body()
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def is_ollama(path: str) -> bool:
    """Whether a path is one of ollama's routes (safe_local.server.ollama), whose errors are {"error": "..."}."""
    return path == "/" or path.startswith("/api/")


def validation_error(exc: RequestValidationError) -> ApiError:
    """The first thing wrong with a request body, as one line naming the field."""
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')}): "
                        "send one JSON object", code="invalid_json")
    if not loc:
        return ApiError(400, "the request body must be one JSON object, sent with 'Content-Type: application/json'")
    param = ".".join(loc)
    if first.get("type") == "value_error":  # our own validators' messages say everything
        return ApiError(400, f"{param}: {first['ctx']['error']}", param=param)
    shown = "" if first.get("type") == "missing" else f", got {json.dumps(first.get('input'), default=str)[:80]}"
    return ApiError(400, f"{param}: {first.get('msg')}{shown}", param=param)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response(request.url.path)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        message = {404: f"no such endpoint: {request.method} {request.url.path} (see /v1/models, "
                        "/v1/chat/completions, /v1/completions, /health)",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return ApiError(exc.status_code, message).response(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return from_exception(exc).response(request.url.path)


def from_exception(exc: BaseException) -> ApiError:
    """The OpenAI-shaped error for an exception a generation raised (logged only if it is a bug)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RemoteModelLost):  # a model's RPC server went away: the server itself is fine
        log.warning("%s", exc)
        return _unreachable(exc.model)
    log.error("unexpected error", exc_info=exc)
    return ApiError(500, f"internal error ({type(exc).__name__}): the server's log has the details")


def unreachable(exc: BaseException, placed: Iterable[tuple[str, str | None]]) -> ApiError | None:
    """The 503 for a load that failed at a model's RPC server, or None when no server is to blame.

    `placed` is (model name, endpoint or None) per model; the message names the first model
    whose endpoint the error mentions, and the log gets the error as it was.
    """
    text = str(exc)
    for name, endpoint in placed:
        if endpoint and endpoint in text:
            log.warning("%s", text)
            return _unreachable(name)
    return None


def _unreachable(name: str) -> ApiError:
    return ApiError(503, f"a remote model is unreachable: {name} (its RPC server does not answer; the server's log "
                    "says which): try again once it is back", param="model", code="model_unreachable")
