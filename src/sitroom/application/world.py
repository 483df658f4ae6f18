"""The world picture as a room shows it: what it holds, events near a place, alerts, claims,
actors, red lines, intensity, what changed, and the log itself for export.

Every read is as of a moment (now, or ``as_of_ms``), scoped to what the session's user may see,
and answers with its provenance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from sitroom.application.alert_acks import (
    Acknowledged,
    Acknowledgement,
    acknowledge,
    acknowledgements,
)
from sitroom.application.results import Answer, Result
from sitroom.application.session import AsOf, Session
from sitroom.domain import hlc
from sitroom.domain.actors import find as find_actor
from sitroom.domain.actors import relationships as actor_relationships
from sitroom.domain.claims import view as claims_view
from sitroom.domain.events import EVENT_KINDS, describe, event_frame
from sitroom.domain.geo import Point, Radius, haversine_m
from sitroom.domain.kinds import (
    ACLED_EVENT,
    ACTOR,
    ALERT,
    ANALYST_REPORT,
    CLAIM,
    QUAD_CLASS_NAMES,
    QUARANTINED,
    REDLINE,
    RELATIONSHIP,
    UCDP_EVENT,
)
from sitroom.domain.records import ENVELOPE, Record, RecordBatch
from sitroom.domain.redline_watch import EVIDENCE_CAP, weights, window_sums
from sitroom.domain.redlines import SEVERITIES, crossed, matches, parse_rule
from sitroom.domain.sources import OverdueSourceDetector
from sitroom.domain.timeutil import FIRST_MS, FIRST_YEAR, MS_PER_DAY, human_age, iso
from sitroom.errors import NotFound, UserInputError

if TYPE_CHECKING:
    import polars as pl

DIFF_LISTED = 50  # items listed per section of a diff; counts are always complete
REVISED = {UCDP_EVENT: "fatalities", ACLED_EVENT: "fatalities"}  # what a revision is shown by

# Writes a STIX 2.1 bundle of (site, actors, claims, red lines, reports, now): its JSON and
# how many objects it holds. The STIX adapter provides it.
BundleWriter = Callable[
    [str, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], Sequence[Record], int],
    tuple[bytes, int],
]


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SourceFreshness(Result):
    title: str
    records: int
    cadence_ms: int | None
    last_arrival: str | None
    newest_valid: str | None
    status: str  # fresh, overdue, waiting, unknown cadence...


@dataclass(frozen=True, kw_only=True)
class EventCounts(Result):
    count: int
    by_source: dict[str, int]
    valid_span: tuple[str | None, str | None]
    quad_class: dict[str, int]
    top_countries: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class State(Answer):
    """What a room holds: records by kind and source, events of every source, quarantined
    rows, alerts, and each source's freshness against its cadence."""

    records: int
    by_kind: dict[str, int]
    by_source: dict[str, int]
    quarantined: dict[str, int]
    alerts: dict[str, int]
    valid_span: tuple[str | None, str | None]
    events: EventCounts
    sources: dict[str, SourceFreshness]


@dataclass(frozen=True, kw_only=True)
class Event(Result):
    """An event of any source, read through the facts every source has (``domain/events``),
    with its payload as the source gave it."""

    id: str
    seq: int
    kind: str
    source: str
    date: str | None
    description: str | None
    place: str | None
    country: str | None
    lat: float | None
    lon: float | None
    quad_class: int | None
    actor1: str | None
    actor2: str | None
    fatalities: int | None
    distance_m: float | None
    payload: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Events(Answer):
    matched: int
    shown: int
    near: Point | None
    radius: str | None
    items: tuple[Event, ...]


@dataclass(frozen=True, kw_only=True)
class Alert(Result):
    id: str
    seq: int
    recorded_at: str
    severity: str
    title: str
    detector: str
    key: str
    evidence: tuple[str, ...]
    triggered_by: tuple[str, ...]
    detail: Mapping[str, Any]
    compartment: str
    acknowledged: tuple[Acknowledgement, ...] = ()  # who has it in hand, and since when


@dataclass(frozen=True, kw_only=True)
class Alerts(Answer):
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, kw_only=True)
class Quarantined(Result):
    id: str
    seq: int
    recorded_at: str
    source: str
    connector: str
    file: str
    line: int
    raw: str  # at most the first 4,096 characters (inputs.RAW_KEPT)
    reason: str
    count: int = 1  # identical rejected rows on consecutive lines, kept as one
    last_line: int = 0  # the run's last line (its first, ``line``, when count is 1)
    raw_bytes: int = 0  # the row's length as read, however much of it ``raw`` keeps


@dataclass(frozen=True, kw_only=True)
class Quarantine(Answer):
    quarantined: tuple[Quarantined, ...]


