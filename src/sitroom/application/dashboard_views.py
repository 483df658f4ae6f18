"""The dashboard's views that draw what other reads already know: the tracks' wait-for graph
with its knots and a Gantt of meetings and holdings (the tracks check's own findings), every
question's forecast with its series over time (any status: a view looks back as well), the
channels with phi and their pending messages by priority, and the map's marks — events that
crossed a red line (the red line alerts' evidence) and the nearby conflicts that move a
forecast (its nearby member's evidence).

Each is as of a moment and scoped to what the session's user may see, like every read, and
answers with its provenance. (``application/dashboard.py`` keeps the map's cells and the
timeline: the aggregation over every event.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sitroom.application.results import Answer
from sitroom.application.session import AsOf, Session
from sitroom.domain.channels.ledger import CHANNELS
from sitroom.domain.channels.priority import Priority
from sitroom.domain.events import EVENT_KINDS, event_frame
from sitroom.domain.kinds import (
    ALERT,
    CHANNEL_KINDS,
    FORECAST,
    HOLDING,
    MEETING,
    QUESTION,
    RESOURCE,
    SCHEDULE,
    TRACK,
    TRACK_STATUS,
    WITHDRAWN,
)
from sitroom.domain.timeutil import iso
from sitroom.domain.tracks import contention, deadlocks, status_of, wait_for

if TYPE_CHECKING:
    from sitroom.application.channels import ChannelRow, Channels, MessageRow
    from sitroom.application.risk import QuestionForecast, Risk

TRACKS = "tracks"
TRACK_VIEW_KINDS = (TRACK, TRACK_STATUS, RESOURCE, HOLDING, MEETING, SCHEDULE, WITHDRAWN)
MAX_MARKS = 2_000  # events marked on the map, at most (a red line may cite many)


@dataclass(frozen=True, kw_only=True)
class TracksView(Answer):
    at: str | None  # the moment the graph is of (the as-of moment)
    nodes: tuple[dict[str, Any], ...]  # {id: "track:x"|"resource:y", kind, name, status, knot}
    edges: tuple[dict[str, Any], ...]  # {source, target, why, knot}: source waits for target
    knots: tuple[dict[str, Any], ...]  # {nodes, cycle, sentence, waits, ways_out}
    meetings: tuple[dict[str, Any], ...]  # {id, track, title, start, end, placed}
    holdings: tuple[dict[str, Any], ...]  # {track, resource, name, start, end, amount}
    contention: tuple[dict[str, Any], ...]  # {resource, name, start, end, tracks, over_by}


@dataclass(frozen=True, kw_only=True)
class ForecastsView(Answer):
    # {question, forecast, history, series: [{at, p, low, high, id}]}, every status
    forecasts: tuple[dict[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class ChannelsView(Answer):
    channels: tuple[ChannelRow, ...]
    phi: dict[str, float | None]  # the suspicion of each channel's last liveness verdict
    messages: tuple[MessageRow, ...]  # waiting for an ack or a reply, the most urgent first
    pending_by_priority: dict[str, int]  # FLASH first


@dataclass(frozen=True, kw_only=True)
class MapMarks(Answer):
    # {event, lat, lon, alert, title, rule, severity}
    redline_hits: tuple[dict[str, Any], ...]
    # {question, question_text, conflict, near, nearest_km, points, contribution, events: [..]}
    nearby: tuple[dict[str, Any], ...]


# tracks -----------------------------------------------------------------------------------
def tracks_view(s: Session, *, as_of_ms: int | None = None) -> TracksView:
    """The wait-for graph at the as-of moment (a track waits for a track's status or for a
    resource; a fully held resource waits for its holder), its knots explained in words, and
    the meetings, holdings and over-booked windows over time."""
    at = s.at(as_of_ms)
    state = s.state(TRACKS, at)
    edges = wait_for(state, at.wall)
    knots = deadlocks(state, at.wall)
    inside = {n for d in knots for n in d.knot}
    names = {rid: str(r.get("name") or rid) for rid, r in state["resources"].items()}
    nodes = [
        {
            "id": f"track:{tid}",
            "kind": "track",
            "name": str(t.get("name") or tid),
            "status": status_of(state, tid),
            "knot": f"track:{tid}" in inside,
        }
        for tid, t in sorted(state["tracks"].items())
    ]
    for rid in sorted({n.partition(":")[2] for e in edges for n in (e.source, e.target)
                       if n.startswith("resource:")}):  # fmt: skip
        nodes.append(
            {
                "id": f"resource:{rid}",
                "kind": "resource",
                "name": names.get(rid, rid),
                "status": None,
                "knot": f"resource:{rid}" in inside,
            }
        )
    return TracksView(
        at=iso(at.wall),
        nodes=tuple(nodes),
        edges=tuple(
            {
                "source": e.source,
                "target": e.target,
                "why": e.why,
                "knot": e.source in inside and e.target in inside,
            }
            for e in edges
        ),
        knots=tuple(
            {
                "nodes": d.knot,
                "cycle": d.nodes,
                "sentence": d.sentence(),
                "waits": d.waits,
                "ways_out": d.ways_out,
            }
            for d in knots
        ),
        meetings=_meetings(state),
        holdings=tuple(
            {
                "track": h["track"],
                "resource": h["resource"],
                "name": names.get(h["resource"], h["resource"]),
                "start": iso(h["from"]),
                "end": iso(h["until"]),
                "amount": int(h.get("amount", 1)),
            }
            for _, h in sorted(state["holdings"].items())
        ),
        contention=tuple(
            {
                "resource": o.resource,
                "name": names.get(o.resource, o.resource),
                "start": iso(o.start),
                "end": iso(o.end),
                "tracks": o.tracks,
                "over_by": o.demand - o.capacity,
            }
            for o in contention(state)
        ),
        provenance=s.provenance(at, None, TRACK_VIEW_KINDS),
    )


def _meetings(state: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """Each meeting where the recorded schedule placed it, else over the window it must
    fall in (``placed`` says which)."""
    placed = (state.get("schedule") or {}).get("meetings") or {}
    out = []
    for mid, m in sorted(state["meetings"].items()):
        where = placed.get(mid)
        window = m.get("window") or [None, None]
        start, end = (where["start"], where["end"]) if where else (window[0], window[1])
        out.append(
            {
                "id": mid,
                "track": m["track"],
                "title": m.get("title") or mid,
                "start": iso(start),
                "end": iso(end),
                "placed": where is not None,
            }
        )
    return tuple(out)


# forecasts --------------------------------------------------------------------------------
def forecasts_view(risk: Risk, s: Session, *, as_of_ms: int | None = None) -> ForecastsView:
    """Every question this user may see, whatever its status, with its latest forecast and
    the series of its forecasts (aggregate and the members' range) up to the as-of moment."""
    at = s.at(as_of_ms)
    series: dict[str, list[dict[str, Any]]] = {}
    for r in s.records(upto_seq=at.seq, kinds=[FORECAST]):
        p = r.payload
        series.setdefault(p["question"], []).append(
            {
                "at": iso(r.valid_from),
                "p": p["aggregate"]["p"],
                "low": p["spread"]["min"],
                "high": p["spread"]["max"],
                "id": r.id,
            }
        )
    out = [
        {**one.to_json(), "series": series.get(one.question.id, [])}
        for one in _every_forecast(risk, as_of_ms)
    ]
    return ForecastsView(
        forecasts=tuple(out), provenance=s.provenance(at, None, [QUESTION, FORECAST])
    )


# channels ---------------------------------------------------------------------------------
def channels_view(channels: Channels, s: Session, *, as_of_ms: int | None = None) -> ChannelsView:
    """What ``sitroom channels status`` says, with each channel's phi (from its last liveness
    verdict) and the messages pending, counted by priority."""
    status = channels.status(as_of_ms=as_of_ms)
    at = s.at(as_of_ms)
    states = s.state(CHANNELS, at)["states"]
    phi = {
        c.id: _number((states.get(c.id) or {}).get("liveness", {}).get("phi"))
        for c in status.channels
    }
    waiting = [m for m in status.messages if m.status == "pending"]
    counts = Counter(m.priority for m in waiting)
    order = [p.name for p in sorted(Priority, reverse=True)]
    urgent = {name: i for i, name in enumerate(order)}
    return ChannelsView(
        channels=status.channels,
        phi=phi,
        messages=tuple(
            sorted(status.messages, key=lambda m: (urgent.get(m.priority, 99), m.sent_at or ""))
        ),
        pending_by_priority={name: counts.get(name, 0) for name in order},
        provenance=s.provenance(at, None, CHANNEL_KINDS),
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


# the map's marks --------------------------------------------------------------------------
def map_marks(risk: Risk, s: Session, *, as_of_ms: int | None = None) -> MapMarks:
    """Events that crossed a red line, each with the alert that says so, and the nearby
    conflicts that move a forecast, named, with where their events are."""
    at = s.at(as_of_ms)
    cited: list[tuple[str, Mapping[str, Any], str]] = []  # (event id, alert payload, alert id)
    for r in s.records(upto_seq=at.seq, kinds=[ALERT]):
        if r.payload.get("detector") == "redline":
            cited += [(e, r.payload, r.id) for e in r.payload.get("evidence") or []]
    cited = cited[-MAX_MARKS:]
    conflicts: list[dict[str, Any]] = []
    for one in _every_forecast(risk, as_of_ms):
        if one.forecast is None:
            continue
        for m in one.forecast.members:
            if m.kind != "nearby":
                continue
            for c in m.detail.get("conflicts") or []:
                conflicts.append(
                    {
                        "question": one.question.id,
                        "question_text": one.question.text,
                        "conflict": c.get("conflict"),
                        "near": c.get("near"),
                        "nearest_km": c.get("nearest_km"),
                        "contribution": c.get("contribution"),
                        "ids": list(c.get("ids") or [])[:MAX_MARKS],
                    }
                )
    wanted = {e for e, _, _ in cited} | {i for c in conflicts for i in c["ids"]}
    where = _places(s, at, sorted(wanted))
    hits = []
    for event, payload, alert in cited:
        if event not in where:
            continue
        lat, lon = where[event]
        hits.append(
            {
                "event": event,
                "lat": lat,
                "lon": lon,
                "alert": alert,
                "title": payload.get("title"),
                "rule": (payload.get("detail") or {}).get("text"),
                "severity": payload.get("severity"),
            }
        )
    nearby = []
    for c in conflicts:
        points = [{"event": i, "lat": where[i][0], "lon": where[i][1]} for i in c.pop("ids")
                  if i in where]  # fmt: skip
        if points:
            nearby.append({**c, "events": points})
    return MapMarks(
        redline_hits=tuple(hits),
        nearby=tuple(nearby),
        provenance=s.provenance(at, None, [ALERT, FORECAST]),
    )


def _every_forecast(risk: Risk, as_of_ms: int | None) -> list[QuestionForecast]:
    """Each question's latest forecast, whatever its status (a resolved question's last
    forecast still says what moved it)."""
    return [
        one
        for row in risk.questions(as_of_ms=as_of_ms).questions
        for one in risk.forecast(row.id, as_of_ms=as_of_ms).forecasts
    ]


def _places(s: Session, at: AsOf, ids: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Where each of these events happened, for those this user may see that have a place."""
    out: dict[str, tuple[float, float]] = {}
    for chunk in _chunks(ids, 500):
        for batch in s.read(upto_seq=at.seq, ids=list(chunk), kinds=list(EVENT_KINDS)):
            frame = event_frame(batch).select("id", "lat", "lon")
            for eid, lat, lon in frame.iter_rows():
                if lat is not None and lon is not None:
                    out[str(eid)] = (float(lat), float(lon))
    return out


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
