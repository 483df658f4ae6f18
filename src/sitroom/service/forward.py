"""A reader's writes go to the writer: the requests that would append, forwarded whole.

At a reader (service/roles.py) every request that is not a read (any method but GET, HEAD and
OPTIONS) is sent on to the writer's URL, as it came — body, token and all — and the writer's
answer goes back as it was given. Before that answer is sent, the reader folds the log's tail,
so the next read here shows what was just written. A read that turns out to need the log
written (a refusal is recorded: 403 and a record) is answered NotWriter by the room and sent on
in its turn; a read has no body, so nothing is lost by trying it here first.

A writer that cannot be reached (killed, its successor not yet elected) is waited for, up to
``TAKEOVER_S``, while the request's body has not been sent; past that, or once the body has been
sent and the answer is lost, it is 503: the write may or may not have been done, and the
client, who knows whether it is safe to send again, decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitroom.service.errors import body as error_body
from sitroom.service.roles import Roles

log = logging.getLogger("sitroom.service")

READS = frozenset({"GET", "HEAD", "OPTIONS"})
FORWARDED = b"x-sitroom-forwarded"  # set on a forwarded request: never forwarded again
NOT_WRITER = b"x-sitroom-not-writer"  # set on the answer of a read that needed a write
TAKEOVER_S = 10.0
_HOP = {b"host", b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
        b"transfer-encoding", b"upgrade"}  # fmt: skip
_HOP_BACK = {b"connection", b"keep-alive", b"transfer-encoding", b"server", b"date"}


class Courier:
    """The HTTP client requests are forwarded with, made when first needed, closed with the
    application."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(300.0, connect=5.0), follow_redirects=False
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class Forward:
    """ASGI middleware: at a reader, the writing requests are the writer's."""

    def __init__(self, app: ASGIApp, *, roles: Roles, courier: Courier) -> None:
        self.app = app
        self.roles = roles
        self.courier = courier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.roles.writer:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in READS:
            await self._forward(scope, receive, send)
            return
        needs_writer = False

        async def watched(message: Message) -> None:
            nonlocal needs_writer
            if message["type"] == "http.response.start" and any(
                name == NOT_WRITER for name, _ in message.get("headers", ())
            ):
                needs_writer = True
            if not needs_writer:
                await send(message)

        await self.app(scope, receive, watched)
        if needs_writer:
            await self._forward(scope, _no_body, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]
        if any(k.lower() == FORWARDED for k, _ in headers):
            await _refuse(send, "this process is not the writer either: the writer is changing")
            return
        headers.append((FORWARDED, b"1"))
        sent = False

        async def content() -> AsyncIterator[bytes]:
            nonlocal sent
            sent = True
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                more = bool(message.get("more_body"))
                yield message.get("body", b"")

        deadline = time.monotonic() + TAKEOVER_S
        while True:
            if self.roles.writer:  # elected while waiting: it is this process's to do
                await self.app(scope, receive, send)
                return
            url = await self.roles.writer_url()
            if url is not None:
                request = self.courier.client.build_request(
                    scope["method"],
                    url + scope["path"],
                    params=scope.get("query_string", b"").decode("latin-1"),
                    headers=headers,
                    content=content() if scope["method"] not in READS else None,
                )
                try:
                    response = await self.courier.client.send(request, stream=True)
                    break
                except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                    if sent:
                        await _refuse(send, f"the writer at {url} failed while sent the request: "
                                            f"{e}; it may or may not have been done")  # fmt: skip
                        return
                except httpx.HTTPError as e:
                    await _refuse(send, f"the writer at {url} did not answer: {e}; the request "
                                        "may or may not have been done")  # fmt: skip
                    return
            if time.monotonic() > deadline:
                where = "no writer has said where it listens" if url is None else f"{url} is down"
                await _refuse(send, f"no writer to send this to ({where}); try again")
                return
            await asyncio.sleep(0.25)
        try:
            if response.status_code < 500 and scope["method"] not in READS:
                await self.roles.caught_up()  # the next read here shows what was written
            back = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BACK]
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": back})  # fmt: skip
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _refuse(send: Send, message: str) -> None:
    payload: dict[str, Any] = error_body("no_writer", message)
    data = orjson.dumps(payload)
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        (b"retry-after", b"1")]})  # fmt: skip
    await send({"type": "http.response.body", "body": data, "more_body": False})
