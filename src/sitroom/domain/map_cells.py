"""The ``map`` projection: events counted per 1-degree grid cell and QuadClass, by compartment
and source.

The dashboard's map shows counts per cell, never points; counting them from the log on every
request cost a scan of every event (a second at 200,000). This state holds the counts instead,
so a map as of any moment is the engine's snapshot nearest to it plus a short tail, and a
coarser grid of whole degrees is the same cells summed (1-degree cells nest in them).

Per compartment (events usually have none: ""), so that a reader's map leaves out what they may
not see (:meth:`MapProjection.restrict`), and per source within it (the record's ``source``:
``gdelt-v1``, ``gdelt-v2``, ``ucdp-ged``, ``acled``; not its kind, which GDELT 1.0 and 2.0
share), so that the map can show the sources a reader chooses. ``{"compartments": {compartment:
{source: counts}}}``, the counts:

- ``cells``: ``{(lat, lon, quad_class): count}``, ``lat``/``lon`` the cell's south-west corner
  in whole degrees (floor), ``quad_class`` 0 where the event has none;
- ``events``: every event folded, placed or not; ``unplaced``: those without a latitude and
  longitude on the globe (in no cell);
- ``newest``: the latest start of valid time among them (an answer's freshness).

Folded column-wise with polars (one group-by per bulk batch and source, then its few thousand
distinct cells added in Python); the few events of a live append are counted in Python, from
the same values (``domain/smallbatch.py``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow.compute as pc

from sitroom.domain.events import EVENT_KINDS, event_columns, event_frame
from sitroom.domain.projection import Sees, keep
from sitroom.domain.records import RecordBatch

if TYPE_CHECKING:
    import polars as pl

FACTS = ("source", "lat", "lon", "quad_class", "valid_from")  # what the map reads of an event
Cell = tuple[int, int, int]  # (lat, lon) of the south-west corner, quad class (0: none)


def by_compartment(batch: RecordBatch) -> Iterator[tuple[str, RecordBatch]]:
    """The records of ``batch`` of each compartment it holds (most batches hold one)."""
    return by_value(batch, "compartment")


def by_value(batch: RecordBatch, column: str) -> Iterator[tuple[str, RecordBatch]]:
    """The records of ``batch`` of each value of an envelope column it holds."""
    held = pc.unique(batch.column(column)).to_pylist()
    if len(held) == 1:
        yield str(held[0]), batch
        return
    for v in held:
        yield str(v), batch.filter(pc.equal(batch.column(column), v))


def _blank() -> dict[str, Any]:
    return {"events": 0, "unplaced": 0, "newest": None, "cells": {}}


def _newer(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def on_globe(lat: Any, lon: Any) -> bool:
    """Whether an event is placed: a latitude and longitude on the globe (a missing, infinite
    or impossible one, as a hostile or broken feed may give, places it nowhere)."""
    return lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180


def _count_small(by_source: dict[str, dict[str, Any]], cols: dict[str, list[Any]]) -> None:
    for src, lat, lon, q, t in zip(
        cols["source"], cols["lat"], cols["lon"], cols["quad_class"], cols["valid_from"],
        strict=True,
    ):  # fmt: skip
        part = by_source.get(src) or by_source.setdefault(src, _blank())
        part["events"] += 1
        if t is not None:
            part["newest"] = _newer(part["newest"], t)
        if not on_globe(lat, lon):
            part["unplaced"] += 1
            continue
        cells: dict[Cell, int] = part["cells"]
        key = (math.floor(lat), math.floor(lon), q or 0)
        cells[key] = cells.get(key, 0) + 1


def _count_bulk(part: dict[str, Any], events: RecordBatch) -> None:
    """Events of one source, column-wise."""
    import polars as pl

    frame = event_frame(events, FACTS[1:])
    part["events"] += frame.height
    top = frame["valid_from"].max()
    if isinstance(top, int):
        part["newest"] = _newer(part["newest"], top)
    placed = frame.filter(placed_expr())
    part["unplaced"] += frame.height - placed.height
    grouped = (
        placed.select(
            pl.col("lat").floor().cast(pl.Int64),
            pl.col("lon").floor().cast(pl.Int64),
            pl.col("quad_class").fill_null(0).cast(pl.Int64),
        )
        .group_by("lat", "lon", "quad_class")
        .len()
    )
    cells: dict[Cell, int] = part["cells"]
    for lat, lon, q, n in grouped.iter_rows():
        key = (lat, lon, q)
        cells[key] = cells.get(key, 0) + n


def placed_expr() -> pl.Expr:
    """:func:`on_globe` for a polars frame of ``lat`` and ``lon`` (NaN is on no globe)."""
    import polars as pl

    lat, lon = pl.col("lat"), pl.col("lon")
    return lat.is_between(-90, 90) & lon.is_between(-180, 180) & ~lat.is_nan() & ~lon.is_nan()


class MapProjection:
    name = "map"
    version = 2  # 2: by source too
    kinds: tuple[str, ...] | None = EVENT_KINDS

    def initial(self) -> dict[str, Any]:
        return {"compartments": {}}

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        if not len(batch):
            return state
        for compartment, events in by_compartment(batch):
            by_source = state["compartments"].setdefault(compartment, {})
            cols = event_columns(events)
            if cols is not None:
                _count_small(by_source, cols)
                continue
            # A bulk batch is one feed's, so of one source: split, it is one group-by each.
            for src, one in by_value(events, "source"):
                _count_bulk(by_source.setdefault(src, _blank()), one)
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """The counts of the compartments a reader may see only."""
        return {"compartments": keep(state["compartments"], lambda c, _: sees(c))}

    def held(self, state: dict[str, Any]) -> int:
        """Cells a snapshot writes: bounded by the globe (65,160 cells x 5 classes) per source,
        but some tens of thousands for a world-wide feed, so snapshots are spaced by it."""
        return sum(len(p["cells"]) for p in parts(state))

    def encode(self, state: dict[str, Any]) -> bytes:
        # One array of keys and one of counts for every part, the parts in order (the meta
        # says how many cells each has): an archive member per part cost more than its cells.
        meta: list[list[Any]] = []
        keys: list[Cell] = []
        counts: list[int] = []
        for c, by_source in sorted(state["compartments"].items()):
            for src, p in sorted(by_source.items()):
                cells = p["cells"]
                meta.append([c, src, p["events"], p["unplaced"], p["newest"], len(cells)])
                keys += cells
                counts += cells.values()
        out = io.BytesIO()
        np.savez_compressed(
            out,
            meta=np.frombuffer(orjson.dumps(meta), np.uint8),
            keys=np.array(keys, dtype=np.int64).reshape(-1, 3),
            counts=np.array(counts, dtype=np.int64),
        )
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = orjson.loads(arrays["meta"].tobytes())
            keys, counts = arrays["keys"].tolist(), arrays["counts"].tolist()
        compartments: dict[str, dict[str, Any]] = {}
        at = 0
        for c, src, events, unplaced, newest, n in meta:
            cells = dict(zip(map(tuple, keys[at : at + n]), counts[at : at + n], strict=True))
            at += n
            compartments.setdefault(c, {})[src] = {
                "events": events,
                "unplaced": unplaced,
                "newest": newest,
                "cells": cells,
            }
        return {"compartments": compartments}


def parts(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The counts of each compartment and source in a ``map`` state."""
    for by_source in state["compartments"].values():
        yield from by_source.values()
