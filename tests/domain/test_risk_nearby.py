"""Region queries answered from earlier answers (the store's nearby cache) are exactly what
brute force over every stored event gives: the same rows, distances and nearest places, while
events arrive between queries (late, dated in the future, in bulk) and windows move both ways."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from unittest import mock

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.geo import haversine_m
from sitroom.domain.risk import evidence
from sitroom.domain.risk.evidence import ConflictEvents, Found
from sitroom.domain.risk.questions import Place

PLACES = (
    Place("Beirut", 33.8938, 35.5018),
    Place("Damascus", 33.5138, 36.2765),
    Place("Amman", 31.9454, 35.9284),
    Place("Pole", 89.9, 0.0),
    Place("Fiji", -17.7, 179.9),
    Place("Beirut port", 33.8938, 35.5018),  # Beirut again: every distance ties
)


def events(rng: np.random.Generator, n: int, start: int) -> pl.DataFrame:
    centre = rng.integers(0, len(PLACES), n)
    lat = np.array([PLACES[c].lat for c in centre]) + rng.normal(0, 4, n)
    lon = np.array([PLACES[c].lon for c in centre]) + rng.normal(0, 4, n)
    lat = np.clip(lat, -90, 90)
    lon = ((lon + 180) % 360) - 180
    if n:
        lat[:: max(1, n // 3)] = 95.0  # off the grid: the index keeps such rows aside
    return pl.DataFrame(
        {
            "id": [f"e{start + i}" for i in range(n)],
            "valid_from": rng.integers(0, 120, n),  # some "future" for any window's end
            "lat": lat,
            "lon": lon,
            "quad_class": rng.integers(3, 5, n),
            "fatalities": rng.integers(0, 4, n),
            "source": ["s"] * n,
            "conflict": rng.choice(["a", "b", "c"], n).tolist(),
        }
    )


def brute(
    store: ConflictEvents,
    places: Sequence[Place],
    radius: float,
    t_from: int | None,
    t_to: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = store.frame()
    t = f["valid_from"].to_numpy()
    d = np.vstack([haversine_m(f["lat"].to_numpy(), f["lon"].to_numpy(), p.point) for p in places])
    best = d.min(axis=0)
    ok = best <= radius
    if t_from is not None:
        ok &= t >= t_from
    if t_to is not None:
        ok &= t < t_to
    rows = np.flatnonzero(ok)
    return rows, best[rows], d.argmin(axis=0)[rows]  # argmin: the first place at the minimum


@contextlib.contextmanager
def small_cache() -> Iterator[None]:
    """Catch-up, pruning and eviction limits small enough for a test to cross them."""
    with (
        mock.patch.object(evidence, "CATCH_UP_ROWS", 40),
        mock.patch.object(evidence, "PRUNE_SLACK", 8),
        mock.patch.object(evidence, "NEARBY_KEPT", 3),
    ):
        yield


def same(found: Found, want: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    rows, dist, nearest = want
    assert np.array_equal(found.rows, rows)
    assert np.array_equal(found.dist_m, dist)  # the same floats, not merely close
    assert np.array_equal(found.nearest, nearest)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.lists(
        st.tuples(
            st.integers(0, 60),  # events appended before the query (sometimes a bulk load)
            st.lists(st.integers(0, len(PLACES) - 1), min_size=1, max_size=3, unique=True),
            st.sampled_from([50e3, 300e3, 804672.0]),
            st.one_of(st.none(), st.integers(-5, 110)),  # window start: forwards and back
            st.one_of(st.none(), st.integers(0, 130)),
        ),
        min_size=1,
        max_size=25,
    ),
    cached=st.booleans(),
)
def test_cached_region_queries_equal_brute_force(
    seed: int,
    steps: list[tuple[int, list[int], float, int | None, int | None]],
    cached: bool,
) -> None:
    rng = np.random.default_rng(seed)
    store = ConflictEvents(events(rng, 30, 0))
    with small_cache() if cached else contextlib.nullcontext():
        for k, (n, which, radius, t_from, span) in enumerate(steps):
            store.add(events(rng, n, 1000 * (k + 1)))
            places = [PLACES[i] for i in which]
            t_to = None if span is None else (t_from or 0) + span
            got = store.near(places, radius, t_from, t_to)
            same(got, brute(store, places, radius, t_from, t_to))
            # Everything else a region answer holds comes from the rows.
            cols = store.frame()
            assert got.id.tolist() == cols["id"].to_numpy()[got.rows].tolist()
            assert np.array_equal(got.valid_from, cols["valid_from"].to_numpy()[got.rows])


def test_a_fresh_store_answers_as_one_that_remembered() -> None:
    """The cache is invisible: the same query sequence on a store that never answered before
    (snapshot decode) gives the same region."""
    rng = np.random.default_rng(5)
    store = ConflictEvents(events(rng, 500, 0))
    for k in range(30):
        store.add(events(rng, 3, 10_000 + 10 * k))
        for p in PLACES[:3]:
            store.near((p, PLACES[1]), 804672.0, 40 + k, 90 + k)
    fresh = ConflictEvents.decode(store.encode())
    for p in PLACES:
        a = store.near((p, PLACES[1]), 804672.0, 60, 120)
        b = fresh.near((p, PLACES[1]), 804672.0, 60, 120)
        for field in ("rows", "dist_m", "nearest", "valid_from", "conflict"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_a_decoded_store_is_read_only_when_queried_and_added_to_in_order() -> None:
    """A snapshot stays bytes until a query (opening a room decodes it for any command that
    ticks the risk ledger): its size is known and it encodes to itself undecoded; a later
    add lands after the decoded rows."""
    rng = np.random.default_rng(9)
    store = ConflictEvents(events(rng, 200, 0))
    data = store.encode()
    fresh = ConflictEvents.decode(data)
    assert len(fresh) == 200 and fresh.encode() == data
    more = events(rng, 5, 500)
    store.add(more)
    fresh.add(more)
    assert len(fresh) == 205 and fresh.first_ms == store.first_ms
    assert fresh.frame().equals(store.frame())
    assert ConflictEvents.decode(ConflictEvents().encode()).frame().height == 0


def test_sliding_windows_forget_old_rows_and_stay_exact() -> None:
    """Windows that move forward let an answer forget rows before them (the cache stays small
    in a long-running process); a window that reaches back again is still answered exactly."""
    rng = np.random.default_rng(11)
    store = ConflictEvents(events(rng, 10, 0))
    beirut, key = PLACES[0], (((PLACES[0].lat, PLACES[0].lon),), 804672.0)
    lows = []
    with small_cache():
        for k in range(60):
            batch = events(rng, 30, 1000 * (k + 1))
            store.add(batch.with_columns(pl.col("valid_from") // 10 * 10 + 10 * k))  # ties
            for t_from in (10 * k, 10 * k - 40):  # two questions at one place, two look-backs
                got = store.near((beirut,), 804672.0, t_from, 10 * k + 100)
                same(got, brute(store, (beirut,), 804672.0, t_from, 10 * k + 100))
            lows.append(store._nearby._found[key].t_lo)
            twice = (beirut, PLACES[5])  # the same point under two names: the first is nearest
            got = store.near(twice, 804672.0, 10 * k, None)
            same(got, brute(store, twice, 804672.0, 10 * k, None))
            assert not got.nearest.any()
        assert lows[-1] > lows[0]  # it forgot
        # A window starting exactly where the answer now starts is answered from it.
        same(
            store.near((beirut,), 804672.0, lows[-1], None),
            brute(store, (beirut,), 804672.0, lows[-1], None),
        )
        assert len(store._nearby._found[key].rows) < len(
            brute(store, (beirut,), 804672.0, None, None)[0]
        )
        same(
            store.near((beirut,), 804672.0, 0, None),  # reaching back: the index again
            brute(store, (beirut,), 804672.0, 0, None),
        )
