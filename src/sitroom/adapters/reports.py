"""Analyst reports: Markdown with YAML front matter, carrying claims.

    ---
    title: Hezbollah posture after the strikes
    author: jdoe
    source: analyst:jdoe        # optional (default analyst:<author>)
    reliability: B              # Admiralty A-F, of this source
    published: 2026-11-24T18:00:00Z
    cadence: 1d                 # optional: how often this source reports (overdue when silent)
    claims:
      - subject: Hezbollah
        property: posture
        value: defensive
        credibility: 2          # Admiralty 1-6 (or confidence: 0-100, the STIX scale)
        valid_from: 2026-11-20
        valid_to: 2026-12-01    # optional; open-ended when left out
        origin: IDF statement   # optional: where it came from (for independence)
        links: [https://example.org/briefing]
    ---
    Free text: the analysis itself.

A report becomes one ``analyst.report`` record and one ``claim`` record per claim. Its id derives
from the file's content, so adding the same file again adds nothing, and an edited report is a
new report beside the old one (history is kept).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from sitroom.adapters import maps, yamlsafe
from sitroom.domain import sources
from sitroom.domain.actors import ACTOR_TYPES, RELATIONSHIP_TYPES, actor_key
from sitroom.domain.claims import check_reliability, confidence_of, credibility_of
from sitroom.domain.kinds import ACTOR, ANALYST_REPORT, CLAIM, RELATIONSHIP
from sitroom.domain.records import Record, feed_item_id
from sitroom.domain.stale import check_depends_on
from sitroom.domain.timeutil import parse_duration, parse_time
from sitroom.domain.wording import shown
from sitroom.errors import RecordError, SourceError, UserInputError

_DELIMITER = "---"


def parse_report(label: str, text: str, *, now_ms: int) -> list[Record]:
    """The report's records: the report, then its claims. Every mistake names the file and,
    for a claim, its number (1-based) and field."""
    meta, body = _front_matter(label, text)
    author = _text(meta.get("author"), f"{label}: 'author'", required=False)
    source = _text(meta.get("source"), f"{label}: 'source'", required=False) or (
        f"analyst:{author}" if author else None
    )
    if not source:
        raise SourceError(f"{label}: give 'source' or 'author' in the front matter")
    try:
        reliability = check_reliability(meta.get("reliability"))
    except RecordError as e:
        raise SourceError(f"{label}: {e}") from None
    published = yaml_time(meta.get("published"), f"{label}: 'published'", now_ms) or now_ms
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    report_id = feed_item_id(source, f"report:{digest}")
    claims_meta = meta.get("claims") or []
    if not isinstance(claims_meta, list):
        raise SourceError(f"{label}: 'claims' must be a list of claims")
    claims = [
        _claim(label, i, c, source, reliability, published, report_id, now_ms)
        for i, c in enumerate(claims_meta, 1)
    ]
    actors = [_actor(label, i, a, report_id) for i, a in enumerate(_list(meta, "actors", label), 1)]
    relations = [
        _relationship(label, i, r, source, report_id, now_ms)
        for i, r in enumerate(_list(meta, "relationships", label), 1)
    ]
    report = ANALYST_REPORT.record(
        id=report_id,
        source=source,
        valid_from=published,
        valid_to=published,
        payload={
            "title": _text(meta.get("title"), f"{label}: 'title'", required=False),
            "author": author,
            "reliability": reliability,
            "published": published,
            "body": body.strip(),
            "claims": [c.id for c in claims],
            "file": label,
        },
    )
    declared = []
    if meta.get("cadence") is not None:
        try:
            cadence = parse_duration(str(meta["cadence"]))
        except UserInputError:
            raise SourceError(f"{label}: 'cadence' must be a duration such as 1d or 12h") from None
        # An analyst who reports daily is a source like any feed: overdue when silent.
        declared.append(sources.declaration(source, f"reports by {source}", cadence))
    return [*declared, *actors, report, *claims, *relations]


def _list(meta: dict[str, Any], field: str, label: str) -> list[Any]:
    items = meta.get(field) or []
    if not isinstance(items, list):
        raise SourceError(f"{label}: '{field}' must be a list")
    return items


def _actor(label: str, n: int, a: Any, report_id: str) -> Record:
    where = f"{label}: actor {n}"
    if not isinstance(a, dict) or not a.get("name"):
        raise SourceError(f"{where}: an actor is a mapping with at least a 'name'")
    kind = a.get("type", "organisation")
    if kind not in ACTOR_TYPES:
        raise SourceError(f"{where}: type must be one of {', '.join(ACTOR_TYPES)}, got {kind!r}")
    name = _text(a["name"], f"{where}: 'name'", required=True) or ""
    aliases, cameo = _names(a, "aliases", where), _names(a, "cameo", where)
    country = _text(a.get("country"), f"{where}: 'country'", required=False)
    country = country.upper() if country else None
    if country is None and cameo and kind == "state":
        country = cameo[0][:3].upper()  # a state's CAMEO code is its ISO alpha-3
    return ACTOR.record(
        id=f"{report_id}#actor-{n}",
        source=report_id.split(":report:")[0],
        payload={
            "key": _text(a.get("key"), f"{where}: 'key'", required=False) or actor_key(name),
            "name": name,
            "type": kind,
            "aliases": aliases,
            "cameo": cameo,
            "country": country,
            "description": _text(a.get("description"), f"{where}: 'description'", required=False),
            "stix_id": None,
            # On the map: the country's representative point, from Natural Earth's shapes.
            "where": maps.place_of(country) if country else None,
        },
    )


def _relationship(label: str, n: int, r: Any, source: str, report_id: str, now_ms: int) -> Record:
    where = f"{label}: relationship {n}"
    if not isinstance(r, dict):
        raise SourceError(f"{where}: a relationship is a mapping with source, target and type")
    for field in ("source", "target", "type"):
        if not r.get(field):
            raise SourceError(f"{where}: '{field}' is required")
    if r["type"] not in RELATIONSHIP_TYPES:
        raise SourceError(
            f"{where}: type must be one of {', '.join(RELATIONSHIP_TYPES)}, got {r['type']!r}"
        )
    confidence = _confidence(r.get("confidence"), where)
    valid_from, valid_to = yaml_window(r, where, now_ms)
    return RELATIONSHIP.record(
        id=f"{report_id}#relationship-{n}",
        source=source,
        confidence=confidence,
        valid_from=valid_from,
        valid_to=valid_to,
        payload={
            "source": str(r["source"]),
            "target": str(r["target"]),
            "type": r["type"],
            "description": r.get("description"),
            "stix_id": None,
        },
    )


def _front_matter(label: str, text: str) -> tuple[dict[str, Any], str]:
    lines = text.lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != _DELIMITER:
        raise SourceError(f"{label}: a report starts with a '---' line and YAML front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _DELIMITER)
    except StopIteration:
        raise SourceError(f"{label}: the front matter is not closed by a '---' line") from None
    meta = yamlsafe.load("\n".join(lines[1:end]), f"{label}: front matter", first_line=2) or {}
    if not isinstance(meta, dict):
        raise SourceError(f"{label}: the front matter must be a mapping of fields")
    return meta, "\n".join(lines[end + 1 :])


def _claim(
    label: str,
    n: int,
    c: Any,
    source: str,
    reliability: str | None,
    published: int,
    report_id: str,
    now_ms: int,
) -> Record:
    where = f"{label}: claim {n}"
    if not isinstance(c, dict):
        raise SourceError(f"{where}: a claim is a mapping with subject, property and value")
    for field in ("subject", "property", "value"):
        if c.get(field) in (None, ""):
            raise SourceError(f"{where}: '{field}' is required")
    try:
        credibility = c.get("credibility")
        confidence = c.get("confidence")
        if credibility is not None and confidence is not None:
            raise SourceError(f"{where}: give credibility (1-6) or confidence (0-100), not both")
        if credibility is not None:
            if not isinstance(credibility, int) or isinstance(credibility, bool):
                raise SourceError(f"{where}: credibility must be 1-6, got {credibility!r}")
            confidence = confidence_of(credibility)
        elif confidence is not None:
            credibility = credibility_of(_confidence(confidence, where))
        own = check_reliability(c.get("reliability")) or reliability
    except RecordError as e:
        raise SourceError(f"{where}: {e}") from None
    valid_from, valid_to = yaml_window(c, where, now_ms)
    if valid_from is None and valid_to is not None:
        raise SourceError(f"{where}: 'valid_to' needs a 'valid_from'")
    links = c.get("links") or []
    if not isinstance(links, list):
        links = [links]
    try:
        depends_on = check_depends_on(_plain(c.get("depends_on"), where), where)
    except RecordError as e:
        raise SourceError(str(e)) from None
    return CLAIM.record(
        id=f"{report_id}#claim-{n}",
        source=source,
        confidence=confidence,
        valid_from=valid_from,
        valid_to=valid_to,
        payload={
            "subject": str(c["subject"]).strip(),
            "property": str(c["property"]).strip(),
            "value": _plain(c["value"], where),
            "reliability": own,
            "credibility": credibility,
            "origin": _text(c.get("origin"), f"{where}: 'origin'", required=False),
            "stated_at": published,
            "report": report_id,
            "links": [str(x) for x in links],
            **({"depends_on": depends_on} if depends_on else {}),  # type: ignore[typeddict-item]
        },
    )


def _confidence(value: Any, where: str) -> int | None:
    """A confidence on STIX's scale: a whole number from 0 to 100 (``true`` is not one)."""
    if value is None or (type(value) is int and 0 <= value <= 100):
        return value
    raise SourceError(f"{where}: confidence must be 0-100, got {shown(value)}")


