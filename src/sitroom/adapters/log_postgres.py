"""The team's log: PostgreSQL (psycopg 3), the same log as SQLite's in another database.

The layout is SQLite's (log_sqlite.py): records in columnar *segments* (segments.py), one row
each, their bytes in a ``bytea`` column stored as they are (already compressed: no TOAST
compression pass); ``ids`` maps every record id to its seq, so re-ingesting is a no-op; each
segment is sealed into the audit chain (``leaves``, ``head``, ``digest``) in the transaction
that writes it, with the same bytes and digests, so `sitroom verify` walks it alike.

Appends are serialised by a transaction-level advisory lock, taken first in each append's
transaction (READ COMMITTED): the seq, the recorded time and the chain head all go on from
the last stored segment, so two appends can never interleave, and a lock that makes the second
writer wait is cheaper than SERIALIZABLE, which would let it encode and hash a whole batch and
then abort it at commit. Readers never wait (MVCC): each read sees committed segments only. Each
append that stores records ends with ``NOTIFY sitroom_log, '<last seq>'`` in its transaction
(delivered at commit, only if it commits): the other `sitroom serve` processes on the log wake
on it and fold the new tail (pg_roles.py, docs/scale-out.md).

The ids of a bulk append go in with one COPY; a batch holding ids the log already has makes it
fail, and the append goes on from a savepoint the slow way (which ids are known?) — still
inside the lock, so the head it read stays the head.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import errors as pg_errors

from sitroom.adapters import segments
from sitroom.adapters.logbase import (
    SegmentReads,
    decode_stored,
    holding,
    prepare_append,
    seal_segment,
    stored_segment,
)
from sitroom.application.ports import AppendResult, Attest, ReadFilters
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure import audit, merkle
from sitroom.errors import LogError, NotWriter, WorkspaceError

# The advisory lock every append takes: one database holds one room's log, so one key.
# "sitroom" in ASCII, as a bigint.
APPEND_LOCK = 0x736974726F6F6D
# The channel an append notifies with its last seq: a wake-up for the processes following.
CHANNEL = "sitroom_log"
STANDBY = "the database is a read-only standby"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_segments",
        """
        CREATE TABLE segments (
            first_seq bigint PRIMARY KEY,
            last_seq bigint NOT NULL,
            kind text NOT NULL,
            first_rt bigint NOT NULL,
            last_rt bigint NOT NULL,
            valid_min bigint,
            valid_max bigint,
            codec text NOT NULL,
            data bytea NOT NULL,
            leaves bytea,
            head bytea NOT NULL,
            digest bytea NOT NULL,
            CHECK (last_seq >= first_seq AND last_rt >= first_rt)
        );
        ALTER TABLE segments ALTER COLUMN data SET STORAGE EXTERNAL;
        CREATE INDEX segments_kind ON segments (kind, first_seq);
        CREATE INDEX segments_rt ON segments (first_rt, first_seq);
        CREATE TABLE ids (id text COLLATE "C" PRIMARY KEY, seq bigint NOT NULL);
        CREATE TABLE snapshots (
            projection text NOT NULL,
            version integer NOT NULL,
            seq bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (projection, version, seq)
        );
        CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    """,
    ),
]

_ID_CHUNK = 50_000
_HEADER = "first_seq, last_seq, kind, first_rt, last_rt, valid_min, valid_max, codec"
_COLUMNS = f"{_HEADER}, data, leaves, head"
_WRITTEN = f"{_COLUMNS}, digest"
_PLACES = ", ".join(["%s"] * len(_WRITTEN.split(",")))

_P = ParamSpec("_P")
_T = TypeVar("_T")


def is_url(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL log (a libpq URL)."""
    return text.startswith(("postgresql://", "postgres://"))


