"""The connectors a room ingests through, one per source format, behind the ``Connector``
port (application/ports.py): a spec (a path or a URL) in, feeds out.

Each wraps its format's module (``gdelt``, ``ucdp``, ``acled``, ``rss``, ``stix``); heavy
libraries are imported when a connector first opens something, not when a room opens. Each
refuses an input of more than ``max_bytes`` (the room's ``ingest_max_bytes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING

from sitroom.adapters.inputs import (
    MAX_BYTES,
    Input,
    Rejected,
    count_lines,
    is_url,
    open_input,
    quarantine,
)
from sitroom.application.ports import Chunk, Connector, Feed
from sitroom.domain.records import Record, RecordBatch

if TYPE_CHECKING:
    from sitroom.adapters.gdelt.lookups import Lookups


def _feed(
    inp: Input, declarations: Sequence[Record], chunks: Callable[[], Iterable[Chunk]]
) -> Feed:
    return Feed(inp.label, count_lines(inp), tuple(declarations), chunks)


class Gdelt:
    """GDELT 2.0 and 1.0 event exports: files, .zip archives, their URLs, or the 15-minute
    ``lastupdate.txt`` list."""

    name = "gdelt"

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._lookups: Lookups | None = None
        self.max_bytes = max_bytes

    def open(self, spec: str, now_ms: int) -> Iterator[Feed]:
        from sitroom.adapters.gdelt import connector
        from sitroom.adapters.gdelt.lookups import load_lookups

        if self._lookups is None:
            self._lookups = load_lookups()
        lookups = self._lookups
        for inp in connector.open_inputs(spec, max_bytes=self.max_bytes):
            yield _feed(inp, connector.declarations(), partial(connector.chunks, inp, lookups))


class _Bounded:
    """A connector whose inputs are refused past ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes


class Ucdp(_Bounded):
    """UCDP GED CSV exports (every upstream version of an event kept)."""

    name = "ucdp"

    def open(self, spec: str, now_ms: int) -> Iterator[Feed]:
        from sitroom.adapters import ucdp

        inp = open_input(spec, max_bytes=self.max_bytes)
        yield _feed(inp, [ucdp.declaration()], lambda: ucdp.chunks(inp))


class Acled(_Bounded):
    """ACLED CSV exports (every upstream version of an event kept)."""

    name = "acled"

    def open(self, spec: str, now_ms: int) -> Iterator[Feed]:
        from sitroom.adapters import acled

        inp = open_input(spec, max_bytes=self.max_bytes)
        yield _feed(inp, [acled.declaration()], lambda: acled.chunks(inp))


class Rss(_Bounded):
    """RSS and Atom news feeds (polling again adds nothing)."""

    name = "rss"

    def open(self, spec: str, now_ms: int) -> Iterator[Feed]:
        from sitroom.adapters import rss

        inp = rss.open_feed(spec, max_bytes=self.max_bytes)
        source = rss.feed_source(inp)
        url = spec if is_url(spec) else None
        declared = rss.declaration(source, rss.feed_title(inp), url=url)
        yield Feed(inp.label, None, (declared,), lambda: rss.chunks(inp))


class Stix(_Bounded):
    """STIX 2.1 bundles: actors, relationships, claims, reports; other objects kept whole."""

    name = "stix"

    def open(self, spec: str, now_ms: int) -> Iterator[Feed]:
        from sitroom.adapters import stix

        inp = open_input(spec, max_bytes=self.max_bytes)

        def chunks() -> Iterator[Chunk]:
            bad: list[Rejected] = []
            records = stix.from_bundle(inp.label, bytes(inp.data), now_ms=now_ms, bad=bad)
            batch = RecordBatch.from_records(records)
            if bad:
                batch = RecordBatch.concat([batch, quarantine("stix", "stix", inp, bad)])
            yield Chunk(batch, len(records) + len(bad))

        yield Feed(inp.label, None, (), chunks)


def connectors(max_bytes: int = MAX_BYTES) -> dict[str, Connector]:
    """Every connector a room has, by name, each refusing inputs past ``max_bytes``."""
    return {c.name: c for c in (cls(max_bytes) for cls in (Gdelt, Ucdp, Acled, Rss, Stix))}


def samples() -> list[tuple[str, str]]:
    """The real sample files shipped in the package, as (connector, path): three GDELT 2.0
    exports, GDELT 1.0 samples and 1,000 UCDP GED events (see data/demo/NOTICE.md)."""
    demo = resources.files("sitroom").joinpath("data", "demo")
    gdelt = sorted(str(p) for p in demo.iterdir() if p.name.endswith((".CSV", ".tsv", ".txt")))
    return [*(("gdelt", p) for p in gdelt), ("ucdp", str(demo.joinpath("ucdpged_sample.csv")))]
