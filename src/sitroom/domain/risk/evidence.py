"""The conflict events risk reads: every event of CAMEO QuadClass 3 or 4 (verbal and material
conflict; UCDP and ACLED violence count as 4), in columns, with a grid index for "within this
radius of these places, in this window".

Only what the members need is kept: id, valid time, place, QuadClass, fatalities, source and a
conflict label (UCDP's conflict name; otherwise "actor – actor", as the source codes them). The
index is :class:`~sitroom.domain.spatial.EventIndex`, so a radius answer is exactly what a
brute-force haversine over every event would give.

The store is numpy columns grown in place (capacity doubles), not a data frame: a re-forecast
asks a few region queries of a few thousand rows each, where a frame's per-call overhead would
cost more than the query itself. Conflict labels are kept as integer codes, so the nearby
member groups by conflict with array reductions.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from sitroom.domain.events import event_frame
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk.questions import Place
from sitroom.domain.spatial import EventIndex

CONFLICT_QUADS = (3, 4)
COLUMNS = ["id", "valid_from", "lat", "lon", "quad_class", "fatalities", "source", "conflict"]
Array = npt.NDArray[Any]
Mask = npt.NDArray[np.bool_]


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


@dataclass(frozen=True)
class Found:
    """Events a region query found, in the order they were added, each with its distance to
    the nearest place asked about (``dist_m``) and that place (``nearest``, an index into
    ``places``). ``conflict`` holds codes into ``labels``. Ids are gathered only when asked
    for: most queries need a count and a few of the newest."""

    rows: Array  # positions in ``all_ids``
    valid_from: Array
    quad_class: Array
    fatalities: Array
    conflict: Array
    dist_m: Array
    nearest: Array
    places: tuple[str, ...]
    labels: Sequence[str]
    all_ids: Array

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def id(self) -> Array:
        return self.all_ids[self.rows]

    @property
    def near(self) -> Array:
        return np.asarray(self.places, dtype=object)[self.nearest]

    def where(self, keep: Mask) -> Found:
        return Found(
            self.rows[keep],
            self.valid_from[keep],
            self.quad_class[keep],
            self.fatalities[keep],
            self.conflict[keep],
            self.dist_m[keep],
            self.nearest[keep],
            self.places,
            self.labels,
            self.all_ids,
        )

    def of_quads(self, quads: Iterable[int]) -> Found:
        wanted = set(quads)
        if wanted >= set(CONFLICT_QUADS):
            return self
        keep = np.zeros(len(self), dtype=bool)
        for quad in wanted:
            keep |= self.quad_class == quad
        return self.where(keep)

    def during(self, t_from: int, t_to: int) -> Found:
        """The events valid in ``[t_from, t_to)``."""
        t = self.valid_from
        return self.where((t >= t_from) & (t < t_to))

    def newest(self) -> Array:
        """Positions in this result, newest valid time first (the later-added first among
        equal times)."""
        order: Array = np.lexsort((-self.rows, -self.valid_from))
        return order

    def newest_ids(self, n: int) -> list[str]:
        """Up to ``n`` ids, newest first."""
        return list(self.all_ids[self.rows[self.newest()[:n]]])

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Found:
        """From a frame in :data:`COLUMNS` with ``dist_m`` and ``near`` (for baselines that
        measure distances their own way)."""
        labels, codes = np.unique(frame["conflict"].to_numpy().astype(str), return_inverse=True)
        places, nearest = np.unique(frame["near"].to_numpy().astype(str), return_inverse=True)
        return cls(
            np.arange(frame.height),
            frame["valid_from"].to_numpy().astype(np.int64),
            frame["quad_class"].to_numpy().astype(np.int64),
            frame["fatalities"].fill_null(0).to_numpy().astype(np.int64),
            codes.astype(np.int64),
            frame["dist_m"].to_numpy().astype(np.float64),
            nearest.astype(np.int64),
            tuple(places.tolist()),
            labels.tolist(),
            frame["id"].to_numpy().astype(object),
        )


class _Columns:
    """Named numpy columns that grow in place: appending is amortised O(rows appended)."""

    def __init__(self, dtypes: dict[str, npt.DTypeLike]) -> None:
        self.n = 0
        self._data: dict[str, Array] = {k: np.empty(0, dtype=d) for k, d in dtypes.items()}

    def append(self, cols: dict[str, Array]) -> None:
        k = len(next(iter(cols.values())))
        need = self.n + k
        for name, arr in self._data.items():
            if need > len(arr):
                grown = np.empty(max(need, 2 * len(arr), 1024), dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self._data[name] = arr = grown
            arr[self.n : need] = cols[name]
        self.n = need

    def __getitem__(self, name: str) -> Array:
        return self._data[name][: self.n]


_DTYPES: dict[str, npt.DTypeLike] = {
    "id": object,
    "valid_from": np.int64,
    "lat": np.float64,
    "lon": np.float64,
    "quad_class": np.int64,
    "fatalities": np.int64,
    "source": object,
    "conflict": np.int64,  # a code into ConflictEvents.labels
}


class ConflictEvents:
    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._cols = _Columns(_DTYPES)
        self.labels: list[str] = []
        self._codes: dict[str, int] = {}
        self._index = EventIndex(np.empty(0), np.empty(0), np.empty(0, np.int64))
        self.first_ms: int | None = None
        if frame is not None:
            self.add(frame)

    def __len__(self) -> int:
        return self._cols.n

    def add(self, events: pl.DataFrame) -> None:
        if not events.height:
            return
        labels = events["conflict"]
        mapping = {}
        for label in labels.unique().to_list():
            code = self._codes.get(label)
            if code is None:
                code = self._codes[label] = len(self.labels)
                self.labels.append(label)
            mapping[label] = code
        cols = {
            "id": events["id"].to_numpy().astype(object),
            "valid_from": events["valid_from"].to_numpy(),
            "lat": events["lat"].to_numpy(),
            "lon": events["lon"].to_numpy(),
            "quad_class": events["quad_class"].to_numpy(),
            "fatalities": events["fatalities"].fill_null(0).to_numpy(),
            "source": events["source"].to_numpy().astype(object),
            "conflict": labels.replace_strict(mapping, return_dtype=pl.Int64).to_numpy(),
        }
        self._cols.append(cols)
        self._index.append(cols["lat"], cols["lon"], cols["valid_from"])
        first = int(cols["valid_from"].min())
        self.first_ms = first if self.first_ms is None else min(self.first_ms, first)

    def frame(self) -> pl.DataFrame:
        """Every event, in :data:`COLUMNS` (for snapshots and tests)."""
        c = self._cols
        labels = np.asarray(self.labels, dtype=object)
        return pl.DataFrame(
            {
                "id": pl.Series(c["id"], dtype=pl.Utf8),
                "valid_from": c["valid_from"],
                "lat": c["lat"],
                "lon": c["lon"],
                "quad_class": c["quad_class"],
                "fatalities": c["fatalities"],
                "source": pl.Series(c["source"], dtype=pl.Utf8),
                "conflict": pl.Series(labels[c["conflict"]], dtype=pl.Utf8),
            }
        )

    def near(
        self, places: Sequence[Place], radius_m: float, t_from: int | None, t_to: int | None
    ) -> Found:
        """Events within ``radius_m`` of any of the places, valid in ``[t_from, t_to)``."""
        hits = [self._index.within(p.point, radius_m, t_from, t_to) for p in places]
        if len(hits) == 1:
            (rows, dist), nearest = hits[0], np.zeros(len(hits[0][0]), dtype=np.int64)
        else:
            # A row one place did not find lies beyond the radius from it, so the smallest
            # distance among the places that found it is its distance to the nearest place.
            every = np.concatenate([h[0] for h in hits] or [np.empty(0, np.int64)])
            dists = np.concatenate([h[1] for h in hits] or [np.empty(0)])
            which = np.repeat(np.arange(len(hits)), [len(h[0]) for h in hits])
            order = np.lexsort((dists, every))
            every, dists, which = every[order], dists[order], which[order]
            first = np.r_[True, every[1:] != every[:-1]] if len(every) else np.empty(0, bool)
            rows, dist, nearest = every[first], dists[first], which[first]
        c = self._cols
        return Found(
            rows,
            c["valid_from"][rows],
            c["quad_class"][rows],
            c["fatalities"][rows],
            c["conflict"][rows],
            dist,
            nearest,
            tuple(p.name for p in places),
            self.labels,
            c["id"],
        )

    def encode(self) -> bytes:
        buf = io.BytesIO()
        self.frame().write_ipc(buf, compression="lz4")
        return buf.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> ConflictEvents:
        return cls(pl.read_ipc(io.BytesIO(data)))
