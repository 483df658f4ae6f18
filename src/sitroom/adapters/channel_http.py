"""Channels over HTTP: the wire a desk sends on, and the endpoint a desk or a relay serves.

Endpoints, all JSON:

- ``POST /deliver``: an envelope, signed by the sending site (``sitroom-site``,
  ``sitroom-time``, ``sitroom-signature``: :mod:`sitroom.domain.secure.requests`); the answer
  is the ack ``{"ack": true, "message", "duplicate"}``. A desk checks the signature against
  the site's imported card and records the message before answering; a relay passes it on,
  signature and bytes unchanged, and returns the far end's answer, or 502 when it cannot.
- ``GET /ping``: a heartbeat. A relay pings its far end, so a heartbeat proves the whole path.
- ``GET /heard``: ``{"heard_ago_ms"}``, how long ago this end last heard its counterpart. A
  desk hears itself; a relay says when its far end last answered its own pings. This is how an
  intermediary vouches for a counterpart when the direct path is silent.
- ``POST /submit`` (desk only): a message to send, ``{"channel", "priority", "body", ...}``,
  as the user whose token is in ``Authorization: Bearer TOKEN``.
- ``GET /status`` (desk only, with a token): what waits for an ack, and the requests refused.

A refusal is 401 when who asks cannot be established (no token, no or a bad signature) and
403 when they may not (a channel not theirs). The server is the standard library's threading
HTTP server, over TLS 1.3 when given a context (:mod:`sitroom.adapters.site_tls`): channel
traffic is a few messages a second at most, and it needs no dependency. The client is httpx,
pinning every https address to the card of whom it expects there. :func:`post_json` is how a
command hands a message to a running desk; :func:`run_relay` runs an intermediary, which needs
no room.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from sitroom.adapters.site_tls import pinned_context
from sitroom.application.desk import Desk
from sitroom.application.ports import Peer, Peers, WireError
from sitroom.domain.channels.courier import wire_priority, wire_text
from sitroom.domain.secure import requests
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.timeutil import parse_time
from sitroom.domain.wording import shown
from sitroom.errors import AccessDenied, AuthError, Rejected, SitroomError, UserInputError

_AGENT = {"user-agent": "sitroom-channels"}


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class HttpWire:
    """The wire a desk sends on. Given this site's keys (``me``) and who is at each address
    (``peers``), it signs every delivery for the site it is for, and connects to an https
    address only if its certificate carries the key of the card pinned there; ``tls_only``
    refuses plain http. Bare, it does neither (a relay's hop, a test)."""

    def __init__(
        self,
        *,
        me: Secret | None = None,
        peers: Peers | None = None,
        tls_only: bool = False,
        clock: Callable[[], int] = _wall_ms,
    ) -> None:
        self.me = me
        self.peers = peers
        self.tls_only = tls_only
        self.clock = clock
        self.client = httpx.Client(headers=_AGENT)
        self._pinned: dict[bytes, httpx.Client] = {}
        self._lock = threading.Lock()

    def deliver(self, url: str, envelope: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        return self._call("POST", f"{url.rstrip('/')}/deliver", timeout_s, envelope)

    def forward(
        self, url: str, raw: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> dict[str, Any]:
        """Pass a delivery on as it came — its bytes and its sender's signature — to ``url``
        (a relay's far end)."""
        return self._call("POST", f"{url.rstrip('/')}/deliver", timeout_s, raw=raw, signed=headers)

    def ping(self, url: str, timeout_s: float) -> None:
        self._call("GET", f"{url.rstrip('/')}/ping", timeout_s)

    def witness(self, url: str, request: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Ask the desk at ``url`` to co-sign this site's tree head: the co-signed head, or
        :class:`Rejected` with the witness's reason."""
        return self._call("POST", f"{url.rstrip('/')}/witness", timeout_s, request)

    def heard(self, url: str, timeout_s: float) -> int | None:
        ago = self._call("GET", f"{url.rstrip('/')}/heard", timeout_s).get("heard_ago_ms")
        return None if ago is None else int(ago)

    def _call(
        self,
        method: str,
        url: str,
        timeout_s: float,
        body: Mapping[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        signed: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        peer = self.peers(origin) if self.peers is not None else None
        client = self._client(origin, peer)
        content = raw if raw is not None else (None if body is None else orjson.dumps(body))
        headers = {"content-type": "application/json", **(signed or {})}
        if method == "POST" and self.me is not None and signed is None:
            if peer is None or peer.site is None:
                raise WireError(
                    f"{origin}: no imported site's card matches the counterpart there, so "
                    "nothing can be signed for it; import its card with `sitroom keys import`"
                )
            now = self.clock()
            headers |= requests.sign(self.me, method, parts.path, content or b"", now, peer.site)
        try:
            r = client.request(method, url, content=content, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as e:
            raise WireError(f"{url}: {type(e).__name__}: {e}") from None
        if r.status_code == HTTPStatus.CONFLICT:
            refused = _json_or_none(r.content) or {}
            raise Rejected(str(refused.get("reason")), f"{origin}: {refused.get('error')}")
        if r.status_code != 200:
            raise WireError(f"{url}: HTTP {r.status_code} {r.text[:200]}")
        try:
            answer: dict[str, Any] = orjson.loads(r.content)
        except orjson.JSONDecodeError:
            raise WireError(f"{url}: not JSON: {r.text[:200]}") from None
        return answer

    def _client(self, origin: str, peer: Peer | None) -> httpx.Client:
        """The client for an address: plain http (unless refused), or pinned to its card."""
        if not origin.startswith("https://"):
            if self.tls_only:
                raise WireError(
                    f"{origin} is plain http: desks speak https (the setting desk_tls = false "
                    "allows http)"
                )
            return self.client
        if peer is None or peer.pin is None:
            raise WireError(
                f"{origin}: no verified card to pin its certificate to; import its owner's "
                "card with `sitroom keys import --fingerprint`"
            )
        return self._pinned_client(peer.pin)

    def _pinned_client(self, pin: Identity) -> httpx.Client:
        with self._lock:
            client = self._pinned.get(pin.sign_pub)
            if client is None:
                client = httpx.Client(headers=_AGENT, verify=pinned_context(pin))
                self._pinned[pin.sign_pub] = client
            return client

    def close(self) -> None:
        self.client.close()
        with self._lock:
            for client in self._pinned.values():
                client.close()


def _json_or_none(content: bytes) -> dict[str, Any] | None:
    try:
        loaded = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return loaded if isinstance(loaded, dict) else None


def post_json(
    url: str,
    body: Mapping[str, Any],
    timeout_s: float,
    *,
    token: str | None = None,
    pin: Identity | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON, with ``token`` as a bearer token: the HTTP status and the JSON
    answer; WireError when nothing answers, or the answer is not a JSON object. An https
    address must present ``pin``'s certificate (a desk of this very site: its own card)."""
    headers = {"content-type": "application/json", **_AGENT}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if url.startswith("https://") and pin is None:
        raise WireError("an https desk is reached only with a card to pin its certificate to")
    verify: ssl.SSLContext | bool = True if pin is None else pinned_context(pin)
    try:
        with httpx.Client(verify=verify) as client:
            r = client.post(url, content=orjson.dumps(body), headers=headers, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise WireError(f"{type(e).__name__}: {e}") from None
    try:
        answer = orjson.loads(r.content)
    except orjson.JSONDecodeError:
        raise WireError(f"HTTP {r.status_code}, not JSON: {r.text[:200]}") from None
    if not isinstance(answer, dict):
        raise WireError(f"HTTP {r.status_code}, not a JSON object: {r.text[:200]}")
    return r.status_code, answer


class Request:
    """A request as a route sees it: its method and path, its headers (names in lower case),
    its body's bytes as they came, and that body as a JSON object (read when first asked:
    a route that checks a signature does so over the bytes, before reading them)."""

    def __init__(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> None:
        self.method, self.path, self.headers, self.raw = method, path, headers, raw
        self._body: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The JSON object ({} without a body); UserInputError if it is not one."""
        if self._body is None:
            try:
                body = orjson.loads(self.raw) if self.raw else {}
            except orjson.JSONDecodeError as e:
                raise UserInputError(str(e)) from None
            if not isinstance(body, dict):
                raise UserInputError("the body must be a JSON object")
            self._body = body
        return self._body


Route = Callable[[Request], Mapping[str, Any]]


@dataclass(frozen=True)
class Limits:
    """What a served endpoint accepts (the workspace's ``http_`` settings)."""

    max_body_bytes: int = 1_048_576
    read_timeout_s: float = 10.0
    max_connections: int = 64


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: Any, limits: Limits, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__(address, handler)
        self.limits = limits
        self.tls = tls
        self.slots = threading.BoundedSemaphore(limits.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, but no more than max_connections: beyond, a 503 at once
        # (over TLS, which cannot answer before a handshake, the connection is closed).
        if not self.slots.acquire(blocking=False):
            if self.tls is None:
                with contextlib.suppress(OSError):
                    request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if self.tls is not None:
                # The handshake runs on the connection's own thread, within the read
                # timeout, so that a slow or silent client holds no one else up.
                request.settimeout(self.limits.read_timeout_s)
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except OSError:  # not TLS, a refused version, a client gone: nothing to say
                    self.shutdown_request(request)
                    return
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

    def __init__(self, server: ThreadingHTTPServer, host: str, *, tls: bool = False) -> None:
        self.server = server
        self.url = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(
    routes: Mapping[tuple[str, str], Route],
    host: str,
    port: int,
    limits: Limits = Limits(),
    *,
    tls: ssl.SSLContext | None = None,
) -> Served:
    """Start serving the routes ((method, path) -> handler) on a daemon thread, over TLS when
    given a server context. Every request gets an answer: a bad one a 4xx with a JSON error,
    ``{"error": "..."}`` (401 who asks is not established, 403 they may not), a handler's bug a
    500, never a dropped connection (but one that stalls past the read timeout, or fails its
    TLS handshake)."""

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
                request = Request(method, path, self._headers(), self._body())
                if route is None:
                    takes = sorted(m for m, p in routes if p == path)
                    if takes:
                        raise _Refused(
                            HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {', '.join(takes)}"
                        )
                    raise _Refused(HTTPStatus.NOT_FOUND, f"no {method} {shown(self.path)}")
                self._answer(HTTPStatus.OK, route(request))
            except _Refused as e:
                reason = {} if e.reason is None else {"reason": e.reason}
                self._answer(e.status, {"error": str(e), **reason})
            except AuthError as e:
                self._answer(HTTPStatus.UNAUTHORIZED, {"error": str(e)}, challenge=path)
            except AccessDenied as e:
                self._answer(HTTPStatus.FORBIDDEN, {"error": str(e)})
            except SitroomError as e:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            except WireError as e:
                self._answer(HTTPStatus.BAD_GATEWAY, {"error": str(e)})
            except (ConnectionError, TimeoutError):
                raise
            except Exception as e:  # a bug: answered, and traced for whoever runs the desk
                traceback.print_exc(file=sys.stderr)
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": type(e).__name__})

        def _headers(self) -> dict[str, str]:
            return {k.lower(): v for k, v in self.headers.items()}

        def _body(self) -> bytes:
            """The request's body, read whole (b"" without one); a request whose body cannot
            be framed is refused and its connection closed, its body unread (what follows on
            the connection could not be told from it)."""
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
                return b""
            # No type is taken as JSON (a script's bare POST); another type is refused.
            kind = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
            if kind not in ("", "application/json"):
                raise _Refused(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    f"a body is JSON (Content-Type: application/json), not {shown(kind)}",
                )
            return data

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

        def _answer(
            self, status: HTTPStatus, body: Mapping[str, Any], *, challenge: str = ""
        ) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            if status == HTTPStatus.UNAUTHORIZED:  # how to authenticate: a signature, a token
                scheme = "Sitroom-Signature" if challenge == "/deliver" else "Bearer"
                self.send_header("www-authenticate", f'{scheme} realm="sitroom"')
            self.send_header("content-length", str(len(data)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the log that matters is sitroom's own

    try:
        server = _Server((host, port), Handler, limits, tls)
    except OSError as e:
        raise UserInputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    threading.Thread(target=server.serve_forever, name="sitroom-http", daemon=True).start()
    return Served(server, host, tls=tls is not None)


class _Refused(Exception):
    """A request refused with its status."""

    def __init__(self, status: HTTPStatus, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # a stable code the client acts on (a witness's refusal)


_DIGITS = re.compile(r"[0-9]+")  # ASCII: str.isdigit() holds for '²', which int() refuses
_CLIENTS_FAULT: dict[int, int] = {501: 405, 505: 400}  # unknown method; HTTP/2.0 and up


# Who a request is from: the value of its Authorization header (None without one) in, the user
# it authenticates out; AuthError (401) or AccessDenied (403) otherwise.
Authenticate = Callable[[str | None], str]


def serve_desk(
    desk: Desk,
    host: str,
    port: int,
    limits: Limits = Limits(),
    *,
    authenticate: Authenticate,
    tls: ssl.SSLContext | None = None,
) -> Served:
    """Serve a desk's endpoints: ``/submit`` and ``/status`` to the users ``authenticate``
    accepts, ``/deliver`` to the sites the desk knows (over TLS when given a context)."""
    return serve(desk_routes(desk, authenticate), host, port, limits, tls=tls)


_SUBMIT = frozenset({"channel", "priority", "body", "id", "reply_by", "await_reply", "expires"})
_FIELDS = ", ".join(sorted(_SUBMIT))


def desk_routes(desk: Desk, authenticate: Authenticate) -> dict[tuple[str, str], Route]:
    """A desk's routes. ``authenticate`` says which user a request's ``Authorization`` header
    is from (or raises): a message submitted is that user's, sent only on a channel they may
    write. Every refusal is counted on the desk by its reason (``desk.refused``)."""

    def user(request: Request) -> str:
        try:
            with desk.lock:  # who is a user is read from the room's state, in turn
                return authenticate(request.headers.get("authorization"))
        except AuthError as e:
            desk.count(e.reason)
            raise
        except AccessDenied:
            desk.count("denied")
            raise

    def submit(request: Request) -> Mapping[str, Any]:
        by = user(request)
        body = request.body
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
            by=by,
        ).to_json()

    def deliver(request: Request) -> Mapping[str, Any]:
        return desk.deliver(
            request.headers, request.method, request.path, request.raw, lambda: request.body
        )

    def status(request: Request) -> Mapping[str, Any]:
        user(request)
        return {"pending": desk.pending(), "refused": desk.refusals()}

    def witness(request: Request) -> Mapping[str, Any]:
        try:
            return desk.witness(
                request.headers, request.method, request.path, request.raw, lambda: request.body
            )
        except Rejected as e:  # the head refused for what it is: the reason travels back
            raise _Refused(HTTPStatus.CONFLICT, str(e), e.reason) from None

    return {
        ("POST", "/deliver"): deliver,
        ("GET", "/ping"): lambda _: {"ok": True},
        ("GET", "/heard"): lambda _: {"heard_ago_ms": 0},
        ("POST", "/submit"): submit,
        ("GET", "/status"): status,
        ("POST", "/witness"): witness,
    }


class Relay:
    """An intermediary, or the terminal equipment of a link: it passes envelopes — their bytes
    and their sender's signature, unchanged, for the far end to check — and pings to its far
    end, and keeps track of when it last heard it, to vouch for it when asked."""

    def __init__(self, wire: HttpWire, to: str, *, every_s: float = 1.0) -> None:
        self.wire = wire
        self.to = to
        self.every_s = every_s
        self.last_heard: float | None = None

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/deliver"): self._deliver,
            ("GET", "/ping"): self._ping,
            ("GET", "/heard"): self._heard,
        }

    def watch(self, stop: threading.Event) -> None:
        """Ping the far end every ``every_s`` until ``stop``: what ``/heard`` reports."""
        while not stop.is_set():
            with contextlib.suppress(WireError):
                self._ping(None)
            stop.wait(self.every_s)

    def _deliver(self, request: Request) -> dict[str, Any]:
        signed = {h: request.headers[h] for h in requests.HEADERS if h in request.headers}
        return self.wire.forward(self.to, request.raw, signed, 30.0)

    def _ping(self, _: Request | None) -> dict[str, Any]:
        self.wire.ping(self.to, self.every_s)
        self.last_heard = time.monotonic()
        return {"ok": True}

    def _heard(self, _: Request) -> dict[str, Any]:
        if self.last_heard is None:
            return {"heard_ago_ms": None}
        return {"heard_ago_ms": int((time.monotonic() - self.last_heard) * 1000)}


@dataclass(frozen=True)
class RelayKeys:
    """What a relay holds: a TLS context made from its own (intermediary's) key, to serve
    https (None: plain http), and the card of its far end, to pin an https far end to (None:
    its far end is plain http)."""

    tls: ssl.SSLContext | None = None
    far_end: Identity | None = None


def run_relay(
    to: str,
    host: str,
    port: int,
    *,
    stop: threading.Event,
    ready: Callable[[str], None] | None = None,
    keys: RelayKeys = RelayKeys(),
    limits: Limits = Limits(),
) -> None:
    """Run a relay to ``to`` on (host, port) until ``stop`` is set; ``ready`` is told its URL
    once it listens. With ``keys.tls`` it serves https; an https far end is pinned to
    ``keys.far_end``."""
    far = Peer(site=None, pin=keys.far_end)
    wire = HttpWire(peers=lambda origin: far)
    hop = Relay(wire, to)
    try:
        server = serve(hop.routes(), host, port, limits, tls=keys.tls)
        try:
            if ready is not None:
                ready(server.url)
            hop.watch(stop)
        finally:
            server.shutdown()
    finally:
        wire.close()
