"""The ports the application needs, each with an in-memory implementation and a contract suite
(tests/contracts) that every backend passes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sitroom.domain.records import RecordBatch


@dataclass(frozen=True)
class AppendResult:
    appended: RecordBatch  # the records that were new, with their seq
    duplicates: int  # records whose id the log already held (or repeated in the batch)


@dataclass(frozen=True)
class Snapshot:
    seq: int  # the snapshot holds the fold of every record with seq <= this
    data: bytes


class Clock(Protocol):
    """Physical time, injected. The system clock lives at the edge (adapters.clock)."""

    def now_ms(self) -> int: ...


class LogStore(Protocol):
    """An append-only, idempotent record log.

    ``append`` is atomic: after a crash a batch is wholly present or wholly absent. Records are
    deduplicated by id. ``seq`` is dense and increasing; ``recorded_time`` is non-decreasing in
    ``seq`` (the engine's clock guarantees it), so "as of recorded time T" is a prefix of the log.
    """

    def append(self, batch: RecordBatch) -> AppendResult: ...

    def read(
        self,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        kinds: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        valid_overlaps: tuple[int | None, int | None] | None = None,
        ids: Sequence[str] | None = None,
        page_size: int = 50_000,
    ) -> Iterator[RecordBatch]: ...

    def count(
        self,
        *,
        after_seq: int = 0,
        upto_seq: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> int: ...

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
