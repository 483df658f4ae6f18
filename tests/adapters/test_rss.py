"""RSS and Atom feeds: from invented fixture files and from a local HTTP server serving them
(never the internet), into a real workspace. The expected times are read from the fixtures with
the standard library's own parsers, not with feedparser."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

import sitroom
from sitroom.adapters import rss
from sitroom.adapters.inputs import Input
from sitroom.application.ingest import IngestReport, ingest
from sitroom.domain.kinds import NEWS_REPORT, QUARANTINED, SOURCE_DECLARED
from sitroom.domain.records import Record
from sitroom.errors import SourceError
from sitroom.room import Room

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rss"
WIRE = FIXTURES / "wire.rss.xml"
WIRE_NEXT = FIXTURES / "wire-next.rss.xml"
ATOM = FIXTURES / "briefings.atom.xml"
LATE = FIXTURES / "late-edition.rss.xml"

WIRE_SOURCE = "rss:wire.example.org/feeds/diplomacy.xml"
ATOM_SOURCE = "rss:mfa.example.net/briefings/atom.xml"
A = "{http://www.w3.org/2005/Atom}"


@dataclass
class Server:
    """A directory served over HTTP on localhost, remembering every path requested."""

    root: Path
    base: str
    requests: list[str] = field(default_factory=list)

    def publish(self, fixture: Path, name: str = "feed.xml") -> str:
        shutil.copyfile(fixture, self.root / name)
        return f"{self.base}/{name}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            """Keep the test output clean: the server's access log is not needed."""

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Server(root, f"http://127.0.0.1:{httpd.server_address[1]}", requests)
    httpd.shutdown()
    httpd.server_close()


def records(inp: Input) -> list[Record]:
    return [r for chunk in rss.chunks(inp) for r in chunk.records.rows()]


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def rss_expected(path: Path) -> list[tuple[str, str, int | None]]:
    """(id, link, publication ms) of each item, as the fixture states them."""
    out = []
    for item in ET.parse(path).getroot().iter("item"):
        guid, link, date = (item.findtext(t) for t in ("guid", "link", "pubDate"))
        key = guid or link
        assert key is not None
        out.append((key, link or key, ms(parsedate_to_datetime(date)) if date else None))
    return out


def atom_expected(path: Path) -> list[tuple[str, str, int]]:
    out = []
    for entry in ET.parse(path).getroot().iter(f"{A}entry"):
        date = entry.findtext(f"{A}published") or entry.findtext(f"{A}updated")
        key, link = entry.findtext(f"{A}id"), entry.find(f"{A}link")
        assert key and date and link is not None
        out.append((key, link.attrib["href"], ms(datetime.fromisoformat(date))))
    return out


def poll(ws: Room, spec: str) -> IngestReport:
    inp = rss.open_feed(spec)
    return ingest(ws.session, inp.label, rss.chunks(inp))


def logged(ws: Room, kind: str) -> list[Record]:
    return [r for batch in ws.session.read(kinds=[kind]) for r in batch.rows()]


# items become reports ----------------------------------------------------------------------
def test_rss_items_fetched_over_http_become_reports_with_source_time_and_links(
    server: Server,
) -> None:
    url = server.publish(WIRE)
    got = records(rss.open_feed(url))
    assert server.requests == ["/feed.xml"]
    expected = rss_expected(WIRE)
    assert [(r.id, r.payload["link"], r.valid_from) for r in got] == [
        (f"{WIRE_SOURCE}:{key}", link, when) for key, link, when in expected
    ]
    # The offsets of the fixture, worked out by hand: +0100, GMT, -0500, EST, no date at all.
    assert [r.payload["published"] for r in got] == [
        "2025-03-04T08:15:00Z",
        "2025-03-04T06:40:00Z",
        "2025-03-04T03:05:00Z",
        "2025-03-03T22:30:00Z",
        None,
    ]
    for r in got:
        assert (r.kind, r.kind_version, r.source, r.compartment) == (
            NEWS_REPORT,
            1,
            WIRE_SOURCE,
            "",
        )
        assert r.valid_to == r.valid_from
        assert r.payload["link"] in r.payload["links"]  # a permalink guid counts as the link
        assert r.payload["feed"] == {
            "title": "Example Diplomatic Wire",
            "link": "https://wire.example.org/diplomacy/",
        }
    first = got[0].payload
    assert first["title"] == "Valdoria and Ostrenia agree to resume ceasefire talks in Genève"
    assert first["authors"] == ["Mara Lindqvist"]
    assert first["tags"] == ["ceasefire", "Valdoria", "Ostrenia"]
    assert first["entry_id"] == "wire-2025-0304-001"
    assert first["summary"].startswith("<p>Delegations will meet on Thursday")
    assert got[2].payload["entry_id"] is None  # no guid: identified by its link
    assert got[1].payload["authors"] == ["Tomasz Rey"]  # dc:creator