@dataclass(frozen=True, kw_only=True)
class ClaimRow(Result):
    id: str
    source: str
    origin: str | None
    reliability: str | None
    credibility: int | None
    confidence: int | None
    valid_from: str | None
    valid_to: str | None
    stated_at: str | None
    age_ms: int | None


@dataclass(frozen=True, kw_only=True)
class ClaimedValue(Result):
    value: Any
    independent_sources: int
    confidence: int | None
    credible: bool
    claims: tuple[ClaimRow, ...]


@dataclass(frozen=True, kw_only=True)
class Property(Result):
    property: str
    conflict: bool
    values: tuple[ClaimedValue, ...]


@dataclass(frozen=True, kw_only=True)
class Claims(Answer):
    subject: str
    valid_at: str | None
    properties: tuple[Property, ...]


@dataclass(frozen=True, kw_only=True)
class ActorRow(Result):
    key: str
    name: str
    type: str
    aliases: tuple[str, ...]
    relationships: int


@dataclass(frozen=True, kw_only=True)
class Actors(Answer):
    actors: tuple[ActorRow, ...]


@dataclass(frozen=True, kw_only=True)
class Relationship(Result):
    type: str
    direction: str  # out: this actor towards ``other``; in: ``other`` towards it
    other: str
    said_by: str
    confidence: int | None
    valid_from: str | None
    valid_to: str | None
    description: str | None


@dataclass(frozen=True, kw_only=True)
class Signal(Result):
    """How an actor and one counterpart treat each other in the event data."""

    other: str
    events: int
    cooperative: int
    conflictual: int
    goldstein_mean: float | None
    goldstein_sum: float | None
    window_ends: str | None
    window_ms: int


@dataclass(frozen=True, kw_only=True)
class SameAs(Result):
    same_as: Any
    sources: tuple[str, ...]
    confidence: int | None


@dataclass(frozen=True, kw_only=True)
class Actor(Answer):
    """An actor as known at a moment. ``known`` is False when the room learnt of it only
    later than the moment asked about: then only its name and key are given."""

    known: bool
    key: str
    name: str
    type: str
    aliases: tuple[str, ...]
    cameo: tuple[str, ...]
    country: str | None
    where: Mapping[str, Any] | None
    description: str | None
    proposed_same_as: tuple[SameAs, ...]
    relationships: tuple[Relationship, ...]
    signals: tuple[Signal, ...]


@dataclass(frozen=True, kw_only=True)
class RedLine(Result):
    name: str
    rule: str
    severity: str
    matched_events: int


@dataclass(frozen=True, kw_only=True)
class RedLines(Answer):
    redlines: tuple[RedLine, ...]


@dataclass(frozen=True, kw_only=True)
class RedLineAdded(Result):
    id: str
    name: str
    rule: str
    severity: str
    new: bool


@dataclass(frozen=True, kw_only=True)
class Crossing(Result):
    at: str | None
    value: float
    event: str


