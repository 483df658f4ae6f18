"""GDELT inputs: local files, the .zip archives GDELT publishes, and the live feed.

GDELT 2.0 publishes an event export every 15 minutes and lists the newest files in
``lastupdate.txt`` ("size md5 url" per line). :func:`open_inputs` turns whatever the user named —
a path, a .zip, a URL of a file, or a lastupdate list — into the raw bytes of each export file
(an archive member expanded to a mapped temporary file, refused past ``max_bytes``);
:func:`chunks` parses them (parse.py, vectorised) into records for the one append path, and
refuses an input none of whose lines is a GDELT row.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import zipfile
import zlib
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from urllib.parse import urlparse

import httpx
import polars as pl

from sitroom.adapters.gdelt.lookups import Lookups
from sitroom.adapters.gdelt.parse import ParsedChunk, parse_gdelt
from sitroom.adapters.inputs import (
    MAX_BYTES,
    Input,
    fetch,
    http_client,
    is_url,
    quarantine,
    read_local,
    spool,
    too_large,
)
from sitroom.application.ports import Chunk
from sitroom.domain import sources
from sitroom.domain.kinds import GDELT_EVENT
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_MIN
from sitroom.domain.wording import said
from sitroom.errors import SourceError

GDELT_V2 = "gdelt-v2"
GDELT_V1 = "gdelt-v1"
LASTUPDATE_URL = "http://data.gdeltproject.org/gdeltv2/lastupdate.txt"


def declarations() -> list[Record]:
    """GDELT 2.0 publishes every 15 minutes, GDELT 1.0 once a day."""
    return [
        sources.declaration(
            name,
            title,
            cadence,
            publisher="The GDELT Project",
            url="https://www.gdeltproject.org/",
            licence="GDELT terms of use: unrestricted use; cite the GDELT Project",
        )
        for name, title, cadence in (
            (GDELT_V2, "GDELT 2.0 Event Database (15-minute exports)", 15 * MS_PER_MIN),
            (GDELT_V1, "GDELT 1.0 Event Database (daily files)", MS_PER_DAY),
        )
    ]


def open_inputs(
    spec: str, client: httpx.Client | None = None, *, max_bytes: int = MAX_BYTES
) -> Iterator[Input]:
    """The export files named by ``spec``: a path (.CSV/.txt/.tsv or .zip), a URL of such a file,
    or a GDELT ``lastupdate.txt`` URL (only its event export is taken; size and md5 are checked).
    A file, a download or an archive member past ``max_bytes`` is refused."""
    if is_url(spec):
        with http_client(client) as http:
            name = urlparse(spec).path.rsplit("/", 1)[-1]
            body = fetch(http, spec, max_bytes)
            if name.endswith(".txt") and _looks_like_update_list(body):
                for size, md5, url in _export_entries(body, spec):
                    data = fetch(http, url, max_bytes)
                    if len(data) != size or hashlib.md5(data).hexdigest() != md5:
                        raise SourceError(
                            f"{url}: size or md5 differs from {spec} "
                            "(truncated or changed download)"
                        )
                    yield from _unpack(url.rsplit("/", 1)[-1], data, max_bytes)
            else:
                yield from _unpack(name or spec, body, max_bytes)
        return
    local = read_local(spec, f"name the GDELT files in it (e.g. {spec}/*.CSV)", max_bytes)
    yield from _unpack(local.label, local.data, max_bytes, Path(spec))


def _looks_like_update_list(body: bytes) -> bool:
    first = body.split(b"\n", 1)[0].split()
    return len(first) == 3 and first[0].isdigit() and len(first[1]) == 32


def _export_entries(body: bytes, spec: str) -> Iterator[tuple[int, str, str]]:
    found = False
    for line in body.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].lower().endswith(".export.csv.zip"):
            found = True
            yield int(parts[0]), parts[1].lower(), parts[2]
    if not found:
        raise SourceError(f"{spec} lists no event export file")


def _unpack(
    label: str, data: bytes | mmap.mmap, max_bytes: int, path: Path | None = None
) -> Iterator[Input]:
    """An export file as it is, or each member of a zip archive, expanded a block at a time
    into a mapped temporary file (a local archive is read from its file, not copied into
    memory first). An archive whose members expand past ``max_bytes`` is refused at the
    limit."""
    if not (label.lower().endswith(".zip") or data[:4] == b"PK\x03\x04"):
        yield Input(label, data)
        return
    try:
        with zipfile.ZipFile(path if path is not None else io.BytesIO(data)) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            if not members:
                raise SourceError(f"{label}: the archive is empty")
            if sum(m.file_size for m in members) > max_bytes:  # as its headers say
                whole = f"{label}!{members[0].filename}" if len(members) == 1 else label
                raise too_large(whole, max_bytes, "expands to more than")
            used = 0  # the members together are one input: every one is expanded before any
            for m in members:  # is read (ingest opens all of a spec's feeds first)
                name = f"{label}!{m.filename}"
                with z.open(m) as member:
                    try:
                        data = spool(member, name, max_bytes - used)
                    except SourceError:
                        if used:  # the members together, not this one, went past the limit
                            raise too_large(label, max_bytes, "expands to more than") from None
                        raise
                used += len(data)
                yield Input(name, data)
    except zipfile.BadZipFile as e:
        raise SourceError(f"{label}: not a valid zip archive ({said(e)})") from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        # A damaged stream, an unsupported method, an encrypted member.
        raise SourceError(f"{label}: cannot unpack the archive ({said(e)})") from None
    except OSError as e:
        raise SourceError(f"{label}: cannot unpack the archive ({e.strerror or e})") from None


def chunks(inp: Input, lookups: Lookups, *, chunk_rows: int = 100_000) -> Iterator[Chunk]:
    """Records for each chunk of one export file: its events, and its quarantined rows with file,
    line, raw text and reason. Ids come from GDELT's own GLOBALEVENTID (events) and from the
    file's content hash and line (quarantine), so re-ingesting adds nothing.

    An input with lines but not one GDELT row among them is refused (a SourceError, nothing
    appended, not even its quarantine): it is some other file, not an export with bad rows.
    So nothing is yielded before the first chunk with an event; the chunks before it (rejects
    only) are parsed again then, rather than held: only one chunk is in memory at a time."""
    parse = parse_gdelt(inp.data, lookups, chunk_rows=chunk_rows)
    skipped = lines = 0
    first = None
    for parsed in parse:
        if parsed.events.height:
            first = parsed
            break
        skipped += 1
        lines += parsed.lines
    if first is None:
        if lines:
            are = "line is a GDELT row" if lines == 1 else "lines are GDELT rows"
            raise SourceError(f"{inp.label}: not a GDELT export (0 of {lines:,} {are})")
        return  # an empty file: nothing to say
    source = first.events["source"][0]
    for parsed in islice(parse_gdelt(inp.data, lookups, chunk_rows=chunk_rows), skipped):
        yield from _chunk(inp, parsed, source)
    for parsed in chain([first], parse):
        source = parsed.events["source"][0] if parsed.events.height else source
        yield from _chunk(inp, parsed, source)


def _chunk(inp: Input, parsed: ParsedChunk, source: str) -> Iterator[Chunk]:
    """A parsed chunk's events, then (their own append) its quarantine, blamed on ``source``:
    the source of the last events seen."""
    ev = parsed.events
    if ev.height:
        ids = ev.select((pl.col("source") + ":" + pl.col("source_id")).alias("id"))["id"]
        events = RecordBatch.from_columns(
            id=ids.to_arrow(),
            kind=GDELT_EVENT,
            kind_version=GDELT_EVENT.version,
            valid_from=ev["valid_from"].to_arrow(),
            valid_to=ev["valid_to"].to_arrow(),
            source=ev["source"].to_arrow(),
            compartment="",
            payload=ev["payload"].to_arrow(),
        )
        yield Chunk(events, parsed.lines)
    else:
        yield Chunk(RecordBatch.empty(), parsed.lines)
    if parsed.quarantined.height:
        # Their own append: typed events and JSON quarantine records keep their own form.
        yield Chunk(quarantine("gdelt", source, inp, parsed.quarantined), 0)
