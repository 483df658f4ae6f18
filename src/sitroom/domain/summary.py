"""The ``summary`` projection: what the workspace holds, in counts.

``valid_span`` is [earliest, latest] start of valid time: when the oldest and newest things it
knows of began.

Folded column-wise with polars, so a million-record batch costs a few group-bys, not a loop.
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl

from sitroom.domain.kinds import ALERT, GDELT_EVENT, QUARANTINED
from sitroom.domain.records import RecordBatch

# Two payload fields read by pattern rather than by JSON path: 20x faster on a million events,
# and exact for gdelt.event v1 payloads, where "quad_class" occurs once and action_geo holds no
# nested object before "country_iso". A payload that does not match counts as unknown.
QUAD_CLASS_FIELD = r'"quad_class":([1-4])\b'
ACTION_COUNTRY_FIELD = r'"action_geo":\{[^{}]*?"country_iso":"([A-Z]{3})"'
QUAD_CLASS_NAMES = {
    "1": "Verbal Cooperation",
    "2": "Material Cooperation",
    "3": "Verbal Conflict",
    "4": "Material Conflict",
}


def _add(counts: dict[str, int], frame: pl.DataFrame, key: str) -> None:
    for k, n in frame.group_by(key).len().iter_rows():
        if k is not None:
            counts[str(k)] = counts.get(str(k), 0) + n


def _widen(state: dict[str, Any], key: str, lo: int | None, hi: int | None) -> None:
    span = state[key]
    if lo is not None:
        span[0] = lo if span[0] is None else min(span[0], lo)
    if hi is not None:
        span[1] = hi if span[1] is None else max(span[1], hi)


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
        df = pl.from_arrow(
            batch.table.select(
                ["kind", "source", "compartment", "valid_from", "valid_to", "payload"]
            )
        )
        assert isinstance(df, pl.DataFrame)
        state["records"] += df.height
        _add(state["by_kind"], df, "kind")
        _add(state["by_source"], df, "source")
        _add(state["by_compartment"], df.filter(pl.col("compartment") != ""), "compartment")
        _add(state["quarantined"], df.filter(pl.col("kind") == QUARANTINED), "source")
        alerts = df.filter(pl.col("kind") == ALERT)
        if alerts.height:
            _add(
                state["alerts"],
                alerts.select(
                    pl.col("payload").str.json_path_match("$.detector").alias("detector")
                ),
                "detector",
            )
        world = df.filter(~pl.col("kind").is_in([ALERT, QUARANTINED]))
        if world.height:
            _widen(state, "valid_span", world["valid_from"].min(), world["valid_from"].max())  # type: ignore[arg-type]
        events = df.filter(pl.col("kind") == GDELT_EVENT)
        if events.height:
            ev = state["events"]
            ev["count"] += events.height
            _widen(ev, "valid_span", events["valid_from"].min(), events["valid_from"].max())  # type: ignore[arg-type]
            fields = events.select(
                pl.col("payload").str.extract(QUAD_CLASS_FIELD).alias("q"),
                pl.col("payload").str.extract(ACTION_COUNTRY_FIELD).alias("c"),
            )
            _add(ev["quad_class"], fields, "q")
            _add(ev["countries"], fields, "c")
        return state

    def encode(self, state: dict[str, Any]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(data)
        return result
