"""The actor graph: UCDP sides and their hostilities, analysts' actors found by alias, and the
cooperation/conflict signals between an actor and its counterparts in GDELT, checked against an
independent count with the csv module."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import UCDP_FILE, V2_FILES
from helpers import sitroom

ACTORS = """---
author: kim
actors:
  - name: United States
    type: state
    aliases: [USA, Washington]
    cameo: [USA]
relationships:
  - source: Washington
    target: Government of Israel
    type: alliance
    confidence: 90
---
"""


def test_actors_from_ucdp_and_reports_with_aliases_and_signals(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    assert sitroom(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE)).code == 0
    assert sitroom(capfd, "ingest", "gdelt", "-w", ws, str(V2_FILES[2])).code == 0
    report = tmp_path / "actors.md"
    report.write_text(ACTORS)
    assert sitroom(capfd, "reports", "add", "-w", ws, str(report)).code == 0

    with UCDP_FILE.open(encoding="utf-8", newline="") as f:
        ged = list(csv.DictReader(f))
    sides = {r["side_a"] for r in ged} | {r["side_b"] for r in ged}
    names = {a["name"] for a in sitroom(capfd, "actors", "-w", ws, "--json").json()["actors"]}
    assert sides <= names and "United States" in names

    us = sitroom(capfd, "actor", "usa", "-w", ws, "--window", "2d", "--json").json()
    assert us["name"] == "United States"  # found by alias, case-insensitively
    (alliance,) = us["relationships"]
    assert (alliance["type"], alliance["other"], alliance["confidence"]) == (
        "alliance",
        "Government of Israel",
        90,
    )
    israel = sitroom(capfd, "actor", "Government of Israel", "-w", ws, "--json").json()
    hostile = {r["other"] for r in israel["relationships"] if r["type"] == "hostility"}
    expected = {r["side_b"] for r in ged if r["side_a"] == "Government of Israel"} | {
        r["side_a"] for r in ged if r["side_b"] == "Government of Israel"
    }
    assert hostile == expected and hostile

    # Signals: every accepted GDELT event between USA and another country in the last 2 days.
    quarantined = {
        q["line"]
        for q in sitroom(capfd, "quarantine", "-w", ws, "--json").json()["quarantined"]
        if q["file"].endswith(V2_FILES[2].name)
    }
    with V2_FILES[2].open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = [
            r for n, r in enumerate(reader, 1) if n not in quarantined and "USA" in (r[7], r[17])
        ]
    day = lambda r: datetime.strptime(r[1], "%Y%m%d").replace(tzinfo=UTC)  # noqa: E731
    end = max(day(r) for r in rows)
    counts: Counter[str] = Counter()
    coop: Counter[str] = Counter()
    for r in rows:
        other = r[17] if r[7] == "USA" else r[7]
        if other and other != "USA" and (end - day(r)).days < 2:
            counts[other] += 1
            coop[other] += int(r[29]) <= 2
    got = {s["other"]: (s["events"], s["cooperative"]) for s in us["signals"]}
    top = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:15])
    assert got == {k: (v, coop[k]) for k, v in top.items()}


def test_an_actor_asked_about_before_the_room_knew_it_is_an_answer_and_a_stranger_an_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    assert sitroom(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE)).code == 0
    then = sitroom(capfd, "actor", "Government of Israel", "-w", ws, "--as-of", "2020-01-01")
    assert then.code == 0 and "not known then" in then.out
    as_json = sitroom(capfd, "actor", "Government of Israel", "-w", ws, "--as-of", "-1d", "--json")
    assert as_json.json()["known"] is False and as_json.json()["relationships"] == []
    assert sitroom(capfd, "actor", "Government of Israel", "-w", ws, "--json").json()["known"]
    stranger = sitroom(capfd, "actor", "Atlantis", "-w", ws, "--json")
    assert stranger.code == 2
    error = stranger.json()["error"]
    assert (error["type"], error["what"], error["id"]) == ("not_found", "actor", "Atlantis")
    assert "sitroom actors" in error["hint"] and error["exit_code"] == 2
    plain = sitroom(capfd, "actor", "Atlantis", "-w", ws)
    assert plain.err.count("\n") == 1 and "no actor 'Atlantis'" in plain.err
