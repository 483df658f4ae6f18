"""The low-rate circuit breaker: opens on a handful of bad outcomes, probes once, recovers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.channels import BreakerPolicy, BreakerState, CircuitBreaker, Outcome, Step
from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_H, MS_PER_MIN
from sitroom.errors import UserInputError

T0 = 1_790_000_000_000
HALF_DAY = 12 * MS_PER_H  # two messages a day


def feed(
    b: CircuitBreaker, outcomes: list[Outcome], start: int = T0
) -> tuple[CircuitBreaker, list[Step]]:
    steps = []
    for k, o in enumerate(outcomes):
        step = b.record(o, start + k * HALF_DAY)
        steps.append(step)
        b = step.breaker
    return b, steps


def healthy(days: int = 20) -> CircuitBreaker:
    b, _ = feed(CircuitBreaker("oman"), [Outcome.SUCCESS] * (2 * days))
    return b


def test_three_timeouts_in_a_row_open_a_two_a_day_channel_after_weeks_of_health() -> None:
    """Three timeouts open it; two do not."""
    start = T0 + 40 * HALF_DAY
    b, steps = feed(healthy(), [Outcome.TIMEOUT] * 3, start)
    assert [s.transition is None for s in steps] == [True, True, False]
    t = steps[2].transition
    assert t is not None
    assert (t.channel, t.old, t.new, t.at_ms) == (
        "oman",
        BreakerState.CLOSED,
        BreakerState.OPEN,
        start + 2 * HALF_DAY,
    )
    assert t.reason == (
        "3 bad outcomes in a row (3 timeouts), weighing 3 against the 3 that opens the breaker"
    )
    assert b.state is BreakerState.OPEN
    assert not steps[2].allowed


def test_missing_acks_and_errors_count_as_bad_outcomes() -> None:
    b, steps = feed(healthy(), [Outcome.MISSING_ACK, Outcome.ERROR, Outcome.MISSING_ACK])
    assert b.state is BreakerState.OPEN
    t = steps[-1].transition
    assert t is not None and "(2 missing acks, 1 error)" in t.reason


def test_a_success_breaks_the_run() -> None:
    outcomes = [Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.SUCCESS] * 3
    b, _ = feed(healthy(), outcomes)
    assert b.state is BreakerState.CLOSED


def test_overdue_replies_weigh_half() -> None:
    """Six overdue replies in a row open the breaker, five do not."""
    b5, _ = feed(healthy(), [Outcome.OVERDUE_REPLY] * 5)
    b6, _ = feed(healthy(), [Outcome.OVERDUE_REPLY] * 6)
    assert b5.state is BreakerState.CLOSED
    assert b6.state is BreakerState.OPEN


def test_frequent_failures_open_it_even_when_never_three_in_a_row() -> None:
    """The decayed Beta estimate catches a channel that fails two messages out of three."""
    pattern = [Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.SUCCESS] * 4
    b, steps = feed(CircuitBreaker("flaky"), pattern)
    assert b.state is BreakerState.OPEN
    t = next(s.transition for s in steps if s.transition is not None)
    assert t.reason == (
        "an estimated 59% of messages fail (3.6 bad against 0.9 good outcomes, recent ones "
        "weighing most), above the 50% that opens the breaker"
    )
    assert t.at_ms == T0 + 4 * HALF_DAY  # the fifth outcome, though never three in a row


def test_an_occasional_failure_does_not_open_it() -> None:
    pattern = ([Outcome.SUCCESS] * 4 + [Outcome.TIMEOUT]) * 10
    b, steps = feed(CircuitBreaker("fine"), pattern)
    assert b.state is BreakerState.CLOSED
    assert all(s.transition is None for s in steps)
    assert b.failure_estimate() < 0.3


def test_old_evidence_fades() -> None:
    b, _ = feed(CircuitBreaker("x"), [Outcome.ERROR, Outcome.SUCCESS, Outcome.ERROR])
    now = T0 + 2 * HALF_DAY
    assert b.failure_estimate(now + 30 * MS_PER_DAY) < b.failure_estimate(now)
    # With all evidence faded, the estimate returns to the prior's 0.5 / 2.5.
    assert b.failure_estimate(now + 3650 * MS_PER_DAY) == pytest.approx(0.2, abs=1e-3)


def opened() -> tuple[CircuitBreaker, int]:
    b, _ = feed(CircuitBreaker("oman"), [Outcome.TIMEOUT] * 3)
    at = b.opened_at_ms
    assert b.state is BreakerState.OPEN and at is not None
    return b, at


def test_half_opens_after_the_cool_down_with_exactly_one_probe() -> None:
    b, at = opened()
    assert not b.allow(at + 29 * MS_PER_MIN).allowed
    assert b.retry_at_ms() == at + 30 * MS_PER_MIN
    probe = b.allow(at + 45 * MS_PER_MIN, "msg-7")
    assert probe.allowed and probe.probe
    assert probe.transition is not None
    assert (probe.transition.old, probe.transition.new) == (
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
    )
    assert probe.transition.reason == "the 30m cool-down is over; one probe may go"
    b = probe.breaker
    later = [b.allow(at + k * MS_PER_H) for k in range(1, 6)]
    assert not any(s.allowed for s in later)
    assert all(s.transition is None for s in later)


def test_probe_success_closes_and_forgets() -> None:
    b, at = opened()
    b = b.allow(at + MS_PER_H, "msg-7").breaker
    step = b.record(Outcome.SUCCESS, at + MS_PER_H + 5 * MS_PER_MIN, "msg-7")
    assert step.transition is not None
    assert (step.transition.new, step.transition.reason) == (
        BreakerState.CLOSED,
        "the probe succeeded",
    )
    b = step.breaker
    assert b.allow(at + 2 * MS_PER_H).allowed
    # A fresh start: two timeouts after recovery do not reopen it.
    b, _ = feed(b, [Outcome.TIMEOUT] * 2, at + 2 * MS_PER_H)
    assert b.state is BreakerState.CLOSED


def test_probe_failure_reopens_with_a_longer_cool_down() -> None:
    b, at = opened()
    b = b.allow(at + MS_PER_H, "msg-7").breaker
    step = b.record(Outcome.MISSING_ACK, at + 2 * MS_PER_H, "msg-7")
    assert step.transition is not None
    assert step.transition.new is BreakerState.OPEN
    assert step.transition.reason == (
        "the probe failed (missing ack); cooling down for 1h 0m before the next"
    )
    b = step.breaker
    assert b.retry_at_ms() == at + 3 * MS_PER_H
    assert not b.allow(at + 3 * MS_PER_H - 1).allowed
    assert b.allow(at + 3 * MS_PER_H).probe


def test_only_the_probes_outcome_decides_in_half_open() -> None:
    b, at = opened()
    b = b.allow(at + MS_PER_H, "msg-7").breaker
    late = b.record(Outcome.SUCCESS, at + MS_PER_H + 1, "msg-3")  # sent before it opened
    assert late.transition is None
    assert late.breaker.state is BreakerState.HALF_OPEN


def test_cool_down_growth_stops_at_its_ceiling() -> None:
    b, at = opened()
    now = at
    for _ in range(10):
        now = b.retry_at_ms() or now
        b = b.allow(now).breaker
        b = b.record(Outcome.TIMEOUT, now + 1).breaker
    assert b.cooldown_ms == 8 * MS_PER_H


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(Outcome)), max_size=40))
def test_replaying_the_outcomes_rebuilds_the_same_breaker(outcomes: list[Outcome]) -> None:
    """The breaker is a fold over its outcomes: replay gives an equal value and transitions."""
    a, sa = feed(CircuitBreaker("x"), outcomes)
    b, sb = feed(CircuitBreaker("x"), outcomes)
    assert a == b
    assert [s.transition for s in sa] == [s.transition for s in sb]
    # And whatever happened, the state changes chain: each starts where the previous ended.
    changes = [s.transition for s in sa if s.transition is not None]
    for x, y in itertools.pairwise(changes):
        assert x.new == y.old


def test_policy_is_checked() -> None:
    with pytest.raises(UserInputError):
        BreakerPolicy(rate_limit=1.5)
    with pytest.raises(UserInputError):
        BreakerPolicy(cooldown_ms=0)
