"""Who acts through the server is proven, never claimed: no token, a wrong, spliced, revoked or
logged-out one is a 401 (with WWW-Authenticate); a token acts as its own user only; what a
role may not do is a 403, recorded; failed logins are limited per user."""

from __future__ import annotations

import httpx

import sitroom.room
from sitroom.domain.kinds import ACCESS_DENIED

from serving import PASS, Served


def _unauthenticated(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["error"]["type"] == "unauthenticated"


def test_no_token_or_a_wrong_one_is_401(served: Served) -> None:
    anonymous = served.client()
    _unauthenticated(anonymous.get("/tracks"))
    _unauthenticated(anonymous.post("/tracks/ceasefire/status", json={"status": "agreed"}))
    for bad in ("nonsense", "sitroom_abc_def", "sitroom_" + "x" * 60):
        _unauthenticated(served.client(bad).get("/state"))
    basic = served.client(headers={"Authorization": "Basic YWxpY2U6cGFzcw=="})
    _unauthenticated(basic.get("/state"))


def test_a_token_acts_as_its_own_user_and_a_spliced_one_as_nobody(served: Served) -> None:
    dana, alice = served.login("dana"), served.login("alice")
    assert served.client(dana).get("/tokens").json()["user"] == "dana"
    # alice's token id with dana's secret (or the reverse) opens nothing.
    a_id, d_secret = alice.split("_")[1], dana.split("_", 2)[2]
    _unauthenticated(served.client(f"sitroom_{a_id}_{d_secret}").get("/tokens"))
    # Nor does dana's token stand in for alice's passphrase.
    r = served.client().post("/auth/login", json={"user": "alice", "passphrase": dana})
    _unauthenticated(r)


def test_a_revoked_or_logged_out_token_is_401(served: Served) -> None:
    session = served.login("dana")
    dana = served.client(session)
    made = dana.post("/tokens", json={"name": "script", "days": 1})
    assert made.status_code == 201, made.text
    api = made.json()["token"]
    assert served.client(api).get("/tracks").status_code == 200
    assert dana.delete(f"/tokens/{made.json()['row']['id']}").status_code == 200
    _unauthenticated(served.client(api).get("/tracks"))
    assert dana.post("/auth/logout").json()["ended"]["user"] == "dana"
    _unauthenticated(dana.get("/tracks"))


def test_an_analyst_cannot_grant_and_the_refusal_is_recorded(served: Served) -> None:
    dana = served.as_user("dana")
    r = dana.post("/users/vic/grants", json={"compartment": "ceasefire"})
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["type"] == "access_denied" and error["action"] == "grant vic ceasefire"
    vic = served.as_user("vic")
    r = vic.post(
        "/redlines", json={"name": "x", "rule": "fatalities >= 50 within 100mi of Beirut in 24h"}
    )
    assert r.status_code == 403 and "viewers do not write" in r.json()["error"]["message"]
    served.stop()
    with sitroom.room.open(served.service.path, as_site=True) as room:
        denied = [(d.payload["user"], d.payload["action"])
                  for d in room.session.records(kinds=[ACCESS_DENIED])]  # fmt: skip
    assert ("dana", "grant vic ceasefire") in denied
    assert any(user == "vic" for user, _ in denied)


def test_failed_logins_are_limited_per_user(served: Served) -> None:
    anonymous = served.client()
    for _ in range(5):
        r = anonymous.post("/auth/login", json={"user": "vic", "passphrase": "wrong"})
        _unauthenticated(r)
    r = anonymous.post("/auth/login", json={"user": "vic", "passphrase": PASS})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["error"]["type"] == "rate_limited"
    # Another user is not held up by vic's failures.
    assert (
        anonymous.post("/auth/login", json={"user": "dana", "passphrase": PASS}).status_code == 201
    )
