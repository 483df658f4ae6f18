"""The ACLED connector on hand-written exports in ACLED's format (ACLED's terms forbid
redistributing its data, so every row here is invented), checked against an independent parse
with the csv module, and through a real workspace."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sitroom
from sitroom.adapters import acled, csvrows
from sitroom.adapters.inputs import Input, read_local
from sitroom.application.ingest import ingest
from sitroom.application.ports import Chunk
from sitroom.domain.kinds import ACLED_EVENT, QUARANTINED, SOURCE_DECLARED
from sitroom.domain.records import Record, feed_item_id
from sitroom.errors import SourceError
from sitroom.room import Room

from conftest import COUNTRY_CODES_FILE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acled"
CLEAN = FIXTURES / "export-2024-06-14.csv"
REVISED = FIXTURES / "export-2024-06-21-revised.csv"
OLD = FIXTURES / "export-2019-old-format.csv"
BAD = FIXTURES / "export-bad-rows.csv"
DAY_MS = 86_400_000


with COUNTRY_CODES_FILE.open(encoding="utf-8", newline="") as _f:
    ISO3 = {
        r["ISO3166-1-numeric"].zfill(3): r["ISO3166-1-Alpha-3"]
        for r in csv.DictReader(_f)
        if r["ISO3166-1-numeric"]
    }


def records(inp: Input, **kw: Any) -> list[Record]:
    return [r for c in acled.chunks(inp, **kw) for r in c.records.rows()]


def events(path: Path) -> list[Record]:
    return [r for r in records(read_local(str(path))) if r.kind == ACLED_EVENT]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def text(v: str | None) -> str | None:
    return v or None


def expected(row: dict[str, str]) -> dict[str, Any]:
    """The payload of one row, worked out from the csv module's fields with plain Python."""

    def actor(n: int) -> dict[str, Any]:
        return {
            "name": text(row[f"actor{n}"]),
            "associated": text(row[f"assoc_actor_{n}"]),
            "inter": text(row[f"inter{n}"]),
        }

    return {
        "event_id": row["event_id_cnty"],
        "version_timestamp": int(row["timestamp"]),
        "date": row["event_date"],
        "year": int(row["year"]),
        "time_precision": int(row["time_precision"]),
        "disorder_type": text(row.get("disorder_type", "")),
        "event_type": row["event_type"],
        "sub_event_type": row["sub_event_type"],
        "actor1": actor(1),
        "actor2": actor(2) if row["actor2"] else None,
        "interaction": text(row["interaction"]),
        "civilian_targeting": text(row.get("civilian_targeting", "")),
        "location": {
            "iso": int(row["iso"]),
            "country_iso": ISO3[row["iso"].zfill(3)],
            "country": row["country"],
            "region": row["region"],
            "admin1": text(row["admin1"]),
            "admin2": text(row["admin2"]),
            "admin3": text(row["admin3"]),
            "name": row["location"],
            "lat": float(row["latitude"]),
            "lon": float(row["longitude"]),
            "geo_precision": int(row["geo_precision"]),
        },
        "source": row["source"],
        "source_scale": row["source_scale"],
        "notes": row["notes"],
        "fatalities": int(row["fatalities"]),
        "tags": text(row.get("tags", "")),
    }


def day_ms(date: str) -> int:
    return int(datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1000


def assert_matches_csv(path: Path, got: list[Record]) -> None:
    rows = csv_rows(path)
    assert len(got) == len(rows)
    for record, row in zip(got, rows, strict=True):
        assert record.id == feed_item_id("acled", f"{row['event_id_cnty']}@{row['timestamp']}")
        assert record.kind == ACLED_EVENT and record.kind_version == 1
        assert (record.source, record.compartment) == ("acled", "")
        assert record.valid_from == day_ms(row["event_date"])
        assert record.valid_to == record.valid_from + DAY_MS
        assert dict(record.payload) == expected(row)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Room]:
    w = sitroom.init(tmp_path / "ws")
    yield w
    w.close()


def log_events(ws: Room) -> list[Record]:
    return [r for b in ws.session.read(kinds=[ACLED_EVENT]) for r in b.rows()]


# --- parsing -----------------------------------------------------------------------------


