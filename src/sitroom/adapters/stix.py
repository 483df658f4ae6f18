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

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import stix2  # type: ignore[import-untyped]

from sitroom.adapters.inputs import Rejected
from sitroom.domain.actors import ACTOR_TYPES, actor_key, relationships
from sitroom.domain.claims import check_reliability
from sitroom.domain.kinds import (
    ACTOR,
    ANALYST_REPORT,
    CLAIM,
    REDLINE,
    RELATIONSHIP,
    STIX_OBJECT,
)
from sitroom.domain.records import Record
from sitroom.domain.redlines import SEVERITIES, RedLineError, parse_rule
from sitroom.domain.wording import shown
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
ACTOR_OBJECTS = ("identity", "threat-actor", "intrusion-set", "location")
RAW_KEPT = 2_000  # characters of a rejected object kept with its quarantine record
MAX_DEPTH = 64  # levels of JSON nesting a bundle may have: STIX objects use about eight
# The STIX timestamps an object may carry: each, when present, an RFC 3339 time.
TIMES = (
    "created",
    "modified",
    "start_time",
    "stop_time",
    "first_seen",
    "last_seen",
    "published",
    "valid_from",
    "valid_until",
)
# What an object of these types cannot be read without (STIX 2.1 requires them too).
REQUIRED = {
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "opinion": ("opinion", "object_refs"),
}
# A STIX type name, and an identifier: ``<type>--<UUID>``.
_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]\Z")
_ID = re.compile(
    r"([a-z0-9][a-z0-9-]{1,248}[a-z0-9])--"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
)


class Unreadable(ValueError):
    """Why one object of a bundle cannot be read: it is quarantined with this reason."""


def from_bundle(
    label: str, data: bytes, *, now_ms: int, bad: list[Rejected] | None = None
) -> list[Record]:
    """The records of a STIX 2.1 bundle (actors first, so relationships can name them).

    A bundle that is not JSON, not a bundle, or nested deeper than :data:`MAX_DEPTH` is refused
    whole (a SourceError). An object that cannot be read (an id that is not ``type--UUID``, a
    ref that is not an id, a timestamp that is not one, a confidence that is not a whole number
    from 0 to 100, a relationship with no ends...) goes to ``bad`` with its id and reason,
    numbered by its place in the bundle, and the rest stands; without ``bad``, it is a
    SourceError naming it. Linear in the bundle: the names objects are known by are gathered
    once, not per object that refers to them."""
    objects = _objects(label, data)
    names = {
        o["id"]: o["name"] if isinstance(o.get("name"), str) and o["name"] else o["id"]
        for o in objects
        if isinstance(o, dict) and isinstance(o.get("id"), str)
    }

    def read(n: int, o: Any, make: Callable[[Mapping[str, Any]], list[Record]]) -> list[Record]:
        try:
            _check(o)
            return make(o)
        except (KeyError, TypeError, ValueError, AttributeError, SitroomError) as e:
            why = f"no {e.args[0]!r}" if isinstance(e, KeyError) else " ".join(str(e).split())
            reason = f"{_what(n, o)}: {why}"
            if bad is None:
                raise SourceError(f"{label}: {reason}") from None
            bad.append(Rejected(n, orjson.dumps(o).decode()[:RAW_KEPT], reason))
            return []

    def other(o: Mapping[str, Any]) -> list[Record]:
        t = o["type"]
        if t == "relationship":
            return [_relationship_record(o, keys, label)]
        if t == "note" and "x_sitroom_subject" in o:
            return [_claim_record(o)]
        if t == "indicator" and o.get("pattern_type") == "sitroom-redline":
            return [_redline_record(o)]
        if t == "report":
            return [_report_record(o, now_ms)]
        if t in ("opinion", "sighting"):
            # Kept whole, and read as claims about the objects they concern.
            return [_kept(o), *_observation_claims(o, names, keys)]
        return [_kept(o)]

    def is_actor(o: Any) -> bool:
        return isinstance(o, dict) and o.get("type") in ACTOR_OBJECTS

    keys: dict[str, str] = {}
    actor_records = []
    for n, o in enumerate(objects, 1):
        if not is_actor(o) or o.get("x_sitroom_site") is not None:
            continue  # the exporting site's own identity is not an actor
        for rec in read(n, o, lambda x: [_actor_record(x)]):
            keys[o["id"]] = rec.payload["key"]
            actor_records.append(rec)
    rest = [r for n, o in enumerate(objects, 1) if not is_actor(o) for r in read(n, o, other)]
    # Grouped by kind, each in bundle order: the log stores a run of one kind as one segment,
    # and an opinion's kept object and claims in turn made a segment of each (20,000 segments
    # for 20,000 opinions, three quarters of the ingest's time).
    rest.sort(key=lambda r: r.kind)
    return [*actor_records, *rest]


