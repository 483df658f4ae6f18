"""The embedded log: SQLite in WAL mode, one writer.

Records are stored in columnar *segments* (see segments.py), one row each; ``ids`` maps every
record id to its seq, so re-ingesting is a no-op and a read by id finds its segment. Each append
is one IMMEDIATE transaction, so after a crash — a SIGKILL, or power loss with
``durability='full'`` — an append is wholly present or wholly absent. Reads use their own
connection and see committed data only.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Unpack

import numpy as np
import orjson
import pyarrow as pa

from sitroom.adapters import segments
from sitroom.adapters.logbase import prepare_append, select
from sitroom.application.ports import AppendResult, ReadFilters, Snapshot
from sitroom.domain.records import RecordBatch
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
]

_DECODED_CACHE = 24  # segments kept decoded: a rebuild re-reads the tail it just read
_ID_CHUNK = 50_000


class SqliteLog:
    def __init__(
        self,
        path: Path | str,
        *,
        durability: str = "full",
        create: bool = False,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise WorkspaceError(f"no log at {self.path}")
        if durability not in ("full", "normal"):
            raise LogError(f"durability must be 'full' or 'normal', got {durability!r}")
        try:
            self._w = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._w.execute("PRAGMA page_size = 16384")
            self._w.execute("PRAGMA journal_mode = WAL")
            self._durability = durability.upper()
            self._w.execute(f"PRAGMA synchronous = {self._durability}")
            self._w.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._w.execute("PRAGMA cache_size = -65536")  # 64 MiB: the id index stays in memory
            self._migrate()
            self._r = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._r.execute("PRAGMA busy_timeout = 10000")
        except sqlite3.DatabaseError as e:
            raise WorkspaceError(f"{self.path} is not a sitroom log ({e})") from None
        self._decoded: OrderedDict[int, RecordBatch] = OrderedDict()
        self._last_seq, self._last_rt = self._w.execute(
            "SELECT COALESCE(MAX(last_seq), 0), COALESCE(MAX(last_rt), 0) FROM segments"
        ).fetchone()
        self._encoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sitroom-segments")

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
                for stmt in filter(str.strip, sql.split(";")):
                    self._w.execute(stmt)
                self._w.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))
                self._w.execute("COMMIT")

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

    def append(self, batch: RecordBatch) -> AppendResult:
        try:
            return self._append(batch)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise LogError(
                    f"{self.path} is busy: another sitroom process is writing to this "
                    "workspace; try again when it has finished"
                ) from None
            raise LogError(f"cannot write the log at {self.path}: {e}") from None
        except sqlite3.DatabaseError as e:
            raise LogError(f"cannot write the log at {self.path}: {e}") from None

    def _append(self, batch: RecordBatch) -> AppendResult:
        w = self._w
        w.execute("BEGIN IMMEDIATE")
        try:
            # Optimistically, a batch is new (a feed's next chunk); if the id index says
            # otherwise, start again and find out which records the log already holds.
            fresh, dups = prepare_append(batch, self._last_seq, lambda ids: ())
            if not self._index(fresh):
                w.execute("ROLLBACK")
                w.execute("BEGIN IMMEDIATE")
                fresh, dups = prepare_append(batch, self._last_seq, self._known)
                self._index(fresh)
            if len(fresh):
                w.executemany(
                    "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        (
                            s.first_seq,
                            s.last_seq,
                            s.kind,
                            s.first_rt,
                            s.last_rt,
                            s.valid_min,
                            s.valid_max,
                            s.codec,
                            s.data,
                        )
                        for s in self._encoder.map(segments.encode, segments.cut(fresh))
                    ),
                )
            w.execute("COMMIT")
        except BaseException:
            if w.in_transaction:
                w.execute("ROLLBACK")
            raise
        if len(fresh):
            self._last_seq = fresh.column("seq")[-1].as_py()
            self._last_rt = fresh.column("recorded_time")[-1].as_py()
        return AppendResult(fresh, dups)

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
        if seqs is not None:  # only the segments that hold one of the ids
            rows = [
                (first, last)
                for first, last in rows
                if np.searchsorted(seqs, first) < np.searchsorted(seqs, last, side="right")
            ]
        yield from rows

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        after = filters.get("after_seq", 0)
        upto = filters.get("upto_seq")
        pending: list[RecordBatch] = []  # the page being filled: one payload type throughout,
        held = 0  # so that joining never turns typed payloads into JSON text
        for first, last in self._segments(filters):
            lo = max(after + 1, first) - first
            hi = (last if upto is None else min(upto, last)) - first + 1
            part = RecordBatch(select(self._segment(first).slice(lo, hi - lo).table, filters))
            if pending and len(part) and _payload_type(part) != _payload_type(pending[0]):
                yield RecordBatch.concat(pending)
                pending, held = [], 0
            while len(part):
                take = part.slice(0, page_size - held)
                pending.append(take)
                held += len(take)
                part = part.slice(len(take))
                if held == page_size:
                    yield RecordBatch.concat(pending)
                    pending, held = [], 0
        if pending:
            yield RecordBatch.concat(pending)

    def _segment(self, first_seq: int) -> RecordBatch:
        hit = self._decoded.get(first_seq)
        if hit is not None:
            self._decoded.move_to_end(first_seq)
            return hit
        row = self._r.execute(
            "SELECT codec, data FROM segments WHERE first_seq = ?", (first_seq,)
        ).fetchone()
        if row is None:
            raise LogError(f"segment {first_seq} is missing from {self.path}")
        batch = segments.decode(row[0], row[1])
        self._decoded[first_seq] = batch
        if len(self._decoded) > _DECODED_CACHE:
            self._decoded.popitem(last=False)
        return batch

    def count(self, **filters: Unpack[ReadFilters]) -> int:
        if any(filters.get(f) is not None for f in ("sources", "ids", "valid_overlaps")):
            return sum(len(b) for b in self.read(**filters))
        after = filters.get("after_seq", 0)
        upto = filters.get("upto_seq")
        upto = self._last_seq if upto is None else upto
        return sum(
            max(0, min(upto, last) - max(after + 1, first) + 1)
            for first, last in self._segments(filters)
        )

    def last_seq(self) -> int:
        return int(self._last_seq)

    def last_recorded_time(self) -> int:
        return int(self._last_rt)

    def seq_as_of(self, recorded_time: int) -> int:
        # Recorded time never decreases along seq (the engine's clock sees to it), so the
        # answer lies in the last segment that starts at or before it.
        row = self._r.execute(
            "SELECT first_seq, last_seq, last_rt FROM segments WHERE first_rt <= ? "
            "ORDER BY first_rt DESC, first_seq DESC LIMIT 1",
            (recorded_time,),
        ).fetchone()
        if row is None:
            return 0
        first, last, last_rt = row
        if last_rt <= recorded_time:
            return int(last)
        rt = self._segment(first).column("recorded_time").to_numpy()
        return int(first + np.searchsorted(rt, recorded_time, side="right") - 1)

    # snapshots and metadata ---------------------------------------------------------------
    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        if not snapshots:
            return
        # Snapshots are a cache: their commit need not wait for the disk (WAL keeps it
        # consistent, and the next append's sync makes it durable too).
        w = self._w
        w.execute("PRAGMA synchronous = NORMAL")
        try:
            w.execute("BEGIN IMMEDIATE")
            w.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", snapshots)
            w.execute("COMMIT")
        except BaseException:
            if w.in_transaction:
                w.execute("ROLLBACK")
            raise
        finally:
            w.execute(f"PRAGMA synchronous = {self._durability}")

    def load_snapshot(self, projection: str, version: int, max_seq: int) -> Snapshot | None:
        row = self._r.execute(
            "SELECT seq, data FROM snapshots WHERE projection = ? AND version = ? AND seq <= ? "
            "ORDER BY seq DESC LIMIT 1",
            (projection, version, max_seq),
        ).fetchone()
        return None if row is None else Snapshot(int(row[0]), bytes(row[1]))

    def get_meta(self, key: str) -> str | None:
        row = self._r.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._w.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def integrity_check(self) -> str:
        return str(self._r.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._encoder.shutdown()
        self._r.close()
        self._w.close()


def _payload_type(batch: RecordBatch) -> pa.DataType:
    return batch.table.schema.field("payload").type
