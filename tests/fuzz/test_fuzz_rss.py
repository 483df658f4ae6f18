"""The RSS and Atom connector, fuzzed: garbage, the real fixtures with damaged bytes, and items
whose dates, ids and links are any text. Naming the feed, titling it and reading its items
either works (every item a report or quarantined) or is refused in one line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters import rss
from sitroom.adapters.inputs import Input

from fuzzing import assert_one_line, fuzz
from mutations import NASTY_VALUES, damaged, read_or_refused

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rss"
FEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.xml"))]


def read(data: bytes) -> None:
    inp = Input("feed.xml", data)
    try:
        rss.feed_source(inp)
        rss.feed_title(inp)
    except Exception as e:
        assert_one_line(e)
        return
    read_or_refused(lambda: rss.chunks(inp))


@fuzz(examples=60)
@given(st.binary(max_size=2000))
def test_garbage(data: bytes) -> None:
    read(data)


@fuzz(examples=60)
@given(st.sampled_from(FEEDS).flatmap(damaged))
def test_real_feeds_with_damaged_bytes(data: bytes) -> None:
    read(data)


TEXT = st.one_of(
    st.sampled_from([v.decode("utf-8", "replace") for v in NASTY_VALUES]),
    st.sampled_from(["99999999", "Mon, 01 Jan 1066 00:00:00 GMT", "2150-01-01T00:00:00Z"]),
    st.text(max_size=40),
)


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("\0", "")


@fuzz(examples=60)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), max_size=6), st.booleans())
def test_items_with_any_date_id_and_link(items: list[tuple[str, ...]], atom: bool) -> None:
    if atom:
        body = "".join(
            f"<entry><id>{escaped(i)}</id><title>{escaped(t)}</title>"
            f"<updated>{escaped(d)}</updated><link href='{escaped(link)}'/></entry>"
            for d, i, link, t in items
        )
        doc = f"<feed xmlns='http://www.w3.org/2005/Atom'><title>x</title>{body}</feed>"
    else:
        body = "".join(
            f"<item><guid>{escaped(i)}</guid><title>{escaped(t)}</title>"
            f"<pubDate>{escaped(d)}</pubDate><link>{escaped(link)}</link></item>"
            for d, i, link, t in items
        )
        doc = f"<rss version='2.0'><channel><title>x</title>{body}</channel></rss>"
    read(doc.encode("utf-8", "surrogatepass"))
