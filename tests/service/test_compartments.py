"""An analyst cleared only for ceasefire sees nothing of us-iran through the server: not in its
lists, its counts, nor its stream; and a refused read does not name the hidden track."""

from __future__ import annotations

import json
from typing import Any

from serving import Listener, Served


def test_an_uncleared_analyst_sees_nothing_of_the_other_track(served: Served) -> None:
    dana, alice = served.as_user("dana"), served.as_user("alice")
    lists: dict[str, Any] = {
        path: dana.get(path).json()
        for path in ("/tracks", "/questions", "/forecasts", "/keys", "/channels",
                     "/channels/status", "/alerts", "/tracks/check", "/questions/scores")
    }  # fmt: skip
    assert [t["id"] for t in lists["/tracks"]["tracks"]] == ["ceasefire"]
    assert [q["id"] for q in lists["/questions"]["questions"]] == ["hold"]
    assert [t["track"] for t in lists["/keys"]["tracks"]] == ["ceasefire"]
    for path, answer in lists.items():
        assert "us-iran" not in json.dumps(answer), path
        assert "talks" not in json.dumps(answer).replace("talks meet", ""), path
    # Counts: a record of us-iran changes nothing dana is shown but how many are hidden.
    before = dana.get("/state").json()
    assert alice.post("/tracks/us-iran/status", json={"status": "agreed"}).status_code == 200
    after = dana.get("/state").json()
    assert after["records"] == before["records"] and after["by_kind"] == before["by_kind"]
    assert after["provenance"]["hidden"] > before["provenance"]["hidden"] > 0
    assert "us-iran" not in json.dumps(after)
    # A refused read: "no question 'talks'", never the track it lies in.
    r = dana.get("/forecasts", params={"question": "talks"})
    assert r.status_code == 404 and "us-iran" not in r.text
    r = dana.post("/tracks/us-iran/status", json={"status": "agreed"})
    assert r.status_code == 404 and r.json()["error"]["known"] == ["ceasefire"]
    # alice, cleared for us-iran, sees it.
    assert "us-iran" in [t["id"] for t in alice.get("/tracks").json()["tracks"]]


def test_the_stream_carries_nothing_of_a_track_the_user_is_not_cleared_for(
    served: Served,
) -> None:
    dana_token, alice = served.login("dana"), served.as_user("alice")
    dana_stream = Listener(served.url, dana_token)
    alice_stream = Listener(served.url, served.login("alice"))
    r = alice.post("/tracks/us-iran/status", json={"status": "agreed"})
    assert r.status_code == 200, r.text
    rule = {"name": "beirut", "rule": "fatalities >= 50 within 100mi of Beirut in 24h"}
    assert alice.post("/redlines", json=rule).status_code == 201

    def has(kind: str) -> Any:
        return lambda seen: any(json.loads(e.data)["kind"] == kind for e in seen)

    theirs = alice_stream.until(has("redline"))
    assert any(json.loads(e.data)["compartment"] == "us-iran" for e in theirs)
    mine = dana_stream.until(has("redline"))  # the later, general record arrived...
    assert all(json.loads(e.data)["compartment"] in ("", "ceasefire") for e in mine)
    assert "us-iran" not in "".join(e.data for e in mine)  # ... and nothing of us-iran
