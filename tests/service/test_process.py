"""`sitroom serve` in its own process: the room's one writer. A second server, or any other
process opening the room, is refused in one line (commands go through the server); two clients
writing at once are all answered, in order; a SIGTERM in the middle of writes loses none that
was acknowledged."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import httpx
import pytest

import sitroom.room
from sitroom.domain.kinds import REDLINE
from sitroom.errors import WorkspaceError

from serving import PASS, Listener, Process, run_sitroom, serve_process

RULE = "fatalities >= 50 within 100mi of Beirut in 24h"


def _token(url: str, user: str) -> str:
    r = httpx.post(f"{url}/auth/login", json={"user": user, "passphrase": PASS}, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_a_served_room_is_refused_to_other_processes(team_room: Path) -> None:
    server = serve_process(team_room)
    try:
        info = json.loads((team_room / "serve.json").read_text())
        assert info["url"] == server.url and info["pid"] == server.proc.pid
        second = run_sitroom("serve", "-w", str(team_room), "--listen", "127.0.0.1:0")
        assert second.returncode != 0 and second.stdout == "", second
        (line,) = second.stderr.splitlines()
        assert f"served by `sitroom serve` at {server.url} (pid {server.proc.pid})" in line
        # The library opens no second writer on it either (the CLI goes through the server).
        with pytest.raises(WorkspaceError, match="served by `sitroom serve`"):
            sitroom.room.open(team_room, as_site=True)
        verified = run_sitroom("verify", "-w", str(team_room), "--json")
        assert verified.returncode == 0, verified.stderr
        assert any("POST /verify" in n for n in json.loads(verified.stdout)["notes"])
    finally:
        assert server.stop() == 0
    assert not (team_room / "serve.json").exists()
    assert run_sitroom("-u", "alice", "tracks", "-w", str(team_room)).returncode == 0


def test_two_clients_writing_at_once_are_all_answered_in_order(team_room: Path) -> None:
    server = serve_process(team_room)
    try:
        stream = Listener(server.url, _token(server.url, "alice"), after=0)
        answers: dict[str, list[int]] = {}

        def write(who: str) -> None:
            token = _token(server.url, who)
            with httpx.Client(base_url=server.url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as c:  # fmt: skip
                answers[who] = [
                    c.post("/redlines", json={"name": f"{who}-{i}", "rule": RULE}).status_code
                    for i in range(10)
                ]

        threads = [threading.Thread(target=write, args=(w,)) for w in ("alice", "dana")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert answers == {"alice": [201] * 10, "dana": [201] * 10}

        def named(seen: list) -> list[str]:  # type: ignore[type-arg]
            return [json.loads(e.data)["payload"]["name"] for e in seen
                    if json.loads(e.data)["kind"] == REDLINE]  # fmt: skip

        names = named(stream.until(lambda seen: len(named(seen)) == 20))
        for who in ("alice", "dana"):
            assert [n for n in names if n.startswith(who)] == [f"{who}-{i}" for i in range(10)]
        with httpx.Client(base_url=server.url, timeout=60) as c:
            token = _token(server.url, "vic")
            report = c.post("/verify", json={}, headers={"Authorization": f"Bearer {token}"})
        assert report.status_code == 200 and report.json()["ok"] is True, report.text
    finally:
        assert server.stop() == 0
    r = run_sitroom("verify", "-w", str(team_room))
    assert r.returncode == 0, r.stderr


def _write_until_gone(
    url: str, token: str, acknowledged: list[str], halfway: threading.Event
) -> None:
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as c:  # fmt: skip
        for i in range(10_000):
            try:
                r = c.post("/redlines", json={"name": f"w-{i}", "rule": RULE})
            except httpx.HTTPError:
                return  # the server is gone: what it answered is what counts
            if r.status_code != 201:
                return
            acknowledged.append(f"w-{i}")
            if i == 20:
                halfway.set()


def _stored(room: Path) -> set[str]:
    with sitroom.room.open(room, as_site=True) as r:
        return {str(x.payload["name"]) for x in r.session.records(kinds=[REDLINE])}


def _stopped_while_writing(room: Path, sig: int) -> tuple[Process, list[str]]:
    """A server sent ``sig`` while a client writes as fast as it is answered: the server,
    stopped, and the writes it acknowledged."""
    server = serve_process(room)
    acknowledged: list[str] = []
    halfway = threading.Event()
    writer = threading.Thread(
        target=_write_until_gone,
        args=(server.url, _token(server.url, "alice"), acknowledged, halfway),
    )
    writer.start()
    assert halfway.wait(60)
    server.proc.send_signal(sig)
    server.proc.wait(60)
    writer.join(60)
    return server, acknowledged


def test_sigterm_during_writes_loses_no_acknowledged_write(team_room: Path) -> None:
    server, acknowledged = _stopped_while_writing(team_room, signal.SIGTERM)
    assert server.proc.returncode == 0
    lines = [json.loads(line) for line in server.stderr().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "request"]
    assert requests and {"time", "method", "route", "status", "user", "ms"} <= set(requests[0])
    assert not (team_room / "serve.json").exists()
    assert len(acknowledged) > 20 and set(acknowledged) <= _stored(team_room)


def test_sigkill_during_writes_loses_no_acknowledged_write_and_the_room_opens_again(
    team_room: Path,
) -> None:
    """No time to close: what was answered 201 was committed (fsync) before the answer. The
    lock dies with the process, so the room is not held by a server that is gone."""
    server, acknowledged = _stopped_while_writing(team_room, signal.SIGKILL)
    assert server.stop() == -signal.SIGKILL
    assert len(acknowledged) > 20 and set(acknowledged) <= _stored(team_room)
    assert sitroom.room.verify(team_room).ok
    again = serve_process(team_room)  # serve.json was left behind; the lock was not
    assert again.stop() == 0


def test_a_snapshot_that_does_not_verify_is_logged_by_the_server(team_room: Path) -> None:
    """An insider edits the `secure` snapshot before the server starts: the server rebuilds
    the state from the log, as the CLI does, and says so in its log (a JSON line naming the
    snapshot), once; dana is still refused the track the edit would have granted."""
    import sqlite3

    toml = team_room / "sitroom.toml"  # snapshots for a room this small: every 10 records
    toml.write_text(toml.read_text().replace("snapshot_every = 10000", "snapshot_every = 10"))
    with sitroom.room.open(team_room, as_site=True) as room:
        room.session.state("secure")  # read, so snapshotted as the room closes
    with sqlite3.connect(team_room / "sitroom.db") as db:
        rows = db.execute(
            "SELECT version, seq, data FROM snapshots WHERE projection = 'secure'"
        ).fetchall()
        assert rows
        for version, seq, data in rows:
            edited = bytes(data).replace(b'"dana"', b'"dona"')
            assert edited != bytes(data)
            db.execute(
                "UPDATE snapshots SET data = ? WHERE projection = 'secure' AND version = ? "
                "AND seq = ?",
                (edited, version, seq),
            )
    server = serve_process(team_room)
    try:
        dana = _token(server.url, "dana")
        r = httpx.get(f"{server.url}/questions", headers={"Authorization": f"Bearer {dana}"})
        assert r.status_code == 200 and "talks" not in r.text  # us-iran's question: not hers
    finally:
        assert server.stop() == 0
    notes = [json.loads(line) for line in server.logged if '"note"' in line]
    assert len(notes) == 1, server.stderr()
    assert notes[0]["level"] == "warning"
    assert "the snapshot of `secure` at seq" in notes[0]["note"]
    assert "does not verify" in notes[0]["note"] and "rebuilt from" in notes[0]["note"]
