"""Overdue replies, judged by the counterpart's own habits in its own working week, raised by
the engine's clock; and the log as the courier's memory across a restart."""

from __future__ import annotations

import pytest

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.log_memory import MemoryLog
from sitroom.application.channels import Channels
from sitroom.application.desk import channel_record, courier_for, note_record
from sitroom.application.engine import Engine
from sitroom.application.session import Session
from sitroom.domain.channels.courier import Courier, Link, Note
from sitroom.domain.channels.ledger import ChannelDetector, ChannelsProjection
from sitroom.domain.channels.priority import Priority
from sitroom.domain.timeutil import MS_PER_H, MS_PER_MIN, parse_time
from sitroom.domain.week import WorkingWeek
from sitroom.errors import UserInputError

TEHRAN = WorkingWeek.parse("Asia/Tehran", "08:00-16:00", "Sat-Wed")
LINK = Link("direct", "Tehran desk", ack_timeout_ms=5_000, week=TEHRAN)


def at(text: str) -> int:
    return parse_time(text, now_ms=0)


def engine(now: int) -> tuple[Engine, ManualClock]:
    clock = ManualClock(now)
    e = Engine(
        MemoryLog(), clock, site="t", projections=[ChannelsProjection()],
        detectors=[ChannelDetector()],
    )  # fmt: skip
    e.append([channel_record(LINK)])
    return e, clock


def record_reply(e: Engine, msg_id: str, at_ms: int) -> bool:
    """The counterpart's reply, recorded as `sitroom channels reply` does."""
    return Channels(Session.site(e)).reply(msg_id, at_ms=at_ms).new


def send(e: Engine, clock: ManualClock, msg_id: str, when: int) -> None:
    clock.set(when)
    c = Courier([LINK])
    done = c.submit(msg_id, "direct", Priority.IMMEDIATE, "text", when, await_reply=True)
    e.append([note_record(a) for a in done.actions if isinstance(a, Note)])


def overdue_alerts(e: Engine) -> list[dict[str, object]]:
    return [
        r.payload
        for b in e.log.read(kinds=["alert"])
        for r in b.rows()
        if str(r.payload["key"]).startswith("overdue:")
    ]


def learned(e: Engine, clock: ManualClock) -> None:
    """Six replies, each within 2 to 4 working hours (Tehran, Sunday to Tuesday mornings)."""
    replies = [("2026-11-29", 2), ("2026-11-29", 3), ("2026-11-30", 4), ("2026-11-30", 2.5),
               ("2026-12-01", 3.5), ("2026-12-01", 1)]  # fmt: skip
    for i, (day, took_h) in enumerate(replies):
        sent = at(f"{day}T05:00:00Z") + i * MS_PER_MIN  # 08:30 in Tehran
        send(e, clock, f"h{i}", sent)
        clock.set(sent + int(took_h * MS_PER_H))
        assert record_reply(e, f"h{i}", clock.now_ms())
        assert e.tick().alerts == []


def test_a_quiet_counterpart_is_overdue_once_its_learned_bound_passes() -> None:
    e, clock = engine(at("2026-11-28T00:00:00Z"))
    learned(e, clock)
    sent = at("2026-12-06T05:00:00Z")  # Sunday 08:30 in Tehran
    send(e, clock, "m1", sent)
    due = e.next_due(sent)
    assert due == sent + 4 * MS_PER_H + 1  # the slowest of six replies: 4 working hours
    assert e.tick(due - MS_PER_MIN).alerts == []
    (alert,) = e.tick(due).alerts
    p = alert.payload
    assert p["detail"]["message"] == "m1" and p["severity"] == "warning"
    assert "usually replies within 4.0 working hours (95th percentile of 6 replies)" in p["title"]
    assert p["evidence"] == ["send:m1"]
    assert e.tick(due + MS_PER_H).alerts == []  # raised once
    assert e.next_due(due + MS_PER_H) is None


def test_a_counterpart_merely_outside_its_working_week_is_not_overdue() -> None:
    e, clock = engine(at("2026-11-28T00:00:00Z"))
    learned(e, clock)
    sent = at("2026-12-02T11:30:00Z")  # Wednesday 15:00 in Tehran: one working hour left
    send(e, clock, "m2", sent)
    friday_night = at("2026-12-04T17:00:00Z")  # 53 hours later, but Thursday and Friday off
    assert e.tick(friday_night).alerts == []
    saturday = at("2026-12-05T07:30:00Z")  # Saturday 11:00: three more working hours
    assert e.tick(saturday - MS_PER_MIN).alerts == []
    assert e.next_due(friday_night) == saturday + 1
    assert [a.payload["detail"]["message"] for a in e.tick(saturday + 1).alerts] == ["m2"]
    # The reply, once it comes, is no longer awaited.
    assert record_reply(e, "m2", saturday + MS_PER_H)
    assert e.next_due(saturday + MS_PER_H) is None
    assert len(overdue_alerts(e)) == 1


