"""Segments: how the SQLite log stores records — columnar, a few thousand at a time.

A per-record SQL row costs more than parsing the record did (binding a dozen values and
maintaining two B-tree indexes, ≈ 3 µs a record), and per-record JSON would make the log several
times larger than the data. So an append is cut into *segments*: runs of consecutive records of
one kind, at most :data:`SEGMENT_ROWS` long. Each segment is one row holding the records — whole
envelopes and payloads — as an Arrow IPC stream compressed with zstd (a handful of records: JSON
lines, which beat Arrow's framing), plus what a reader needs to skip it unread: its seq range,
kind, recorded-time range and valid-time bounds. The codec name is stored with each segment, so
old segments stay readable when a new codec is added.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.domain.records import SCHEMA, RecordBatch

SEGMENT_ROWS = 32_768
SMALL = 32  # up to this many records, JSON lines beat Arrow's framing
JSONL = "jsonl"
ARROW_ZSTD = "arrow-ipc-zstd"
_ZSTD_FAST = pa.Codec("zstd", compression_level=1)  # as small as level 3 here, and faster


@dataclass(frozen=True)
class EncodedSegment:
    first_seq: int
    last_seq: int
    kind: str
    first_rt: int  # recorded_time of the first and last record
    last_rt: int
    valid_min: int | None  # smallest known valid_from; None: no record has a valid time
    valid_max: int | None  # see valid_reach; None: unbounded (or no valid time at all)
    codec: str
    data: bytes


def cut(batch: RecordBatch) -> Iterator[RecordBatch]:
    """Consecutive runs of one kind, at most SEGMENT_ROWS each (slices: nothing is copied)."""
    n = len(batch)
    if n == 0:
        return
    kinds = batch.column("kind")
    changes = pc.not_equal(kinds.slice(1), kinds.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = [0, *(np.flatnonzero(changes) + 1).tolist()]
    for start, end in zip(starts, [*starts[1:], n], strict=True):
        for off in range(start, end, SEGMENT_ROWS):
            yield batch.slice(off, min(SEGMENT_ROWS, end - off))


def valid_reach(valid_from: pa.ChunkedArray, valid_to: pa.ChunkedArray) -> pa.ChunkedArray:
    """For each record, the smallest ``since`` that a valid-time filter could exclude it by:
    ``max(valid_to, valid_from + 1)``, null when it is still going on. A record meets
    [since, …) exactly when its reach is null or greater than since (see logbase)."""
    return pc.max_element_wise(valid_to, pc.add(valid_from, 1), skip_nulls=False)


def encode(part: RecordBatch) -> EncodedSegment:
    """One segment's row. Arrow's compression releases the GIL, so segments are encoded on
    another thread while the ids of the same append are written."""
    seq, rt = part.column("seq"), part.column("recorded_time")
    valid_from = part.column("valid_from")
    known = pc.is_valid(valid_from)
    reach = pc.filter(valid_reach(valid_from, part.column("valid_to")), known)
    valid_min = pc.min(valid_from).as_py()
    valid_max = None if reach.null_count else pc.max(reach).as_py()
    codec, data = _encode_rows(part)
    return EncodedSegment(
        first_seq=seq[0].as_py(),
        last_seq=seq[-1].as_py(),
        kind=part.column("kind")[0].as_py(),
        first_rt=rt[0].as_py(),
        last_rt=rt[-1].as_py(),
        valid_min=valid_min,
        valid_max=valid_max,
        codec=codec,
        data=data,
    )


def _encode_rows(part: RecordBatch) -> tuple[str, bytes]:
    if len(part) <= SMALL:
        # Compact JSON never holds a raw newline (it is escaped inside strings).
        rows = part.as_json().table.to_pylist()
        return JSONL, b"\n".join(orjson.dumps(r) for r in rows)
    # Typed (struct) payloads are stored typed: the schema travels in the IPC stream.
    sink = pa.BufferOutputStream()
    opts = pa.ipc.IpcWriteOptions(compression=_ZSTD_FAST)
    with pa.ipc.new_stream(sink, part.table.schema, options=opts) as w:
        w.write_table(part.table)
    return ARROW_ZSTD, sink.getvalue().to_pybytes()


def decode(codec: str, data: bytes) -> RecordBatch:
    if codec == JSONL:
        rows = [orjson.loads(line) for line in data.split(b"\n")]
        return RecordBatch(pa.Table.from_pylist(rows, schema=SCHEMA))
    if codec == ARROW_ZSTD:
        return RecordBatch(pa.ipc.open_stream(pa.py_buffer(data)).read_all().combine_chunks())
    raise ValueError(f"unknown segment codec {codec!r}")
