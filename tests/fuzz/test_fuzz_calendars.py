"""Busy-time calendars (adapters/ical.read_busy, and `sitroom tracks calendar` over it) fuzzed:
whatever the .ics holds, the reader returns busy spans or refuses in one line — never a
traceback, and never an expansion without end.

Examples are random bytes, and calendars built from real-world hostile pieces then mangled
line by line: rules with no end, COUNT=10**9, intervals of thirty digits, rules that never
match (30 February), starts in the years 1 and 9999, a TZID on Mars, durations past the
calendar's end, free/busy periods, broken line folding, nested VCALENDARs, stray bytes. The
expansion's step budget is small here so that a rule that would take seconds is refused at
once; tests/adapters/test_ical.py holds the real budget, the ten-megabyte file and the
worst rules, each on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters.ical import MAX_WINDOW_DAYS, read_busy
from sitroom.domain.timeutil import MS_PER_DAY, parse_time
from sitroom.errors import SitroomError, SourceError, UserInputError

from fuzzing import assert_one_line, assert_refused_cleanly, fuzz
from helpers import sitroom

START = parse_time("2026-12-01", now_ms=0)
ENVOY = Path(__file__).resolve().parents[2] / "examples" / "envoy.ics"
TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
THIRTY = "123456789012345678901234567890"
STEPS = 20_000  # the fuzzer's budget: a twentieth of a second of rule stepping

WHEN = ["20261207T090000Z", "20261207T090000", "20261207", "00010101T000000Z",
        "99991231T235959Z", "99991231", "20260230T090000Z", "2026120", THIRTY, "",
        "20261207T250000Z", "19700101T000000Z"]  # fmt: skip
ZONES = ["Europe/Zurich", "Mars/Olympus", "UTC", "", "Europe", "../../etc/passwd"]
RULES = [
    "FREQ=DAILY",  # no end
    "FREQ=WEEKLY;BYDAY=MO,TH",
    "FREQ=MINUTELY;COUNT=1000000000",
    "FREQ=SECONDLY",
    "FREQ=HOURLY;INTERVAL=2;BYHOUR=1",  # dateutil: an empty rule
    f"FREQ=DAILY;INTERVAL={THIRTY}",
    f"FREQ=DAILY;COUNT={THIRTY}",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",  # never
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=FR",
    "FREQ=WEEKLY;BYSETPOS=8;BYDAY=MO",
    "FREQ=DAILY;UNTIL=99991231T235959Z",
    "FREQ=DAILY;UNTIL=garbage",
    "FREQ=DAILY;COUNT=-1",
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=FORTNIGHTLY",
    "FREQ=DAILY;UNTIL=20261210T000000Z;UNTIL=20261211T000000Z",
    "",
]
# What an export holds: the end-to-end runs keep to these, at the real budget.
GENTLE = ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=DAILY;COUNT=3",
          "FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=DAILY;UNTIL=garbage", "FREQ=FORTNIGHTLY",
          ""]  # fmt: skip
DURATIONS = ["PT1H", "P1D", "-PT2H", f"PT{THIRTY}H", "P99999999W", "PT0S", "garbage"]


def dt(name: str, value: str, zone: str) -> str:
    if len(value) == 8 and value.isdigit():
        return f"{name};VALUE=DATE:{value}"
    return f"{name};TZID={zone}:{value}" if zone else f"{name}:{value}"


@st.composite
def events(draw: st.DrawFn, rules: list[str]) -> list[str]:
    zone = draw(st.sampled_from(ZONES))
    lines = ["BEGIN:VEVENT", f"UID:{draw(st.sampled_from(['a', 'b', 'c', '']))}@fuzz",
             "DTSTAMP:20261101T000000Z"]  # fmt: skip
    if draw(st.booleans()):
        lines.append(dt("DTSTART", draw(st.sampled_from(WHEN)), zone))
    end = draw(st.sampled_from(["DTEND", "DURATION", "none"]))
    if end == "DTEND":
        lines.append(dt("DTEND", draw(st.sampled_from(WHEN)), zone))
    elif end == "DURATION":
        lines.append(f"DURATION:{draw(st.sampled_from(DURATIONS))}")
    for _ in range(draw(st.integers(0, 2))):
        lines.append(f"RRULE:{draw(st.sampled_from(rules))}")
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["EXDATE", "RDATE", "RECURRENCE-ID"]))
        lines.append(dt(kind, draw(st.sampled_from(WHEN)), zone))
    optional = [f"SEQUENCE:{THIRTY}", f"PRIORITY:{THIRTY}", "TRANSP:TRANSPARENT",
                "STATUS:CANCELLED", "SUMMARY:Coordination\\, secure line", "SUMMARY:\x1b[31mred",
                "X-WR-WHATEVER:1e400", "CLASS:PRIVATE"]  # fmt: skip
    lines += draw(st.lists(st.sampled_from(optional), max_size=3))
    return [*lines, "END:VEVENT"]


@st.composite
def freebusy(draw: st.DrawFn) -> list[str]:
    start = draw(st.sampled_from(WHEN))
    other = draw(st.sampled_from([*DURATIONS, "20261207T100000Z", "00010101T000000Z"]))
    fbtype = draw(st.sampled_from(["", ";FBTYPE=FREE", ";FBTYPE=BUSY-TENTATIVE"]))
    return ["BEGIN:VFREEBUSY", "UID:fb@fuzz", f"FREEBUSY{fbtype}:{start}/{other}", "END:VFREEBUSY"]


@st.composite
def calendars(draw: st.DrawFn, rules: list[str] = RULES) -> bytes:
    """A calendar built from hostile pieces, then mangled line by line."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN"]
    if draw(st.booleans()):
        lines.append(f"CALSCALE:{draw(st.sampled_from(['GREGORIAN', 'JULIAN']))}")
    for _ in range(draw(st.integers(1, 4))):
        lines += draw(st.one_of(events(rules), events(rules), freebusy()))
    lines.append("END:VCALENDAR")
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "twice", "fold", "split", "nest", "junk"]))
        if how == "drop":
            del lines[i]
        elif how == "twice":
            lines.insert(i, lines[i])
        elif how == "fold":  # a continuation line, as long lines are folded
            lines.insert(i, " " + draw(st.text(max_size=8)))
        elif how == "split":  # folding broken: the line cut without the leading space
            cut = draw(st.integers(0, len(lines[i])))
            lines[i : i + 1] = [lines[i][:cut], lines[i][cut:]]
        elif how == "nest":
            lines.insert(i, draw(st.sampled_from(["BEGIN:VCALENDAR", "END:VCALENDAR"])))
        else:
            lines.insert(i, draw(st.text(max_size=12)))
    ending = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    return ending.join(lines).encode("utf-8", "surrogateescape") + ending.encode()


