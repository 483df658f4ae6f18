"""STIX 2.1 out and back in: a bundle exported from a workspace holding the real GDELT and UCDP
data plus an analyst's claims, actors and relationships passes the OASIS validator with no
errors, and importing it into a fresh workspace gives back the same actors, relationships and
confidences."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stix2  # type: ignore[import-untyped]
from stix2validator import ValidationOptions, validate_file

from conftest import UCDP_FILE, V2_FILES
from helpers import sitroom

REPORT = """---
title: Iran, Hezbollah and the ceasefire track
author: jdoe
reliability: B
published: 2026-11-24T18:00:00Z
actors:
  - name: Iran
    type: state
    aliases: [Islamic Republic of Iran]
    cameo: [IRN]
  - name: Oman
    type: intermediary
    cameo: [OMN]
relationships:
  - source: Iran
    target: Hezbollah
    type: sponsor
    confidence: 85
    valid_from: 1982-06-01
  - source: Oman
    target: Iran
    type: mediation
    confidence: 60
    valid_from: 2026-10-01
    valid_to: 2026-12-31
claims:
  - subject: Hezbollah
    property: posture
    value: defensive
    credibility: 2
    valid_from: 2026-11-20
    origin: IDF statement
  - subject: Iran
    property: delegation
    value: [Araghchi, Takht-Ravanchi]
    confidence: 65
---
Assessment text.
"""
RIVAL = """---
source: reuters
reliability: A
published: 2026-11-25T08:00:00Z
claims:
  - subject: Hezbollah
    property: posture
    value: offensive
    credibility: 3
    valid_from: 2026-11-22
