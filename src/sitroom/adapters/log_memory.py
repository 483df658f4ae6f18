"""The in-memory log: the reference implementation of the LogStore port, for tests and tools."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sitroom.adapters.logbase import prepare_append, valid_overlap_mask
from sitroom.application.ports import AppendResult, Snapshot
from sitroom.domain.records import RecordBatch


class MemoryLog:
    def __init__(self) -> None:
        self._batches: list[pa.Table] = []
        self._ids: set[str] = set()
        self._recorded: list[int] = []  # recorded_time by seq-1, for as-of
        self._snapshots: dict[tuple[str, int], dict[int, bytes]] = {}
        self._meta: dict[str, str] = {}

    def append(self, batch: RecordBatch) -> AppendResult:
        fresh, dups = prepare_append(
            batch, self.last_seq(), lambda ids: self._ids.intersection(ids)
        )
        if len(fresh):
            self._batches.append(fresh.table)
            self._ids.update(fresh.column("id").to_pylist())
            self._recorded.extend(fresh.column("recorded_time").to_pylist())
        return AppendResult(fresh, dups)

    def _all(self) -> pa.Table:
        if not self._batches:
            return RecordBatch.empty().table
        if len(self._batches) > 1:
            merged = RecordBatch.concat([RecordBatch(t) for t in self._batches])
            self._batches = [merged.table.combine_chunks()]
        return self._batches[0]

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
    ) -> Iterator[RecordBatch]:
        t = self._all()
        hi = self.last_seq() if upto_seq is None else min(upto_seq, self.last_seq())
        t = t.slice(after_seq, max(0, hi - after_seq))
        mask = None

        def both(m: pa.ChunkedArray) -> None:
            nonlocal mask
            mask = m if mask is None else pc.and_(mask, m)

        if kinds is not None:
            both(pc.is_in(t["kind"], pa.array(list(kinds), pa.string())))
        if sources is not None:
            both(pc.is_in(t["source"], pa.array(list(sources), pa.string())))
        if ids is not None:
            both(pc.is_in(t["id"], pa.array(list(ids), pa.string())))
        if valid_overlaps is not None:
            both(valid_overlap_mask(t["valid_from"], t["valid_to"], *valid_overlaps))
        if mask is not None:
            t = t.filter(mask)
        for off in range(0, t.num_rows, page_size):
            yield RecordBatch(t.slice(off, page_size))

    def count(
        self, *, after_seq: int = 0, upto_seq: int | None = None, kinds: Sequence[str] | None = None
    ) -> int:
        return sum(len(b) for b in self.read(after_seq=after_seq, upto_seq=upto_seq, kinds=kinds))

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

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def close(self) -> None:
        pass
