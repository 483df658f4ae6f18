"""GDELT event files, parsed and normalised column-wise (polars): no per-row Python.

A file may mix GDELT 2.0 rows (61 tab-separated fields) with GDELT 1.0 rows (58 fields in daily
files, 57 in the historical backfiles, which lack SOURCEURL). Each row is routed by its field
count; a row that cannot be accepted is quarantined with its 1-based line number, raw text and a
reason naming the column and the value — never dropped, never a crash.

Payload of record kind ``gdelt.event`` v1 (the published schema):

    global_event_id   int         GLOBALEVENTID
    format            str         "2.0" | "1.0" | "1.0-backfile"
    date              str         SQLDATE as YYYY-MM-DD (the day the event happened)
    date_added        str         DATEADDED: 2.0 "YYYY-MM-DDTHH:MM:SSZ", 1.0 "YYYY-MM-DD"
    is_root_event     bool
    event             {code, description, base_code, root_code, root_description,
                       quad_class (1-4), quad_class_name, goldstein}
    actor1, actor2    {code, name, country, country_name, known_group, ethnic, religion1,
                       religion2, type1, type2, type3} or null when the actor code is empty
    actor1_geo, actor2_geo, action_geo
                      {type, name, country_fips, country_iso, adm1, adm2 (2.0 only), lat, lon,
                       feature_id} or null when the geo type is 0 or empty
    num_mentions, num_sources, num_articles   int
    avg_tone          float
    source_url        str or null (null in 1.0 backfile rows)

Empty strings inside objects are null; every other value is kept as given.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from sitroom.adapters.gdelt.lookups import Lookups
from sitroom.adapters.inputs import Rejected
from sitroom.domain.kinds import QUAD_CLASS_NAMES
from sitroom.domain.timeutil import MS_PER_DAY

V2, V1, V1_BACKFILE = 61, 58, 57

# Field positions by format. 1.0 geographies lack ADM2; 1.0 backfile rows lack SOURCEURL.
_COMMON = {
    "GLOBALEVENTID": 0,
    "SQLDATE": 1,
    "Actor1Code": 5,
    "Actor1Name": 6,
    "Actor1CountryCode": 7,
    "Actor1KnownGroupCode": 8,
    "Actor1EthnicCode": 9,
    "Actor1Religion1Code": 10,
    "Actor1Religion2Code": 11,
    "Actor1Type1Code": 12,
    "Actor1Type2Code": 13,
    "Actor1Type3Code": 14,
    "Actor2Code": 15,
    "Actor2Name": 16,
    "Actor2CountryCode": 17,
    "Actor2KnownGroupCode": 18,
    "Actor2EthnicCode": 19,
    "Actor2Religion1Code": 20,
    "Actor2Religion2Code": 21,
    "Actor2Type1Code": 22,
    "Actor2Type2Code": 23,
    "Actor2Type3Code": 24,
    "IsRootEvent": 25,
    "EventCode": 26,
    "EventBaseCode": 27,
    "EventRootCode": 28,
    "QuadClass": 29,
    "GoldsteinScale": 30,
    "NumMentions": 31,
    "NumSources": 32,
    "NumArticles": 33,
    "AvgTone": 34,
}
_GEO_FIELDS = (
    "Type",
    "FullName",
    "CountryCode",
    "ADM1Code",
    "ADM2Code",
    "Lat",
    "Long",
    "FeatureID",
)
GEOS = ("Actor1Geo", "Actor2Geo", "ActionGeo")


def _positions(fmt: int) -> dict[str, int | None]:
    pos: dict[str, int | None] = dict(_COMMON)
    at = 35
    for geo in GEOS:
        for f in _GEO_FIELDS:
            if f == "ADM2Code" and fmt != V2:
                pos[f"{geo}_{f}"] = None
                continue
            pos[f"{geo}_{f}"] = at
            at += 1
    pos["DATEADDED"] = at
    pos["SOURCEURL"] = at + 1 if fmt != V1_BACKFILE else None
    return pos


POSITIONS = {fmt: _positions(fmt) for fmt in (V2, V1, V1_BACKFILE)}
COLUMNS = list(POSITIONS[V2])


@dataclass(frozen=True)
class ParsedChunk:
    # source, source_id, valid_from, valid_to, lat, lon, payload (a struct: the typed payload)
    events: pl.DataFrame
    quarantined: list[Rejected]
    lines: int  # lines this chunk covered: accepted + quarantined


def parse_gdelt(
    data: bytes | mmap.mmap, lookups: Lookups, *, chunk_rows: int = 100_000
) -> Iterator[ParsedChunk]:
    first_line = 1
    for part, lines in _row_chunks(data, chunk_rows):
        fields, undecodable = _fields(part, lines, first_line)
        yield _parse_chunk(fields, lookups, undecodable)
        first_line += lines


def _row_chunks(data: bytes | mmap.mmap, rows: int) -> Iterator[tuple[bytes, int]]:
    """The file cut after every ``rows`` lines (memchr-speed ``find``: ~20 ms per 100,000),
    so that the first chunk is parsed and appended while the rest is still being cut; with
    each part, its number of lines."""
    pos, n = 0, len(data)
    while pos < n:
        end, lines = pos, 0
        while lines < rows and end < n:
            end = data.find(b"\n", end) + 1 or n
            lines += 1
        yield data[pos:end], lines
        pos = end


def _fields(data: bytes, lines: int, first_line: int) -> tuple[pl.DataFrame, set[int]]:
    """A chunk's ``lines`` rows as named string columns, with ``_line`` and ``_nf`` (the row's
    field count), and the 1-based numbers of lines that are not valid UTF-8."""
    numbers = pl.int_range(first_line, first_line + lines, dtype=pl.Int64).alias("_line")
    frame = _all_v2(data, lines)
    if frame is not None:
        return frame.with_columns(numbers, pl.lit(V2, pl.Int64).alias("_nf")), set()
    raw, undecodable = _lines(data)
    frame = pl.DataFrame({"raw": raw}).with_columns(
        numbers,
        (pl.col("raw").str.count_matches("\t", literal=True) + 1).cast(pl.Int64).alias("_nf"),
    )
    return _split(frame), {first_line - 1 + i for i in undecodable}


def _all_v2(data: bytes, lines: int) -> pl.DataFrame | None:
    """Fast path for the common case, a chunk of clean GDELT 2.0 rows: polars' multi-threaded
    CSV reader straight into 61 string columns (2.5x faster than splitting lines). It is taken
    only when it cannot misread: exactly 60 tabs per line on average, and the reader rejects
    any line with more than 61 fields, so no line can have fewer either (an empty line has no
    tab, so it also falls back)."""
    if data.count(b"\t") != (V2 - 1) * lines:
        return None
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            separator="\t",
            quote_char=None,
            schema=dict.fromkeys(NAMES[V2], pl.Utf8),
            empty_string_is_null=False,
            encoding="utf8",
        )
    except pl.exceptions.PolarsError:
        return None  # invalid UTF-8, or a ragged line: the careful path handles it
    return frame if frame.height == lines else None


def _lines(data: bytes) -> tuple[pl.Series, set[int]]:
    """The chunk's lines (without \\n or a trailing \\r) and the 1-based numbers of lines that
    are not valid UTF-8 (kept decoded with replacement characters, to be quarantined)."""
    bad: set[int] = set()
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    decoded = []
    for i, raw in enumerate(parts, 1):
        try:
            decoded.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad.add(i)
            decoded.append(raw.decode("utf-8", "replace"))
    return pl.Series("raw", decoded, pl.Utf8).str.strip_suffix("\r"), bad


def _names(fmt: int) -> list[str]:
    """Column names for the fields of a ``fmt``-field row, in order (unused ones marked)."""
    names = [f"_unused{i}" for i in range(fmt)]
    for name, pos in POSITIONS[fmt].items():
        if pos is not None:
            names[pos] = name
    return names


NAMES = {fmt: _names(fmt) for fmt in (V2, V1, V1_BACKFILE)}


def _split(df: pl.DataFrame) -> pl.DataFrame:
    """Split each row into named columns by its format; rows of no known format keep nulls."""
    parts = []
    for fmt in (V2, V1, V1_BACKFILE):
        rows = df.filter(pl.col("_nf") == fmt)
        if rows.height:
            fields = rows.select(
                pl.col("raw").str.split_exact("\t", fmt - 1).struct.rename_fields(NAMES[fmt])
            ).unnest("raw")
            parts.append(
                pl.concat(
                    [rows, fields.select(c for c in fields.columns if not c.startswith("_unused"))],
                    how="horizontal",
                )
            )
    other = df.filter(~pl.col("_nf").is_in([V2, V1, V1_BACKFILE]))
    if other.height or not parts:
        parts.append(other.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in COLUMNS))
    out = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed").sort("_line")
    missing = [c for c in COLUMNS if c not in out.columns]  # ADM2, SOURCEURL in 1.0 rows
    return out.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in missing) if missing else out


def _nz(col: str) -> pl.Expr:
    return pl.when(pl.col(col) == "").then(None).otherwise(pl.col(col))


def _parse_chunk(df: pl.DataFrame, lk: Lookups, undecodable: set[int]) -> ParsedChunk:
    df = df.with_columns(
        pl.col("GLOBALEVENTID").cast(pl.Int64, strict=False).alias("_id"),
        pl.col("SQLDATE").str.strptime(pl.Date, "%Y%m%d", strict=False).alias("_date"),
        pl.when(pl.col("_nf") == V2)
        .then(pl.col("DATEADDED").str.strptime(pl.Datetime("ms"), "%Y%m%d%H%M%S", strict=False))
        .otherwise(
            pl.col("DATEADDED")
            .str.strptime(pl.Date, "%Y%m%d", strict=False)
            .cast(pl.Datetime("ms"))
        )
        .alias("_added"),
        pl.col("QuadClass").cast(pl.Int8, strict=False).alias("_quad"),
        pl.col("GoldsteinScale").cast(pl.Float64, strict=False).alias("_gold"),
        pl.col("AvgTone").cast(pl.Float64, strict=False).alias("_tone"),
        *[
            pl.col(c).cast(pl.Int64, strict=False).alias(f"_{c}")
            for c in ("NumMentions", "NumSources", "NumArticles")
        ],
        *[
            pl.col(f"{g}_{f}").cast(pl.Float64, strict=False).alias(f"_{g}_{f}")
            for g in GEOS
            for f in ("Lat", "Long")
        ],
        *[pl.col(f"{g}_Type").cast(pl.Int8, strict=False).alias(f"_{g}_Type") for g in GEOS],
    )
    checks = _checks(lk, undecodable, "raw" in df.columns)
    df = df.with_columns(pl.any_horizontal(c.fill_null(False) for c, _ in checks).alias("_bad"))
    # Reasons are written for the bad rows only: formatting one per check for every row
    # would cost more than the rest of the parse.
    bad = df.filter(pl.col("_bad"))
    reason = pl.coalesce(pl.when(c.fill_null(False)).then(why) for c, why in checks)
    # The fast path keeps fields, not lines: a quarantined row's line is its fields rejoined.
    raw = pl.col("raw") if "raw" in df.columns else pl.concat_str(NAMES[V2], separator="\t")
    quarantined = [
        Rejected(line, text, why)
        for line, text, why in bad.select("_line", raw, reason).iter_rows()
    ]
    good = df.filter(~pl.col("_bad"))
    return ParsedChunk(_events(good, lk), quarantined, df.height)


Check = tuple[pl.Expr, pl.Expr]  # (the row is bad, why)


def _bad(cond: pl.Expr, template: str, col: str) -> Check:
    return cond, pl.format(template, pl.col(col))


def _checks(lk: Lookups, undecodable: set[int], has_raw: bool) -> list[Check]:
    nf = pl.col("_nf")
    checks: list[Check] = [
        (pl.col("_line").is_in(list(undecodable)), pl.lit("not valid UTF-8")),
        (
            ~nf.is_in([V2, V1, V1_BACKFILE]),
            pl.format("expected 61 fields (GDELT 2.0) or 57/58 (GDELT 1.0), got {}", nf),
        ),
        _bad(
            pl.col("_id").is_null() | (pl.col("_id") <= 0),
            "GLOBALEVENTID is not a positive integer: '{}'",
            "GLOBALEVENTID",
        ),
        _bad(
            pl.col("_date").is_null() | (pl.col("SQLDATE").str.len_chars() != 8),
            "SQLDATE is not a valid YYYYMMDD date: '{}'",
            "SQLDATE",
        ),
    ]
    countries = list(lk.countries)
    for actor in ("Actor1", "Actor2"):
        c = f"{actor}CountryCode"
        checks.append(
            _bad(
                (pl.col(c) != "") & ~pl.col(c).is_in(countries),
                f"unknown actor country code in {c}: '{{}}'",
                c,
            )
        )
    checks += [
        _bad(
            ~pl.col("EventCode").is_in(list(lk.event_codes)),
            "unknown CAMEO event code in EventCode: '{}'",
            "EventCode",
        ),
        _bad(
            ~pl.col("_quad").is_between(1, 4).fill_null(False),
            "QuadClass is not 1-4: '{}'",
            "QuadClass",
        ),
        _bad(pl.col("_gold").is_null(), "GoldsteinScale is not a number: '{}'", "GoldsteinScale"),
        *[
            _bad(
                pl.col(f"_{c}").is_null() | (pl.col(f"_{c}") < 0), f"{c} is not a count: '{{}}'", c
            )
            for c in ("NumMentions", "NumSources", "NumArticles")
        ],
        _bad(pl.col("_tone").is_null(), "AvgTone is not a number: '{}'", "AvgTone"),
    ]
    fips = [k for k in lk.fips_to_iso]
    for g in GEOS:
        for f, limit in (("Lat", 90), ("Long", 180)):
            c = f"{g}_{f}"
            checks.append(
                _bad(
                    (pl.col(c) != "") & ~pl.col(f"_{c}").abs().le(limit).fill_null(False),
                    f"{c} is not a {'latitude' if f == 'Lat' else 'longitude'}: '{{}}'",
                    c,
                )
            )
        cc = f"{g}_CountryCode"
        checks.append(
            _bad(
                (pl.col(cc) != "") & ~pl.col(cc).is_in(fips),
                f"unknown FIPS country code in {cc}: '{{}}'",
                cc,
            )
        )
    checks.append(
        _bad(pl.col("_added").is_null(), "DATEADDED is not a valid date: '{}'", "DATEADDED")
    )
    if has_raw:  # only the careful path keeps lines; the fast path never sees an empty one
        checks.insert(1, (pl.col("raw") == "", pl.lit("empty line")))
    return checks


def _actor(a: str, lk: Lookups) -> pl.Expr:
    return pl.when(pl.col(f"{a}Code") != "").then(
        pl.struct(
            _nz(f"{a}Code").alias("code"),
            _nz(f"{a}Name").alias("name"),
            _nz(f"{a}CountryCode").alias("country"),
            pl.col(f"{a}CountryCode")
            .replace_strict(lk.countries, default=None)
            .alias("country_name"),
            _nz(f"{a}KnownGroupCode").alias("known_group"),
            _nz(f"{a}EthnicCode").alias("ethnic"),
            _nz(f"{a}Religion1Code").alias("religion1"),
            _nz(f"{a}Religion2Code").alias("religion2"),
            _nz(f"{a}Type1Code").alias("type1"),
            _nz(f"{a}Type2Code").alias("type2"),
            _nz(f"{a}Type3Code").alias("type3"),
        )
    )


def _geo(g: str, lk: Lookups) -> pl.Expr:
    return pl.when(pl.col(f"_{g}_Type").fill_null(0) != 0).then(
        pl.struct(
            pl.col(f"_{g}_Type").alias("type"),
            _nz(f"{g}_FullName").alias("name"),
            _nz(f"{g}_CountryCode").alias("country_fips"),
            pl.col(f"{g}_CountryCode")
            .replace_strict(lk.fips_to_iso, default=None, return_dtype=pl.Utf8)
            .alias("country_iso"),
            _nz(f"{g}_ADM1Code").alias("adm1"),
            _nz(f"{g}_ADM2Code").alias("adm2"),
            pl.col(f"_{g}_Lat").alias("lat"),
            pl.col(f"_{g}_Long").alias("lon"),
            _nz(f"{g}_FeatureID").alias("feature_id"),
        )
    )


def _events(df: pl.DataFrame, lk: Lookups) -> pl.DataFrame:
    nf = pl.col("_nf")
    payload = pl.struct(
        pl.col("_id").alias("global_event_id"),
        pl.when(nf == V2)
        .then(pl.lit("2.0"))
        .when(nf == V1)
        .then(pl.lit("1.0"))
        .otherwise(pl.lit("1.0-backfile"))
        .alias("format"),
        pl.col("_date").dt.strftime("%Y-%m-%d").alias("date"),
        pl.when(nf == V2)
        .then(pl.col("_added").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .otherwise(pl.col("_added").dt.strftime("%Y-%m-%d"))
        .alias("date_added"),
        (pl.col("IsRootEvent") == "1").alias("is_root_event"),
        pl.struct(
            pl.col("EventCode").alias("code"),
            pl.col("EventCode").replace_strict(lk.event_codes, default=None).alias("description"),
            _nz("EventBaseCode").alias("base_code"),
            _nz("EventRootCode").alias("root_code"),
            pl.col("EventRootCode")
            .replace_strict(lk.event_codes, default=None)
            .alias("root_description"),
            pl.col("_quad").alias("quad_class"),
            pl.col("_quad")
            .replace_strict(QUAD_CLASS_NAMES, default=None, return_dtype=pl.Utf8)
            .alias("quad_class_name"),
            pl.col("_gold").alias("goldstein"),
        ).alias("event"),
        _actor("Actor1", lk).alias("actor1"),
        _actor("Actor2", lk).alias("actor2"),
        *[_geo(g, lk).alias(g.replace("Geo", "_geo").lower()) for g in GEOS],
        pl.col("_NumMentions").alias("num_mentions"),
        pl.col("_NumSources").alias("num_sources"),
        pl.col("_NumArticles").alias("num_articles"),
        pl.col("_tone").alias("avg_tone"),
        _nz("SOURCEURL").alias("source_url"),
    )
    valid_from = pl.col("_date").cast(pl.Datetime("ms")).cast(pl.Int64)
    return df.select(
        pl.when(nf == V2).then(pl.lit("gdelt-v2")).otherwise(pl.lit("gdelt-v1")).alias("source"),
        pl.col("GLOBALEVENTID").alias("source_id"),
        valid_from.alias("valid_from"),
        (valid_from + MS_PER_DAY).alias("valid_to"),
        pl.col("_ActionGeo_Lat").alias("lat"),
        pl.col("_ActionGeo_Long").alias("lon"),
        payload.alias("payload"),
    )
