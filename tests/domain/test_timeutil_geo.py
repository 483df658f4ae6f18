import math

import numpy as np
import pytest

from sitroom.domain.geo import Point, haversine_m, parse_point, parse_radius
from sitroom.domain.timeutil import human_age, iso, parse_duration, parse_time, to_ms
from sitroom.errors import UserInputError

NOW = to_ms(__import__("datetime").datetime(2026, 11, 25, 12, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25", "2026-11-25T00:00:00Z"),
        ("2026-11-25T14:30:00Z", "2026-11-25T14:30:00Z"),
        ("2026-11-25T14:30:00+02:00", "2026-11-25T12:30:00Z"),
        ("now", "2026-11-25T12:00:00Z"),
        ("-2h", "2026-11-25T10:00:00Z"),
        ("90m ago", "2026-11-25T10:30:00Z"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    assert iso(parse_time(text, now_ms=NOW)) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "", "-2 fortnights"])
def test_parse_time_rejects_with_a_readable_message(text: str) -> None:
    with pytest.raises(UserInputError, match="cannot read"):
        parse_time(text, now_ms=NOW)


def test_durations_and_ages() -> None:
    assert parse_duration("15m") == 900_000
    assert parse_duration("1.5h") == 5_400_000
    assert human_age(900_000) == "15m"
    assert human_age(3 * 86_400_000) == "3.0d"


@pytest.mark.parametrize(
    ("text", "meters"),
    [
        ("500mi", 500 * 1609.344),
        ("500", 500 * 1609.344),
        ("800km", 800_000.0),
        ("250 nm", 250 * 1852.0),
        ("2 miles", 2 * 1609.344),
    ],
)
def test_parse_radius(text: str, meters: float) -> None:
    assert parse_radius(text).meters == pytest.approx(meters)


@pytest.mark.parametrize("text", ["500 parsecs", "-5mi", "0km", "far"])
def test_parse_radius_rejects(text: str) -> None:
    with pytest.raises(UserInputError, match="radius"):
        parse_radius(text)


@pytest.mark.parametrize("text", ["33.89", "33.89,35.5,1", "91,0", "0,181", "a,b"])
def test_parse_point_rejects(text: str) -> None:
    with pytest.raises(UserInputError, match="location"):
        parse_point(text)


def test_haversine_matches_the_spherical_law_of_cosines() -> None:
    """Beirut to Tehran, Geneva and itself, against an independent formula."""
    beirut = Point(33.89, 35.50)
    targets = [(35.6892, 51.3890), (46.2044, 6.1432), (33.89, 35.50), (-33.87, 151.21)]
    got = haversine_m([t[0] for t in targets], [t[1] for t in targets], beirut)
    for (lat, lon), d in zip(targets, got, strict=True):
        p1, p2 = math.radians(beirut.lat), math.radians(lat)
        c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(
            math.radians(lon - beirut.lon)
        )
        expected = 6_371_008.8 * math.acos(max(-1.0, min(1.0, c)))
        assert d == pytest.approx(expected, abs=1.0)
    assert np.all(np.diff(got[:2]) > 0)  # Geneva is farther than Tehran


def test_destination_lies_at_the_distance_asked() -> None:
    """destination() and haversine agree, in every direction and across the antimeridian."""
    from sitroom.domain.geo import destination

    start = Point(33.8938, 35.5018)
    for bearing in (0, 45, 90, 180, 270):
        for metres in (1e3, 804_672.0, 1_287_475.0):
            p = destination(start, bearing, metres)
            assert abs(haversine_m([p.lat], [p.lon], start)[0] - metres) < 1e-3
    east = destination(Point(0.0, 179.0), 90, 300_000)
    assert -180 <= east.lon < -177