def windows() -> st.SearchStrategy[tuple[int, int]]:
    days = st.integers(-2, MAX_WINDOW_DAYS + 2)
    return st.tuples(st.integers(-400, 400), days).map(
        lambda t: (START + t[0] * MS_PER_DAY, START + (t[0] + t[1]) * MS_PER_DAY)
    )


def check(data: bytes, window: tuple[int, int]) -> None:
    """Busy spans, well formed, or one line of refusal."""
    try:
        busy = read_busy("fuzz.ics", data, *window, max_steps=STEPS)
    except SitroomError as e:
        assert isinstance(e, SourceError | UserInputError), type(e).__name__
        assert_one_line(e)
        assert str(e).isprintable(), repr(str(e))  # the file's own bytes are not echoed raw
    else:
        assert busy == sorted(set(busy))
        for start, end, summary in busy:
            assert isinstance(start, int) and isinstance(end, int) and start < end
            assert isinstance(summary, str)


@fuzz()
@given(data=calendars(), window=windows())
def test_a_hostile_calendar_is_read_or_refused_in_one_line(
    data: bytes, window: tuple[int, int]
) -> None:
    check(data, window)


@fuzz()
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), window=windows())
def test_random_bytes_are_refused_in_one_line(data: bytes, window: tuple[int, int]) -> None:
    check(data, window)


@fuzz()
@given(cut=st.integers(0, 3000), junk=st.binary(max_size=8), window=windows())
def test_the_example_calendar_cut_anywhere_is_read_or_refused(
    cut: int, junk: bytes, window: tuple[int, int]
) -> None:
    data = ENVOY.read_bytes()
    check(data[:cut] + junk + data[cut:], window)


# End to end: the command that imports a calendar -----------------------------------------
@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> str:
    from sitroom.cli import run

    ws = str(tmp_path_factory.mktemp("calendars") / "ws")
    assert run(["init", "-w", ws]) == 0
    assert run(["tracks", "add", "-w", ws, str(TRACKS)]) == 0
    return ws


@pytest.mark.slow
@fuzz(examples=20)
@given(data=calendars(GENTLE))
def test_tracks_calendar_imports_or_refuses_cleanly(
    workspace: str,
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    data: bytes,
) -> None:
    f = tmp_path_factory.mktemp("ics") / "hostile.ics"
    f.write_bytes(data)
    r = sitroom(capfd, "tracks", "calendar", "envoy", str(f), "--since", "2026-12-01",
                "--until", "2026-12-08", "-w", workspace)  # fmt: skip
    if r.code != 0:
        assert_refused_cleanly(r.code, r.out, r.err)