@dataclass(frozen=True, kw_only=True)
class RedLineTest(Answer):
    """What a rule would match in the data held, and for a threshold when it was crossed."""

    rule: str
    matched_events: int
    evidence: tuple[str, ...]
    threshold: float | None = None
    measure: str | None = None
    window_ms: int | None = None
    peak: float | None = None
    crossings: tuple[Crossing, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Window(Result):
    since: str | None
    until: str | None
    events: int
    by_quad_class: dict[str, int]
    by_source: dict[str, int]
    fatalities: int | None
    goldstein_sum: float | None


@dataclass(frozen=True, kw_only=True)
class Trend(Result):
    previous_mean: float
    change: float
    ratio: float | None
    z: float | None


@dataclass(frozen=True, kw_only=True)
class Intensity(Answer):
    near: Point
    radius: str
    window_ms: int
    current: Window
    previous: tuple[Window, ...]
    trend: Trend


@dataclass(frozen=True, kw_only=True)
class ClaimChange(Result):
    subject: str
    property: str
    new_claims: int
    new_values: tuple[Any, ...]
    conflict: str | None  # appeared, resolved, ongoing


@dataclass(frozen=True, kw_only=True)
class AlertRaised(Result):
    id: str
    title: str
    severity: str


@dataclass(frozen=True, kw_only=True)
class Revision(Result):
    kind: str
    event_id: str
    field: str
    was: Any
    now: Any


@dataclass(frozen=True, kw_only=True)
class Diff(Answer):
    """What changed in the picture between two moments of recorded time."""

    since: str | None
    until: str | None
    log_positions: tuple[int, int]
    records: int
    by_kind: dict[str, int]
    by_source: dict[str, int]
    claims_changed: int
    claims: tuple[ClaimChange, ...]
    actors_new: int
    actors: tuple[str, ...]
    relationships_new: int
    relationships: tuple[str, ...]
    redlines: tuple[str, ...]
    alerts: tuple[AlertRaised, ...]
    revisions: tuple[Revision, ...]


@dataclass(frozen=True, kw_only=True)
class Exported(Result):
    format: str  # jsonl or stix
    count: int  # records, or STIX objects
    as_of: str | None


# the service ------------------------------------------------------------------------------
class World:
    """Reads of the world picture, and the few writes that shape it (red lines)."""

    def __init__(
        self, session: Session, *, overdue_grace: float, stix_bundle: BundleWriter | None = None
    ) -> None:
        self._s = session
        self._status = OverdueSourceDetector(grace=overdue_grace).status
        self._stix_bundle = stix_bundle

    # what the room holds ------------------------------------------------------------------
    def state(self, *, as_of_ms: int | None = None, top: int = 10) -> State:
        s = self._s
        at = s.at(as_of_ms)
        views = s.states(["summary", "sources"], at)
        summary, sources = views["summary"], views["sources"]
        ev = summary["events"]
        countries = sorted(ev["countries"].items(), key=lambda kv: (-kv[1], kv[0]))
        return State(
            records=summary["records"],
            by_kind=dict(sorted(summary["by_kind"].items())),
            by_source=dict(sorted(summary["by_source"].items())),
            quarantined=dict(sorted(summary["quarantined"].items())),
            alerts=dict(sorted(summary["alerts"].items())),
            valid_span=_span(summary["valid_span"]),
            events=EventCounts(
                count=ev["count"],
                by_source=dict(sorted(ev["by_source"].items())),
                valid_span=_span(ev["valid_span"]),
                quad_class={
                    QUAD_CLASS_NAMES[int(k)]: ev["quad_class"][k] for k in sorted(ev["quad_class"])
                },
                top_countries=dict(countries[:top]),
            ),
            sources={
                name: SourceFreshness(
                    title=src["title"],
                    records=src["records"],
                    cadence_ms=src["cadence_ms"],
                    last_arrival=iso(hlc.wall_ms(src["last_arrival"]))
                    if src["last_arrival"]
                    else None,
                    newest_valid=iso(src["newest_valid"]),
                    status=self._status(src, at.wall),
                )
                for name, src in sorted(sources.items())
            },
            provenance=s.provenance(at, summary["valid_span"][1], None),
        )

    def events(
        self,
        *,
        near: Point | None = None,
        radius: Radius | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        as_of_ms: int | None = None,
        limit: int | None = 50,
    ) -> Events:
        """Events of every source known as of a moment, by valid time and great-circle
        distance: the nearest first with a place, else the newest first."""
        import polars as pl

        if (near is None) != (radius is None):
            raise UserInputError("a radius search needs both a centre and a radius")
        if since_ms is not None and until_ms is not None and until_ms <= since_ms:
            raise UserInputError("the end of the window must be after its start")
        s = self._s
        at = s.at(as_of_ms)
        window = None if since_ms is None and until_ms is None else (since_ms, until_ms)
        frames = []
        for batch in s.read(upto_seq=at.seq, kinds=list(EVENT_KINDS), valid_overlaps=window):
            frame = event_frame(batch)
            seqs = pl.from_arrow(batch.column("seq"))
            assert isinstance(seqs, pl.Series)
            frames.append(frame.with_columns(seqs.alias("seq")))
        df = pl.concat(frames) if frames else event_frame(RecordBatch.empty())
        if "seq" not in df.columns:
            df = df.with_columns(pl.lit(None, pl.Int64).alias("seq"))
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
        shown = df if not limit else df.head(limit)
        payloads = {r.id: r.payload for r in s.records(ids=shown["id"].to_list(), upto_seq=at.seq)}
        items = tuple(_event(row, payloads[row["id"]]) for row in shown.iter_rows(named=True))
        newest = df["valid_from"].max() if df.height else None
        return Events(
            matched=df.height,
            shown=len(items),
            near=near,
            radius=None if radius is None else radius.text,
            items=items,
            provenance=s.provenance(at, newest, EVENT_KINDS),  # type: ignore[arg-type]
        )

    def alerts(self, *, as_of_ms: int | None = None) -> Alerts:
        """The alerts raised, oldest first. Now (no ``as_of_ms``), clock-driven detectors look
        at the time first, so an overdue source is listed as soon as it is overdue."""
        if as_of_ms is None:
            self._s.tick()
        at = self._s.at(as_of_ms)
        rows = self._s.records(upto_seq=at.seq, kinds=[ALERT])
        acks = acknowledgements(self._s, upto_seq=at.seq)
        alerts = tuple(
            Alert(
                id=r.id,
                seq=r.seq or 0,
                recorded_at=iso(hlc.wall_ms(r.recorded_time or 0)) or "",
                severity=r.payload["severity"],
                title=r.payload["title"],
                detector=r.payload["detector"],
                key=r.payload["key"],
                evidence=tuple(r.payload["evidence"]),
                triggered_by=tuple(r.payload.get("triggered_by") or ()),
                detail=r.payload.get("detail") or {},
                compartment=r.compartment,
                acknowledged=acks.get(r.id, ()),
            )
            for r in rows
        )
        return Alerts(alerts=alerts, provenance=self._s.provenance(at, _newest(rows), [ALERT]))

    def acknowledge(self, alert: str) -> Acknowledged:
        """Record that this user has seen ``alert`` (once: again records nothing)."""
        return acknowledge(self._s, alert)

    def quarantine(self, *, as_of_ms: int | None = None) -> Quarantine:
        """Input rows that could not be accepted, with file, line, text and reason."""
        at = self._s.at(as_of_ms)
        rows = self._s.records(upto_seq=at.seq, kinds=[QUARANTINED])
        items = tuple(
            Quarantined(
                id=r.id,
                seq=r.seq or 0,
                recorded_at=iso(hlc.wall_ms(r.recorded_time or 0)) or "",
                source=r.source,
                connector=r.payload["connector"],
                file=r.payload["file"],
                line=r.payload["line"],
                raw=r.payload["raw"],
                reason=r.payload["reason"],
                # Records written before runs were collapsed and text was cut lack these.
                count=r.payload.get("count", 1),
                last_line=r.payload.get("last_line", r.payload["line"]),
                raw_bytes=r.payload.get("raw_bytes", len(r.payload["raw"].encode())),
            )
            for r in rows
        )
        provenance = self._s.provenance(at, _newest(rows), [QUARANTINED])
        return Quarantine(quarantined=items, provenance=provenance)

    # claims and actors --------------------------------------------------------------------
    def claims(
        self,
        subject: str,
        *,
        as_of_ms: int | None = None,
        valid_at_ms: int | None = None,
        every: bool = False,
        properties: Sequence[str] | None = None,
    ) -> Claims:
        """What sources claimed about ``subject``, as known at a time: every value of every
        property side by side, conflicts marked. By default only claims valid at the as-of
        time (or ``valid_at_ms``); ``every`` shows them whatever their valid time."""
        at = self._s.at(as_of_ms)
        state = self._s.state("claims", at)
        valid_at = None if every else (valid_at_ms if valid_at_ms is not None else at.wall)
        props = claims_view(state, subject, at.wall, valid_at=valid_at, properties=properties)
        stated = [c.stated_at for p in props for v in p.values for c in v.claims if c.stated_at]
        return Claims(
            subject=props[0].subject if props else subject,
            valid_at=iso(valid_at),
            properties=tuple(
                Property(
                    property=p.property,
                    conflict=p.conflict,
                    values=tuple(
                        ClaimedValue(
                            value=v.value,
                            independent_sources=v.independent,
                            confidence=v.confidence,
                            credible=v.credible,
                            claims=tuple(
                                ClaimRow(
                                    id=c.id,
                                    source=c.source,
                                    origin=c.origin,
                                    reliability=c.reliability,
                                    credibility=c.credibility,
                                    confidence=c.confidence,
                                    valid_from=iso(c.valid_from),
                                    valid_to=iso(c.valid_to),
                                    stated_at=iso(c.stated_at),
                                    age_ms=c.age_ms,
                                )
                                for c in v.claims
                            ),
                        )
                        for v in p.values
                    ),
                )
                for p in props
            ),
            provenance=self._s.provenance(at, max(stated, default=None), [CLAIM]),
        )

    def actors(self, *, as_of_ms: int | None = None, type: str | None = None) -> Actors:
        """The actors the room knows (from actor records, STIX and event data)."""
        at = self._s.at(as_of_ms)
        state = self._s.state("actors", at)
        degree: dict[str, int] = {}
        for r in actor_relationships(state):
            for k in (r["source"], r["target"]):
                degree[k] = degree.get(k, 0) + 1
        rows = tuple(
            ActorRow(
                key=key,
                name=a["name"],
                type=a["type"],
                aliases=tuple(a.get("aliases") or ()),
                relationships=degree.get(key, 0),
            )
            for key, a in sorted(state["actors"].items(), key=lambda kv: kv[1]["name"].casefold())
            if type is None or a["type"] == type
        )
        provenance = self._s.provenance(at, None, [ACTOR, RELATIONSHIP, UCDP_EVENT])
        return Actors(actors=rows, provenance=provenance)

    def actor(
        self, name: str, *, as_of_ms: int | None = None, window_ms: int = 30 * MS_PER_DAY
    ) -> Actor:
        """One actor: who it is, its aliases, its relationships over time, and how it and each
        counterpart treat each other in the event data."""
        at = self._s.at(as_of_ms)
        state = self._s.state("actors", at)
        key = find_actor(state, name)
        if key is None:
            return self._not_yet(name, at)
        a = state["actors"][key]
        names = {k: v["name"] for k, v in state["actors"].items()}
        mine = [r for r in actor_relationships(state) if key in (r["source"], r["target"])]
        rels = tuple(
            Relationship(
                type=r["type"],
                direction="out" if r["source"] == key else "in",
                other=names.get(r["target"] if r["source"] == key else r["source"], r["target"]),
                said_by=r["said_by"],
                confidence=r["confidence"],
                valid_from=iso(r["valid_from"]),
                valid_to=iso(r["valid_to"]),
                description=r.get("description"),
            )
            for r in mine
        )
        newest = max((r["valid_to"] or r["valid_from"] or 0 for r in mine), default=None)
        return Actor(
            known=True,
            key=key,
            name=a["name"],
            type=a["type"],
            aliases=tuple(a.get("aliases") or ()),
            cameo=tuple(a.get("cameo") or ()),
            country=a.get("country"),
            where=a.get("where"),
            description=a.get("description"),
            proposed_same_as=self._same_as(a, at),
            relationships=rels,
            signals=self._signals(_codes_of(a), at, window_ms),
            provenance=self._s.provenance(at, newest or None, [ACTOR, RELATIONSHIP, UCDP_EVENT]),
        )

    def _not_yet(self, name: str, at: AsOf) -> Actor:
        """An actor the room knows now but did not know as of ``at``: that is an answer.
        One it does not know at all is NotFound."""
        now = self._s.at()
        key = find_actor(self._s.state("actors", now), name) if at.seq < now.seq else None
        if key is None:
            raise NotFound("actor", name)
        return Actor(
            known=False,
            key=key,
            name=name,
            type="",
            aliases=(),
            cameo=(),
            country=None,
            where=None,
            description=None,
            proposed_same_as=(),
            relationships=(),
            signals=(),
            provenance=self._s.provenance(at, None, [ACTOR, RELATIONSHIP, UCDP_EVENT]),
        )

    def _signals(self, codes: Sequence[str], at: AsOf, window_ms: int) -> tuple[Signal, ...]:
        """How an actor and each counterpart treated each other in the event data over the
        window ending at the newest such event: cooperative (CAMEO QuadClass 1-2) against
        conflictual (3-4) events, and the Goldstein scale's mean and sum."""
        import polars as pl

        if not codes:
            return ()
        frames = []
        for batch in self._s.read(upto_seq=at.seq, kinds=list(EVENT_KINDS)):
            ev = event_frame(batch)
            frames.append(ev.filter(pl.col("actor1").is_in(codes) | pl.col("actor2").is_in(codes)))
        pairs = pl.concat(frames) if frames else pl.DataFrame()
        if not pairs.height:
            return ()
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
        return tuple(
            Signal(**row, window_ends=iso(end), window_ms=window_ms)
            for row in grouped.head(15).iter_rows(named=True)
        )

    def _same_as(self, a: Mapping[str, Any], at: AsOf) -> tuple[SameAs, ...]:
        """Claims that this actor is the same as another: proposed, never merged."""
        state = self._s.state("claims", at)
        out = []
        for name in sorted({a["name"], *(a.get("aliases") or [])}):
            for p in claims_view(state, name, at.wall, properties=["same-as"]):
                out += [
                    SameAs(
                        same_as=v.value,
                        sources=tuple(c.source for c in v.claims),
                        confidence=v.confidence,
                    )
                    for v in p.values
                ]
        return tuple(out)

    # red lines ----------------------------------------------------------------------------
    def add_redline(self, name: str, rule: str, *, severity: str = "warning") -> RedLineAdded:
        """A red line, checked on every event that arrives from now on."""
        if severity not in SEVERITIES:
            raise UserInputError(
                f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}"
            )
        if not name.strip():
            raise UserInputError("a red line needs a name")
        parsed = parse_rule(rule)
        now = self._s.now_ms()
        record = REDLINE.record(
            id=f"{REDLINE}:{name}:{now}",
            source="sitroom",
            valid_from=now,
            payload={"name": name, "rule": parsed.as_dict(), "severity": severity, "active": True},
        )
        out = self._s.append([record], action=f"add red line {name}")
        return RedLineAdded(
            id=record.id, name=name, rule=rule, severity=severity, new=bool(out.appended)
        )

    def redlines(self, *, as_of_ms: int | None = None) -> RedLines:
        """The red lines in force, with how many events each has matched."""
        at = self._s.at(as_of_ms)
        state = self._s.state("redlines", at)
        rows = tuple(
            RedLine(
                name=name,
                rule=spec["rule"]["text"],
                severity=spec["severity"],
                matched_events=len(state["matches"].get(name, [])),
            )
            for name, spec in sorted(state["rules"].items())
        )
        return RedLines(redlines=rows, provenance=self._s.provenance(at, None, [REDLINE]))

    def test_redline(self, rule: str, *, as_of_ms: int | None = None) -> RedLineTest:
        """What a rule would have matched — and for a threshold, when it would have been
        crossed — over every event held (as of a time)."""
        import polars as pl

        parsed = parse_rule(rule)
        at = self._s.at(as_of_ms)
        ids: list[str] = []
        history: list[list[Any]] = []
        newest: int | None = None
        for batch in self._s.read(upto_seq=at.seq, kinds=list(EVENT_KINDS)):
            events = event_frame(batch)
            picked = events.filter(pl.Series(matches(parsed, events)))
            ids += picked["id"].to_list()
            history += [
                [t, w, i]
                for t, w, i in zip(
                    picked["valid_from"].to_list(),
                    weights(parsed, picked).tolist(),
                    picked["id"].to_list(),
                    strict=True,
                )
                if t is not None
            ]
            if picked.height:
                top = int(picked["valid_from"].max())  # type: ignore[arg-type]
                newest = top if newest is None else max(newest, top)
        provenance = self._s.provenance(at, newest, EVENT_KINDS)
        found = RedLineTest(
            rule=rule,
            matched_events=len(ids),
            evidence=tuple(ids[:EVIDENCE_CAP]),
            provenance=provenance,
        )
        if not parsed.measure:
            return found
        assert parsed.window_ms is not None
        t, w, sums = window_sums(history, parsed.window_ms)
        order = [m[2] for m in sorted(history, key=lambda m: (m[0], m[2]))]
        crossings = tuple(
            Crossing(at=iso(int(t[k])), value=float(sums[k]), event=order[k])
            for k in range(len(t))
            if crossed(parsed, sums[k]) and not crossed(parsed, sums[k] - w[k])
        )
        return replace(
            found,
            threshold=parsed.threshold,
            measure=parsed.measure,
            window_ms=parsed.window_ms,
            peak=float(sums.max()) if len(sums) else 0.0,
            crossings=crossings,
        )

    # intensity and change -----------------------------------------------------------------
    def intensity(
        self,
        near: Point,
        radius: Radius,
        window_ms: int,
        *,
        until_ms: int | None = None,
        as_of_ms: int | None = None,
        previous: int = 4,
    ) -> Intensity:
        """Within a radius of a point, over a window ending at ``until_ms`` (default: the as-of
        time): events of every source by QuadClass, fatalities where the source gives them,
        the Goldstein sum, and the trend against the ``previous`` windows before it."""
        import polars as pl

        if window_ms <= 0:
            raise UserInputError("the window must be longer than zero")
        if not 0 <= previous <= 520:
            raise UserInputError("compare with 0 to 520 earlier windows")
        at = self._s.at(as_of_ms)
        end = at.wall if until_ms is None else until_ms
        start = end - window_ms * (previous + 1)
        if start < FIRST_MS:  # a century's window, 520 times: back past the calendar's year 1
            raise UserInputError(
                f"{previous + 1} windows of {human_age(window_ms)} reach back before "
                f"{FIRST_YEAR}: ask for fewer or shorter ones"
            )
        frames = []
        for batch in self._s.read(
            upto_seq=at.seq, kinds=list(EVENT_KINDS), valid_overlaps=(start, end)
        ):
            ev = event_frame(batch).filter(
                pl.col("lat").is_not_null()
                & pl.col("lon").is_not_null()
                & pl.col("valid_from").is_between(start, end, closed="left")
            )
            dist = haversine_m(ev["lat"].to_numpy(), ev["lon"].to_numpy(), near)
            frames.append(ev.filter(pl.Series(dist <= radius.meters)))
        found = pl.concat(frames) if frames else event_frame(RecordBatch.empty())
        windows = []
        for k in range(previous + 1):
            hi = end - k * window_ms
            part = found.filter(pl.col("valid_from").is_between(hi - window_ms, hi, closed="left"))
            windows.append(_window(part, hi - window_ms, hi))
        current, before = windows[0], tuple(windows[1:])
        counts = [w.events for w in before]
        mean = sum(counts) / len(counts) if counts else 0.0
        var = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1) if len(counts) > 1 else 0.0
        std = var**0.5
        newest = found["valid_from"].max() if found.height else None
        return Intensity(
            near=near,
            radius=radius.text,
            window_ms=window_ms,
            current=current,
            previous=before,
            trend=Trend(
                previous_mean=round(mean, 2),
                change=round(current.events - mean, 2),
                ratio=None if mean == 0 else round(current.events / mean, 2),
                z=None if std == 0 else round((current.events - mean) / std, 2),
            ),
            provenance=self._s.provenance(at, newest, EVENT_KINDS),  # type: ignore[arg-type]
        )

    def diff(self, since_ms: int, until_ms: int | None = None) -> Diff:
        """What changed in the picture between two moments of recorded time: arrivals by kind
        and source, claims with new values and conflicts, actors and relationships, red lines,
        alerts, and upstream revisions of events already held."""
        s = self._s
        a, b = s.at(since_ms), s.at(until_ms)
        if b.seq < a.seq:
            raise UserInputError("the end of a diff is before its start: give the earlier first")
        views = ("claims", "actors", "redlines")
        before, after = s.states(views, a), s.states(views, b)
        batches = list(s.read(after_seq=a.seq, upto_seq=b.seq))
        arrived = RecordBatch.concat(batches) if batches else RecordBatch.empty()
        claims = _claim_changes(before["claims"], after["claims"])
        new_actors, new_rels = _actor_changes(before["actors"], after["actors"])
        stamps = arrived.column("recorded_time").to_pylist() if len(arrived) else []
        return Diff(
            since=iso(a.wall),
            until=iso(b.wall),
            log_positions=(a.seq, b.seq),
            records=len(arrived),
            by_kind=_counts(arrived, "kind"),
            by_source=_counts(arrived, "source"),
            claims_changed=len(claims),
            claims=tuple(claims[:DIFF_LISTED]),
            actors_new=len(new_actors),
            actors=tuple(new_actors[:DIFF_LISTED]),
            relationships_new=len(new_rels),
            relationships=tuple(new_rels[:DIFF_LISTED]),
            redlines=tuple(
                sorted(set(after["redlines"]["rules"]) - set(before["redlines"]["rules"]))
            ),
            alerts=tuple(
                AlertRaised(id=r.id, title=r.payload["title"], severity=r.payload["severity"])
                for r in arrived.of_kinds([ALERT]).rows()
            )[:DIFF_LISTED],
            revisions=tuple(self._revisions(arrived, a.seq)[:DIFF_LISTED]),
            provenance=s.provenance(b, hlc.wall_ms(max(stamps)) if stamps else None, None),
        )

    def _revisions(self, arrived: RecordBatch, before_seq: int) -> list[Revision]:
        """New versions of events held before, with what changed in them."""
        import polars as pl

        out: list[Revision] = []
        for kind, what in REVISED.items():
            fresh = arrived.of_kinds([kind])
            if not len(fresh):
                continue
            ids = set(fresh.payload_field("event_id", pl.Utf8).to_list())
            earlier: dict[str, Any] = {}
            for batch in self._s.read(upto_seq=before_seq, kinds=[kind]):
                keys = batch.payload_field("event_id", pl.Utf8).to_list()
                for k, v in zip(keys, _revised_field(batch, kind), strict=True):
                    if k in ids:
                        earlier[k] = v  # the latest version known at the start
            keys = fresh.payload_field("event_id", pl.Utf8).to_list()
            for k, v in zip(keys, _revised_field(fresh, kind), strict=True):
                if k in earlier:
                    out.append(Revision(kind=kind, event_id=k, field=what, was=earlier[k], now=v))
        return out

    # the log itself -----------------------------------------------------------------------
    def export_jsonl(self, out: BinaryIO, *, as_of_ms: int | None = None) -> Exported:
        """The log as JSON Lines (the records this user may see), in log order."""
        at = self._s.at(as_of_ms)
        n = 0
        for batch in self._s.read(upto_seq=at.seq):
            envelopes = batch.table.select(list(ENVELOPE)).to_pylist()
            payloads = batch.payload_json().to_pylist()
            lines = []
            for env, payload in zip(envelopes, payloads, strict=True):
                env["recorded_at"] = iso(hlc.wall_ms(env["recorded_time"]))
                # Payloads are compact JSON already: spliced in, not parsed and dumped again.
                lines.append(orjson.dumps(env)[:-1] + b',"payload":' + payload.encode() + b"}\n")
            out.write(b"".join(lines))
            n += len(lines)
        return Exported(format="jsonl", count=n, as_of=iso(at.wall) if as_of_ms else None)

    def export_stix(self, out: BinaryIO, *, as_of_ms: int | None = None) -> Exported:
        """The picture as a STIX 2.1 bundle: actors, relationships, claims, red lines and
        reports, as known at a time."""
        if self._stix_bundle is None:
            raise UserInputError("this room cannot write STIX (no STIX adapter)")
        at = self._s.at(as_of_ms)
        views = self._s.states(["actors", "claims", "redlines"], at)
        reports = self._s.records(upto_seq=at.seq, kinds=[ANALYST_REPORT])
        data, n = self._stix_bundle(
            self._s.site_id, views["actors"], views["claims"], views["redlines"], reports, at.wall
        )
        out.write(data)
        return Exported(format="stix", count=n, as_of=iso(at.wall) if as_of_ms else None)


