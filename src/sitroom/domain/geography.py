"""Countries on the map: which country a point lies in, and where a country is.

The shapes are Natural Earth's Admin-0 countries as TopoJSON (arcs delta-encoded on a quantised
grid); :func:`decode` turns a topology into polygons, and :class:`Countries` answers point-in-
country for many points at once (a bounding-box prefilter, then an even-odd ray test per ring,
vectorised over the points). Pure: the caller loads the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Ring = npt.NDArray[np.float64]  # (n, 2): lon, lat


@dataclass(frozen=True)
class Country:
    numeric: str  # ISO 3166-1 numeric, zero-padded ("422")
    name: str
    polygons: list[list[Ring]]  # each polygon: its outer ring, then its holes
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max

    def representative_point(self) -> tuple[float, float]:
        """(lat, lon) of a point inside the country, to place it on a map: on the largest
        polygon, along the parallel through its centroid, the middle of the widest stretch of
        land (a centroid alone can fall outside a concave shape, Israel's for one)."""
        ring = max((p[0] for p in self.polygons), key=_area)
        x, y = ring[:, 0], ring[:, 1]
        cross = x[:-1] * y[1:] - x[1:] * y[:-1]
        a = cross.sum() / 2
        cy = float(y.mean()) if a == 0 else float(((y[:-1] + y[1:]) * cross).sum() / (6 * a))
        x0, y0, x1, y1 = x[:-1], y[:-1], x[1:], y[1:]
        straddle = (y0 > cy) != (y1 > cy)
        xs = np.sort(
            x0[straddle]
            + (cy - y0[straddle]) * (x1[straddle] - x0[straddle]) / (y1[straddle] - y0[straddle])
        )
        if len(xs) < 2:
            return cy, float(x.mean())
        starts, ends = xs[0::2], xs[1::2]
        widest = int(np.argmax(ends - starts[: len(ends)]))
        return cy, float((starts[widest] + ends[widest]) / 2)


def _area(ring: Ring) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return abs(float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum())) / 2


def decode(topology: Mapping[str, Any], obj: str = "countries") -> list[Country]:
    """The countries of a TopoJSON topology (quantised arcs: delta-decoded, then transformed)."""
    scale = topology["transform"]["scale"]
    translate = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        a = np.cumsum(np.asarray(arc, dtype=np.float64), axis=0)
        arcs.append(a * scale + translate)

    def ring(indexes: Sequence[int]) -> Ring:
        parts: list[Ring] = []
        for i in indexes:
            a = arcs[i] if i >= 0 else arcs[~i][::-1]
            parts.append(a if not parts else a[1:])  # consecutive arcs share their end point
        return np.concatenate(parts)

    out = []
    for g in topology["objects"][obj]["geometries"]:
        if g.get("type") not in ("Polygon", "MultiPolygon") or "id" not in g:
            continue
        polys = [g["arcs"]] if g["type"] == "Polygon" else g["arcs"]
        polygons = [[ring(r) for r in poly] for poly in polys]
        pts = np.concatenate([r for p in polygons for r in p])
        out.append(
            Country(
                numeric=str(g["id"]),
                name=g.get("properties", {}).get("name", str(g["id"])),
                polygons=polygons,
                bbox=(pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()),
            )
        )
    return out


def _inside(
    ring: Ring, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Even-odd rule: a point is inside if a ray to its east crosses the ring an odd number of
    times. Vectorised over points, looping over the ring's edges in chunks."""
    inside = np.zeros(len(x), dtype=bool)
    x0, y0 = ring[:-1, 0], ring[:-1, 1]
    x1, y1 = ring[1:, 0], ring[1:, 1]
    for s in range(0, len(x0), 256):
        ax, ay, bx, by = (
            x0[s : s + 256, None],
            y0[s : s + 256, None],
            x1[s : s + 256, None],
            y1[s : s + 256, None],
        )
        straddles = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            cross_x = ax + (y - ay) * (bx - ax) / (by - ay)
        hits = straddles & (x < cross_x)
        inside ^= np.logical_xor.reduce(hits, axis=0)
    return inside


class Countries:
    def __init__(self, countries: list[Country]) -> None:
        self.countries = countries
        self.by_numeric = {c.numeric: c for c in countries}

    def locate(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> list[str | None]:
        """The ISO numeric code of the country each point lies in. A coastal city can fall just
        outside a 1:50m coastline (Beirut does), so a point at sea is tried again nudged up to
        about 10 km in eight directions; None when still at sea."""
        y = np.asarray(lat, dtype=np.float64)
        x = np.asarray(lon, dtype=np.float64)
        found = self._locate(x, y)
        for step in (0.05, 0.1):
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
                missing = np.array([f is None for f in found]) & np.isfinite(x) & np.isfinite(y)
                if not missing.any():
                    return found
                idx = np.flatnonzero(missing)
                again = self._locate(x[idx] + dx * step, y[idx] + dy * step)
                for i, f in zip(idx, again, strict=True):
                    found[i] = f
        return found

    def _locate(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> list[str | None]:
        found: list[str | None] = [None] * len(x)
        todo = np.isfinite(x) & np.isfinite(y)
        for c in self.countries:
            lo_x, lo_y, hi_x, hi_y = c.bbox
            cand = np.flatnonzero(todo & (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y))
            if not len(cand):
                continue
            px, py = x[cand], y[cand]
            hit = np.zeros(len(cand), dtype=bool)
            for poly in c.polygons:
                inner = _inside(poly[0], px, py)
                for hole in poly[1:]:
                    inner &= ~_inside(hole, px, py)
                hit |= inner
            for i in cand[hit]:
                found[i] = c.numeric
            todo[cand[hit]] = False
        return found
