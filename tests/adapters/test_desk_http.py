"""A desk's HTTP endpoints attacked as a stranger on the network would: every bad request gets
a 4xx JSON answer on its connection (a malformed one killed it, with a traceback), a body over
the limit is refused unread, a stalled request is dropped after the read timeout, connections
beyond the limit get a 503 — and the log is exactly what it was."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.channel_http import Limits, Served
from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.identity import Secret, identity_record
from sitroom.room import Room

from helpers import connect, served_desk, signed_headers

LIMITS = Limits(max_body_bytes=10_000, read_timeout_s=0.5, max_connections=4)


SITE = "room"


@pytest.fixture
def peer() -> Secret:
    return new_secret("peer", "site")


@pytest.fixture
def desk(tmp_path: Path, peer: Secret) -> Iterator[tuple[Room, Served]]:
    with sitroom.init(tmp_path / "room", site=SITE) as room:
        room.session.append([identity_record(peer, room.session.now_ms())])  # as if imported
        room.channels.add("c", counterpart="peer")
        with served_desk(room, LIMITS) as served:
            yield room, served


def request(served: Served, raw: bytes) -> tuple[int, dict[str, object]]:
    """One raw HTTP request; the status and the JSON body of its answer."""
    with connect(served) as s:
        s.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def post(
    path: str, body: bytes, length: int | str | None = None, headers: dict[str, str] | None = None
) -> bytes:
    n = len(body) if length is None else length
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {n}\r\nconnection: close\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/submit", b"{}", "no 'channel'"),
        ("/submit", b'{"channel": {"a": 1}}', "'channel' must be a string"),
        ("/submit", b'{"channel": "direct", "id": {"x": 1}}', "'id' must be a string"),
        ("/submit", b'{"channel": "direct", "priority": "ASAP"}', "unknown priority"),
        ("/submit", b'{"channel": "nope"}', "no channel 'nope'"),
        ("/deliver", b'{"id": {"x": 1}, "channel": "c", "sent_ms": 1}', "'id' must be a string"),
        ("/deliver", b'{"id": "m", "channel": "c", "priority": "FLASH", "sent_ms": 1e40}',
         "'sent_ms' must be a whole number"),
        ("/deliver", b"[1, 2]", "must be a JSON object"),
        ("/deliver", b"\xff\xfe garbage", "not valid utf-8"),
        # A label of the wrong type was recorded, as the refusal of a track named "{'a': 1}".
        ("/deliver", b'{"id": "m", "channel": "c", "sent_ms": 1, "track": {"a": 1}}',
         "'track' must be a string"),
        # A misspelt field was ignored: the message went without what it meant to say.
        ("/submit", b'{"channel": "direct", "priorty": "FLASH"}', "unknown field 'priorty'"),
        ("/submit", b'{"channel": "direct", "reply_by": "9999-12-31"}', "out of range"),
    ],
)  # fmt: skip
def test_a_malformed_request_gets_a_4xx_json_error_and_changes_nothing(
    desk: tuple[Room, Served], peer: Secret, path: str, body: bytes, words: str
) -> None:
    """A delivery is signed by a known site: what is checked here is what comes after."""
    room, served = desk
    before = room.session.count()
    signed = signed_headers(peer, SITE, body) if path == "/deliver" else None
    status, answer = request(served, post(path, body, headers=signed))
    assert status == 400 and words.lower() in str(answer["error"]).lower()
    assert room.session.count() == before
    assert request(served, b"GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n") == (
        200,
        {"ok": True},
    )


def test_a_body_over_the_limit_is_refused_unread(desk: tuple[Room, Served]) -> None:
    room, served = desk
    before = room.session.count()
    status, answer = request(served, post("/deliver", b"", length=10 * 1024 * 1024))
    assert status == 413 and "at most 10,000 bytes" in str(answer["error"])
    status, _ = request(served, post("/deliver", b"{", length="12abc"))
    assert status == 400
    assert room.session.count() == before


def test_a_stalled_request_is_dropped_and_others_are_served(desk: tuple[Room, Served]) -> None:
    _, served = desk
    with connect(served) as stalled:
        stalled.sendall(post("/deliver", b'{"id": "m"', length=500))  # promises more
        started = time.monotonic()
        assert stalled.recv(1024) == b""  # dropped after the read timeout, not held
        assert time.monotonic() - started < 4
    assert request(served, b"GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")[0] == 200


def test_connections_beyond_the_limit_get_a_503(desk: tuple[Room, Served]) -> None:
    _, served = desk
    held = [connect(served) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.2)  # each is accepted and holds its thread
        status, answer = request(served, b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        assert status == 503 and "too many connections" in str(answer["error"])
    finally:
        for s in held:
            s.close()
    time.sleep(LIMITS.read_timeout_s + 0.3)  # their threads end with their connections
    assert request(served, b"GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")[0] == 200


def answers(served: Served, raw: bytes) -> list[tuple[int, dict[str, object]]]:
    """Every response the server writes on one connection to ``raw``, until it closes it."""
    with connect(served) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        n = _length(head + b"\r\n\r\n")
        out.append((int(head.split()[1]), json.loads(rest[:n])))
        data = rest[n:]
    return out


PONG = (200, {"ok": True})
GET_PING = b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"PUT /submit HTTP/1.1\r\nhost: x\r\n\r\n", 405),  # was a 501 HTML page
        (b"GARBAGE\r\n\r\n", 400),  # was an HTML page without a status line
        (b"GET /ping HTTP/9.9\r\n\r\n", 400),
        (b"GET /ping\r\n\r\n", 400),  # HTTP/0.9: no status line, no headers
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /ping HTTP/1.1\r\n" + b"x: y\r\n" * 200 + b"\r\n", 431),
        (b"GET /submit HTTP/1.1\r\nhost: x\r\n\r\n", 405),  # was 404: /submit is there
    ],
    ids=["PUT", "garbage", "HTTP/9.9", "HTTP/0.9", "long line", "200 headers", "GET /submit"],
)
def test_a_request_the_standard_library_refuses_gets_the_same_json_error(
    desk: tuple[Room, Served], raw: bytes, status: int
) -> None:
    _, served = desk
    [(got, answer)] = answers(served, raw)
    assert got == status and list(answer) == ["error"] and str(answer["error"]).strip()


def test_a_chunked_body_is_refused_and_what_follows_it_is_never_read(
    desk: tuple[Room, Served],
) -> None:
    """Its chunks were left on the connection and read as the next request: a request hidden
    in a body could be smuggled past whatever forwards to the desk."""
    room, served = desk
    before = room.session.count()
    smuggled = b'{"id": "m", "channel": "c", "sent_ms": 1}'
    chunked = (
        b"POST /deliver HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + f"{len(smuggled):x}\r\n".encode() + smuggled
        + b"\r\n0\r\n\r\n" + post("/deliver", smuggled)
    )  # fmt: skip
    [(status, answer)] = answers(served, chunked)
    assert status == 411 and "Content-Length" in str(answer["error"])
    assert room.session.count() == before


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        # '\u00b2'.isdigit(), and int('\u00b2') a ValueError: a 500 and a traceback
        (b"content-length: \xb2\r\n", 400, "bad Content-Length"),
        (b"content-length: 2\r\ncontent-length: 20\r\n", 400, "bad Content-Length"),
        (b"content-length: 2\r\ncontent-type: text/plain\r\n", 415, "'text/plain'"),
        (
            b"content-length: 2\r\ncontent-type: application/x-www-form-urlencoded\r\n",
            415,
            "Content-Type: application/json",
        ),  # what curl -d sends
    ],
    ids=["superscript", "two lengths", "text/plain", "a form"],
)
def test_a_body_framed_or_typed_wrong_is_refused(
    desk: tuple[Room, Served],
    capfd: pytest.CaptureFixture[str],
    headers: bytes,
    status: int,
    says: str,
) -> None:
    room, served = desk
    before = room.session.count()
    raw = b"POST /deliver HTTP/1.1\r\nhost: x\r\n" + headers + b"\r\n{}"
    got, answer = answers(served, raw)[0]
    assert got == status and list(answer) == ["error"] and says in str(answer["error"])
    assert room.session.count() == before
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_sent_to_no_route_is_read_so_the_connection_stays_in_step(
    desk: tuple[Room, Served],
) -> None:
    """It was left unread and parsed as the next request line: the ping after it was lost."""
    _, served = desk
    got = answers(served, post("/nope", b'{"a": 1}').replace(b"connection: close\r\n", b"")
                  + GET_PING.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n"))  # fmt: skip
    assert [status for status, _ in got] == [404, 200] and got[1] == PONG


def test_a_message_without_an_id_of_its_own_is_taken(tmp_path: Path) -> None:
    """`channels send --desk URL` sends "id": null when no --id is given; the desk answered
    "the request has no 'id'"."""
    with sitroom.init(tmp_path / "room") as room:
        room.channels.add("direct", counterpart="the far desk")
        with served_desk(room, LIMITS) as served:
            body = b'{"channel": "direct", "body": "proposal", "id": null, "priority": "FLASH"}'
            status, answer = request(served, post("/submit", body))
    assert status == 200 and answer["accepted"] is True and answer["message"]


def test_a_site_has_only_its_own_head_witnessed(tmp_path: Path, peer: Secret) -> None:
    """/witness takes a request signed by a known site for its own head: one signed by peer
    for another site's head is 403 and counted; unsigned is 401; and a desk that witnesses
    nobody says so."""
    import httpx

    asked: list[object] = []
    with sitroom.init(tmp_path / "room", site=SITE) as room:
        room.session.append([identity_record(peer, room.session.now_ms())])
        with served_desk(room, LIMITS) as served:
            served.desk.witnessing = lambda r: asked.append(r) or {"ok": True}  # type: ignore[attr-defined]
            url = f"{served.url}/witness"
            for site, status in (("geneva", 403), ("peer", 200)):
                body = json.dumps({"head": {"site": site}}).encode()
                headers = signed_headers(peer, SITE, body, path="/witness")
                r = httpx.post(url, content=body, headers=headers)
                assert r.status_code == status, r.text
            assert asked == [{"head": {"site": "peer"}}]
            assert served.desk.refusals() == {"not-its-own-head": 1}  # type: ignore[attr-defined]
            assert httpx.post(url, content=b"{}").status_code == 401
            served.desk.witnessing = None  # type: ignore[attr-defined]
            body = json.dumps({"head": {"site": "peer"}}).encode()
            r = httpx.post(
                url, content=body, headers=signed_headers(peer, SITE, body, path="/witness")
            )
            assert r.status_code == 403 and "witnesses no site" in r.text
