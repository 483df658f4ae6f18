"""What every connector reads: a named input's bytes, from a local file (memory-mapped) or a URL,
and how it reports rows it could not accept.

Connectors differ in what the bytes mean, not in how they arrive or how a bad row is kept.

No input may hold more than ``max_bytes`` (the ``ingest_max_bytes`` setting): a larger file, a
longer download or an archive member that expands past it is refused at the limit, unread past
it. What is decompressed is written to an unlinked temporary file and mapped, so an expansion
is never held in memory whole (a 20 KB zip of newlines expands to 20 MB; the limit is what
stops a 20 KB zip of a gigabyte).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlparse

import httpx

from sitroom.domain.kinds import QUARANTINED
from sitroom.domain.records import RecordBatch, feed_item_id
from sitroom.errors import SourceError
from sitroom.settings import Settings

if TYPE_CHECKING:
    import polars as pl

MAX_BYTES: int = Settings.ingest_max_bytes  # the setting's default, for callers without a room
RAW_KEPT = 4096  # characters of a rejected row kept in quarantine: every real row is shorter
_BLOCK = 1 << 20  # bytes read at a time from a download or an archive member


@dataclass(frozen=True)
class Input:
    label: str  # what a person recognises: the file name or URL
    data: bytes | mmap.mmap  # a local file or an expanded archive member is mapped, not read

    @cached_property
    def digest(self) -> str:
        """A short content hash: quarantined rows are identified by (content, line), so that
        re-reading the same input quarantines nothing twice. Computed once per input: each
        chunk's quarantine asks for it."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def too_large(label: str, limit: int, verb: str = "is larger than") -> SourceError:
    """The one-line refusal of an input past the limit: what, how much, and the setting."""
    return SourceError(
        f"{label} {verb} {limit:,} bytes, the most one input may hold "
        "(setting ingest_max_bytes); refused"
    )


def spool(stream: IO[bytes], label: str, max_bytes: int) -> bytes | mmap.mmap:
    """A stream's bytes (an archive member as it decompresses), copied a block at a time to an
    unlinked temporary file and mapped: refused as soon as it passes ``max_bytes``."""
    with tempfile.TemporaryFile(prefix="sitroom-input-") as tmp:
        size = 0
        while block := stream.read(_BLOCK):
            size += len(block)
            if size > max_bytes:
                raise too_large(label, max_bytes, "expands to more than")
            tmp.write(block)
        if not size:
            return b""
        tmp.flush()
        # The map outlives the file object: the pages stay until the map is dropped.
        return mmap.mmap(tmp.fileno(), 0, access=mmap.ACCESS_READ)


def is_url(spec: str) -> bool:
    return urlparse(spec).scheme in ("http", "https")


