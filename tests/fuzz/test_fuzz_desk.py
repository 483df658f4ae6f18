"""A desk's HTTP endpoints fuzzed as a stranger on the network would, against a real server on
loopback: request lines, headers and bodies mangled. Every malformed request gets a 4xx whose
body is the one JSON error shape, ``{"error": "one line"}``; the log is exactly what it was after
a refused request; the server prints no traceback and stays up (a valid request after the
garbage still works, on the same connection when its framing allows, else on a new one).

Bodies are mutations of the requests a desk really takes (a message to submit, an envelope to
deliver): fields dropped, of the wrong type or unknown, thirty-digit numbers, 1e400, NaN, -0,
100,000 nested arrays, bytes that are not UTF-8, a byte order mark. Headers: a wrong or missing
Content-Type, Content-Length missing, short, doubled, negative, in superscript digits or thirty
digits long, chunked bodies."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sitroom
from sitroom.adapters.channel_http import Limits, Served
from sitroom.room import Room

from fuzzing import fuzz
from helpers import connect, served_desk

LIMITS = Limits(read_timeout_s=0.5, max_connections=16)  # the real 1 MiB body limit
THIRTY = "123456789012345678901234567890"
PING = b"GET /ping HTTP/1.1\r\nhost: desk\r\n\r\n"


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body as is: what orjson would never write (1e400, NaN)."""

    text: str


HOSTILE: list[Any] = [
    Raw(THIRTY), Raw("-" + THIRTY), Raw("1e400"), Raw("-1e400"), Raw("NaN"), Raw("Infinity"),
    Raw("-0"), Raw("1.5"), Raw('"\\ud800"'), Raw('"\\u0000"'), 10**18, -1, 0, True, False, None,
    "", "x" * 300, "FLASH", "9999-12-31T23:59:59-23:59", "0001-01-01", "Mars/Olympus",
    "\x1b[31m", "a\nb", [], [1, [2]], {}, {"a": {"b": None}}, 1.0,
]  # fmt: skip


def submit_body(n: int) -> dict[str, Any]:
    return {"channel": "direct", "priority": "PRIORITY", "body": "proposal", "id": f"s-{n}",
            "reply_by": "+2h", "await_reply": False, "expires": None}  # fmt: skip


def deliver_body(n: int) -> dict[str, Any]:
    return {"id": f"d-{n}", "channel": "direct", "first_channel": "direct",
            "priority": "ROUTINE", "attempt": 1, "body": "proposal",
            "sent_ms": 1_795_000_000_000, "reply_by_ms": None, "expires_ms": None,
            "track": None}  # fmt: skip


def dumps(value: Any) -> bytes:
    """JSON, with each Raw written as its text."""
    raws: list[str] = []

    def mark(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v

    text = orjson.dumps(mark(value))
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{i}\\u0000"'.encode(), raw.encode())
    return text


@st.composite
def objects(draw: st.DrawFn) -> Any:
    """A request desk clients send, with fields dropped, changed or added."""
    n = draw(st.integers(0, 10**6))
    body = draw(st.sampled_from([submit_body, deliver_body]))(n)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(body)))
        how = draw(st.sampled_from(["drop", "change", "change", "add"]))
        if how == "drop":
            body.pop(key, None)
        elif how == "change":
            body[key] = draw(st.sampled_from(HOSTILE))
        else:
            body[draw(st.sampled_from(["priorty", "ack", "__proto__", "id ", ""]))] = 1
    return body if draw(st.integers(0, 9)) else draw(st.sampled_from([[body], body.get("id")]))


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object"] * 6 + ["bytes", "deep", "cut", "bom", "junk"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "deep":
        n = draw(st.sampled_from([1_000, 100_000]))
        return draw(st.sampled_from([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n]))
    data = dumps(draw(objects()))
    if kind == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "junk":
        i = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80", b"}"]))
        return data[:i] + junk + data[i:]
    return data


