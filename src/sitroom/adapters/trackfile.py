"""Track files: the tracks a team runs, the resources they share and who holds what, in YAML.

    tracks:
      - id: us-iran
        name: US-Iran talks
        parties: [USA, IRN]
        venue: Geneva                 # a known city, or {name, lat, lon}
        status: planned
        priority: 1
        needs: [nsc-me]               # resources it cannot proceed without
        preconditions:              # met at this status or any after it
          - {track: ceasefire, status: agreed}
        statuses: [planned, negotiating, agreed, signed]   # its own order (default: LADDER)
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
        venue: palais                 # a venue resource, or a city (default: the track's)
        # remote: true                # a call instead: no venue, no travel; require its link
        from: 2026-12-01              # the window it must fall in
        until: 2026-12-19
        after: [ceasefire-3]          # meetings it must follow
        prefer: [{before: 2026-12-05, weight: 3}]

Each entry becomes a record whose id derives from its content: loading the same file again adds
nothing, and a changed entry is a new version that replaces the old one. Tracks, resources and
meetings are known by their ids, a holding by its track, resource and start: the same person
held by one track in two periods is two holdings. Every problem names the file and line. A file
that cannot be read is a :class:`SourceError`; one whose content is wrong, a
:class:`UserInputError` (the user's own input: exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sitroom.adapters import yamlsafe
from sitroom.adapters.reports import yaml_time, yaml_window
from sitroom.domain.kinds import HOLDING, MEETING, RESOURCE, TRACK, Kind
from sitroom.domain.places import find_place
from sitroom.domain.projection import JOINT
from sitroom.domain.records import Record, content_id
from sitroom.domain.timeutil import MS_PER_MIN, parse_duration
from sitroom.domain.tracks import TrackFile, holding_key
from sitroom.domain.week import WorkingWeek
from sitroom.domain.wording import shown
from sitroom.errors import SourceError, UserInputError

RESOURCE_TYPES = ("person", "team", "link", "key", "venue", "asset")
SOURCE = "tracks"
LINE = "__line__"  # where an entry starts, noted by the loader
# Whole numbers a file may give, with their bounds: CP-SAT works in 64-bit integers, and a
# capacity of 10^29 is a typing mistake, not a plan.
PRIORITY = (1, 5)  # 1 first: a priority-1 meeting's delay costs five times a priority-5's
CAPACITY = (1, 10_000)
WEIGHT = (1, 1_000)


class _Loader(yamlsafe.BoundedLoader):
    """Bounded safe YAML that notes the line each mapping starts on."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Any:
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))
    data[LINE] = node.start_mark.line + 1


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_track_file(path: Path, *, now_ms: int) -> TrackFile:
    """The records of the track file at ``path`` (SourceError if it cannot be read or is not
    a valid track file)."""
    try:
        text = yamlsafe.read_text(path)
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    return parse_track_file(str(path), text, now_ms=now_ms)


def parse_track_file(label: str, text: str, *, now_ms: int) -> TrackFile:
    doc = yamlsafe.load(text, label, loader=_Loader) or {}
    if not isinstance(doc, dict):
        raise UserInputError(f"{label}: a track file is a mapping with tracks, resources, holdings")
    where: dict[str, str] = {}
    records: list[Record] = []
    for field, read in (
        ("resources", _resource),
        ("tracks", _track),
        ("holdings", _holding),
        ("meetings", _meeting),
    ):
        for n, entry in enumerate(_list(doc, field, label), 1):
            at = f"{label}:{entry.get(LINE, '?')}" if isinstance(entry, dict) else label
            r = read(at, n, entry, now_ms)
            where[r.id] = f"{at}: {field[:-1]} {_name(r)}"
            records.append(r)
    ids = [r.payload["id"] for r in records if r.kind == MEETING]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise UserInputError(f"{label}: meeting ids must be unique; repeated: {', '.join(twice)}")
    return TrackFile(label, records, where)


def _name(r: Record) -> str:
    p = r.payload
    return repr(p["id"]) if "id" in p else f"of {p['resource']!r} by {p['track']!r}"


def _list(doc: dict[str, Any], field: str, label: str) -> list[Any]:
    items = doc.get(field) or []
    if not isinstance(items, list):
        raise UserInputError(f"{label}: '{field}' must be a list")
    return items


def _record(kind: Kind[Any], payload: dict[str, Any], **envelope: Any) -> Record:
    # A holding's period is part of what it says (the envelope's valid times); a track's
    # valid_from is only when it was added.
    said = (
        {"from": envelope["valid_from"], "until": envelope["valid_to"]} if kind == HOLDING else {}
    )
    digest = content_id({**payload, **said})
    key = payload.get("id") or holding_key(payload, envelope["valid_from"])
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


