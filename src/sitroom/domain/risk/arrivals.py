"""The conflict events risk reads, taken from a batch of records: every event of CAMEO
QuadClass 3 or 4 (verbal and material conflict; UCDP and ACLED violence count as 4) with a
place and a valid time, and a conflict label (UCDP's conflict name; otherwise "actor – actor
in country", as the source codes them).

Two strategies, one answer (``domain/smallbatch.py``): a bulk batch goes through polars
(:func:`conflict_events`); the one event of a live append is read in Python
(:func:`conflict_columns`), where each polars call would cost more than the whole fold.
:class:`Arrivals` is what the store and the forecaster take from either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.domain.events import event_columns, event_frame, schema
from sitroom.domain.records import RecordBatch

if TYPE_CHECKING:
    import polars as pl

CONFLICT_QUADS = (3, 4)
COLUMNS = ["id", "valid_from", "lat", "lon", "quad_class", "fatalities", "source", "conflict"]
Array = npt.NDArray[Any]


def conflict_events(batch: RecordBatch) -> pl.DataFrame:
    """The conflict events of a batch, with a placed valid time, in :data:`COLUMNS`."""
    import polars as pl

    small = conflict_columns(batch)
    if small is not None:
        return pl.DataFrame(small, schema=schema(COLUMNS))
    ev = event_frame(batch)
    ev = ev.filter(
        pl.col("quad_class").is_in(CONFLICT_QUADS)
        & pl.col("lat").is_not_null()
        & pl.col("lon").is_not_null()
        & pl.col("valid_from").is_not_null()
    )
    label = pl.coalesce(
        pl.col("conflict"),
        pl.concat_str(
            pl.col("actor1").fill_null("unknown"),
            pl.lit(" – "),
            pl.col("actor2").fill_null("unknown"),
            pl.lit(" in "),
            pl.coalesce(pl.col("country"), pl.col("country_name")).fill_null("unknown place"),
        ),
    )
    return ev.with_columns(label.alias("conflict")).select(COLUMNS)


def conflict_columns(batch: RecordBatch) -> dict[str, list[Any]] | None:
    """:func:`conflict_events` as Python lists, for a small batch (the same filter and label,
    row by row); None when the batch takes the vectorised strategy."""
    ev = event_columns(batch)
    if ev is None:
        return None
    keep = [
        i
        for i, (quad, lat, lon, t) in enumerate(
            zip(ev["quad_class"], ev["lat"], ev["lon"], ev["valid_from"], strict=True)
        )
        if quad in CONFLICT_QUADS and lat is not None and lon is not None and t is not None
    ]
    out = {c: [ev[c][i] for i in keep] for c in COLUMNS}
    out["conflict"] = [_label(ev, i) for i in keep]
    return out


def _label(ev: dict[str, list[Any]], i: int) -> str:
    if ev["conflict"][i] is not None:
        return str(ev["conflict"][i])
    where = ev["country"][i] if ev["country"][i] is not None else ev["country_name"][i]
    return (
        f"{_or(ev['actor1'][i], 'unknown')} – {_or(ev['actor2'][i], 'unknown')} "
        f"in {_or(where, 'unknown place')}"
    )


def _or(value: Any, missing: str) -> str:
    return missing if value is None else str(value)


@dataclass(frozen=True)
class Arrivals:
    """Conflict events about to join the store, as numpy columns (fatalities 0 where the
    source gives none), with their conflict labels as Arrow text (coded in bulk)."""

    id: Array
    valid_from: Array
    lat: Array
    lon: Array
    quad_class: Array
    fatalities: Array
    source: Array
    conflict: pa.Array

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def of(cls, batch: RecordBatch) -> Arrivals:
        small = conflict_columns(batch)
        if small is not None:
            return cls.from_columns(small)
        return cls.from_frame(conflict_events(batch))

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Arrivals:
        """From a frame in :data:`COLUMNS` (a bulk batch, a snapshot, a backtest's slice)."""
        return cls(
            frame["id"].to_numpy().astype(object),
            frame["valid_from"].to_numpy(),
            frame["lat"].to_numpy(),
            frame["lon"].to_numpy(),
            frame["quad_class"].to_numpy(),
            frame["fatalities"].fill_null(0).to_numpy(),
            frame["source"].to_numpy().astype(object),
            frame["conflict"].to_arrow(),
        )

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Arrivals:
        """From an Arrow table in :data:`COLUMNS` (a snapshot read without polars)."""

        def col(name: str) -> Array:
            values: Array = table[name].to_numpy()
            return values

        return cls(
            table["id"].to_numpy().astype(object),
            col("valid_from"),
            col("lat"),
            col("lon"),
            col("quad_class"),
            pc.fill_null(table["fatalities"], 0).to_numpy(),
            table["source"].to_numpy().astype(object),
            table["conflict"].combine_chunks(),
        )

    @classmethod
    def from_columns(cls, cols: dict[str, list[Any]]) -> Arrivals:
        """From :func:`conflict_columns`."""
        return cls(
            np.array(cols["id"], dtype=object),
            np.array(cols["valid_from"], dtype=np.int64),
            np.array(cols["lat"], dtype=np.float64),
            np.array(cols["lon"], dtype=np.float64),
            np.array(cols["quad_class"], dtype=np.int64),
            np.array([0 if f is None else f for f in cols["fatalities"]], dtype=np.int64),
            np.array(cols["source"], dtype=object),
            pa.array(cols["conflict"], pa.string()),
        )
