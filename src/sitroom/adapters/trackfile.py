"""Track files: the tracks a team runs, the resources they share and who holds what, in YAML.

    tracks:
      - id: us-iran
        name: US-Iran talks
        parties: [USA, IRN]
        venue: Geneva                 # a known city, or {name, lat, lon}
        status: planned
        priority: 1
        needs: [nsc-me]               # resources it cannot proceed without
        preconditions:
          - {track: ceasefire, status: agreed}
    resources:
      - {id: nsc-me, name: NSC Middle East team, type: team, capacity: 1,
         timezone: America/New_York, hours: "09:00-18:00", days: Mon-Fri}
      - {id: palais, name: Palais des Nations, type: venue, capacity: 2, location: Geneva}
    holdings:
      - {track: us-iran, resource: nsc-me, from: 2026-11-20, until: 2026-12-12}
    meetings:
      - id: us-iran-1
        track: us-iran
        title: US-Iran talks, round 1
        duration: 2h                  # or minutes, as a number
        required: [nsc-me]
        optional: [analyst]
        venue: palais                 # a venue resource, or a city
        from: 2026-12-01              # the window it must fall in
        until: 2026-12-19
        after: [ceasefire-3]          # meetings it must follow
        prefer: [{before: 2026-12-05, weight: 3}]

Each entry becomes a record whose id derives from its content: loading the same file again adds
nothing, and a changed entry is a new version beside the old one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sitroom.adapters.reports import yaml_time, yaml_window
from sitroom.domain.kinds import HOLDING, MEETING, RESOURCE, TRACK, Kind
from sitroom.domain.places import find_place
from sitroom.domain.records import Record, content_id
from sitroom.domain.timeutil import MS_PER_MIN, parse_duration
from sitroom.domain.week import WorkingWeek
from sitroom.errors import SourceError, UserInputError

RESOURCE_TYPES = ("person", "team", "link", "key", "venue", "asset")
SOURCE = "tracks"


def read_track_file(path: Path, *, now_ms: int) -> list[Record]:
    """The records of the track file at ``path`` (SourceError if it cannot be read or is not
    a valid track file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    return parse_track_file(str(path), text, now_ms=now_ms)


def parse_track_file(label: str, text: str, *, now_ms: int) -> list[Record]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SourceError(f"{label}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(doc, dict):
        raise SourceError(f"{label}: a track file is a mapping with tracks, resources, holdings")
    resources = [_resource(label, i, r) for i, r in enumerate(_list(doc, "resources", label), 1)]
    tracks = [_track(label, i, t, now_ms) for i, t in enumerate(_list(doc, "tracks", label), 1)]
    holdings = [
        _holding(label, i, h, now_ms) for i, h in enumerate(_list(doc, "holdings", label), 1)
    ]
    meetings = [
        _meeting(label, i, m, now_ms) for i, m in enumerate(_list(doc, "meetings", label), 1)
    ]
    known = {t.payload["id"] for t in tracks}
    for t in tracks:
        for pre in t.payload["preconditions"]:
            if pre["track"] not in known:
                raise SourceError(
                    f"{label}: track {t.payload['id']!r} has a precondition on unknown track "
                    f"{pre['track']!r}"
                )
    ids = [m.payload["id"] for m in meetings]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise SourceError(f"{label}: meeting ids must be unique; repeated: {', '.join(twice)}")
    return [*resources, *tracks, *holdings, *meetings]


def _list(doc: dict[str, Any], field: str, label: str) -> list[Any]:
    items = doc.get(field) or []
    if not isinstance(items, list):
        raise SourceError(f"{label}: '{field}' must be a list")
    return items


def _record(kind: Kind[Any], payload: dict[str, Any], **envelope: Any) -> Record:
    digest = content_id(payload)
    key = payload.get("id") or f"{payload.get('track')}:{payload.get('resource')}"
    # A track is a compartment: its own records are visible to those cleared for it only.
    # Resources stay general: the same envoy serves several tracks.
    track = payload["id"] if kind == TRACK else payload.get("track", "")
    return kind.record(
        id=f"{kind}:{key}@{digest}",
        source=SOURCE,
        payload=payload,
        compartment=str(track or ""),
        **envelope,
    )


def _need(entry: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise SourceError(f"{where}: expected a mapping with {', '.join(fields)}")
    for f in fields:
        if entry.get(f) in (None, ""):
            raise SourceError(f"{where}: '{f}' is required")
    return entry


def _resource(label: str, n: int, r: Any) -> Record:
    where = f"{label}: resource {n}"
    r = _need(r, ("id",), where)
    kind = r.get("type", "person")
    if kind not in RESOURCE_TYPES:
        raise SourceError(f"{where}: type must be one of {', '.join(RESOURCE_TYPES)}, got {kind!r}")
    capacity = r.get("capacity", 1)
    if not isinstance(capacity, int) or capacity < 1:
        raise SourceError(f"{where}: capacity must be a whole number of at least 1")
    try:
        WorkingWeek.of(r.get("hours"), r.get("days"), r.get("timezone"))
    except UserInputError as e:
        raise SourceError(f"{where}: {e}") from None
    return _record(
        RESOURCE,
        {
            "id": str(r["id"]),
            "name": str(r.get("name") or r["id"]),
            "type": kind,
            "capacity": capacity,
            "timezone": r.get("timezone"),
            "hours": r.get("hours"),
            "days": r.get("days"),
            "location": _place(r.get("location"), where),
        },
    )


def _place(value: Any, where: str) -> dict[str, Any] | None:
    """A place as {name, lat, lon}: a known city by name, or given with coordinates."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        place = find_place(value)
        return {"name": value, "lat": place.lat, "lon": place.lon} if place else {"name": value}
    if isinstance(value, dict) and value.get("name"):
        try:
            lat, lon = float(value["lat"]), float(value["lon"])
        except (KeyError, TypeError, ValueError):
            return {"name": str(value["name"])}
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SourceError(f"{where}: coordinates out of range: {lat}, {lon}")
        return {"name": str(value["name"]), "lat": lat, "lon": lon}
    raise SourceError(f"{where}: a place is a city name or {{name, lat, lon}}")


def _track(label: str, n: int, t: Any, now_ms: int) -> Record:
    where = f"{label}: track {n}"
    t = _need(t, ("id", "name"), where)
    venue = _place(t.get("venue"), where)
    pre = []
    for p in t.get("preconditions") or []:
        p = _need(p, ("track", "status"), f"{where}: precondition")
        pre.append({"track": str(p["track"]), "status": str(p["status"])})
    return _record(
        TRACK,
        {
            "id": str(t["id"]),
            "name": str(t["name"]),
            "parties": [str(x) for x in t.get("parties") or []],
            "venue": venue,
            "status": str(t.get("status", "planned")),
            "priority": int(t.get("priority", 3)),
            "needs": [str(x) for x in t.get("needs") or []],
            "preconditions": pre,
        },
        valid_from=now_ms,
    )


def _holding(label: str, n: int, h: Any, now_ms: int) -> Record:
    where = f"{label}: holding {n}"
    h = _need(h, ("track", "resource"), where)
    start, end = yaml_window(h, where, now_ms, ("from", "until"), empty_allowed=False)
    return _record(
        HOLDING,
        {
            "track": str(h["track"]),
            "resource": str(h["resource"]),
            "amount": int(h.get("amount", 1)),
        },
        valid_from=start,
        valid_to=end,
    )


def _meeting(label: str, n: int, m: Any, now_ms: int) -> Record:
    where = f"{label}: meeting {n}"
    m = _need(m, ("id", "track", "duration"), where)
    where = f"{label}: meeting {m['id']!r}"
    start, end = yaml_window(m, where, now_ms, ("from", "until"), empty_allowed=False)
    return _record(
        MEETING,
        {
            "id": str(m["id"]),
            "track": str(m["track"]),
            "title": str(m.get("title") or m["id"]),
            "duration": _minutes(m["duration"], where),
            "required": _names(m.get("required"), f"{where}: 'required'"),
            "optional": _names(m.get("optional"), f"{where}: 'optional'"),
            "venue": str(m["venue"]) if m.get("venue") else None,
            "window": [start, end],
            "after": _names(m.get("after"), f"{where}: 'after'"),
            "prefer": [_preference(p, where, now_ms) for p in _items(m.get("prefer"))],
        },
    )


def _minutes(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SourceError(f"{where}: 'duration' is minutes, or a duration such as 90m or 2h")
    try:
        minutes = value if isinstance(value, int) else parse_duration(value) // MS_PER_MIN
    except UserInputError as e:
        raise SourceError(f"{where}: {e}") from None
    if minutes < 1 or minutes > 24 * 60:
        raise SourceError(f"{where}: 'duration' must be between 1 minute and one day")
    return minutes


def _names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str | int) for x in value):
        raise SourceError(f"{where} must be a list of ids")
    return [str(x) for x in value]


def _items(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _preference(p: Any, where: str, now_ms: int) -> dict[str, Any]:
    kinds = [k for k in ("before", "after") if isinstance(p, dict) and k in p]
    if len(kinds) != 1:
        raise SourceError(f"{where}: a preference is {{before: TIME, weight: N}} or {{after: ...}}")
    kind = kinds[0]
    weight = p.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
        raise SourceError(f"{where}: a preference's weight is a whole number of at least 1")
    return {
        "kind": kind,
        "at": yaml_time(p[kind], f"{where}: preference", now_ms),
        "weight": weight,
    }
