"""Fold primitives with two strategies: polars for bulk batches, plain Python for small ones.

The folds are vectorised so that a million-record batch costs a few group-bys. A live append
folds one event, then a dozen forecasts, and there every polars call pays its fixed setup
(building and optimising a query plan, converting from Arrow, waking the thread pool): 0.1–0.4
ms a call, measured on a 2-core machine, a hundred times the work it does on one row. With
several such calls per fold and per projection, that was a third of an append's time. Below
:data:`SMALL_ROWS` rows the primitives here compute the same answers from Python values.

Both strategies of each primitive live here, side by side, and every caller goes through them;
``tests/domain/test_smallbatch.py`` checks that they agree on random batches, empty and large
ones included. The Python strategy reads a payload value only where its conversion is exact and
unambiguous (a string, an integer, a finite float of a typed payload, a null); on anything else
— a boolean, a nested value, a number written as a string — it declines and the polars strategy
runs, so the two can never disagree on how a value is cast. Floats in JSON text are always read
by polars (one call for all of them), because its JSON reader does not round every long decimal
as Python does.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.domain.records import RecordBatch

if TYPE_CHECKING:
    import polars as pl

# Rows up to which the Python strategy runs. Counting or reading a few fields of 64 rows in
# Python costs about what one polars call costs; the batches a live append folds (one event, a
# few dozen derived records) stay well below, and bulk ingest chunks far above.
SMALL_ROWS = 64

_INT64 = (-(2**63), 2**63 - 1)
_EXACT_INT = 2**53  # integers a float holds exactly


def is_small(n: int) -> bool:
    """Whether ``n`` rows take the Python strategy (read at call time, so tests can move it)."""
    return n <= SMALL_ROWS


class _Unsure(Exception):
    """A value whose conversion only polars can give exactly: the caller goes vectorised."""


def _convert(value: Any, dtype: Any) -> Any:
    """``value`` as ``payload_field(path, dtype)`` gives it (JSON text matched by path then cast,
    or a typed child column cast), for the values where that is exact; else :class:`_Unsure`."""
    import polars as pl

    if value is None:
        return None
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if dtype == pl.Utf8:
        if isinstance(value, str):
            return value
        if is_int:
            return str(value)  # JSON writes integers in decimal, as polars casts them
    elif dtype == pl.Int64:
        if is_int and _INT64[0] <= value <= _INT64[1]:
            return value
    elif dtype == pl.Float64:
        if isinstance(value, float) and value - value == 0:  # finite
            return value
        if is_int and abs(value) <= _EXACT_INT:
            return float(value)
    raise _Unsure(value)


def _walk(payload: Any, path: Sequence[str]) -> Any:
    for part in path:
        if payload is None:
            return None
        if not isinstance(payload, Mapping):
            raise _Unsure(payload)  # JSON path into a list or a scalar: leave it to polars
        payload = payload.get(part)
    if isinstance(payload, Mapping | list):
        raise _Unsure(payload)
    return payload


def _typed_values(batch: RecordBatch, path: Sequence[str]) -> list[Any]:
    """A typed payload's child column as Python values: the same walk as ``payload_field``."""
    col: pa.ChunkedArray = batch.column("payload")
    for part in path:
        if not pa.types.is_struct(col.type) or col.type.get_field_index(part) < 0:
            return [None] * len(batch)
        col = pc.struct_field(col, part)
    if pa.types.is_struct(col.type) or pa.types.is_list(col.type):
        raise _Unsure(col.type)
    values: list[Any] = col.to_pylist()
    return values


def payload_columns(
    batch: RecordBatch, fields: Mapping[str, tuple[str, Any]]
) -> dict[str, list[Any]] | None:
    """For a small batch: ``{name: batch.payload_field(path, dtype).to_list()}`` for each
    ``name: (path, dtype)`` (dtype ``pl.Utf8``, ``pl.Int64`` or ``pl.Float64``), read from Python
    values. None when the batch is not small or a value needs polars: use ``payload_field``."""
    import polars as pl

    if not is_small(len(batch)):
        return None
    try:
        if batch.typed:
            return {
                name: [_convert(v, dtype) for v in _typed_values(batch, path.split("."))]
                for name, (path, dtype) in fields.items()
            }
        # Floats in JSON text go through polars even here: its JSON reader rounds some long
        # decimals differently from a correctly rounded parse (44.457595596489796 reads as
        # 44.45759559648979), and a fold must read a payload the same at any batch size.
        floats = {name: path for name, (path, dtype) in fields.items() if dtype == pl.Float64}
        out = _json_floats(batch, floats)
        payloads = batch.payloads()
        for name, (path, dtype) in fields.items():
            if name not in floats:
                out[name] = [_convert(_walk(p, path.split(".")), dtype) for p in payloads]
        return out
    except (_Unsure, orjson.JSONDecodeError):
        return None


