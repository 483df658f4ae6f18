"""The pieces several `sitroom serve` processes on one PostgreSQL log stand on: one election
winner at a time, the lock let go with its connection; an append's NOTIFY heard with its last
seq, only once it commits; a follower's log refusing appends until it leads; a log opened while
a writer holds the election."""

from __future__ import annotations

import queue
import threading
import time

import psycopg
import pytest

from sitroom.adapters.log_postgres import APPEND_LOCK, PostgresLog
from sitroom.adapters.pg_roles import Candidacy, Listener
from sitroom.errors import LogError, NotWriter
from sitroom.testing import make_record
from sitroom.testing.log_contract import stamp

from pg_server import postgres_server, postgres_url  # noqa: F401


def test_one_candidate_wins_and_the_next_wins_once_it_is_gone(postgres_url: str) -> None:  # noqa: F811
    a, b = Candidacy(postgres_url), Candidacy(postgres_url)
    try:
        assert a.try_lead() and a.holds()
        assert not b.try_lead() and not b.holds()
        assert a.try_lead()  # asking again while holding it: still the writer
        a.close()  # its connection closed: the lock with it, as when the process is killed
        assert not a.holds()
        # The server lets the lock go when the closed session's backend ends, a moment after
        # the client hangs up: a reader retries (every 0.5 s), so does this test, for 10 s.
        deadline = time.monotonic() + 10
        while not b.try_lead() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.holds()
    finally:
        a.close()
        b.close()


def test_the_election_is_not_the_append_lock(postgres_url: str) -> None:  # noqa: F811
    """The elected writer's own appends (on the log's connection) do not wait for its claim,
    and a process that is not elected may still append: appends take the append lock alone."""
    log = PostgresLog(postgres_url, create=True, lock_timeout_ms=500)
    other = PostgresLog(postgres_url, lock_timeout_ms=500)
    claim = Candidacy(postgres_url)
    try:
        assert claim.try_lead()
        assert len(log.append(stamp([make_record(1)], 1)).appended) == 1
        assert len(other.append(stamp([make_record(2)], 2)).appended) == 1
        with psycopg.connect(postgres_url, autocommit=True) as con:
            free = con.execute("SELECT pg_try_advisory_lock(%s)", (APPEND_LOCK,)).fetchone()
        assert free == (True,)
    finally:
        claim.close()
        log.close()
        other.close()


def test_an_append_is_heard_with_its_last_seq_once_committed(postgres_url: str) -> None:  # noqa: F811
    log = PostgresLog(postgres_url, create=True)
    heard: queue.Queue[int | None] = queue.Queue()
    listener = Listener(postgres_url, heard.put, quiet_s=0.2)
    listener.start()
    try:
        assert heard.get(timeout=10) is None  # connected: look at the log
        log.append(stamp([make_record(i) for i in range(3)], 1))
        got = heard.get(timeout=10)
        while got is None:  # a quiet turn in between
            got = heard.get(timeout=10)
        assert got == 3
        # A transaction that notifies and rolls back is never heard of.
        with psycopg.connect(postgres_url) as con:
            con.execute("SELECT pg_notify('sitroom_log', '99')")
            con.rollback()
        log.append(stamp([make_record(9)], 10))
        seqs = [heard.get(timeout=10) for _ in range(8)]
        assert 4 in seqs and 99 not in seqs
    finally:
        listener.stop()
        log.close()


def test_a_follower_refuses_appends_until_it_leads(postgres_url: str) -> None:  # noqa: F811
    log = PostgresLog(postgres_url, create=True)
    try:
        log.follow("another process is the writer")
        with pytest.raises(NotWriter, match="another process is the writer"):
            log.append(stamp([make_record(1)], 1))
        assert log.last_seq() == 0
        log.lead()
        assert len(log.append(stamp([make_record(1)], 1)).appended) == 1
    finally:
        log.close()


def test_a_log_opens_while_a_session_holds_the_append_lock(postgres_url: str) -> None:  # noqa: F811
    """Opening a migrated log takes no lock: a reader starting, or `sitroom verify`, never
    waits for a writer in the middle of an append."""
    PostgresLog(postgres_url, create=True).close()
    opened: list[PostgresLog] = []
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (APPEND_LOCK,))
        t = threading.Thread(target=lambda: opened.append(PostgresLog(postgres_url)))
        t.start()
        t.join(10)
        assert opened, "opening waited for the append lock"
    opened[0].close()
    with pytest.raises(LogError):  # a standby-like refusal is a plain LogError, not NotWriter
        log = PostgresLog(postgres_url)
        log.read_only = "read-only for this test"
        try:
            log.append(stamp([make_record(1)], 1))
        finally:
            log.close()
