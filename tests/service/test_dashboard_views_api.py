"""The reads behind the dashboard's tracks, forecasts and channels views and the map's marks,
and acknowledging an alert: each needs a token, shows only what its user is cleared for, and
an acknowledgement is one record, once, refused (404, nothing recorded) for an alert its
user cannot see."""

from __future__ import annotations

import json
from pathlib import Path

import sitroom.room

from serving import PASS, Served

ACLED = Path(__file__).resolve().parents[2] / "examples" / "acled-export.csv"
READS = ("/views/tracks", "/views/forecasts", "/views/channels", "/views/map-marks")


def _us_iran_alert(served: Served) -> str:
    """An alert in us-iran's compartment: alice's 99% on talks splits its ensemble."""
    alice = served.as_user("alice")
    r = alice.post("/questions/talks/judge", json={"probability": "99%", "rationale": "dates set"})
    assert r.status_code == 200, r.text
    (alert,) = [a for a in alice.get("/alerts").json()["alerts"] if a["compartment"] == "us-iran"]
    return str(alert["id"])


def test_every_view_read_and_the_ack_need_a_token(served: Served) -> None:
    anon = served.client()
    for path in READS:
        r = anon.get(path)
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthenticated", path
    assert anon.post("/alerts/x/ack").status_code == 401


def test_each_view_shows_only_the_tracks_its_user_is_cleared_for(served: Served) -> None:
    alice, dana = served.as_user("alice"), served.as_user("dana")
    r = alice.post("/channels", json={"id": "direct", "to": "Tehran", "track": "us-iran"})
    assert r.status_code == 201, r.text
    seen = {path: alice.get(path).json() for path in READS}
    hidden = {path: dana.get(path).json() for path in READS}
    assert "track:us-iran" in {n["id"] for n in seen["/views/tracks"]["nodes"]}
    assert [f["question"]["id"] for f in seen["/views/forecasts"]["forecasts"]] == ["talks"]
    assert [f["question"]["id"] for f in hidden["/views/forecasts"]["forecasts"]] == ["hold"]
    assert [c["id"] for c in seen["/views/channels"]["channels"]] == ["direct"]
    assert "direct" in seen["/views/channels"]["phi"]
    assert hidden["/views/channels"]["channels"] == [] and hidden["/views/channels"]["phi"] == {}
    assert {n["id"] for n in hidden["/views/tracks"]["nodes"]} == {"track:ceasefire"}
    for path, body in hidden.items():
        assert "us-iran" not in json.dumps(body) and "talks" not in json.dumps(body), path


def test_the_forecasts_view_has_every_forecast_as_a_series_with_its_range(
    served: Served,
) -> None:
    _us_iran_alert(served)
    (talks,) = served.as_user("alice").get("/views/forecasts").json()["forecasts"]
    series = talks["series"]
    assert len(series) >= 2 and [p["at"] for p in series] == sorted(p["at"] for p in series)
    last = series[-1]
    assert last["high"] == 0.99 and last["low"] < 0.6 and last["low"] <= last["p"] <= 0.99
    assert talks["forecast"]["disagreement"]["high"][0]["p"] == 0.99
    # As of before the judgment: the series stops at the forecast then.
    first = series[0]["at"]
    early = served.as_user("alice").get("/views/forecasts", params={"as_of": first}).json()
    assert len(early["forecasts"][0]["series"]) == 1


def test_the_map_marks_the_events_that_crossed_a_red_line(served: Served) -> None:
    alice, dana = served.as_user("alice"), served.as_user("dana")
    rule = {"name": "beirut", "rule": "fatalities >= 1 within 100mi of Beirut in 24h"}
    assert alice.post("/redlines", json=rule).status_code == 201
    r = alice.post("/ingest/acled", params={"name": "a.csv"}, content=ACLED.read_bytes())
    assert r.status_code == 200, r.text
    hits = dana.get("/views/map-marks").json()["redline_hits"]
    assert hits and all(h["alert"].startswith("alert:redline:beirut") for h in hits)
    assert all(33 < h["lat"] < 35 and 35 < h["lon"] < 37 for h in hits)
    early = dana.get("/views/map-marks", params={"as_of": "2025-01-01"}).json()
    assert early["redline_hits"] == []


def test_an_alert_is_acknowledged_once_and_shown_with_who_and_when(
    served: Served, team_room: Path
) -> None:
    alert = _us_iran_alert(served)
    alice = served.as_user("alice")
    first = alice.post(f"/alerts/{alert}/ack")
    assert first.status_code == 200, first.text
    assert first.json()["new"] is True and first.json()["by"] == "alice"
    again = alice.post(f"/alerts/{alert}/ack").json()
    assert again["new"] is False and again["at"] == first.json()["at"]
    (shown,) = [a for a in alice.get("/alerts").json()["alerts"] if a["id"] == alert]
    assert [(x["by"], x["at"]) for x in shown["acknowledged"]] == [("alice", first.json()["at"])]
    # dana may not see it: told it does not exist, as for an unknown id, and nothing recorded.
    dana = served.as_user("dana")
    for unseen in (alert, "alert:nothing:here"):
        r = dana.post(f"/alerts/{unseen}/ack")
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found", r.text
    served.stop()
    with sitroom.room.open(team_room, user="alice", proof=PASS) as room:
        acks = room.session.records(kinds=["alert.ack"])
    assert [(a.payload["by"], a.payload["alert"], a.compartment) for a in acks] == [
        ("alice", alert, "us-iran")
    ]
    assert acks[0].source == "user:alice"