def _json_floats(batch: RecordBatch, paths: Mapping[str, str]) -> dict[str, list[Any]]:
    """``payload_field(path, pl.Float64)`` of JSON-text payloads for each ``name: path``, in one
    polars call."""
    import polars as pl

    if not paths:
        return {}
    text = pl.from_arrow(batch.column("payload"))
    assert isinstance(text, pl.Series)
    frame = text.to_frame("payload").select(_float_exprs(tuple(paths.items())))
    return {name: frame[name].to_list() for name in paths}


@functools.cache
def _float_exprs(paths: tuple[tuple[str, str], ...]) -> list[pl.Expr]:
    # Built once per set of paths: building the expressions cost half as much as running them.
    import polars as pl

    return [
        pl.col("payload")
        .str.json_path_match("$." + path)
        .cast(pl.Float64, strict=False)
        .alias(name)
        for name, path in paths
    ]


def count_by(table: pa.Table, keys: Sequence[str]) -> list[tuple[tuple[Any, ...], int]]:
    """Rows per distinct combination of the ``keys`` columns (nulls included), in no
    particular order: what ``group_by(keys).len()`` gives."""
    import polars as pl

    if not table.num_rows:
        return []
    if is_small(table.num_rows):
        counts = Counter(zip(*(table.column(k).to_pylist() for k in keys), strict=True))
        return list(counts.items())
    df = pl.from_arrow(table.select(list(keys)))
    assert isinstance(df, pl.DataFrame)
    return [(tuple(row[:-1]), row[-1]) for row in df.group_by(list(keys)).len().iter_rows()]


def value_counts(batch: RecordBatch, paths: Sequence[str]) -> list[list[tuple[str, int]]]:
    """For each payload path, the non-null values as text (``payload_field(path, pl.Utf8)``)
    with how many records hold each, in no particular order."""
    import polars as pl

    rows = payload_columns(batch, {path: (path, pl.Utf8) for path in paths})
    if rows is not None:
        return [[(k, n) for k, n in Counter(rows[p]).items() if k is not None] for p in paths]
    out = []
    for path in paths:
        frame = batch.payload_field(path, pl.Utf8).to_frame()
        out.append([(k, n) for k, n in frame.group_by(path).len().iter_rows() if k is not None])
    return out


def span(table: pa.Table, column: str, *, skip_kinds: Sequence[str] = ()) -> tuple[Any, Any]:
    """The least and greatest non-null value of ``column`` over the rows whose kind is not one
    of ``skip_kinds``; (None, None) when there is none."""
    import polars as pl

    if is_small(table.num_rows):
        values = table.column(column).to_pylist()
        if skip_kinds:
            kinds = table.column("kind").to_pylist()
            values = [v for v, k in zip(values, kinds, strict=True) if k not in skip_kinds]
        present = [v for v in values if v is not None]
        return (min(present), max(present)) if present else (None, None)
    df = pl.from_arrow(table.select(["kind", column] if skip_kinds else [column]))
    assert isinstance(df, pl.DataFrame)
    if skip_kinds:
        df = df.filter(~pl.col("kind").is_in(list(skip_kinds)))
    return df[column].min(), df[column].max()


def newest_by(
    table: pa.Table,
    by: str,
    order: str,
    *,
    last: Sequence[str],
    at_newest: str,
    skip_kinds: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Per distinct value of ``by`` among the rows whose kind is not one of ``skip_kinds``, in
    no particular order: ``n`` rows; ``last``, the values of the ``last`` columns in its last
    row; ``newest``, the greatest non-null ``order``; and ``at_newest``, the ``at_newest``
    column in the first row holding it (None when ``order`` is null throughout)."""
    import polars as pl

    columns = list({"kind", by, order, at_newest, *last})
    if is_small(table.num_rows):
        cols = {c: table.column(c).to_pylist() for c in columns}
        groups: dict[Any, dict[str, Any]] = {}
        for i, key in enumerate(cols[by]):
            if cols["kind"][i] in skip_kinds:
                continue
            g = groups.setdefault(key, {by: key, "n": 0, "newest": None, "at_newest": None})
            g["n"] += 1
            g["last"] = {c: cols[c][i] for c in last}
            t = cols[order][i]
            if t is not None and (g["newest"] is None or t > g["newest"]):
                g["newest"], g["at_newest"] = t, cols[at_newest][i]
        return list(groups.values())
    df = pl.from_arrow(table.select(columns))
    assert isinstance(df, pl.DataFrame)
    if skip_kinds:
        df = df.filter(~pl.col("kind").is_in(list(skip_kinds)))
    agg = df.group_by(by).agg(
        pl.len().alias("n"),
        *(pl.col(c).last().alias(f"last:{c}") for c in last),
        pl.col(order).max().alias("newest"),
        # sort_by(...).last() gives the first of the rows tied at the greatest value, as
        # folding record by record does (the tests hold both strategies to it).
        pl.col(at_newest).sort_by(order, nulls_last=False).last().alias("at_newest"),
    )
    return [
        {
            by: row[by],
            "n": row["n"],
            "last": {c: row[f"last:{c}"] for c in last},
            "newest": row["newest"],
            "at_newest": row["at_newest"] if row["newest"] is not None else None,
        }
        for row in agg.iter_rows(named=True)
    ]
