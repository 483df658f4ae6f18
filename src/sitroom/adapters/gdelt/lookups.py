"""GDELT's lookup tables: CAMEO event codes and Goldstein values, actor codes, and FIPS 10-4 →
ISO 3166 alpha-3 for GDELT's geography. Read from the package data, so an installed sitroom
needs nothing beside it. All codes are strings: "01" ≠ "010" ≠ "10"."""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

# GDELT's geography uses FIPS 10-4 codes that country-codes.csv writes differently or lacks.
# The table gives Palestine "GZWE" and Serbia "RIKV"; GDELT uses GZ (Gaza Strip) and WE (West
# Bank), RI (Serbia) and KV (Kosovo), SV (Svalbard) and JN (Jan Mayen).
FIPS_EXTRA: dict[str, str | None] = {
    "GZ": "PSE",
    "WE": "PSE",
    "RI": "SRB",
    "KV": "XKX",
    "SV": "SJM",
    "JN": "SJM",
    "YI": "SRB",  # "Serbia and Montenegro", a retired code GDELT still emits; Serbia succeeded it
    # Areas that are no country: kept on the map, with no ISO code.
    "OS": None,  # oceans
    "PF": None,  # Paracel Islands
    "PG": None,  # Spratly Islands
    "AY": "ATA",  # Antarctica
}


@dataclass(frozen=True)
class Lookups:
    event_codes: dict[str, str]  # CAMEO event code -> description
    goldstein: dict[str, float]  # CAMEO event code -> Goldstein scale value
    countries: dict[str, str]  # CAMEO actor country code -> label (plus ISO alpha-3)
    types: dict[str, str]
    known_groups: dict[str, str]
    religions: dict[str, str]
    ethnic: dict[str, str]
    fips_to_iso: dict[str, str | None]  # FIPS 10-4 -> ISO alpha-3 (None: not a country)
    iso3: frozenset[str]


def _table(name: str) -> dict[str, str]:
    text = resources.files("sitroom").joinpath("data", "lookups", name).read_text("utf-8")
    rows = csv.reader(io.StringIO(text.replace("\r\n", "\n")), delimiter="\t")
    next(rows)  # header
    return {r[0].strip(): r[1].strip() for r in rows if len(r) >= 2 and r[0].strip()}


@functools.lru_cache(maxsize=1)
def load_lookups() -> Lookups:
    text = (
        resources.files("sitroom")
        .joinpath("data", "lookups", "country-codes.csv")
        .read_text("utf-8")
    )
    iso_rows = list(csv.DictReader(io.StringIO(text)))
    iso3 = {
        r["ISO3166-1-Alpha-3"].strip(): r["CLDR display name"].strip()
        for r in iso_rows
        if r["ISO3166-1-Alpha-3"].strip()
    }
    fips: dict[str, str | None] = {}
    for r in iso_rows:
        code = r["FIPS"].strip()
        if len(code) == 2 and code.isalpha() and code.isupper():
            fips[code] = r["ISO3166-1-Alpha-3"].strip()
    fips.update(FIPS_EXTRA)
    countries = {**{k: v for k, v in iso3.items()}, **_table("CAMEO.country.txt")}
    return Lookups(
        event_codes=_table("CAMEO.eventcodes.txt"),
        goldstein={k: float(v) for k, v in _table("CAMEO.goldsteinscale.txt").items()},
        countries=countries,
        types=_table("CAMEO.type.txt"),
        known_groups=_table("CAMEO.knowngroup.txt"),
        religions=_table("CAMEO.religion.txt"),
        ethnic=_table("CAMEO.ethnic.txt"),
        fips_to_iso=fips,
        iso3=frozenset(iso3),
    )