# helpers ----------------------------------------------------------------------------------
def _span(bounds: Sequence[int | None]) -> tuple[str | None, str | None]:
    return (iso(bounds[0]), iso(bounds[1]))


def _newest(rows: Sequence[Record]) -> int | None:
    return max((r.valid_from for r in rows if r.valid_from is not None), default=None)


def _event(row: Mapping[str, Any], payload: Mapping[str, Any]) -> Event:
    description, place = describe(row["kind"], payload)
    return Event(
        id=row["id"],
        seq=row["seq"],
        kind=row["kind"],
        source=row["source"],
        date=(iso(row["valid_from"]) or "")[:10] or None,
        description=description,
        place=place,
        country=row["country"],
        lat=row["lat"],
        lon=row["lon"],
        quad_class=row["quad_class"],
        actor1=row["actor1"],
        actor2=row["actor2"],
        fatalities=row["fatalities"],
        distance_m=row["distance_m"],
        payload=payload,
    )


def _codes_of(a: Mapping[str, Any]) -> list[str]:
    """The CAMEO country codes an actor acts under in event data."""
    codes = [c[:3].upper() for c in a.get("cameo") or [] if len(c) >= 3]
    if a.get("country"):
        codes.append(str(a["country"]).upper())
    return sorted(set(codes))


