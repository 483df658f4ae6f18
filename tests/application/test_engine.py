from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from sitroom.adapters.log_memory import MemoryLog
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.engine import Engine
from sitroom.domain import hlc
from sitroom.domain.kinds import ALERT, SOURCE_DECLARED
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.risk.questions import FORECAST, QUESTION, Place, Question, Reference
from sitroom.domain.sources import OverdueSourceDetector, SourcesProjection
from sitroom.domain.summary import SummaryProjection
from sitroom.domain.timeutil import MS_PER_MIN
from sitroom.room import default_detectors, default_projections, default_reactors
from sitroom.settings import Settings
from sitroom.testing import T0, ManualClock, make_record


def event(i: int, source: str = "feed", **kw: Any) -> Record:
    payload = {
        "event": {"quad_class": i % 4 + 1},
        "action_geo": {"country_iso": "LBN" if i % 3 else "ISR"},
    }
    return make_record(i, kind="gdelt.event", source=source, payload=payload, **kw)


def declare(source: str, cadence_ms: int) -> Record:
    return Record(
        id=f"{SOURCE_DECLARED}:{source}",
        kind=SOURCE_DECLARED,
        kind_version=1,
        source=source,
        payload={"source": source, "cadence_ms": cadence_ms},
    )


def engine(
    log: Any = None, clock: Any = None, every: int = 7, detectors: Sequence[Any] = ()
) -> Engine:
    return Engine(
        log or MemoryLog(),
        clock or ManualClock(T0),
        site="s1",
        projections=[SummaryProjection(), SourcesProjection()],
        detectors=list(detectors),
        snapshot_every=every,
    )


class CountingLog(MemoryLog):
    """The in-memory log, counting the records that reads hand out."""

    def __init__(self) -> None:
        super().__init__()
        self.handed = 0

    def read(self, **kw: Any) -> Iterator[RecordBatch]:
        for b in super().read(**kw):
            self.handed += len(b)
            yield b


def test_as_of_rebuild_from_snapshots_equals_folding_one_record_at_a_time() -> None:
    """At every log position, snapshot + tail gives the state a record-by-record fold gives."""
    clock = ManualClock(T0)
    e = engine(CountingLog(), clock, every=7)
    sizes = [1, 5, 13, 2, 30, 9, 1, 40]
    n = 0
    e.append([declare("feed", 60_000)])
    for size in sizes:
        clock.advance(1000)
        e.append([event(i) for i in range(n, n + size)])
        n += size
    records = [r for b in e.log.read() for r in b.rows()]
    reference = {name: p.initial() for name, p in e.projections.items()}
    for seq, rec in enumerate(records, 1):
        for name, p in e.projections.items():
            reference[name] = p.apply(reference[name], RecordBatch.from_records([rec]))
        for name in e.projections:
            e.log.handed = 0  # type: ignore[attr-defined]
            assert e.rebuild(name, seq) == reference[name], (name, seq)
            assert e.log.handed < 7  # type: ignore[attr-defined]  # only the tail after a snapshot