def _objects(label: str, data: bytes) -> list[Any]:
    """A bundle's objects, or a SourceError for the whole bundle: the bundle is atomic in what
    it is (JSON, a bundle, a list of objects, nesting a record can hold), each object alone in
    what it says."""
    try:
        bundle = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e) or "recursion" in str(e).lower():
            raise SourceError(f"{label}: nested deeper than {MAX_DEPTH} levels") from None
        raise SourceError(f"{label}: not JSON ({' '.join(str(e).split())})") from None
    if _depth(bundle) > MAX_DEPTH:
        raise SourceError(f"{label}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise SourceError(f"{label}: not a STIX bundle (no top-level object of type 'bundle')")
    objects = bundle.get("objects") or []
    if not isinstance(objects, list):
        raise SourceError(f"{label}: the bundle's 'objects' is not a list")
    return objects


def _depth(value: Any) -> int:
    """How deep JSON nests (a scalar is 0), without recursing: orjson reads 1,024 levels but
    writes only 254, and a record's payload is written."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        deepest = max(deepest, d)
        todo.extend((x, d + 1) for x in v if isinstance(x, dict | list))
    return deepest


def _what(n: int, o: Any) -> str:
    """How a reason names an object: its type and id when its id is one, else its place."""
    sid = o.get("id") if isinstance(o, dict) else None
    found = _ID.match(sid) if isinstance(sid, str) else None
    return f"{found.group(1)} {sid}" if found else f"object {n}"


def _check(o: Any) -> None:
    """What every object must be before it is read (STIX 2.1's common rules): Unreadable,
    with the first thing wrong, if it is not."""
    if not isinstance(o, dict):
        raise Unreadable(f"not a JSON object but {shown(o)}")
    t = o.get("type")
    if not isinstance(t, str) or not _TYPE.match(t):
        raise Unreadable(f"'type' is not a STIX type name: {shown(t)}")
    if "id" not in o:
        raise Unreadable("no 'id'")
    found = _ID.match(o["id"]) if isinstance(o["id"], str) else None
    if found is None or found.group(1) != t:
        raise Unreadable(f"'id' is not {t}--UUID: {shown(o['id'])}")
    for key in REQUIRED.get(t, ()):
        if o.get(key) in (None, "", []):
            raise Unreadable(f"no {key!r}")
    for key, value in o.items():
        if key.endswith("_ref"):
            _ref(value, key)
        elif key.endswith("_refs"):
            if not isinstance(value, list):
                raise Unreadable(f"{key!r} is not a list of ids: {shown(value)}")
            for ref in value:
                _ref(ref, key)
    for key in TIMES:
        _ms(o.get(key), key)
    _whole(o, "confidence", 0, 100)
    for key in ("name", "description", "relationship_type", "opinion", "pattern"):
        if key in o and not isinstance(o[key], str):
            raise Unreadable(f"{key!r} is not text: {shown(o[key])}")
    authors = o.get("authors")
    if authors is not None and (
        not isinstance(authors, list) or not all(isinstance(a, str) and a for a in authors)
    ):
        raise Unreadable(f"'authors' is not a list of names: {shown(authors)}")


def _ref(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise Unreadable(f"{key!r} is not a STIX id (type--UUID): {shown(value)}")
    return value


def _ms(value: Any, key: str = "time") -> int | None:
    """A STIX timestamp as epoch milliseconds (None: not given)."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError
        return round(when.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise Unreadable(f"{key!r} is not an RFC 3339 timestamp: {shown(value)}") from None


def _text(o: Mapping[str, Any], key: str) -> str | None:
    """A property that must be text when given (one that becomes a record's source, a name)."""
    value = o.get(key)
    if value is None or (isinstance(value, str) and value):
        return value
    raise Unreadable(f"{key!r} is not text: {shown(value)}")


def _texts(o: Mapping[str, Any], key: str) -> list[str]:
    value = o.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise Unreadable(f"{key!r} is not a list of texts: {shown(value)}")
    return value


def _whole(o: Mapping[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = o.get(key)
    if value is None or (type(value) is int and lo <= value <= hi):
        return value
    raise Unreadable(f"{key!r} is a whole number from {lo} to {hi}, not {shown(value)}")


def _epoch_ms(o: Mapping[str, Any], key: str) -> int | None:
    """One of sitroom's own times (``x_sitroom_valid_from``...): epoch milliseconds, within
    the years 1-9999 as every other time."""
    try:
        return _whole(o, key, -_YEAR_10000_MS, _YEAR_10000_MS)
    except Unreadable:
        raise Unreadable(f"{key!r} is not a time in epoch milliseconds: {shown(o[key])}") from None


_YEAR_10000_MS = 253_402_300_800_000


# STIX 2.1 opinion vocabulary, as the confidence that the referenced object is right.
_OPINION_CONFIDENCE = {
    "strongly-disagree": 10,
    "disagree": 30,
    "neutral": 50,
    "agree": 70,
    "strongly-agree": 90,
}


def _observation_claims(
    o: Mapping[str, Any], names: Mapping[str, str], keys: Mapping[str, str]
) -> list[Record]:
    author = (o.get("authors") or [None])[0] or o.get("created_by_ref") or "stix"
    if o["type"] == "opinion":
        if o["opinion"] not in _OPINION_CONFIDENCE:
            raise Unreadable(
                f"'opinion' is one of {', '.join(_OPINION_CONFIDENCE)}, not {shown(o['opinion'])}"
            )
        return [
            CLAIM.record(
                id=f"{_rid(o)}#{ref}",
                source=str(author),
                confidence=_OPINION_CONFIDENCE[o["opinion"]],
                payload={
                    "subject": names.get(ref, ref),
                    "property": "opinion",
                    "value": o["opinion"],
                    "stated_at": _ms(o.get("created")),
                    "links": [],
                },
            )
            for ref in o["object_refs"]
        ]
    ref = o["sighting_of_ref"]
    count = _whole(o, "count", 0, 999_999_999)  # STIX's own bound
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
                    "count": 1 if count is None else count,
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
        }.get(o["type"]) or _ACTOR_TYPE_OF.get(_text(o, "identity_class") or "", "organisation")
    name = o.get("name") or o["id"]
    return ACTOR.record(
        id=_rid(o),
        source="stix",
        confidence=o.get("confidence"),
        payload={
            "key": _text(o, "x_sitroom_key") or actor_key(name),
            "name": name,
            "type": kind,
            "aliases": list(_texts(o, "aliases") or _texts(o, "x_sitroom_aliases")),
            "cameo": _texts(o, "x_sitroom_cameo"),
            "country": _text(o, "x_sitroom_country") or _text(o, "country"),
            "description": o.get("description"),
            "stix_id": o["id"],
            "stix_type": o["type"],
            "where": _where(o),
        },
    )


def _where(o: Mapping[str, Any]) -> dict[str, Any] | None:
    """A location's place: its names as text, its coordinates as degrees in range."""
    where: dict[str, Any] = {
        k: _text(o, k) for k in ("region", "country", "administrative_area", "city") if k in o
    }
    for k, bound in (("latitude", 90), ("longitude", 180)):
        if k in o:
            v = o[k]
            if isinstance(v, bool) or not isinstance(v, int | float) or not -bound <= v <= bound:
                raise Unreadable(f"{k!r} is degrees from {-bound} to {bound}, not {shown(v)}")
            where[k] = v
    return where or None


def _relationship_record(o: Mapping[str, Any], keys: Mapping[str, str], label: str) -> Record:
    return RELATIONSHIP.record(
        id=_rid(o),
        source=_text(o, "x_sitroom_said_by") or f"stix:{label}",
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
    subject, prop = _text(o, "x_sitroom_subject"), _text(o, "x_sitroom_property")
    if not subject or not prop:
        raise Unreadable(f"no {'x_sitroom_property' if subject else 'x_sitroom_subject'!r}")
    value = None
    if o.get("x_sitroom_value") is not None:
        text = _text(o, "x_sitroom_value") or ""
        value = orjson.loads(text)  # not JSON: a ValueError, quarantined with its reason
        if _depth(value) > MAX_DEPTH:
            raise Unreadable(f"'x_sitroom_value' is nested deeper than {MAX_DEPTH} levels")
    credibility = _whole(o, "x_sitroom_credibility", 1, 6)
    return CLAIM.record(
        id=_text(o, "x_sitroom_claim_id") or _rid(o),
        source=_text(o, "x_sitroom_source") or (o.get("authors") or ["stix"])[0],
        confidence=o.get("confidence"),
        valid_from=_epoch_ms(o, "x_sitroom_valid_from"),
        valid_to=_epoch_ms(o, "x_sitroom_valid_to"),
        payload={
            "subject": subject,
            "property": prop,
            "value": value,
            "reliability": check_reliability(o.get("x_sitroom_reliability")),
            "credibility": credibility,
            "origin": _text(o, "x_sitroom_origin"),
            "stated_at": _epoch_ms(o, "x_sitroom_stated_at"),
            "report": _text(o, "x_sitroom_report"),
            "links": [],
        },
    )


def _redline_record(o: Mapping[str, Any]) -> Record:
    try:
        rule = parse_rule(o.get("pattern") or "")
    except RedLineError as e:
        raise Unreadable(f"'pattern': {e}") from None
    severity = o.get("x_sitroom_severity", "warning")
    if severity not in SEVERITIES:
        raise Unreadable(
            f"'x_sitroom_severity' is one of {', '.join(SEVERITIES)}, not {shown(severity)}"
        )
    return REDLINE.record(
        id=_rid(o),
        source="stix",
        payload={
            "name": o.get("name") or o["id"],
            "rule": rule.as_dict(),
            "severity": severity,
            "active": True,
        },
    )


def _report_record(o: Mapping[str, Any], now_ms: int) -> Record:
    published = _ms(o.get("published")) or now_ms
    return ANALYST_REPORT.record(
        id=_rid(o),
        source=_text(o, "x_sitroom_source") or "stix",
        valid_from=published,
        valid_to=published,
        payload={
            "title": o.get("name"),
            "author": None,
            "reliability": check_reliability(o.get("x_sitroom_reliability")),
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
