"""Channels over HTTP: the wire a desk sends on, and the endpoint a desk or a relay serves.

Endpoints, all JSON:

- ``POST /deliver``: an envelope; the answer is the ack ``{"ack": true, "message", "duplicate"}``.
  A desk records the message before answering; a relay passes it on and returns the far
  end's answer, or 502 when it cannot.
- ``GET /ping``: a heartbeat. A relay pings its far end, so a heartbeat proves the whole path.
- ``GET /heard``: ``{"heard_ago_ms"}``, how long ago this end last heard its counterpart. A
  desk hears itself; a relay says when its far end last answered its own pings. This is how an
  intermediary vouches for a counterpart when the direct path is silent.
- ``POST /submit`` (desk only): a message to send, ``{"channel", "priority", "body", ...}``.
- ``GET /status`` (desk only): what waits for an ack.

The server is the standard library's threading HTTP server: channel traffic is a few messages
a second at most, and it needs no dependency. The client is httpx. :func:`post_json` is how a
command hands a message to a running desk; :func:`run_relay` runs an intermediary, which needs
no room.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

from sitroom.application.desk import Desk
from sitroom.application.ports import Endpoint, WireError
from sitroom.domain.channels.courier import wire_priority, wire_text
from sitroom.domain.timeutil import parse_time
from sitroom.domain.wording import shown
from sitroom.errors import SitroomError, UserInputError


class HttpWire:
    def __init__(self) -> None:
        self.client = httpx.Client(headers={"user-agent": "sitroom-channels"})

    def deliver(self, url: str, envelope: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        return self._call("POST", f"{url.rstrip('/')}/deliver", timeout_s, envelope)

    def ping(self, url: str, timeout_s: float) -> None:
        self._call("GET", f"{url.rstrip('/')}/ping", timeout_s)

    def heard(self, url: str, timeout_s: float) -> int | None:
        ago = self._call("GET", f"{url.rstrip('/')}/heard", timeout_s).get("heard_ago_ms")
        return None if ago is None else int(ago)

    def _call(
        self, method: str, url: str, timeout_s: float, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            r = self.client.request(
                method,
                url,
                content=None if body is None else orjson.dumps(body),
                headers={"content-type": "application/json"},
                timeout=timeout_s,
            )
        except httpx.HTTPError as e:
            raise WireError(f"{url}: {type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise WireError(f"{url}: HTTP {r.status_code} {r.text[:200]}")
        try:
            answer: dict[str, Any] = orjson.loads(r.content)
        except orjson.JSONDecodeError:
            raise WireError(f"{url}: not JSON: {r.text[:200]}") from None
        return answer

    def close(self) -> None:
        self.client.close()


def post_json(url: str, body: Mapping[str, Any], timeout_s: float) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON: the HTTP status and the JSON answer; WireError when nothing
    answers, or the answer is not a JSON object."""
    try:
        r = httpx.post(
            url,
            content=orjson.dumps(body),
            headers={"content-type": "application/json", "user-agent": "sitroom-channels"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as e:
        raise WireError(f"{type(e).__name__}: {e}") from None
    try:
        answer = orjson.loads(r.content)
    except orjson.JSONDecodeError:
        raise WireError(f"HTTP {r.status_code}, not JSON: {r.text[:200]}") from None
    if not isinstance(answer, dict):
        raise WireError(f"HTTP {r.status_code}, not a JSON object: {r.text[:200]}")
    return r.status_code, answer


Route = Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Limits:
    """What a served endpoint accepts (the workspace's ``http_`` settings)."""

    max_body_bytes: int = 1_048_576
    read_timeout_s: float = 10.0
    max_connections: int = 64


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, limits: Limits) -> None:
        super().__init__(address, handler)
        self.limits = limits
        self.slots = threading.BoundedSemaphore(limits.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, but no more than max_connections: beyond, a 503 at once.
        if not self.slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A peer that hangs up mid-request (a relay killed, a timed-out sender) or sends too
        # slowly is the normal weather of this protocol: the sender retries. Anything else
        # is a bug worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


_BUSY_BODY = b'{"error":"too many connections now"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(_BUSY_BODY)}\r\nconnection: close\r\n\r\n".encode()
    + _BUSY_BODY
)


class Served:
    """A server running on its own thread: where it listens, and how to stop it."""

    def __init__(self, server: ThreadingHTTPServer, host: str) -> None:
        self.server = server
        self.url = f"http://{host}:{server.server_address[1]}"

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(
    routes: Mapping[tuple[str, str], Route], host: str, port: int, limits: Limits = Limits()
) -> Served:
    """Start serving the routes ((method, path) -> handler) on a daemon thread. Every request
    gets an answer: a bad one a 4xx with a JSON error, ``{"error": "..."}``, a handler's bug a
    500, never a dropped connection (but one that stalls past the read timeout)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = limits.read_timeout_s  # the socket's: a request that stalls is dropped

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            path = self.path.split("?")[0]
            route = routes.get((method, path))
            try:
                body = self._body()
                if route is None:
                    takes = sorted(m for m, p in routes if p == path)
                    if takes:
                        raise _Refused(
                            HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {', '.join(takes)}"
                        )
                    raise _Refused(HTTPStatus.NOT_FOUND, f"no {method} {shown(self.path)}")
                self._answer(HTTPStatus.OK, route(body))
            except _Refused as e:
                self._answer(e.status, {"error": str(e)})
            except (SitroomError, orjson.JSONDecodeError) as e:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            except WireError as e:
                self._answer(HTTPStatus.BAD_GATEWAY, {"error": str(e)})
            except (ConnectionError, TimeoutError):
                raise
            except Exception as e:  # a bug: answered, and traced for whoever runs the desk
                traceback.print_exc(file=sys.stderr)
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": type(e).__name__})

        def _body(self) -> dict[str, Any]:
            """The request's JSON object ({} without a body), read whole; a request whose body
            cannot be framed is refused and its connection closed, its body unread (what
            follows on the connection could not be told from it)."""
            lengths = self.headers.get_all("content-length") or []
            if self.headers.get("transfer-encoding") is not None:
                self.close_connection = True
                raise _Refused(HTTPStatus.LENGTH_REQUIRED, "a body is sent with Content-Length")
            if len(set(lengths)) > 1 or not all(_DIGITS.fullmatch(n) for n in lengths):
                self.close_connection = True
                raise _Refused(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            n = int(lengths[0]) if lengths else 0
            if n > limits.max_body_bytes:
                self.close_connection = True
                raise _Refused(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"a body is at most {limits.max_body_bytes:,} bytes",
                )
            data = self.rfile.read(n) if n else b""
            if len(data) < n:
                raise ConnectionError("the body ended early")
            if not n:
                return {}
            # No type is taken as JSON (a script's bare POST); another type is refused.
            kind = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
            if kind not in ("", "application/json"):
                raise _Refused(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    f"a body is JSON (Content-Type: application/json), not {shown(kind)}",
                )
            body = orjson.loads(data)
            if not isinstance(body, dict):
                raise UserInputError("the body must be a JSON object")
            return body

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            if self.request_version == "HTTP/0.9":  # a request line without its version
                self.send_error(HTTPStatus.BAD_REQUEST, "a request line ends with HTTP/1.1")
                return False
            return True

        def send_error(self, code: int, message: str | None = None, explain: Any = None) -> None:
            """The request line or headers could not be read: the same JSON error as every
            other refusal, not the standard library's HTML page, and with its status line (a
            line too garbled to name its version would get none). An unknown method is 405 and
            a version other than 1.x is 400, the client's mistakes, not the server's."""
            status = HTTPStatus(_CLIENTS_FAULT.get(code, code))
            self.request_version = self.protocol_version
            self.close_connection = True
            self._answer(status, {"error": message or status.phrase})

        def _answer(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the log that matters is sitroom's own

    try:
        server = _Server((host, port), Handler, limits)
    except OSError as e:
        raise UserInputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    threading.Thread(target=server.serve_forever, name="sitroom-http", daemon=True).start()
    return Served(server, host)


class _Refused(Exception):
    """A request refused with its status."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


