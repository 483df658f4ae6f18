"""The spatial index returns exactly what brute force returns: near the poles, across the
antimeridian, for tiny and continental radii, with and without time windows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.gdelt.parse import parse_gdelt
from sitroom.domain.geo import Point, haversine_m
from sitroom.domain.spatial import EventIndex

from conftest import V2_FILES


def brute(lat, lon, t, c, r, t_from=None, t_to=None):  # type: ignore[no-untyped-def]
    d = haversine_m(lat, lon, c)
    ok = np.nan_to_num(d, nan=np.inf) <= r
    ok &= np.isfinite(t)
    if t_from is not None:
        ok &= t >= t_from
    if t_to is not None:
        ok &= t < t_to
    return np.flatnonzero(ok)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    clat=st.floats(-90, 90),
    clon=st.floats(-180, 180),
    radius_km=st.floats(1, 5000),
    window=st.one_of(st.none(), st.tuples(st.integers(0, 100), st.integers(0, 100))),
)
def test_index_equals_brute_force(
    seed: int, clat: float, clon: float, radius_km: float, window: tuple[int, int] | None
) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    # Points everywhere, and crowded near the centre, the poles and the antimeridian.
    lat = np.concatenate(
        [rng.uniform(-90, 90, n), clat + rng.normal(0, 3, n), rng.uniform(85, 90, 300)]
    )
    lon = np.concatenate(
        [rng.uniform(-180, 180, n), clon + rng.normal(0, 3, n), rng.uniform(170, 180, 300)]
    )
    lat = np.clip(lat, -90, 90)
    lon = ((lon + 180) % 360) - 180
    t = rng.integers(0, 100, len(lat)).astype(float)
    lat[::97] = np.nan
    t[::89] = np.nan
    index = EventIndex(lat, lon, t)
    c = Point(clat, clon)
    t_from, t_to = (None, None) if window is None else (min(window), max(window))
    got = index.query(c, radius_km * 1000, t_from, t_to)
    assert np.array_equal(got, brute(lat, lon, t, c, radius_km * 1000, t_from, t_to))


def test_index_on_the_real_gdelt_rows_around_beirut() -> None:
    lookups = load_lookups()
    lat, lon, t = [], [], []
    for f in V2_FILES:
        for chunk in parse_gdelt(f.read_bytes(), lookups):
            ev = chunk.events
            lat += ev["lat"].to_list()
            lon += ev["lon"].to_list()
            t += ev["valid_from"].to_list()
    la = np.array(lat, dtype=float)
    lo = np.array(lon, dtype=float)
    ta = np.array(t, dtype=float)
    beirut = Point(33.89, 35.50)
    got = EventIndex(la, lo, ta).query(beirut, 500 * 1609.344)
    assert len(got) > 0
    assert np.array_equal(got, brute(la, lo, ta, beirut, 500 * 1609.344))