def read_local(spec: str, hint: str = "", max_bytes: int = MAX_BYTES) -> Input:
    """A local file, mapped. ``hint`` completes the message when a directory is named."""
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"no such file: {spec}")
    if path.is_dir():
        raise SourceError(f"{spec} is a directory{'; ' + hint if hint else ''}")
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise too_large(spec, max_bytes)
            if size == 0:
                return Input(str(path), b"")
            # Paged in as the parser reaches it, instead of read whole before it can start.
            return Input(str(path), mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    except OSError as e:
        raise SourceError(f"cannot read {spec}: {e.strerror}") from None


class http_client:
    """Use the caller's HTTP client, or a short-lived one of our own."""

    def __init__(self, client: httpx.Client | None) -> None:
        self.given = client
        self.own: httpx.Client | None = None

    def __enter__(self) -> httpx.Client:
        if self.given is not None:
            return self.given
        self.own = httpx.Client(timeout=60.0, follow_redirects=True)
        return self.own

    def __exit__(self, *exc: object) -> None:
        if self.own is not None:
            self.own.close()


def fetch(http: httpx.Client, url: str, max_bytes: int = MAX_BYTES) -> bytes:
    """A URL's body, decoded (gzip and the like), read a block at a time and refused once it
    passes ``max_bytes`` (a server may send more than its Content-Length says, or none)."""
    try:
        with http.stream("GET", url) as r:
            r.raise_for_status()
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large(url, max_bytes)
            blocks, size = [], 0
            for block in r.iter_bytes(_BLOCK):
                size += len(block)
                if size > max_bytes:
                    raise too_large(url, max_bytes)
                blocks.append(block)
    except httpx.HTTPStatusError as e:
        raise SourceError(f"{url}: HTTP {e.response.status_code}") from None
    except httpx.HTTPError as e:
        raise SourceError(f"{url}: {e.__class__.__name__}: {e}") from None
    return b"".join(blocks)


def open_input(
    spec: str, client: httpx.Client | None = None, hint: str = "", max_bytes: int = MAX_BYTES
) -> Input:
    """A path or an http(s) URL, as one input of at most ``max_bytes``."""
    if is_url(spec):
        with http_client(client) as http:
            return Input(spec, fetch(http, spec, max_bytes))
    return read_local(spec, hint, max_bytes)


def count_lines(inp: Input, window: int = 1 << 24) -> int:
    """Lines in an input, for progress bars: a C-speed count of newlines, a window at a time (a
    mapped file has no ``count`` of its own)."""
    data = inp.data
    n = sum(data[i : i + window].count(b"\n") for i in range(0, len(data), window))
    return n + (0 if not len(data) or data[-1:] == b"\n" else 1)


@dataclass(frozen=True)
class Rejected:
    """An input row that could not be accepted."""

    line: int  # 1-based line (or item) number in the input
    raw: str  # the row as read
    reason: str  # names the column and the value, or what is missing


def quarantine(
    connector: str, source: str, inp: Input, rows: Iterable[Rejected] | pl.DataFrame
) -> RecordBatch:
    """``ingest.quarantined`` records for rejected rows: kept with their reason, never dropped.

    ``rows`` are :class:`Rejected` rows, or a frame of them (columns ``line``, ``raw``,
    ``reason``; ``raw_bytes``, how long the row was, when ``raw`` is already cut; ``count`` and
    ``last_line`` when runs are already counted), in line order. A run of identical rejects on
    consecutive lines (the same text, the same reason: a stretch of blank lines, a file of one
    repeated byte) is one record with its ``count`` and ``last_line``; text past
    :data:`RAW_KEPT` characters is cut, ``raw_bytes`` keeps the row's length. All of it
    column-wise: a run of a million lines costs no Python per line.

    Ids derive from the input's content and the (first) line, so re-reading adds nothing."""
    import polars as pl

    frame = rows if isinstance(rows, pl.DataFrame) else _rejected_frame(rows)
    if not frame.height:
        return RecordBatch.empty()
    if "raw_bytes" not in frame.columns:
        frame = frame.with_columns(pl.col("raw").str.len_bytes().alias("raw_bytes"))
    if "count" not in frame.columns:
        frame = frame.with_columns(pl.lit(1).alias("count"), pl.col("line").alias("last_line"))
    frame = frame.select(
        pl.col("line").cast(pl.Int64),
        "raw",
        "reason",
        *(pl.col(c).cast(pl.Int64) for c in ("raw_bytes", "count", "last_line")),
    )
    same = (
        (pl.col("raw") == pl.col("raw").shift(1))
        & (pl.col("reason") == pl.col("reason").shift(1))
        & (pl.col("line") == pl.col("last_line").shift(1) + 1)
    )
    runs = (
        frame.with_columns((~same.fill_null(False)).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(
            pl.col("line").first(),
            pl.col("raw").first().str.slice(0, RAW_KEPT),
            pl.col("reason").first(),
            pl.col("count").sum(),
            pl.col("last_line").last(),
            pl.col("raw_bytes").first(),
        )
    )
    payload = pl.struct(
        pl.lit(connector).alias("connector"),
        pl.lit(inp.label).alias("file"),
        "line",
        "raw",
        "reason",
        "count",
        "last_line",
        "raw_bytes",
    )
    out = runs.select(
        (
            pl.lit(feed_item_id(source, f"quarantine:{inp.digest}:")) + pl.col("line").cast(pl.Utf8)
        ).alias("id"),
        payload.struct.json_encode().alias("payload"),
    )
    return RecordBatch.from_columns(
        id=out["id"].to_arrow(),
        kind=QUARANTINED,
        kind_version=QUARANTINED.version,
        source=source,
        compartment="",
        payload=out["payload"].to_arrow(),
    )


def _rejected_frame(rows: Iterable[Rejected]) -> pl.DataFrame:
    import polars as pl

    given = list(rows)
    return pl.DataFrame(
        {
            "line": [r.line for r in given],
            "raw": [r.raw for r in given],
            "reason": [r.reason for r in given],
        },
        schema={"line": pl.Int64, "raw": pl.Utf8, "reason": pl.Utf8},
    )
