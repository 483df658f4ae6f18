"""The spatial index returns exactly what brute force returns: near the poles, across the
antimeridian, for tiny and continental radii, with and without time windows."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.gdelt.parse import parse_gdelt
from sitroom.domain import spatial
from sitroom.domain.geo import EARTH_RADIUS_M, Point, haversine_m
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

    # Independently of haversine_m: the angle between unit vectors, atan2(|a x b|, a . b).
    def unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        p, q = np.radians(lat), np.radians(lon)
        return np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=-1)

    a, b = unit(la, lo), unit(np.array(beirut.lat), np.array(beirut.lon))
    d = EARTH_RADIUS_M * np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), a @ b)
    expected = np.flatnonzero(np.nan_to_num(d, nan=np.inf) <= 500 * 1609.344)
    assert np.array_equal(got, expected)
    assert 33.0 < np.median(la[got]) < 35.0  # Lebanon and its neighbours, not an empty answer


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    clat=st.one_of(st.floats(-90, 90), st.sampled_from([-90.0, 90.0, 0.0])),
    clon=st.one_of(st.floats(-180, 180), st.sampled_from([-180.0, 180.0])),
    radius_km=st.floats(1, 5000),
    on_edge=st.booleans(),
    window=st.one_of(st.none(), st.tuples(st.integers(0, 100), st.integers(0, 100))),
)
def test_appended_batches_answer_like_one_build(
    seed: int,
    clat: float,
    clon: float,
    radius_km: float,
    on_edge: bool,
    window: tuple[int, int] | None,
) -> None:
    """Appends in uneven batches, with a tiny tail so segments form and merge; points exactly on
    the circle (radius set to one's own haversine distance); rows off the globe."""
    rng = np.random.default_rng(seed)
    n = 1500
    lat = np.concatenate([rng.uniform(-90, 90, n), np.clip(clat + rng.normal(0, 4, n), -90, 90)])
    lon = np.concatenate(
        [rng.uniform(-180, 180, n), (clon + rng.normal(0, 4, n) + 180) % 360 - 180]
    )
    lat[:4], lon[:4] = [95.0, -120.0, 10.0, 90.0], [0.0, 10.0, 400.0, 180.0]
    t = rng.integers(0, 100, len(lat)).astype(float)
    lat[5::97] = np.nan
    t[7::89] = np.nan
    c = Point(clat, clon)
    r = radius_km * 1000
    if on_edge:
        d = haversine_m(lat, lon, c)
        r = float(d[rng.choice(np.flatnonzero(np.isfinite(d) & np.isfinite(t)))])
    t_from, t_to = (None, None) if window is None else (min(window), max(window))
    with mock.patch.object(spatial, "TAIL_ROWS", 64):
        index = EventIndex(lat[:0], lon[:0], t[:0])
        k = 0
        for size in rng.integers(1, 400, len(lat)):
            index.append(lat[k : k + size], lon[k : k + size], t[k : k + size])
            k += int(size)
            if k >= len(lat):
                break
    assert len(index) == len(lat)
    got = index.query(c, r, t_from, t_to)
    expected = brute(lat, lon, t, c, r, t_from, t_to)
    assert np.array_equal(got, expected)
    if on_edge and window is None:
        assert len(got) > 0


def test_int_times_nothing_indexed_and_degenerate_queries() -> None:
    index = EventIndex(np.array([33.89, np.nan]), np.array([35.5, 0.0]), np.array([5, 6]))
    beirut = Point(33.89, 35.5)
    assert index.query(beirut, 0.0).tolist() == [0]
    assert index.query(beirut, -1.0).tolist() == []
    assert index.query(beirut, math.nan).tolist() == []
    assert index.query(beirut, 1.0, 5, 5).tolist() == []
    assert index.query(beirut, 1.0, 6, None).tolist() == []
    assert index.query(Point(-33.89, -144.5), 2.1e7).tolist() == [0]  # the whole globe
    assert EventIndex([], [], []).query(beirut, 1e6).tolist() == []
