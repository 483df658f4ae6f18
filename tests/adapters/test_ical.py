"""Busy times read from hostile calendars, at the reader's real bounds: what the fuzzer
(tests/fuzz/test_fuzz_calendars.py) found, each pinned on its own. A rule that would step for
hours is refused within the expansion's budget; a rule without end and a count of a billion are
bounded by the window and the number of busy times; times past the calendar's ends, a TZID that
is a folder of the zone database or on Mars, and the library's own words quoting raw bytes are one
printable line; a ten-megabyte export is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitroom.adapters.ical import MAX_WINDOW_DAYS, read_busy
from sitroom.domain.timeutil import MS_PER_DAY, parse_time
from sitroom.errors import SitroomError, SourceError, UserInputError

START = parse_time("2026-12-01", now_ms=0)
ENVOY = Path(__file__).resolve().parents[2] / "examples" / "envoy.ics"


def one_line(e: SitroomError) -> None:
    assert "\n" not in str(e) and str(e).isprintable(), repr(str(e))


def ics(*lines: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT", "UID:x",
            "DTSTAMP:20261101T000000Z", *lines, "END:VEVENT", "END:VCALENDAR", ""]  # fmt: skip
    return "\r\n".join(body).encode()


WEEK = (START, START + 7 * MS_PER_DAY)


@pytest.mark.slow
@pytest.mark.parametrize(
    "rule",
    [
        ("DTSTART:20261201T090000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),  # to 9999
        ("DTSTART:00010101T000000Z", "RRULE:FREQ=SECONDLY"),  # 6e10 seconds to the window
        ("DTSTART:20200101T090000Z", "RRULE:FREQ=MINUTELY;COUNT=1000000000"),
    ],
)
def test_a_rule_that_would_step_for_hours_is_refused_within_its_budget(
    rule: tuple[str, ...],
) -> None:
    """Each ran for seconds to forever before; with the real budget, a refusal that says so."""
    with pytest.raises(SourceError, match="more than 1,000,000 steps to expand") as e:
        read_busy("hostile.ics", ics(*rule, "DURATION:PT1H"), *WEEK)
    one_line(e.value)


def test_a_rule_without_end_and_a_count_of_a_billion_in_the_window_are_bounded() -> None:
    daily = read_busy("daily.ics", ics("DTSTART:20261201T090000Z", "DURATION:PT1H",
                                       "RRULE:FREQ=DAILY"), *WEEK)  # fmt: skip
    assert len(daily) == 7
    with pytest.raises(SourceError, match="more than 10,000 busy times"):
        read_busy("minutely.ics", ics("DTSTART:20261201T000000Z", "DURATION:PT1M",
                                      "RRULE:FREQ=MINUTELY;COUNT=1000000000"), *WEEK)  # fmt: skip


def test_a_free_busy_period_past_the_calendar_s_end_is_refused() -> None:
    """Its end, 9999-12-31T23:00 plus two hours, was an OverflowError out of the parser."""
    period = ("BEGIN:VFREEBUSY", "FREEBUSY:99991231T230000Z/PT2H", "END:VFREEBUSY")
    with pytest.raises(SourceError, match="out of range") as e:
        read_busy("ends.ics", ics(*period), *WEEK)
    one_line(e.value)


def test_a_tzid_that_is_a_folder_of_the_zone_database_is_refused() -> None:
    """icalendar looks the zone up as a path: TZID=Europe was an IsADirectoryError."""
    with pytest.raises(SourceError, match=r"^europe\.ics: not an iCalendar file") as e:
        read_busy("europe.ics", ics("DTSTART;TZID=Europe:20261207T090000", "DURATION:PT1H"), *WEEK)
    one_line(e.value)


def test_a_time_zone_on_mars_is_refused_not_read_as_utc() -> None:
    """icalendar reads a time in a zone it does not know as floating: the envoy's meetings
    would have moved by hours without a word. A zone the file defines, or a Windows name
    (Outlook's), is read."""
    with pytest.raises(SourceError, match="TZID 'Mars/Olympus' is not a time zone") as e:
        read_busy("mars.ics", ics("DTSTART;TZID=Mars/Olympus:20261207T090000", "DURATION:PT1H"),
                  *WEEK)  # fmt: skip
    one_line(e.value)
    outlook = ics("DTSTART;TZID=W. Europe Standard Time:20261207T090000", "DURATION:PT1H")
    ((start, _, _),) = read_busy("outlook.ics", outlook, *WEEK)
    assert (start - START) % MS_PER_DAY == 8 * 3_600_000  # 09:00 in Berlin is 08:00 UTC
    defined = ics("DTSTART;TZID=Olympus Mons:20261207T090000", "DURATION:PT1H").replace(
        b"BEGIN:VEVENT",
        b"BEGIN:VTIMEZONE\r\nTZID:Olympus Mons\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        b"TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        b"BEGIN:VEVENT",
    )
    ((start, _, _),) = read_busy("defined.ics", defined, *WEEK)
    assert (start - START) % MS_PER_DAY == 6 * 3_600_000


def test_a_period_from_a_floating_time_to_a_utc_one_is_refused() -> None:
    """The parser's own TypeError: naive and aware datetimes cannot be subtracted."""
    period = ("BEGIN:VFREEBUSY", "FREEBUSY:20261207T090000/20261207T100000Z", "END:VFREEBUSY")
    with pytest.raises(SourceError, match="not an iCalendar file") as e:
        read_busy("mixed.ics", ics(*period), *WEEK)
    one_line(e.value)


def test_a_window_longer_than_a_year_is_refused() -> None:
    with pytest.raises(UserInputError, match=f"1 to {MAX_WINDOW_DAYS} days"):
        read_busy("envoy.ics", ENVOY.read_bytes(), START, START + 400 * MS_PER_DAY)


def test_the_library_s_words_are_one_printable_line() -> None:
    """An unparsable line is quoted back by icalendar with its control bytes (an ESC colours
    the terminal); the refusal escapes them."""
    with pytest.raises(SourceError) as e:
        read_busy("bytes.ics", b"BEGIN:VCALENDAR\r\n\x1b[31m\x0b\x0cred\r\nEND:VCALENDAR", *WEEK)
    one_line(e.value)
    assert "\\x1b" in str(e.value)


@pytest.mark.slow
def test_a_ten_megabyte_calendar_is_read() -> None:
    """Forty thousand events over ten years (a decade's export): read, the week's found."""
    days = [f"{2017 + i % 10}{1 + i % 12:02d}{1 + i % 28:02d}" for i in range(40_000)]
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:e{i}@x\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{d}T090000Z\r\n"
        f"DURATION:PT1H\r\nSUMMARY:Meeting {i}\r\nDESCRIPTION:{'x' * 140}\r\nEND:VEVENT\r\n"
        for i, d in enumerate(days)
    )
    data = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n"
    assert len(data) > 10_000_000
    busy = read_busy("decade.ics", data.encode(), *WEEK)
    expected = sum(1 for d in days if "20261201" <= d < "20261208")
    assert len(busy) == expected > 0
