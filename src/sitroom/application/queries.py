"""Read-side use cases: every answer is computed as of a recorded time and carries provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from sitroom.application.engine import Engine
from sitroom.domain import hlc
from sitroom.domain.actors import find as find_actor
from sitroom.domain.actors import relationships as actor_relationships
from sitroom.domain.claims import view as claims_view
from sitroom.domain.events import event_frame
from sitroom.domain.geo import Point, Radius, haversine_m
from sitroom.domain.kinds import (
    ACTOR,
    ALERT,
    CLAIM,
    GDELT_EVENT,
    QUAD_CLASS_NAMES,
    QUARANTINED,
    RELATIONSHIP,
    UCDP_EVENT,
)
from sitroom.domain.provenance import Answer, Provenance
from sitroom.domain.sources import OVERDUE, OverdueSourceDetector
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError


@dataclass(frozen=True)
class AsOf:
    wall: int  # the wall time the question is about
    seq: int  # the last record recorded at or before it


def resolve_as_of(engine: Engine, as_of_ms: int | None) -> AsOf:
    if as_of_ms is None:
        return AsOf(engine.clock.now_ms(), engine.log.last_seq())
    return AsOf(as_of_ms, engine.log.seq_as_of(hlc.upper_bound(as_of_ms)))


def _provenance(
    engine: Engine, at: AsOf, newest: int | None, kinds: Sequence[str] | None
) -> Provenance:
    newer = engine.log.count(after_seq=at.seq, kinds=kinds)
    return Provenance(at.wall, at.seq, newest, newer)


def state(engine: Engine, as_of_ms: int | None = None, *, top: int = 10) -> Answer[dict[str, Any]]:
    """What the workspace knew at a time: records by kind and source, events by QuadClass and
    country, quarantined rows, alerts, and each source's freshness against its cadence."""
    at = resolve_as_of(engine, as_of_ms)
    views = engine.view_many(["summary", "sources"], at.seq)
    summary, sources = views["summary"], views["sources"]
    overdue = engine.detector(OVERDUE)
    status = (
        overdue.status
        if isinstance(overdue, OverdueSourceDetector)
        else OverdueSourceDetector().status
    )
    ev = summary["events"]
    countries = sorted(ev["countries"].items(), key=lambda kv: (-kv[1], kv[0]))
    value = {
        "records": summary["records"],
        "by_kind": dict(sorted(summary["by_kind"].items())),
        "by_source": dict(sorted(summary["by_source"].items())),
        "quarantined": dict(sorted(summary["quarantined"].items())),
        "alerts": dict(sorted(summary["alerts"].items())),
        "valid_span": [iso(t) for t in summary["valid_span"]],
        "events": {
            "count": ev["count"],
            "valid_span": [iso(t) for t in ev["valid_span"]],
            "quad_class": {
                QUAD_CLASS_NAMES[int(k)]: ev["quad_class"][k] for k in sorted(ev["quad_class"])
            },
            "top_countries": dict(countries[:top]),
        },
        "sources": {
            name: {
                "title": s["title"],
                "records": s["records"],
                "cadence_ms": s["cadence_ms"],
                "last_arrival": iso(hlc.wall_ms(s["last_arrival"])) if s["last_arrival"] else None,
                "newest_valid": iso(s["newest_valid"]),
                "status": status(s, at.wall),
            }
            for name, s in sorted(sources.items())
        },
    }
    return Answer(value, _provenance(engine, at, summary["valid_span"][1], None))


