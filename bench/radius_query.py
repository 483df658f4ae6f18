"""Radius queries over 1,000,000 events: 500 miles and a 7-day window, through the spatial index.

Events are resampled from the real GDELT 2.0 rows shipped with sitroom: each takes the ActionGeo
latitude/longitude of a real event, and a time spread uniformly over 90 days. Queries are centred
on real event locations (and on Beirut) at random times. Baseline, measured in the same run on the
same events: brute force done sensibly in numpy — the 7-day time mask first, then the haversine
over the events inside it.
Goal: p95 at most 20 ms.

    python bench/radius_query.py [--events 1000000] [--queries 200] [--baseline-queries 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.gdelt.parse import parse_gdelt
from sitroom.domain.geo import Point, haversine_m
from sitroom.domain.spatial import EventIndex

from _data import pct, real_v2_rows

MILE = 1609.344
DAY = 86_400_000


def real_points() -> tuple[np.ndarray, np.ndarray]:
    data = ("\n".join(real_v2_rows()) + "\n").encode()
    lat, lon = [], []
    for chunk in parse_gdelt(data, load_lookups()):
        lat += chunk.events["lat"].to_list()
        lon += chunk.events["lon"].to_list()
    la, lo = np.array(lat, dtype=float), np.array(lon, dtype=float)
    ok = np.isfinite(la) & np.isfinite(lo)
    return la[ok], lo[ok]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--baseline-queries", type=int, default=20)
    ap.add_argument("--radius-mi", type=float, default=500)
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    real_lat, real_lon = real_points()
    pick = rng.integers(0, len(real_lat), args.events)
    lat, lon = real_lat[pick], real_lon[pick]
    t = rng.integers(0, 90 * DAY, args.events).astype(float)

    started = time.perf_counter()
    index = EventIndex(lat, lon, t)
    build = time.perf_counter() - started

    r = random.Random(5)
    centres = [Point(33.89, 35.50)] + [
        Point(float(real_lat[i]), float(real_lon[i]))
        for i in (r.randrange(len(real_lat)) for _ in range(args.queries - 1))
    ]
    windows = [(s, s + 7 * DAY) for s in (r.randrange(83 * DAY) for _ in centres)]
    radius = args.radius_mi * MILE

    fast, found = [], []
    for c, (lo, hi) in zip(centres, windows, strict=True):
        s = time.perf_counter()
        rows = index.query(c, radius, lo, hi)
        fast.append((time.perf_counter() - s) * 1000)
        found.append(len(rows))

    slow = []
    for c, (lo, hi) in list(zip(centres, windows, strict=True))[: args.baseline_queries]:
        s = time.perf_counter()
        in_window = np.flatnonzero((t >= lo) & (t < hi))
        d = haversine_m(lat[in_window], lon[in_window], c)
        rows = in_window[d <= radius]
        slow.append((time.perf_counter() - s) * 1000)
        assert np.array_equal(rows, index.query(c, radius, lo, hi)), (
            "index differs from brute force"
        )

    print(
        f"{args.events:,} events at real GDELT locations over 90 days; index built in "
        f"{build * 1000:.0f} ms; {len(centres)} queries of {args.radius_mi:g} mi and 7 days "
        f"(median {statistics.median(found):,.0f} events found)"
    )
    print(
        f"sitroom spatial index: p50 {pct(fast, 50):.2f} ms, p95 {pct(fast, 95):.2f} ms, "
        f"max {max(fast):.2f} ms   [goal p95 <= 20 ms]"
    )
    print(
        f"baseline brute force (time mask, then haversine): p50 {pct(slow, 50):.1f} ms, "
        f"p95 {pct(slow, 95):.1f} ms ({len(slow)} queries, answers identical)"
    )
    print(f"ratio p95 baseline / sitroom: {pct(slow, 95) / pct(fast, 95):.0f}x")


if __name__ == "__main__":
    main()