def test_the_same_bytes_from_a_file_or_a_url_give_the_same_records(server: Server) -> None:
    from_url = records(rss.open_feed(server.publish(WIRE)))
    from_file = records(rss.open_feed(str(WIRE)))
    assert [r.as_dict() for r in from_url] == [r.as_dict() for r in from_file]
    assert len(from_file) == 5


def test_atom_entries_from_a_file_become_reports_with_source_time_and_links() -> None:
    got = records(rss.open_feed(str(ATOM)))
    expected = atom_expected(ATOM)
    assert len(got) == len(expected) == 5
    assert [(r.id, r.payload["link"], r.valid_from, r.valid_to) for r in got] == [
        (f"{ATOM_SOURCE}:{key}", link, when, when) for key, link, when in expected
    ]
    assert {r.source for r in got} == {ATOM_SOURCE}
    statement, advisory, _, transcript, conference = (r.payload for r in got)
    assert statement["published"] == "2025-03-04T09:30:00Z"  # published wins over updated
    assert advisory["published"] == "2025-03-03T16:45:00Z"  # only <updated> was given
    assert conference["published"] == "2025-03-02T03:30:00Z"  # +05:30
    assert statement["links"] == [
        "https://mfa.example.net/briefings/101",
        "https://mfa.example.net/documents/joint-communique-2025-03.pdf",
    ]
    assert statement["authors"] == ["Press Office", "Anika Solberg"]
    assert statement["tags"] == ["talks", "Ostrenia"]
    assert advisory["summary"] == (
        "<p>Travel to the <em>two northern districts</em> remains advised against.</p>"
    )
    assert transcript["summary"].startswith("Questions on the corridor")  # from <content>
    assert transcript["tags"] == []


# re-polling ----------------------------------------------------------------------------------
def test_repolling_adds_nothing_and_the_next_edition_adds_exactly_its_new_item(
    server: Server, tmp_path: Path
) -> None:
    url = server.publish(WIRE)
    with sitroom.init(tmp_path / "ws") as ws:
        first = poll(ws, url)
        assert (first.rows, first.accepted, first.duplicates, first.quarantined) == (5, 5, 0, 0)
        again = poll(ws, url)
        assert (again.rows, again.accepted, again.duplicates) == (5, 0, 5)
        server.publish(WIRE_NEXT)  # the feed an hour later
        nxt = poll(ws, url)
        assert (nxt.rows, nxt.accepted, nxt.duplicates) == (6, 1, 5)
        reports = logged(ws, NEWS_REPORT)
    assert len(server.requests) == 3
    assert len(reports) == 6
    assert reports[-1].id == f"{WIRE_SOURCE}:wire-2025-0304-007"
    assert reports[-1].payload["published"] == "2025-03-04T10:00:00Z"


def test_declaring_a_feed_again_is_a_duplicate(tmp_path: Path) -> None:
    inp = rss.open_feed(str(ATOM))
    source, title = rss.feed_source(inp), rss.feed_title(inp)
    declared = rss.declaration(source, title)
    assert declared.id == f"{SOURCE_DECLARED}:{ATOM_SOURCE}:cadence=3600000"
    assert declared.kind == SOURCE_DECLARED and declared.source == ATOM_SOURCE
    assert declared.payload["title"] == "Example Ministry of Foreign Affairs: press briefings"
    assert declared.payload["cadence_ms"] == 3_600_000
    with sitroom.init(tmp_path / "ws") as ws:
        assert ws.session.append([declared]).appended == 1
        again = ws.session.append([rss.declaration(source, title)])
        assert (again.appended, again.duplicates) == (0, 1)
        assert ws.session.append([rss.declaration(source, title, 15 * 60_000)]).appended == 1