def events(
    engine: Engine,
    *,
    near: Point | None = None,
    radius: Radius | None = None,
    since: int | None = None,
    until: int | None = None,
    as_of_ms: int | None = None,
    limit: int | None = 50,
) -> Answer[dict[str, Any]]:
    """Events known as of a time, filtered by valid time and by great-circle distance."""
    at = resolve_as_of(engine, as_of_ms)
    window = None if since is None and until is None else (since, until)
    frames = []
    for batch in engine.log.read(upto_seq=at.seq, kinds=[GDELT_EVENT], valid_overlaps=window):
        frame = pl.from_arrow(batch.table.select(["seq", "id", "valid_from"]))
        assert isinstance(frame, pl.DataFrame)
        frames.append(
            frame.with_columns(
                batch.payload_field("action_geo.lat", pl.Float64).alias("lat"),
                batch.payload_field("action_geo.lon", pl.Float64).alias("lon"),
            )
        )
    schema = {
        "seq": pl.Int64,
        "id": pl.Utf8,
        "valid_from": pl.Int64,
        "lat": pl.Float64,
        "lon": pl.Float64,
    }
    df = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    if near is not None and radius is not None:
        df = df.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
        dist = haversine_m(df["lat"].to_numpy(), df["lon"].to_numpy(), near)
        df = (
            df.with_columns(pl.Series("distance_m", dist))
            .filter(pl.col("distance_m") <= radius.meters)
            .sort(["distance_m", "seq"])
        )
    else:
        df = df.with_columns(pl.lit(None, pl.Float64).alias("distance_m")).sort(
            ["valid_from", "seq"], descending=[True, False]
        )
    matched = df.height
    shown = df if not limit else df.head(limit)
    payloads = {
        r.id: r.payload
        for b in engine.log.read(ids=shown["id"].to_list(), upto_seq=at.seq)
        for r in b.rows()
    }
    items = [
        {
            "id": row["id"],
            "seq": row["seq"],
            "date": payloads[row["id"]].get("date"),
            "distance_m": row["distance_m"],
            **payloads[row["id"]],
        }
        for row in shown.iter_rows(named=True)
    ]
    newest = df["valid_from"].max() if df.height else None
    value = {
        "matched": matched,
        "shown": len(items),
        "items": items,
        "near": None if near is None else [near.lat, near.lon],
        "radius": None if radius is None else radius.text,
    }
    return Answer(value, _provenance(engine, at, newest, [GDELT_EVENT]))  # type: ignore[arg-type]


def _records(engine: Engine, kind: str, as_of_ms: int | None) -> Answer[list[dict[str, Any]]]:
    """Every record of one kind known as of a time, oldest first."""
    at = resolve_as_of(engine, as_of_ms)
    rows = [r for b in engine.log.read(upto_seq=at.seq, kinds=[kind]) for r in b.rows()]
    items = [
        {
            "id": r.id,
            "seq": r.seq,
            "recorded_at": iso(hlc.wall_ms(r.recorded_time or 0)),
            "valid_from": iso(r.valid_from),
            **r.payload,
        }
        for r in rows
    ]
    newest = max((r.valid_from for r in rows if r.valid_from is not None), default=None)
    return Answer(items, _provenance(engine, at, newest, [kind]))


def alerts(engine: Engine, as_of_ms: int | None = None) -> Answer[list[dict[str, Any]]]:
    return _records(engine, ALERT, as_of_ms)


def quarantine(engine: Engine, as_of_ms: int | None = None) -> Answer[list[dict[str, Any]]]:
    return _records(engine, QUARANTINED, as_of_ms)


def claims(
    engine: Engine,
    subject: str,
    as_of_ms: int | None = None,
    *,
    valid_at_ms: int | None = None,
    every: bool = False,
    properties: Sequence[str] | None = None,
) -> Answer[dict[str, Any]]:
    """What sources claimed about ``subject``, as known at a time: every value of every
    property, side by side, with conflicts marked. By default only claims valid at the as-of
    time (or ``valid_at_ms``); ``every`` shows them whatever their valid time."""
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many(["claims"], at.seq)["claims"]
    valid_at = None if every else (valid_at_ms if valid_at_ms is not None else at.wall)
    props = claims_view(state, subject, at.wall, valid_at=valid_at, properties=properties)
    stated = [c.stated_at for p in props for v in p.values for c in v.claims if c.stated_at]
    value = {
        "subject": props[0].subject if props else subject,
        "valid_at": iso(valid_at),
        "properties": [
            {
                "property": p.property,
                "conflict": p.conflict,
                "values": [
                    {
                        "value": v.value,
                        "independent_sources": v.independent,
                        "confidence": v.confidence,
                        "credible": v.credible,
                        "claims": [
                            {
                                "id": c.id,
                                "source": c.source,
                                "origin": c.origin,
                                "reliability": c.reliability,
                                "credibility": c.credibility,
                                "confidence": c.confidence,
                                "valid_from": iso(c.valid_from),
                                "valid_to": iso(c.valid_to),
                                "stated_at": iso(c.stated_at),
                                "age_ms": c.age_ms,
                            }
                            for c in v.claims
                        ],
                    }
                    for v in p.values
                ],
            }
            for p in props
        ],
    }
    return Answer(value, _provenance(engine, at, max(stated, default=None), [CLAIM]))


def actors(
    engine: Engine, as_of_ms: int | None = None, *, kind: str | None = None
) -> Answer[list[dict[str, Any]]]:
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many(["actors"], at.seq)["actors"]
    degree: dict[str, int] = {}
    for r in actor_relationships(state):
        for k in (r["source"], r["target"]):
            degree[k] = degree.get(k, 0) + 1
    rows = [
        {
            "key": key,
            "name": a["name"],
            "type": a["type"],
            "aliases": a.get("aliases") or [],
            "relationships": degree.get(key, 0),
        }
        for key, a in sorted(state["actors"].items(), key=lambda kv: kv[1]["name"].casefold())
        if kind is None or a["type"] == kind
    ]
    return Answer(rows, _provenance(engine, at, None, [ACTOR, RELATIONSHIP, UCDP_EVENT]))