def test_declaration_is_a_weekly_acled_source() -> None:
    d = acled.declaration()
    assert (d.kind, d.source) == (SOURCE_DECLARED, "acled")
    assert d.payload["cadence_ms"] == 7 * DAY_MS
    assert d.id == f"source.declared:acled:cadence={7 * DAY_MS}"
    assert {"title", "publisher", "url", "licence"} <= set(d.payload)
    assert "redistribute" in d.payload["licence"]


def test_clean_export_matches_an_independent_csv_parse() -> None:
    got = events(CLEAN)
    assert_matches_csv(CLEAN, got)
    countries = {r.payload["location"]["country"] for r in got}
    assert {"Lebanon", "Israel", "Syria"} <= countries
    khiam = next(r for r in got if r.payload["event_id"] == "LBN10241")
    assert "\n" in khiam.payload["notes"] and '"the heaviest in weeks"' in khiam.payload["notes"]
    assert khiam.payload["actor2"] is None
    assert not any(r.kind == QUARANTINED for r in records(read_local(str(CLEAN))))


def test_older_export_with_columns_in_another_order_is_read_by_name() -> None:
    got = events(OLD)
    assert_matches_csv(OLD, got)
    assert all(
        r.payload[k] is None for r in got for k in ("disorder_type", "civilian_targeting", "tags")
    )
    assert [r.payload["actor1"]["inter"] for r in got] == ["6", "8", "3", "5"]
    assert got[-1].payload["location"]["iso"] == 422


def test_crlf_line_breaks_and_a_byte_order_mark_change_nothing() -> None:
    data = b"\xef\xbb\xbf" + CLEAN.read_bytes().replace(b"\n", b"\r\n")
    got = records(Input("crlf.csv", data))
    # A CR inside a quoted field belongs to the value, as the csv module reads it.
    with io.StringIO(data.decode("utf-8-sig"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert "Khiam.\r\nLocal officials" in rows[1]["notes"]
    assert [r.payload for r in got] == [expected(row) for row in rows]
    assert [r.id for r in got] == [r.id for r in events(CLEAN)]


def test_an_export_quoting_every_field_reads_the_same() -> None:
    rows = csv_rows(CLEAN)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    got = records(Input("quoted.csv", out.getvalue().encode()))
    assert out.getvalue().endswith('"1718726400"\r\n')
    assert [(r.id, r.payload) for r in got] == [(r.id, r.payload) for r in events(CLEAN)]


def test_a_last_row_without_a_line_break_is_read() -> None:
    data = CLEAN.read_bytes().rstrip(b"\n")
    got = records(Input("no-eol.csv", data))
    assert [r.id for r in got] == [r.id for r in events(CLEAN)]


@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 12, 50_000])
def test_chunk_size_changes_only_the_cut(chunk_rows: int) -> None:
    inp = read_local(str(BAD))
    parts: list[Chunk] = list(acled.chunks(inp, chunk_rows=chunk_rows))
    data_rows = len(list(csv.reader(io.StringIO(BAD.read_text(encoding="utf-8"))))) - 1
    assert sum(c.rows for c in parts) == data_rows == 14
    assert all(c.rows <= chunk_rows for c in parts)
    got = sorted((r.id, r.kind) for c in parts for r in c.records.rows())
    assert got == sorted((r.id, r.kind) for r in records(inp, chunk_rows=50_000))


@pytest.mark.parametrize("window", [1, 2, 3, 7, 64, 1 << 24])
def test_row_boundaries_do_not_depend_on_the_scan_window(window: int) -> None:
    """Rows are found a window at a time; a quoted line break or a doubled quote that straddles
    two windows must not cut a row."""
    data = BAD.read_bytes()
    parts = list(csvrows.rows(data, 4, window))
    starts = np.concatenate([p.start for p in parts]).tolist()
    lines = np.concatenate([p.line for p in parts]).tolist()
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    first_lines, last = [], 0
    for _ in reader:
        first_lines.append(last + 1)
        last = reader.line_num
    assert lines == first_lines
    assert len(parts[0].start) == 1  # the header alone
    assert starts[1] == data.index(b"\n") + 1


# --- bad rows ----------------------------------------------------------------------------

# line -> (column or rule, the value as the reason quotes it)
BAD_REASONS = {
    5: ("event_id_cnty", "''"),
    6: ("event_id_cnty", "'LBN-20003'"),
    7: ("event_date", "'2024-02-30'"),
    8: ("latitude", "'95.5'"),
    9: ("longitude", "'east'"),
    10: ("fatalities", "'-1'"),
    11: ("time_precision", "'4'"),
    13: ("geo_precision", "'0'"),
    14: ("expected 31 fields", "got 30"),
    15: ("timestamp", "'yesterday'"),
    17: ("malformed quoting", ""),
}


