"""The GDELT parser on the real files, checked against an independent parse with the csv module,
and on real rows with injected faults."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.adapters.gdelt import parse as parse_module
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.gdelt.parse import MAX_LINE, ParsedChunk, parse_gdelt
from sitroom.adapters.inputs import RAW_KEPT, Rejected

from conftest import V1_FILE, V2_FILES

LOOKUPS = load_lookups()


def parse(
    data: bytes, chunk_rows: int = 100_000, **options: int
) -> tuple[pl.DataFrame, list[Rejected], int]:
    chunks: list[ParsedChunk] = list(parse_gdelt(data, LOOKUPS, chunk_rows=chunk_rows, **options))
    events = pl.concat([c.events for c in chunks]) if chunks else pl.DataFrame()
    rejected = [  # a run of identical unreadable lines, one row each again
        Rejected(line, raw, reason)
        for c in chunks
        for first, last, raw, reason in c.quarantined.select(
            "line", "last_line", "raw", "reason"
        ).iter_rows()
        for line in range(first, last + 1)
    ]
    return events, rejected, sum(c.lines for c in chunks)


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.mark.parametrize("path", [*V2_FILES, V1_FILE], ids=lambda p: p.name)
def test_every_real_row_is_accepted_or_quarantined_with_a_reason(path: Path) -> None:
    rows = csv_rows(path)
    events, quarantined, lines = parse(path.read_bytes())
    assert lines == len(rows)
    assert events.height + len(quarantined) == len(rows)
    assert all(q.reason for q in quarantined)
    assert (
        events["source_id"].to_list()
        == [r[0] for r in rows if len(r) in (57, 58, 61)][: events.height]
    )


def test_gdelt_1_formats_are_routed_by_field_count() -> None:
    rows = csv_rows(V1_FILE)
    events, _, _ = parse(V1_FILE.read_bytes())
    formats = [p["format"] for p in events["payload"].to_list()]
    assert formats.count("1.0") == sum(1 for r in rows if len(r) == 58) == 509
    assert formats.count("1.0-backfile") == sum(1 for r in rows if len(r) == 57) == 201
    assert set(events["source"]) == {"gdelt-v1"}
    backfile = [p for p in events["payload"].to_list() if p["format"] == "1.0-backfile"]
    assert all(e["source_url"] is None for e in backfile)


def test_real_rows_field_by_field() -> None:
    """Spot checks against the raw columns of the 2019 file."""
    path = V2_FILES[2]
    rows = {r[0]: r for r in csv_rows(path)}
    events, _, _ = parse(path.read_bytes())
    checked = 0
    for source_id, p in events.select("source_id", "payload").iter_rows():
        raw = rows[source_id]
        assert p["global_event_id"] == int(raw[0])
        assert p["date"] == f"{raw[1][:4]}-{raw[1][4:6]}-{raw[1][6:]}"
        assert p["event"]["code"] == raw[26]
        assert p["event"]["description"] == LOOKUPS.event_codes[raw[26]]
        assert p["event"]["goldstein"] == float(raw[30]) == LOOKUPS.goldstein[raw[26]]
        assert p["event"]["quad_class"] == int(raw[29])
        assert p["avg_tone"] == float(raw[34])
        assert p["source_url"] == raw[60]
        assert p["date_added"] == "2019-10-24T14:30:00Z"
        geo = p["action_geo"]
        if raw[51] in ("", "0"):
            assert geo is None
        else:
            lat, lon = (float(raw[56]), float(raw[57])) if raw[56] else (None, None)
            assert (geo["lat"], geo["lon"]) == (lat, lon)
            assert geo["country_fips"] == raw[53]
        actor = p["actor1"]
        assert (actor is None) == (raw[5] == "")
        checked += 1
    assert checked == len(rows)


@pytest.mark.parametrize(
    ("fips", "iso"),
    [("IS", "ISR"), ("IR", "IRN"), ("LE", "LBN"), ("SZ", "CHE"), ("GZ", "PSE"), ("WE", "PSE")],
)
def test_fips_geography_maps_to_iso(fips: str, iso: str) -> None:
    assert LOOKUPS.fips_to_iso[fips] == iso


def test_south_sudan_is_accepted_though_the_old_cameo_list_lacks_it() -> None:
    path = next(p for p in V2_FILES if b"\tSSD\t" in p.read_bytes())
    events, quarantined, _ = parse(path.read_bytes())
    assert quarantined == []
    assert any(
        (p["actor1"] or {}).get("country") == "SSD" or (p["actor2"] or {}).get("country") == "SSD"
        for p in events["payload"].to_list()
    )


def faulty_file() -> tuple[bytes, dict[int, str]]:
    good = V2_FILES[2].read_bytes().split(b"\n")[:6]

    def field(line: bytes, i: int, value: bytes) -> bytes:
        parts = line.split(b"\t")
        parts[i] = value
        return b"\t".join(parts)

    lines = [
        good[0],
        good[1][: good[1].rfind(b"\t")],  # 60 fields
        field(good[2], 1, b"20191341"),  # month 13
        field(good[3], 56, b"abc"),  # ActionGeo_Lat
        field(good[4], 56, b"95.5"),  # out of range
        field(good[5], 26, b"999"),  # unknown event code
        field(good[0].replace(b"\t881990832\t", b"\t"), 17, b"XYZ"),  # unknown actor country
        b"",  # empty line in the middle
        b"\xff\xfe broken \x80",  # not UTF-8
        field(good[1], 0, b"-4"),  # bad GLOBALEVENTID
        good[2] + b"\r",  # CRLF ending: fine
    ]
    expected = {
        2: "expected 61 fields",
        3: "SQLDATE",
        4: "ActionGeo_Lat",
        5: "ActionGeo_Lat",
        6: "unknown CAMEO event code in EventCode: '999'",
        7: "unknown actor country code in Actor2CountryCode: 'XYZ'",
        8: "empty line",
        9: "not valid UTF-8",
        10: "GLOBALEVENTID",
    }
    return b"\n".join(lines) + b"\n", expected


def test_injected_faults_are_quarantined_with_line_and_reason() -> None:
    data, expected = faulty_file()
    events, quarantined, lines = parse(data)
    assert lines == 11
    assert {q.line: q.reason for q in quarantined}.keys() == expected.keys()
    for q in quarantined:
        assert expected[q.line] in q.reason, (q.line, q.reason)
    assert events.height == 2
    raw_lines = data.split(b"\n")
    assert next(q for q in quarantined if q.line == 4).raw == raw_lines[3].decode()


def test_chunking_changes_nothing() -> None:
    data = V2_FILES[0].read_bytes() + faulty_file()[0]
    one = parse(data)
    many = parse(data, chunk_rows=500)
    assert one[0].equals(many[0])
    assert [(q.line, q.reason) for q in one[1]] == [(q.line, q.reason) for q in many[1]]
    assert one[2] == many[2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.lists(st.text(max_size=12), min_size=55, max_size=62).map(
                lambda fields: "\t".join(fields).encode("utf-8", "surrogatepass")
            ),
        ).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
        min_size=1,
        max_size=20,
    )
)
def test_garbage_never_raises_and_every_line_is_accounted_for(lines: list[bytes]) -> None:
    """Random bytes, and random rows with about the right number of fields."""
    data = b"\n".join(lines) + b"\n"
    events, quarantined, n = parse(data)
    assert n == len(lines)
    assert events.height + len(quarantined) == n


def test_a_bad_value_is_quarantined_with_the_exact_raw_line() -> None:
    """A row of the right shape with a bad value: quarantined with its raw text, CRLF removed."""
    lines = V2_FILES[2].read_bytes().split(b"\n")[:5]
    fields = lines[3].split(b"\t")
    fields[26] = b"999"
    lines[3] = b"\t".join(fields)
    data = b"\r\n".join(lines) + b"\r\n"
    events, quarantined, n = parse(data)
    assert n == 5 and events.height == 4
    (q,) = quarantined
    assert (q.line, q.raw) == (4, lines[3].decode())
    assert "unknown CAMEO event code" in q.reason


def test_fast_path_reads_clean_files_exactly_as_the_careful_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clean 2.0 chunks skip line splitting (polars reads the fields directly); the answer,
    including a quarantined row's raw text, must not depend on which path ran."""
    lines = V2_FILES[1].read_bytes().split(b"\n")[:300]
    fields = lines[17].split(b"\t")
    fields[26] = b"999"  # a bad value in a row of the right shape: the fast path still applies
    lines[17] = b"\t".join(fields)
    data = b"\n".join(lines) + b"\n"
    taken: list[bool] = []
    real = parse_module._all_v2

    def spy(chunk: bytes, n: int) -> pl.DataFrame | None:
        frame = real(chunk, n)
        taken.append(frame is not None)
        return frame

    monkeypatch.setattr(parse_module, "_all_v2", spy)
    fast = parse(data, chunk_rows=100)
    assert taken == [True, True, True]
    monkeypatch.setattr(parse_module, "_all_v2", lambda chunk, n: None)
    careful = parse(data, chunk_rows=100)
    assert fast[0].equals(careful[0])
    assert fast[1] == careful[1] and len(fast[1]) == 1
    assert fast[1][0].raw == lines[17].decode()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (1, b"18991231", "SQLDATE is outside 1900-01-01 to 2099-12-31: '18991231'"),
        (1, b"99991231", "SQLDATE is outside 1900-01-01 to 2099-12-31: '99991231'"),
        (59, b"21000101000000", "DATEADDED is outside 1900-01-01 to 2099-12-31: '21000101000000'"),
    ],
)
def test_a_date_outside_the_sane_range_is_quarantined(
    field: int, value: bytes, reason: str
) -> None:
    lines = V2_FILES[2].read_bytes().split(b"\n")[:4]
    fields = lines[2].split(b"\t")
    fields[field] = value
    lines[2] = b"\t".join(fields)
    events, quarantined, _ = parse(b"\n".join(lines) + b"\n")
    assert events.height == 3
    assert [(q.line, q.reason) for q in quarantined] == [(3, reason)]


