"""ACLED exports (CSV with a header row), parsed and checked column-wise: no per-row Python on
the accepted path.

ACLED revises past events (a new fatality count, a better location) and stamps each row with the
time of its last update. Every upstream version of an event is therefore its own record, with id
``acled:<event_id_cnty>@<timestamp>``: a re-export whose timestamp changed adds a record beside
the old one, re-ingesting the same file adds nothing.

The header names the columns, in any order. Current exports have the 31 columns of ACLED's
codebook; older ones lack ``disorder_type``, ``civilian_targeting`` and ``tags`` (null in their
payloads) and may carry ``data_id``, ``event_id_no_cnty`` or ``iso3``: unknown columns are
ignored, a header lacking a required column is refused with a :class:`SourceError`.

Rows are CSV records (RFC 4180): a quoted field may hold commas, doubled quotes and newlines, so
one row can span several physical lines. A rejected row is quarantined with **the physical line
on which it starts** (1-based; the header is line 1; lines end at LF, so CRLF files count the
same), its text as read (embedded line breaks included, the final one not) and a reason naming
the column and the value, or the rule the row's bytes break (UTF-8, quoting, field count; see
adapters/csvrows.py). A control character (a NUL) in a field, or an event_date outside the sane
range (domain/timeutil.py), also quarantines the row.

Payload of record kind ``acled.event`` v1 (the published schema):

    event_id            str         event_id_cnty (stable across ACLED's revisions)
    version_timestamp   int         timestamp: Unix seconds of this version's last update
    date                str         event_date as YYYY-MM-DD
    year                int
    time_precision      int         1-3 (1: the day is known; 2: the week; 3: the month)
    disorder_type       str|null    null in older exports
    event_type, sub_event_type      str
    actor1              {name, associated, inter}: actor1, assoc_actor_1, inter1
    actor2              {name, associated, inter} or null when actor2 is empty
    interaction         str         as given: "17" in older exports, "State forces-Civilians" now
    civilian_targeting  str|null    "Civilian targeting" or null
    location            {iso (int, numeric ISO 3166), country_iso (its alpha-3), country, region,
                         admin1, admin2, admin3,
                         name (location), lat, lon (float), geo_precision (int, 1-3)}
    source, source_scale, notes     str
    fatalities          int         exactly as given (ACLED's conservative estimate)
    tags                str|null    as given ("crowd size=..."); null in older exports

Empty fields are null; every other value is kept as given (``inter1`` stays a string: a number in
older exports, a name in current ones). Valid time is the event's day, ``[00:00, next 00:00)``
UTC, whatever its time precision.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from sitroom.adapters import csvrows, maps
from sitroom.adapters.inputs import Input, Rejected, quarantine
from sitroom.application.ports import Chunk
from sitroom.domain import sources
from sitroom.domain.kinds import ACLED_EVENT
from sitroom.domain.records import Record, RecordBatch, feed_item_id
from sitroom.domain.timeutil import EARLIEST_DATE, LATEST_DATE, MS_PER_DAY, SANE_DATES
from sitroom.errors import SourceError

SOURCE = "acled"
CADENCE_MS = 7 * MS_PER_DAY  # ACLED publishes its weekly update

REQUIRED = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "timestamp",
)
OPTIONAL = ("disorder_type", "civilian_targeting", "tags")  # absent from older exports


def declaration() -> Record:
    """ACLED updates its data once a week."""
    return sources.declaration(
        SOURCE,
        "ACLED (Armed Conflict Location & Event Data) export",
        CADENCE_MS,
        publisher="Armed Conflict Location & Event Data (ACLED)",
        url="https://acleddata.com/",
        licence=(
            "ACLED Terms of Use and Attribution Policy: registered users only; "
            "do not redistribute the data; cite ACLED"
        ),
    )


def chunks(inp: Input, *, chunk_rows: int = 50_000) -> Iterator[Chunk]:
    """Records for each run of ``chunk_rows`` rows of one export: its events, then (in a chunk of
    their own, rows=0) its quarantined rows. ``Chunk.rows`` counts CSV rows, not physical lines:
    a row with a multi-line note is one row."""
    rows = csvrows.rows(inp.data, max(chunk_rows, 1))
    head = next(rows, None)
    if head is None:
        raise SourceError(f"{inp.label}: empty file (expected an ACLED export with a header row)")
    columns, width = _header(inp, head)
    for part in rows:
        events, rejected = _parse(inp, part, columns, width)
        yield Chunk(_batch(events) if events.height else RecordBatch.empty(), len(part.start))
        if rejected:
            # Their own append: typed events and JSON quarantine records keep their own form.
            yield Chunk(quarantine("acled", SOURCE, inp, rejected), 0)


def _header(inp: Input, head: csvrows.Rows) -> tuple[dict[str, int], int]:
    """The position of each known column, and the number of fields every row must have."""
    names = [n.strip().lower() for n in csvrows.header(inp, head)]
    known = set(REQUIRED) | set(OPTIONAL)
    twice = sorted({n for n in names if n in known and names.count(n) > 1})
    if twice:
        raise SourceError(f"{inp.label}: the header names {', '.join(twice)} more than once")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise SourceError(
            f"{inp.label}: not an ACLED export: the header lacks {len(missing)} required "
            f"column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        )
    return {n: i for i, n in enumerate(names) if n in known}, len(names)


# --- one chunk -----------------------------------------------------------------------------


def _parse(
    inp: Input, rows: csvrows.Rows, columns: dict[str, int], width: int
) -> tuple[pl.DataFrame, list[Rejected]]:
    screened = csvrows.screen(inp.data, rows, width)
    blob, keep, rejected = screened.blob, screened.keep, screened.rejected
    frame = _read(screened.good, columns, width)
    if frame.height != int(keep.sum()):  # the byte checks make this unreachable; never misalign
        raise SourceError(
            f"{inp.label}, rows from line {int(rows.line[0])}: the CSV reader found "
            f"{frame.height} rows, expected {int(keep.sum())}"
        )
    frame = _typed(
        frame.with_columns(
            pl.Series("_line", rows.line[keep]),
            pl.Series("_start", screened.start[keep]),
            pl.Series("_text_end", screened.text_end[keep]),
        )
    )
    checks = _checks()
    frame = frame.with_columns(
        pl.any_horizontal(c.fill_null(False) for c, _ in checks).alias("_bad")
    )
    # Reasons are formatted for the bad rows only: one per check for every row would cost more
    # than the parse.
    reason = pl.coalesce(pl.when(c.fill_null(False)).then(why) for c, why in checks)
    for line, s, t, text in (
        frame.filter(pl.col("_bad")).select("_line", "_start", "_text_end", reason).iter_rows()
    ):
        rejected.append(Rejected(line, blob[s:t].decode("utf-8"), text))
    rejected.sort(key=lambda r: r.line)
    return _events(frame.filter(~pl.col("_bad"))), rejected


def _read(good: bytes, columns: dict[str, int], width: int) -> pl.DataFrame:
    """The rows' fields as strings, named; an optional column the export lacks is all null."""
    raw = pl.read_csv(
        good,
        has_header=False,
        schema={f"_f{i}": pl.Utf8 for i in range(width)},
        quote_char='"',
        encoding="utf8",
        raise_if_empty=False,
    )
    return raw.select(
        pl.col(f"_f{columns[c]}").alias(c) if c in columns else pl.lit(None, pl.Utf8).alias(c)
        for c in (*REQUIRED, *OPTIONAL)
    )


