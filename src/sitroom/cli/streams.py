"""Where a command's output goes: the process's standard streams, or — when a server runs the
command for a user who asked from another process (:mod:`sitroom.cli.bridge`) — buffers that
the server sends back. Every line the CLI prints goes through :func:`stdout` or :func:`stderr`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_CAPTURED: ContextVar[tuple[TextIO, TextIO] | None] = ContextVar("sitroom_streams", default=None)


def stdout() -> TextIO:
    captured = _CAPTURED.get()
    return sys.stdout if captured is None else captured[0]


def stderr() -> TextIO:
    captured = _CAPTURED.get()
    return sys.stderr if captured is None else captured[1]


def captured() -> bool:
    return _CAPTURED.get() is not None


@contextmanager
def capture() -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """Send what the CLI prints in this context to two byte buffers (UTF-8)."""
    raw = (io.BytesIO(), io.BytesIO())
    text = tuple(io.TextIOWrapper(b, encoding="utf-8", write_through=True) for b in raw)
    token = _CAPTURED.set((text[0], text[1]))
    try:
        yield raw
    finally:
        _CAPTURED.reset(token)
        for t in text:
            t.detach()  # leave the buffers open for the caller
