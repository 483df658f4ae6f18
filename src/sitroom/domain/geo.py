"""Great-circle geometry on a spherical Earth, vectorised with numpy."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sitroom.domain.wording import shown
from sitroom.errors import UserInputError

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
HALF_EARTH_M = math.pi * EARTH_RADIUS_M  # the farthest any two places are apart
UNIT_M = {"mi": 1609.344, "km": 1000.0, "nm": 1852.0, "m": 1.0}
_RADIUS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mi|miles?|km|nm|nmi|m)?\s*$", re.IGNORECASE)
_ALIASES = {"mile": "mi", "miles": "mi", "nmi": "nm"}


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Radius:
    meters: float
    text: str  # as the user wrote it, normalised: "500mi"

    @classmethod
    def parse(cls, text: str) -> Radius:
        """'500mi', '800km', '250nm' or a bare number of miles."""
        return parse_radius(text)


def parse_point(text: str) -> Point:
    """'33.89,35.50' (latitude, longitude in decimal degrees)."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise UserInputError(
            f"cannot read location {text!r}: expected LAT,LON in decimal degrees, "
            "such as 33.89,35.50"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or np.isnan(lat) or np.isnan(lon):
        raise UserInputError(
            f"location {text!r} is off the globe: latitude must be within ±90 "
            "and longitude within ±180"
        )
    return Point(lat, lon)


def parse_radius(text: str) -> Radius:
    """'500mi', '800km', '250nm' or a bare number of miles."""
    m = _RADIUS.match(text)
    if not m:
        raise UserInputError(
            f"cannot read radius {shown(text)}: expected a distance such as 500mi, "
            "800km or 250nm (miles when no unit is given)"
        )
    unit = (m.group(2) or "mi").lower()
    unit = _ALIASES.get(unit, unit)
    value = float(m.group(1))
    if value <= 0:
        raise UserInputError(f"radius {shown(text)} must be greater than zero")
    meters = value * UNIT_M[unit]
    if meters > HALF_EARTH_M:  # and a thirty-digit one, whose infinity no JSON can hold
        raise UserInputError(
            f"radius {shown(text)} is more than half the Earth's circumference "
            f"({HALF_EARTH_M / 1000:,.0f} km), which holds every place already"
        )
    return Radius(meters, f"{m.group(1)}{unit}")


def haversine_m(lat: npt.ArrayLike, lon: npt.ArrayLike, center: Point) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres from ``center`` to each (lat, lon)."""
    phi1, lam1 = np.radians(center.lat), np.radians(center.lon)
    phi2 = np.radians(np.asarray(lat, dtype=np.float64))
    lam2 = np.radians(np.asarray(lon, dtype=np.float64))
    a = (
        np.sin((phi2 - phi1) / 2) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2) ** 2
    )
    d: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return d


def destination(start: Point, bearing_deg: float, meters: float) -> Point:
    """The point ``meters`` along the great circle from ``start`` at ``bearing_deg`` (clockwise
    from north): "800 miles east of Beirut", for scenarios, tests and benchmarks."""
    d, b = meters / EARTH_RADIUS_M, np.radians(bearing_deg)
    la, lo = np.radians(start.lat), np.radians(start.lon)
    lat = np.arcsin(np.sin(la) * np.cos(d) + np.cos(la) * np.sin(d) * np.cos(b))
    lon = lo + np.arctan2(np.sin(b) * np.sin(d) * np.cos(la), np.cos(d) - np.sin(la) * np.sin(lat))
    return Point(float(np.degrees(lat)), float((np.degrees(lon) + 540) % 360 - 180))
