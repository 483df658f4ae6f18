"""What every log backend does the same way: deduplicate, number, filter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.application.ports import ReadFilters
from sitroom.domain.records import RecordBatch
from sitroom.errors import LogError


def prepare_append(
    batch: RecordBatch, last_seq: int, known: Callable[[list[str]], Iterable[str]]
) -> tuple[RecordBatch, int]:
    """Validate, drop ids already in the log (``known`` returns which of the given ids are) or
    repeated within the batch (first wins), and number the rest from ``last_seq + 1``."""
    batch.validate()
    if (
        pc.any(pc.is_null(batch.column("recorded_time"))).as_py()
        or pc.any(pc.is_null(batch.column("origin"))).as_py()
    ):
        raise LogError(
            "records reach the log through the engine, which stamps recorded_time "
            "and origin; this batch lacks them"
        )
    n = len(batch)
    if n == 0:
        return batch, 0
    ids = pl.from_arrow(batch.column("id"))
    assert isinstance(ids, pl.Series)
    keep = ids.is_first_distinct()
    existing = set(known(ids.filter(keep).to_list()))
    if existing:
        keep = keep & ~ids.is_in(list(existing))
    fresh = batch if keep.all() else batch.filter(keep.to_arrow())
    seqs = np.arange(last_seq + 1, last_seq + 1 + len(fresh), dtype=np.int64)
    return fresh.with_column("seq", seqs), n - len(fresh)


def valid_overlap_mask(
    valid_from: pa.ChunkedArray, valid_to: pa.ChunkedArray, since: int | None, until: int | None
) -> pa.ChunkedArray:
    """Records whose valid time meets [since, until): intervals are half-open, points closed, a
    missing end means still going on. Records with unknown valid time never match a filter."""
    mask = pc.is_valid(valid_from)
    if until is not None:
        mask = pc.and_(mask, pc.less(valid_from, until))
    if since is not None:
        ongoing = pc.is_null(valid_to)
        later = pc.or_(
            pc.fill_null(pc.greater(valid_to, since), False), pc.greater_equal(valid_from, since)
        )
        mask = pc.and_(mask, pc.or_(ongoing, later))
    return pc.fill_null(mask, False)


def valid_overlap_sql(since: int | None, until: int | None) -> tuple[str, list[int]]:
    """The same rule as :func:`valid_overlap_mask`, as a SQL condition."""
    parts, args = ["valid_from IS NOT NULL"], []
    if until is not None:
        parts.append("valid_from < ?")
        args.append(until)
    if since is not None:
        parts.append("(valid_to IS NULL OR valid_to > ? OR valid_from >= ?)")
        args += [since, since]
    return " AND ".join(parts), args


def membership_filters(filters: ReadFilters) -> list[tuple[str, Sequence[str]]]:
    """(column, allowed values) for each filter that selects by membership."""
    pairs = (
        ("kind", filters.get("kinds")),
        ("source", filters.get("sources")),
        ("id", filters.get("ids")),
    )
    return [(column, values) for column, values in pairs if values is not None]