def test_chunks_are_bounded_in_bytes_and_a_line_longer_than_any_row_is_kept_by_its_start() -> None:
    """Chunks of at most 128 KiB (the least a chunk may be) give what one chunk gives; a 1 MB
    line is a part of its own, only its start read; a 100 KB one inside a chunk is cut too."""
    real = V2_FILES[0].read_bytes()
    lines = real.split(b"\n")[:-1]
    data = b"\n".join(
        [*lines[:700], b"x\t" * 500_000, *lines[700:1400], b"y" * 100_000, *lines[1400:]]
    )
    data += b"\n"
    one = parse(data)
    many = parse(data, chunk_bytes=1)
    assert one[0].equals(many[0]) and one[1] == many[1] and one[2] == many[2] == len(lines) + 2
    assert one[0].height == len(lines)
    long_lines = [(q.line, q.reason, len(q.raw)) for q in one[1]]
    assert long_lines == [
        (
            701,
            "a line of 1000000 bytes, longer than any GDELT row (65,536): only its start is kept",
            4096,
        ),
        (
            1402,
            "a line of 100000 bytes, longer than any GDELT row (65,536): only its start is kept",
            4096,
        ),
    ]
    parts = list(parse_module._row_chunks(data, 100_000, 2 * parse_module.MAX_LINE))
    assert max(len(p.data) for p in parts) <= 2 * parse_module.MAX_LINE
    assert sum(p.lines for p in parts) == len(lines) + 2


