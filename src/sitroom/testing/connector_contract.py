"""The contract every ``Connector`` passes (application/ports.py): a source format's spec in,
feeds of records out. A subclass per connector names the connector, a good sample and a
garbage file of its format::

    from sitroom.testing import ConnectorContract

    class TestMyFormat(ConnectorContract):
        known_ids = ("myformat:1234",)   # ids the sample must give: pins the id scheme

        def make_connector(self):
            return MyFormat()

        def sample(self, tmp_path):
            return str(HERE / "sample.csv")

        def garbage(self, tmp_path):
            return str(HERE / "broken.csv")   # the format's own kind of garbage

What it checks:

- the sample opens into feeds with accepted records, each a record the log accepts, of a kind
  sitroom knows;
- **every feed's chunks cover its rows**: each input row a chunk counts becomes exactly one
  record, accepted or quarantined, never silently dropped (an ingest report's rows add up; a
  quarantine record of a run of identical rows counts each of them), and no feed claims more
  rows than it said it had;
- **re-opening gives the same record ids**, in the same order (ingesting twice adds nothing);
- **ids are stable**: unique within a feed, the same when the same bytes are read under another
  name or by another process (no hash seed or clock in them), and the ``known_ids`` are there;
- **declarations present**: each feed declares its source (a ``source.declared`` record),
  and every record it yields comes from a declared source (``declares = False`` for a format
  whose records carry many sources of their own, such as STIX);
- **garbage is a SourceError or quarantined rows, never a traceback**: the subclass's garbage,
  random bytes, an empty file, a directory, a missing file, damage to each of the sample's
  first 32 bytes and (property-based) random cuts and byte flips of the sample all either raise
  :class:`~sitroom.errors.SourceError` or give chunks whose records the log accepts and whose
  rows are covered.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitroom.adapters.log_memory import MemoryLog
from sitroom.application.ports import Connector, Feed
from sitroom.domain.kinds import QUARANTINED, SOURCE_DECLARED, kind
from sitroom.domain.records import RecordBatch
from sitroom.errors import SourceError
from sitroom.testing import T0
from sitroom.testing.log_contract import stamp_batch

__all__ = ["ConnectorContract", "Opened", "drain"]

# The first bytes of the sample that the property-based garbage tests cut and flip.
_FUZZ_BYTES = 16_384


@dataclass(frozen=True)
class Opened:
    """One feed, read to the end."""

    feed: Feed
    batches: tuple[RecordBatch, ...]
    rows: int  # the rows its chunks say they cover

    @property
    def ids(self) -> list[str]:
        return [i for b in self.batches for i in b.column("id").to_pylist()]

    @property
    def kinds(self) -> list[str]:
        return [k for b in self.batches for k in b.column("kind").to_pylist()]

    @property
    def sources(self) -> set[str]:
        return {s for b in self.batches for s in b.column("source").to_pylist()}

    @property
    def records(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def accepted(self) -> int:
        return sum(1 for k in self.kinds if k != QUARANTINED)

    @property
    def covered(self) -> int:
        """The input rows its records stand for: one each, but a quarantine record of a run of
        identical rejected rows stands for its ``count``."""
        runs = 0
        for b in self.batches:
            q = b.of_kinds([QUARANTINED])
            if len(q):
                runs += int(q.payload_field("count", int).fill_null(1).sum()) - len(q)
        return self.records + runs


def drain(connector: Connector, spec: str, now_ms: int = T0) -> list[Opened]:
    """Open ``spec`` and read every feed's every chunk (what ingest does, minus the log)."""
    out = []
    for feed in connector.open(spec, now_ms):
        batches, rows = [], 0
        for chunk in feed.chunks():
            assert chunk.rows >= 0, f"{feed.label}: a chunk covers {chunk.rows} rows"
            batches.append(chunk.records)
            rows += chunk.rows
        out.append(Opened(feed, tuple(batches), rows))
    return out