---
"""


def j(capfd: pytest.CaptureFixture[str], *args: str) -> Any:
    r = sitroom(capfd, *args, "--json")
    assert r.code == 0, r.err
    return r.json()


def picture(capfd: pytest.CaptureFixture[str], ws: str) -> dict[str, Any]:
    actors = {
        a["key"]: (a["name"], a["type"], a["aliases"])
        for a in j(capfd, "actors", "-w", ws)["actors"]
    }
    relations = sorted(
        (r["type"], r["direction"], r["other"], r["confidence"], r["valid_from"], r["valid_to"])
        for name in ("Hezbollah", "Iran", "Oman")
        for r in j(capfd, "actor", name, "-w", ws)["relationships"]
    )
    claims = [
        (
            p["property"],
            p["conflict"],
            [(v["value"], v["confidence"], len(v["claims"])) for v in p["values"]],
        )
        for s in ("Hezbollah", "Iran")
        for p in j(capfd, "claims", s, "-w", ws, "--all")["properties"]
    ]
    rules = [(r["name"], r["rule"]) for r in j(capfd, "redlines", "-w", ws)["redlines"]]
    return {"actors": actors, "relationships": relations, "claims": claims, "redlines": rules}


@pytest.mark.slow
def test_export_validates_and_a_round_trip_gives_back_the_same_picture(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws, fresh = str(tmp_path / "ws"), str(tmp_path / "fresh")
    for w in (ws, fresh):
        assert sitroom(capfd, "init", "-w", w).code == 0
    assert sitroom(capfd, "ingest", "gdelt", "-w", ws, *map(str, V2_FILES)).code == 0
    assert sitroom(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE)).code == 0
    (tmp_path / "a.md").write_text(REPORT)
    (tmp_path / "b.md").write_text(RIVAL)
    assert (
        sitroom(
            capfd, "reports", "add", "-w", ws, str(tmp_path / "a.md"), str(tmp_path / "b.md")
        ).code
        == 0
    )
    assert (
        sitroom(
            capfd,
            "redlines",
            "add",
            "beirut",
            "fatalities >= 50 within 100mi of Beirut in 24h",
            "-w",
            ws,
        ).code
        == 0
    )

    bundle = tmp_path / "bundle.json"
    exported = j(capfd, "export", "stix", "-w", ws, "-o", str(bundle))
    results = validate_file(str(bundle), ValidationOptions(version="2.1"))
    errors = [e for o in results.object_results for e in o.errors]
    assert results.is_valid and errors == []

    objects = json.loads(bundle.read_text())["objects"]
    assert (exported["format"], exported["count"]) == ("stix", len(objects))
    types = {o["type"] for o in objects}
    assert {"identity", "threat-actor", "relationship", "note", "indicator", "report"} <= types
    sponsor = [
        o for o in objects if o["type"] == "relationship" and o["relationship_type"] == "sponsor"
    ]
    assert len(sponsor) == 1 and sponsor[0]["confidence"] == 85

    before = picture(capfd, ws)
    # Hezbollah (a UCDP side) has its hostility with Israel and Iran's sponsorship, by alias.
    assert ("sponsor", "in", "Iran", 85, "1982-06-01T00:00:00Z", None) in before["relationships"]
    assert any(
        r[0] == "hostility" and r[2] == "Government of Israel" for r in before["relationships"]
    )
    assert ("posture", True, [("defensive", 70, 1), ("offensive", 50, 1)]) in before["claims"]

    first = j(capfd, "ingest", "stix", "-w", fresh, str(bundle))
    again = j(capfd, "ingest", "stix", "-w", fresh, str(bundle))
    assert first["totals"]["accepted"] == len(objects) - 1  # all but the exporting site itself
    assert again["totals"]["accepted"] == 0
    assert picture(capfd, fresh) == before


def test_a_foreign_bundle_is_imported_whole_and_read_where_sitroom_can(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Another tool's bundle: identities, intrusion sets and locations become actors, its
    relationship a relationship, opinions and sightings claims; everything is kept."""
    analyst = stix2.Identity(name="Desk A", identity_class="individual")
    group = stix2.IntrusionSet(name="Cedar Unit", aliases=["CU-7"])
    place = stix2.Location(name="South Lebanon", latitude=33.27, longitude=35.4)
    objects = [
        analyst,
        group,
        place,
        stix2.Relationship(group, "located-at", place, confidence=60),
        stix2.Opinion(opinion="agree", object_refs=[group.id], authors=["Desk A"]),
        stix2.Sighting(
            sighting_of_ref=group.id,
            where_sighted_refs=[analyst.id],
            count=3,
            first_seen="2026-11-20T00:00:00Z",
            last_seen="2026-11-21T00:00:00Z",
        ),
        stix2.Note(content="seen near the border", object_refs=[group.id]),
    ]
    bundle = tmp_path / "foreign.json"
    bundle.write_text(stix2.Bundle(objects=objects).serialize())
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    first = j(capfd, "ingest", "stix", "-w", ws, str(bundle))
    again = j(capfd, "ingest", "stix", "-w", ws, str(bundle))
    assert again["totals"]["accepted"] == 0 and first["totals"]["accepted"] == 9  # 7 + 2 claims
    actors = {a["name"]: a for a in j(capfd, "actors", "-w", ws)["actors"]}
    assert actors["Cedar Unit"]["type"] == "armed-group"
    assert actors["Cedar Unit"]["aliases"] == ["CU-7"]
    assert actors["Desk A"]["type"] == "person" and actors["South Lebanon"]["type"] == "location"
    (rel,) = j(capfd, "actor", "CU-7", "-w", ws)["relationships"]
    assert (rel["type"], rel["other"], rel["confidence"]) == ("located-at", "South Lebanon", 60)
    claims = {
        p["property"]: p["values"]
        for p in j(capfd, "claims", "Cedar Unit", "-w", ws, "--all")["properties"]
    }
    assert claims["opinion"][0]["value"] == "agree" and claims["opinion"][0]["confidence"] == 70
    assert claims["sighted"][0]["value"] == {"count": 3, "where": ["Desk A"]}
    state = j(capfd, "state", "-w", ws)
    assert state["by_kind"]["stix.object"] == 3  # the opinion, sighting and note, kept whole
