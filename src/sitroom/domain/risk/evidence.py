"""The conflict events risk reads: every event of CAMEO QuadClass 3 or 4 (verbal and material
conflict; UCDP and ACLED violence count as 4), in columns, with a grid index for "within this
radius of these places, in this window".

Only what the members need is kept: id, valid time, place, QuadClass, fatalities, source and a
conflict label (UCDP's conflict name; otherwise "actor – actor", as the source codes them). The
index is :class:`~sitroom.domain.spatial.EventIndex`, so a radius answer is exactly what a
brute-force haversine over every event would give.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import polars as pl

from sitroom.domain.events import event_frame
from sitroom.domain.geo import haversine_m
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk.questions import Place
from sitroom.domain.spatial import EventIndex

CONFLICT_QUADS = (3, 4)
COLUMNS = ["id", "valid_from", "lat", "lon", "quad_class", "fatalities", "source", "conflict"]


def conflict_events(batch: RecordBatch) -> pl.DataFrame:
    """The conflict events of a batch, with a placed valid time, in :data:`COLUMNS`."""
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


class ConflictEvents:
    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._frame = frame if frame is not None else pl.DataFrame(schema=_SCHEMA)
        self._pending: list[pl.DataFrame] = []
        self._index = EventIndex(
            self._frame["lat"].to_numpy(),
            self._frame["lon"].to_numpy(),
            self._frame["valid_from"].to_numpy(),
        )
        self.first_ms: int | None = self._frame["valid_from"].min()  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self._index)

    def add(self, events: pl.DataFrame) -> None:
        if not events.height:
            return
        self._pending.append(events.cast(_SCHEMA))  # type: ignore[arg-type]
        self._index.append(
            events["lat"].to_numpy(), events["lon"].to_numpy(), events["valid_from"].to_numpy()
        )
        first = int(events["valid_from"].min())  # type: ignore[arg-type]
        self.first_ms = first if self.first_ms is None else min(self.first_ms, first)

    def frame(self) -> pl.DataFrame:
        if self._pending:
            self._frame = pl.concat([self._frame, *self._pending], rechunk=True)
            self._pending = []
        return self._frame

    def near(
        self, places: Sequence[Place], radius_m: float, t_from: int | None, t_to: int | None
    ) -> pl.DataFrame:
        """Events within ``radius_m`` of any of the places, valid in ``[t_from, t_to)``, with
        the distance to the nearest place (``dist_m``) and its name (``near``)."""
        rows = np.unique(
            np.concatenate(
                [self._index.query(p.point, radius_m, t_from, t_to) for p in places]
                or [np.empty(0, np.int64)]
            )
        )
        found = self.frame()[rows]
        if not found.height:
            return found.with_columns(
                pl.lit(None, pl.Float64).alias("dist_m"), pl.lit(None, pl.Utf8).alias("near")
            )
        lat, lon = found["lat"].to_numpy(), found["lon"].to_numpy()
        dists = np.vstack([haversine_m(lat, lon, p.point) for p in places])
        nearest = dists.argmin(axis=0)
        return found.with_columns(
            pl.Series("dist_m", dists.min(axis=0)),
            pl.Series("near", np.array([p.name for p in places], dtype=object)[nearest], pl.Utf8),
        )

    def encode(self) -> bytes:
        buf = io.BytesIO()
        self.frame().write_ipc(buf, compression="lz4")
        return buf.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> ConflictEvents:
        return cls(pl.read_ipc(io.BytesIO(data)))


_SCHEMA = {
    "id": pl.Utf8,
    "valid_from": pl.Int64,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "quad_class": pl.Int64,
    "fatalities": pl.Int64,
    "source": pl.Utf8,
    "conflict": pl.Utf8,
}
