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

The file is read a chunk of rows at a time (adapters/csvrows.py). A row the CSV reader could
misread (another number of fields than the header, bad quoting, not UTF-8) is quarantined
before any field is read, the rest of the file ingested; so is a row with a control character
(a NUL) in a field, or a date outside the sane range (domain/timeutil.py). Line numbers in
quarantine are physical lines of the file (the header is line 1): a quoted field may hold
newlines, so a row can span several lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import polars as pl

from sitroom.adapters import csvrows, maps
from sitroom.adapters.inputs import Input, Rejected, quarantine
from sitroom.application.ports import Chunk
from sitroom.domain import sources
from sitroom.domain.kinds import UCDP_EVENT
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import EARLIEST_DATE, LATEST_DATE, MS_PER_DAY, SANE_DATES
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
    """Records for a UCDP GED CSV export, ``chunk_rows`` rows at a time: each chunk's events,
    then its rejected rows."""
    rows = csvrows.rows(inp.data, max(chunk_rows, 1))
    head = next(rows, None)
    names = _header(inp, head)
    checks = _reason(names)
    for part in rows:
        screened = csvrows.screen(inp.data, part, len(names))
        frame = _read(inp, screened, names, int(part.line[0]))
        keep = screened.keep
        checked = frame.with_columns(
            pl.Series("_line", part.line[keep]),
            pl.Series("_start", screened.start[keep]),
            pl.Series("_text_end", screened.text_end[keep]),
            checks.alias("_reason"),
        )
        good = checked.filter(pl.col("_reason").is_null()).drop("_start", "_text_end")
        yield Chunk(_records(good) if good.height else RecordBatch.empty(), len(part.start))
        rejected = screened.rejected + [
            Rejected(line, screened.blob[a:b].decode("utf-8"), why)
            for line, a, b, why in checked.filter(pl.col("_reason").is_not_null())
            .select("_line", "_start", "_text_end", "_reason")
            .iter_rows()
        ]
        if rejected:
            rejected.sort(key=lambda r: r.line)
            yield Chunk(quarantine("ucdp", SOURCE, inp, rejected), 0)


def _header(inp: Input, head: csvrows.Rows | None) -> list[str]:
    """The header's column names, as the CSV reader names them (a repeated name gets polars'
    ``_duplicated_<n>`` suffix, as when the whole file was read at once: the names are part of
    each row's content digest)."""
    names = csvrows.header(inp, head) if head is not None else []
    if not "".join(names).strip():
        raise SourceError(f"{inp.label}: empty file (expected a UCDP GED CSV export)")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise SourceError(
            f"{inp.label}: not a UCDP GED export: missing column(s) {', '.join(missing)}"
        )
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        if n in seen:
            unique.append(f"{n}_duplicated_{seen[n]}")
            seen[n] += 1
        else:
            unique.append(n)
            seen[n] = 0
    return unique


def _read(inp: Input, screened: csvrows.Screened, names: Sequence[str], line: int) -> pl.DataFrame:
    """The screened rows' fields as strings, named by the header; an optional column the export
    lacks is all null."""
    frame = pl.read_csv(
        screened.good,
        has_header=False,
        schema=dict.fromkeys(names, pl.Utf8),
        quote_char='"',
        encoding="utf8",
        raise_if_empty=False,
    )
    if frame.height != int(screened.keep.sum()):  # the byte checks make this unreachable
        raise SourceError(
            f"{inp.label}, rows from line {line}: the CSV reader found {frame.height} rows, "
            f"expected {int(screened.keep.sum())}"
        )
    absent = [c for c in OPTIONAL if c not in names]
    return frame.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in absent)


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


def _reason(names: Sequence[str]) -> pl.Expr:
    """Why a row is refused (the first check it fails), or null."""
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
        *[
            (
                ~_date(c).is_between(EARLIEST_DATE, LATEST_DATE),
                f"{c} is outside {SANE_DATES}",
                c,
            )
            for c in ("date_start", "date_end")
        ],
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
        *[
            pl.when(cond.fill_null(True)).then(
                pl.format(f"{why}: '{{}}'", pl.col(col).fill_null(""))
            )
            for cond, why, col in checks
        ],
        csvrows.control_characters(names),
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
