"""One working week for the scheduler and the channels: read from what people type in a track
file or a channel declaration, said back the same way, and counted in local time."""

from __future__ import annotations

import pytest

from sitroom.domain.calendars import SlotGrid, intervals, working_mask
from sitroom.domain.channels.habits import ReplyHabits
from sitroom.domain.schedule import Resource
from sitroom.domain.timeutil import MS_PER_H, parse_time
from sitroom.domain.week import WorkingWeek
from sitroom.errors import UserInputError


def at(text: str) -> int:
    return parse_time(text, now_ms=0)


@pytest.mark.parametrize(
    ("days", "want", "said"),
    [
        (None, {0, 1, 2, 3, 4}, "Mon-Fri"),
        ("Sat-Wed", {5, 6, 0, 1, 2}, "Sat-Wed"),
        ("Sun,Mon,Tue", {6, 0, 1}, "Sun-Tue"),
        (["Mon", "Wednesday", "fri"], {0, 2, 4}, "Mon,Wed,Fri"),
        (["Sun-Thu"], {6, 0, 1, 2, 3}, "Sun-Thu"),
        ("Mon-Sun", set(range(7)), "Mon-Sun"),
    ],
)
def test_days_are_read_in_every_form_and_said_back(
    days: str | list[str] | None, want: set[int], said: str
) -> None:
    week = WorkingWeek.parse("Asia/Tehran", "08:00-16:30", days)
    assert week.days == want
    assert week.describe() == f"08:00-16:30 {said} (Asia/Tehran)"


def test_a_track_files_resource_without_hours_is_available_around_the_clock() -> None:
    assert WorkingWeek.of(None, "Mon-Fri", "Europe/Zurich") is None
    week = WorkingWeek.of("09:00-18:00", None, None)
    assert week == WorkingWeek()  # UTC, 09:00-18:00, Monday to Friday: the channels' default


@pytest.mark.parametrize(
    ("hours", "days", "zone", "says"),
    [
        ("9-18", None, "UTC", "expected HH:MM-HH:MM"),
        ("18:00-09:00", None, "UTC", "must run forward"),
        ("09:00-18:00", "Mon-Funday", "UTC", "cannot read working days"),
        ("09:00-18:00", ["Mon", "Someday"], "UTC", "cannot read working days"),
        ("09:00-18:00", None, "Mars/Olympus", "unknown time zone"),
    ],
)
def test_mistakes_are_said(hours: str, days: str | list[str] | None, zone: str, says: str) -> None:
    with pytest.raises(UserInputError, match=says):
        WorkingWeek.parse(zone, hours, days)


def test_the_scheduler_and_the_channels_count_the_same_week_alike() -> None:
    """Tehran works Saturday to Wednesday: the scheduler's slots and a counterpart's working
    time agree on it, across a Thursday and Friday off."""
    tehran = WorkingWeek.parse("Asia/Tehran", "08:00-16:00", "Sat-Wed")
    grid = SlotGrid(at("2026-12-09"), 60, 24 * 4)  # Wednesday 9 to Saturday 12 December
    days = sorted({grid.at(a) // 86_400_000 for a, _ in intervals(working_mask(grid, tehran))})
    assert [d - days[0] for d in days] == [0, 3]  # Wednesday, then Saturday
    sent, replied = at("2026-12-09T11:30:00Z"), at("2026-12-12T06:30:00Z")  # Wed 15:00, Sat 10:00
    assert tehran.working_ms_between(sent, replied) == 3 * MS_PER_H
    habits = ReplyHabits("Tehran desk", tehran).observe(sent, replied)
    assert habits.replies == (3 * MS_PER_H,)
    person = Resource("iran-fm", "the Iranian deputy FM", "person", 1, tehran)
    assert person.hours is tehran
