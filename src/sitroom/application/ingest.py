"""Ingest: connector feeds through the one append path, with counts, progress and alerts; a
followed live feed polled on a cadence; analyst reports and their claims.

    Connector.open(spec) ─> Feed (declarations, chunks) ─> append, chunk by chunk ─> report
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pyarrow.compute as pc

from sitroom.application.engine import AppendOutcome
from sitroom.application.ports import Chunk, Connector, Feed
from sitroom.application.results import Result
from sitroom.application.session import Session
from sitroom.domain.kinds import ACTOR, ANALYST_REPORT, CLAIM, QUARANTINED, RELATIONSHIP
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.wording import said
from sitroom.errors import NotFound, SitroomError, UserInputError

T = TypeVar("T")
RowProgress = Callable[[int], None]  # called with the number of input rows just processed
# Long ingests report, per input: (its label, rows done, rows in all or None).
FileProgress = Callable[[str, int, int | None], None]
ReadReport = Callable[[str, int], list[Record]]  # a report file's path, now -> its records


class Appender(Protocol):
    """What ingest appends through: a session (checked) or, in tools, an engine."""

    def append(self, records: RecordBatch | Iterable[Record]) -> AppendOutcome: ...


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AlertRaised(Result):
    id: str
    title: str
    severity: str


@dataclass(frozen=True, kw_only=True)
class IngestReport(Result):
    """One input, ingested: its rows, what was new, duplicate or quarantined, the alerts it
    raised and how long it took."""

    input: str
    rows: int = 0  # input rows read
    accepted: int = 0  # new records from them
    duplicates: int = 0  # records the room already held
    quarantined: int = 0  # rows that could not be accepted
    alerts: tuple[AlertRaised, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Totals(Result):
    rows: int
    accepted: int
    duplicates: int
    quarantined: int


@dataclass(frozen=True, kw_only=True)
class Ingested(Result):
    """Every input of one ingest (or of every poll of a followed feed)."""

    files: tuple[IngestReport, ...]
    totals: Totals
    polls: int = 1
    failed_polls: tuple[str, ...] = ()
    alerts: tuple[AlertRaised, ...] = ()  # raised by the clock between and after the inputs


@dataclass(frozen=True, kw_only=True)
class ReportAdded(Result):
    file: str
    report: str
    claims: int
    actors: int
    relationships: int
    new_records: int
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class ReportsAdded(Result):
    reports: tuple[ReportAdded, ...]


def raised(alerts: Iterable[Record]) -> tuple[AlertRaised, ...]:
    return tuple(
        AlertRaised(id=a.id, title=a.payload["title"], severity=a.payload["severity"])
        for a in alerts
    )


# the core loop ----------------------------------------------------------------------------
def declare(appender: Appender, declarations: Iterable[Record]) -> None:
    """Append source declarations (idempotent: an unchanged declaration is a duplicate)."""
    records = list(declarations)
    if records:
        appender.append(records)


def ingest(
    appender: Appender,
    label: str,
    chunks: Iterable[Chunk],
    progress: RowProgress | None = None,
    declarations: Sequence[Record] = (),
) -> IngestReport:
    """Append a feed's chunks, each atomically, counting what was new, duplicate and
    quarantined (parsing the next chunk while this one is written). The feed's source
    ``declarations`` are appended with its first chunk, once the input has been read: an input
    refused before that (not a file of its format, past the size limit) leaves nothing behind.
    A quarantine record that stands for a run of identical rows counts each of them."""
    rows = accepted = duplicates = quarantined = 0
    alerts: list[Record] = []
    undeclared = list(declarations)
    started = time.perf_counter()
    for chunk in prefetch(chunks):
        if undeclared:
            declare(appender, undeclared)
            undeclared = []
        refused, refused_rows = _quarantined(chunk.records)
        outcome = appender.append(chunk.records)
        new_refused, _ = _quarantined(outcome.records)
        rows += chunk.rows
        quarantined += refused_rows
        accepted += outcome.appended - new_refused
        duplicates += outcome.duplicates - (refused - new_refused)
        alerts += outcome.alerts
        if progress:
            progress(chunk.rows)
    declare(appender, undeclared)  # an empty input, read to its end
    return IngestReport(
        input=label,
        rows=rows,
        accepted=accepted,
        duplicates=duplicates,
        quarantined=quarantined,
        alerts=raised(alerts),
        seconds=round(time.perf_counter() - started, 3),
    )


def _quarantined(batch: RecordBatch) -> tuple[int, int]:
    """The quarantine records in a batch, and the input rows they stand for (``count``: a run
    of identical rejected rows is one record; older records carry no count and stand for one)."""
    refused = int(pc.sum(pc.equal(batch.column("kind"), QUARANTINED)).as_py() or 0)
    if not refused:
        return 0, 0
    counts = batch.of_kinds([QUARANTINED]).payload_field("count", int)
    return refused, int(counts.fill_null(1).sum())


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Produce the next items on a worker thread while the caller handles this one: parsing
    (polars, GIL released) overlaps the durable append (SQLite, GIL released while writing)."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(("item", item))
            q.put(("done", None))
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put(("error", e))

    worker = threading.Thread(target=work, daemon=True, name="sitroom-prefetch")
    worker.start()
    try:
        while True:
            tag, value = q.get()
            if tag == "done":
                return
            if tag == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def totals(reports: Sequence[IngestReport]) -> Totals:
    return Totals(
        rows=sum(r.rows for r in reports),
        accepted=sum(r.accepted for r in reports),
        duplicates=sum(r.duplicates for r in reports),
        quarantined=sum(r.quarantined for r in reports),
    )


# the service ------------------------------------------------------------------------------
class Ingest:
    """Bring data into a room: files and URLs of every source format, followed live feeds,
    the shipped samples, and analyst reports."""

    def __init__(
        self,
        session: Session,
        connectors: Mapping[str, Connector],
        *,
        read_report: ReadReport,
        samples: Callable[[], Sequence[tuple[str, str]]] = list,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval_ms: int = 900_000,
    ) -> None:
        self._s = session
        self._connectors = connectors
        self._read_report = read_report
        self._samples = samples
        self._sleep = sleep
        self.poll_interval_ms = poll_interval_ms

    @property
    def formats(self) -> list[str]:
        return sorted(self._connectors)

    def _connector(self, name: str) -> Connector:
        found = self._connectors.get(name)
        if found is None:
            raise NotFound("source format", name, known=self.formats)
        return found

    def feeds(
        self,
        format: str,
        specs: Sequence[str],
        *,
        progress: FileProgress | None = None,
        once: bool = False,
    ) -> Ingested:
        """Ingest every input the specs (paths or URLs) name, in the given format; then let
        the clock-driven detectors look (an overdue source). ``once``: inputs delivered once
        (a demo, a drill), not a feed: their sources' cadence is not declared, so no
        overdue-source alert follows them."""
        if not specs:
            raise UserInputError("name at least one file or URL to ingest")
        connector = self._connector(format)
        reports = [
            self._feed(f, progress, declare=not once)
            for s in specs
            for f in self._open(connector, s)
        ]
        return Ingested(
            files=tuple(reports), totals=totals(reports), alerts=raised(self._s.tick().alerts)
        )

    def samples(self, *, progress: FileProgress | None = None) -> Ingested:
        """The real GDELT and UCDP samples shipped with sitroom (the demo's data)."""
        reports = [
            self._feed(f, progress)
            for format, spec in self._samples()
            for f in self._open(self._connector(format), spec)
        ]
        return Ingested(
            files=tuple(reports), totals=totals(reports), alerts=raised(self._s.tick().alerts)
        )

    def follow(
        self,
        format: str,
        specs: Sequence[str],
        *,
        every_ms: int | None = None,
        polls: int = 0,
        progress: FileProgress | None = None,
        on_report: Callable[[IngestReport], None] | None = None,
        on_alert: Callable[[AlertRaised], None] | None = None,
        on_failure: Callable[[int, str], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> Ingested:
        """Poll the specs every ``every_ms`` (default: the room's poll interval) until
        ``polls`` polls (0: until ``stop()``). A poll that fails is reported and retried at the
        next one; between polls the room wakes whenever a detector is due, so an overdue feed
        is reported when it becomes overdue rather than at the next poll."""
        every = self.poll_interval_ms if every_ms is None else every_ms
        if every <= 0:
            raise UserInputError("the polling interval must be longer than zero")
        connector = self._connector(format)
        reports: list[IngestReport] = []
        failures: list[str] = []
        alerts: list[AlertRaised] = []
        n = 0

        def tick() -> None:
            for a in raised(self._s.tick().alerts):
                alerts.append(a)
                if on_alert:
                    on_alert(a)

        while not stop():
            n += 1
            for spec in specs:
                try:
                    for feed in self._open(connector, spec):
                        report = self._feed(feed, progress)
                        reports.append(report)
                        if on_report:
                            on_report(report)
                except Exception as e:  # a follower outlives any one poll
                    # Retried at the next poll: a feed down or garbled, the log busy with another
                    # writer, a disk full for now. If the feed stays silent, the overdue-source
                    # detector says so. What sitroom did not mean to raise is named by its type.
                    why = (
                        str(e)
                        if isinstance(e, SitroomError | OSError)
                        else f"{type(e).__name__}: {said(e)}"
                    )
                    failures.append(f"poll {n}: {why}")
                    if on_failure:
                        on_failure(n, why)
            tick()
            if polls and n >= polls:
                break
            self._wait(every, tick, stop)
        return Ingested(
            files=tuple(reports),
            totals=totals(reports),
            polls=n,
            failed_polls=tuple(failures),
            alerts=tuple(alerts),
        )

    def _wait(self, every_ms: int, tick: Callable[[], None], stop: Callable[[], bool]) -> None:
        """Sleep until the next poll, waking to tick whenever a detector is due in between."""
        next_poll = self._s.now_ms() + every_ms
        while (now := self._s.now_ms()) < next_poll and not stop():
            due = self._s.next_due(now)
            wake = next_poll if due is None else min(due, next_poll)
            # Short naps, so that a stop request is seen within a second.
            self._sleep(min(max(0, wake - now), 1000) / 1000)
            if due is not None and due <= self._s.now_ms():
                tick()

    def reports(self, paths: Sequence[str | Path]) -> ReportsAdded:
        """Analyst reports (Markdown with YAML front matter) and the claims, actors and
        relationships they carry. Every file is read before any is added; adding the same
        file again adds nothing."""
        now = self._s.now_ms()
        parsed = [(str(p), self._read_report(str(p), now)) for p in paths]
        added = []
        for path, records in parsed:
            outcome = self._s.append(records, action=f"add report {path}")
            counts = {k: sum(r.kind == k for r in records) for k in (CLAIM, ACTOR, RELATIONSHIP)}
            added.append(
                ReportAdded(
                    file=path,
                    report=next(r.id for r in records if r.kind == ANALYST_REPORT),
                    claims=counts[CLAIM],
                    actors=counts[ACTOR],
                    relationships=counts[RELATIONSHIP],
                    new_records=outcome.appended,
                    alerts=raised(outcome.alerts),
                )
            )
        return ReportsAdded(reports=tuple(added))

    def _open(self, connector: Connector, spec: str) -> list[Feed]:
        return list(connector.open(spec, self._s.now_ms()))

    def _feed(
        self, feed: Feed, progress: FileProgress | None, *, declare: bool = True
    ) -> IngestReport:
        declarations = feed.declarations if declare else ()
        if progress is None:
            return ingest(self._s, feed.label, feed.chunks(), declarations=declarations)
        done = 0
        progress(feed.label, 0, feed.rows)

        def step(rows: int) -> None:
            nonlocal done
            done += rows
            progress(feed.label, done, feed.rows)

        return ingest(self._s, feed.label, feed.chunks(), step, declarations)
