"""Payload blocks: how a backend stores the payloads of one append.

Bulk feeds append hundreds of thousands of records at once, and per-row JSON text would make the
log several times larger than the data (GDELT's normalised events are ~600 bytes of JSON each,
mostly repeated keys). So each append's payloads are stored together: a few rows as JSON lines
(cheap, readable), many rows as an Arrow IPC stream compressed with zstd, in blocks of
:data:`BLOCK_ROWS`. A record points at (block, row). The codec name is stored with each block, so
old blocks stay readable when a new codec is added.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

BLOCK_ROWS = 32_768
SMALL = 32  # up to this many rows, plain JSON lines beat Arrow's framing
JSONL = "jsonl"
ARROW_ZSTD = "arrow-ipc-zstd"
_ZSTD_FAST = pa.Codec("zstd", compression_level=1)  # as small as level 3 here, and faster


def split(payloads: pa.ChunkedArray | pa.Array) -> list[pa.ChunkedArray]:
    """The payloads of one append, cut into consecutive blocks of at most BLOCK_ROWS (slices:
    nothing is copied until a block is encoded)."""
    if isinstance(payloads, pa.Array):
        payloads = pa.chunked_array([payloads])
    return [payloads.slice(off, BLOCK_ROWS) for off in range(0, len(payloads), BLOCK_ROWS)]


def encode_block(part: pa.ChunkedArray) -> tuple[str, int, bytes]:
    """(codec, rows, data) for one block. Arrow's compression releases the GIL, so blocks can
    be encoded on another thread while the records' rows are written."""
    rows = len(part)
    if rows <= SMALL:
        if pa.types.is_struct(part.type):
            part = _json(part)
        # Compact JSON never holds a raw newline (it is escaped inside strings).
        return JSONL, rows, "\n".join(part.to_pylist()).encode()
    # Typed (struct) payloads are stored typed: the schema travels in the IPC stream.
    schema = pa.schema([pa.field("payload", part.type)])
    sink = pa.BufferOutputStream()
    opts = pa.ipc.IpcWriteOptions(compression=_ZSTD_FAST)
    with pa.ipc.new_stream(sink, schema, options=opts) as w:
        w.write_table(pa.Table.from_arrays([part], schema=schema))
    return ARROW_ZSTD, rows, sink.getvalue().to_pybytes()


def _json(part: pa.Array | pa.ChunkedArray) -> pa.Array:
    series = pl.from_arrow(part)
    assert isinstance(series, pl.Series)
    return series.struct.json_encode().to_arrow().cast(pa.string())


def join(parts: list[pa.Array]) -> pa.Array:
    """Concatenate payload arrays; mixed types (JSON text and typed structs) become JSON text."""
    if len({p.type for p in parts}) > 1:
        parts = [_json(p) if pa.types.is_struct(p.type) else p for p in parts]
    return pa.concat_arrays(parts)


def decode_block(codec: str, data: bytes) -> pa.Array:
    if codec == JSONL:
        return pa.array(data.decode().split("\n"), pa.string())
    if codec == ARROW_ZSTD:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        return table.column(0).combine_chunks()
    raise ValueError(f"unknown payload block codec {codec!r}")
