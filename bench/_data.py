"""Benchmark inputs, made by resampling the real GDELT rows shipped with sitroom.

Rows are drawn with replacement from the three real GDELT 2.0 export files and given fresh,
sequential GLOBALEVENTIDs (otherwise they would be duplicates of each other); every other field
is a real value. Files are cached in bench/out/.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from sitroom.testing.samples import GDELT_V2_FILES

OUT = Path(__file__).resolve().parent / "out"
GDELT_V2_COLUMNS = [
    "GLOBALEVENTID",
    "SQLDATE",
    "MonthYear",
    "Year",
    "FractionDate",
    "Actor1Code",
    "Actor1Name",
    "Actor1CountryCode",
    "Actor1KnownGroupCode",
    "Actor1EthnicCode",
    "Actor1Religion1Code",
    "Actor1Religion2Code",
    "Actor1Type1Code",
    "Actor1Type2Code",
    "Actor1Type3Code",
    "Actor2Code",
    "Actor2Name",
    "Actor2CountryCode",
    "Actor2KnownGroupCode",
    "Actor2EthnicCode",
    "Actor2Religion1Code",
    "Actor2Religion2Code",
    "Actor2Type1Code",
    "Actor2Type2Code",
    "Actor2Type3Code",
    "IsRootEvent",
    "EventCode",
    "EventBaseCode",
    "EventRootCode",
    "QuadClass",
    "GoldsteinScale",
    "NumMentions",
    "NumSources",
    "NumArticles",
    "AvgTone",
    "Actor1Geo_Type",
    "Actor1Geo_FullName",
    "Actor1Geo_CountryCode",
    "Actor1Geo_ADM1Code",
    "Actor1Geo_ADM2Code",
    "Actor1Geo_Lat",
    "Actor1Geo_Long",
    "Actor1Geo_FeatureID",
    "Actor2Geo_Type",
    "Actor2Geo_FullName",
    "Actor2Geo_CountryCode",
    "Actor2Geo_ADM1Code",
    "Actor2Geo_ADM2Code",
    "Actor2Geo_Lat",
    "Actor2Geo_Long",
    "Actor2Geo_FeatureID",
    "ActionGeo_Type",
    "ActionGeo_FullName",
    "ActionGeo_CountryCode",
    "ActionGeo_ADM1Code",
    "ActionGeo_ADM2Code",
    "ActionGeo_Lat",
    "ActionGeo_Long",
    "ActionGeo_FeatureID",
    "DATEADDED",
    "SOURCEURL",
]


def real_v2_rows() -> list[str]:
    rows: list[str] = []
    for f in GDELT_V2_FILES:
        rows += f.read_text(encoding="utf-8").splitlines()
    return rows


def resampled_v2(n: int, seed: int = 7) -> Path:
    path = OUT / f"gdelt-v2-resampled-{n}-{seed}.CSV"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    rows = [r.split("\t") for r in real_v2_rows()]
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        for i in range(n):
            r = list(rows[rng.randrange(len(rows))])
            r[0] = str(1_000_000_000 + i)
            out.write("\t".join(r) + "\n")
    tmp.rename(path)
    return path


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[
        max(0, min(998, round(q * 10) - 1))
    ]
