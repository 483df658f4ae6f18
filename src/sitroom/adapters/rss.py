"""RSS and Atom news feeds: each item a ``news.report`` record.

:func:`open_feed` reads a feed file or fetches a feed URL (with httpx, through the shared input
layer); :func:`chunks` parses the bytes with feedparser (RSS 0.9x/1.0/2.0, Atom 0.3/1.0) into
records for the one append path; :func:`feed_source` names the feed and :func:`declaration`
declares it with its polling cadence. The same bytes always give the same records, wherever they
came from: relative links are not resolved against the URL they were fetched from.

Source name (:func:`feed_source`): ``rss:`` followed by the feed's canonical address, the first
of

1. its ``rel="self"`` link (``atom:link`` in RSS 2.0, ``<link rel="self">`` in Atom): the
   address the publisher gives the feed itself;
2. its own ``link`` (RSS ``<channel><link>``, Atom ``rel="alternate"``): the site it belongs to;
3. the input's label: host and path of the URL it was fetched from, or the file's name;

written as lower-case host, path without a trailing slash, and ``?query`` when there is one
(scheme and fragment dropped: http and https are the same feed). So a re-poll of a feed, a saved
copy of it and its next edition all share one source.

Ids: ``<source>:<entry id>`` (Atom ``<id>``, RSS ``<guid>``), else ``<source>:<link>``, else
``<source>:sha256:<32 hex of title and published>``. An id over the 512-character limit of record
ids becomes ``<source>:sha256:<32 hex of the item's key>``.

Payload of record kind ``news.report`` v1 (the published schema):

    feed        {title, link}   the feed's title and its own link (null when absent)
    title       str|null        the item's title
    summary     str|null        its summary or description, HTML as feedparser sanitised it
    link        str|null        its link
    links       [str]           every link href of the item (alternate, related, enclosure),
                                ``link`` included
    published   str|null        its publication time, ISO 8601 UTC ("2025-03-04T08:15:00Z"):
                                ``published`` (RSS pubDate), else ``updated``; whole seconds
    authors     [str]           author names (the e-mail address when no name is given)
    tags        [str]           category terms
    entry_id    str|null        the item's own id (Atom id, RSS guid) as given

Valid time is the publication time as a point (``valid_from == valid_to``), unknown (null) when
the item carries no date. An item with neither id, link nor title, or with a ``published`` or
``updated`` date that cannot be read or lies outside the sane range (domain/timeutil.py: the
year 9999 is a damaged date, not a publication time), is quarantined: its item number (1-based,
in document order), its XML text as read (the parsed entry's repr when the text cannot be
located) and a reason.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import feedparser  # type: ignore[import-untyped]
import httpx

from sitroom.adapters.inputs import MAX_BYTES, Input, Rejected, is_url, open_input, quarantine
from sitroom.application.ports import Chunk
from sitroom.domain import sources
from sitroom.domain.kinds import NEWS_REPORT
from sitroom.domain.records import MAX_ID_LENGTH, Record, RecordBatch, feed_item_id
from sitroom.domain.timeutil import MS_PER_H, SANE_DATES, iso, sane_date_ms
from sitroom.errors import SourceError

CONNECTOR = "rss"
PREFIX = "rss:"
MAX_SOURCE_LENGTH = 200  # leaves room in a record id for the item's own id

# One item or entry element, any namespace prefix (RSS 1.0 and some generators write them).
_ELEMENT = re.compile(
    rb"<(?:[\w.-]+:)?(?P<tag>item|entry)(?:\s[^>]*?)?(?:/>|>.*?</(?:[\w.-]+:)?(?P=tag)\s*>)",
    re.DOTALL,
)


def open_feed(spec: str, client: httpx.Client | None = None, max_bytes: int = MAX_BYTES) -> Input:
    """A feed file or an http(s) feed URL, as one input (fetched with httpx, never by
    feedparser, so a test's or a caller's client and its timeouts apply)."""
    return open_input(spec, client, hint="name the feed file in it", max_bytes=max_bytes)


def feed_source(inp: Input) -> str:
    """The feed's source name: see the module docstring for the rule."""
    return _source(_parse(inp), inp)


