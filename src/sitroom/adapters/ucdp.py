"""UCDP GED: the Uppsala Conflict Data Program's Georeferenced Event Dataset, as CSV.

Each row is one event of organised violence: a dyad (side A against side B) in a conflict, a
precise location, a date range and fatalities as best / low / high estimates. Values are kept
exactly as given. Some real rows break low <= best <= high; they are accepted and flagged
(``fatalities.consistent`` false), never corrected.

UCDP revises past events between releases (and monthly candidate data more often). So each
upstream *version* of an event is its own record. The id is the event id plus a digest of the
row's content: re-ingesting a file adds nothing, a revised row adds a new version, and both
versions stay readable side by side (``event_id`` links them).

Payload of record kind ``ucdp.event`` v1:

    event_id            int        id
    relid               str
    year                int
    type_of_violence    int        1 state-based, 2 non-state, 3 one-sided
    violence            str        its name
    conflict            {id, name}
    dyad                {id, name}
    side_a, side_b      {id, name, gwno}   (side_b.gwno null for non-state / one-sided sides)
    location            {where, precision, adm_1, adm_2, lat, lon, country, country_iso,
                         country_id, region, priogrid}   (country_iso: ISO alpha-3 of the point,
                         from Natural Earth's shapes; null at sea)
    date_start, date_end  "YYYY-MM-DD";  date_precision  int 1-5
    fatalities          {best, low, high, side_a, side_b, civilians, unknown, consistent}
    sources             {count, article, office, date, headline, original}
    event_clarity       int;  code_status  str;  active_year  bool

Line numbers in quarantine are physical lines of the file (the header is line 1): a quoted
field may hold newlines, so a row can span several lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import polars as pl

from sitroom.adapters import maps
from sitroom.adapters.inputs import Input, Rejected, quarantine
from sitroom.application.ports import Chunk
from sitroom.domain import sources
from sitroom.domain.kinds import UCDP_EVENT
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import MS_PER_DAY
from sitroom.errors import SourceError

SOURCE = "ucdp-ged"
VIOLENCE = {1: "state-based conflict", 2: "non-state conflict", 3: "one-sided violence"}
REQUIRED = (
    "id",
    "relid",
    "year",
    "type_of_violence",
    "conflict_new_id",
    "conflict_name",
    "dyad_new_id",
    "dyad_name",
    "side_a_new_id",
    "side_a",
    "side_b_new_id",
    "side_b",
    "latitude",
    "longitude",
    "country",
    "date_start",
    "date_end",
    "best",
    "high",
    "low",
)
OPTIONAL = (
    "active_year",
    "code_status",
    "number_of_sources",
    "source_article",
    "source_office",
    "source_date",
    "source_headline",
    "source_original",
    "where_prec",
    "where_description",
    "adm_1",
    "adm_2",
    "priogrid_gid",
    "country_id",
    "region",
    "event_clarity",
    "date_prec",
    "deaths_a",
    "deaths_b",
    "deaths_civilians",
    "deaths_unknown",
    "gwnoa",
    "gwnob",
)


def declaration() -> Record:
    """UCDP publishes candidate events monthly (and a yearly release)."""
    return sources.declaration(
        SOURCE,
        "UCDP Georeferenced Event Dataset (monthly candidate events, yearly release)",
        31 * MS_PER_DAY,
        publisher="Uppsala Conflict Data Program, Uppsala University",
        url="https://ucdp.uu.se/downloads/",
        licence="CC BY 4.0: cite Sundberg & Melander (2013) and the release used",
    )


def chunks(inp: Input, *, chunk_rows: int = 50_000) -> Iterator[Chunk]:
    """Records for a UCDP GED CSV export: its events, then its rejected rows."""
    frame = _read(inp)
    lines = _first_lines(frame)
    for off in range(0, frame.height, chunk_rows):
        part = frame.slice(off, chunk_rows)
        part_lines = lines.slice(off, chunk_rows)
        checked = part.with_columns(part_lines.alias("_line"), _reason().alias("_reason"))
        good = checked.filter(pl.col("_reason").is_null())
        bad = checked.filter(pl.col("_reason").is_not_null())
        yield Chunk(_records(good) if good.height else RecordBatch.empty(), part.height)
        if bad.height:
            yield Chunk(quarantine("ucdp", SOURCE, inp, _rejected(inp, bad)), 0)


def _read(inp: Input) -> pl.DataFrame:
    data = bytes(inp.data)
    if not data.strip():
        raise SourceError(f"{inp.label}: empty file (expected a UCDP GED CSV export)")
    try:
        frame = pl.read_csv(data, infer_schema=False, encoding="utf8")
    except pl.exceptions.PolarsError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SourceError(f"{inp.label}: not a readable CSV file ({first})") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{inp.label}: not a UCDP GED export: missing column(s) {', '.join(missing)}"
        )
    absent = [c for c in OPTIONAL if c not in frame.columns]
    return frame.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in absent)


def _first_lines(frame: pl.DataFrame) -> pl.Series:
    """The physical line each row starts on: the header is line 1, and a row spans one line
    plus the newlines inside its quoted fields."""
    inside = pl.sum_horizontal(
        pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns
    )
    span = frame.select((inside + 1).alias("span"))["span"]
    return (span.cum_sum() - span + 2).alias("_line")


def _int(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().cast(pl.Int64, strict=False)


def _float(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)


def _date(col: str) -> pl.Expr:
    # UCDP writes "YYYY-MM-DD HH:MM:SS.000" (all times midnight) or plain "YYYY-MM-DD".
    return pl.col(col).str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _count_ok(col: str, required: bool) -> pl.Expr:
    value = _int(col)
    valid = value.is_not_null() & (value >= 0)
    return valid if required else (pl.col(col).is_null() | valid)


def _reason() -> pl.Expr:
    checks: list[tuple[pl.Expr, str, str]] = [
        (_int("id").is_null() | (_int("id") <= 0), "id is not a positive integer", "id"),
        (
            ~_int("type_of_violence").is_between(1, 3),
            "type_of_violence is not 1-3",
            "type_of_violence",
        ),
        (_date("date_start").is_null(), "date_start is not a date", "date_start"),
        (_date("date_end").is_null(), "date_end is not a date", "date_end"),
        (_date("date_end") < _date("date_start"), "date_end is before date_start", "date_end"),
        (~_float("latitude").abs().le(90), "latitude is not a latitude", "latitude"),
        (~_float("longitude").abs().le(180), "longitude is not a longitude", "longitude"),
        *[
            (~_count_ok(c, required=True), f"{c} is not a count of deaths", c)
            for c in ("best", "low", "high")
        ],
        *[
            (~_count_ok(c, required=False), f"{c} is not a count of deaths", c)
            for c in ("deaths_a", "deaths_b", "deaths_civilians", "deaths_unknown")
        ],
    ]
    return pl.coalesce(
        pl.when(cond.fill_null(True)).then(pl.format(f"{why}: '{{}}'", pl.col(col).fill_null("")))
        for cond, why, col in checks
    )


def _records(df: pl.DataFrame) -> RecordBatch:
    # A version's identity is its content: the same row again is a duplicate, a revised row a
    # new version. (Polars' own hash is not stable across releases, so hashlib it is.)
    text = df.select(
        pl.concat_str(pl.all().exclude("_line", "_reason").fill_null("\x00"), separator="\x1f")
    )
    digests = [
        hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in text.to_series().to_list()
    ]
    # UCDP names countries its own way ("DR Congo (Zaire)"); the point's country on the map
    # gives every event the ISO code other sources use.
    iso3 = maps.iso3_at(
        df.select(_float("latitude")).to_series(), df.select(_float("longitude")).to_series()
    )
    df = df.with_columns(pl.Series("_iso3", iso3, dtype=pl.Utf8))
    start = _date("date_start").cast(pl.Datetime("ms")).cast(pl.Int64)
    end = (_date("date_end").cast(pl.Datetime("ms")).cast(pl.Int64)) + MS_PER_DAY
    best, low, high = _int("best"), _int("low"), _int("high")
    payload = pl.struct(
        _int("id").alias("event_id"),
        pl.col("relid"),
        _int("year").alias("year"),
        _int("type_of_violence").alias("type_of_violence"),
        _int("type_of_violence")
        .replace_strict(VIOLENCE, default=None, return_dtype=pl.Utf8)
        .alias("violence"),
        pl.struct(_int("conflict_new_id").alias("id"), pl.col("conflict_name").alias("name")).alias(
            "conflict"
        ),
        pl.struct(_int("dyad_new_id").alias("id"), pl.col("dyad_name").alias("name")).alias("dyad"),
        pl.struct(
            _int("side_a_new_id").alias("id"),
            pl.col("side_a").alias("name"),
            pl.col("gwnoa").alias("gwno"),
        ).alias("side_a"),
        pl.struct(
            _int("side_b_new_id").alias("id"),
            pl.col("side_b").alias("name"),
            pl.col("gwnob").alias("gwno"),
        ).alias("side_b"),
        pl.struct(
            pl.col("where_description").alias("where"),
            _int("where_prec").alias("precision"),
            pl.col("adm_1"),
            pl.col("adm_2"),
            _float("latitude").alias("lat"),
            _float("longitude").alias("lon"),
            pl.col("country"),
            pl.col("_iso3").alias("country_iso"),
            _int("country_id").alias("country_id"),
            pl.col("region"),
            _int("priogrid_gid").alias("priogrid"),
        ).alias("location"),
        _date("date_start").dt.strftime("%Y-%m-%d").alias("date_start"),
        _date("date_end").dt.strftime("%Y-%m-%d").alias("date_end"),
        _int("date_prec").alias("date_precision"),
        pl.struct(
            best.alias("best"),
            low.alias("low"),
            high.alias("high"),
            _int("deaths_a").alias("side_a"),
            _int("deaths_b").alias("side_b"),
            _int("deaths_civilians").alias("civilians"),
            _int("deaths_unknown").alias("unknown"),
            ((low <= best) & (best <= high)).alias("consistent"),
        ).alias("fatalities"),
        pl.struct(
            _int("number_of_sources").alias("count"),
            pl.col("source_article").alias("article"),
            pl.col("source_office").alias("office"),
            pl.col("source_date").alias("date"),
            pl.col("source_headline").alias("headline"),
            pl.col("source_original").alias("original"),
        ).alias("sources"),
        _int("event_clarity").alias("event_clarity"),
        pl.col("code_status"),
        (pl.col("active_year") == "1").alias("active_year"),
    )
    out = df.select(
        (pl.lit(f"{SOURCE}:") + pl.col("id").str.strip_chars() + "@" + pl.Series(digests)).alias(
            "id"
        ),
        start.alias("valid_from"),
        end.alias("valid_to"),
        payload.alias("payload"),
    )
    return RecordBatch.from_columns(
        id=out["id"].to_arrow(),
        kind=UCDP_EVENT,
        kind_version=UCDP_EVENT.version,
        valid_from=out["valid_from"].to_arrow(),
        valid_to=out["valid_to"].to_arrow(),
        source=SOURCE,
        compartment="",
        payload=out["payload"].to_arrow(),
    )


def _rejected(inp: Input, bad: pl.DataFrame) -> list[Rejected]:
    """Rejected rows with their exact text, cut from the file by line (they are few)."""
    lines = bytes(inp.data).decode("utf-8", "replace").split("\n")
    starts = bad["_line"].to_list()
    spans = bad.select(
        pl.sum_horizontal(
            pl.col(c).str.count_matches("\n", literal=True).fill_null(0)
            for c in bad.columns
            if c not in ("_line", "_reason")
        )
        + 1
    ).to_series()
    return [
        Rejected(line, "\n".join(lines[line - 1 : line - 1 + span]).rstrip("\r"), reason)
        for line, span, reason in zip(
            starts, spans.to_list(), bad["_reason"].to_list(), strict=True
        )
    ]