@dataclass(frozen=True)
class Request:
    raw: bytes
    framed: bool  # its length is said right: the connection may carry another request
    head: bool


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["POST"] * 8 + ["GET"] * 3 + ["PUT", "HEAD", "BREW", "post"]))
    path = draw(
        st.sampled_from(["/submit", "/deliver"] * 4
                        + ["/status", "/ping", "/heard", "/nope", "/submit?x=1", "/deliver/", "*"])
    )  # fmt: skip
    version = draw(st.sampled_from(["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/2.0", "HTTP/9.9", ""]))
    body = draw(bodies()) if method != "GET" or draw(st.booleans()) else b""
    headers = [b"host: desk"]
    kind = draw(st.sampled_from(["application/json"] * 6 + [
        "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "", None,
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]))  # fmt: skip
    if kind is not None:
        headers.append(f"content-type: {kind}".encode())
    wrong = ["none", "short", "twice", "two", "-1", "\u00b2", THIRTY, "12abc", "+5", "0x10"]
    length = draw(st.sampled_from(["right"] * 8 + wrong))
    framed = length == "right"
    if length in ("right", "twice"):
        headers += [f"content-length: {len(body)}".encode()] * (2 if length == "twice" else 1)
        framed = True
    elif length == "short":
        headers.append(f"content-length: {len(body) // 2}".encode())
    elif length == "two":
        headers += [f"content-length: {len(body)}".encode(), b"content-length: 0"]
    elif length != "none":
        headers.append(b"content-length: " + length.encode("latin-1"))
    if draw(st.integers(0, 9)) == 0:  # a chunked body instead
        headers = [h for h in headers if not h.startswith(b"content-length")]
        headers.append(b"transfer-encoding: chunked")
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
    extra = [
        b"x-junk: \xff\xfe",
        b"expect: 100-continue",
        b"connection: keep-alive",
        b"accept: */*",
    ]
    headers += draw(st.lists(st.sampled_from(extra), max_size=2))
    line = " ".join(x for x in (method, path, version) if x).encode()
    raw = line + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body
    keeps = version == "HTTP/1.1" and framed and not any(b"chunked" in h for h in headers)
    return Request(raw, keeps, method == "HEAD")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def read_answer(s: socket.socket, head: bool = False) -> Answer | None:
    """One response off the connection, past any 100 Continue (None when the server closed
    the connection without one)."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        top, _, data = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        if not lines[0].split()[1].startswith("1"):
            break
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    n = 0 if head else int(headers.get("content-length", "0"))
    while len(data) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return Answer(int(lines[0].split()[1]), headers, data[:n])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Room, Served]]:
    with sitroom.init(Path(tmp_path_factory.mktemp("desk")) / "room") as room:
        room.channels.add("direct", counterpart="the far desk")  # no address: messages wait here
        with served_desk(room, LIMITS) as served:
            yield room, served


def assert_one_shape(answer: Answer, head: bool = False) -> None:
    """A refusal: 4xx, JSON, and only ``{"error": one line}`` (but to a HEAD, which has no
    body)."""
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type") == "application/json"
    if head:
        return
    error = json.loads(answer.body)
    assert list(error) == ["error"], error
    message = error["error"]
    assert isinstance(message, str) and message.strip() and "\n" not in message, error


@fuzz()
@given(request=requests())
def test_every_request_is_answered_and_a_refusal_changes_nothing(
    desk: tuple[Room, Served], capfd: pytest.CaptureFixture[str], request: Request
) -> None:
    room, served = desk
    before = room.session.count()
    capfd.readouterr()
    with connect(served) as s:
        with contextlib.suppress(OSError):  # the server refused the body unread, and closed
            s.sendall(request.raw)
        answer = read_answer(s, request.head)
        assert answer is not None, "no answer"
        if answer.status >= 400:
            assert_one_shape(answer, request.head)
            assert room.session.count() == before, "a refused request changed the log"
        else:
            assert answer.status == 200, answer.status
            assert request.head or isinstance(json.loads(answer.body), dict)
        if request.framed and answer.headers.get("connection") != "close":
            s.sendall(PING)  # the same connection, still in step
            assert (again := read_answer(s)) is not None and again.status == 200
    assert "Traceback" not in capfd.readouterr().err
    with connect(served) as s:
        s.sendall(PING)
        pong = read_answer(s)
    assert pong is not None and (pong.status, json.loads(pong.body)) == (200, {"ok": True})
