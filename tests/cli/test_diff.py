"""`sitroom diff`: what changed between two recorded times — arrivals, claims and conflicts,
actors and relationships, and upstream revisions with what they changed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sitroom.adapters import ucdp
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.inputs import Input
from sitroom.adapters.reports import parse_report
from sitroom.application.ingest import ingest
from sitroom.testing import T0
from sitroom.workspace import Workspace

from conftest import UCDP_FILE
from helpers import sitroom

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
    Workspace.init(ws_dir, clock=clock).close()
    with UCDP_FILE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with Workspace.open(ws_dir, clock=clock) as w:
        ingest(w.engine, "ged", ucdp.chunks(Input("ged.csv", UCDP_FILE.read_bytes())))
        w.engine.append(parse_report("a.md", FIRST, now_ms=clock.now_ms()))
    clock.advance(3_600_000)  # 17:00: a revised GED release and a rival report
    revised = [dict(r) for r in rows]
    revised[7]["best"] = str(int(rows[7]["best"]) + 5)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(revised)
    with Workspace.open(ws_dir, clock=clock) as w:
        ingest(w.engine, "ged2", ucdp.chunks(Input("ged2.csv", buf.getvalue().encode())))
        w.engine.append(parse_report("b.md", SECOND, now_ms=clock.now_ms()))

    d = sitroom(
        capfd,
        "diff",
        "-w",
        str(ws_dir),
        "--from",
        "2025-11-24T16:30:00Z",
        "--to",
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
    (posture,) = d["claims"]["changed"]
    assert (posture["property"], posture["new_values"], posture["conflict"]) == (
        "posture",
        ["offensive"],
        "appeared",
    )
    assert d["actors"]["new"] == ["Oman"]
    assert d["actors"]["relationships"] == ["Oman mediation Hezbollah"]
    (rev,) = d["revisions"]
    assert rev["event_id"] == rows[7]["id"]
    assert rev["fatalities"] == {"was": int(rows[7]["best"]), "now": int(rows[7]["best"]) + 5}

    quiet = sitroom(
        capfd, "diff", "-w", str(ws_dir), "--from", "2025-11-24T17:30:00Z", "--json"
    ).json()
    assert quiet["records"] == 0 and quiet["revisions"] == []
    backwards = sitroom(
        capfd,
        "diff",
        "-w",
        str(ws_dir),
        "--from",
        "2025-11-24T17:30:00Z",
        "--to",
        "2025-11-24T16:00:00Z",
    )
    assert backwards.code == 2 and "--to is before --from" in backwards.err
