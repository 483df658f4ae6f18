"""What every log backend does the same way: deduplicate, number, filter, page, and seal its
segments into the audit chain."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Unpack

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.adapters import segments
from sitroom.application.ports import Attest, ReadFilters, Snapshot
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure import audit
from sitroom.errors import LogError


def prepare_append(
    batch: RecordBatch,
    last_seq: int,
    last_rt: int,
    known: Callable[[list[str]], Iterable[str]],
    attest: Attest | None = None,
) -> tuple[RecordBatch, int]:
    """Validate, drop ids already in the log (``known`` returns which of the given ids are) or
    repeated within the batch (first wins), and number the rest from ``last_seq + 1``.

    ``last_seq`` and ``last_rt`` are the log's head as the append's transaction reads it, not
    as the writer last saw it: another process may have appended since. Its clock may also
    have run ahead of this writer's, so a batch stamped at or before ``last_rt`` is moved on
    past it, keeping its spacing: recorded time never goes back along seq, which every as-of
    read relies on. ``attest`` (given new records) adds its record right after them."""
    import polars as pl

    batch.validate()
    if (
        pc.any(pc.is_null(batch.column("recorded_time"))).as_py()
        or pc.any(pc.is_null(batch.column("origin"))).as_py()
    ):
        raise LogError(
            "records reach the log through the engine, which stamps recorded_time "
            "and origin; this batch lacks them"
        )
    n = len(batch)
    if n == 0:
        return batch, 0
    ids = pl.from_arrow(batch.column("id"))
    assert isinstance(ids, pl.Series)
    keep = ids.is_first_distinct()
    existing = set(known(ids.filter(keep).to_list()))
    if existing:
        keep = keep & ~ids.is_in(list(existing))
    fresh = batch if keep.all() else batch.filter(keep.to_arrow())
    seqs = np.arange(last_seq + 1, last_seq + 1 + len(fresh), dtype=np.int64)
    fresh = fresh.with_column("seq", seqs)
    if len(fresh):
        first = fresh.column("recorded_time")[0].as_py()
        if first <= last_rt:
            lifted = pc.add(fresh.column("recorded_time"), last_rt + 1 - first)
            fresh = fresh.with_column("recorded_time", lifted)
        if attest is not None:
            fresh = _attested(fresh, attest)
    return fresh, n - len(fresh)


def _attested(fresh: RecordBatch, attest: Attest) -> RecordBatch:
    """``fresh`` and, after it, the record ``attest`` makes of it: numbered next, stamped a
    tick later, from the same origin."""
    last = len(fresh) - 1
    record = dataclasses.replace(
        attest(fresh),
        seq=fresh.column("seq")[last].as_py() + 1,
        recorded_time=fresh.column("recorded_time")[last].as_py() + 1,
        origin=fresh.column("origin")[last].as_py(),
    )
    return RecordBatch.concat([fresh, RecordBatch.from_records([record])])


def valid_overlap_mask(
    valid_from: pa.ChunkedArray, valid_to: pa.ChunkedArray, since: int | None, until: int | None
) -> pa.ChunkedArray:
    """Records whose valid time meets [since, until): intervals are half-open, points closed, a
    missing end means still going on. Records with unknown valid time never match a filter."""
    mask = pc.is_valid(valid_from)
    if until is not None:
        mask = pc.and_(mask, pc.less(valid_from, until))
    if since is not None:
        ongoing = pc.is_null(valid_to)
        later = pc.or_(
            pc.fill_null(pc.greater(valid_to, since), False), pc.greater_equal(valid_from, since)
        )
        mask = pc.and_(mask, pc.or_(ongoing, later))
    return pc.fill_null(mask, False)


def select(table: pa.Table, filters: ReadFilters) -> pa.Table:
    """The rows of ``table`` that match every filter except the seq range (the backends cut
    that themselves, from their own layout)."""
    mask = None
    pairs = (
        ("kind", filters.get("kinds")),
        ("source", filters.get("sources")),
        ("id", filters.get("ids")),
    )
    for column, values in pairs:
        if values is not None:
            m = pc.is_in(table[column], pa.array(list(values), pa.string()))
            mask = m if mask is None else pc.and_(mask, m)
    window = filters.get("valid_overlaps")
    if window is not None:
        m = valid_overlap_mask(table["valid_from"], table["valid_to"], *window)
        mask = m if mask is None else pc.and_(mask, m)
    return table if mask is None else table.filter(mask)


def pages(parts: Iterable[RecordBatch], page_size: int) -> Iterator[RecordBatch]:
    """``parts`` (what a read selected of each segment, in order) as pages of ``page_size``
    records. A page never mixes payload forms, so that joining never turns a bulk feed's typed
    payloads into JSON text because a JSON record sits next to them in the log."""
    pending: list[RecordBatch] = []
    held = 0
    for part in parts:
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


def _payload_type(batch: RecordBatch) -> pa.DataType:
    return batch.table.schema.field("payload").type


def holding(rows: Iterable[tuple[int, int]], seqs: np.ndarray) -> Iterator[tuple[int, int]]:
    """The (first_seq, last_seq) segments of ``rows`` that hold one of ``seqs`` (sorted)."""
    for first, last in rows:
        if np.searchsorted(seqs, first) < np.searchsorted(seqs, last, side="right"):
            yield first, last


# the audit chain: what a stored segment is sealed with --------------------------------------
def seal_segment(part: RecordBatch) -> tuple[audit.SegmentHeader, bytes, bytes | None, bytes]:
    """A segment's header and bytes, its record digests (JSON lines only) and its digest:
    the same bytes and digests whichever database stores them, so `sitroom verify` walks any
    backend's chain alike."""
    s = segments.encode(part)
    header = audit.SegmentHeader(
        s.first_seq, s.last_seq, s.kind, s.first_rt, s.last_rt, s.valid_min, s.valid_max, s.codec
    )
    leaves = audit.line_leaves(s.data) if s.codec == segments.JSONL else None
    return header, s.data, leaves, audit.segment_digest(header, s.data, leaves)


