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
from sitroom.adapters.channel_http import Limits, Served, serve_desk
from sitroom.application.desk import Desk
from sitroom.room import Room
from sitroom.testing import MemoryWire

LIMITS = Limits(max_body_bytes=10_000, read_timeout_s=0.5, max_connections=4)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Room, Served]]:
    room = sitroom.init(tmp_path / "room")
    d = Desk(room.session, MemoryWire())
    served = serve_desk(d, "127.0.0.1", 0, LIMITS)
    try:
        yield room, served  # type: ignore[misc]
    finally:
        served.shutdown()
        d.close()
        room.close()


def connect(served: Served) -> socket.socket:
    host, port = served.server.server_address[:2]
    s = socket.create_connection((str(host), int(port)), timeout=5)
    return s


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


def post(path: str, body: bytes, length: int | str | None = None) -> bytes:
    n = len(body) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
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
    ],
)  # fmt: skip
def test_a_malformed_request_gets_a_4xx_json_error_and_changes_nothing(
    desk: tuple[Room, Served], path: str, body: bytes, words: str
) -> None:
    room, served = desk
    before = room.session.count()
    status, answer = request(served, post(path, body))
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