def test_a_file_of_empty_lines_is_cut_by_line_count_too() -> None:
    """A chunk of 2,000,000 empty lines is cut into chunks of chunk_rows, each with its lines."""
    parts = list(parse_module._row_chunks(b"\n" * 2_000_000, 300_000, 64 << 20))
    assert [p.lines for p in parts] == [300_000] * 6 + [200_000]
    assert [p.first_line for p in parts] == [1 + 300_000 * i for i in range(7)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 40),
            st.integers(MAX_LINE - 2, MAX_LINE + 2),
            st.integers(MAX_LINE, 3 * MAX_LINE),
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
    st.integers(1, 5),
)
def test_cutting_accounts_for_every_line_and_keeps_long_ones_apart(
    lengths: list[int], last_break: bool, rows: int
) -> None:
    """Lines of any length around the long-line limit, cut into parts of at most ``rows``
    lines: every line in exactly one part, in order; a part either holds whole lines none of
    which is long, or is one long line's start with its length."""
    data = b"\n".join(b"x" * n for n in lengths) + (b"\n" if last_break else b"")
    if not (last_break or lengths[-1]):
        lengths = lengths[:-1]  # an empty last line without a break is no line
    parts = list(parse_module._row_chunks(data, rows, 2 * MAX_LINE))
    assert sum(p.lines for p in parts) == len(lengths)
    assert [p.first_line for p in parts] == [
        1 + sum(q.lines for q in parts[:i]) for i in range(len(parts))
    ]
    for p in parts:
        first = p.first_line - 1
        if p.length is not None:
            assert p.lines == 1 and p.length == lengths[first] > MAX_LINE
            assert p.data == b"x" * min(p.length, RAW_KEPT)
        else:
            assert 1 <= p.lines <= rows
            assert all(n <= MAX_LINE for n in lengths[first : first + p.lines])
            pieces = p.data.split(b"\n")
            if p.data.endswith(b"\n"):
                pieces.pop()
            assert pieces == [b"x" * n for n in lengths[first : first + p.lines]]
