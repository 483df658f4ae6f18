"""Countries on the map from Natural Earth's shapes: the right country for known cities (coastal
ones included), none at sea, and a representative point inside its own country."""

from __future__ import annotations

import pytest

from sitroom.adapters import maps
from sitroom.domain.places import PLACES

EXPECTED = {
    "beirut": "LBN",  # on the coast: just outside the 1:50m coastline, found by the nudge
    "tehran": "IRN",
    "geneva": "CHE",
    "tel aviv": "ISR",
    "gaza": "PSE",
    "damascus": "SYR",
    "muscat": "OMN",
    "doha": "QAT",
    "vienna": "AUT",
    "washington": "USA",
    "kyiv": "UKR",
    "sanaa": "YEM",
}


def test_cities_lie_in_their_countries_and_the_sea_in_none() -> None:
    names = sorted(EXPECTED)
    got = maps.iso3_at([PLACES[n].lat for n in names], [PLACES[n].lon for n in names])
    assert dict(zip(names, got, strict=True)) == EXPECTED
    assert maps.iso3_at([0.0, -40.0, 35.0], [-30.0, -120.0, 18.0]) == [None, None, None]


@pytest.mark.parametrize("iso3", ["LBN", "IRN", "CHE", "OMN", "USA", "ISR"])
def test_a_countrys_map_point_lies_in_it(iso3: str) -> None:
    where = maps.place_of(iso3)
    assert where is not None
    assert maps.iso3_at([where["lat"]], [where["lon"]]) == [iso3]


def test_an_unknown_code_has_no_place() -> None:
    assert maps.place_of("XXX") is None
