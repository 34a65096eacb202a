"""An OpenAI-compatible HTTP server for an ensemble (`safe-local serve`).

`create_app` builds the ASGI app (FastAPI); the modules split the work: schema (request bodies),
models (what a model id names), loaded (the one loaded ensemble), turns and scheduler (one
generation at a time, a bounded queue), job (a turn's work in a worker thread), replies
(OpenAI's response shapes), errors (OpenAI's error shape) and app (the routes). Left out:
tools, images, logprobs and more than one choice per request; the command line lives in
safe_local.commands.serve.
"""

from safe_local.server.app import Settings, create_app

__all__ = ["Settings", "create_app"]
