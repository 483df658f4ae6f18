"""Events from every source, seen through one frame.

GDELT, UCDP and (later) ACLED describe events differently; red lines, radius queries and
intensity read the same few facts from each: where, when, who did it to whom, how grave, how
many died. :func:`event_frame` takes a batch of any records and returns those facts for the event
records in it, one row each, vectorised. A column is null where a source does not say (GDELT has
no fatalities; UCDP no CAMEO QuadClass).
"""

from __future__ import annotations

import polars as pl

from sitroom.domain.kinds import ACLED_EVENT, GDELT_EVENT, UCDP_EVENT
from sitroom.domain.records import RecordBatch

EVENT_KINDS = (GDELT_EVENT, UCDP_EVENT, ACLED_EVENT)
# ACLED's event types in CAMEO's terms: violence is material conflict, a protest verbal
# conflict; a strategic development has no QuadClass.
ACLED_QUAD = {
    "Battles": 4,
    "Explosions/Remote violence": 4,
    "Violence against civilians": 4,
    "Riots": 4,
    "Protests": 3,
}
COLUMNS = {
    "id": pl.Utf8,
    "kind": pl.Utf8,
    "source": pl.Utf8,
    "valid_from": pl.Int64,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "quad_class": pl.Int64,  # CAMEO 1-4, GDELT only
    "goldstein": pl.Float64,
    "actor1": pl.Utf8,  # the acting side's country (ISO 3166 alpha-3 for GDELT's CAMEO codes)
    "actor2": pl.Utf8,
    "country": pl.Utf8,  # where it happened: ISO 3166 alpha-3, for every source
    "country_name": pl.Utf8,  # ... and as the source names it (UCDP, ACLED)
    "fatalities": pl.Int64,  # best estimate where the source gives one
}


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=COLUMNS)


def event_frame(batch: RecordBatch) -> pl.DataFrame:
    parts = []
    gdelt = batch.of_kinds([GDELT_EVENT])
    if len(gdelt):
        parts.append(
            _frame(
                gdelt,
                lat=gdelt.payload_field("action_geo.lat", pl.Float64),
                lon=gdelt.payload_field("action_geo.lon", pl.Float64),
                quad_class=gdelt.payload_field("event.quad_class", pl.Int64),
                goldstein=gdelt.payload_field("event.goldstein", pl.Float64),
                actor1=gdelt.payload_field("actor1.country", pl.Utf8),
                actor2=gdelt.payload_field("actor2.country", pl.Utf8),
                country=gdelt.payload_field("action_geo.country_iso", pl.Utf8),
                country_name=None,
                fatalities=None,
            )
        )
    ucdp = batch.of_kinds([UCDP_EVENT])
    if len(ucdp):
        parts.append(
            _frame(
                ucdp,
                lat=ucdp.payload_field("location.lat", pl.Float64),
                lon=ucdp.payload_field("location.lon", pl.Float64),
                # UCDP records organised violence only: material conflict, in CAMEO's terms.
                quad_class=pl.Series([4] * len(ucdp), dtype=pl.Int64),
                goldstein=None,
                actor1=ucdp.payload_field("side_a.name", pl.Utf8),
                actor2=ucdp.payload_field("side_b.name", pl.Utf8),
                country=ucdp.payload_field("location.country_iso", pl.Utf8),
                country_name=ucdp.payload_field("location.country", pl.Utf8),
                fatalities=ucdp.payload_field("fatalities.best", pl.Int64),
            )
        )
    acl = batch.of_kinds([ACLED_EVENT])
    if len(acl):
        parts.append(
            _frame(
                acl,
                lat=acl.payload_field("location.lat", pl.Float64),
                lon=acl.payload_field("location.lon", pl.Float64),
                quad_class=acl.payload_field("event_type", pl.Utf8).replace_strict(
                    ACLED_QUAD, default=None, return_dtype=pl.Int64
                ),
                goldstein=None,
                actor1=acl.payload_field("actor1.name", pl.Utf8),
                actor2=acl.payload_field("actor2.name", pl.Utf8),
                country=acl.payload_field("location.country_iso", pl.Utf8),
                country_name=acl.payload_field("location.country", pl.Utf8),
                fatalities=acl.payload_field("fatalities", pl.Int64),
            )
        )
    return pl.concat(parts) if parts else empty()


def _frame(batch: RecordBatch, **fields: pl.Series | None) -> pl.DataFrame:
    n = len(batch)
    cols: dict[str, pl.Series] = {}
    for name, dtype in COLUMNS.items():
        if name in ("id", "kind", "source", "valid_from"):
            arrow = pl.from_arrow(batch.column(name))
            assert isinstance(arrow, pl.Series)
            series = arrow.cast(dtype)
        else:
            given = fields.get(name)
            series = pl.Series(name, [None] * n, dtype) if given is None else given.cast(dtype)
        cols[name] = series.alias(name)
    return pl.DataFrame(cols)