def stored_segment(row: Sequence[Any]) -> audit.StoredSegment:
    """A segment row as stored (header columns, data, leaves, head) as the audit reads it."""
    *header, data, leaves, head = row
    return audit.StoredSegment(
        audit.SegmentHeader(*header),
        bytes(data),
        None if leaves is None else bytes(leaves),
        None if head is None else bytes(head),
    )


def decode_stored(seg: audit.StoredSegment) -> RecordBatch:
    """A stored segment's records; LogError if its bytes no longer decode."""
    try:
        return segments.decode(seg.header.codec, seg.data)
    except (ValueError, TypeError, KeyError, OSError, pa.ArrowException) as e:
        h = seg.header
        raise LogError(
            f"segment {h.first_seq}–{h.last_seq} does not decode ({type(e).__name__})"
        ) from None


def seq_in_segment(first: int, recorded: pa.ChunkedArray | pa.Array, recorded_time: int) -> int:
    """The largest seq of the segment starting at ``first`` whose recorded time (its
    ``recorded`` column) is at or before ``recorded_time``."""
    rt = recorded.to_numpy()
    return int(first + np.searchsorted(rt, recorded_time, side="right") - 1)


DECODED_CACHE = 24  # segments kept decoded: a rebuild re-reads the tail it just read


class SegmentReads(ABC):
    """What a log stored as segments (SQLite, PostgreSQL) does the same way above its SQL:
    reads cut from the segments a filter touches, counts, the tail, and a cache of decoded
    segments, the as-of position, snapshots and segments' heads as stored. A backend gives
    ``_one(sql, args)`` (one row of a query written with ``?`` placeholders; None: none),
    ``_segments(filters)`` (each segment a read touches, as (first, last) seq),
    ``_segment_row(first_seq)`` (its codec and bytes; None: missing) and ``where`` (the log,
    as messages name it)."""

    where: str

    def __init__(self) -> None:
        self._decoded: OrderedDict[int, RecordBatch] = OrderedDict()
        self._heads: dict[int, bytes] = {}  # segment_head's, by segment (first seq)

    @abstractmethod
    def _one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        """One row of ``sql`` (``?`` placeholders) with ``args`` (None: no row)."""

    @abstractmethod
    def _segments(self, filters: ReadFilters) -> Iterable[tuple[int, int]]:
        """Each segment a read with ``filters`` touches, as (first, last) seq, in order."""

    @abstractmethod
    def _segment_row(self, first_seq: int) -> tuple[str, bytes] | None:
        """The codec and the stored bytes of the segment starting at ``first_seq``."""

    def _tail(self) -> tuple[int, int]:
        """The last seq and its recorded time as stored now — read each time, not cached:
        another process may have appended (a primary-key lookup)."""
        row = self._one("SELECT last_seq, last_rt FROM segments ORDER BY first_seq DESC LIMIT 1")
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def seq_as_of(self, recorded_time: int) -> int:
        # Recorded time never decreases along seq (the engine's clock sees to it), so the
        # answer lies in the last segment that starts at or before it.
        row = self._one(
            "SELECT first_seq, last_seq, last_rt FROM segments WHERE first_rt <= ? "
            "ORDER BY first_rt DESC, first_seq DESC LIMIT 1",
            (recorded_time,),
        )
        if row is None:
            return 0
        first, last, last_rt = (int(v) for v in row)
        if last_rt <= recorded_time:
            return last
        return seq_in_segment(first, self._segment(first).column("recorded_time"), recorded_time)

    def load_snapshot(self, projection: str, version: int, max_seq: int) -> Snapshot | None:
        row = self._one(
            "SELECT seq, data FROM snapshots WHERE projection = ? AND version = ? AND seq <= ? "
            "ORDER BY seq DESC LIMIT 1",
            (projection, version, max_seq),
        )
        return None if row is None else Snapshot(int(row[0]), bytes(row[1]))

    def segment_head(self, seq: int) -> bytes | None:
        row = self._one(
            "SELECT first_seq, last_seq FROM segments WHERE first_seq <= ? "
            "ORDER BY first_seq DESC LIMIT 1",
            (seq,),
        )
        if row is None or row[1] < seq:
            return None
        first = int(row[0])
        if first not in self._heads:
            # The head is stored after the segment's bytes (in SQLite, reading it walks their
            # overflow pages: 0.6 ms for a bulk segment): read once, as a segment never changes.
            found = self._one("SELECT head FROM segments WHERE first_seq = ?", (first,))
            if found is None or found[0] is None:
                return None
            self._heads[first] = bytes(found[0])
        return self._heads[first]

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        after = filters.get("after_seq", 0)
        upto = filters.get("upto_seq")
        chosen = list(self._segments(filters))  # fetched whole: no cursor is left open

        def parts() -> Iterator[RecordBatch]:
            for first, last in chosen:
                lo = max(after + 1, first) - first
                hi = (last if upto is None else min(upto, last)) - first + 1
                yield RecordBatch(select(self._segment(first).slice(lo, hi - lo).table, filters))

        return pages(parts(), page_size)

    def _segment(self, first_seq: int) -> RecordBatch:
        hit = self._decoded.get(first_seq)
        if hit is not None:
            self._decoded.move_to_end(first_seq)
            return hit
        row = self._segment_row(first_seq)
        if row is None:
            raise LogError(f"segment {first_seq} is missing from {self.where}")
        batch = segments.decode(row[0], row[1])
        self._decoded[first_seq] = batch
        if len(self._decoded) > DECODED_CACHE:
            self._decoded.popitem(last=False)
        return batch

    def count(self, **filters: Unpack[ReadFilters]) -> int:
        if any(filters.get(f) is not None for f in ("sources", "ids", "valid_overlaps")):
            return sum(len(b) for b in self.read(**filters))
        after = filters.get("after_seq", 0)
        upto = filters.get("upto_seq")
        upto = self.last_seq() if upto is None else upto
        return sum(
            max(0, min(upto, last) - max(after + 1, first) + 1)
            for first, last in self._segments(filters)
        )

    def last_seq(self) -> int:
        return self._tail()[0]

    def last_recorded_time(self) -> int:
        return self._tail()[1]