def feed_title(inp: Input) -> str:
    """The feed's own title, or its source name when it has none (for :func:`declaration`)."""
    parsed = _parse(inp)
    return _text(_get(parsed["feed"], "title")) or _source(parsed, inp)


def declaration(
    source: str,
    title: str,
    cadence_ms: int = MS_PER_H,
    *,
    url: str | None = None,
    publisher: str | None = None,
) -> Record:
    """The feed declares itself and how often it is polled. A feed's terms are the publisher's
    own; nothing in RSS or Atom states them reliably, so no licence is declared."""
    return sources.declaration(source, title, cadence_ms, publisher=publisher, url=url)


def chunks(inp: Input) -> Iterator[Chunk]:
    """One chunk for the whole feed: its reports and its quarantined items, appended together.
    Raises :class:`SourceError` when the input is not a feed at all."""
    parsed = _parse(inp)
    source = _source(parsed, inp)
    feed = parsed["feed"]
    feed_info = {"title": _text(_get(feed, "title")), "link": _text(_get(feed, "link"))}
    entries: list[Mapping[str, Any]] = list(parsed["entries"])
    reports: list[Record] = []
    rejected: list[Rejected] = []
    raw_texts: list[str] | None = None
    located = False  # the XML texts are looked for once, and only when an item is rejected
    for number, entry in enumerate(entries, start=1):
        reason = _problem(entry)
        if reason is None:
            reports.append(_report(source, feed_info, entry))
            continue
        if not located:
            raw_texts, located = _raw_entries(inp, parsed, len(entries)), True
        raw = raw_texts[number - 1] if raw_texts else repr(dict(entry))
        rejected.append(Rejected(number, raw, reason))
    batch = RecordBatch.from_records(reports)
    if rejected:
        batch = RecordBatch.concat([batch, quarantine(CONNECTOR, source, inp, rejected)])
    yield Chunk(batch, len(entries))


# parsing ------------------------------------------------------------------------------------
def _parse(inp: Input) -> Mapping[str, Any]:
    # A stream, never a string: feedparser fetches or opens a string that looks like a URL or
    # a path. No response headers either: with them feedparser flags a missing content type.
    try:
        parsed = cast(Mapping[str, Any], feedparser.parse(io.BytesIO(bytes(inp.data))))
    except (UnicodeError, ValueError) as e:
        # feedparser decodes a damaged prolog by hand and lets these through (a NUL in the
        # declaration, bytes no declared encoding reads).
        detail = " ".join(str(e).split())
        raise SourceError(f"{inp.label}: not an RSS or Atom feed ({detail})") from None
    entries = parsed.get("entries") or []
    title = _text(_get(parsed.get("feed") or {}, "title"))
    if not entries and not title and (parsed.get("bozo") or not parsed.get("version")):
        problem = parsed.get("bozo_exception")
        if not len(inp.data):
            detail = "the input is empty"
        elif problem:
            detail = " ".join(str(problem).split())  # one line, whatever the parser says
        else:
            detail = "no RSS or Atom elements"
        raise SourceError(f"{inp.label}: not an RSS or Atom feed ({detail})")
    return parsed


def _get(d: Mapping[str, Any], key: str) -> Any:
    # Plain dict lookup: feedparser's own maps "updated" to "published" with a
    # DeprecationWarning, and its keymap aliases would hide what the document holds.
    return dict.get(cast(dict[str, Any], d), key)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _source(parsed: Mapping[str, Any], inp: Input) -> str:
    feed = parsed.get("feed") or {}
    links = _get(feed, "links") or []
    self_link = next(
        (_text(link.get("href")) for link in links if link.get("rel") == "self"),
        None,
    )
    for address in (self_link, _text(_get(feed, "link"))):
        if address and is_url(address):
            return _bounded(PREFIX + _address(address))
    if is_url(inp.label):
        return _bounded(PREFIX + _address(inp.label))
    # Only the file's name: the same saved feed read from another directory is the same source.
    return _bounded(PREFIX + Path(inp.label).name)


