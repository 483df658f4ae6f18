"""The ``map`` projection: events counted per 1-degree grid cell and QuadClass, by compartment.

The dashboard's map shows counts per cell, never points; counting them from the log on every
request cost a scan of every event (a second at 200,000). This state holds the counts instead,
so a map as of any moment is the engine's snapshot nearest to it plus a short tail, and a
coarser grid of whole degrees is the same cells summed (1-degree cells nest in them).

Per compartment (events usually have none: ""), so that a reader's map leaves out what they may
not see (:meth:`MapProjection.restrict`):

- ``cells``: ``{(lat, lon, quad_class): count}``, ``lat``/``lon`` the cell's south-west corner
  in whole degrees (floor), ``quad_class`` 0 where the event has none;
- ``events``: every event folded, placed or not; ``unplaced``: those without a latitude and
  longitude on the globe (in no cell);
- ``newest``: the latest start of valid time among them (an answer's freshness).

Folded column-wise with polars (one group-by per bulk batch, then its few thousand distinct
cells added in Python); the few events of a live append are counted in Python, from the same
values (``domain/smallbatch.py``).
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

FACTS = ("lat", "lon", "quad_class", "valid_from")  # what the map reads of an event
Cell = tuple[int, int, int]  # (lat, lon) of the south-west corner, quad class (0: none)


def by_compartment(batch: RecordBatch) -> Iterator[tuple[str, RecordBatch]]:
    """The records of ``batch`` of each compartment it holds (most batches hold one)."""
    held = pc.unique(batch.column("compartment")).to_pylist()
    if len(held) == 1:
        yield str(held[0]), batch
        return
    for c in held:
        yield str(c), batch.filter(pc.equal(batch.column("compartment"), c))


def _blank() -> dict[str, Any]:
    return {"events": 0, "unplaced": 0, "newest": None, "cells": {}}


def _newer(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def on_globe(lat: Any, lon: Any) -> bool:
    """Whether an event is placed: a latitude and longitude on the globe (a missing, infinite
    or impossible one, as a hostile or broken feed may give, places it nowhere)."""
    return lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180


def _count_small(part: dict[str, Any], cols: dict[str, list[Any]]) -> None:
    cells: dict[Cell, int] = part["cells"]
    part["events"] += len(cols["lat"])
    for lat, lon, q, t in zip(
        cols["lat"], cols["lon"], cols["quad_class"], cols["valid_from"], strict=True
    ):
        if t is not None:
            part["newest"] = _newer(part["newest"], t)
        if not on_globe(lat, lon):
            part["unplaced"] += 1
            continue
        key = (math.floor(lat), math.floor(lon), q or 0)
        cells[key] = cells.get(key, 0) + 1


def _count_bulk(part: dict[str, Any], events: RecordBatch) -> None:
    import polars as pl

    frame = event_frame(events, FACTS)
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
    version = 1
    kinds: tuple[str, ...] | None = EVENT_KINDS

    def initial(self) -> dict[str, Any]:
        return {"compartments": {}}

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        if not len(batch):
            return state
        for compartment, events in by_compartment(batch):
            part = state["compartments"].setdefault(compartment, _blank())
            cols = event_columns(events)
            if cols is not None:
                _count_small(part, cols)
            else:
                _count_bulk(part, events)
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """The counts of the compartments a reader may see only."""
        return {"compartments": keep(state["compartments"], lambda c, _: sees(c))}

    def held(self, state: dict[str, Any]) -> int:
        """Cells a snapshot writes: bounded by the globe (65,160 cells x 5 classes), but some
        tens of thousands for a world-wide feed, so snapshots are spaced by it."""
        return sum(len(p["cells"]) for p in state["compartments"].values())

    def encode(self, state: dict[str, Any]) -> bytes:
        meta: list[list[Any]] = []
        arrays: dict[str, Any] = {}
        for i, (c, p) in enumerate(sorted(state["compartments"].items())):
            meta.append([c, p["events"], p["unplaced"], p["newest"]])
            cells = p["cells"]
            arrays[f"k{i}"] = np.array(list(cells), dtype=np.int64).reshape(-1, 3)
            arrays[f"n{i}"] = np.fromiter(cells.values(), dtype=np.int64, count=len(cells))
        out = io.BytesIO()
        np.savez_compressed(out, meta=np.frombuffer(orjson.dumps(meta), np.uint8), **arrays)
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            compartments = {}
            for i, (c, events, unplaced, newest) in enumerate(
                orjson.loads(arrays["meta"].tobytes())
            ):
                keys = map(tuple, arrays[f"k{i}"].tolist())
                cells = dict(zip(keys, arrays[f"n{i}"].tolist(), strict=True))
                compartments[c] = {
                    "events": events,
                    "unplaced": unplaced,
                    "newest": newest,
                    "cells": cells,
                }
        return {"compartments": compartments}
