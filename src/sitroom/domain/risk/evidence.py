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
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.domain.geo import Point, haversine_m
from sitroom.domain.risk.arrivals import COLUMNS, CONFLICT_QUADS, Arrivals, conflict_events
from sitroom.domain.risk.questions import Place
from sitroom.domain.spatial import TAIL_ROWS, EventIndex

if TYPE_CHECKING:
    import polars as pl

__all__ = ["COLUMNS", "CONFLICT_QUADS", "ConflictEvents", "Found", "conflict_events"]
Array = npt.NDArray[Any]
Mask = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


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
    """The conflict events indexed for the questions' regions. One decoded from a snapshot
    stays bytes until it is first queried: opening a room restores the risk state for any
    command that ticks the risk ledger (``sitroom alerts``), and most of them never look at
    an event."""

    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._cols = _Columns(_DTYPES)
        self._labels: list[str] = []
        self._codes: dict[str, int] = {}
        self._index = EventIndex(np.empty(0), np.empty(0), np.empty(0, np.int64))
        self._nearby = _NearbyCache()
        self._first_ms: int | None = None
        self._encoded: tuple[int, bytes] | None = None  # (rows, snapshot) not yet decoded
        if frame is not None:
            self.add(frame)

    def __len__(self) -> int:
        return self._encoded[0] if self._encoded else self._cols.n

    @property
    def first_ms(self) -> int | None:
        return self._decoded()._first_ms

    @property
    def labels(self) -> list[str]:
        return self._decoded()._labels

    def _decoded(self) -> ConflictEvents:
        if self._encoded is not None:
            # Read with Arrow, not polars: a command that never queries events should not
            # pay polars' import.
            rows, data = self._encoded
            self._encoded = None
            if rows:
                self.add(Arrivals.from_arrow(pa.ipc.open_file(pa.py_buffer(data)).read_all()))
        return self

    def add(self, events: pl.DataFrame | Arrivals) -> None:
        self._decoded()
        new = events if isinstance(events, Arrivals) else Arrivals.from_frame(events)

        if not len(new):
            return
        # Labels to codes: each distinct label once, looked up in Python; the rows by Arrow.
        coded = pc.dictionary_encode(new.conflict)
        codes = np.array([self._code(x) for x in coded.dictionary.to_pylist()], dtype=np.int64)
        cols = {
            "id": new.id,
            "valid_from": new.valid_from,
            "lat": new.lat,
            "lon": new.lon,
            "quad_class": new.quad_class,
            "fatalities": new.fatalities,
            "source": new.source,
            "conflict": codes[coded.indices.to_numpy(zero_copy_only=False)],
        }
        self._cols.append(cols)
        self._index.append(cols["lat"], cols["lon"], cols["valid_from"])
        first = int(cols["valid_from"].min())
        self._first_ms = first if self._first_ms is None else min(self._first_ms, first)

    def _code(self, label: str) -> int:
        code = self._codes.get(label)
        if code is None:
            code = self._codes[label] = len(self._labels)
            self._labels.append(label)
        return code

    def frame(self) -> pl.DataFrame:
        """Every event, in :data:`COLUMNS` (for snapshots and tests)."""
        import polars as pl

        c = self._decoded()._cols
        labels = np.asarray(self._labels, dtype=object)
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
        c = self._decoded()._cols
        points = [p.point for p in places]
        rows, dist, nearest = self._nearby.near(self._index, c, points, radius_m, t_from, t_to)
        return Found(
            rows,
            c["valid_from"][rows],
            c["quad_class"][rows],
            c["fatalities"][rows],
            c["conflict"][rows],
            dist,
            nearest,
            tuple(p.name for p in places),
            self._labels,
            c["id"],
        )

    def encode(self) -> bytes:
        """The row count (8 bytes, so a snapshot's size is known undecoded), then every event
        as an LZ4-compressed Arrow IPC file."""
        if self._encoded is not None:
            rows, data = self._encoded
        else:
            rows, buf = len(self), io.BytesIO()
            self.frame().write_ipc(buf, compression="lz4")
            data = buf.getvalue()
        return rows.to_bytes(8, "big") + data

    @classmethod
    def decode(cls, data: bytes) -> ConflictEvents:
        events = cls()
        events._encoded = (int.from_bytes(data[:8], "big"), data[8:])
        return events


def _nearest(hits: Sequence[tuple[I64, F64]]) -> tuple[I64, F64, I64]:
    """Each row found from any of several places, once, with its smallest distance and the
    first place at that distance. A row one place did not find lies beyond the radius from it,
    so the smallest distance among the places that found it is its distance to the nearest."""
    if len(hits) == 1:
        return hits[0][0], hits[0][1], np.zeros(len(hits[0][0]), dtype=np.int64)
    every = np.concatenate([h[0] for h in hits] or [np.empty(0, np.int64)])
    dists = np.concatenate([h[1] for h in hits] or [np.empty(0)])
    which = np.repeat(np.arange(len(hits)), [len(h[0]) for h in hits])
    if not len(every):
        return every, dists, which
    # Each place's rows are sorted, so a stable sort is a merge of sorted runs (timsort), and
    # keeps a row's places in order: the first at the smallest distance wins a tie.
    order = np.argsort(every, kind="stable")
    every, dists, which = every[order], dists[order], which[order]
    first = np.concatenate(([True], every[1:] != every[:-1]))
    group = np.cumsum(first) - 1
    best = np.minimum.reduceat(dists, np.flatnonzero(first))
    at_best = np.flatnonzero(dists == best[group])
    g = group[at_best]
    pick = at_best[np.concatenate(([True], g[1:] != g[:-1]))]
    return every[pick], dists[pick], which[pick]


