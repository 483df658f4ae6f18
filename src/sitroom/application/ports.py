"""The ports the application needs, each with an in-memory implementation and a contract suite
(tests/contracts) that every backend passes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict, Unpack

from sitroom.domain.records import RecordBatch


@dataclass(frozen=True)
class AppendResult:
    appended: RecordBatch  # the records that were new, with their seq
    duplicates: int  # records whose id the log already held (or repeated in the batch)


@dataclass(frozen=True)
class Snapshot:
    seq: int  # the snapshot holds the fold of every record with seq <= this
    data: bytes


class ReadFilters(TypedDict, total=False):
    """What a read can select; every filter left out selects everything."""

    after_seq: int  # records after this log position (default 0)
    upto_seq: int | None  # ... up to and including this one
    kinds: Sequence[str] | None
    sources: Sequence[str] | None
    ids: Sequence[str] | None
    valid_overlaps: tuple[int | None, int | None] | None  # valid time meets [since, until)


class Clock(Protocol):
    """Physical time, injected. The system clock lives at the edge (adapters.clock)."""

    def now_ms(self) -> int: ...


class ManualClock:
    """A clock that moves only when told: for tests, simulations and replays. It reads no
    time, so the application (the channel simulator) may use it as well as the edges."""

    def __init__(self, now_ms: int) -> None:
        self.t = now_ms

    def now_ms(self) -> int:
        return self.t

    def set(self, now_ms: int) -> None:
        self.t = now_ms

    def advance(self, ms: int) -> None:
        self.t += ms


class LogStore(Protocol):
    """An append-only, idempotent record log.

    ``append`` is atomic: after a crash a batch is wholly present or wholly absent. Records are
    deduplicated by id. ``seq`` is dense and increasing; ``recorded_time`` is non-decreasing in
    ``seq`` (the engine's clock guarantees it), so "as of recorded time T" is a prefix of the log.
    """

    def append(self, batch: RecordBatch) -> AppendResult: ...

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        """The records that match every filter given, in log order, in pages."""
        ...

    def count(self, **filters: Unpack[ReadFilters]) -> int: ...

    def last_seq(self) -> int: ...

    def last_recorded_time(self) -> int: ...

    def seq_as_of(self, recorded_time: int) -> int:
        """The largest seq whose recorded_time <= ``recorded_time`` (0 if none)."""
        ...

    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        """Store (projection, version, seq, data) snapshots; they are a cache, never the truth."""
        ...

    def load_snapshot(self, projection: str, version: int, max_seq: int) -> Snapshot | None:
        """The newest snapshot at or before ``max_seq``."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
