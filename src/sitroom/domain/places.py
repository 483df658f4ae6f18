"""Places a rule or a query can name instead of LAT,LON: the capitals and cities that negotiation
tracks and their crises keep returning to. Coordinates are city centres (WGS 84), public
knowledge; a place not here is given as LAT,LON."""

from __future__ import annotations

from sitroom.domain.geo import Point

PLACES: dict[str, Point] = {
    "abu dhabi": Point(24.4539, 54.3773),
    "amman": Point(31.9454, 35.9284),
    "ankara": Point(39.9334, 32.8597),
    "baghdad": Point(33.3152, 44.3661),
    "beirut": Point(33.8938, 35.5018),
    "brussels": Point(50.8503, 4.3517),
    "cairo": Point(30.0444, 31.2357),
    "damascus": Point(33.5138, 36.2765),
    "doha": Point(25.2854, 51.5310),
    "gaza": Point(31.5017, 34.4668),
    "geneva": Point(46.2044, 6.1432),
    "istanbul": Point(41.0082, 28.9784),
    "jerusalem": Point(31.7683, 35.2137),
    "kyiv": Point(50.4501, 30.5234),
    "london": Point(51.5074, -0.1278),
    "moscow": Point(55.7558, 37.6173),
    "muscat": Point(23.5880, 58.3829),
    "new york": Point(40.7128, -74.0060),
    "oslo": Point(59.9139, 10.7522),
    "paris": Point(48.8566, 2.3522),
    "riyadh": Point(24.7136, 46.6753),
    "sanaa": Point(15.3694, 44.1910),
    "tehran": Point(35.6892, 51.3890),
    "tel aviv": Point(32.0853, 34.7818),
    "vienna": Point(48.2082, 16.3738),
    "washington": Point(38.9072, -77.0369),
}


def find_place(name: str) -> Point | None:
    return PLACES.get(" ".join(name.split()).casefold())


def place(text: str) -> Point:
    """A known place by name ('Beirut', 'Geneva') or LAT,LON ('33.89,35.50')."""
    from sitroom.domain.geo import parse_point

    found = find_place(text)
    return found if found is not None else parse_point(text)


# Each place's IANA time zone: where a meeting there keeps its working hours.
ZONES: dict[str, str] = {
    "abu dhabi": "Asia/Dubai",
    "amman": "Asia/Amman",
    "ankara": "Europe/Istanbul",
    "baghdad": "Asia/Baghdad",
    "beirut": "Asia/Beirut",
    "brussels": "Europe/Brussels",
    "cairo": "Africa/Cairo",
    "damascus": "Asia/Damascus",
    "doha": "Asia/Qatar",
    "gaza": "Asia/Gaza",
    "geneva": "Europe/Zurich",
    "istanbul": "Europe/Istanbul",
    "jerusalem": "Asia/Jerusalem",
    "kyiv": "Europe/Kyiv",
    "london": "Europe/London",
    "moscow": "Europe/Moscow",
    "muscat": "Asia/Muscat",
    "new york": "America/New_York",
    "oslo": "Europe/Oslo",
    "paris": "Europe/Paris",
    "riyadh": "Asia/Riyadh",
    "sanaa": "Asia/Aden",
    "tehran": "Asia/Tehran",
    "tel aviv": "Asia/Jerusalem",
    "vienna": "Europe/Vienna",
    "washington": "America/New_York",
}


def place_zone(name: str) -> str | None:
    return ZONES.get(" ".join(name.split()).casefold())
