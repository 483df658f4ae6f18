"""The contract every ``LogStore`` backend passes (the eventsourcing habit: one abstract suite,
subclassed per backend). Subclasses provide ``make_log``; durable ones subclass
:class:`DurableLogContract` and also provide ``reopen``::

    from sitroom.testing import LogContract

    class TestMyLog(LogContract):
        def make_log(self, tmp_path):
            return MyLog()

``stamp`` and ``stamp_batch`` do to a batch what the engine does before a log sees it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitroom.application.ports import LogStore
from sitroom.domain.records import Record, RecordBatch
from sitroom.errors import LogError, RecordError
from sitroom.testing import T0, make_record

__all__ = ["DurableLogContract", "LogContract", "ids", "stamp", "stamp_batch"]


def stamp(records: list[Record], first_rt: int, origin: str = "site-a") -> RecordBatch:
    """What the engine does before the log sees a batch: recorded time and origin."""
    batch = RecordBatch.from_records(records)
    batch = batch.with_column("recorded_time", np.arange(first_rt, first_rt + len(records)))
    return batch.with_column("origin", [origin] * len(records))


def stamp_batch(batch: RecordBatch, first_rt: int, origin: str = "site-a") -> RecordBatch:
    """:func:`stamp` for a batch already built."""
    batch = batch.with_column("recorded_time", np.arange(first_rt, first_rt + len(batch)))
    return batch.with_column("origin", [origin] * len(batch))


def ids(log: LogStore, **kw: Any) -> list[str]:
    """The ids a read with these filters gives, in order."""
    return [i for b in log.read(**kw) for i in b.column("id").to_pylist()]


class LogContract:
    """Append, read, filters, paging, idempotency, as-of, snapshots, segment heads and
    refusals."""

    durable = False

    def make_log(self, tmp_path: Any) -> LogStore:
        raise AssertionError("subclass provides make_log")

    @pytest.fixture
    def log(self, tmp_path: Any) -> LogStore:
        return self.make_log(tmp_path)

    # append and read ----------------------------------------------------------------------
    def test_append_assigns_dense_seq_and_reads_back_everything(self, log: LogStore) -> None:
        """Records come back in order with seq 1..n and every field, payload included."""
        recs = [
            make_record(
                i,
                confidence=i % 101,
                compartment="t1" if i % 2 else "",
                payload={"n": i, "text": 'é\n"x"', "nested": {"v": [i, None]}},
            )
            for i in range(5)
        ]
        result = log.append(stamp(recs, 100))
        assert result.duplicates == 0
        assert result.appended.column("seq").to_pylist() == [1, 2, 3, 4, 5]
        back = [r for b in log.read() for r in b.rows()]
        assert [r.seq for r in back] == [1, 2, 3, 4, 5]
        for orig, got in zip(recs, back, strict=True):
            assert (
                got.id,
                got.kind,
                got.kind_version,
                got.source,
                got.payload,
                got.valid_from,
                got.valid_to,
                got.confidence,
                got.compartment,
            ) == (
                orig.id,
                orig.kind,
                orig.kind_version,
                orig.source,
                orig.payload,
                orig.valid_from,
                orig.valid_to,
                orig.confidence,
                orig.compartment,
            )
        assert [r.recorded_time for r in back] == [100, 101, 102, 103, 104]
        assert {r.origin for r in back} == {"site-a"}
        assert log.last_seq() == 5 and log.last_recorded_time() == 104

    def test_read_by_seq_range_kind_source_and_id(self, log: LogStore) -> None:
        """Filters select exactly the matching records, in log order."""
        recs = [
            make_record(i, kind="a.x" if i % 3 else "b.y", source="s1" if i < 5 else "s2")
            for i in range(10)
        ]
        log.append(stamp(recs, 1))
        assert ids(log, after_seq=3, upto_seq=6) == ["s1:3", "s1:4", "s2:5"]
        assert ids(log, kinds=["b.y"]) == ["s1:0", "s1:3", "s2:6", "s2:9"]
        assert ids(log, sources=["s2"], kinds=["a.x"]) == ["s2:5", "s2:7", "s2:8"]
        assert ids(log, ids=["s2:9", "s1:1", "nope"]) == ["s1:1", "s2:9"]
        assert log.count(kinds=["a.x"]) == 6
        assert log.count(after_seq=8) == 2
        assert log.count(sources=["s2"], kinds=["a.x"]) == 3  # count takes read's filters

    def test_valid_time_overlap_rule(self, log: LogStore) -> None:
        """Intervals are half-open, points closed, unknown valid time never matches a filter."""
        recs = [
            make_record(0, valid_from=0, valid_to=100),  # [0, 100)
            make_record(1, valid_from=100, valid_to=100),  # point at 100
            make_record(2, valid_from=None, valid_to=None),  # unknown
            make_record(3, valid_from=150, valid_to=300),
            make_record(4, valid_from=50, valid_to=None),  # began at 50, still going on
        ]
        log.append(stamp(recs, 1))
        assert ids(log, valid_overlaps=(100, 150)) == ["test:1", "test:4"]
        assert ids(log, valid_overlaps=(99, 101)) == ["test:0", "test:1", "test:4"]
        assert ids(log, valid_overlaps=(None, 100)) == ["test:0", "test:4"]
        assert ids(log, valid_overlaps=(200, None)) == ["test:3", "test:4"]
        assert ids(log, valid_overlaps=(None, 50)) == ["test:0"]
        assert len(ids(log)) == 5

    def test_uniform_and_mixed_columns_with_awkward_text(self, log: LogStore) -> None:
        """Values shared by a whole batch, quotes and NULLs included, are stored as given."""
        odd = 'o\'brien "x"; DROP TABLE records; --'
        same = [make_record(i, source=odd, compartment=odd, confidence=None) for i in range(3)]
        mixed = [
            make_record(
                i,
                source="s",
                compartment=("a" if i % 2 else odd),
                confidence=(i if i % 2 else None),
            )
            for i in range(3, 6)
        ]
        log.append(stamp(same, 1))
        log.append(stamp(mixed, 10))
        back = [(r.source, r.compartment, r.confidence) for b in log.read() for r in b.rows()]
        assert back == [(r.source, r.compartment, r.confidence) for r in same + mixed]

    def test_paging_returns_the_same_records(self, log: LogStore) -> None:
        log.append(stamp([make_record(i) for i in range(23)], 1))
        pages = list(log.read(page_size=5))
        assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
        assert ids(log, page_size=5) == ids(log)

    def test_large_batch_keeps_payload_order_across_blocks(self, log: LogStore) -> None:
        """Twenty thousand records in one append come back with their own payloads."""
        n = 20_000
        log.append(
            stamp([make_record(i, payload={"n": i, "pad": "x" * (i % 17)}) for i in range(n)], 1)
        )
        got = [r.payload["n"] for b in log.read(after_seq=8000, upto_seq=12_000) for r in b.rows()]
        assert got == list(range(8000, 12_000))

    def test_typed_payloads_read_back_as_the_same_objects(self, log: LogStore) -> None:
        """A struct payload column and JSON text are the same JSON objects to a reader, also when
        one page mixes both."""
        n = 40
        payload = pa.array(
            [{"n": i, "geo": {"lat": i / 2, "name": None if i % 3 else "x"}} for i in range(n)]
        )
        typed = RecordBatch.from_columns(
            id=[f"t:{i}" for i in range(n)],
            kind="test.typed",
            kind_version=1,
            source="t",
            compartment="",
            payload=payload,
        )
        assert typed.typed
        log.append(stamp([make_record(0)], 1))
        log.append(stamp_batch(typed, 2))
        log.append(stamp([make_record(1)], 100))
        back = [r for b in log.read() for r in b.rows()]
        assert [r.payload for r in back[1:-1]] == payload.to_pylist()
        assert back[0].payload == {"n": 0} and back[-1].payload == {"n": 1}
        (only_typed,) = list(log.read(kinds=["test.typed"]))
        assert only_typed.payload_field("geo.lat", pl.Float64).to_list() == [
            i / 2 for i in range(n)
        ]
        assert only_typed.as_json().payload_field("geo.lat", pl.Float64).to_list() == [
            i / 2 for i in range(n)
        ]

    # ordering and idempotency -------------------------------------------------------------
    def test_reappending_is_a_no_op(self, log: LogStore) -> None:
        """The same ids again add nothing and count as duplicates."""
        recs = [make_record(i) for i in range(4)]
        log.append(stamp(recs, 1))
        again = log.append(stamp(recs, 10))
        assert (len(again.appended), again.duplicates) == (0, 4)
        assert log.last_seq() == 4

    def test_overlapping_window_adds_only_new_ids(self, log: LogStore) -> None:
        log.append(stamp([make_record(i) for i in range(0, 6)], 1))
        result = log.append(stamp([make_record(i) for i in range(4, 9)], 10))
        assert result.appended.column("id").to_pylist() == ["test:6", "test:7", "test:8"]
        assert result.duplicates == 2
        assert result.appended.column("seq").to_pylist() == [7, 8, 9]

    def test_repeated_id_within_a_batch_keeps_the_first(self, log: LogStore) -> None:
        recs = [
            make_record(1, payload={"v": "first"}),
            make_record(2),
            make_record(1, payload={"v": "second"}),
        ]
        result = log.append(stamp(recs, 1))
        assert result.duplicates == 1
        assert [r.payload for b in log.read(ids=["test:1"]) for r in b.rows()] == [{"v": "first"}]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(st.lists(st.lists(st.integers(0, 30), max_size=12), max_size=6))
    def test_any_sequence_of_appends_keeps_first_occurrences(
        self, tmp_path_factory: Any, appends: list[list[int]]
    ) -> None:
        """Whatever the batches, the log holds each id once, in first-seen order."""
        log = self.make_log(tmp_path_factory.mktemp("h"))
        rt = 1
        for numbers in appends:
            log.append(stamp([make_record(i) for i in numbers], rt))
            rt += len(numbers) + 1
        expected = list(dict.fromkeys(f"test:{i}" for batch in appends for i in batch))
        assert ids(log) == expected
        assert [s for b in log.read() for s in b.column("seq").to_pylist()] == list(
            range(1, len(expected) + 1)
        )
        log.close()

    # as-of --------------------------------------------------------------------------------
    def test_seq_as_of_recorded_time(self, log: LogStore) -> None:
        """As of T is the prefix of the log recorded at or before T."""
        log.append(stamp([make_record(i) for i in range(3)], 100))  # rt 100..102
        log.append(stamp([make_record(i) for i in range(3, 5)], 200))  # rt 200..201
        assert log.seq_as_of(99) == 0
        assert log.seq_as_of(101) == 2
        assert log.seq_as_of(150) == 3
        assert log.seq_as_of(10_000) == 5
        assert ids(log, upto_seq=log.seq_as_of(150)) == ["test:0", "test:1", "test:2"]

    def test_a_batch_stamped_behind_the_log_is_moved_on_past_it(self, log: LogStore) -> None:
        """Another writer's clock ran ahead: a batch stamped at or before the log's last
        recorded time is stored after it, spacing kept, so recorded time never goes back."""
        log.append(stamp([make_record(i) for i in range(3)], 1000))  # rt 1000..1002
        stored = log.append(stamp([make_record(i) for i in range(3, 6, 2)], 500)).appended
        assert stored.column("recorded_time").to_pylist() == [1003, 1004]
        assert stored.column("seq").to_pylist() == [4, 5]
        assert log.last_recorded_time() == 1004
        assert log.seq_as_of(1002) == 3

    def test_snapshots_newest_at_or_before(self, log: LogStore) -> None:
        log.save_snapshots([("p", 1, 10, b"ten"), ("p", 1, 20, b"twenty"), ("p", 2, 15, b"v2")])
        snap = log.load_snapshot("p", 1, 19)
        assert snap is not None and (snap.seq, snap.data) == (10, b"ten")
        later = log.load_snapshot("p", 1, 25)
        assert later is not None and later.data == b"twenty"
        assert log.load_snapshot("p", 1, 9) is None
        assert log.load_snapshot("q", 1, 100) is None

    def test_segment_head_binds_each_record_to_this_log_and_never_changes(
        self, log: LogStore, tmp_path_factory: Any
    ) -> None:
        """Every record the log holds has the chain head of the segment holding it, which the
        log growing leaves as it was and later records do not share; a log holding other
        records at the same places has other heads; no head for a record not held."""
        log.append(stamp([make_record(i) for i in range(3)], 1))
        first = [log.segment_head(seq) for seq in (1, 2, 3)]
        assert all(h is not None and len(h) == 32 for h in first)
        assert log.segment_head(0) is None and log.segment_head(4) is None
        log.append(stamp([make_record(i) for i in range(3, 5)], 10))
        assert [log.segment_head(seq) for seq in (1, 2, 3)] == first
        later = log.segment_head(5)
        assert later is not None and later not in first
        other = self.make_log(tmp_path_factory.mktemp("other"))
        try:
            other.append(stamp([make_record(i, payload={"other": i}) for i in range(5)], 1))
            assert other.segment_head(3) not in (*first, later)
        finally:
            other.close()

    # refusing bad input -------------------------------------------------------------------
    def test_invalid_batch_is_refused_whole(self, log: LogStore) -> None:
        """A batch with one bad record writes nothing at all."""
        good = stamp([make_record(0)], 1)
        bad = good.with_column("kind", ["sitroom.domain.Thing"])  # an import path, not a kind
        log.append(stamp([make_record(1)], 5))
        with pytest.raises(RecordError):
            log.append(RecordBatch.concat([stamp([make_record(2)], 6), bad]))
        assert ids(log) == ["test:1"]

    def test_unstamped_batch_is_refused(self, log: LogStore) -> None:
        with pytest.raises(LogError, match="engine"):
            log.append(RecordBatch.from_records([make_record(0)]))
        assert log.last_seq() == 0


class DurableLogContract(LogContract):
    """The contract, plus: what was appended is there after closing and opening again."""

    durable = True

    def reopen(self, log: LogStore, tmp_path: Any) -> LogStore:
        raise AssertionError("subclass provides reopen")

    def test_reopen_keeps_everything(self, log: LogStore, tmp_path: Any) -> None:
        log.append(stamp([make_record(i) for i in range(7)], T0))
        before = ids(log)
        log.close()
        again = self.reopen(log, tmp_path)
        assert ids(again) == before
        assert again.last_seq() == 7 and again.last_recorded_time() == T0 + 6
        assert (len(again.append(stamp([make_record(3)], T0 + 10)).appended)) == 0

    def test_segment_heads_survive_reopening(self, log: LogStore, tmp_path: Any) -> None:
        log.append(stamp([make_record(i) for i in range(4)], T0))
        heads = [log.segment_head(seq) for seq in range(1, 5)]
        log.close()
        again = self.reopen(log, tmp_path)
        assert [again.segment_head(seq) for seq in range(1, 5)] == heads
        assert None not in heads

    def test_a_second_handle_appends_after_the_first(self, log: LogStore, tmp_path: Any) -> None:
        """Two handles on one log (two processes, in life): each numbers its appends after
        what the other stored, and each reads the other's records."""
        log.append(stamp([make_record(i) for i in range(3)], T0))
        other = self.reopen(log, tmp_path)
        try:
            other.append(stamp([make_record(i) for i in range(3, 5)], T0 + 10))
            mine = log.append(stamp([make_record(5)], T0 + 20)).appended
            assert mine.column("seq").to_pylist() == [6]
            assert log.last_seq() == other.last_seq() == 6
            assert ids(other) == ids(log) == [f"test:{i}" for i in range(6)]
        finally:
            other.close()