def test_an_explicit_reply_by_time_is_a_wall_clock_deadline() -> None:
    e, _ = engine(at("2026-12-03T00:00:00Z"))  # a Thursday: Tehran's weekend
    c = Courier([LINK])
    deadline = at("2026-12-03T12:00:00Z")
    done = c.submit("m3", "direct", Priority.FLASH, "x", e.clock.now_ms(), reply_by_ms=deadline)
    e.append([note_record(a) for a in done.actions if isinstance(a, Note)])
    assert e.next_due(e.clock.now_ms()) == deadline + 1
    (alert,) = e.tick(deadline + 1).alerts
    assert "was asked to reply by 2026-12-03T12:00:00Z" in alert.payload["title"]


def test_a_restarted_courier_takes_back_what_the_log_says_is_unacknowledged() -> None:
    e, clock = engine(at("2026-12-01T06:00:00Z"))
    c = Courier([LINK, Link("spare", "Tehran desk")])
    e.append([channel_record(Link("spare", "Tehran desk"))])
    now = clock.now_ms()
    for msg_id in ("a", "b"):
        done = c.submit(msg_id, "direct", Priority.PRIORITY, msg_id, now)
        e.append([note_record(a) for a in done.actions if isinstance(a, Note)])
    e.append([note_record(a) for a in c.tick(now + 5_000) if isinstance(a, Note)])  # retries
    acked = c.on_ack("a", "direct", now + 6_000)
    e.append([note_record(a) for a in acked if isinstance(a, Note)])
    again = courier_for(e.states["channels"])
    assert set(again.pending) == {"b"}
    env = again.pending["b"].envelope
    assert (env.id, env.attempt, env.body) == ("b", 2, "b")
    # The two missed acks and the one ack were recorded, so the breaker remembers them.
    before, after = c.breaker("direct"), again.breaker("direct")
    assert round(after.failures, 3) == round(before.failures, 3) == 2.0
    assert after.successes == before.successes == 1.0


def test_a_holiday_in_the_counterparts_calendar_is_no_overdue_reply() -> None:
    """Reply habits knew weekends, not holidays: a closure (Nowruz, Eid) raised false overdue
    alerts."""
    from dataclasses import replace

    from sitroom.domain.week import parse_closed

    e, clock = engine(at("2026-11-28T00:00:00Z"))
    learned(e, clock)
    off = replace(TEHRAN, closed=parse_closed(["2026-12-05..2026-12-06"]))  # Sat and Sun off
    e.append([channel_record(replace(LINK, week=off))])
    sent = at("2026-12-02T11:30:00Z")  # Wednesday 15:00 in Tehran: one working hour left
    send(e, clock, "m3", sent)
    saturday = at("2026-12-05T07:30:00Z")  # would have been due here ...
    assert e.tick(saturday + 1).alerts == []
    monday = at("2026-12-07T07:30:00Z")  # ... but the office is closed until Monday
    assert e.next_due(saturday + 1) == monday + 1
    assert [a.payload["detail"]["message"] for a in e.tick(monday + 1).alerts] == ["m3"]
    with pytest.raises(UserInputError, match="cannot read days off"):
        parse_closed(["Nowruz"])


def test_shorter_hours_for_a_period_slow_the_clock_of_an_overdue_reply() -> None:
    """Ramadan's short days: a counterpart working 08:00-10:00 for a month is not overdue by
    its usual 08:00-16:00 clock."""
    from dataclasses import replace

    from sitroom.domain.week import parse_shorter

    e, clock = engine(at("2026-11-28T00:00:00Z"))
    learned(e, clock)  # replies within 4 working hours
    short = replace(TEHRAN, shorter=parse_shorter(["2026-12-05..2026-12-09 08:00-10:00"]))
    e.append([channel_record(replace(LINK, week=short))])
    sent = at("2026-12-02T11:30:00Z")  # Wednesday 15:00 in Tehran: one working hour left
    send(e, clock, "m4", sent)
    # Saturday 08:00-10:00 gives two more; Sunday's first hour the fourth: 09:00 in Tehran.
    assert e.next_due(sent) == at("2026-12-06T05:30:00Z") + 1
    with pytest.raises(UserInputError, match="a period and its hours"):
        parse_shorter(["2027-02-18..2027-03-19"])
