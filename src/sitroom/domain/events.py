"""Events from every source, seen through one frame.

GDELT, UCDP and (later) ACLED describe events differently; red lines, radius queries and
intensity read the same few facts from each: where, when, who did it to whom, how grave, how
many died. :func:`event_frame` takes a batch of any records and returns those facts for the event
records in it, one row each, vectorised (the few records of a live append are read in Python,
see :func:`event_columns`). A column is null where a source does not say (GDELT has no
fatalities; UCDP no CAMEO QuadClass).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sitroom.domain.kinds import ACLED_EVENT, GDELT_EVENT, UCDP_EVENT
from sitroom.domain.records import RecordBatch
from sitroom.domain.smallbatch import is_small, payload_columns

if TYPE_CHECKING:
    import polars as pl

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
# Each column and its polars dtype, by name (polars is imported when a frame is made: a
# command that opens a room without reading events in bulk does not pay for it).
COLUMNS = {
    "id": "Utf8",
    "kind": "Utf8",
    "source": "Utf8",
    "valid_from": "Int64",
    "lat": "Float64",
    "lon": "Float64",
    "quad_class": "Int64",  # CAMEO 1-4, GDELT only
    "goldstein": "Float64",
    "actor1": "Utf8",  # the acting side's country (ISO 3166 alpha-3 for GDELT's CAMEO codes)
    "actor2": "Utf8",
    "country": "Utf8",  # where it happened: ISO 3166 alpha-3, for every source
    "country_name": "Utf8",  # ... and as the source names it (UCDP, ACLED)
    "fatalities": "Int64",  # best estimate where the source gives one
    "conflict": "Utf8",  # the conflict as the source names it (UCDP); null elsewhere
}


def schema(names: Sequence[str] | None = None) -> dict[str, Any]:
    """The polars schema of :data:`COLUMNS` (or of some of them, in the order given)."""
    import polars as pl

    return {c: getattr(pl, COLUMNS[c]) for c in (COLUMNS if names is None else names)}


ENVELOPE_FACTS = ("id", "kind", "source", "valid_from")  # read from the record, not the payload


def empty() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema=schema())


# Where each source keeps each fact: a payload path, a path and a table to read it through, or
# what the source always is.
Path = str | tuple[str, dict[str, int]] | int | None
FIELDS: dict[str, dict[str, Path]] = {
    GDELT_EVENT: {
        "lat": "action_geo.lat",
        "lon": "action_geo.lon",
        "quad_class": "event.quad_class",
        "goldstein": "event.goldstein",
        "actor1": "actor1.country",
        "actor2": "actor2.country",
        "country": "action_geo.country_iso",
    },
    UCDP_EVENT: {
        "lat": "location.lat",
        "lon": "location.lon",
        "quad_class": 4,  # UCDP records organised violence only: material conflict, in CAMEO
        "actor1": "side_a.name",
        "actor2": "side_b.name",
        "country": "location.country_iso",
        "country_name": "location.country",
        "fatalities": "fatalities.best",
        "conflict": "conflict.name",
    },
    ACLED_EVENT: {
        "lat": "location.lat",
        "lon": "location.lon",
        "quad_class": ("event_type", ACLED_QUAD),
        "actor1": "actor1.name",
        "actor2": "actor2.name",
        "country": "location.country_iso",
        "country_name": "location.country",
        "fatalities": "fatalities",
    },
}


def describe(kind: str, payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """What happened and where, in the source's own words, for people."""

    def at(*path: str) -> Any:
        value: Any = payload
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    if kind == GDELT_EVENT:
        return at("event", "description"), at("action_geo", "name")
    if kind == UCDP_EVENT:
        what = " · ".join(x for x in (at("violence"), at("conflict", "name")) if x)
        return what or None, at("location", "where")
    if kind == ACLED_EVENT:
        return at("sub_event_type") or at("event_type"), at("location", "name")
    return None, None


def event_frame(batch: RecordBatch, names: Sequence[str] | None = None) -> pl.DataFrame:
    """The facts of :data:`COLUMNS` (or of ``names`` only, in that order: a fold that reads
    four of them does not pay for reading fourteen from every payload)."""
    import polars as pl

    small = event_columns(batch)
    if small is not None:
        frame = pl.DataFrame(small, schema=schema())
        return frame if names is None else frame.select(names)
    parts = [
        _frame(part, FIELDS[kind], names)
        for kind in EVENT_KINDS
        if len(part := batch.of_kinds([kind]))
    ]
    if parts:
        return pl.concat(parts)
    return empty() if names is None else empty().select(names)


def event_columns(batch: RecordBatch) -> dict[str, list[Any]] | None:
    """The rows of :func:`event_frame`, as Python lists of :data:`COLUMNS`, read from the
    payloads' Python values: the small-batch strategy (``domain/smallbatch.py``) for the few
    records of a live append. None when the batch is not small or holds a value only the
    vectorised path converts exactly; then :func:`event_frame` reads it column-wise."""
    import polars as pl

    if not is_small(len(batch)):
        return None
    out: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    present = set(batch.column("kind").to_pylist())
    for kind in EVENT_KINDS:
        if kind not in present:
            continue
        part, fields = batch.of_kinds([kind]), FIELDS[kind]
        read = {
            name: (where, getattr(pl, COLUMNS[name]))
            if isinstance(where, str)
            else (where[0], pl.Utf8)
            for name, where in fields.items()
            if isinstance(where, str | tuple)
        }
        values = payload_columns(part, read)
        if values is None:
            return None
        for name in COLUMNS:
            where = fields.get(name)
            if name in ENVELOPE_FACTS:
                out[name] += part.column(name).to_pylist()
            elif isinstance(where, str):
                out[name] += values[name]
            elif isinstance(where, tuple):
                table = where[1]
                out[name] += [table.get(v) if v is not None else None for v in values[name]]
            else:
                out[name] += [where] * len(part)
    return out


def _frame(
    batch: RecordBatch, fields: dict[str, Path], names: Sequence[str] | None = None
) -> pl.DataFrame:
    import polars as pl

    n = len(batch)
    cols: dict[str, pl.Series] = {}
    for name, dtype in schema(names).items():
        where = fields.get(name)
        if name in ENVELOPE_FACTS:
            arrow = pl.from_arrow(batch.column(name))
            assert isinstance(arrow, pl.Series)
            series = arrow.cast(dtype)
        elif isinstance(where, str):
            series = batch.payload_field(where, dtype)
        elif isinstance(where, tuple):
            path, table = where
            series = batch.payload_field(path, pl.Utf8).replace_strict(
                table, default=None, return_dtype=dtype
            )
        else:
            series = pl.Series(name, [where] * n, dtype)
        cols[name] = series.cast(dtype).alias(name)
    return pl.DataFrame(cols)