_DIGITS = re.compile(r"[0-9]+")  # ASCII: str.isdigit() holds for '²', which int() refuses
_CLIENTS_FAULT: dict[int, int] = {501: 405, 505: 400}  # unknown method; HTTP/2.0 and up


def serve_desk(desk: Desk, host: str, port: int, limits: Limits = Limits()) -> Endpoint:
    """Serve a desk's endpoints."""
    return serve(desk_routes(desk), host, port, limits)


_SUBMIT = frozenset({"channel", "priority", "body", "id", "reply_by", "await_reply", "expires"})
_FIELDS = ", ".join(sorted(_SUBMIT))


def desk_routes(desk: Desk) -> dict[tuple[str, str], Route]:
    def submit(body: dict[str, Any]) -> Mapping[str, Any]:
        # Someone's script or typing: a field not read is a mistake said, not ignored.
        unknown = sorted(set(body) - _SUBMIT)
        if unknown:
            raise UserInputError(f"unknown field {shown(unknown[0])}; a message has {_FIELDS}")
        reply_by, expires = body.get("reply_by"), body.get("expires")
        now = desk.now_ms()
        return desk.submit(
            wire_text(body, "channel"),
            wire_priority(body.get("priority")),
            wire_text(body, "body", default="", limit=None),
            # send_via_desk sends "id": null for a message without one of its own
            msg_id=None if body.get("id") is None else wire_text(body, "id"),
            reply_by_ms=None
            if reply_by is None
            else parse_time(wire_text(body, "reply_by"), now_ms=now),
            await_reply=body.get("await_reply") is True,
            expires_ms=None
            if expires is None
            else parse_time(wire_text(body, "expires"), now_ms=now),
        ).to_json()

    return {
        ("POST", "/deliver"): desk.receive,
        ("GET", "/ping"): lambda _: {"ok": True},
        ("GET", "/heard"): lambda _: {"heard_ago_ms": 0},
        ("POST", "/submit"): submit,
        ("GET", "/status"): lambda _: {"pending": desk.pending()},
    }


