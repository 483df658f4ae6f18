"""GDELT event files, parsed and normalised column-wise (polars): no per-row Python.

A file may mix GDELT 2.0 rows (61 tab-separated fields) with GDELT 1.0 rows (58 fields in daily
files, 57 in the historical backfiles, which lack SOURCEURL). Each row is routed by its field
count; a row that cannot be accepted is quarantined with its 1-based line number, raw text and a
reason naming the column and the value — never dropped, never a crash.

Whatever the file holds, memory follows a chunk (at most 100,000 lines or 64 MiB), not the file:
a line longer than any row (64 KiB) is read by its start only, lines no format can split (empty,
not UTF-8, a wrong field count) are refused by their shape before any is split into fields, and
a run of identical such lines is counted once (one quarantine record with its count).

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

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.adapters.gdelt.lookups import Lookups
from sitroom.adapters.inputs import RAW_KEPT
from sitroom.domain.kinds import QUAD_CLASS_NAMES
from sitroom.domain.timeutil import EARLIEST_DATE, LATEST_DATE, MS_PER_DAY, SANE_DATES

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


MAX_LINE = 64 * 1024  # bytes: no real GDELT row comes near (the longest are a few KB of URL)
CHUNK_BYTES = 64 << 20  # the most bytes parsed at once, whatever the line count
_SCAN = 1 << 18  # bytes searched for line breaks at a time: a window holds more breaks than a
# part needs only when lines are short, and then the rest are found again for the next part
# (a 1 MiB window made a file of 64M empty lines 15x slower to cut, a real file 10% faster)
_NL = ord("\n")


@dataclass(frozen=True)
class ParsedChunk:
    # source, source_id, valid_from, valid_to, lat, lon, payload (a struct: the typed payload)
    events: pl.DataFrame
    # The rejected rows in line order, for inputs.quarantine: line, raw (their text, or only
    # the start of a line longer than MAX_LINE), reason, raw_bytes (the row's length), and
    # count and last_line (a run of identical unreadable lines is one row already).
    quarantined: pl.DataFrame
    lines: int  # lines this chunk covered: accepted + quarantined


@dataclass(frozen=True)
class _Part:
    """Whole lines of the file, or the start of one line too long to read (``length`` set)."""

    data: bytes
    lines: int
    first_line: int  # 1-based
    length: int | None = None  # the bytes of that one long line


def parse_gdelt(
    data: bytes | mmap.mmap,
    lookups: Lookups,
    *,
    chunk_rows: int = 100_000,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[ParsedChunk]:
    """The file, parsed a chunk of at most ``chunk_rows`` lines and ``chunk_bytes`` bytes at a
    time: memory follows the chunk, not the file, whatever the file holds."""
    for part in _row_chunks(data, max(chunk_rows, 1), max(chunk_bytes, 2 * MAX_LINE)):
        yield _parse_part(part, lookups)


def _row_chunks(data: bytes | mmap.mmap, rows: int, most: int) -> Iterator[_Part]:
    """The file cut into parts of whole lines, at most ``rows`` lines and ``most`` bytes each,
    so that the first is parsed and appended while the rest is still being cut. Line breaks
    are found a window at a time (numpy, C speed) however short the lines are. A line longer
    than :data:`MAX_LINE` is a part of its own holding only its start: its end is found by a
    memchr-speed ``find``, and it is never copied whole."""
    n, pos, line = len(data), 0, 1
    while pos < n:
        if n - pos > MAX_LINE and data.find(b"\n", pos, pos + MAX_LINE + 1) < 0:
            nl = data.find(b"\n", pos + MAX_LINE + 1)
            end = n if nl < 0 else nl + 1
            yield _Part(bytes(data[pos : pos + RAW_KEPT]), 1, line, (end - pos) - (nl >= 0))
            pos, line = end, line + 1
            continue
        stop = min(pos + most, n)
        if stop < n:
            stop = data.rfind(b"\n", pos, stop) + 1  # the first line ends within MAX_LINE
        end, lines = _cut(data, pos, stop, rows)
        yield _Part(bytes(data[pos:end]), lines, line)
        pos, line = end, line + lines


def _cut(data: bytes | mmap.mmap, pos: int, stop: int, rows: int) -> tuple[int, int]:
    """Where the part starting at ``pos`` ends, and its number of lines: at ``stop``, after
    ``rows`` lines, or before a line longer than :data:`MAX_LINE` (a part of its own), whichever
    comes first. The line at ``pos`` is no longer than that."""
    counted, at, start = 0, pos, pos  # start: where the current line starts
    while at < stop:
        upto = min(at + _SCAN, stop)
        breaks = np.flatnonzero(np.frombuffer(data, np.uint8, upto - at, at) == _NL) + at
        starts = np.concatenate(([start], breaks[:-1] + 1))
        long = np.flatnonzero(breaks - starts > MAX_LINE)
        if len(long) and long[0] < rows - counted:
            return int(starts[long[0]]), counted + int(long[0])
        if counted + len(breaks) >= rows:
            return int(breaks[rows - counted - 1]) + 1, rows
        if len(breaks):
            start = int(breaks[-1]) + 1
        counted, at = counted + len(breaks), upto
    if stop - start > MAX_LINE:  # a last line without a break, too long
        return start, counted
    return stop, counted + (data[stop - 1 : stop] != b"\n")


def _parse_part(part: _Part, lk: Lookups) -> ParsedChunk:
    """One part: read straight into fields when it is clean GDELT 2.0; else split into lines,
    the lines no format can read (too long, not UTF-8, empty, a wrong number of fields)
    quarantined on the spot, and only the others split into fields and checked. A part of
    garbage never becomes 61 columns."""
    numbers = pl.int_range(part.first_line, part.first_line + part.lines, dtype=pl.Int64)
    frame = _all_v2(part.data, part.lines) if part.length is None else None
    if frame is not None:  # no line in a part is longer than MAX_LINE (_row_chunks)
        fields = frame.with_columns(numbers.alias("_line"), pl.lit(V2, pl.Int64).alias("_nf"))
        return _parse_chunk(fields, lk, part.lines)
    lines = _lines(part).with_columns(
        numbers.alias("_line"),
        (pl.col("raw").str.count_matches("\t", literal=True) + 1).cast(pl.Int64).alias("_nf"),
    )
    unreadable = _unreadable()
    unread = _runs(lines.filter(unreadable)).select(
        pl.col("_line").alias("line"),
        "raw",
        _shape().alias("reason"),
        pl.col("_bytes").alias("raw_bytes"),
        "count",
        "last_line",
    )
    rows = lines.filter(~unreadable)
    if not rows.height:  # garbage only: nothing to split into fields
        return ParsedChunk(_no_events(lk), unread, part.lines)
    parsed = _parse_chunk(_split(rows), lk, part.lines)
    if not unread.height:
        return parsed
    quarantined = pl.concat([unread, parsed.quarantined]).sort("line")
    return ParsedChunk(parsed.events, quarantined, part.lines)


def _unreadable() -> pl.Expr:
    """Lines no format can split into a row's fields (:func:`_shape` says why)."""
    return (
        (pl.col("_bytes") > MAX_LINE)
        | pl.col("_bad_utf8")
        | (pl.col("raw") == "")
        | ~pl.col("_nf").is_in([V2, V1, V1_BACKFILE])
    )


