"""The embedded log: SQLite in WAL mode, one writer.

Envelopes are rows of ``records`` (seq is the INTEGER PRIMARY KEY, id is UNIQUE so re-ingesting is
a no-op); payloads live in ``blocks`` (see payload_blocks). Each append is one IMMEDIATE
transaction, so after a crash — a SIGKILL, or power loss with ``durability='full'`` — an append is
wholly present or wholly absent. Reads use their own connection and see committed data only.
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
import pyarrow.compute as pc

from sitroom.adapters.logbase import membership_filters, prepare_append, valid_overlap_sql
from sitroom.adapters.payload_blocks import BLOCK_ROWS, decode_block, encode_block
from sitroom.adapters.payload_blocks import join as join_payloads
from sitroom.adapters.payload_blocks import split as split_blocks
from sitroom.application.ports import AppendResult, ReadFilters, Snapshot
from sitroom.domain.records import ENVELOPE, SCHEMA, RecordBatch
from sitroom.errors import LogError, WorkspaceError

# Named migrations, applied in order and recorded (the sqlite-utils habit).
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_log",
        """
        CREATE TABLE blocks (
            block INTEGER PRIMARY KEY,
            codec TEXT NOT NULL,
            rows INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE records (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            kind_version INTEGER NOT NULL CHECK (kind_version >= 1),
            valid_from INTEGER,
            valid_to INTEGER,
            recorded_time INTEGER NOT NULL,
            source TEXT NOT NULL,
            confidence INTEGER CHECK (confidence BETWEEN 0 AND 100),
            compartment TEXT NOT NULL,
            origin TEXT NOT NULL,
            block INTEGER NOT NULL,
            block_row INTEGER NOT NULL
        );
        CREATE INDEX records_kind ON records (kind, seq);
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

_ENV_COLS = ", ".join(ENVELOPE)
_UNIFORM = ("kind", "kind_version", "source", "confidence", "compartment", "origin")
_DECODED_CACHE = 24
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
            self._w.execute(f"PRAGMA synchronous = {durability.upper()}")
            self._w.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._migrate()
            self._r = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._r.execute("PRAGMA busy_timeout = 10000")
        except sqlite3.DatabaseError as e:
            raise WorkspaceError(f"{self.path} is not a sitroom log ({e})") from None
        self._blocks: OrderedDict[int, pa.Array] = OrderedDict()
        self._last_seq, self._last_rt = self._w.execute(
            "SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(recorded_time), 0) FROM records"
        ).fetchone()
        self._last_block = self._w.execute("SELECT COALESCE(MAX(block), 0) FROM blocks").fetchone()[
            0
        ]
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitroom-blocks")

    def _migrate(self) -> None:
        self._w.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {r[0] for r in self._w.execute("SELECT name FROM migrations")}
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
                    "SELECT id FROM records WHERE id IN (SELECT value FROM json_each(?))", (chunk,)
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
            fresh, dups = prepare_append(batch, self._last_seq, self._known)
            if len(fresh):
                parts = split_blocks(fresh.column("payload"))
                encoded = self._encoder.map(encode_block, parts)  # overlaps the row inserts
                first = self._last_block + 1
                block = np.repeat(
                    np.arange(first, first + len(parts)), [len(p) for p in parts]
                ).tolist()
                block_row = (np.arange(len(fresh)) % BLOCK_ROWS).tolist()
                self._insert_records(fresh, block, block_row)
                w.executemany(
                    "INSERT INTO blocks (block, codec, rows, data) VALUES (?, ?, ?, ?)",
                    ((first + i, *enc) for i, enc in enumerate(encoded)),
                )
            w.execute("COMMIT")
        except BaseException:
            if w.in_transaction:
                w.execute("ROLLBACK")
            raise
        if len(fresh):
            self._last_block += len(parts)
            self._last_seq = fresh.column("seq")[-1].as_py()
            self._last_rt = fresh.column("recorded_time")[-1].as_py()
        return AppendResult(fresh, dups)

    def _insert_records(self, fresh: RecordBatch, block: list[int], block_row: list[int]) -> None:
        """One row per record. Columns that hold one value for the whole batch (a bulk feed's
        kind, source, origin...) go into the statement as SQL literals, quoted by SQLite itself:
        binding fewer parameters per row is a fifth of the insert's cost."""
        values, params = [], []
        for c in ENVELOPE:
            column = fresh.column(c)
            if c in _UNIFORM and pc.count_distinct(column, mode="all").as_py() == 1:
                literal = self._w.execute("SELECT quote(?)", (column[0].as_py(),)).fetchone()[0]
                values.append(str(literal))
            else:
                values.append("?")
                params.append(_pylist(column))
        self._w.executemany(
            f"INSERT INTO records ({_ENV_COLS}, block, block_row) "
            f"VALUES ({', '.join(values)}, ?, ?)",
            zip(*params, block, block_row, strict=True),
        )

    # reading ------------------------------------------------------------------------------
    def _where(self, filters: ReadFilters) -> tuple[str, list[object]]:
        parts: list[str] = ["seq > ?"]
        args: list[object] = [filters.get("after_seq", 0)]
        upto = filters.get("upto_seq")
        if upto is not None:
            parts.append("seq <= ?")
            args.append(upto)
        for column, values in membership_filters(filters):
            parts.append(f"{column} IN (SELECT value FROM json_each(?))")
            args.append(orjson.dumps(list(values)).decode())
        window = filters.get("valid_overlaps")
        if window is not None:
            sql, window_args = valid_overlap_sql(*window)
            parts.append(sql)
            args += window_args
        return " AND ".join(parts), args

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        page = ReadFilters(**filters)
        while True:
            where, args = self._where(page)
            rows = self._r.execute(
                f"SELECT {_ENV_COLS}, block, block_row FROM records WHERE {where} "
                "ORDER BY seq LIMIT ?",
                (*args, page_size),
            ).fetchall()
            if not rows:
                return
            yield self._batch(rows)
            if len(rows) < page_size:
                return
            page["after_seq"] = rows[-1][0]

    def _batch(self, rows: list[tuple[object, ...]]) -> RecordBatch:
        cols = list(zip(*rows, strict=True))
        arrays = [pa.array(cols[i], SCHEMA.field(name).type) for i, name in enumerate(ENVELOPE)]
        block = np.asarray(cols[len(ENVELOPE)], dtype=np.int64)
        block_row = np.asarray(cols[len(ENVELOPE) + 1], dtype=np.int64)
        # Rows come in seq order, and within an append seq order is block order: take runs.
        starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
        ends = np.r_[starts[1:], len(block)]
        parts = [
            self._decoded(int(block[s])).take(pa.array(block_row[s:e]))
            for s, e in zip(starts, ends, strict=True)
        ]
        payload = join_payloads(parts)
        schema = SCHEMA.set(len(ENVELOPE), pa.field("payload", payload.type, nullable=False))
        return RecordBatch(pa.Table.from_arrays([*arrays, payload], schema=schema))

    def _decoded(self, block: int) -> pa.Array:
        hit = self._blocks.get(block)
        if hit is not None:
            self._blocks.move_to_end(block)
            return hit
        row = self._r.execute("SELECT codec, data FROM blocks WHERE block = ?", (block,)).fetchone()
        if row is None:
            raise LogError(f"payload block {block} is missing from {self.path}")
        arr = decode_block(row[0], row[1])
        self._blocks[block] = arr
        if len(self._blocks) > _DECODED_CACHE:
            self._blocks.popitem(last=False)
        return arr

    def count(self, **filters: Unpack[ReadFilters]) -> int:
        where, args = self._where(filters)
        return int(
            self._r.execute(f"SELECT COUNT(*) FROM records WHERE {where}", args).fetchone()[0]
        )

    def last_seq(self) -> int:
        return int(self._last_seq)

    def last_recorded_time(self) -> int:
        return int(self._last_rt)

    def seq_as_of(self, recorded_time: int) -> int:
        # Recorded time never decreases along seq (the engine's clock sees to it), so a binary
        # search over the primary key finds the prefix: ~20 lookups, and no index on
        # recorded_time for every bulk insert to maintain.
        lo, hi = 0, self.last_seq()
        while lo < hi:
            mid = (lo + hi + 1) // 2
            row = self._r.execute("SELECT recorded_time FROM records WHERE seq = ?", (mid,))
            if row.fetchone()[0] <= recorded_time:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # snapshots and metadata ---------------------------------------------------------------
    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        if not snapshots:
            return
        self._w.execute("BEGIN IMMEDIATE")
        self._w.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", snapshots)
        self._w.execute("COMMIT")

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


def _pylist(column: pa.ChunkedArray) -> list[object]:
    """Python values for binding; numpy's tolist is several times faster for null-free ints."""
    if column.null_count == 0 and pa.types.is_integer(column.type):
        return list(column.to_numpy().tolist())
    return list(column.to_pylist())
