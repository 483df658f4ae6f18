"""The UCDP GED connector on the real sample, checked against an independent read with the csv
module, and on real rows with injected faults and revisions."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import sitroom
from sitroom.adapters import ucdp
from sitroom.adapters.inputs import Input
from sitroom.domain.records import RecordBatch
from sitroom.errors import SourceError

from conftest import UCDP_FILE
from helpers import sitroom as run

COUNTS = ("best", "low", "high")


def rows() -> list[dict[str, str]]:
    with UCDP_FILE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def parse(data: bytes) -> tuple[RecordBatch, RecordBatch]:
    batch = RecordBatch.concat([c.records for c in ucdp.chunks(Input("t.csv", data))])
    return batch.of_kinds(["ucdp.event"]), batch.of_kinds(["ingest.quarantined"])


def write(table: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    return buf.getvalue().encode()


def test_the_real_sample_keeps_fatalities_as_given_and_flags_inconsistent_rows() -> None:
    expected = rows()
    events, bad = parse(UCDP_FILE.read_bytes())
    assert len(events) == len(expected) == 1000 and len(bad) == 0
    got = {r.payload["event_id"]: r.payload for r in events.rows()}
    for row in expected:
        p = got[int(row["id"])]
        assert [p["fatalities"][c] for c in COUNTS] == [int(row[c]) for c in COUNTS]
        ordered = int(row["low"]) <= int(row["best"]) <= int(row["high"])
        assert p["fatalities"]["consistent"] is ordered
        assert (p["side_a"]["name"], p["side_b"]["name"]) == (row["side_a"], row["side_b"])
        assert (p["location"]["lat"], p["location"]["lon"]) == (
            float(row["latitude"]),
            float(row["longitude"]),
        )
        assert p["date_start"] == row["date_start"][:10]
    flagged = sum(not p["fatalities"]["consistent"] for p in got.values())
    assert flagged == sum(not int(r["low"]) <= int(r["best"]) <= int(r["high"]) for r in expected)
    assert flagged > 0  # the sample has such rows; the test must see them


def test_ingesting_twice_adds_nothing_and_a_revision_adds_one_version(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    assert run(capfd, "init", "-w", ws).code == 0
    first = run(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE), "--json").json()
    assert first["totals"] == {"rows": 1000, "accepted": 1000, "duplicates": 0, "quarantined": 0}
    again = run(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE), "--json").json()
    assert again["totals"]["accepted"] == 0 and again["totals"]["duplicates"] == 1000

    table = rows()
    revised_id = table[5]["id"]
    table[5] = {**table[5], "best": str(int(table[5]["best"]) + 3)}
    revised = tmp_path / "revised.csv"
    revised.write_bytes(write(table))
    third = run(capfd, "ingest", "ucdp", "-w", ws, str(revised), "--json").json()
    assert third["totals"]["accepted"] == 1 and third["totals"]["duplicates"] == 999

    with sitroom.open(Path(ws)) as w:
        versions = [
            r.payload["fatalities"]["best"]
            for b in w.session.read(kinds=["ucdp.event"])
            for r in b.rows()
            if r.payload["event_id"] == int(revised_id)
        ]
    original = int(rows()[5]["best"])
    assert versions == [original, original + 3]  # both versions, in the order learned


def test_bad_rows_are_quarantined_with_their_physical_line_and_text(tmp_path: Path) -> None:
    table = rows()[:6]
    table[0] = {**table[0], "source_headline": "first line\nsecond line"}  # a quoted newline
    table[2] = {**table[2], "best": "many"}
    table[3] = {**table[3], "latitude": "95.5"}
    table[4] = {**table[4], "date_end": "2001-01-01 00:00:00.000", "date_start": "2002-01-01"}
    data = write(table)
    events, bad = parse(data)
    assert len(events) == 3
    reasons = {r.payload["line"]: r.payload["reason"] for r in bad.rows()}
    # Header is line 1; row 0 spans lines 2-3, so rows 2, 3, 4 start on lines 5, 6, 7.
    assert reasons == {
        5: "best is not a count of deaths: 'many'",
        6: "latitude is not a latitude: '95.5'",
        7: "date_end is before date_start: '2001-01-01 00:00:00.000'",
    }
    lines = data.decode().split("\n")
    for r in bad.rows():
        assert r.payload["raw"] == lines[r.payload["line"] - 1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"id,year\n1,2020\n", "missing column(s) relid, type_of_violence"),
    ],
)
def test_a_file_that_is_not_a_ged_export_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(ucdp.chunks(Input("x.csv", data)))


def test_cli_reports_a_wrong_file_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    run(capfd, "init", "-w", ws)
    wrong = tmp_path / "events.csv"
    wrong.write_text("a,b\n1,2\n")
    r = run(capfd, "ingest", "ucdp", "-w", ws, str(wrong))
    assert r.code != 0 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and "not a UCDP GED export" in r.err


def test_a_row_with_a_field_too_many_or_too_few_is_quarantined_and_the_rest_ingested() -> None:
    """One row with an extra column once refused the whole file."""
    data = write(rows()[:6]).split(b"\n")
    data[2] += b",an extra field"
    data[4] = data[4].rsplit(b",", 1)[0]
    events, bad = parse(b"\n".join(data))
    assert len(events) == 4
    width = data[0].count(b",") + 1
    assert {r.payload["line"]: r.payload["reason"] for r in bad.rows()} == {
        3: f"expected {width} fields as in the header, got {width + 1}",
        5: f"expected {width} fields as in the header, got {width - 1}",
    }
    assert [r.payload["raw"] for r in bad.rows()] == [data[2].decode(), data[4].decode()]


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x07"])
def test_a_control_character_in_a_field_quarantines_the_row_naming_the_column(
    control: str,
) -> None:
    table = rows()[:3]
    table[1] = {**table[1], "side_b": f"Civil{control}ians"}
    events, bad = parse(write(table))
    assert len(events) == 2
    (q,) = bad.rows()
    assert q.payload["line"] == 3
    assert q.payload["reason"] == "a control character (such as NUL) in side_b"
    assert all(control not in str(r.payload) for r in events.rows())


@pytest.mark.parametrize(
    ("column", "value"),
    [("date_start", "1850-01-01"), ("date_end", "9999-12-01"), ("date_end", "2100-01-01")],
)
def test_a_date_outside_the_sane_range_is_quarantined(column: str, value: str) -> None:
    table = rows()[:2]
    table[1] = {**table[1], column: value}
    events, bad = parse(write(table))
    assert len(events) == 1
    (q,) = bad.rows()
    assert q.payload["reason"] == f"{column} is outside 1900-01-01 to 2099-12-31: '{value}'"
