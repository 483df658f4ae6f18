"""Every error the server answers has one shape — ``{"error": {"type", "message", ...}}`` —
its own (401, 403, 404, 409, 422, 429) and the framework's (a validation error, an unknown
path, a method a path does not take), and no traceback in any."""

from __future__ import annotations

import httpx

from serving import Served


def _shape(r: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["error"]
    error: dict[str, object] = body["error"]
    assert error["type"] == kind and isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in r.text and "exit_code" not in error and "hint" not in error
    return error


def test_every_error_has_the_one_shape(served: Served) -> None:
    anonymous, dana = served.client(), served.as_user("dana")
    _shape(anonymous.get("/tracks"), 401, "unauthenticated")
    _shape(dana.post("/users/vic/grants", json={"compartment": "x"}), 403, "access_denied")
    missing = _shape(dana.get("/forecasts", params={"question": "nope"}), 404, "not_found")
    assert missing["what"] == "question" and missing["id"] == "nope"
    _shape(dana.get("/no/such/path"), 404, "not_found")
    _shape(dana.delete("/tracks"), 405, "method_not_allowed")
    _shape(dana.get("/events", params={"near": "Beirut"}), 422, "invalid")  # ours
    invalid = _shape(dana.get("/state", params={"top": "many"}), 422, "invalid")  # FastAPI's
    assert invalid["problems"]
    _shape(dana.post("/redlines", json={"name": "x"}), 422, "invalid")  # a field missing
    _shape(dana.post("/redlines", content=b"{not json"), 422, "invalid")
    q = {"text": "Will the ceasefire hold?", "id": "hold", "until": "+7d", "track": "ceasefire"}
    _shape(dana.post("/questions", json=q), 409, "exists")
    for _ in range(5):
        anonymous.post("/auth/login", json={"user": "vic", "passphrase": "wrong"})
    _shape(anonymous.post("/auth/login", json={"user": "vic", "passphrase": "x"}), 429,
           "rate_limited")  # fmt: skip


def test_health_needs_no_token_and_metrics_need_one(served: Served) -> None:
    health = served.client().get("/healthz").json()
    assert health["status"] == "ok" and health["last_seq"] > 0 and health["users"] is True
    assert served.client().get("/metrics").status_code == 401
    text = served.as_user("alice").get("/metrics").text
    for name in ("sitroom_requests_total", "sitroom_stream_clients",
                 "sitroom_alert_latency_seconds", "sitroom_stream_dropped_total",
                 "sitroom_key_wear_ratio"):  # fmt: skip
        assert name in text, name
    assert 'route="/healthz",status="200"' in text