# --- values --------------------------------------------------------------------------------

_EVENT_ID = r"^[A-Z]+[0-9]+$"  # country letters and a number: LBN12345
_COUNT = r"^[0-9]+$"
_PRECISION = r"^[1-3]$"


def _nz(col: str) -> pl.Expr:
    return pl.when(pl.col(col) != "").then(pl.col(col))


def _typed(df: pl.DataFrame) -> pl.DataFrame:
    iso_date = pl.col("event_date").str.len_chars() == 10
    return df.with_columns(
        pl.coalesce(
            pl.when(iso_date).then(
                pl.col("event_date").str.strptime(pl.Date, "%Y-%m-%d", strict=False)
            ),
            # The export tool has also written dates as "16 May 2025".
            pl.col("event_date").str.strptime(pl.Date, "%d %B %Y", strict=False),
        ).alias("_date"),
        pl.col("year").cast(pl.Int64, strict=False).alias("_year"),
        pl.col("time_precision").cast(pl.Int8, strict=False).alias("_time_precision"),
        pl.col("geo_precision").cast(pl.Int8, strict=False).alias("_geo_precision"),
        pl.col("latitude").cast(pl.Float64, strict=False).alias("_lat"),
        pl.col("longitude").cast(pl.Float64, strict=False).alias("_lon"),
        pl.col("fatalities").cast(pl.Int64, strict=False).alias("_fatalities"),
        pl.col("timestamp").cast(pl.Int64, strict=False).alias("_timestamp"),
        pl.col("iso").cast(pl.Int64, strict=False).alias("_iso"),
    )


Check = tuple[pl.Expr, pl.Expr]  # (the row is bad, why)


def _bad(cond: pl.Expr, template: str, col: str) -> Check:
    return cond, pl.format(template, pl.col(col).fill_null(""))


def _not(col: str, pattern: str) -> pl.Expr:
    return ~pl.col(col).str.contains(pattern).fill_null(False)