def _runs(lines: pl.DataFrame) -> pl.DataFrame:
    """Runs of identical unreadable lines on consecutive lines, each as its first line with its
    ``count`` and ``last_line``: a file of newlines is a few runs, not a reason per line (the
    reason is the line's alone, so it is the same for the whole run)."""
    same = (
        (pl.col("raw") == pl.col("raw").shift(1))
        & (pl.col("_bytes") == pl.col("_bytes").shift(1))
        & (pl.col("_line") == pl.col("_line").shift(1) + 1)
    )
    return (
        lines.with_columns((~same.fill_null(False)).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(
            pl.all().exclude("_line").first(),
            pl.col("_line").first(),
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("_line").last().alias("last_line"),
        )
    )


def _no_events(lk: Lookups) -> pl.DataFrame:
    """The events of a part without a row: none, with their columns (made once)."""
    global _NO_EVENTS
    if _NO_EVENTS is None:
        empty = pl.DataFrame(schema={"raw": pl.Utf8, "_line": pl.Int64, "_nf": pl.Int64})
        _NO_EVENTS = _parse_chunk(_split(empty.with_columns(_bytes=0)), lk, 0).events
    return _NO_EVENTS


_NO_EVENTS: pl.DataFrame | None = None


def _shape() -> pl.Expr:
    """Why a line cannot be split into a row's fields, or null."""
    nf = pl.col("_nf")
    return pl.coalesce(
        pl.when(pl.col("_bytes") > MAX_LINE).then(_too_long()),
        pl.when(pl.col("_bad_utf8")).then(pl.lit("not valid UTF-8")),
        pl.when(pl.col("raw") == "").then(pl.lit("empty line")),
        pl.when(~nf.is_in([V2, V1, V1_BACKFILE])).then(
            pl.format("expected 61 fields (GDELT 2.0) or 57/58 (GDELT 1.0), got {}", nf)
        ),
    )


def _too_long() -> pl.Expr:
    return pl.format(
        f"a line of {{}} bytes, longer than any GDELT row ({MAX_LINE:,}): only its start is kept",
        pl.col("_bytes"),
    )


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


def _lines(part: _Part) -> pl.DataFrame:
    """The part's lines, split by Arrow (no Python per line): ``raw``, the text without its
    line break or a trailing \\r; ``_bytes``, the line's length; ``_bad_utf8``. A line longer
    than :data:`MAX_LINE` keeps only its start, never decoded whole. Lines that are not UTF-8
    are decoded with replacement characters (to be quarantined), once per distinct line."""
    split = pc.split_pattern(pa.array([part.data], pa.large_binary()), pattern=b"\n")
    lines = split.flatten()
    if part.data.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    lengths = pc.binary_length(lines) if part.length is None else pa.array([part.length])
    too_long = pc.greater(lengths, MAX_LINE)
    if pc.any(too_long).as_py():
        lines = pc.if_else(too_long, pc.binary_slice(lines, 0, RAW_KEPT), lines)
    try:
        frame = pl.DataFrame(
            {"raw": pl.from_arrow(pc.cast(lines, pa.large_string()))}
        ).with_columns(pl.lit(False).alias("_bad_utf8"))
    except pa.ArrowInvalid:  # some line is not UTF-8
        binary = pl.Series("_b", lines, pl.Binary)
        distinct = binary.unique(maintain_order=True)
        texts, bad = [], []
        for b in distinct.to_list():
            try:
                texts.append(b.decode("utf-8"))
                bad.append(False)
            except UnicodeDecodeError:
                texts.append(b.decode("utf-8", "replace"))
                bad.append(True)
        decoded = pl.DataFrame(
            {"_b": distinct, "raw": texts, "_bad_utf8": bad},
            schema={"_b": pl.Binary, "raw": pl.Utf8, "_bad_utf8": pl.Boolean},
        )
        frame = (
            binary.to_frame().join(decoded, on="_b", how="left", maintain_order="left").drop("_b")
        )
    return frame.with_columns(
        pl.col("raw").str.strip_suffix("\r"),
        pl.Series("_bytes", lengths, pl.Int64),
    )


def _names(fmt: int) -> list[str]:
    """Column names for the fields of a ``fmt``-field row, in order (unused ones marked)."""
    names = [f"_unused{i}" for i in range(fmt)]
    for name, pos in POSITIONS[fmt].items():
        if pos is not None:
            names[pos] = name
    return names


NAMES = {fmt: _names(fmt) for fmt in (V2, V1, V1_BACKFILE)}


def _split(df: pl.DataFrame) -> pl.DataFrame:
    """Split each row into named columns by its format (every row has one of them)."""
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
    if not parts:  # no row: the columns still have to be there
        parts.append(df.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in COLUMNS))
    out = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed").sort("_line")
    missing = [c for c in COLUMNS if c not in out.columns]  # ADM2, SOURCEURL in 1.0 rows
    return out.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in missing) if missing else out


