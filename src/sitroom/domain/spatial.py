"""Great-circle radius queries with a valid-time window, through a grid index.

:class:`EventIndex` answers "which events lie within ``radius_m`` of a point and have a valid
time in ``[t_from, t_to)``" with exactly the rows a brute-force :func:`~sitroom.domain.geo.
haversine_m` over every event would give: the grid only chooses candidates, and every candidate
is then measured with that same function, so the index can never disagree with brute force on
a point near the edge of the circle.

Layout. Events are bucketed into ``cell_deg`` latitude/longitude cells; within a segment the
rows are sorted by (cell, valid time), so one composite key per row, ``cell * M + rank(t)``,
makes "this cell, this window" a single ``searchsorted`` slice. A query computes the cells that
can touch the circle (its bounding box on the sphere, widened a little so rounding never loses a
point), finds every cell's slice in one vectorised ``searchsorted``, and measures the candidates.

Appends. The index is kept beside a projection that folds batches as they are appended, so it
grows by appends rather than by rebuilds: new rows go to a small unindexed tail that every query
scans by brute force; a full tail becomes a segment, and adjacent segments are merged (rebuilt
from their rows) whenever the newer one is more than half the size of the older one. Segment
sizes then fall at least geometrically, so a query visits O(log n) segments and a row is
rebuilt O(log n) times over its life (the scheme of a log-structured merge tree). A rebuild of
the whole index from the projection's arrays is the same constructor and needs no special path.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sitroom.domain.geo import EARTH_RADIUS_M, Point, haversine_m

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Brute force over this many rows costs about what a segment probe costs (a few hundred µs);
# below it a segment would not pay for its build.
TAIL_ROWS = 8192
# Widening of the circle's angular radius when choosing cells: far above haversine's rounding
# error (worst near antipodes, ~1e-8 rad) so no point the exact test accepts can sit in a cell
# that was skipped. Extra candidates cost nothing but their measurement.
_PAD_RAD = 1e-6
_EMPTY = np.empty(0, dtype=np.int64)


class _Grid:
    def __init__(self, cell_deg: float) -> None:
        if not (0 < cell_deg <= 180):
            raise ValueError(f"cell_deg must be in (0, 180], not {cell_deg}")
        self.cell = float(cell_deg)
        self.nrows = math.ceil(180 / self.cell)
        self.ncols = math.ceil(360 / self.cell)

    def row(self, lat: F64) -> I64:
        # floor() of a monotone expression is monotone: a latitude between two bounds always
        # lands in a row between their rows, whatever the rounding.
        r = np.floor((lat + 90.0) / self.cell).astype(np.int64)
        return np.minimum(r, self.nrows - 1)

    def col(self, lon: F64) -> I64:
        c = np.floor((lon + 180.0) / self.cell).astype(np.int64)
        return np.minimum(c, self.ncols - 1)

    def cells(self, lat: F64, lon: F64) -> I64:
        return self.row(lat) * self.ncols + self.col(lon)

    def cells_near(self, center: Point, radius_m: float) -> I64 | None:
        """Every cell that can hold a point within radius_m of center; None means all."""
        delta = radius_m / EARTH_RADIUS_M + _PAD_RAD
        phi = math.radians(center.lat)
        if delta >= math.pi / 2 or abs(phi) + delta >= math.pi / 2:
            # The circle holds a pole (any angular radius of a quarter turn or more holds one):
            # every longitude, from the far edge of the circle to that pole.
            lat_lo = -90.0 if phi - delta <= -math.pi / 2 else math.degrees(phi - delta)
            lat_hi = 90.0 if phi + delta >= math.pi / 2 else math.degrees(phi + delta)
            spans = [(-180.0, 180.0)]
        else:
            lat_lo, lat_hi = math.degrees(phi - delta), math.degrees(phi + delta)
            # Widest longitude reach of a circle that holds no pole (at the latitude where a
            # meridian is tangent to it): asin(sin δ / cos φ).
            half = math.degrees(math.asin(min(1.0, math.sin(delta) / math.cos(phi))))
            lon0 = (center.lon + 180.0) % 360.0 - 180.0
            lo, hi = lon0 - half, lon0 + half
            if lo < -180.0:
                spans = [(lo + 360.0, 180.0), (-180.0, hi)]
            elif hi > 180.0:
                spans = [(lo, 180.0), (-180.0, hi - 360.0)]
            else:
                spans = [(lo, hi)]
        rows = np.arange(
            int(self.row(np.array([lat_lo]))[0]), int(self.row(np.array([lat_hi]))[0]) + 1
        )
        ends = self.col(np.array([x for span in spans for x in span]))
        cols = np.concatenate([np.arange(ends[i], ends[i + 1] + 1) for i in range(0, len(ends), 2)])
        if len(rows) == self.nrows and len(cols) >= self.ncols:
            return None
        cells: I64 = (rows[:, None] * self.ncols + np.unique(cols)[None, :]).ravel()
        return cells


class _Segment:
    """An immutable grid over some rows, sorted by (cell, valid time)."""

    def __init__(self, grid: _Grid, lat: F64, lon: F64, t: I64, rows: I64) -> None:
        self.times, rank = np.unique(t, return_inverse=True)
        self.m = len(self.times) + 1
        keys = grid.cells(lat, lon) * self.m + rank.reshape(-1)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.lat, self.lon, self.t, self.rows = lat[order], lon[order], t[order], rows[order]

    def __len__(self) -> int:
        return len(self.rows)

    def candidates(self, cells: I64 | None, t_from: int | None, t_to: int | None) -> I64:
        """Positions (in this segment's order) of the rows in those cells and that window."""
        r_from = 0 if t_from is None else int(np.searchsorted(self.times, t_from, "left"))
        r_to = self.m if t_to is None else int(np.searchsorted(self.times, t_to, "left"))
        if r_from >= r_to:
            return _EMPTY
        if cells is None:
            # Ranks only order rows within a cell, so "every cell" still needs the time test.
            rank = self.keys % self.m
            return np.flatnonzero((rank >= r_from) & (rank < r_to))
        lo = np.searchsorted(self.keys, cells * self.m + r_from, "left")
        hi = np.searchsorted(self.keys, cells * self.m + r_to, "left")
        n = hi - lo
        hit = n > 0
        lo, n = lo[hit], n[hit]
        total = int(n.sum())
        if total == 0:
            return _EMPTY
        # The slices laid end to end: position k of slice j is lo[j] + k.
        shift = lo - (np.cumsum(n) - n)
        pos: I64 = np.arange(total, dtype=np.int64) + np.repeat(shift, n)
        return pos


def _as_t(t: npt.ArrayLike) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Valid times as int64 ms and whether each is present (NaN in a float array is missing)."""
    arr = np.asarray(t)
    if arr.dtype.kind == "f":
        present = np.isfinite(arr)
        # floor keeps t >= a and t < b unchanged for the integer bounds a query takes.
        return np.where(present, np.floor(np.nan_to_num(arr)), 0).astype(np.int64), present
    return arr.astype(np.int64), np.ones(arr.shape, dtype=np.bool_)


class EventIndex:
    """Rows of (lat, lon in degrees; t = valid_from in ms) answering radius + window queries.

    Row numbers are positions in the arrays given, continuing across :meth:`append` calls.
    Rows with a NaN or infinite latitude or longitude, or a missing time (NaN when ``t`` is a
    float array), are not indexed: brute force would never match them either.
    """

    def __init__(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike, t: npt.ArrayLike, *, cell_deg: float = 1.0
    ) -> None:
        self._grid = _Grid(cell_deg)
        self._segments: list[_Segment] = []
        # Rows outside the grid's ±90/±180 (bad data) are kept aside and always scanned, so the
        # index agrees with brute force even on them.
        self._odd = (np.empty(0), np.empty(0), _EMPTY, _EMPTY)
        self._tail = (np.empty(0), np.empty(0), _EMPTY, _EMPTY)
        self._n = 0
        self.append(lat, lon, t)

    def __len__(self) -> int:
        """Rows given so far, indexed or not: the next appended row gets this number."""
        return self._n

    def append(self, lat: npt.ArrayLike, lon: npt.ArrayLike, t: npt.ArrayLike) -> None:
        la = np.asarray(lat, dtype=np.float64).ravel()
        lo = np.asarray(lon, dtype=np.float64).ravel()
        tt, present = _as_t(t)
        tt, present = tt.ravel(), present.ravel()
        if not (len(la) == len(lo) == len(tt)):
            raise ValueError(f"lat, lon and t differ in length: {len(la)}, {len(lo)}, {len(tt)}")
        rows = np.arange(self._n, self._n + len(la), dtype=np.int64)
        self._n += len(la)
        ok = present & np.isfinite(la) & np.isfinite(lo)
        on_grid = ok & (np.abs(la) <= 90.0) & (np.abs(lo) <= 180.0)
        odd = ok & ~on_grid
        if odd.any():
            self._odd = _concat(self._odd, (la[odd], lo[odd], tt[odd], rows[odd]))
        self._tail = _concat(self._tail, (la[on_grid], lo[on_grid], tt[on_grid], rows[on_grid]))
        if len(self._tail[3]) >= TAIL_ROWS:
            self._segments.append(_Segment(self._grid, *self._tail))
            self._tail = (np.empty(0), np.empty(0), _EMPTY, _EMPTY)
            self._merge()

    def _merge(self) -> None:
        segs = self._segments
        while len(segs) >= 2 and 2 * len(segs[-1]) > len(segs[-2]):
            new, old = segs.pop(), segs.pop()
            # The build sorts its input, so the segments' sorted arrays serve as they are.
            parts = _concat(
                (old.lat, old.lon, old.t, old.rows), (new.lat, new.lon, new.t, new.rows)
            )
            segs.append(_Segment(self._grid, *parts))

    def query(
        self,
        center: Point,
        radius_m: float,
        t_from: int | None = None,
        t_to: int | None = None,
    ) -> I64:
        """Sorted row numbers within radius_m (great circle) of center with t in [t_from, t_to)."""
        return self.within(center, radius_m, t_from, t_to)[0]

    def within(
        self,
        center: Point,
        radius_m: float,
        t_from: int | None = None,
        t_to: int | None = None,
    ) -> tuple[I64, F64]:
        """As :meth:`query`, with each row's distance from center in metres (measured anyway)."""
        if not radius_m >= 0:  # also NaN
            return _EMPTY, np.empty(0)
        cells = self._grid.cells_near(center, radius_m)
        rows, dists = [], []
        for seg in self._segments:
            pos = seg.candidates(cells, t_from, t_to)
            if len(pos):
                d = haversine_m(seg.lat[pos], seg.lon[pos], center)
                near = d <= radius_m
                rows.append(seg.rows[pos[near]])
                dists.append(d[near])
        for la, lo, tt, r in (self._tail, self._odd):
            if len(r):
                d = haversine_m(la, lo, center)
                keep = d <= radius_m
                if t_from is not None:
                    keep &= tt >= t_from
                if t_to is not None:
                    keep &= tt < t_to
                rows.append(r[keep])
                dists.append(d[keep])
        if not rows:
            return _EMPTY, np.empty(0)
        found, dist = np.concatenate(rows), np.concatenate(dists)
        order = np.argsort(found, kind="stable")
        return found[order], dist[order]


def _concat(
    a: tuple[F64, F64, I64, I64], b: tuple[F64, F64, I64, I64]
) -> tuple[F64, F64, I64, I64]:
    return (
        np.concatenate([a[0], b[0]]),
        np.concatenate([a[1], b[1]]),
        np.concatenate([a[2], b[2]]),
        np.concatenate([a[3], b[3]]),
    )
