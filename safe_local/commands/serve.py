"""`safe-local serve`: the OpenAI- and ollama-compatible API server (safe_local.server) on uvicorn.

Loads the ensemble (`--preset` or `--models`; default: the default preset) before it serves,
so a bad name, a port in use or an ensemble that does not fit is one error line and no server. Listens on
127.0.0.1 unless told otherwise; another address without `--api-key` gets a warning, and an
empty key (`--api-key ''`, an empty SAFE_LOCAL_API_KEY) is an error, not "no key". Ctrl+C
cancels the generation in progress, turns away waiting requests, closes the models and exits
with status 0; a second Ctrl+C stops waiting for open replies, but still waits (up to
STOP_WAIT s) for the generation's thread before the models close under it. Left out: the API
itself (safe_local.server).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

from safe_local.commands.run import PLACEMENT_HELP, model_list
from safe_local.errors import SafeLocalError
from safe_local.placement import check_reachable, place

KEY_ENV = "SAFE_LOCAL_API_KEY"
STOP_WAIT = 30.0  # seconds a stop waits for the generation's thread to see its cancel (one decode step)


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the ensemble over OpenAI's and ollama's APIs")
    which = serve.add_mutually_exclusive_group()
    which.add_argument("--preset", "-p", help="the ensemble served when a request names no model (default: tiny)")
    which.add_argument("--models", "-m", type=model_list, help="comma-separated model names, drafter first, instead of a preset" + PLACEMENT_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="default 8080; 11434 is ollama's, for clients set up for ollama; 0 picks a free port")
    serve.add_argument("--api-key", default=os.environ.get(KEY_ENV),
                       help=f"require 'Authorization: Bearer KEY' (default: ${KEY_ENV}, else no key)")
    serve.add_argument("--ctx", type=int, default=4096, help="context length per model")
    serve.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    serve.add_argument("--queue", type=int, default=16, help="requests that may wait for the ensemble; more get 429 (default 16)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="let web pages from ORIGIN (e.g. http://localhost:3000) call the API from a browser; "
                            "repeat for more (default: none)")
    serve.set_defaults(handler=serve_command)


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """A warning when other machines could use the server without a key; None when they cannot."""
    if api_key or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:  # a host name: it may well resolve to an outside address
        pass
    return (f"warning: listening on {host} without --api-key: anyone who can reach this address can use "
            "the models; pass --api-key KEY, or --host 127.0.0.1")


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn  # with the models, below: keep `safe-local --help` fast

    from safe_local.server.app import Settings, create_app
    from safe_local.server.errors import ApiError
    from safe_local.server.loaded import LoadedEnsemble
    from safe_local.server.models import default_choice

    if args.queue < 0:
        raise SafeLocalError(f"--queue must be 0 or more, got {args.queue}")
    if args.api_key is not None and not args.api_key.strip():
        raise SafeLocalError(f"the API key is empty (--api-key or ${KEY_ENV}): give a key, or leave both unset "
                             "to serve without one")
    default = default_choice(args.models, args.preset)
    for endpoint in filter(None, place(default.specs)[1]):  # here, unlike to clients, the address is said
        check_reachable(endpoint)
    sock = _listen(args.host, args.port)  # before the load: a port in use fails in a moment
    loaded = LoadedEnsemble(args.ctx, args.threads)
    try:
        loaded.get(default)
    except ApiError as e:
        sock.close()
        raise SafeLocalError(e.message) from None
    app = create_app(default, loaded, Settings(queue=args.queue, api_key=args.api_key,
                                               cors_origins=tuple(args.cors_origin)))

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            app.state.scheduler.stop_threadsafe()  # at once: uvicorn waits for open replies to end
            super().handle_exit(sig, frame)

    warning = exposure_warning(args.host, args.api_key)
    if warning:
        print(f"safe-local: {warning}", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"safe-local: serving {default.id} ({', '.join(default.specs)}) at "
          f"http://{host}:{sock.getsockname()[1]}/v1 (Ctrl+C stops)", file=sys.stderr, flush=True)
    server = Server(uvicorn.Config(app, log_level="info" if args.verbose else "warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl+C it caught again, once it has shut down
        pass
    finally:
        # Already closed after a graceful stop; after a second Ctrl+C the generation's thread may
        # still be in llama.cpp, and closing its models under it would crash the process.
        if app.state.scheduler.join(STOP_WAIT):
            loaded.close()
        else:
            print(f"safe-local: the generation did not stop within {STOP_WAIT:.0f} s; exiting without "
                  "closing the models", file=sys.stderr)
    print("safe-local: server stopped", file=sys.stderr)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise SafeLocalError(f"cannot listen on {host}:{port}: {e.strerror or e}: choose another --host or --port") from None