def actor(
    engine: Engine, name: str, as_of_ms: int | None = None, *, window_ms: int = 30 * 86_400_000
) -> Answer[dict[str, Any]]:
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many(["actors"], at.seq)["actors"]
    key = find_actor(state, name)
    if key is None:
        raise UserInputError(f"no actor known as {name!r} (see `sitroom actors`)")
    a = state["actors"][key]
    names = {k: v["name"] for k, v in state["actors"].items()}
    rels = [
        {
            "type": r["type"],
            "direction": "out" if r["source"] == key else "in",
            "other": names.get(r["target"] if r["source"] == key else r["source"], r["target"]),
            "said_by": r["said_by"],
            "confidence": r["confidence"],
            "valid_from": iso(r["valid_from"]),
            "valid_to": iso(r["valid_to"]),
            "description": r.get("description"),
        }
        for r in actor_relationships(state)
        if key in (r["source"], r["target"])
    ]
    value = {
        "key": key,
        "name": a["name"],
        "type": a["type"],
        "aliases": a.get("aliases") or [],
        "cameo": a.get("cameo") or [],
        "country": a.get("country"),
        "where": a.get("where"),
        "proposed_same_as": _same_as(engine, a, at.seq),
        "description": a.get("description"),
        "relationships": rels,
        "signals": signals(engine, codes_of(a), at.seq, window_ms),
    }
    newest = max(
        (
            r["valid_to"] or r["valid_from"] or 0
            for r in actor_relationships(state)
            if key in (r["source"], r["target"])
        ),
        default=None,
    )
    return Answer(value, _provenance(engine, at, newest or None, [ACTOR, RELATIONSHIP, UCDP_EVENT]))


def codes_of(a: Mapping[str, Any]) -> list[str]:
    """The CAMEO country codes an actor acts under in event data."""
    codes = [c[:3].upper() for c in a.get("cameo") or [] if len(c) >= 3]
    if a.get("country"):
        codes.append(str(a["country"]).upper())
    return sorted(set(codes))


def signals(
    engine: Engine, codes: Sequence[str], upto_seq: int, window_ms: int
) -> list[dict[str, Any]]:
    """How an actor and each counterpart have treated each other in the event data over the
    window ending at the newest such event: cooperative (CAMEO QuadClass 1-2) against
    conflictual (3-4) events, and the Goldstein scale's mean and sum."""
    if not codes:
        return []
    frames = []
    for batch in engine.log.read(upto_seq=upto_seq, kinds=[GDELT_EVENT]):
        ev = event_frame(batch)
        frames.append(ev.filter(pl.col("actor1").is_in(codes) | pl.col("actor2").is_in(codes)))
    pairs = pl.concat(frames) if frames else pl.DataFrame()
    if not pairs.height:
        return []
    end = pairs["valid_from"].max()
    assert isinstance(end, int)
    pairs = pairs.filter(pl.col("valid_from") > end - window_ms).with_columns(
        pl.when(pl.col("actor1").is_in(codes))
        .then(pl.col("actor2"))
        .otherwise(pl.col("actor1"))
        .alias("other")
    )
    grouped = (
        pairs.filter(pl.col("other").is_not_null() & ~pl.col("other").is_in(codes))
        .group_by("other")
        .agg(
            pl.len().alias("events"),
            (pl.col("quad_class") <= 2).sum().alias("cooperative"),
            (pl.col("quad_class") >= 3).sum().alias("conflictual"),
            pl.col("goldstein").mean().round(2).alias("goldstein_mean"),
            pl.col("goldstein").sum().round(1).alias("goldstein_sum"),
        )
        .sort(["events", "other"], descending=[True, False])
    )
    return [
        {**row, "window_ends": iso(end), "window_ms": window_ms}
        for row in grouped.head(15).iter_rows(named=True)
    ]


def _same_as(engine: Engine, a: Mapping[str, Any], upto_seq: int) -> list[dict[str, Any]]:
    """Claims that this actor is the same as another: proposed, never merged automatically."""
    state = engine.view_many(["claims"], upto_seq)["claims"]
    out = []
    for name in {a["name"], *(a.get("aliases") or [])}:
        for p in claims_view(state, name, engine.clock.now_ms(), properties=["same-as"]):
            out += [
                {
                    "same_as": v.value,
                    "sources": [c.source for c in v.claims],
                    "confidence": v.confidence,
                }
                for v in p.values
            ]
    return out