class GrowingProjection:
    """Keeps the id of every record: a state whose snapshot grows with the log."""

    name, version, kinds = "growing", 1, None

    def initial(self) -> list[str]:
        return []

    def apply(self, state: list[str], batch: RecordBatch) -> list[str]:
        return state + batch.column("id").to_pylist()

    def held(self, state: list[str]) -> int:
        return len(state)

    def encode(self, state: list[str]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> list[str]:
        return list(orjson.loads(data))


def growing_engine(log: Any) -> Engine:
    """A small state and a growing one, snapshot_every 10."""
    return Engine(
        log,
        ManualClock(T0),
        site="s1",
        projections=[SummaryProjection(), GrowingProjection()],
        snapshot_every=10,
    )


def test_a_growing_state_is_snapshotted_once_it_folded_as_many_records_as_it_holds() -> None:
    """Small states every snapshot_every records; the growing one only after folding as many
    records as its snapshot holds rows, so the rows written stay linear in the log. Rebuilds
    from either are exact and read no more than that tail."""
    log = CountingLog()
    e = growing_engine(log)
    for i in range(0, 400, 5):
        e.append([event(j) for j in range(i, i + 5)])
    small = sorted(log._snapshots[("summary", SummaryProjection.version)])
    growing = sorted(log._snapshots[("growing", 1)])
    assert small == list(range(10, 401, 10))
    assert growing == [10, 20, 40, 80, 160, 320]  # each once it held as many rows as folded since
    assert sum(growing) < 2 * 400  # rows written: linear, where every 10 would write 8,200
    ids = [r.id for b in log.read() for r in b.rows()]
    for seq in (9, 10, 79, 80, 159, 319, 320, 400):
        log.handed = 0
        assert e.rebuild("growing", seq) == ids[:seq]
        assert log.handed <= max(10, len(ids[: max(s for s in [0, *growing] if s <= seq)]))
    # A new engine on the same log starts from the newest snapshots and keeps the cadence.
    again = growing_engine(log)
    assert again.states["growing"] == ids
    again.append([event(j) for j in range(400, 640)])
    assert sorted(log._snapshots[("growing", 1)])[-1] == 640  # due at 320 + 320


def test_state_does_not_depend_on_how_records_were_batched() -> None:
    a, b = engine(), engine()
    recs = [event(i) for i in range(50)]
    a.append(recs)
    for i in range(0, 50, 3):
        b.append(recs[i : i + 3])
    assert a.states["summary"] == b.states["summary"]


def test_overdue_source_alert_is_a_record_naming_its_evidence_and_raised_once() -> None:
    clock = ManualClock(T0)
    e = engine(clock=clock, detectors=[OverdueSourceDetector(grace=1.0)])
    e.append([declare("feed", 15 * MS_PER_MIN)])
    e.append([event(1), event(2)])
    clock.advance(29 * MS_PER_MIN)
    assert e.tick().alerts == []  # within two cadences: fine
    clock.advance(2 * MS_PER_MIN)
    (alert,) = e.tick().alerts
    assert alert.kind == ALERT
    assert alert.payload["evidence"] == ["feed:2"]
    assert alert.payload["detail"]["silent_ms"] == 31 * MS_PER_MIN
    assert "feed is overdue" in alert.payload["title"]
    assert e.tick().alerts == []  # the same silence alerts once
    stored = [r for b in e.log.read(kinds=[ALERT]) for r in b.rows()]
    assert [r.id for r in stored] == [alert.id]
    clock.advance(MS_PER_MIN)
    e.append([event(3)])  # the source is back
    assert e.tick().alerts == []
    clock.advance(31 * MS_PER_MIN)
    (again,) = e.tick().alerts  # a new silence, a new alert
    assert again.id != alert.id and again.payload["evidence"] == ["feed:3"]


def test_a_source_without_a_declared_cadence_is_never_overdue() -> None:
    clock = ManualClock(T0)
    e = engine(clock=clock, detectors=[OverdueSourceDetector()])
    e.append([event(1, source="quiet")])
    clock.advance(10**9)
    assert e.tick().alerts == []


class FlagDetector:
    """Alerts on any record whose payload says flag: a record-driven detector for tests."""

    name = "flag"
    reads = ("summary",)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        return [
            AlertDraft(self.name, r.id, f"flag on {r.id}", "critical", [r.id], [r.id])
            for r in batch.rows()
            if r.payload.get("flag")
        ]

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return []

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        return None


def test_record_driven_alert_measures_latency_and_names_its_trigger() -> None:
    e = engine(detectors=[FlagDetector()])
    out = e.append([make_record(1), make_record(2, payload={"flag": True})])
    (alert,) = out.alerts
    assert alert.payload["triggered_by"] == ["test:2"]
    assert alert.recorded_time is not None
    assert alert.recorded_time > max(out.records.column("recorded_time").to_pylist())
    assert len(e.metrics.alert_latency_ms) == 1 and e.metrics.alert_latency_ms[0] > 0
    assert e.states["summary"]["alerts"] == {"flag": 1}


def test_unknown_projection_in_a_detector_is_refused() -> None:
    class Needy(FlagDetector):
        reads = ("nope",)

    with pytest.raises(Exception, match="unknown projections"):
        engine(detectors=[Needy()])


def test_reopening_resumes_state_and_clock(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    e = engine(SqliteLog(tmp_path / "l.db", create=True), clock, every=5)
    e.append([event(i) for i in range(12)])
    state, last = e.states["summary"], e.log.last_recorded_time()
    e.log.close()
    clock.set(T0 - 60_000)  # the physical clock went backwards
    e2 = engine(SqliteLog(tmp_path / "l.db"), clock, every=5)
    assert e2.states["summary"] == state
    out = e2.append([event(100)])
    (rt,) = out.records.column("recorded_time").to_pylist()
    assert rt > last and hlc.wall_ms(rt) == hlc.wall_ms(last)


def test_next_due_is_when_the_overdue_detector_would_fire() -> None:
    clock = ManualClock(T0)
    e = engine(clock=clock, detectors=[OverdueSourceDetector(grace=1.0)])
    assert e.next_due(T0) is None  # nothing received, nothing to wait for
    e.append([declare("feed", 15 * MS_PER_MIN)])
    e.append([event(1)])
    due = e.next_due(T0)
    assert due == T0 + 30 * MS_PER_MIN + 1
    assert e.tick(due - 1).alerts == []
    assert len(e.tick(due).alerts) == 1
    assert e.next_due(due) is None  # alerted: nothing pending until new data


def test_derived_records_are_parsed_once_and_read_as_the_log_holds_them() -> None:
    """A reactor's records reach the folds, the detectors and the caller as one parse of what
    was appended: the same objects everywhere, equal to what the log gives back."""
    s = Settings(site="test")
    e = Engine(
        MemoryLog(),
        ManualClock(T0),
        site="test",
        projections=default_projections(),
        detectors=default_detectors(s),
        reactors=default_reactors(s),
    )
    q = Question(
        id="talks",
        text="Will they meet?",
        deadline_ms=T0 + 86_400_000,
        places=(Place("Beirut", 33.89, 35.5),),
        reference=Reference("rounds", 6, 10),
    )
    out = e.append(
        [
            Record(
                id="question:talks",
                kind=QUESTION,
                kind_version=1,
                source="analyst",
                valid_from=T0,
                payload=q.as_payload(),
            )
        ]
    )
    (made,) = [r for r in out.derived if r.kind == FORECAST]
    (logged,) = [r for b in e.log.read(kinds=[FORECAST]) for r in b.rows()]
    assert made == logged
    kept = e.states["risk"].forecasts["talks"]
    assert kept["members"] is made.payload["members"]  # one parse, shared


def test_records_another_writer_appended_are_folded_before_this_engines_next() -> None:
    """A desk process and a CLI command write the same log: each engine's states, and so its
    snapshots, still stand at one log position (every record before it folded, once)."""
    clock = ManualClock(T0)
    log = CountingLog()
    desk, cli = engine(log, clock, every=10), engine(log, clock, every=10)
    desk.append([event(i) for i in range(8)])
    cli.append([event(i) for i in range(8, 13)])  # seq 9..13, unseen by the desk
    desk.append([event(i) for i in range(13, 25)])
    reference = engine(log, clock, every=10)  # a fresh engine folds the log from the start
    assert desk.states == reference.states
    assert desk.states["summary"]["records"] == 25
    for seq in (10, 20):  # the desk's snapshots hold the CLI's records too
        snap = log.load_snapshot("summary", SummaryProjection.version, seq)
        assert snap is not None and snap.seq == seq
        assert SummaryProjection().decode(snap.data)["records"] == seq


def test_checkpoint_snapshots_what_is_behind_once_and_only_at_the_logs_end() -> None:
    log = CountingLog()
    e = growing_engine(log)
    e.append([event(j) for j in range(0, 400)])  # snapshots: growing up to 320, summary 400
    e.append([event(j) for j in range(400, 415)])
    # Behind by more than a tenth of snapshot_every (here: 1 record): growing 95, summary 5.
    assert e.checkpoint() == 2
    assert max(log._snapshots[("growing", 1)]) == 415
    assert max(log._snapshots[("summary", SummaryProjection.version)]) == 415
    assert e.checkpoint() == 0  # nothing behind now
    log.handed = 0
    fresh = growing_engine(log)
    assert fresh.states == e.states
    assert log.handed == 0  # opening after a checkpoint folds nothing

    other = engine(log, ManualClock(T0), every=10)
    other.append([event(j) for j in range(415, 430)])
    # Another writer appended: the checkpoint first folds what it wrote, then snapshots.
    assert e.checkpoint() == 1  # growing, 15 behind; summary's snapshot at 420 came on the way
    ids = [r.id for b in log.read() for r in b.rows()]
    assert e.states["growing"] == ids and len(ids) == 430
    assert GrowingProjection().decode(log._snapshots[("growing", 1)][430]) == ids


def test_a_state_is_restored_when_first_read_so_a_command_pays_for_what_it_reads() -> None:
    log = CountingLog()
    engine(log, every=100).append([event(i) for i in range(30)])  # no snapshot: all tail
    log.handed = 0
    e = engine(log, every=100)
    assert log.handed == 0  # opening folds nothing
    assert e.states["summary"]["records"] == 30
    assert log.handed == 30  # the tail, for the one state read
    assert e.checkpoint() == 1  # only what was read is snapshotted
    assert not log._snapshots.get(("sources", SourcesProjection.version))

    log.handed = 0
    e.append([event(30)])  # a fold needs every state: the rest restored in one read
    assert log.handed == 30
    assert e.states == engine(log, every=100).states
