"""The embedded log: SQLite in WAL mode, one writer.

Records are stored in columnar *segments* (see segments.py), one row each; ``ids`` maps every
record id to its seq, so re-ingesting is a no-op and a read by id finds its segment. Each append
is one IMMEDIATE transaction, so after a crash — a SIGKILL, or power loss with
``durability='full'`` — an append is wholly present or wholly absent. Reads use their own
connection and see committed data only.

Every segment is sealed into the audit chain in the transaction that writes it (``leaves`` and
``head``, see domain/secure/audit.py): ``sitroom verify`` recomputes the chain from the stored
bytes and names the first record that is not as it was written.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import astuple
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson

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
from sitroom.errors import LogError, WorkspaceError

# Named migrations, applied in order and recorded (the sqlite-utils habit).
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_segments",
        """
        CREATE TABLE segments (
            first_seq INTEGER PRIMARY KEY,
            last_seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            first_rt INTEGER NOT NULL,
            last_rt INTEGER NOT NULL,
            valid_min INTEGER,
            valid_max INTEGER,
            codec TEXT NOT NULL,
            data BLOB NOT NULL,
            CHECK (last_seq >= first_seq AND last_rt >= first_rt)
        );
        CREATE INDEX segments_kind ON segments (kind, first_seq);
        CREATE INDEX segments_rt ON segments (first_rt, first_seq);
        CREATE TABLE ids (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE snapshots (
            projection TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (projection, version, seq)
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    ),
    (
        # The audit chain (domain/secure/audit.py): each segment's record digests (JSON lines
        # only) and the chain's head after it. Logs written before are sealed by _seal_existing.
        "0002_audit",
        """
        ALTER TABLE segments ADD COLUMN leaves BLOB;
        ALTER TABLE segments ADD COLUMN head BLOB;
    """,
    ),
    (
        # The Merkle tree over the segments (domain/secure/merkle.py): each segment's digest,
        # the tree's leaf, kept so that tree heads and proofs need not re-hash the log.
        "0003_merkle",
        """
        ALTER TABLE segments ADD COLUMN digest BLOB;
    """,
    ),
]

_ID_CHUNK = 50_000