def test_bad_rows_are_quarantined_with_reason_raw_text_and_starting_line() -> None:
    """Lines are the physical line on which a row starts: row LBN20002 spans lines 3-4, so the
    rows after it are not where a row count would put them, and the two-line bad row at 11-12
    is reported at 11."""
    inp = read_local(str(BAD))
    got = records(inp)
    quarantined = {r.payload["line"]: r.payload for r in got if r.kind == QUARANTINED}
    assert sorted(quarantined) == sorted(BAD_REASONS)
    for line, (column, value) in BAD_REASONS.items():
        q = quarantined[line]
        assert column in q["reason"] and value in q["reason"], (line, q["reason"])
        assert (q["connector"], q["file"]) == ("acled", str(BAD))
    physical = BAD.read_text(encoding="utf-8").split("\n")
    for line, q in quarantined.items():
        span = q["raw"].count("\n") + 1
        assert q["raw"] == "\n".join(physical[line - 1 : line - 1 + span])
    assert quarantined[11]["raw"].endswith('whose notes span two lines.",0,,1718899200')
    accepted = [r.payload["event_id"] for r in got if r.kind == ACLED_EVENT]
    assert accepted == ["LBN20001", "LBN20002", "PSE80201"]


def test_quarantine_goes_through_the_log_once(ws: Room) -> None:
    inp = read_local(str(BAD))
    first = ingest(ws.session, inp.label, acled.chunks(inp))
    assert (first.rows, first.accepted, first.quarantined) == (14, 3, len(BAD_REASONS))
    again = ingest(ws.session, inp.label, acled.chunks(read_local(str(BAD))))
    assert again.accepted == 0 and again.duplicates == 3
    assert ws.session.count(kinds=[QUARANTINED]) == len(BAD_REASONS)


def test_undecodable_empty_and_malformed_rows_are_quarantined() -> None:
    lines = CLEAN.read_bytes().split(b"\n")
    header, first, khiam = lines[0], lines[1], b"\n".join(lines[2:4])
    latin1 = first.replace(b"Aaitaroun", b"A\xefitaroun", 1)
    stray_quote = first.replace(b",Bent Jbeil,", b',Bent "Jbeil",', 1)
    bare_cr = first.replace(b",El Nabatieh,", b",El\rNabatieh,", 1)
    rows = [header, latin1, khiam, first, b"", stray_quote, bare_cr, b'LBN1,"never closed\n']
    got = records(Input("mixed.csv", b"\n".join(rows)))
    quarantined = {r.payload["line"]: r.payload for r in got if r.kind == QUARANTINED}
    assert quarantined[2]["reason"] == "not valid UTF-8"
    assert "A\ufffditaroun" in quarantined[2]["raw"]
    # The Khiam row (LBN10241) spans lines 3-4; LBN10234 again on 5; an empty line at 6.
    assert quarantined[6]["reason"] == "empty line"
    assert "quote inside an unquoted field" in quarantined[7]["reason"]
    assert "carriage return" in quarantined[8]["reason"]
    assert "El\rNabatieh" in quarantined[8]["raw"]
    assert "never closed" in quarantined[9]["reason"]
    assert sorted(quarantined) == [2, 6, 7, 8, 9]
    assert [r.payload["event_id"] for r in got if r.kind == ACLED_EVENT] == [
        "LBN10241",
        "LBN10234",
    ]


def test_the_export_tools_written_out_dates_are_read() -> None:
    data = CLEAN.read_bytes().replace(b",2024-06-10,", b",10 June 2024,", 1)
    got = records(Input("long-dates.csv", data))
    assert got[0].payload["date"] == "2024-06-10"
    assert got[0].valid_from == day_ms("2024-06-10")


# --- header ------------------------------------------------------------------------------


def test_a_header_lacking_required_columns_is_refused_naming_them() -> None:
    lines = CLEAN.read_text(encoding="utf-8").split("\n")
    header = lines[0].replace("latitude", "lat").replace(",fatalities,", ",deaths,")
    inp = Input("not-acled.csv", "\n".join([header, *lines[1:]]).encode())
    with pytest.raises(SourceError) as e:
        list(acled.chunks(inp))
    message = str(e.value)
    assert "\n" not in message
    assert "not-acled.csv" in message and "latitude" in message and "fatalities" in message
    assert "longitude" not in message


