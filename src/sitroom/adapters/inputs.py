"""What every connector reads: a named input's bytes, from a local file (memory-mapped) or a URL,
and how it reports rows it could not accept.

Connectors differ in what the bytes mean, not in how they arrive or how a bad row is kept.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from sitroom.domain.kinds import QUARANTINED
from sitroom.domain.records import RecordBatch, feed_item_id
from sitroom.errors import SourceError


@dataclass(frozen=True)
class Input:
    label: str  # what a person recognises: the file name or URL
    data: bytes | mmap.mmap  # a local file is mapped, not read

    @property
    def digest(self) -> str:
        """A short content hash: quarantined rows are identified by (content, line), so that
        re-reading the same input quarantines nothing twice."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def is_url(spec: str) -> bool:
    return urlparse(spec).scheme in ("http", "https")


def read_local(spec: str, hint: str = "") -> Input:
    """A local file, mapped. ``hint`` completes the message when a directory is named."""
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"no such file: {spec}")
    if path.is_dir():
        raise SourceError(f"{spec} is a directory{'; ' + hint if hint else ''}")
    try:
        with path.open("rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
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


def fetch(http: httpx.Client, url: str) -> bytes:
    try:
        r = http.get(url)
        r.raise_for_status()
    except httpx.HTTPStatusError as e:
        raise SourceError(f"{url}: HTTP {e.response.status_code}") from None
    except httpx.HTTPError as e:
        raise SourceError(f"{url}: {e.__class__.__name__}: {e}") from None
    return r.content


def open_input(spec: str, client: httpx.Client | None = None, hint: str = "") -> Input:
    """A path or an http(s) URL, as one input."""
    if is_url(spec):
        with http_client(client) as http:
            return Input(spec, fetch(http, spec))
    return read_local(spec, hint)


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


def quarantine(connector: str, source: str, inp: Input, rows: Iterable[Rejected]) -> RecordBatch:
    """``ingest.quarantined`` records for rejected rows: kept with their reason, never dropped.
    Their ids derive from the input's content and the line, so re-reading adds nothing."""
    digest = inp.digest
    return RecordBatch.from_records(
        QUARANTINED.record(
            id=feed_item_id(source, f"quarantine:{digest}:{r.line}"),
            source=source,
            payload={
                "connector": connector,
                "file": inp.label,
                "line": r.line,
                "raw": r.raw,
                "reason": r.reason,
            },
        )
        for r in rows
    )