class Relay:
    """An intermediary, or the terminal equipment of a link: it passes envelopes and pings to
    its far end, and keeps track of when it last heard it, to vouch for it when asked."""

    def __init__(self, wire: HttpWire, to: str, *, every_s: float = 1.0) -> None:
        self.wire = wire
        self.to = to
        self.every_s = every_s
        self.last_heard: float | None = None

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/deliver"): lambda body: self.wire.deliver(self.to, body, 30.0),
            ("GET", "/ping"): self._ping,
            ("GET", "/heard"): self._heard,
        }

    def watch(self, stop: threading.Event) -> None:
        """Ping the far end every ``every_s`` until ``stop``: what ``/heard`` reports."""
        while not stop.is_set():
            with contextlib.suppress(WireError):
                self._ping({})
            stop.wait(self.every_s)

    def _ping(self, _: dict[str, Any]) -> dict[str, Any]:
        self.wire.ping(self.to, self.every_s)
        self.last_heard = time.monotonic()
        return {"ok": True}

    def _heard(self, _: dict[str, Any]) -> dict[str, Any]:
        if self.last_heard is None:
            return {"heard_ago_ms": None}
        return {"heard_ago_ms": int((time.monotonic() - self.last_heard) * 1000)}


def run_relay(
    to: str,
    host: str,
    port: int,
    *,
    stop: threading.Event,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run a relay to ``to`` on (host, port) until ``stop`` is set; ``ready`` is told its URL
    once it listens."""
    wire = HttpWire()
    hop = Relay(wire, to)
    try:
        server = serve(hop.routes(), host, port)
        try:
            if ready is not None:
                ready(server.url)
            hop.watch(stop)
        finally:
            server.shutdown()
    finally:
        wire.close()
