"""Conflict intensity near a place: one reusable query for the picture, red lines and risk.

Within a great-circle radius of a point, over a window of valid time ending at ``until``: the
events of every source, by CAMEO QuadClass; fatalities where the source gives them (UCDP,
ACLED; GDELT does not); the Goldstein sum (GDELT); and the trend against the same-length windows
before it — so "40 events this week" comes with "against 12 a week over the previous four".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain.events import EVENT_KINDS, event_frame
from sitroom.domain.geo import Point, Radius, haversine_m
from sitroom.domain.kinds import QUAD_CLASS_NAMES
from sitroom.domain.provenance import Answer
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError


def intensity(
    engine: Engine,
    near: Point,
    radius: Radius,
    window_ms: int,
    *,
    until_ms: int | None = None,
    as_of_ms: int | None = None,
    previous: int = 4,
) -> Answer[dict[str, Any]]:
    if window_ms <= 0:
        raise UserInputError("the window must be longer than zero")
    at = resolve_as_of(engine, as_of_ms)
    end = at.wall if until_ms is None else until_ms
    start = end - window_ms * (previous + 1)
    frames = []
    for batch in engine.log.read(
        upto_seq=at.seq, kinds=list(EVENT_KINDS), valid_overlaps=(start, end)
    ):
        ev = event_frame(batch).filter(
            pl.col("lat").is_not_null()
            & pl.col("lon").is_not_null()
            & pl.col("valid_from").is_between(start, end, closed="left")
        )
        dist = haversine_m(ev["lat"].to_numpy(), ev["lon"].to_numpy(), near)
        frames.append(ev.filter(pl.Series(dist <= radius.meters)))
    near_events = pl.concat(frames) if frames else pl.DataFrame()
    windows = []
    for k in range(previous + 1):
        hi = end - k * window_ms
        part = (
            near_events.filter(pl.col("valid_from").is_between(hi - window_ms, hi, closed="left"))
            if near_events.height
            else near_events
        )
        windows.append(_window(part, hi - window_ms, hi))
    current, before = windows[0], windows[1:]
    counts = np.array([w["events"] for w in before], dtype=float)
    mean = float(counts.mean()) if len(counts) else 0.0
    std = float(counts.std(ddof=1)) if len(counts) > 1 else 0.0
    value = {
        "near": {"lat": near.lat, "lon": near.lon},
        "radius": radius.text,
        "window_ms": window_ms,
        "current": current,
        "previous": before,
        "trend": {
            "previous_mean": round(mean, 2),
            "change": round(current["events"] - mean, 2),
            "ratio": None if mean == 0 else round(current["events"] / mean, 2),
            "z": None if std == 0 else round((current["events"] - mean) / std, 2),
        },
    }
    newest = near_events["valid_from"].max() if near_events.height else None
    return Answer(value, _provenance(engine, at, newest, list(EVENT_KINDS)))  # type: ignore[arg-type]


def _window(events: pl.DataFrame, lo: int, hi: int) -> dict[str, Any]:
    n = events.height
    quads = (
        {
            QUAD_CLASS_NAMES[int(q)]: int(c)
            for q, c in events["quad_class"].value_counts().iter_rows()
            if q is not None
        }
        if n
        else {}
    )
    has_fatalities = n and events["fatalities"].is_not_null().any()
    return {
        "from": iso(lo),
        "until": iso(hi),
        "events": n,
        "by_quad_class": dict(sorted(quads.items())),
        "by_source": dict(
            sorted((str(s), int(c)) for s, c in events["source"].value_counts().iter_rows())
        )
        if n
        else {},
        "fatalities": int(events["fatalities"].sum()) if has_fatalities else None,
        "goldstein_sum": round(float(events["goldstein"].sum()), 1)
        if n and events["goldstein"].is_not_null().any()
        else None,
    }