def test_an_empty_file_is_refused_and_a_header_alone_adds_nothing() -> None:
    with pytest.raises(SourceError, match="empty"):
        list(acled.chunks(Input("empty.csv", b"")))
    header = CLEAN.read_bytes().split(b"\n")[0] + b"\n"
    assert records(Input("header.csv", header)) == []


# --- through a workspace -----------------------------------------------------------------


def test_reingesting_the_same_export_adds_nothing(ws: Room) -> None:
    first = ingest(ws.session, str(CLEAN), acled.chunks(read_local(str(CLEAN))))
    assert (first.rows, first.accepted, first.duplicates, first.quarantined) == (12, 12, 0, 0)
    again = ingest(ws.session, str(CLEAN), acled.chunks(read_local(str(CLEAN))))
    assert (again.accepted, again.duplicates) == (0, 12)
    assert len(log_events(ws)) == 12


def test_a_revised_export_adds_the_new_versions_and_keeps_the_old(ws: Room) -> None:
    ingest(ws.session, str(CLEAN), acled.chunks(read_local(str(CLEAN))))
    revised = ingest(ws.session, str(REVISED), acled.chunks(read_local(str(REVISED))))
    assert (revised.rows, revised.accepted, revised.duplicates) == (13, 3, 10)
    stored = log_events(ws)
    assert len(stored) == 15
    by_id = {r.id: r for r in stored}
    assert_matches_csv(
        REVISED,
        [
            by_id[feed_item_id("acled", f"{r['event_id_cnty']}@{r['timestamp']}")]
            for r in csv_rows(REVISED)
        ],
    )
    versions: dict[str, list[tuple[int, int]]] = {}
    for r in stored:
        p = r.payload
        versions.setdefault(p["event_id"], []).append((p["version_timestamp"], p["fatalities"]))
    assert versions["LBN10234"] == [(1718640000, 2), (1719244800, 3)]
    assert versions["SYR130455"] == [(1718640000, 5), (1719244800, 7)]
    assert versions["LBN10260"] == [(1719244800, 1)]
    assert sum(len(v) > 1 for v in versions.values()) == 2


# --- property ----------------------------------------------------------------------------

_awkward = st.text(alphabet='ab ,;"\n\r\u00e9\u0644', max_size=30)


@settings(max_examples=60, deadline=None)
@given(notes=st.lists(_awkward, min_size=1, max_size=6), window=st.sampled_from([3, 17, 4096]))
def test_any_quoted_notes_read_as_the_csv_module_reads_them(notes: list[str], window: int) -> None:
    rows = csv_rows(CLEAN)
    out = io.StringIO(newline="")
    # The writer quotes a field with a CR only when its line terminator holds one.
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    for i, note in enumerate(notes):
        writer.writerow({**rows[i % len(rows)], "notes": note, "event_id_cnty": f"LBN{i + 1}"})
    data = out.getvalue().encode()
    parts = list(csvrows.rows(data, 2, window))
    assert sum(len(p.start) for p in parts) == len(notes) + 1
    got = records(Input("awkward.csv", data), chunk_rows=2)
    assert [r.payload["notes"] for r in got] == [n or None for n in notes]
    assert [r.payload["event_id"] for r in got] == [f"LBN{i + 1}" for i in range(len(notes))]


@pytest.mark.parametrize("date", ["1899-12-31", "2100-01-01", "9999-12-01"])
def test_an_event_date_outside_the_sane_range_is_quarantined(date: str) -> None:
    data = CLEAN.read_bytes().replace(b",2024-06-10,", f",{date},".encode(), 1)
    got = records(Input("far.csv", data))
    (q,) = [r for r in got if r.kind == QUARANTINED]
    assert q.payload["reason"] == f"event_date is outside 1900-01-01 to 2099-12-31: '{date}'"


def test_a_nul_in_a_field_quarantines_the_row_naming_the_column() -> None:
    data = CLEAN.read_bytes().replace(b",Bent Jbeil,", b",Bent\x00Jbeil,", 1)
    got = records(Input("nul.csv", data))
    (q,) = [r for r in got if r.kind == QUARANTINED]
    assert q.payload["reason"] == "a control character (such as NUL) in admin2"
    assert not any("\x00" in str(r.payload) for r in got if r.kind == ACLED_EVENT)
