"""Key wear and expiry: alerts come ahead of the end, not at it."""

from __future__ import annotations

from typing import Any

from sitroom.domain.secure.epochs import AES_256_GCM, CHACHA20_POLY1305
from sitroom.domain.secure.wear import (
    CHAIN_LIMIT,
    LIMITS,
    Policy,
    findings,
    forecast,
    next_due,
    out_of_use,
)
from sitroom.domain.timeutil import MS_PER_DAY

T0 = 1_800_000_000_000
POLICY = Policy(cryptoperiod_ms=30 * MS_PER_DAY, warn_ms=7 * MS_PER_DAY, usage_warn=0.8)


def _epoch(aead: str = AES_256_GCM, created: int = T0, days: int = 30) -> dict[str, Any]:
    return {
        "track": "us-iran",
        "epoch": 3,
        "aead": aead,
        "created_ms": created,
        "expires_ms": created + days * MS_PER_DAY,
        "issuer": "washington",
    }


def _use(sealed: int, first: int = T0) -> dict[str, Any]:
    return {"sealed": sealed, "failed": 0, "first_ms": first, "last_ms": first}


def _keys(found: list[Any]) -> set[str]:
    return {f.key.rsplit("|", 1)[-1] for f in found}


def test_the_published_limits_are_the_ones_quic_uses() -> None:
    assert LIMITS[AES_256_GCM].messages == 2**23 and LIMITS[AES_256_GCM].forgeries == 2**52
    assert LIMITS[CHACHA20_POLY1305].messages is None
    assert LIMITS[CHACHA20_POLY1305].forgeries == 2**36
    assert Policy().message_limit(AES_256_GCM) == 2**23
    assert Policy(usage_limit=1000).message_limit(AES_256_GCM) == 1000
    assert Policy(usage_limit=1000).message_limit(CHACHA20_POLY1305) == 1000
    assert Policy().message_limit(CHACHA20_POLY1305) == CHAIN_LIMIT == 2**23  # the chain's


def test_a_fresh_key_far_from_its_limits_raises_nothing() -> None:
    now = T0 + MS_PER_DAY
    w = forecast(_epoch(), "washington", _use(10), POLICY, now)
    assert list(findings([w], POLICY, now, {})) == []


def test_a_key_approaching_its_usage_limit_raises_an_alert_before_it_is_spent() -> None:
    policy = Policy(usage_limit=100, usage_warn=0.8)
    now = T0 + MS_PER_DAY
    below = forecast(_epoch(), "washington", _use(79), policy, now)
    at = forecast(_epoch(), "washington", _use(80), policy, now)
    assert "used" not in _keys(list(findings([below], policy, now, {})))
    found = [f for f in findings([at], policy, now, {}) if f.key.endswith("|used")]
    assert found and "80 of its 100 messages (80%)" in found[0].title
    assert found[0].severity == "warning"


def test_the_wear_out_is_forecast_from_the_rate_and_alerted_a_horizon_ahead() -> None:
    policy = Policy(usage_limit=10_000, usage_warn=0.9, warn_ms=7 * MS_PER_DAY)
    now = T0 + 2 * MS_PER_DAY
    # 2,000 messages in two days: 1,000 a day, 8,000 left -> worn out 8 days from now.
    slow = forecast(_epoch(), "washington", _use(2_000), policy, now)
    assert slow.rate_per_day == 1_000
    assert slow.wears_out_ms == now + 8 * MS_PER_DAY
    assert "wearing" not in _keys(list(findings([slow], policy, now, {})))
    # 6,000 in two days: 3,000 a day, 4,000 left -> a day and a third: inside the horizon.
    fast = forecast(_epoch(), "washington", _use(6_000), policy, now)
    found = [f for f in findings([fast], policy, now, {}) if f.key.endswith("|wearing")]
    assert found and "10,000-message limit" in found[0].title and "3,000 a day" in found[0].title
    assert next_due(slow, policy, now) == slow.wears_out_ms - policy.warn_ms  # type: ignore[operator]


def test_expiry_is_alerted_within_the_warning_horizon_and_then_at_the_end() -> None:
    w_early = forecast(_epoch(), "washington", _use(0), POLICY, T0 + 22 * MS_PER_DAY)
    assert list(findings([w_early], POLICY, T0 + 22 * MS_PER_DAY, {})) == []
    assert next_due(w_early, POLICY, T0 + 22 * MS_PER_DAY) == T0 + 23 * MS_PER_DAY
    soon = T0 + 24 * MS_PER_DAY
    w = forecast(_epoch(), "washington", _use(0), POLICY, soon)
    (f,) = findings([w], POLICY, soon, {})
    assert f.key == "us-iran|3|expiring" and "expires in 6.0d" in f.title
    late = T0 + 30 * MS_PER_DAY
    w = forecast(_epoch(), "washington", _use(0), POLICY, late)
    (f,) = findings([w], POLICY, late, {})
    assert f.key == "us-iran|3|expired" and f.severity == "critical"


def test_a_scheduled_meeting_that_would_outlast_the_key_is_flagged_before_it() -> None:
    now = T0 + MS_PER_DAY  # far from the key's end: no expiry warning yet
    w = forecast(_epoch(days=10), "washington", _use(0), POLICY, now)
    end = T0 + 10 * MS_PER_DAY
    meetings = {
        "us-iran-1": {
            "track": "us-iran",
            "title": "round 1",
            "start": end - 3_600_000,
            "end": end + 3_600_000,
        },
        "us-iran-0": {"track": "us-iran", "title": "round 0", "start": now + 1, "end": now + 2},
        "ceasefire-1": {"track": "ceasefire", "start": end, "end": end + 9_000_000},
    }
    found = [f for f in findings([w], POLICY, now, meetings) if "|meeting|" in f.key]
    assert [f.key for f in found] == ["us-iran|3|meeting|us-iran-1"]
    assert "round 1" in found[0].title and "rotate before the meeting" in found[0].title


def test_a_key_is_out_of_use_past_its_limit_or_outside_its_cryptoperiod() -> None:
    """What sealing enforces (the alerts above only warn): RFC 9001 stops a key at its limit."""
    policy = Policy(usage_limit=3)
    ep = _epoch()
    assert out_of_use(ep, "washington", 3, policy, T0) is None
    assert out_of_use(ep, "washington", 4, policy, T0) == (
        "track us-iran's epoch 3 key for washington has sealed its 3 messages, its limit"
    )
    assert out_of_use(ep, "washington", 2**23, Policy(), T0) is None
    assert "its 8,388,608 messages" in str(out_of_use(ep, "w", 2**23 + 1, Policy(), T0))
    # ChaCha20-Poly1305 has no practical AEAD limit, but a reader walks the sender's chain.
    assert out_of_use(_epoch(CHACHA20_POLY1305), "w", CHAIN_LIMIT, Policy(), T0) is None
    assert "its 8,388,608 messages" in str(
        out_of_use(_epoch(CHACHA20_POLY1305), "w", CHAIN_LIMIT + 1, Policy(), T0)
    )
    end = T0 + 30 * MS_PER_DAY
    assert out_of_use(ep, "w", 1, policy, end - 1) is None
    assert out_of_use(ep, "w", 1, policy, end) == (
        "track us-iran's epoch 3 key expired 2027-02-14T08:00:00Z"
    )
    assert "after this message's time" in str(out_of_use(ep, "w", 1, policy, T0 - 1))
