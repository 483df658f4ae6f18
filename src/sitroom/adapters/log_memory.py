"""The in-memory log: the reference implementation of the LogStore port, for tests and tools.

Each append's new records are one segment, chained as the SQLite log chains its segments
(domain/secure/audit.py), over their Arrow IPC bytes: what ``segment_head`` answers.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence
from typing import Unpack

import pyarrow as pa

from sitroom.adapters.logbase import prepare_append, select
from sitroom.application.ports import AppendResult, Attest, ReadFilters, Snapshot
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure import audit


class MemoryLog:
    read_only: str | None = None

    def __init__(self) -> None:
        self._batches: list[pa.Table] = []
        self._ids: set[str] = set()
        self._recorded: list[int] = []  # recorded_time by seq-1, for as-of
        self._snapshots: dict[tuple[str, int], dict[int, bytes]] = {}
        self._meta: dict[str, str] = {}
        self._ends: list[int] = []  # the last seq of each append (a segment)
        self._heads: list[bytes] = []  # the chain head after it

    def append(self, batch: RecordBatch, attest: Attest | None = None) -> AppendResult:
        fresh, dups = prepare_append(
            batch,
            self.last_seq(),
            self.last_recorded_time(),
            lambda ids: self._ids.intersection(ids),
            attest,
        )
        if len(fresh):
            self._batches.append(fresh.table)
            self._ids.update(fresh.column("id").to_pylist())
            self._recorded.extend(fresh.column("recorded_time").to_pylist())
            previous = self._heads[-1] if self._heads else audit.GENESIS
            self._heads.append(audit.next_head(previous, _digest(fresh.table)))
            self._ends.append(self.last_seq())
        return AppendResult(fresh, dups)

    def _all(self) -> pa.Table:
        if not self._batches:
            return RecordBatch.empty().table
        if len(self._batches) > 1:
            merged = RecordBatch.concat([RecordBatch(t) for t in self._batches])
            self._batches = [merged.table.combine_chunks()]
        return self._batches[0]

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        t = self._all()
        after = filters.get("after_seq", 0)
        upto = filters.get("upto_seq")
        hi = self.last_seq() if upto is None else min(upto, self.last_seq())
        t = select(t.slice(after, max(0, hi - after)), filters)
        for off in range(0, t.num_rows, page_size):
            yield RecordBatch(t.slice(off, page_size))

    def count(self, **filters: Unpack[ReadFilters]) -> int:
        return sum(len(b) for b in self.read(**filters))

    def last_seq(self) -> int:
        return len(self._recorded)

    def last_recorded_time(self) -> int:
        return self._recorded[-1] if self._recorded else 0

    def seq_as_of(self, recorded_time: int) -> int:
        return bisect.bisect_right(self._recorded, recorded_time)

    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        for projection, version, seq, data in snapshots:
            self._snapshots.setdefault((projection, version), {})[seq] = data

    def load_snapshot(self, projection: str, version: int, max_seq: int) -> Snapshot | None:
        snaps = self._snapshots.get((projection, version), {})
        best = max((s for s in snaps if s <= max_seq), default=None)
        return None if best is None else Snapshot(best, snaps[best])

    def segment_head(self, seq: int) -> bytes | None:
        at = bisect.bisect_left(self._ends, seq)
        return self._heads[at] if seq >= 1 and at < len(self._ends) else None

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def close(self) -> None:
        pass


def _digest(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).digest()
