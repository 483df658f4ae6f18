"""Reply-time habits in the counterpart's working time, and overdue replies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.channels import HabitPolicy, OverdueReason, ReplyHabits, WorkingWeek
from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_H, MS_PER_MIN, to_ms
from sitroom.errors import UserInputError

ZURICH = WorkingWeek("Europe/Zurich")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, zone: str = "Europe/Zurich") -> int:
    return to_ms(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone)))


def four_hour_replier(n: int = 12) -> ReplyHabits:
    """Replies taking 1 to 4 working hours, learned from messages sent at 09:00 on weekdays of
    November 2026 (Monday the 2nd onwards)."""
    h = ReplyHabits("the Omani desk", ZURICH)
    hours = [1, 2, 3, 3.5, 2.5, 1.5, 2, 3, 4, 2, 1, 3.2][:n]
    days = [2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17]
    for d, took in zip(days, hours, strict=False):
        sent = at(2026, 11, d, 9)
        h = h.observe(sent, sent + round(took * MS_PER_H))
    return h


def test_friday_evening_to_monday_morning_is_one_and_a_half_working_hours() -> None:
    sent, replied = at(2026, 11, 20, 17, 30), at(2026, 11, 23, 10)
    assert ZURICH.working_seconds_between(sent, replied) == 1.5 * 3600


def test_working_time_follows_daylight_saving() -> None:
    """Zurich leaves summer time on Sunday 25 October 2026: Friday 17:00 to Monday 10:00 is
    still two working hours, though the wall clock gained an hour."""
    assert ZURICH.working_ms_between(at(2026, 10, 23, 17), at(2026, 10, 26, 10)) == 2 * MS_PER_H


def test_the_counterparts_time_zone_and_week_decide() -> None:
    """The same four hours of UTC are working time in New York, night in Tehran."""
    start = to_ms(datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("UTC")))
    end = start + 4 * MS_PER_H
    assert WorkingWeek("America/New_York").working_ms_between(start, end) == 4 * MS_PER_H
    tehran = WorkingWeek.parse("Asia/Tehran", "08:00-16:00", "Sat-Wed")
    assert tehran.days == frozenset({5, 6, 0, 1, 2})
    assert tehran.working_ms_between(start, end) == 0
    assert WorkingWeek("UTC").describe() == "09:00-18:00 Mon-Fri (UTC)"
    assert WorkingWeek.parse("UTC", days="Mon,Wed").describe() == "09:00-18:00 Mon,Wed (UTC)"
    assert tehran.describe() == "08:00-16:00 Sat-Wed (Asia/Tehran)"


def test_the_learned_bound_is_the_95th_percentile_by_nearest_rank() -> None:
    h = four_hour_replier()
    assert h.bound_ms() == 4 * MS_PER_H
    assert h.quantile_ms(0.5) == 2 * MS_PER_H


def test_a_counterpart_gone_quiet_is_overdue_within_its_learned_bound() -> None:
    """Sent Tuesday 10:00; five working hours later, past the 4-hour habit, it is overdue."""
    h = four_hour_replier()
    sent = at(2026, 11, 24, 10)
    assert h.due_ms(sent) == sent + 4 * MS_PER_H + 1  # 14:00, the same afternoon
    assert h.overdue(sent, sent + 4 * MS_PER_H) is None
    late = h.overdue(sent, sent + round(5.2 * MS_PER_H))
    assert late is not None
    assert late.reason is OverdueReason.HABIT
    assert late.bound_ms == 4 * MS_PER_H
    assert late.explanation == (
        "the Omani desk usually replies within 4.0 working hours (95th percentile of 12 "
        "replies); 5.2 working hours have passed"
    )


def test_a_counterpart_merely_off_for_the_weekend_is_not_overdue() -> None:
    """Sent Friday 16:00: two working hours that evening, none all weekend."""
    h = four_hour_replier()
    sent = at(2026, 11, 27, 16)
    assert h.overdue(sent, at(2026, 11, 29, 23)) is None  # Sunday night: 50+ wall hours
    assert h.overdue(sent, at(2026, 11, 30, 11)) is None  # Monday 11:00: exactly 4 h
    monday = h.overdue(sent, at(2026, 11, 30, 11, 30))
    assert monday is not None and monday.elapsed_working_ms == 4 * MS_PER_H + 30 * MS_PER_MIN
    assert h.due_ms(sent) == at(2026, 11, 30, 11) + 1


def test_a_counterpart_asleep_is_not_overdue() -> None:
    h = four_hour_replier()
    sent = at(2026, 11, 24, 17)
    assert h.overdue(sent, at(2026, 11, 25, 8, 59)) is None


def test_a_default_bound_stands_in_until_five_replies() -> None:
    h = four_hour_replier(n=4)
    assert h.quantile_ms() is None
    assert h.bound_ms() == 8 * MS_PER_H
    sent = at(2026, 11, 24, 9)
    assert h.overdue(sent, sent + 8 * MS_PER_H) is None
    late = h.overdue(sent, at(2026, 11, 25, 9, 30))
    assert late is not None
    assert late.explanation == (
        "the Omani desk has replied 4 times, too few to learn from (5 needed), so the default "
        "bound of 8.0 working hours applies; 9.5 working hours have passed"
    )


def test_a_very_quick_replier_still_gets_the_floor() -> None:
    h = ReplyHabits("desk", ZURICH)
    sent = at(2026, 11, 24, 9)
    for k in range(6):
        h = h.observe(sent + k * MS_PER_DAY, sent + k * MS_PER_DAY + 2 * MS_PER_MIN)
    assert h.bound_ms() == 15 * MS_PER_MIN
    late = h.overdue(sent, sent + 20 * MS_PER_MIN)
    assert late is not None
    assert "raised to the floor of 15 working minutes" in late.explanation


def test_an_explicit_reply_by_time_is_judged_on_the_wall_clock() -> None:
    """Even over a weekend, a passed reply-by time makes the reply overdue."""
    h = four_hour_replier()
    sent, by = at(2026, 11, 27, 17), at(2026, 11, 28, 12)
    assert h.overdue(sent, by, reply_by_ms=by) is None
    late = h.overdue(sent, by + 2 * MS_PER_H, reply_by_ms=by)
    assert late is not None and late.reason is OverdueReason.REPLY_BY
    assert late.explanation == (
        "the Omani desk was asked to reply by 2026-11-28T11:00:00Z, 2h 0m ago; "
        "1.0 working hours have passed"
    )
    assert h.due_ms(sent, by) == by + 1


def test_only_recent_replies_count() -> None:
    h = ReplyHabits("desk", ZURICH, HabitPolicy(window=5))
    sent = at(2026, 11, 2, 9)
    for _ in range(5):
        h = h.observe(sent, sent + 8 * MS_PER_H)  # slow, long ago
    for _ in range(5):
        h = h.observe(sent, sent + MS_PER_H)  # quick, lately
    assert h.replies == (MS_PER_H,) * 5
    assert h.bound_ms() == MS_PER_H


def test_bad_working_weeks_are_refused() -> None:
    with pytest.raises(UserInputError):
        WorkingWeek("Mars/Olympus")
    with pytest.raises(UserInputError):
        WorkingWeek.parse("UTC", "18:00-09:00")
    with pytest.raises(UserInputError):
        WorkingWeek.parse("UTC", days="Mon-Funday")


ZONES = st.sampled_from(["Europe/Zurich", "Asia/Tehran", "America/New_York", "Asia/Kolkata"])
INSTANT = st.integers(at(2026, 1, 1, 0), at(2027, 1, 1, 0))


@settings(max_examples=200, deadline=None)
@given(ZONES, INSTANT, st.integers(0, 30 * MS_PER_DAY), st.integers(0, 30 * MS_PER_DAY))
def test_working_time_adds_up(zone: str, a: int, d1: int, d2: int) -> None:
    """Splitting an interval splits its working time, which never exceeds wall time."""
    week = WorkingWeek(zone)
    b, c = a + d1, a + d1 + d2
    assert week.working_ms_between(a, b) + week.working_ms_between(b, c) == (
        week.working_ms_between(a, c)
    )
    assert 0 <= week.working_ms_between(a, c) <= c - a


@settings(max_examples=200, deadline=None)
@given(ZONES, INSTANT, st.integers(1, 60 * MS_PER_H))
def test_adding_working_time_inverts_measuring_it(zone: str, start: int, work: int) -> None:
    week = WorkingWeek(zone)
    end = week.add_working_ms(start, work)
    assert week.working_ms_between(start, end) == work
    assert week.working_ms_between(start, end - 1) == work - 1


@settings(max_examples=100, deadline=None)
@given(INSTANT)
def test_due_is_the_first_instant_overdue(sent: int) -> None:
    h = four_hour_replier()
    due = h.due_ms(sent)
    assert h.overdue(sent, due - 1) is None
    assert h.overdue(sent, due) is not None
