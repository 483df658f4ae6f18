"""The ``summary`` projection: what the workspace holds, in counts.

``valid_span`` is [earliest, latest] start of valid time: when the oldest and newest things it
knows of began.

Folded column-wise with polars, so a million-record batch costs a few group-bys, not a loop;
the few records of a live append are counted in Python (``domain/smallbatch.py``).
"""

from __future__ import annotations

from typing import Any

import orjson

from sitroom.domain.kinds import ALERT, GDELT_EVENT, QUARANTINED
from sitroom.domain.records import RecordBatch
from sitroom.domain.smallbatch import count_by, span, value_counts

NOT_WORLD = (ALERT, QUARANTINED)  # what sitroom says about itself: no valid time in the world


def _bump(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _widen(state: dict[str, Any], key: str, lo: int | None, hi: int | None) -> None:
    bounds = state[key]
    if lo is not None:
        bounds[0] = lo if bounds[0] is None else min(bounds[0], lo)
    if hi is not None:
        bounds[1] = hi if bounds[1] is None else max(bounds[1], hi)


class SummaryProjection:
    name = "summary"
    version = 1
    kinds: tuple[str, ...] | None = None

    def initial(self) -> dict[str, Any]:
        return {
            "records": 0,
            "by_kind": {},
            "by_source": {},
            "by_compartment": {},
            "quarantined": {},
            "alerts": {},
            "valid_span": [None, None],
            "events": {"count": 0, "quad_class": {}, "countries": {}, "valid_span": [None, None]},
        }

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        if not len(batch):
            return state
        state["records"] += len(batch)
        # One group-by, then a few rows in Python: a fold runs every 10,000 records.
        for (kind, source, compartment), n in count_by(
            batch.table, ["kind", "source", "compartment"]
        ):
            _bump(state["by_kind"], kind, n)
            _bump(state["by_source"], source, n)
            if compartment:
                _bump(state["by_compartment"], compartment, n)
            if kind == QUARANTINED:
                _bump(state["quarantined"], source, n)
        alerts = batch.of_kinds([ALERT])
        if len(alerts):
            for detector, n in value_counts(alerts, ["detector"])[0]:
                _bump(state["alerts"], detector, n)
        _widen(state, "valid_span", *span(batch.table, "valid_from", skip_kinds=NOT_WORLD))
        events = batch.of_kinds([GDELT_EVENT])
        if len(events):
            ev = state["events"]
            ev["count"] += len(events)
            _widen(ev, "valid_span", *span(events.table, "valid_from"))
            quads, countries = value_counts(events, ["event.quad_class", "action_geo.country_iso"])
            for counts, found in ((ev["quad_class"], quads), (ev["countries"], countries)):
                for value, n in found:
                    _bump(counts, value, n)
        return state

    def encode(self, state: dict[str, Any]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(data)
        return result