# rejected entries and inputs ---------------------------------------------------------------
def test_a_malformed_entry_is_quarantined_with_a_reason_and_the_rest_accepted(
    tmp_path: Path,
) -> None:
    with sitroom.init(tmp_path / "ws") as ws:
        report = poll(ws, str(LATE))
        assert (report.rows, report.accepted, report.quarantined) == (4, 3, 1)
        again = poll(ws, str(LATE))
        assert (again.accepted, again.duplicates) == (0, 3)
        (bad,) = logged(ws, QUARANTINED)  # re-reading quarantined nothing twice
        reports = logged(ws, NEWS_REPORT)
    assert bad.payload["reason"] == "published is not a date: 'Wednesday evening, around nine'"
    assert (bad.payload["connector"], bad.payload["line"]) == ("rss", 3)  # the third item
    assert bad.payload["file"] == str(LATE)
    raw = bad.payload["raw"]
    assert raw.startswith("<item>") and raw.endswith("</item>") and raw in LATE.read_text()
    assert "late-2025-0305-003" in raw
    assert [r.payload["entry_id"] for r in reports] == [
        "late-2025-0305-001",
        "late-2025-0305-002",
        "late-2025-0305-004",
    ]


INLINE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Inline</title><link>https://inline.example.org/news/</link>
<item><title>Only a title</title><pubDate>Tue, 04 Mar 2025 09:00:00 GMT</pubDate></item>
<item><description>No title, link or guid.</description></item>
<item/>
<item><guid>g-1</guid><pubDate>Mon, 31 Feb 2025 09:00:00 GMT</pubDate></item>
<item><link>https://inline.example.org/news/x</link><dc:date>soon</dc:date></item>
<item><title>Only a title</title><pubDate>Wed, 05 Mar 2025 09:00:00 GMT</pubDate></item>
<item><title>Only a title</title></item>
</channel></rss>"""


def test_entries_without_identity_or_with_bad_dates_are_quarantined_with_their_text() -> None:
    (chunk,) = rss.chunks(Input("inline.xml", INLINE))
    assert chunk.rows == 7
    kinds = chunk.records.column("kind").to_pylist()
    assert kinds.count(NEWS_REPORT) == 3 and kinds.count(QUARANTINED) == 4
    bad = {
        r.payload["line"]: (r.payload["reason"], r.payload["raw"])
        for r in chunk.records.rows()
        if r.kind == QUARANTINED
    }
    missing = "no id (guid), link or title: the item cannot be identified"
    assert bad == {
        2: (missing, "<item><description>No title, link or guid.</description></item>"),
        3: (missing, "<item/>"),
        4: (
            "published is not a date: 'Mon, 31 Feb 2025 09:00:00 GMT'",
            "<item><guid>g-1</guid><pubDate>Mon, 31 Feb 2025 09:00:00 GMT</pubDate></item>",
        ),
        5: (
            "updated is not a date: 'soon'",
            "<item><link>https://inline.example.org/news/x</link><dc:date>soon</dc:date></item>",
        ),
    }


def test_an_item_known_only_by_its_title_gets_an_id_from_title_and_date() -> None:
    inp = Input("inline.xml", INLINE)
    first = [r for r in records(inp) if r.kind == NEWS_REPORT]
    assert [r.payload["title"] for r in first] == ["Only a title"] * 3
    ids = [r.id for r in first]
    assert len(set(ids)) == 3  # same title, different (or no) date: three items
    assert all(i.startswith("rss:inline.example.org/news:sha256:") for i in ids)
    assert ids == [r.id for r in records(inp) if r.kind == NEWS_REPORT]  # and stable
    assert [r.valid_from for r in first] == [1741078800000, 1741165200000, None]


def test_a_feed_is_named_by_its_self_link_then_its_site_link_then_the_input() -> None:
    def feed(head: bytes) -> bytes:
        return (
            b'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            b"<title>T</title>" + head + b"<item><guid>1</guid></item></channel></rss>"
        )

    self_link = b'<atom:link rel="self" href="https://Feeds.Example.org/world.xml"/>'
    site = b"<link>https://WWW.Example.org/World/?edition=intl</link>"
    cases = [
        (Input("saved.xml", feed(site + self_link)), "rss:feeds.example.org/world.xml"),
        (Input("saved.xml", feed(site)), "rss:www.example.org/World?edition=intl"),
        (Input("https://host.example.org/rss/", feed(b"")), "rss:host.example.org/rss"),
        (Input("/some/dir/saved-feed.xml", feed(b"")), "rss:saved-feed.xml"),
    ]
    for inp, source in cases:
        assert rss.feed_source(inp) == source
        (report,) = records(inp)
        assert (report.source, report.id) == (source, f"{source}:1")
    assert rss.feed_source(rss.open_feed(str(WIRE))) == WIRE_SOURCE


def test_a_feed_without_items_is_an_empty_feed_not_an_error() -> None:
    empty = b'<rss version="2.0"><channel><title>Quiet week</title></channel></rss>'
    (chunk,) = rss.chunks(Input("quiet.xml", empty))
    assert (chunk.rows, len(chunk.records)) == (0, 0)
    assert rss.feed_title(Input("quiet.xml", empty)) == "Quiet week"


@pytest.mark.parametrize(
    ("name", "data", "detail"),
    [
        ("page.html", b"<html><head><title>News</title></head><body>hi</body></html>", "no RSS"),
        ("notes.txt", b"talks resume on Thursday\n", "syntax error"),
        ("data.json", b'{"items": [{"title": "x"}]}', "not well-formed"),
        ("empty.xml", b"", "the input is empty"),
    ],
)
def test_an_input_that_is_not_a_feed_is_one_clear_error(
    tmp_path: Path, name: str, data: bytes, detail: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    inp = rss.open_feed(str(path))
    with pytest.raises(SourceError) as err:
        list(rss.chunks(inp))
    message = str(err.value)
    assert message.startswith(f"{path}: not an RSS or Atom feed (") and detail in message
    assert "\n" not in message
    with pytest.raises(SourceError):
        rss.feed_source(inp)


def test_feedparser_never_fetches_or_opens_what_the_bytes_name(server: Server) -> None:
    url = server.publish(WIRE)
    for text in (url, str(WIRE)):
        with pytest.raises(SourceError, match="not an RSS or Atom feed"):
            list(rss.chunks(Input("odd.xml", text.encode())))
    assert server.requests == []


def test_unreadable_feed_urls_and_paths_are_source_errors(server: Server, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        rss.open_feed(f"{server.base}/missing.xml")
    with pytest.raises(SourceError, match="is a directory; name the feed file in it"):
        rss.open_feed(str(tmp_path))
    with pytest.raises(SourceError, match="no such file"):
        rss.open_feed(str(tmp_path / "absent.xml"))


def test_report_payloads_are_json_that_dotted_paths_read() -> None:
    (chunk,) = rss.chunks(rss.open_feed(str(ATOM)))
    assert not chunk.records.typed
    titles = chunk.records.payload_field("feed.title").to_list()
    assert titles == ["Example Ministry of Foreign Affairs: press briefings"] * 5
    assert chunk.records.payload_field("published").to_list()[0] == "2025-03-04T09:30:00Z"


def test_a_date_outside_the_sane_range_is_quarantined_not_read_as_the_year_9999() -> None:
    """feedparser reads a pubDate of 99999999 as December 9999."""
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Dates</title>
<item><guid>far</guid><pubDate>99999999</pubDate></item>
<item><guid>old</guid><pubDate>Mon, 01 Jan 1066 00:00:00 GMT</pubDate></item>
<item><guid>fine</guid><pubDate>Tue, 04 Mar 2025 08:15:00 GMT</pubDate></item>
<item><guid>later</guid><atom:updated xmlns:atom="http://www.w3.org/2005/Atom">2150-01-01T00:00:00Z</atom:updated></item>
<item><guid>zero</guid><pubDate>00000000</pubDate></item>
</channel></rss>"""
    (chunk,) = rss.chunks(Input("dates.xml", feed))
    got = list(chunk.records.rows())
    assert [r.payload["entry_id"] for r in got if r.kind == NEWS_REPORT] == ["fine"]
    reasons = {r.payload["line"]: r.payload["reason"] for r in got if r.kind == QUARANTINED}
    assert reasons == {
        1: "published is outside 1900-01-01 to 2099-12-31: '99999999'",
        2: "published is outside 1900-01-01 to 2099-12-31: 'Mon, 01 Jan 1066 00:00:00 GMT'",
        4: "updated is outside 1900-01-01 to 2099-12-31: '2150-01-01T00:00:00Z'",
        5: "published is outside 1900-01-01 to 2099-12-31: '00000000'",  # the year -1
    }