class ConnectorContract:
    """Subclasses provide ``make_connector``, ``sample`` and ``garbage``."""

    declares: ClassVar[bool] = True  # each feed declares the sources of its records
    known_ids: ClassVar[Sequence[str]] = ()  # ids the sample must give
    now_ms: ClassVar[int] = T0  # the time the connector is told it is

    def make_connector(self) -> Connector:
        raise AssertionError("subclass provides make_connector")

    def sample(self, tmp_path: Path) -> str:
        """A spec (path or URL) of a good input of the format."""
        raise AssertionError("subclass provides sample")

    def garbage(self, tmp_path: Path) -> str:
        """A spec of the format's own kind of garbage (bad rows, a broken document...)."""
        raise AssertionError("subclass provides garbage")

    @pytest.fixture
    def connector(self) -> Connector:
        return self.make_connector()

    @pytest.fixture
    def opened(self, connector: Connector, tmp_path: Path) -> list[Opened]:
        return drain(connector, self.sample(tmp_path), self.now_ms)

    # helpers ------------------------------------------------------------------------------
    def check_covered(self, feeds: list[Opened]) -> None:
        """Every row a chunk counts became one record, accepted or quarantined; no feed
        covers more rows than it said it had; the log accepts every record."""
        for f in feeds:
            assert f.rows == f.covered, (
                f"{f.feed.label}: the chunks cover {f.rows} rows but their records stand for "
                f"{f.covered}: every input row must become one record, accepted or quarantined"
            )
            if f.feed.rows is not None:
                assert f.rows <= f.feed.rows, (
                    f"{f.feed.label}: the chunks cover {f.rows} rows, the feed said {f.feed.rows}"
                )
            log, rt = MemoryLog(), 1
            for b in f.batches:
                if len(b):
                    log.append(stamp_batch(b, rt))  # RecordError: not a valid record
                    rt += len(b)
            unknown = {k for k in f.kinds if kind(k) is None}
            assert not unknown, f"{f.feed.label}: records of kinds sitroom does not know: {unknown}"

    def check_survives(self, connector: Connector, spec: str) -> None:
        """A SourceError, or feeds whose rows are covered: never another exception."""
        try:
            feeds = drain(connector, spec, self.now_ms)
        except SourceError as e:
            assert str(e), "a SourceError says what is wrong"
            return
        self.check_covered(feeds)

    # the sample ---------------------------------------------------------------------------
    def test_name_is_a_plain_word(self, connector: Connector) -> None:
        """What `sitroom ingest NAME` takes: lower-case letters, digits and '-'."""
        assert connector.name and all(
            c.islower() or c.isdigit() or c == "-" for c in connector.name
        )

    def test_the_sample_opens_into_feeds_with_records(self, opened: list[Opened]) -> None:
        assert opened, "the sample opens into at least one feed"
        for f in opened:
            assert isinstance(f.feed.label, str) and f.feed.label
        assert sum(f.accepted for f in opened) > 0, "the sample gives accepted records"

    def test_every_feeds_chunks_cover_its_rows(self, opened: list[Opened]) -> None:
        self.check_covered(opened)

    def test_reopening_gives_the_same_record_ids(
        self, connector: Connector, opened: list[Opened], tmp_path: Path
    ) -> None:
        again = drain(connector, self.sample(tmp_path), self.now_ms)
        assert [f.ids for f in again] == [f.ids for f in opened]
        fresh = drain(self.make_connector(), self.sample(tmp_path), self.now_ms)
        assert [f.ids for f in fresh] == [f.ids for f in opened]

    def test_ids_are_unique_within_a_feed(self, opened: list[Opened]) -> None:
        """Two records of one feed with one id: the log would keep the first, silently."""
        for f in opened:
            twice = [i for i, n in Counter(f.ids).items() if n > 1]
            assert not twice, f"{f.feed.label}: ids given twice: {twice[:5]}"

    def test_ids_come_from_the_content_not_the_file_name(
        self, connector: Connector, opened: list[Opened], tmp_path: Path
    ) -> None:
        spec = self.sample(tmp_path)
        if not Path(spec).is_file():
            pytest.skip("the sample is not a local file")
        copy = tmp_path / "copied-elsewhere" / ("renamed" + Path(spec).suffix)
        copy.parent.mkdir()
        copy.write_bytes(Path(spec).read_bytes())
        moved = drain(connector, str(copy), self.now_ms)
        assert [f.ids for f in moved] == [f.ids for f in opened]

    def test_ids_are_the_same_in_another_process(
        self, opened: list[Opened], tmp_path: Path
    ) -> None:
        """No hash seed, clock or counter in an id: another process reads the same ids."""
        cls = type(self)
        script = textwrap.dedent(f"""
            import sys, json, pathlib
            sys.path[:0] = {[p for p in sys.path if p]!r}
            from {cls.__module__} import {cls.__qualname__} as Case
            from sitroom.testing.connector_contract import drain
            case = Case()
            spec = case.sample(pathlib.Path(sys.argv[1]))
            feeds = drain(case.make_connector(), spec, case.now_ms)
            print(json.dumps([f.ids for f in feeds]))
        """)
        env = {**os.environ, "PYTHONHASHSEED": str(random.randrange(1, 2**31))}
        r = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == [f.ids for f in opened]

    def test_known_ids_are_given(self, opened: list[Opened]) -> None:
        """The id scheme is pinned: changing it would duplicate every record on re-ingest."""
        if not self.known_ids:
            pytest.skip("the subclass pins no ids")
        given_ids = {i for f in opened for i in f.ids}
        missing = [i for i in self.known_ids if i not in given_ids]
        assert not missing, f"the sample no longer gives {missing}"

    def test_declarations_are_present(self, opened: list[Opened]) -> None:
        if not self.declares:
            pytest.skip("this format's records carry their own sources: nothing to declare")
        for f in opened:
            decl = f.feed.declarations
            assert decl, f"{f.feed.label}: the feed declares no source"
            assert {d.kind for d in decl} == {SOURCE_DECLARED}
            declared = {d.payload["source"] for d in decl}
            assert all(d.source == d.payload["source"] for d in decl)
            for d in decl:
                assert d.payload["cadence_ms"] is None or d.payload["cadence_ms"] > 0
            undeclared = f.sources - declared
            assert not undeclared, f"{f.feed.label}: records from undeclared {undeclared}"

    # garbage ------------------------------------------------------------------------------
    def test_its_own_garbage_is_a_source_error_or_quarantine(
        self, connector: Connector, tmp_path: Path
    ) -> None:
        spec = self.garbage(tmp_path)
        try:
            feeds = drain(connector, spec, self.now_ms)
        except SourceError as e:
            assert str(e)
            return
        self.check_covered(feeds)
        assert sum(f.accepted for f in feeds) < sum(f.records for f in feeds), (
            "garbage that is not a SourceError is quarantined, at least in part"
        )

    @pytest.mark.parametrize("what", ["random bytes", "empty", "text", "directory"])
    def test_any_garbage_is_a_source_error_or_quarantine(
        self, connector: Connector, tmp_path: Path, what: str
    ) -> None:
        path = tmp_path / "garbage.dat"
        if what == "random bytes":
            path.write_bytes(random.Random(7).randbytes(3000))
        elif what == "empty":
            path.write_bytes(b"")
        elif what == "text":
            path.write_text("hello, world\nthis is not a feed\n\n1,2,3\n")
        else:
            path.mkdir()
        self.check_survives(connector, str(path))

    def test_a_missing_file_is_a_source_error(self, connector: Connector, tmp_path: Path) -> None:
        with pytest.raises(SourceError):
            drain(connector, str(tmp_path / "no-such-file.csv"), self.now_ms)

    def test_damage_to_the_first_bytes_is_never_a_traceback(
        self, connector: Connector, tmp_path: Path
    ) -> None:
        """Where a format says what it is (a header, a prolog, an opening brace), each of the
        first 32 bytes in turn made a NUL, a byte that is not UTF-8, a quote or a line break."""
        spec = self.sample(tmp_path)
        if not Path(spec).is_file():
            pytest.skip("the sample is not a local file")
        good = Path(spec).read_bytes()[:4096]
        path = tmp_path / ("damaged" + Path(spec).suffix)
        for at in range(min(32, len(good))):
            for byte in (0x00, 0x80, ord('"'), ord("\n")):
                damaged = bytearray(good)
                damaged[at] = byte
                path.write_bytes(bytes(damaged))
                try:
                    self.check_survives(connector, str(path))
                except Exception as e:
                    raise AssertionError(f"byte {at} made {byte:#04x}: {e!r}") from e

    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,  # the same cases every run: a failure is a bug, never a fluke
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(data=st.data())
    def test_a_cut_or_damaged_sample_is_never_a_traceback(
        self, tmp_path_factory: Any, data: st.DataObject
    ) -> None:
        """Truncated downloads and flipped bytes: a SourceError, or rows accounted for."""
        base = tmp_path_factory.mktemp("sample")
        spec = self.sample(base)
        if not Path(spec).is_file():
            pytest.skip("the sample is not a local file")
        good = Path(spec).read_bytes()[:_FUZZ_BYTES]
        cut = data.draw(st.integers(0, len(good)), label="cut at")
        damaged = bytearray(good[:cut])
        flips = data.draw(
            st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), max_size=8)
        )
        for at, byte in flips:
            if damaged:
                damaged[at % len(damaged)] = byte
        path = tmp_path_factory.mktemp("damaged") / ("damaged" + Path(spec).suffix)
        path.write_bytes(bytes(damaged))
        self.check_survives(self.make_connector(), str(path))