def _whole(
    entry: dict[str, Any], field: str, where: str, bounds: tuple[int, int], default: int
) -> int:
    value = entry.get(field, default)
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserInputError(
            f"{where}: '{field}' is a whole number from {lo} to {hi}, not {shown(value)}"
        )
    return value


def _need(entry: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise UserInputError(f"{where}: expected a mapping with {', '.join(fields)}")
    for f in fields:
        if entry.get(f) in (None, ""):
            raise UserInputError(f"{where}: '{f}' is required")
    return entry


def _resource(label: str, n: int, r: Any, now_ms: int) -> Record:
    where = f"{label}: resource {n}"
    r = _need(r, ("id",), where)
    kind = r.get("type", "person")
    if kind not in RESOURCE_TYPES:
        raise UserInputError(
            f"{where}: type must be one of {', '.join(RESOURCE_TYPES)}, got {kind!r}"
        )
    capacity = _whole(r, "capacity", where, CAPACITY, 1)
    try:
        WorkingWeek.of(r.get("hours"), r.get("days"), r.get("timezone"))
    except UserInputError as e:
        raise UserInputError(f"{where}: {e}") from None
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
            raise UserInputError(f"{where}: coordinates out of range: {lat}, {lon}")
        return {"name": str(value["name"]), "lat": lat, "lon": lon}
    raise UserInputError(f"{where}: a place is a city name or {{name, lat, lon}}")


def _track(label: str, n: int, t: Any, now_ms: int) -> Record:
    where = f"{label}: track {n}"
    t = _need(t, ("id", "name"), where)
    if JOINT in str(t["id"]):
        raise UserInputError(
            f"{where}: a track id has no {JOINT!r} (it is its compartment, and "
            f"'a{JOINT}b' is the joint compartment of tracks a and b)"
        )
    venue = _place(t.get("venue"), where)
    pre = []
    for p in _items(t.get("preconditions")):
        p = _need(p, ("track", "status"), f"{where}: precondition")
        pre.append({"track": str(p["track"]), "status": str(p["status"])})
    return _record(
        TRACK,
        {
            "id": str(t["id"]),
            "name": str(t["name"]),
            "parties": _names(t.get("parties"), f"{where}: 'parties'"),
            "venue": venue,
            "status": str(t.get("status", "planned")),
            "priority": _whole(t, "priority", where, PRIORITY, 3),
            "needs": _names(t.get("needs"), f"{where}: 'needs'"),
            "preconditions": pre,
            **(
                {"statuses": _names(t["statuses"], f"{where}: 'statuses'")}
                if "statuses" in t
                else {}
            ),
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
            "amount": _whole(h, "amount", where, CAPACITY, 1),
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
            **({"remote": True} if _remote(m, where) else {}),
            "window": [start, end],
            "after": _names(m.get("after"), f"{where}: 'after'"),
            "prefer": [_preference(p, where, now_ms) for p in _items(m.get("prefer"))],
        },
    )


def _remote(m: dict[str, Any], where: str) -> bool:
    """``remote: true``: a call, with no venue and no travel (without it, a meeting with no
    venue is held at its track's)."""
    remote = m.get("remote", False)
    if not isinstance(remote, bool):
        raise UserInputError(f"{where}: 'remote' is true or false, not {shown(remote)}")
    if remote and m.get("venue"):
        raise UserInputError(f"{where}: a remote meeting has no venue (its link is required)")
    return remote


def _minutes(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UserInputError(f"{where}: 'duration' is minutes, or a duration such as 90m or 2h")
    try:
        minutes = value if isinstance(value, int) else parse_duration(value) // MS_PER_MIN
    except UserInputError as e:
        raise UserInputError(f"{where}: {e}") from None
    if minutes < 1 or minutes > 24 * 60:
        raise UserInputError(f"{where}: 'duration' must be between 1 minute and one day")
    return minutes


def _names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str | int) for x in value):
        raise UserInputError(f"{where} must be a list of ids")
    return [str(x) for x in value]


def _items(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _preference(p: Any, where: str, now_ms: int) -> dict[str, Any]:
    kinds = [k for k in ("before", "after") if isinstance(p, dict) and k in p]
    if len(kinds) != 1:
        raise UserInputError(
            f"{where}: a preference is {{before: TIME, weight: N}} or {{after: ...}}"
        )
    kind = kinds[0]
    weight = _whole(p, "weight", f"{where}: preference", WEIGHT, 1)
    return {
        "kind": kind,
        "at": yaml_time(p[kind], f"{where}: preference", now_ms),
        "weight": weight,
    }