def _address(url: str) -> str:
    u = urlparse(url)
    path = u.path.rstrip("/")
    return f"{(u.hostname or '').lower()}{path}{'?' + u.query if u.query else ''}"


def _bounded(source: str) -> str:
    if len(source) <= MAX_SOURCE_LENGTH:
        return source
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{source[: MAX_SOURCE_LENGTH - 17]}~{digest}"


def _problem(entry: Mapping[str, Any]) -> str | None:
    """Why an entry cannot become a report, or None."""
    if not (_text(_get(entry, "id")) or _text(_get(entry, "link")) or _text(_get(entry, "title"))):
        return "no id (guid), link or title: the item cannot be identified"
    for field in ("published", "updated"):
        given = _text(_get(entry, field))
        parsed = _get(entry, f"{field}_parsed")
        if given and parsed is None:
            return f"{field} is not a date: {given!r}"
        if parsed is not None and not _sane(parsed):
            # feedparser reads "99999999" as December 9999, "00000000" as the year -1: damaged
            # dates, not a report's.
            return f"{field} is outside {SANE_DATES}: {given!r}"
    return None


def _sane(parsed: time.struct_time) -> bool:
    try:
        return sane_date_ms(calendar.timegm(parsed) * 1000)
    except (ValueError, OverflowError):  # a year datetime cannot hold
        return False


def _report(source: str, feed_info: Mapping[str, Any], entry: Mapping[str, Any]) -> Record:
    entry_id = _text(_get(entry, "id"))
    link = _text(_get(entry, "link"))
    title = _text(_get(entry, "title"))
    when = _get(entry, "published_parsed") or _get(entry, "updated_parsed")
    valid = calendar.timegm(cast(time.struct_time, when)) * 1000 if when else None
    published = _text(_get(entry, "published")) or _text(_get(entry, "updated")) or ""
    links = [h for h in (_text(x.get("href")) for x in _get(entry, "links") or []) if h]
    if link and link not in links:
        links.insert(0, link)  # an RSS permalink guid stands in for a missing <link>
    key = entry_id or link or _digest(f"{title}\n{published}")
    rid = feed_item_id(source, key)
    if len(rid) > MAX_ID_LENGTH:
        rid = feed_item_id(source, _digest(key))
    return NEWS_REPORT.record(
        id=rid,
        source=source,
        valid_from=valid,
        valid_to=valid,
        compartment="",
        payload={
            "feed": dict(feed_info),
            "title": title,
            "summary": _text(_get(entry, "summary")),
            "link": link,
            "links": links,
            "published": iso(valid),
            "authors": [
                n
                for n in (
                    _text(a.get("name")) or _text(a.get("email"))
                    for a in _get(entry, "authors") or []
                )
                if n
            ],
            "tags": [t for t in (_text(x.get("term")) for x in _get(entry, "tags") or []) if t],
            "entry_id": entry_id,
        },
    )


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _raw_entries(inp: Input, parsed: Mapping[str, Any], count: int) -> list[str] | None:
    """Each entry's XML text as read, in document order; None unless exactly one element is
    found per parsed entry (a commented-out item, or an encoding the pattern cannot see)."""
    found = [m.group(0) for m in _ELEMENT.finditer(bytes(inp.data))]
    if len(found) != count:
        return None
    encoding = parsed.get("encoding") or "utf-8"
    try:
        return [f.decode(encoding, "replace") for f in found]
    except LookupError:
        return [f.decode("utf-8", "replace") for f in found]
