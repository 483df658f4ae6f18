"""The live stream: a record appended is seen at once by a subscribed client; a reconnect with
Last-Event-ID misses nothing and repeats nothing; a client that stops reading is told it was
dropped (its queue is bounded) and resumes where it was."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from serving import Listener, Served, Sse, serve_in_thread, sse_events

RULE = "fatalities >= 50 within 100mi of Beirut in 24h"


def _names(seen: list[Sse]) -> list[str]:
    return [json.loads(e.data)["payload"]["name"] for e in seen
            if e.event == "record" and json.loads(e.data)["kind"] == "redline"]  # fmt: skip


def test_an_append_is_seen_and_a_reconnect_misses_and_repeats_nothing(served: Served) -> None:
    alice = served.as_user("alice")
    token = served.login("alice")
    first = Listener(served.url, token)
    for i in range(3):
        assert alice.post("/redlines", json={"name": f"a-{i}", "rule": RULE}).status_code == 201
    seen = first.until(lambda s: len(_names(s)) == 3)
    ids = [int(e.id or 0) for e in seen]
    assert ids == sorted(set(ids))  # each event's id is its record's seq, in order
    last = seen[-1].id
    # Written while no one listens, then read on reconnecting from the last id seen.
    for i in range(3, 6):
        assert alice.post("/redlines", json={"name": f"a-{i}", "rule": RULE}).status_code == 201
    again = Listener(served.url, token, headers={"Last-Event-ID": str(last)})
    resumed = again.until(lambda s: len(_names(s)) == 3)
    assert _names(resumed) == ["a-3", "a-4", "a-5"]
    assert min(int(e.id or 0) for e in resumed) > int(last or 0)
    # ?after=SEQ does the same.
    after = Listener(served.url, token, after=0)
    assert _names(after.until(lambda s: len(_names(s)) == 6)) == [f"a-{i}" for i in range(6)]


def test_a_client_that_stops_reading_is_dropped_and_told(
    team_room: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_STREAM_QUEUE_MAX", "2")
    served = serve_in_thread(team_room)
    try:
        alice = served.as_user("alice")
        token = served.login("alice")
        assert alice.post("/channels", json={"id": "direct", "to": "Tehran"}).status_code == 201
        url = urlsplit(served.url)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect((url.hostname, url.port))
        slow.sendall(f"GET /stream HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += slow.recv(1)
        assert head.startswith(b"HTTP/1.1 200"), head
        # It reads no more; big messages fill its socket, then its queue of two.
        big = "x" * 60_000
        dropped = False
        deadline = time.monotonic() + 60
        sent = 0
        while not dropped:
            assert time.monotonic() < deadline, "the slow client was never dropped"
            r = alice.post("/channels/direct/send", json={"body": big, "id": f"m-{sent}"})
            assert r.status_code == 200, r.text
            sent += 1
            metrics = alice.get("/metrics").text
            dropped = "sitroom_stream_dropped_total 1.0" in metrics
        # It reads again: what was on its way, then "dropped" with the last seq it got.
        slow.settimeout(30)
        data = b""
        while chunk := slow.recv(65536):
            data += chunk
        slow.close()
        events = list(sse_events(iter(data.decode().splitlines())))
        assert events[-1].event == "dropped"
        told = json.loads(events[-1].data)
        got = [int(e.id or 0) for e in events[:-1] if e.id]
        assert told["last_seq"] == (got[-1] if got else told["last_seq"])
        assert "Last-Event-ID" in told["message"]
        # Resuming from there brings every message, none twice.
        again = Listener(served.url, token, headers={"Last-Event-ID": str(told["last_seq"])})

        def messages(seen: list[Sse]) -> list[str]:
            return [json.loads(e.data)["id"] for e in seen
                    if json.loads(e.data)["kind"] == "channel.send"]  # fmt: skip

        before = [json.loads(e.data)["id"] for e in events[:-1]
                  if json.loads(e.data)["kind"] == "channel.send"]  # fmt: skip
        rest = messages(again.until(lambda s: len(before) + len(messages(s)) >= sent))
        assert len(before) + len(rest) == sent and not set(before) & set(rest)
        assert httpx.get(f"{served.url}/healthz").status_code == 200
    finally:
        served.stop()
