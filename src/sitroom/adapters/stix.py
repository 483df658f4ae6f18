"""STIX 2.1 bundles, in and out, with the OASIS ``stix2`` library.

Out: the workspace's actors (identities, threat actors, locations), relationships (sitroom's own
types such as ``alliance`` or ``proxy`` as custom relationship types), claims (notes carrying
the claim in ``x_sitroom_*`` properties), red lines (indicators with pattern type
``sitroom-redline``) and analyst reports. Ids are stable: an object imported from STIX keeps its
id; anything else gets a UUIDv5 of its sitroom record id, so exporting twice gives the same ids.

In: identities, threat actors, intrusion sets and locations become actors; relationships become
relationships; notes written by sitroom become claims again, reports become reports, indicators
of red lines become red lines. Every other object (opinions, sightings, notes of other tools,
...) is kept whole as a ``stix.object`` record: nothing in a bundle is dropped. A record's id is
the object's id and ``modified`` time, so importing a bundle twice adds nothing and a newer
version of an object adds a version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import stix2  # type: ignore[import-untyped]

from sitroom.adapters.inputs import Rejected
from sitroom.domain.actors import ACTOR_TYPES, actor_key, relationships
from sitroom.domain.kinds import (
    ACTOR,
    ANALYST_REPORT,
    CLAIM,
    REDLINE,
    RELATIONSHIP,
    STIX_OBJECT,
)
from sitroom.domain.records import Record
from sitroom.domain.redlines import RedLineError, parse_rule
from sitroom.errors import SitroomError, SourceError

NAMESPACE = uuid.UUID("6f0e1a52-4f1b-5c2e-9a53-5d0f7c1f2b11")  # sitroom's UUIDv5 namespace
_IDENTITY_CLASS = {
    "person": "individual",
    "state": "organization",
    "organisation": "organization",
    "intermediary": "organization",
}
_ACTOR_TYPE_OF = {"individual": "person", "group": "organisation", "organization": "organisation"}


def _stable_id(stix_type: str, record_id: str) -> str:
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, record_id)}"


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).replace("Z", "+00:00")
    return round(datetime.fromisoformat(text).timestamp() * 1000)


# export -----------------------------------------------------------------------------------
def to_bundle(
    site: str,
    actors: Mapping[str, Any],
    claims: Mapping[str, Any],
    redlines: Mapping[str, Any],
    reports: Iterable[Record],
    now_ms: int,
) -> stix2.Bundle:
    me = stix2.Identity(
        id=_stable_id("identity", f"sitroom-site:{site}"),
        name=f"sitroom site {site}",
        identity_class="system",
        x_sitroom_site=site,
        allow_custom=True,
    )
    objects: list[Any] = [me]
    refs: dict[str, str] = {}  # actor key -> STIX id
    for key, a in sorted(actors["actors"].items()):
        obj = _actor_object(key, a, me.id)
        refs[key] = obj.id
        objects.append(obj)
    for r in relationships(actors):
        source, target = refs.get(r["source"]), refs.get(r["target"])
        if source is None or target is None:
            continue  # a relationship to something sitroom does not hold as an actor
        start, stop = _ts(r["valid_from"]), _ts(r["valid_to"])
        if start is not None and stop is not None and stop <= start:
            stop = None  # STIX wants stop_time after start_time; a point stays a start
        objects.append(
            stix2.Relationship(
                id=r.get("stix_id") or _stable_id("relationship", r["id"]),
                source_ref=source,
                target_ref=target,
                relationship_type=r["type"],
                description=r.get("description"),
                confidence=r["confidence"],
                start_time=start,
                stop_time=stop,
                created_by_ref=me.id,
                x_sitroom_said_by=r["said_by"],
                allow_custom=True,
            )
        )
    notes_of_report: dict[str, list[str]] = {}
    for entries in (e for props in claims.values() for es in props.values() for e in es):
        note = _claim_note(entries, refs, actors, me.id, now_ms)
        objects.append(note)
        report = entries.get("report")
        if report:
            notes_of_report.setdefault(report, []).append(note.id)
    for name, spec in sorted(redlines["rules"].items()):
        objects.append(
            stix2.Indicator(
                id=_stable_id("indicator", spec["id"]),
                name=name,
                pattern=spec["rule"]["text"],
                pattern_type="sitroom-redline",
                valid_from=_ts(now_ms),
                created_by_ref=me.id,
                x_sitroom_severity=spec["severity"],
                allow_custom=True,
            )
        )
    for rec in reports:
        p = rec.payload
        objects.append(
            stix2.Report(
                id=_stable_id("report", rec.id),
                name=p.get("title") or f"report by {rec.source}",
                published=_ts(p["published"]),
                description=p.get("body") or None,
                object_refs=notes_of_report.get(rec.id) or [me.id],
                created_by_ref=me.id,
                x_sitroom_source=rec.source,
                x_sitroom_reliability=p.get("reliability"),
                allow_custom=True,
            )
        )
    return stix2.Bundle(objects=objects, allow_custom=True)


def _actor_object(key: str, a: Mapping[str, Any], creator: str) -> Any:
    common = {
        "name": a["name"],
        "description": a.get("description"),
        "created_by_ref": creator,
        "x_sitroom_key": key,
        "x_sitroom_actor_type": a["type"],
        "x_sitroom_cameo": a.get("cameo") or None,
        "x_sitroom_country": a.get("country"),
        "allow_custom": True,
    }
    record = a.get("record") or f"actor:{key}"
    stix_type = a.get("stix_type") or (
        "threat-actor"
        if a["type"] == "armed-group"
        else "location"
        if a["type"] == "location"
        else "identity"
    )
    if stix_type == "location" and not a.get("where"):
        stix_type = "identity"  # a STIX location needs a region, a country or coordinates
    sid = a.get("stix_id") or _stable_id(stix_type, record)
    aliases = a.get("aliases") or None
    if stix_type == "threat-actor":
        return stix2.ThreatActor(id=sid, aliases=aliases, **common)
    if stix_type == "intrusion-set":
        return stix2.IntrusionSet(id=sid, aliases=aliases, **common)
    if stix_type == "location":
        where = a.get("where") or {}
        return stix2.Location(id=sid, x_sitroom_aliases=aliases, **where, **common)
    return stix2.Identity(
        id=sid,
        identity_class=_IDENTITY_CLASS.get(a["type"], "unknown"),
        x_sitroom_aliases=aliases,
        **common,
    )


def _claim_note(
    e: Mapping[str, Any], refs: Mapping[str, str], actors: Mapping[str, Any], me: str, now_ms: int
) -> Any:
    subject_ref = refs.get(actors["aliases"].get(" ".join(e["subject"].split()).casefold(), ""))
    return stix2.Note(
        id=_stable_id("note", e["id"]),
        abstract=f"{e['subject']}: {e['property']}",
        content=f"{e['subject']} {e['property']} = {orjson.dumps(e['value']).decode()}",
        authors=[e["source"]],
        object_refs=[subject_ref or me],
        confidence=e["confidence"],
        created_by_ref=me,
        x_sitroom_claim_id=e["id"],
        x_sitroom_subject=e["subject"],
        x_sitroom_property=e["property"],
        x_sitroom_value=orjson.dumps(e["value"]).decode(),
        x_sitroom_source=e["source"],
        x_sitroom_origin=e.get("origin"),
        x_sitroom_reliability=e.get("reliability"),
        x_sitroom_credibility=e.get("credibility"),
        x_sitroom_valid_from=e.get("valid_from"),
        x_sitroom_valid_to=e.get("valid_to"),
        x_sitroom_stated_at=e.get("stated_at"),
        x_sitroom_report=e.get("report"),
        allow_custom=True,
    )


# import -----------------------------------------------------------------------------------
def from_bundle(
    label: str, data: bytes, *, now_ms: int, bad: list[Rejected] | None = None
) -> list[Record]:
    """The records of a STIX 2.1 bundle (actors first, so relationships can name them). An
    object that cannot be read (a relationship with no ends, refs that are not a list) goes to
    ``bad`` with its reason, numbered by its place in the bundle; without ``bad``, it is a
    SourceError naming it."""
    try:
        bundle = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise SourceError(f"{label}: not JSON ({e})") from None
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise SourceError(f"{label}: not a STIX bundle (no top-level object of type 'bundle')")
    objects = [o for o in bundle.get("objects") or [] if isinstance(o, dict) and "id" in o]
    place = {id(o): n for n, o in enumerate(objects, 1)}

    def read(
        o: Mapping[str, Any], make: Callable[[Mapping[str, Any]], list[Record]]
    ) -> list[Record]:
        try:
            return make(o)
        except (KeyError, TypeError, ValueError, AttributeError, SitroomError) as e:
            why = f"no {e.args[0]!r}" if isinstance(e, KeyError) else " ".join(str(e).split())
            reason = f"{o.get('type')} {o.get('id')}: {why}"
            if bad is None:
                raise SourceError(f"{label}: {reason}") from None
            raw = orjson.dumps(o).decode()[:RAW_KEPT]
            bad.append(Rejected(place[id(o)], raw, reason))
            return []

    def other(o: Mapping[str, Any]) -> list[Record]:
        t = o.get("type")
        if t == "relationship":
            return [_relationship_record(o, keys, label)]
        if t == "note" and "x_sitroom_subject" in o:
            return [_claim_record(o)]
        if t == "indicator" and o.get("pattern_type") == "sitroom-redline":
            return [_redline_record(o, label)]
        if t == "report":
            return [_report_record(o, now_ms)]
        if t in ("opinion", "sighting"):
            # Kept whole, and read as claims about the objects they concern.
            return [_kept(o), *_observation_claims(o, objects, keys)]
        return [_kept(o)]

    keys: dict[str, str] = {}
    actor_records = []
    for o in objects:
        if o.get("x_sitroom_site") is not None:
            continue  # the exporting site's own identity: not an actor
        if o.get("type") in ACTOR_OBJECTS:
            for rec in read(o, lambda x: [_actor_record(x)]):
                keys[o["id"]] = rec.payload["key"]
                actor_records.append(rec)
    rest = [r for o in objects if o.get("type") not in ACTOR_OBJECTS for r in read(o, other)]
    return [*actor_records, *rest]


ACTOR_OBJECTS = ("identity", "threat-actor", "intrusion-set", "location")
RAW_KEPT = 2_000  # characters of a rejected object kept with its quarantine record


# STIX 2.1 opinion vocabulary, as the confidence that the referenced object is right.
_OPINION_CONFIDENCE = {
    "strongly-disagree": 10,
    "disagree": 30,
    "neutral": 50,
    "agree": 70,
    "strongly-agree": 90,
}


def _observation_claims(
    o: Mapping[str, Any], objects: list[dict[str, Any]], keys: Mapping[str, str]
) -> list[Record]:
    names = {x["id"]: x.get("name") or x["id"] for x in objects}
    author = (o.get("authors") or [None])[0] or o.get("created_by_ref") or "stix"
    if o["type"] == "opinion":
        return [
            CLAIM.record(
                id=f"{_rid(o)}#{ref}",
                source=str(author),
                confidence=_OPINION_CONFIDENCE.get(o.get("opinion", "")),
                payload={
                    "subject": names.get(ref, ref),
                    "property": "opinion",
                    "value": o.get("opinion"),
                    "stated_at": _ms(o.get("created")),
                    "links": [],
                },
            )
            for ref in o.get("object_refs") or []
        ]
    ref = o["sighting_of_ref"]
    return [
        CLAIM.record(
            id=f"{_rid(o)}#sighted",
            source=str(o.get("created_by_ref") or "stix"),
            confidence=o.get("confidence"),
            valid_from=_ms(o.get("first_seen")),
            valid_to=_ms(o.get("last_seen")),
            payload={
                "subject": names.get(ref, keys.get(ref, ref)),
                "property": "sighted",
                "value": {
                    "count": o.get("count", 1),
                    "where": [names.get(w, w) for w in o.get("where_sighted_refs") or []],
                },
                "stated_at": _ms(o.get("created")),
                "links": [],
            },
        )
    ]


def _rid(o: Mapping[str, Any]) -> str:
    return f"stix:{o['id']}:{o.get('modified') or o.get('created') or ''}"


def _actor_record(o: Mapping[str, Any]) -> Record:
    kind = o.get("x_sitroom_actor_type")
    if kind not in ACTOR_TYPES:
        kind = {
            "threat-actor": "armed-group",
            "intrusion-set": "armed-group",
            "location": "location",
        }.get(o["type"]) or _ACTOR_TYPE_OF.get(o.get("identity_class", ""), "organisation")
    name = o.get("name") or o["id"]
    where = {
        k: o[k]
        for k in ("region", "country", "administrative_area", "city", "latitude", "longitude")
        if k in o
    }
    return ACTOR.record(
        id=_rid(o),
        source="stix",
        confidence=o.get("confidence"),
        payload={
            "key": o.get("x_sitroom_key") or actor_key(name),
            "name": name,
            "type": kind,
            "aliases": list(o.get("aliases") or o.get("x_sitroom_aliases") or []),
            "cameo": list(o.get("x_sitroom_cameo") or []),
            "country": o.get("x_sitroom_country") or o.get("country"),
            "description": o.get("description"),
            "stix_id": o["id"],
            "stix_type": o["type"],
            "where": where or None,
        },
    )


def _relationship_record(o: Mapping[str, Any], keys: Mapping[str, str], label: str) -> Record:
    return RELATIONSHIP.record(
        id=_rid(o),
        source=o.get("x_sitroom_said_by") or f"stix:{label}",
        confidence=o.get("confidence"),
        valid_from=_ms(o.get("start_time")),
        valid_to=_ms(o.get("stop_time")),
        payload={
            "source": keys.get(o["source_ref"], o["source_ref"]),
            "target": keys.get(o["target_ref"], o["target_ref"]),
            "type": o["relationship_type"],
            "description": o.get("description"),
            "stix_id": o["id"],
        },
    )


def _claim_record(o: Mapping[str, Any]) -> Record:
    return CLAIM.record(
        id=o.get("x_sitroom_claim_id") or _rid(o),
        source=o.get("x_sitroom_source") or (o.get("authors") or ["stix"])[0],
        confidence=o.get("confidence"),
        valid_from=o.get("x_sitroom_valid_from"),
        valid_to=o.get("x_sitroom_valid_to"),
        payload={
            "subject": o["x_sitroom_subject"],
            "property": o.get("x_sitroom_property"),
            "value": orjson.loads(o["x_sitroom_value"]) if "x_sitroom_value" in o else None,
            "reliability": o.get("x_sitroom_reliability"),
            "credibility": o.get("x_sitroom_credibility"),
            "origin": o.get("x_sitroom_origin"),
            "stated_at": o.get("x_sitroom_stated_at"),
            "report": o.get("x_sitroom_report"),
            "links": [],
        },
    )


def _redline_record(o: Mapping[str, Any], label: str) -> Record:
    try:
        rule = parse_rule(o["pattern"])
    except RedLineError as e:
        raise SourceError(f"{label}: indicator {o['id']}: {e}") from None
    return REDLINE.record(
        id=_rid(o),
        source="stix",
        payload={
            "name": o.get("name") or o["id"],
            "rule": rule.as_dict(),
            "severity": o.get("x_sitroom_severity", "warning"),
            "active": True,
        },
    )


def _report_record(o: Mapping[str, Any], now_ms: int) -> Record:
    published = _ms(o.get("published")) or now_ms
    return ANALYST_REPORT.record(
        id=_rid(o),
        source=o.get("x_sitroom_source") or "stix",
        valid_from=published,
        valid_to=published,
        payload={
            "title": o.get("name"),
            "author": None,
            "reliability": o.get("x_sitroom_reliability"),
            "published": published,
            "body": o.get("description") or "",
            "claims": [],
            "stix_id": o["id"],
            "object_refs": list(o.get("object_refs") or []),
        },
    )


def _kept(o: Mapping[str, Any]) -> Record:
    return STIX_OBJECT.record(
        id=_rid(o),
        source="stix",
        confidence=o.get("confidence"),
        payload=dict(o),
    )


def bundle_json(
    site: str,
    actors: Mapping[str, Any],
    claims: Mapping[str, Any],
    redlines: Mapping[str, Any],
    reports: Sequence[Record],
    now_ms: int,
) -> tuple[bytes, int]:
    """A bundle of the picture (:func:`to_bundle`) as pretty JSON, and how many objects it
    holds: what ``room.world.export_stix`` writes."""
    bundle = to_bundle(site, actors, claims, redlines, reports, now_ms)
    return bundle.serialize(pretty=True).encode() + b"\n", len(bundle.objects)