def _names(entry: dict[str, Any], field: str, where: str) -> list[str]:
    """A list of names (aliases, CAMEO codes): one name alone is a list of one."""
    value = entry.get(field)
    items = [] if value is None else value if isinstance(value, list) else [value]
    if not all(isinstance(x, str | int) and not isinstance(x, bool) for x in items):
        raise SourceError(f"{where}: '{field}' must be a list of names")
    return [str(x) for x in items]


def _text(value: Any, where: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise SourceError(f"{where} is required")
        return None
    if isinstance(value, dict | list):
        raise SourceError(f"{where} must be text")
    return str(value).strip() or None


def yaml_window(
    entry: dict[str, Any],
    where: str,
    now_ms: int,
    keys: tuple[str, str] = ("valid_from", "valid_to"),
    *,
    empty_allowed: bool = True,
) -> tuple[int | None, int | None]:
    """An entry's time window from two of its fields, checked: the end is not before the start
    (nor equal to it, when an empty window makes no sense)."""
    first, last = keys
    start = yaml_time(entry.get(first), f"{where}: '{first}'", now_ms)
    end = yaml_time(entry.get(last), f"{where}: '{last}'", now_ms)
    if (
        start is not None
        and end is not None
        and (end < start or (end == start and not empty_allowed))
    ):
        raise SourceError(
            f"{where}: '{last}' is before '{first}'"
            if end < start
            else f"{where}: '{last}' must be after '{first}'"
        )
    return start, end


def yaml_time(value: Any, where: str, now_ms: int) -> int | None:
    """YAML reads an unquoted date as a date object; quoted or not, it means the same time."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.isoformat() if value.tzinfo else value.isoformat() + "Z"
    elif isinstance(value, dt.date):
        value = value.isoformat()
    try:
        return parse_time(str(value), now_ms=now_ms)
    except UserInputError:
        raise SourceError(f"{where}: cannot read time {str(value)!r} (ISO 8601)") from None


def _plain(value: Any, where: str) -> Any:
    """A claim's value as JSON: dates become ISO text; a whole number past 64 bits, which no
    record can hold, is a mistake."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        raise SourceError(f"{where}: 'value' holds a number past 64 bits: {shown(value)}")
    return value


def read_report(path: str, now_ms: int) -> list[Record]:
    """A report file's records (:func:`parse_report`), read as UTF-8 text."""
    try:
        text = yamlsafe.read_text(Path(path))
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read {path}: {e}") from None
    return parse_report(path, text, now_ms=now_ms)