def _window(events: pl.DataFrame, lo: int, hi: int) -> Window:
    n = events.height
    quads = {
        QUAD_CLASS_NAMES[int(q)]: int(c)
        for q, c in events["quad_class"].value_counts().iter_rows()
        if q is not None
    }
    sources = {str(s): int(c) for s, c in events["source"].value_counts().iter_rows()}
    has_fatalities = n and events["fatalities"].is_not_null().any()
    has_goldstein = n and events["goldstein"].is_not_null().any()
    return Window(
        since=iso(lo),
        until=iso(hi),
        events=n,
        by_quad_class=dict(sorted(quads.items())),
        by_source=dict(sorted(sources.items())),
        fatalities=int(events["fatalities"].sum()) if has_fatalities else None,
        goldstein_sum=round(float(events["goldstein"].sum()), 1) if has_goldstein else None,
    )


def _counts(batch: RecordBatch, column: str) -> dict[str, int]:
    import polars as pl

    if not len(batch):
        return {}
    s = pl.from_arrow(batch.column(column))
    assert isinstance(s, pl.Series)
    return {str(k): int(n) for k, n in sorted(s.value_counts().iter_rows())}


def _values(entries: list[dict[str, Any]]) -> dict[bytes, list[dict[str, Any]]]:
    out: dict[bytes, list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault(orjson.dumps(e["value"], option=orjson.OPT_SORT_KEYS), []).append(e)
    return out


def _credible_values(entries: list[dict[str, Any]]) -> int:
    return sum(any((e["confidence"] or 0) >= 50 for e in es) for es in _values(entries).values())


def _claim_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[ClaimChange]:
    changed = []
    for subject, props in sorted(after.items()):
        for prop, entries in sorted(props.items()):
            old = before.get(subject, {}).get(prop, [])
            if len(old) == len(entries):
                continue  # claims are only ever added: same count, same claims
            new_values = [orjson.loads(k) for k in _values(entries).keys() - _values(old).keys()]
            was, now = _credible_values(old) > 1, _credible_values(entries) > 1
            conflict = (
                "appeared"
                if now and not was
                else "resolved"
                if was and not now
                else ("ongoing" if now else None)
            )
            changed.append(
                ClaimChange(
                    subject=entries[0]["subject"],
                    property=prop,
                    new_claims=len(entries) - len(old),
                    new_values=tuple(new_values),
                    conflict=conflict,
                )
            )
    return changed


def _actor_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """The actors that became known (by name), and the relationships (in words)."""
    new = sorted(set(after["actors"]) - set(before["actors"]))
    old_rels = {r["id"] for r in actor_relationships(before)}
    names = {k: v["name"] for k, v in after["actors"].items()}
    rels = [
        " ".join(
            (names.get(r["source"], r["source"]), r["type"], names.get(r["target"], r["target"]))
        )
        for r in actor_relationships(after)
        if r["id"] not in old_rels
    ]
    return [names[k] for k in new], rels


def _revised_field(batch: RecordBatch, kind: str) -> list[Any]:
    import polars as pl

    path = "fatalities.best" if kind == UCDP_EVENT else "fatalities"
    return batch.payload_field(path, pl.Int64).to_list()
