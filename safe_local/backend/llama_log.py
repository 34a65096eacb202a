"""Route llama.cpp's own log output into Python logging.

llama.cpp prints to stderr even with verbose=False (Gemma 3 announces its SWA cache at every
load), which would break one-line CLI errors and draw over the chat UI. Installing one log
callback sends every message to the `safe_local.llama_cpp` logger instead. What the logger
does with them (shown with -v, hidden otherwise) is left to the application.
"""

from __future__ import annotations

import ctypes
import logging

import llama_cpp

logger = logging.getLogger("safe_local.llama_cpp")
# A library must not print through logging's last-resort handler: callers that want these
# messages configure logging (the CLI's -v does).
logging.getLogger("safe_local").addHandler(logging.NullHandler())

# GGML log levels: 1 debug, 2 info, 3 warn, 4 error, 5 cont (continuation of the previous line)
_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_last_level = logging.DEBUG


@llama_cpp.llama_log_callback
def _route(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    global _last_level
    if level != 5:
        _last_level = _LEVELS.get(level, logging.DEBUG)
    message = text.decode("utf-8", errors="replace").rstrip("\n")
    if message:
        logger.log(_last_level, "%s", message)


_installed = False


def install() -> None:
    """Install the callback once per process (llama.cpp keeps one global logger)."""
    global _installed
    if not _installed:
        llama_cpp.llama_log_set(_route, ctypes.c_void_p(0))
        _installed = True
