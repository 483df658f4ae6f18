"""GDELT inputs: local files, the .zip archives GDELT publishes, and the live feed.

GDELT 2.0 publishes an event export every 15 minutes and lists the newest files in
``lastupdate.txt`` ("size md5 url" per line). :func:`open_inputs` turns whatever the user named —
a path, a .zip, a URL of a file, or a lastupdate list — into the raw bytes of each export file;
:func:`chunks` parses them (parse.py, vectorised) into records for the one append path.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import zipfile
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import polars as pl

from sitroom.adapters.gdelt.lookups import Lookups
from sitroom.adapters.gdelt.parse import parse_gdelt
from sitroom.adapters.inputs import Input, fetch, http_client, is_url, quarantine, read_local
from sitroom.application.ports import Chunk
from sitroom.domain import sources
from sitroom.domain.kinds import GDELT_EVENT
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_MIN
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


def open_inputs(spec: str, client: httpx.Client | None = None) -> Iterator[Input]:
    """The export files named by ``spec``: a path (.CSV/.txt/.tsv or .zip), a URL of such a file,
    or a GDELT ``lastupdate.txt`` URL (only its event export is taken; size and md5 are checked)."""
    if is_url(spec):
        with http_client(client) as http:
            name = urlparse(spec).path.rsplit("/", 1)[-1]
            body = fetch(http, spec)
            if name.endswith(".txt") and _looks_like_update_list(body):
                for size, md5, url in _export_entries(body, spec):
                    data = fetch(http, url)
                    if len(data) != size or hashlib.md5(data).hexdigest() != md5:
                        raise SourceError(
                            f"{url}: size or md5 differs from {spec} "
                            "(truncated or changed download)"
                        )
                    yield from _unpack(url.rsplit("/", 1)[-1], data)
            else:
                yield from _unpack(name or spec, body)
        return
    local = read_local(spec, f"name the GDELT files in it (e.g. {spec}/*.CSV)")
    yield from _unpack(local.label, local.data)


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


def _unpack(label: str, data: bytes | mmap.mmap) -> Iterator[Input]:
    if label.lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                members = [m for m in z.infolist() if not m.is_dir()]
                if not members:
                    raise SourceError(f"{label}: the archive is empty")
                for m in members:
                    yield Input(f"{label}!{m.filename}", z.read(m))
        except zipfile.BadZipFile:
            raise SourceError(f"{label}: not a valid zip archive") from None
    else:
        yield Input(label, data)


def chunks(inp: Input, lookups: Lookups, *, chunk_rows: int = 100_000) -> Iterator[Chunk]:
    """Records for each chunk of one export file: its events, and its quarantined rows with file,
    line, raw text and reason. Ids come from GDELT's own GLOBALEVENTID (events) and from the
    file's content hash and line (quarantine), so re-ingesting adds nothing."""
    source = GDELT_V2
    for parsed in parse_gdelt(inp.data, lookups, chunk_rows=chunk_rows):
        ev = parsed.events
        if ev.height:
            source = ev["source"][0]
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
        if parsed.quarantined:
            # Their own append: typed events and JSON quarantine records keep their own form.
            yield Chunk(quarantine("gdelt", source, inp, parsed.quarantined), 0)
