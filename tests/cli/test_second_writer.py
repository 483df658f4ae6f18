"""Two processes on one workspace: each appends after the other without losing or breaking
anything, and a long-running room folds what the other wrote (issue 18, item 2)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import sitroom
from sitroom.application.ports import ManualClock
from sitroom.domain.kinds import CLAIM

from conftest import V2_FILES
from feeds import Feed, feed
from helpers import sitroom_process

__all__ = ["feed"]  # a fixture

EXAMPLES = Path(__file__).parents[2] / "examples"


def kinds(db: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT kind, SUM(last_seq - first_seq + 1) FROM segments GROUP BY kind"
        ).fetchall()
        return {k: int(n) for k, n in rows}
    finally:
        con.close()


def test_a_room_appends_after_another_process_wrote(tmp_path: Path) -> None:
    """A room opened before another process appended numbers its next records after the
    other's (it used to reuse their seqs: `UNIQUE constraint failed: segments.first_seq`), and
    its states include what the other wrote."""
    ws = tmp_path / "ws"
    sitroom.init(ws).close()
    with sitroom.open(ws, as_site=True) as room:
        before = room.engine.log.last_seq()
        other = sitroom_process("ingest", "ucdp", "-w", str(ws), str(EXAMPLES / "ged231.csv"))
        assert other.code == 0, other.err
        added = room.ingest.reports([EXAMPLES / "hezbollah-posture.md"])
        assert added.reports[0].new_records > 0
        assert room.engine.log.last_seq() > before
        # The claims this process added are folded after the other's events, not instead.
        state = room.world.state()
        assert state.records == room.engine.log.last_seq()
    counts = kinds(ws / "sitroom.db")
    assert counts["ucdp.event"] > 0 and counts[CLAIM] > 0
    check = sitroom_process("verify", "-w", str(ws))
    assert check.code == 0, check.out + check.err


def test_recorded_time_never_goes_back_when_another_writer_ran_ahead(tmp_path: Path) -> None:
    """Records are stored in recorded-time order along seq even when the other writer's clock
    was a day ahead of this one's (as-of reads depend on it): this writer's batch is moved on
    past the other's, and its clock goes on from there."""
    ws = tmp_path / "ws"
    sitroom.init(ws).close()
    now = int(time.time() * 1000)
    with sitroom.open(ws, as_site=True, clock=ManualClock(now)) as room:
        with sitroom.open(ws, as_site=True, clock=ManualClock(now + 86_400_000)) as ahead:
            ahead.ingest.feeds("acled", [str(EXAMPLES / "acled-export.csv")])
            theirs = ahead.engine.log.last_recorded_time()
        room.ingest.reports([EXAMPLES / "hezbollah-posture.md"])
        times = [t for b in room.engine.log.read() for t in b.column("recorded_time").to_pylist()]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert min(t for t in times if t > theirs) == theirs + 1
        # As of the other writer's last record, this writer's later records are not known.
        assert room.engine.log.seq_as_of(theirs) < room.engine.log.last_seq()


@pytest.mark.parametrize(
    "command", [("verify",), ("state",), ("ingest", "acled", str(EXAMPLES / "acled-export.csv"))]
)
def test_a_reading_command_between_two_appends_breaks_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`sitroom verify` signs a checkpoint, `state` saves snapshots, an ingest appends: the room
    open beside each goes on appending."""
    ws = tmp_path / "ws"
    sitroom.init(ws).close()
    with sitroom.open(ws, as_site=True) as room:
        done = sitroom_process(*command, "-w", str(ws))
        assert done.code == 0, done.err
        assert room.ingest.reports([EXAMPLES / "hezbollah-posture.md"]).reports[0].new_records
    assert sitroom_process("verify", "-w", str(ws)).code == 0


# a followed feed beside other writers ---------------------------------------------------------
def lines(export: Path) -> int:
    return export.read_bytes().count(b"\n")


class Follower:
    """`sitroom ingest gdelt --follow` of ``feed`` as a real process, polling every second,
    started once the feed holds its first export and waited for until it has taken it. When
    the ``with`` block ends it is stopped (SIGTERM), and ``code``, ``out`` (its JSON) and
    ``err`` say how it ended."""

    def __init__(self, tmp_path: Path, feed: Feed) -> None:
        self.ws, self.db, self.feed = tmp_path / "ws", tmp_path / "ws" / "sitroom.db", feed
        self.code, self.out, self.err = -1, dict[str, Any](), ""

    def __enter__(self) -> Follower:
        sitroom.init(self.ws).close()
        self.feed.publish(V2_FILES[0])
        args = ["ingest", "gdelt", "-w", str(self.ws), self.feed.lastupdate, "--follow"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sitroom", *args, "--interval", "1s", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.wait_for(lines(V2_FILES[0]), "the first export")
        return self

    def wait_for(self, events: int, what: str) -> None:
        """Until the log holds ``events`` GDELT events; fails if the follower exits first."""
        deadline = time.monotonic() + 120
        while kinds(self.db).get("gdelt.event", 0) != events:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                raise AssertionError(
                    f"the follower exited {self.proc.returncode} before {what}: {err}"
                )
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        out, self.err = self.proc.communicate(timeout=60)
        self.code = self.proc.returncode
        self.out = json.loads(out) if out.strip() else {}


@pytest.mark.slow
def test_a_follower_goes_on_while_other_processes_write(tmp_path: Path, feed: Feed) -> None:
    """`ingest --follow` beside a report added, a verify and an ingest from other processes:
    its next poll appends after them (it used to exit 1 on `UNIQUE constraint failed`)."""
    both = lines(V2_FILES[0]) + lines(V2_FILES[1])
    with Follower(tmp_path, feed) as f:
        for args in (
            ("reports", "add", "-w", str(f.ws), str(EXAMPLES / "hezbollah-posture.md")),
            ("verify", "-w", str(f.ws)),
            ("ingest", "acled", "-w", str(f.ws), str(EXAMPLES / "acled-export.csv")),
        ):
            other = sitroom_process(*args)
            assert other.code == 0, other.err
        feed.publish(V2_FILES[1])
        f.wait_for(both, "the second export")
    assert f.code == 0, f.err
    assert f.out["failed_polls"] == [] and f.out["totals"]["accepted"] == both
    assert kinds(f.db)[CLAIM] > 0 and kinds(f.db)["acled.event"] > 0
    check = sitroom_process("verify", "-w", str(f.ws))
    assert check.code == 0, check.out + check.err


@pytest.mark.slow
def test_a_poll_that_finds_the_log_busy_is_retried(tmp_path: Path, feed: Feed) -> None:
    """Another process holds the write lock past the busy timeout: that poll fails with one
    line, and the next one, after the lock is released, takes the export."""
    both = lines(V2_FILES[0]) + lines(V2_FILES[1])
    with Follower(tmp_path, feed) as f:
        holder = sqlite3.connect(f.db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            feed.publish(V2_FILES[1])
            assert f.proc.stderr is not None
            busy = f.proc.stderr.readline()  # blocks until the follower's poll gives up
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        f.wait_for(both, "the retried poll")
    assert "warning: poll" in busy and "busy" in busy, busy
    assert f.code == 0, f.err
    assert len(f.out["failed_polls"]) >= 1 and f.out["totals"]["accepted"] == both
