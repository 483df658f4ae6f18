"""The map data shipped with sitroom: Natural Earth country shapes and ISO 3166 codes, loaded
once from the package. Connectors use it to give every event an ISO alpha-3 country (UCDP names
countries its own way; ACLED gives the numeric code) and to place actors on the map."""

from __future__ import annotations

import csv
import functools
import io
import json
from importlib import resources

import numpy.typing as npt

from sitroom.domain.geography import Countries, decode


@functools.cache
def countries() -> Countries:
    text = resources.files("sitroom").joinpath("data", "geometry", "countries-50m.json").read_text()
    return Countries(decode(json.loads(text)))


@functools.cache
def iso3_by_numeric() -> dict[str, str]:
    """ISO 3166-1 numeric (zero-padded, "422") -> alpha-3 ("LBN")."""
    text = (
        resources.files("sitroom")
        .joinpath("data", "lookups", "country-codes.csv")
        .read_text(encoding="utf-8")
    )
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        numeric, alpha3 = row.get("ISO3166-1-numeric", ""), row.get("ISO3166-1-Alpha-3", "")
        if numeric and alpha3:
            out[numeric.zfill(3)] = alpha3
    return out


def iso3_at(lat: npt.ArrayLike, lon: npt.ArrayLike) -> list[str | None]:
    """The alpha-3 code of the country each point lies in (None at sea)."""
    codes = iso3_by_numeric()
    return [None if n is None else codes.get(n) for n in countries().locate(lat, lon)]


def place_of(iso3: str) -> dict[str, float | str] | None:
    """A representative point for a country, to place an actor on the map."""
    numeric = {v: k for k, v in iso3_by_numeric().items()}.get(iso3.upper())
    country = countries().by_numeric.get(numeric or "")
    if country is None:
        return None
    lat, lon = country.representative_point()
    return {"country": iso3.upper(), "lat": round(lat, 4), "lon": round(lon, 4)}