def _owner_only(path: Path) -> None:
    """The log and its side files readable by their owner only, whatever the umask: a new log
    is made 0600 before SQLite opens it, and SQLite gives the -wal and -shm files it makes the
    log's own mode (whichever process makes them). An existing log left readable by others (by
    an older sitroom) is narrowed, where this process owns it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return  # cannot be made here: SQLite's own open says why
    else:
        os.close(fd)
    for end in ("", "-wal", "-shm"):
        side = Path(f"{path}{end}")
        with suppress(OSError):  # not there, or another's: left as it is
            if side.stat().st_mode & 0o077:
                side.chmod(0o600)


class SqliteLog(SegmentReads):
    def __init__(
        self,
        path: Path | str,
        *,
        durability: str = "full",
        create: bool = False,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        if not create and not self.path.exists():
            raise WorkspaceError(f"no log at {self.path}")
        _owner_only(self.path)
        if durability not in ("full", "normal"):
            raise LogError(f"durability must be 'full' or 'normal', got {durability!r}")
        self._durability = durability.upper()
        # Why this log cannot be written, when it cannot (a read-only mount, a full disk): it
        # is opened for reading then, and every write says why in one line.
        self.read_only: str | None = None
        self._target = str(self.path)  # what a reading connection opens
        self.unsaved: str | None = None  # why the last snapshots were not saved (a cache)
        try:
            self._w = self._open_writer(busy_timeout_ms)
        except sqlite3.DatabaseError as e:
            why = None if create else _unwritable(self.path)
            if why is None:
                raise WorkspaceError(f"{self.path} is not a sitroom log ({e})") from None
            self.read_only = why
            self._w = self._open_reader_only()
        try:
            self._r = self._w if self.read_only else self._connect(self.path)
            self._r.execute("PRAGMA busy_timeout = 10000")
        except sqlite3.DatabaseError as e:
            raise WorkspaceError(f"{self.path} is not a sitroom log ({e})") from None
        SegmentReads.__init__(self)
        self._encoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sitroom-segments")

    @staticmethod
    def _connect(target: Path | str, *, uri: bool = False) -> sqlite3.Connection:
        return sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=uri)

    def _open_writer(self, busy_timeout_ms: int) -> sqlite3.Connection:
        w = self._connect(self.path)
        try:
            w.execute("PRAGMA page_size = 16384")
            w.execute("PRAGMA journal_mode = WAL")
            w.execute(f"PRAGMA synchronous = {self._durability}")
            w.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            w.execute("PRAGMA cache_size = -65536")  # 64 MiB: the id index stays in memory
            self._w = w
            self._migrate()
        except BaseException:
            w.close()
            raise
        return w

    def _open_reader_only(self) -> sqlite3.Connection:
        """The log opened for reading only. A WAL database needs its shared-memory file to be
        read; where that cannot be made (nothing may be written), the file is read as
        immutable — nobody can be writing it either."""
        for query in ("mode=ro", "mode=ro&immutable=1"):
            self._target = f"file:{quote(str(self.path.resolve()))}?{query}"
            con = self._connect(self._target, uri=True)
            try:
                done = {r[0] for r in con.execute("SELECT name FROM migrations")}
            except sqlite3.DatabaseError as e:
                con.close()
                error = e
                continue
            missing = [name for name, _ in MIGRATIONS if name not in done]
            if missing:
                con.close()
                raise WorkspaceError(
                    f"{self.path} needs upgrading ({', '.join(missing)}), which writes to it, "
                    f"and {self.read_only}"
                )
            return con
        raise WorkspaceError(f"{self.path} cannot be read ({self.read_only}: {error})")

    def _migrate(self) -> None:
        self._w.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {r[0] for r in self._w.execute("SELECT name FROM migrations")}
        if "0001_log" in done:  # the row-per-record layout of the first development builds
            raise WorkspaceError(
                f"{self.path} was written by a development build of sitroom whose log layout "
                "is no longer read; create a new workspace and ingest again"
            )
        for name, sql in MIGRATIONS:
            if name not in done:
                self._w.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in filter(str.strip, sql.split(";")):
                        self._w.execute(stmt)
                    if name in _AFTER:
                        _AFTER[name](self._w)
                    self._w.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))
                    self._w.execute("COMMIT")
                except BaseException:
                    if self._w.in_transaction:
                        self._w.execute("ROLLBACK")
                    raise

    # writing ------------------------------------------------------------------------------
    def _known(self, ids: list[str]) -> Iterable[str]:
        for off in range(0, len(ids), _ID_CHUNK):
            chunk = orjson.dumps(ids[off : off + _ID_CHUNK]).decode()
            yield from (
                r[0]
                for r in self._w.execute(
                    "SELECT id FROM ids WHERE id IN (SELECT value FROM json_each(?))", (chunk,)
                )
            )

    def append(self, batch: RecordBatch, attest: Attest | None = None) -> AppendResult:
        if self.read_only:
            raise LogError(f"cannot write the log at {self.path}: {self.read_only}")
        try:
            return self._append(batch, attest)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise LogError(
                    f"{self.path} is busy: another sitroom process is writing to this "
                    "workspace; try again when it has finished"
                ) from None
            raise LogError(f"cannot write the log at {self.path}: {_why(e)}") from None
        except sqlite3.DatabaseError as e:
            raise LogError(f"cannot write the log at {self.path}: {_why(e)}") from None

    def _append(self, batch: RecordBatch, attest: Attest | None) -> AppendResult:
        w = self._w
        w.execute("BEGIN IMMEDIATE")
        try:
            # The head is read inside the transaction: another process may have appended
            # since this one last did, and the lock taken by BEGIN IMMEDIATE keeps it still.
            last_seq, last_rt, head = self._head_in_transaction()
            # Optimistically, a batch is new (a feed's next chunk); if the id index says
            # otherwise, start again and find out which records the log already holds.
            fresh, dups = prepare_append(batch, last_seq, last_rt, lambda ids: (), attest)
            if not self._index(fresh):
                w.execute("ROLLBACK")
                w.execute("BEGIN IMMEDIATE")
                last_seq, last_rt, head = self._head_in_transaction()
                fresh, dups = prepare_append(batch, last_seq, last_rt, self._known, attest)
                self._index(fresh)
            if len(fresh):
                # Encoding and hashing run on the encoder's threads (zstd and SHA-256 release
                # the GIL); only the chain's links, 64 bytes each, are hashed in order here.
                sealed = self._encoder.map(seal_segment, segments.cut(fresh))
                rows = []
                for header, data, leaves, digest in sealed:
                    head = audit.next_head(head, digest)
                    rows.append((*astuple(header), data, leaves, head, digest))
                w.executemany(f"INSERT INTO segments ({_WRITTEN}) VALUES ({_PLACES})", rows)
            w.execute("COMMIT")
        except BaseException:
            if w.in_transaction:
                w.execute("ROLLBACK")
            raise
        return AppendResult(fresh, dups)

    def _head_in_transaction(self) -> tuple[int, int, bytes]:
        """The last seq, its recorded time and the chain's head after it, read inside the
        append's transaction: numbering, time and chain go on from what is stored, whoever
        wrote it."""
        row = self._w.execute(
            "SELECT last_seq, last_rt, head FROM segments ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, 0, audit.GENESIS
        if row[2] is None:
            raise LogError(
                f"{self.path}: the segment ending at seq {row[0]} carries no audit chain head "
                "(it was not written by sitroom); run `sitroom verify`"
            )
        return int(row[0]), int(row[1]), bytes(row[2])

    def tree_head(self) -> audit.LogHead:
        """The log's heads now: the chain's, and the Merkle tree's over its stored segment
        digests (what a checkpoint signs and witnesses co-sign)."""
        return self.stored_tree()[0]

    def stored_tree(self) -> tuple[audit.LogHead, merkle.Tree]:
        """The log's heads now and its Merkle tree, as stored (one read): what proofs for
        others are made from. (Verify recomputes both from the bytes.)"""
        return _stored_tree(self._w, self.path)

    def head_at(self, seq: int) -> bytes | None:
        """The stored chain head after record ``seq``, if a segment ends there (a signed
        head is always at a segment's end): whether this log holds a head kept elsewhere."""
        row = self._w.execute(
            "SELECT last_seq, head FROM segments WHERE first_seq <= ? "
            "ORDER BY first_seq DESC LIMIT 1",
            (seq,),
        ).fetchone()
        if row is None or row[0] != seq or row[1] is None:
            return None
        return bytes(row[1])

    @contextmanager
    def audit_scan(self) -> Iterator[AuditScan]:
        """A consistent read of the raw segments and the id index, for ``sitroom verify``: one
        read transaction on a connection of its own, so appends may go on meanwhile."""
        try:
            con = self._connect(self._target, uri=bool(self.read_only))
            con.execute("PRAGMA busy_timeout = 10000")
            con.execute("BEGIN")
        except sqlite3.DatabaseError as e:
            raise LogError(f"cannot read the log at {self.path}: {e}") from None
        try:
            yield AuditScan(con, self.path)
        except sqlite3.DatabaseError as e:
            raise LogError(f"cannot read the log at {self.path}: {e}") from None
        finally:
            if con.in_transaction:
                con.execute("COMMIT")
            con.close()

    def _index(self, fresh: RecordBatch) -> bool:
        """Add the batch's ids to the id index; False if one was there already (nothing is
        changed then but the caller's transaction, which it rolls back).

        One statement, not a row per id: SQLite reads the ids from a JSON array, numbers them
        from the batch's first seq and sorts them, so that they go into the index's B-tree in
        order — 3x faster than binding rows from Python, and the GIL is free meanwhile."""
        if not len(fresh):
            return True
        cur = self._w.execute(
            "INSERT OR IGNORE INTO ids (id, seq) SELECT value, ? + key FROM json_each(?) "
            "ORDER BY value",
            (fresh.column("seq")[0].as_py(), orjson.dumps(fresh.column("id").to_pylist()).decode()),
        )
        return cur.rowcount == len(fresh)

    # reading ------------------------------------------------------------------------------
    def _segments(self, filters: ReadFilters) -> Iterator[tuple[int, int]]:
        """(first_seq, last_seq) of the segments that may hold matching records, in order: a
        segment is skipped unread when its seq range, kind or valid-time bounds rule it out."""
        after = filters.get("after_seq", 0)
        upto = filters.get("upto_seq")
        parts: list[str] = ["last_seq > ?"]
        args: list[object] = [after]
        if upto is not None:
            parts.append("first_seq <= ?")
            args.append(upto)
        kinds = filters.get("kinds")
        if kinds is not None:
            parts.append("kind IN (SELECT value FROM json_each(?))")
            args.append(orjson.dumps(list(kinds)).decode())
        seqs = None
        ids = filters.get("ids")
        if ids is not None:
            seqs = np.array(
                sorted(
                    r[0]
                    for r in self._r.execute(
                        "SELECT seq FROM ids WHERE id IN (SELECT value FROM json_each(?))",
                        (orjson.dumps(list(ids)).decode(),),
                    )
                ),
                dtype=np.int64,
            )
            if not len(seqs):
                return
            parts.append("last_seq >= ? AND first_seq <= ?")
            args += [int(seqs[0]), int(seqs[-1])]
        window = filters.get("valid_overlaps")
        if window is not None:
            since, until = window
            parts.append("valid_min IS NOT NULL")
            if until is not None:
                parts.append("valid_min < ?")
                args.append(until)
            if since is not None:
                parts.append("(valid_max IS NULL OR valid_max > ?)")
                args.append(since)
        sql = f"SELECT first_seq, last_seq FROM segments WHERE {' AND '.join(parts)}"
        # Fetched whole: a cursor left open across the caller's work would pin a read snapshot.
        rows = self._r.execute(sql + " ORDER BY first_seq", args).fetchall()
        yield from rows if seqs is None else holding(rows, seqs)

    def _segment_row(self, first_seq: int) -> tuple[str, bytes] | None:
        row = self._r.execute(
            "SELECT codec, data FROM segments WHERE first_seq = ?", (first_seq,)
        ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._r.execute(sql, tuple(args)).fetchone()
        return row

    # snapshots and metadata ---------------------------------------------------------------
    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        if not snapshots or self.read_only:
            return
        # Snapshots are a cache: their commit need not wait for the disk (WAL keeps it
        # consistent, and the next append's sync makes it durable too). Nor need a command
        # fail for want of one: the next open folds a longer tail. ``unsaved`` says why.
        w = self._w
        try:
            w.execute("PRAGMA synchronous = NORMAL")
            w.execute("BEGIN IMMEDIATE")
            w.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", snapshots)
            w.execute("COMMIT")
            self.unsaved = None
        except sqlite3.DatabaseError as e:
            self.unsaved = _why(e)
        finally:
            if w.in_transaction:
                w.execute("ROLLBACK")
            w.execute(f"PRAGMA synchronous = {self._durability}")

    def drop_snapshots(self) -> None:
        """Remove every snapshot (a cache): those signed by a site key that was replaced
        would no longer verify, and are rebuilt from the log instead."""
        if self.read_only:
            return
        self._w.execute("DELETE FROM snapshots")

    def get_meta(self, key: str) -> str | None:
        row = self._r.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        if self.read_only:
            raise LogError(f"cannot write the log at {self.path}: {self.read_only}")
        try:
            self._w.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        except sqlite3.DatabaseError as e:
            raise LogError(f"cannot write the log at {self.path}: {_why(e)}") from None

    def integrity_check(self) -> str:
        return str(self._r.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._encoder.shutdown()
        self._r.close()
        if self._w is not self._r:
            self._w.close()


def _unwritable(path: Path) -> str | None:
    """Why the log at ``path`` cannot be opened for writing, when the reason is the place
    rather than the file: then it can still be read."""
    folder = path.parent
    if not (os.access(folder, os.W_OK) and os.access(path, os.W_OK)):
        return "the workspace is read-only"
    if shutil.disk_usage(folder).free < _LEAST_FREE:
        return "the disk holding it is full"
    return None


_LEAST_FREE = 1 << 20  # below this, opening for writing fails for want of room, not of a log


def _why(e: sqlite3.DatabaseError) -> str:
    """SQLite's reason for a refused write, as a person would put it."""
    text = str(e)
    if "disk is full" in text:
        return "the disk holding it is full"
    if "readonly" in text:
        return "the workspace is read-only"
    return text


# the audit chain ----------------------------------------------------------------------------
_HEADER = "first_seq, last_seq, kind, first_rt, last_rt, valid_min, valid_max, codec"
_COLUMNS = f"{_HEADER}, data, leaves, head"
_WRITTEN = f"{_COLUMNS}, digest"
_PLACES = ", ".join("?" * len(_WRITTEN.split(",")))


def _seal_existing(con: sqlite3.Connection) -> None:
    """Seal a log written before the audit chain, in seq order: from now on, a change to what
    it holds is detected (what was changed before cannot be)."""
    head = audit.GENESIS
    for (first,) in con.execute("SELECT first_seq FROM segments ORDER BY first_seq").fetchall():
        row = con.execute(f"SELECT {_HEADER}, data FROM segments WHERE first_seq = ?", (first,))
        *header, data = row.fetchone()
        leaves = audit.line_leaves(data) if header[-1] == segments.JSONL else None
        head = audit.next_head(
            head, audit.segment_digest(audit.SegmentHeader(*header), data, leaves)
        )
        con.execute(
            "UPDATE segments SET leaves = ?, head = ? WHERE first_seq = ?", (leaves, head, first)
        )


def _stored_tree(con: sqlite3.Connection, path: Path) -> tuple[audit.LogHead, merkle.Tree]:
    rows = con.execute("SELECT last_seq, head, digest FROM segments ORDER BY first_seq").fetchall()
    if any(head is None or digest is None for _, head, digest in rows):
        raise LogError(f"{path}: a segment is not sealed; run `sitroom verify`")
    tree = merkle.Tree(bytes(d) for _, _, d in rows)
    seq, head = (int(rows[-1][0]), bytes(rows[-1][1])) if rows else (0, audit.GENESIS)
    return audit.LogHead(seq, head, tree.size, tree.root()), tree


def _digest_existing(con: sqlite3.Connection) -> None:
    """Store the digest of each segment of a log sealed before the Merkle tree: recomputed
    from what is stored (verify recomputes them anyway; these only spare re-hashing)."""
    for (first,) in con.execute("SELECT first_seq FROM segments ORDER BY first_seq").fetchall():
        row = con.execute(
            f"SELECT {_HEADER}, data, leaves FROM segments WHERE first_seq = ?", (first,)
        )
        *header, data, leaves = row.fetchone()
        digest = audit.segment_digest(
            audit.SegmentHeader(*header), bytes(data), None if leaves is None else bytes(leaves)
        )
        con.execute("UPDATE segments SET digest = ? WHERE first_seq = ?", (digest, first))


_AFTER: dict[str, Callable[[sqlite3.Connection], None]] = {
    "0002_audit": _seal_existing,
    "0003_merkle": _digest_existing,
}


class AuditScan:
    """What ``sitroom verify`` reads (application.audit.AuditScan), inside one read
    transaction: the raw segment rows in seq order, and the id index."""

    def __init__(self, con: sqlite3.Connection, path: Path) -> None:
        self._con = con
        self._path = path

    def totals(self) -> tuple[int, int]:
        n, records = self._con.execute(
            "SELECT COUNT(*), COALESCE(SUM(last_seq - first_seq + 1), 0) FROM segments"
        ).fetchone()
        return int(n), int(records)

    def segments(self, kind: str | None = None) -> Iterator[audit.StoredSegment]:
        # Stepped row by row: a log's data is never held in memory at once.
        where, args = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        for row in self._con.execute(
            f"SELECT {_COLUMNS} FROM segments {where} ORDER BY first_seq", args
        ):
            yield stored_segment(row)

    def decode(self, seg: audit.StoredSegment) -> RecordBatch:
        """The segment's records; LogError if its bytes no longer decode."""
        return decode_stored(seg)

    def tree(self) -> tuple[audit.LogHead, merkle.Tree]:
        """The heads and the Merkle tree as stored, in this read (verify recomputes them)."""
        return _stored_tree(self._con, self._path)

    def seq_of(self, rid: str) -> int | None:
        row = self._con.execute("SELECT seq FROM ids WHERE id = ?", (rid,)).fetchone()
        return None if row is None else int(row[0])

    def holding(self, seq: int) -> tuple[int, audit.StoredSegment] | None:
        """The segment holding record ``seq``, and its position among the segments."""
        row = self._con.execute(
            f"SELECT {_COLUMNS} FROM segments WHERE first_seq <= ? AND last_seq >= ? "
            "ORDER BY first_seq DESC LIMIT 1",
            (seq, seq),
        ).fetchone()
        if row is None:
            return None
        seg = stored_segment(row)
        (index,) = self._con.execute(
            "SELECT COUNT(*) FROM segments WHERE first_seq < ?", (seg.header.first_seq,)
        ).fetchone()
        return int(index), seg

    def id_count(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM ids").fetchone()[0])

    def id_at(self, seq: int) -> str | None:
        """The id the index gives record ``seq`` (a scan of the index: for findings only)."""
        row = self._con.execute("SELECT id FROM ids WHERE seq = ? LIMIT 1", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def misplaced_id(self, first_seq: int, ids: Sequence[str]) -> int | None:
        """The position of the first of ``ids`` (records first_seq, first_seq + 1, ...) that
        the index does not map to its seq; None if all are in place."""
        row = self._con.execute(
            "SELECT MIN(j.key) FROM json_each(?) AS j LEFT JOIN ids ON ids.id = j.value "
            "WHERE ids.seq IS NULL OR ids.seq != ? + j.key",
            (orjson.dumps(list(ids)).decode(), first_seq),
        ).fetchone()
        return None if row[0] is None else int(row[0])
