"""The files in examples/ (the ones the README's "Using it" block names) are valid for their
formats, read by the parsers sitroom uses, and say what they are: the UCDP rows are real rows
of the shipped sample, the ACLED rows are marked invented. Running the block itself is the
README test's job; this checks each file on its own, fast."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from sitroom.adapters.connectors import Acled, Ucdp
from sitroom.adapters.ical import read_busy
from sitroom.adapters.reports import parse_report
from sitroom.adapters.trace import load_trace
from sitroom.adapters.trackfile import parse_track_file
from sitroom.domain.kinds import QUARANTINED
from sitroom.domain.timeutil import from_ms, parse_time
from sitroom.testing import T0
from sitroom.testing.connector_contract import drain
from sitroom.testing.samples import UCDP_FILE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMED = [
    "tracks.yaml",
    "hezbollah-posture.md",
    "envoy.ics",
    "outage.yaml",
    "flash-after-outage.yaml",
    "framework.txt",
    "acled-export.csv",
    "ged231.csv",
]


def ms(text: str) -> int:
    return parse_time(text, now_ms=T0)


def test_every_example_is_there_and_described() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    assert sorted(p.name for p in EXAMPLES.iterdir()) == sorted([*NAMED, "README.md"])
    for name in NAMED:
        assert f"`{name}`" in readme, name
        assert (EXAMPLES / name).read_bytes().decode("utf-8")  # UTF-8, not empty


def test_the_track_file_has_three_tracks_sharing_people_and_a_precondition() -> None:
    text = (EXAMPLES / "tracks.yaml").read_text()
    records = parse_track_file("tracks.yaml", text, now_ms=T0).records
    by_kind: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_kind.setdefault(r.kind, []).append(dict(r.payload))
    tracks = {t["id"]: t for t in by_kind["track"]}
    assert sorted(tracks) == ["ceasefire", "envoy", "us-iran"]
    assert tracks["us-iran"]["preconditions"] == [{"track": "ceasefire", "status": "agreed"}]
    assert "nsc-me" in tracks["us-iran"]["needs"] and "nsc-me" in tracks["ceasefire"]["needs"]
    holders = {h["track"] for h in by_kind["holding"] if h["resource"] == "envoy"}
    assert holders == set(tracks), "the envoy is held by all three tracks"
    meetings = {m["id"]: m for m in by_kind["meeting"]}
    geneva = meetings["us-iran-1"]
    assert geneva["venue"] == "palais" and {"envoy", "secretary"} <= set(geneva["required"])  # type: ignore[arg-type]
    resources = {r["id"]: r for r in by_kind["resource"]}
    assert resources["palais"]["location"]["name"] == "Geneva"  # type: ignore[index]
    for m in meetings.values():
        assert set(m["required"]) <= set(resources)  # type: ignore[arg-type]


def test_the_report_carries_conflicting_claims_actors_and_relationships() -> None:
    text = (EXAMPLES / "hezbollah-posture.md").read_text()
    records = parse_report("hezbollah-posture.md", text, now_ms=T0)
    kinds = [r.kind for r in records]
    assert kinds.count("claim") == 4
    assert kinds.count("actor") == 4 and kinds.count("relationship") == 3
    postures = {
        r.payload["value"]: r.confidence
        for r in records
        if r.kind == "claim" and r.payload["property"] == "posture"
    }
    assert set(postures) == {"defensive", "offensive"}
    assert all((c or 0) >= 50 for c in postures.values()), "both credible: a conflict"


def test_the_calendar_has_a_recurring_busy_event_and_free_ones_that_do_not_count() -> None:
    data = (EXAMPLES / "envoy.ics").read_bytes()
    assert b"\r\n" in data and b"RRULE:FREQ=WEEKLY;BYDAY=MO,TH" in data
    busy = read_busy("envoy.ics", data, ms("2026-12-01"), ms("2026-12-31"))
    calls = [from_ms(s) for s, _, what in busy if what.startswith("Coordination")]
    assert len(calls) == 7  # four Mondays and four Thursdays, less the 24th (EXDATE)
    assert {c.strftime("%a") for c in calls} == {"Mon", "Thu"}
    assert all(c.hour == 8 for c in calls), "09:00 in Zurich (CET) is 08:00 UTC"
    assert not any("Reading" in w or "Dinner" in w for _, _, w in busy)
    later = read_busy("envoy.ics", data, ms("2027-06-01"), ms("2027-06-08"))
    assert [from_ms(s).hour for s, _, _ in later] == [7, 7], "no end date; 09:00 CEST"


def test_the_channel_trace_reads() -> None:
    trace = load_trace(EXAMPLES / "outage.yaml")
    assert {link.id for link in trace.links} == {"direct", "backchannel"}
    assert trace.end_ms - trace.start_ms == 4 * 3_600_000
    assert len(trace.events) >= 5


def test_the_agreement_text_is_plain_utf8_with_articles() -> None:
    text = (EXAMPLES / "framework.txt").read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    assert re.findall(r"^Article (\d)\.", text, re.M) == ["1", "2", "3", "4", "5"]


def test_the_acled_export_is_accepted_whole_and_marked_invented() -> None:
    (feed,) = drain(Acled(), str(EXAMPLES / "acled-export.csv"))
    assert feed.rows == 12 and feed.accepted == 12 and QUARANTINED not in feed.kinds
    with (EXAMPLES / "acled-export.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and len(rows[0]) == 31
    assert all(r["notes"].startswith("[Invented example]") for r in rows)
    assert any("\n" in r["notes"] for r in rows), "a note spanning two lines"


def test_the_ucdp_file_is_fifty_real_rows_of_the_shipped_sample() -> None:
    data = (EXAMPLES / "ged231.csv").read_bytes().decode("utf-8")
    sample = UCDP_FILE.read_bytes().decode("utf-8")

    def rows(text: str) -> list[list[str]]:
        return list(csv.reader(io.StringIO(text, newline="")))

    mine, real = rows(data), rows(sample)
    assert mine[0] == real[0] and len(mine) == 51
    assert all(r in real[1:] for r in mine[1:])
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(mine)
    assert out.getvalue() == data, "written as the sample is, byte for byte"
    (feed,) = drain(Ucdp(), str(EXAMPLES / "ged231.csv"))
    assert feed.accepted == 50 and QUARANTINED not in feed.kinds