def shown(url: str) -> str:
    """``url`` as a message may show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class NoLog(WorkspaceError):
    """The database holds no sitroom log (a dropped one, or the wrong database)."""

    no_log = True


def records_at(url: str, connect_timeout_s: int = 10) -> int | None:
    """How many records the sitroom log in ``url``'s database holds (None: it holds none,
    not even an empty one); WorkspaceError if it cannot be reached."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s) as con:
            exists = con.execute("SELECT to_regclass('segments') IS NOT NULL").fetchone()
            if exists != (True,):
                return None
            row = con.execute("SELECT COALESCE(MAX(last_seq), 0) FROM segments").fetchone()
            return 0 if row is None else int(row[0])
    except psycopg.Error as e:
        raise WorkspaceError(f"cannot reach the log at {shown(url)}: {_reason(e)}") from None


def _reason(e: psycopg.Error) -> str:
    """The server's or libpq's reason, on one line."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


def _db_errors(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """A database error in a read becomes a LogError: one line for a person, not a trace."""

    @functools.wraps(method)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except psycopg.Error as e:
            log = args[0]
            assert isinstance(log, PostgresLog)
            raise LogError(f"cannot read the log at {log.where}: {_reason(e)}") from None

    return wrapped


class PostgresLog(SegmentReads):
    def __init__(
        self,
        url: str,
        *,
        durability: str = "full",
        create: bool = False,
        lock_timeout_ms: int = 5000,
        connect_timeout_s: int = 10,
    ) -> None:
        self.url = url
        self.where = shown(url)
        if durability not in ("full", "normal"):
            raise LogError(f"durability must be 'full' or 'normal', got {durability!r}")
        self.read_only: str | None = None
        self._follows = False  # read_only because another process is the elected writer
        self.unsaved: str | None = None  # why the last snapshots were not saved (a cache)
        self._lock_timeout_ms = int(lock_timeout_ms)
        self._timeout = int(connect_timeout_s)
        self._w = self._connect()
        try:
            # 'normal': a commit does not wait for the WAL to reach the disk — a crash of the
            # server's machine may lose the last commits, never half of one (as SQLite's).
            if durability == "normal":
                self._w.execute("SET synchronous_commit = off")
            if self._w.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
                self.read_only = STANDBY
            self._migrate(create)
            self._r = self._connect()
        except psycopg.Error as e:
            self._w.close()
            raise WorkspaceError(f"cannot open the log at {self.where}: {_reason(e)}") from None
        except BaseException:
            self._w.close()
            raise
        SegmentReads.__init__(self)

        self._encoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sitroom-segments")

    def _connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=self._timeout,
                application_name="sitroom",
            )
        except psycopg.Error as e:
            raise WorkspaceError(f"cannot reach the log at {self.where}: {_reason(e)}") from None

    def _migrate(self, create: bool) -> None:
        w = self._w
        exists = w.execute("SELECT to_regclass('migrations') IS NOT NULL").fetchone() == (True,)
        if not exists and not create:
            raise NoLog(f"no sitroom log at {self.where} (sitroom init --postgres makes one)")
        if self.read_only:
            if not exists:
                raise NoLog(f"no sitroom log at {self.where}, and {self.read_only}")
            return
        if exists and self._migrated():
            return  # no lock to take: an elected writer's appends would make the opening wait
        with w.transaction():
            # Two processes opening a new log at once: one makes the tables, the other waits.
            w.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            w.execute(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in w.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                for stmt in filter(str.strip, sql.split(";")):
                    w.execute(stmt.encode())
                w.execute("INSERT INTO migrations (name) VALUES (%s)", (name,))

    def _migrated(self) -> bool:
        done = {r[0] for r in self._w.execute("SELECT name FROM migrations")}
        return all(name in done for name, _ in MIGRATIONS)

    # the elected writer -------------------------------------------------------------------
    def follow(self, why: str) -> None:
        """Append nothing from now on (NotWriter, saying ``why``): another process is the
        elected writer. Reads go on; a clock-driven tick finds the log read-only and raises
        nothing, so no alert is raised twice."""
        self.read_only, self._follows = why, True

    def lead(self) -> None:
        """Append again: this process was elected the writer."""
        if self._follows:
            self.read_only, self._follows = None, False

    def _refused(self) -> LogError:
        refused = NotWriter if self._follows else LogError
        return refused(f"cannot write the log at {self.where}: {self.read_only}")

    # writing ------------------------------------------------------------------------------
    def append(self, batch: RecordBatch, attest: Attest | None = None) -> AppendResult:
        if self.read_only:
            raise self._refused()
        try:
            return self._append(batch, attest)
        except pg_errors.LockNotAvailable:
            raise LogError(
                f"{self.where} is busy: another sitroom process is writing to this log; "
                "try again when it has finished"
            ) from None
        except psycopg.Error as e:
            raise LogError(f"cannot write the log at {self.where}: {_reason(e)}") from None

    def _append(self, batch: RecordBatch, attest: Attest | None) -> AppendResult:
        w = self._w
        with w.transaction():
            w.execute(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}")
            w.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            last_seq, last_rt, head = self._head_in_transaction()
            # Optimistically, a batch is new (a feed's next chunk); if the id index says
            # otherwise, go back to the savepoint and find out which records the log holds.
            fresh, dups = prepare_append(batch, last_seq, last_rt, lambda ids: (), attest)
            try:
                with w.transaction():
                    self._index(fresh)
            except pg_errors.UniqueViolation:
                fresh, dups = prepare_append(batch, last_seq, last_rt, self._known, attest)
                self._index(fresh)
            if len(fresh):
                # Encoding and hashing run on the encoder's threads (zstd and SHA-256 release
                # the GIL); only the chain's links, 64 bytes each, are hashed in order here.
                rows = []
                for header, data, leaves, digest in self._encoder.map(
                    seal_segment, segments.cut(fresh)
                ):
                    head = audit.next_head(head, digest)
                    rows.append((*astuple(header), data, leaves, head, digest))
                with w.cursor() as cur:
                    cur.executemany(f"INSERT INTO segments ({_WRITTEN}) VALUES ({_PLACES})", rows)
                # Delivered at commit, only if it commits: a follower never hears of a seq
                # the log does not hold.
                last = fresh.column("seq")[-1].as_py()
                w.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(last)))
        return AppendResult(fresh, dups)

    def _head_in_transaction(self) -> tuple[int, int, bytes]:
        row = self._w.execute(
            "SELECT last_seq, last_rt, head FROM segments ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, 0, audit.GENESIS
        return int(row[0]), int(row[1]), bytes(row[2])

    def _known(self, ids: list[str]) -> Iterable[str]:
        for off in range(0, len(ids), _ID_CHUNK):
            yield from (
                r[0]
                for r in self._w.execute(
                    "SELECT id FROM ids WHERE id = ANY(%s)", (ids[off : off + _ID_CHUNK],)
                )
            )

    def _index(self, fresh: RecordBatch) -> None:
        """The batch's ids into the id index with one COPY, its text built by Arrow: a row per
        id from Python would cost more than the rest of the append."""
        if not len(fresh):
            return
        # In key order, as SQLite's index is filled: each id lands beside the last one in the
        # B-tree (its pages stay in cache) instead of anywhere — a third of the append's time.
        order = pc.sort_indices(fresh.column("id"))
        escaped = pc.take(fresh.column("id"), order)
        if pc.any(pc.match_substring_regex(escaped, r"[\\\t\n\r]")).as_py():
            for char, code in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                escaped = pc.replace_substring(escaped, char, code)
        fields = pc.binary_join_element_wise(
            escaped, pc.cast(pc.take(fresh.column("seq"), order), pa.string()), "\t"
        )
        with self._w.cursor() as cur, cur.copy("COPY ids (id, seq) FROM STDIN") as copy:
            copy.write(_joined(pc.binary_join_element_wise(fields, "", "\n")))

    # reading ------------------------------------------------------------------------------
    @_db_errors
    def _segments(self, filters: ReadFilters) -> list[tuple[int, int]]:
        """(first_seq, last_seq) of the segments that may hold matching records, in order: a
        segment is skipped unread when its seq range, kind or valid-time bounds rule it out."""
        parts: list[str] = ["last_seq > %s"]
        args: list[object] = [filters.get("after_seq", 0)]
        upto = filters.get("upto_seq")
        if upto is not None:
            parts.append("first_seq <= %s")
            args.append(upto)
        kinds = filters.get("kinds")
        if kinds is not None:
            parts.append("kind = ANY(%s)")
            args.append(list(kinds))
        seqs = None
        ids = filters.get("ids")
        if ids is not None:
            found = self._r.execute(
                "SELECT seq FROM ids WHERE id = ANY(%s) ORDER BY seq", (list(ids),)
            ).fetchall()
            seqs = np.array([r[0] for r in found], dtype=np.int64)
            if not len(seqs):
                return []
            parts.append("last_seq >= %s AND first_seq <= %s")
            args += [int(seqs[0]), int(seqs[-1])]
        window = filters.get("valid_overlaps")
        if window is not None:
            since, until = window
            parts.append("valid_min IS NOT NULL")
            if until is not None:
                parts.append("valid_min < %s")
                args.append(until)
            if since is not None:
                parts.append("(valid_max IS NULL OR valid_max > %s)")
                args.append(since)
        sql = f"SELECT first_seq, last_seq FROM segments WHERE {' AND '.join(parts)}"
        rows = [(int(a), int(b)) for a, b in self._r.execute(sql + " ORDER BY first_seq", args)]
        return rows if seqs is None else list(holding(rows, seqs))

    @_db_errors
    def _segment_row(self, first_seq: int) -> tuple[str, bytes] | None:
        with self._r.cursor(binary=True) as cur:
            row = cur.execute(
                "SELECT codec, data FROM segments WHERE first_seq = %s", (first_seq,)
            ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    @_db_errors
    def _one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._r.execute(sql.replace("?", "%s"), tuple(args)).fetchone()
        return row

    # snapshots and metadata ---------------------------------------------------------------
    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        if not snapshots or self.read_only:
            return
        # A cache: its commit need not wait for the disk, nor a command fail for want of it.
        try:
            with self._w.transaction(), self._w.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = off")
                cur.executemany(
                    "INSERT INTO snapshots VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (projection, version, seq) DO UPDATE SET data = EXCLUDED.data",
                    snapshots,
                )
            self.unsaved = None
        except psycopg.Error as e:
            self.unsaved = _reason(e)

    def drop_snapshots(self) -> None:
        """Remove every snapshot (a cache): those signed by a replaced site key."""
        if self.read_only:
            return
        try:
            self._w.execute("DELETE FROM snapshots")
        except psycopg.Error as e:
            raise LogError(f"cannot write the log at {self.where}: {_reason(e)}") from None

    @_db_errors
    def get_meta(self, key: str) -> str | None:
        row = self._r.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        if self.read_only:
            raise self._refused()
        try:
            self._w.execute(
                "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                "SET value = EXCLUDED.value",
                (key, value),
            )
        except psycopg.Error as e:
            raise LogError(f"cannot write the log at {self.where}: {_reason(e)}") from None

    # the audit chain ----------------------------------------------------------------------
    @_db_errors
    def tree_head(self) -> audit.LogHead:
        return self.stored_tree()[0]

    @_db_errors
    def stored_tree(self) -> tuple[audit.LogHead, merkle.Tree]:
        return _stored_tree(self._r)

    @_db_errors
    def head_at(self, seq: int) -> bytes | None:
        """The stored chain head after record ``seq``, if a segment ends there."""
        row = self._r.execute(
            "SELECT last_seq, head FROM segments WHERE first_seq <= %s "
            "ORDER BY first_seq DESC LIMIT 1",
            (seq,),
        ).fetchone()
        if row is None or row[0] != seq:
            return None
        return bytes(row[1])

    @contextmanager
    def audit_scan(self) -> Iterator[AuditScan]:
        """One REPEATABLE READ transaction on a connection of its own: one snapshot of the
        segments and ids throughout, while appends go on."""
        try:
            con = self._connect(autocommit=False)
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        except (psycopg.Error, WorkspaceError) as e:
            raise LogError(f"cannot read the log at {self.where}: {e}") from None
        try:
            yield AuditScan(con)
        except psycopg.Error as e:
            raise LogError(f"cannot read the log at {self.where}: {_reason(e)}") from None
        finally:
            con.close()  # a read-only transaction: nothing to commit

    def close(self) -> None:
        self._encoder.shutdown()
        self._w.close()
        if hasattr(self, "_r"):
            self._r.close()


def _joined(lines: pa.ChunkedArray | pa.Array) -> memoryview:
    """The strings of ``lines`` back to back, as Arrow holds them (no Python string each)."""
    arr = pc.cast(lines, pa.large_string())
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    start, end = offsets[arr.offset], offsets[arr.offset + len(arr)]
    values = arr.buffers()[2]
    return memoryview(values)[start:end] if values is not None else memoryview(b"")


def _stored_tree(con: psycopg.Connection[Any]) -> tuple[audit.LogHead, merkle.Tree]:
    rows = con.execute("SELECT last_seq, head, digest FROM segments ORDER BY first_seq").fetchall()
    tree = merkle.Tree(bytes(d) for _, _, d in rows)
    seq, head = (int(rows[-1][0]), bytes(rows[-1][1])) if rows else (0, audit.GENESIS)
    return audit.LogHead(seq, head, tree.size, tree.root()), tree


class AuditScan:
    """What ``sitroom verify`` reads (application.audit.AuditScan), inside one transaction."""

    def __init__(self, con: psycopg.Connection[Any]) -> None:
        self._con = con

    def totals(self) -> tuple[int, int]:
        row = self._con.execute(
            "SELECT COUNT(*), COALESCE(SUM(last_seq - first_seq + 1), 0) FROM segments"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def segments(self, kind: str | None = None) -> Iterator[audit.StoredSegment]:
        # A server-side cursor: the log's data is never held in memory at once.
        where, args = ("WHERE kind = %s", (kind,)) if kind is not None else ("", ())
        with self._con.cursor(name="sitroom_audit", binary=True) as cur:
            cur.itersize = 16
            cur.execute(f"SELECT {_COLUMNS} FROM segments {where} ORDER BY first_seq", args)
            for row in cur:
                yield stored_segment(row)

    def decode(self, seg: audit.StoredSegment) -> RecordBatch:
        return decode_stored(seg)

    def tree(self) -> tuple[audit.LogHead, merkle.Tree]:
        return _stored_tree(self._con)

    def seq_of(self, rid: str) -> int | None:
        row = self._con.execute("SELECT seq FROM ids WHERE id = %s", (rid,)).fetchone()
        return None if row is None else int(row[0])

    def holding(self, seq: int) -> tuple[int, audit.StoredSegment] | None:
        row = self._con.execute(
            f"SELECT {_COLUMNS} FROM segments WHERE first_seq <= %s AND last_seq >= %s "
            "ORDER BY first_seq DESC LIMIT 1",
            (seq, seq),
        ).fetchone()
        if row is None:
            return None
        seg = stored_segment(row)
        index = self._con.execute(
            "SELECT COUNT(*) FROM segments WHERE first_seq < %s", (seg.header.first_seq,)
        ).fetchone()
        assert index is not None
        return int(index[0]), seg

    def id_count(self) -> int:
        row = self._con.execute("SELECT COUNT(*) FROM ids").fetchone()
        assert row is not None
        return int(row[0])

    def id_at(self, seq: int) -> str | None:
        row = self._con.execute("SELECT id FROM ids WHERE seq = %s LIMIT 1", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def misplaced_id(self, first_seq: int, ids: Sequence[str]) -> int | None:
        row = self._con.execute(
            "SELECT MIN(j.ord - 1) FROM unnest(%s::text[]) WITH ORDINALITY AS j(id, ord) "
            "LEFT JOIN ids ON ids.id = j.id WHERE ids.seq IS NULL OR ids.seq != %s + j.ord - 1",
            (list(ids), first_seq),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])
