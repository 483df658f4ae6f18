"""The dashboard's own reads: events in grid cells with the venues' rings, the log's arrivals
over time, records by id, the basemap and the page itself. Each read needs a token and shows
only what its user is cleared for, like every read of the server."""

from __future__ import annotations

import json
from pathlib import Path

import sitroom.room

from serving import PASS, Served

ACLED = Path(__file__).resolve().parents[2] / "examples" / "acled-export.csv"


def _ingest(served: Served) -> None:
    alice = served.as_user("alice")
    r = alice.post("/ingest/acled", params={"name": "acled.csv"}, content=ACLED.read_bytes())
    assert r.status_code == 200, r.text


def test_every_dashboard_read_needs_a_token(served: Served) -> None:
    anon = served.client()
    for path in ("/map", "/timeline", "/records?id=x"):
        r = anon.get(path)
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthenticated", path
    # The page, its files and the public-domain basemap are not the room's: no token.
    page = anon.get("/")
    assert page.status_code == 200 and "<title>sitroom" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert anon.get("/static/main.js").status_code == 200
    shapes = anon.get("/map/basemap").json()["countries"]
    assert any(c["name"] == "Lebanon" and c["d"].startswith("M") for c in shapes)


def test_map_counts_events_in_cells_by_quad_class(served: Served) -> None:
    _ingest(served)
    dana = served.as_user("dana")
    answer = dana.get("/map", params={"cell": 1}).json()
    events = dana.get("/events", params={"limit": 0}).json()
    assert answer["events"] == events["matched"] > 0
    assert sum(c[3] for c in answer["cells"]) == answer["events"] - answer["unplaced"]
    # Counted per cell: the events of the example lie in southern Lebanon's 1-degree cells.
    beirut = sum(n for lat, lon, _q, n in answer["cells"] if (lat, lon) == (33.0, 35.0))
    assert beirut > 0
    state = dana.get("/state").json()
    by_class: dict[str, int] = {}
    for _lat, _lon, q, n in answer["cells"]:
        name = answer["quad_classes"].get(str(q))
        if name:
            by_class[name] = by_class.get(name, 0) + n
    assert by_class == state["events"]["quad_class"]
    # As of before the ingest, none.
    early = dana.get("/map", params={"as_of": "2025-01-01"}).json()
    assert early["events"] == 0 and early["cells"] == [] and early["provenance"]["stale"]
    assert dana.get("/map", params={"cell": 0}).status_code == 422


def test_an_uncleared_user_sees_no_venue_record_or_arrival_of_the_other_track(
    served: Served, team_template: Path
) -> None:
    dana, alice = served.as_user("dana"), served.as_user("alice")
    theirs = alice.get("/map").json()["venues"]
    mine = dana.get("/map").json()["venues"]
    assert [v["track"] for v in theirs] == ["us-iran"] and theirs[0]["venue"] == "Geneva"
    assert [v["track"] for v in mine] == ["ceasefire"] and mine[0]["radius_mi"] == 500
    assert "us-iran" not in json.dumps(dana.get("/map").json())
    # A record of us-iran by id: alice gets it, dana is told it is missing, as if it did not
    # exist.
    with sitroom.room.open(team_template, user="alice", proof=PASS) as r:  # the same log
        (rid,) = [t.id for t in r.session.records(kinds=["track"]) if t.compartment == "us-iran"]
    seen = alice.get("/records", params={"id": rid}).json()
    assert [r["id"] for r in seen["records"]] == [rid] and seen["records"][0]["payload"]
    hidden = dana.get("/records", params={"id": rid}).json()
    assert hidden["records"] == [] and hidden["missing"] == [rid]
    # Arrivals: each timeline counts what its user sees, as /state does, the rest hidden.
    for user in (alice, dana):
        line, state = user.get("/timeline").json(), user.get("/state").json()
        assert sum(line["counts"]) == state["records"]
        assert line["provenance"]["hidden"] == state["provenance"]["hidden"] > 0
    d = dana.get("/timeline").json()
    assert d["first"] is not None and len(d["counts"]) == 48


def test_a_box_filters_the_cells_not_the_counts(served: Served) -> None:
    _ingest(served)
    dana = served.as_user("dana")
    whole = dana.get("/map").json()
    south_lebanon = dana.get("/map", params={"bbox": "33,35,33.5,35.5"}).json()
    assert south_lebanon["events"] == whole["events"]
    assert south_lebanon["cells"] == [c for c in whole["cells"] if c[:2] == [33.0, 35.0]]
    assert south_lebanon["cells"] and len(south_lebanon["cells"]) < len(whole["cells"])
    for bad in ("33,35", "north,35,34,36", "34,35,33,36"):
        r = dana.get("/map", params={"bbox": bad})
        assert r.status_code == 422 and "south,west,north,east" in r.json()["error"]["message"]


def test_the_map_counts_the_sources_chosen_and_names_every_source(served: Served) -> None:
    _ingest(served)
    dana = served.as_user("dana")
    whole = dana.get("/map").json()
    assert whole["sources"] == {"acled": whole["events"]} and whole["shown"] == ["acled"]
    chosen = dana.get("/map", params={"sources": "acled"}).json()
    assert {k: chosen[k] for k in ("events", "unplaced", "cells", "sources")} == {
        k: whole[k] for k in ("events", "unplaced", "cells", "sources")
    }
    r = dana.get("/map", params={"sources": "acled,gdelt-v9"})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "gdelt-v9" in message and "acled" in message and "\n" not in message
    assert dana.get("/map", params={"sources": ","}).status_code == 422