def _nz(col: str) -> pl.Expr:
    return pl.when(pl.col(col) == "").then(None).otherwise(pl.col(col))


def _parse_chunk(df: pl.DataFrame, lk: Lookups, lines: int) -> ParsedChunk:
    """Rows split into fields, checked and normalised; ``lines``: all the part's lines."""
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
    checks = _checks(lk)
    df = df.with_columns(pl.any_horizontal(c.fill_null(False) for c, _ in checks).alias("_bad"))
    # Reasons are written for the bad rows only: formatting one per check for every row
    # would cost more than the rest of the parse.
    bad = df.filter(pl.col("_bad"))
    reason = pl.coalesce(pl.when(c.fill_null(False)).then(why) for c, why in checks)
    # The fast path keeps fields, not lines: a quarantined row's line is its fields rejoined.
    raw = pl.col("raw") if "raw" in df.columns else pl.concat_str(NAMES[V2], separator="\t")
    length = pl.col("_bytes") if "_bytes" in df.columns else raw.str.len_bytes().cast(pl.Int64)
    quarantined = bad.select(
        pl.col("_line").alias("line"),
        raw.alias("raw"),
        reason.alias("reason"),
        length.alias("raw_bytes"),
        pl.lit(1, pl.Int64).alias("count"),
        pl.col("_line").alias("last_line"),
    )
    good = df.filter(~pl.col("_bad"))
    return ParsedChunk(_events(good, lk), quarantined, lines)


Check = tuple[pl.Expr, pl.Expr]  # (the row is bad, why)


def _bad(cond: pl.Expr, template: str, col: str) -> Check:
    return cond, pl.format(template, pl.col(col))


def _checks(lk: Lookups) -> list[Check]:
    checks: list[Check] = [
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
        _bad(
            ~pl.col("_date").is_between(EARLIEST_DATE, LATEST_DATE),
            f"SQLDATE is outside {SANE_DATES}: '{{}}'",
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
    checks += [
        _bad(pl.col("_added").is_null(), "DATEADDED is not a valid date: '{}'", "DATEADDED"),
        _bad(
            ~pl.col("_added").dt.date().is_between(EARLIEST_DATE, LATEST_DATE),
            f"DATEADDED is outside {SANE_DATES}: '{{}}'",
            "DATEADDED",
        ),
    ]
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