def _checks() -> list[Check]:
    control = csvrows.control_characters((*REQUIRED, *OPTIONAL))

    def number_within(col: str, typed: str, limit: int) -> Check:
        return _bad(
            ~pl.col(typed).abs().le(limit).fill_null(False),
            f"{col} is not a number in [-{limit}, {limit}]: '{{}}'",
            col,
        )

    return [
        _bad(
            _not("event_id_cnty", _EVENT_ID),
            "event_id_cnty is missing or not an ACLED event id (such as LBN1234): '{}'",
            "event_id_cnty",
        ),
        _bad(
            pl.col("_date").is_null(),
            "event_date is not a valid YYYY-MM-DD date: '{}'",
            "event_date",
        ),
        _bad(
            ~pl.col("_date").is_between(EARLIEST_DATE, LATEST_DATE),
            f"event_date is outside {SANE_DATES}: '{{}}'",
            "event_date",
        ),
        _bad(pl.col("_year").is_null(), "year is not a year: '{}'", "year"),
        _bad(
            _not("time_precision", _PRECISION),
            "time_precision is not 1, 2 or 3: '{}'",
            "time_precision",
        ),
        _bad(
            (pl.col("iso").fill_null("") != "") & (_not("iso", _COUNT) | pl.col("_iso").is_null()),
            "iso is not a numeric ISO 3166 country code: '{}'",
            "iso",
        ),
        number_within("latitude", "_lat", 90),
        number_within("longitude", "_lon", 180),
        _bad(
            _not("geo_precision", _PRECISION),
            "geo_precision is not 1, 2 or 3: '{}'",
            "geo_precision",
        ),
        _bad(
            _not("fatalities", _COUNT) | pl.col("_fatalities").is_null(),
            "fatalities is not a non-negative integer: '{}'",
            "fatalities",
        ),
        _bad(
            _not("timestamp", _COUNT) | pl.col("_timestamp").is_null(),
            "timestamp is not a Unix time in seconds: '{}'",
            "timestamp",
        ),
        (control.is_not_null(), control),
    ]


def _actor(n: int) -> pl.Expr:
    return pl.struct(
        _nz(f"actor{n}").alias("name"),
        _nz(f"assoc_actor_{n}").alias("associated"),
        _nz(f"inter{n}").alias("inter"),
    )


def _events(df: pl.DataFrame) -> pl.DataFrame:
    payload = pl.struct(
        pl.col("event_id_cnty").alias("event_id"),
        pl.col("_timestamp").alias("version_timestamp"),
        pl.col("_date").dt.strftime("%Y-%m-%d").alias("date"),
        pl.col("_year").alias("year"),
        pl.col("_time_precision").alias("time_precision"),
        _nz("disorder_type").alias("disorder_type"),
        _nz("event_type").alias("event_type"),
        _nz("sub_event_type").alias("sub_event_type"),
        _actor(1).alias("actor1"),
        pl.when(_nz("actor2").is_not_null()).then(_actor(2)).alias("actor2"),
        _nz("interaction").alias("interaction"),
        _nz("civilian_targeting").alias("civilian_targeting"),
        pl.struct(
            pl.col("_iso").alias("iso"),
            pl.col("_iso")
            .cast(pl.Utf8)
            .str.zfill(3)
            .replace_strict(maps.iso3_by_numeric(), default=None)
            .alias("country_iso"),
            _nz("country").alias("country"),
            _nz("region").alias("region"),
            _nz("admin1").alias("admin1"),
            _nz("admin2").alias("admin2"),
            _nz("admin3").alias("admin3"),
            _nz("location").alias("name"),
            pl.col("_lat").alias("lat"),
            pl.col("_lon").alias("lon"),
            pl.col("_geo_precision").alias("geo_precision"),
        ).alias("location"),
        _nz("source").alias("source"),
        _nz("source_scale").alias("source_scale"),
        _nz("notes").alias("notes"),
        pl.col("_fatalities").alias("fatalities"),
        _nz("tags").alias("tags"),
    )
    valid_from = pl.col("_date").cast(pl.Datetime("ms")).cast(pl.Int64)
    version = pl.col("event_id_cnty") + "@" + pl.col("_timestamp").cast(pl.Utf8)
    return df.select(
        (pl.lit(feed_item_id(SOURCE, "")) + version).alias("id"),
        valid_from.alias("valid_from"),
        (valid_from + MS_PER_DAY).alias("valid_to"),
        payload.alias("payload"),
    )


def _batch(events: pl.DataFrame) -> RecordBatch:
    return RecordBatch.from_columns(
        id=events["id"].to_arrow(),
        kind=ACLED_EVENT,
        kind_version=ACLED_EVENT.version,
        valid_from=events["valid_from"].to_arrow(),
        valid_to=events["valid_to"].to_arrow(),
        source=SOURCE,
        compartment="",
        payload=events["payload"].to_arrow(),
    )
