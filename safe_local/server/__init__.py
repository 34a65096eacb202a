"""An OpenAI- and ollama-compatible HTTP server for an ensemble (`safe-local serve`).

`create_app` builds the ASGI app (FastAPI); the modules split the work: schema (OpenAI's request
bodies), models (what a model id names), loaded (the one loaded ensemble), turns and scheduler
(one generation at a time, a bounded queue), job (a turn's work in a worker thread), generations
(a request's turn and its reply, for either protocol), replies (OpenAI's response shapes), errors
(both error shapes), app (the OpenAI routes) and ollama, ollama_schema, ollama_replies (ollama's
API). Left out: images and more than one choice per request; the command line lives in
safe_local.commands.serve.
"""

from safe_local.server.app import Settings, create_app

__all__ = ["Settings", "create_app"]
