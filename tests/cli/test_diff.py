"""`sitroom diff`: what changed between two recorded times — arrivals, claims and conflicts,
actors and relationships, and upstream revisions with what they changed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import sitroom
from sitroom.testing import T0, ManualClock

from conftest import UCDP_FILE
from helpers import sitroom as run

FIRST = """---
author: jdoe
published: 2025-11-24T12:00:00Z
claims:
  - subject: Hezbollah
    property: posture
    value: defensive
    credibility: 2
---
"""
SECOND = """---
source: reuters
published: 2025-11-24T17:00:00Z
actors:
  - name: Oman
    type: intermediary
relationships:
  - source: Oman
    target: Hezbollah
    type: mediation
    confidence: 40
claims:
  - subject: Hezbollah
    property: posture
    value: offensive
    credibility: 2
---
"""


def test_diff_shows_arrivals_claims_actors_and_revisions(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock(T0)  # 2025-11-24T16:00:00Z
    ws_dir = tmp_path / "ws"
    (tmp_path / "a.md").write_text(FIRST)
    (tmp_path / "b.md").write_text(SECOND)
    with UCDP_FILE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with sitroom.init(ws_dir, clock=clock) as room:
        room.ingest.feeds("ucdp", [str(UCDP_FILE)])
        room.ingest.reports([str(tmp_path / "a.md")])
    clock.advance(3_600_000)  # 17:00: a revised GED release and a rival report
    revised = [dict(r) for r in rows]
    revised[7]["best"] = str(int(rows[7]["best"]) + 5)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(revised)
    (tmp_path / "ged2.csv").write_text(buf.getvalue())
    with sitroom.open(ws_dir, clock=clock) as room:
        room.ingest.feeds("ucdp", [str(tmp_path / "ged2.csv")])
        room.ingest.reports([str(tmp_path / "b.md")])

    d = run(
        capfd,
        "diff",
        "-w",
        str(ws_dir),
        "--since",
        "2025-11-24T16:30:00Z",
        "--until",
        "2025-11-24T17:30:00Z",
        "--json",
    ).json()
    assert d["by_kind"] == {
        "actor": 1,
        "analyst.report": 1,
        "claim": 1,
        "relationship": 1,
        "ucdp.event": 1,
    }
    (posture,) = d["claims"]
    assert (posture["property"], posture["new_values"], posture["conflict"]) == (
        "posture",
        ["offensive"],
        "appeared",
    )
    assert d["actors"] == ["Oman"] and d["actors_new"] == 1
    assert d["relationships"] == ["Oman mediation Hezbollah"]
    (rev,) = d["revisions"]
    assert rev["event_id"] == rows[7]["id"]
    assert rev["field"] == "fatalities"
    assert (rev["was"], rev["now"]) == (int(rows[7]["best"]), int(rows[7]["best"]) + 5)

    quiet = run(
        capfd, "diff", "-w", str(ws_dir), "--since", "2025-11-24T17:30:00Z", "--json"
    ).json()
    assert quiet["records"] == 0 and quiet["revisions"] == []
    backwards = run(
        capfd,
        "diff",
        "-w",
        str(ws_dir),
        "--since",
        "2025-11-24T17:30:00Z",
        "--until",
        "2025-11-24T16:00:00Z",
    )
    assert backwards.code == 2 and "end of a diff is before its start" in backwards.err
