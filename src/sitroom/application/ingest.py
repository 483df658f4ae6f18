"""Ingest: connector chunks through the one append path, with counts and progress."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow.compute as pc

from sitroom.application.engine import Engine
from sitroom.domain.kinds import QUARANTINED
from sitroom.domain.records import Record, RecordBatch

T = TypeVar("T")
Progress = Callable[[int], None]  # called with the number of input rows just processed


@dataclass(frozen=True)
class Chunk:
    """A connector's unit of work: records for some input rows, appended atomically."""

    records: RecordBatch
    rows: int  # input rows (lines) this chunk covers, accepted and quarantined


@dataclass
class IngestReport:
    input: str
    rows: int = 0  # input rows read
    accepted: int = 0  # new records from them
    duplicates: int = 0  # records the workspace already held
    quarantined: int = 0  # rows that could not be accepted (see `sitroom quarantine`)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "alerts": self.alerts,
            "seconds": round(self.seconds, 3),
        }


def declare(engine: Engine, declarations: Iterable[Record]) -> None:
    """Append source declarations (idempotent: an unchanged declaration is a duplicate)."""
    engine.append(list(declarations))


def ingest(
    engine: Engine, label: str, chunks: Iterable[Chunk], progress: Progress | None = None
) -> IngestReport:
    report = IngestReport(label)
    started = time.perf_counter()
    for chunk in prefetch(chunks):
        kinds = chunk.records.column("kind")
        quarantined = int(pc.sum(pc.equal(kinds, QUARANTINED)).as_py() or 0)
        outcome = engine.append(chunk.records)
        new_quarantined = int(
            pc.sum(pc.equal(outcome.records.column("kind"), QUARANTINED)).as_py() or 0
        )
        report.rows += chunk.rows
        report.quarantined += quarantined
        report.accepted += outcome.appended - new_quarantined
        report.duplicates += outcome.duplicates - (quarantined - new_quarantined)
        report.alerts += [{"id": a.id, **a.payload} for a in outcome.alerts]
        if progress:
            progress(chunk.rows)
    report.seconds = time.perf_counter() - started
    return report


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