class _Found:
    """What one query (places, radius) has found: the rows valid from ``t_lo`` on (every
    valid time after it, the future included), among the first ``covered`` rows, with each
    row's distance to the nearest place and that place."""

    __slots__ = ("covered", "dist", "kept", "lowest", "nearest", "rows", "t", "t_lo")

    def __init__(self, t_lo: int, covered: int, found: tuple[I64, F64, I64], t: I64) -> None:
        self.t_lo, self.covered = t_lo, covered
        self.rows, self.dist, self.nearest = found
        self.t = t
        self.kept = len(self.rows)  # rows after the last pruning
        self.lowest = _T_MAX  # the earliest window start asked since then

    def keep(self, mask: Mask) -> None:
        self.rows, self.dist, self.nearest = self.rows[mask], self.dist[mask], self.nearest[mask]
        self.t = self.t[mask]


_T_MIN, _T_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
# Rows appended since a query that are measured directly rather than by asking the index again:
# as many as the index's own unindexed tail, which every query measures anyway.
CATCH_UP_ROWS = TAIL_ROWS
NEARBY_KEPT = 256  # (places, radius) queries remembered, the least recently asked dropped first
PRUNE_SLACK = 1024  # rows an answer may grow by, beyond doubling, before it forgets old ones


class _NearbyCache:
    """Region queries answered from the previous answer for the same places and radius.

    A re-forecast asks the same few places again after every event; an index query (finding
    the cells, probing each segment, measuring the candidates and the index's tail) costs about
    0.5 ms a place, and merging two places' rows as much again: together, a third of a
    re-forecast. The store only grows, so an earlier answer stays right for the rows it
    covered: only the rows appended since are measured (by the same haversine the index uses,
    so the distances are the same floats), and the window is a filter. An answer remembers
    every valid time from its start on, because an event dated after "now" enters a later
    window. A window that starts before the remembered one, or a long run of new rows (a bulk
    load), asks the index again.
    """

    def __init__(self) -> None:
        self._found: dict[tuple[Any, ...], _Found] = {}

    def near(
        self,
        index: EventIndex,
        cols: _Columns,
        points: Sequence[Point],
        radius_m: float,
        t_from: int | None,
        t_to: int | None,
    ) -> tuple[I64, F64, I64]:
        """The rows within ``radius_m`` of any of the points, valid in ``[t_from, t_to)``, in
        order, with the distance to the nearest point and its position in ``points`` (the
        first of equally near ones): what :func:`_nearest` of ``index.within`` gives."""
        if not points or not radius_m >= 0:  # also NaN: the index finds nothing
            return _nearest([index.within(p, radius_m, t_from, t_to) for p in points])
        key = (tuple((p.lat, p.lon) for p in points), radius_m)
        lo = _T_MIN if t_from is None else t_from
        n = cols.n
        f = self._found.pop(key, None)
        if f is None or lo < f.t_lo or n - f.covered > CATCH_UP_ROWS:
            start = lo if f is None else min(lo, f.t_lo)  # still serve the earlier windows
            t_start = None if start == _T_MIN else start
            found = _nearest([index.within(p, radius_m, t_start, None) for p in points])
            f = _Found(start, n, found, cols["valid_from"][found[0]])
        elif f.covered < n:
            lat, lon = cols["lat"][f.covered : n], cols["lon"][f.covered : n]
            t = cols["valid_from"][f.covered : n]
            d = np.vstack([haversine_m(lat, lon, p) for p in points])
            # The nearest point's distance, and the first point at it; beyond the radius from
            # it means beyond the radius from all.
            best, which = d.min(axis=0), d.argmin(axis=0)
            new = np.flatnonzero((best <= radius_m) & (t >= f.t_lo))
            f.rows = np.concatenate([f.rows, new + f.covered])
            f.dist = np.concatenate([f.dist, best[new]])
            f.nearest = np.concatenate([f.nearest, which[new]])
            f.t = np.concatenate([f.t, t[new]])
            f.covered = n
        f.lowest = min(f.lowest, lo)
        if len(f.rows) > 2 * f.kept + PRUNE_SLACK:
            # Forget what no window asked for since the last pruning (windows slide forward);
            # a window that reaches back further again asks the index once.
            f.keep(f.t >= f.lowest)
            f.t_lo, f.kept, f.lowest = f.lowest, len(f.rows), _T_MAX
        self._found[key] = f
        if len(self._found) > NEARBY_KEPT:
            del self._found[next(iter(self._found))]
        hit = f.t >= lo
        if t_to is not None:
            hit &= f.t < t_to
        return f.rows[hit], f.dist[hit], f.nearest[hit]
