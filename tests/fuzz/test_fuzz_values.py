"""The values every command reads — times, durations, places, radii, probabilities, time zones,
working hours and days, addresses — fuzzed at their parsers: each returns a value it vouches
for or raises UserInputError with one line, nothing else. Then the worst of them end to end,
through the CLI in-process, on every command option that reads one, numbers with thirty digits
included.

Examples are garbage and mutations of values people type, spiked with what breaks parsers:
thirty-digit numbers, 1e400, NaN, years 1 and 9999, offsets of ±23:59, a time zone on Mars,
digits that are not ASCII, NUL bytes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitroom.application.channels import parse_listen
from sitroom.cli import run
from sitroom.domain.geo import HALF_EARTH_M, parse_point, parse_radius
from sitroom.domain.places import place
from sitroom.domain.risk.questions import parse_probability
from sitroom.domain.timeutil import FIRST_MS, LAST_MS, MAX_DURATION_MS, parse_duration, parse_time
from sitroom.domain.week import WorkingWeek, parse_closed, parse_days, parse_hours, zone
from sitroom.errors import SitroomError, UserInputError

from fuzzing import assert_one_line, assert_refused_cleanly, fuzz
from helpers import sitroom

NOW = 1_795_000_000_000  # 2026-11-18
THIRTY = "123456789012345678901234567890"
# Pieces that break parsers, spliced into values people type.
SPIKES = [
    THIRTY,
    "1e400",
    "-1e400",
    "nan",
    "NaN",
    "inf",
    "-0",
    "0",
    "9999",
    "0001",
    "99999999999",
    "+23:59",
    "-23:59",
    "+99:00",
    "Z",
    "T",
    ":",
    "-",
    "+",
    "..",
    ",",
    ".",
    "%",
    " ",
    "\x00",
    "\n",
    "\u00b2",  # '²': str.isdigit() says yes, int() says no
    "\u0663",  # Arabic-Indic 3
    "\uff11",  # fullwidth 1
    "Mars/Olympus",
    "Europe",
    "../",
    " ago",
    "in ",
    "ms",
    "w",
    "mi",
    "km",
    "nm",
    "e",
    "_",
]
SAMPLES = {
    "time": ["2026-11-25", "2026-11-25T14:30:00Z", "2026-11-25T14:30:00+02:00", "now", "-2h",
             "90m ago", "+4h", "in 3d", "2026-11-25T14:30:00.123456-05:30"],
    "duration": ["15m", "7d", "2h30m", "1.5h", "1d 2h", "500ms", "3w"],
    "point": ["33.89,35.50", "-90,180", "0,0", "46.2044, 6.1432"],
    "place": ["Beirut", "new york", " Geneva ", "33.89,35.50"],
    "radius": ["500mi", "800km", "250nm", "2 miles", "500", "0.5m"],
    "probability": ["0.35", "35%", "1", "0", "100%", " 12.5 % "],
    "zone": ["Europe/Zurich", "UTC", "Asia/Tehran", "America/New_York", "Etc/GMT+5"],
    "hours": ["09:00-18:00", "8:30-17:00", "00:00-24:00"],
    "days": ["Mon-Fri", "Sun-Thu", "Sat,Sun", "mon,TUE,wed"],
    "closed": ["2027-03-21", "2027-03-20..2027-03-24", "2026-12-31..2027-01-02"],
    "listen": ["127.0.0.1:8650", "localhost:0", "[::1]:80", "0.0.0.0:65535"],
}  # fmt: skip


# The hostile forms of each: what people paste by mistake, and what the parsers got wrong.
EDGES = {
    "time": ["9999-12-31", "0001-01-01", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
             "+99999999999w", THIRTY, f"-{THIRTY}ms", "2026-11-25T14:30:00+99:00", "2026-02-30",
             "1799-12-31T23:59:59Z", "2200-01-01"],
    "duration": [f"{THIRTY}d", "999999999999w", "1e400d", "nan h", "0d", "36600d", "-5m"],
    "point": ["1e400,0", "nan,nan", "inf,0", f"{THIRTY},1", "\u0663,\u0663", "90.0000001,0"],
    "place": ["Mars", "BEIRUT", "1e400,0", ""],
    "radius": [f"{THIRTY}mi", "9" * 400, "1e400km", "0.0000001m", "20016km", "nanmi"],
    "probability": ["1e400%", "nan%", "-0", f"{THIRTY}%", "9" * 400, "100.0000001%", "1.5"],
    "zone": ["Mars/Olympus", "Europe", "Europe/", "a" * 300, "../../etc/passwd", "posixrules",
             "\x00", "/etc/localtime"],
    "hours": ["99:99-99:99", "24:00-24:00", f"{THIRTY}:00-01:00", "18:00-09:00"],
    "days": ["-", "Mon-Fri-Sun", "", ",", "Funday"],
    "closed": ["9999-12-31", "9999-12-30..9999-12-31", "0001-01-01..0001-01-02",
               "2027-01-01..2029-01-01", "2027-01-02..2027-01-01"],
    "listen": ["host:\u00b2", f"host:{THIRTY}", ":80", "host:-1", "host:\u0663", "host:65536"],
}  # fmt: skip
_TOKEN = re.compile(r"\d+|[^\W\d_]+|\s+|.", re.DOTALL)


@st.composite
def mutated(draw: st.DrawFn, samples: list[str]) -> str:
    """A value someone typed, with a few of its pieces (a number, a word, a sign) replaced by
    spikes or stray characters, or spikes put between them."""
    tokens = _TOKEN.findall(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(tokens)))
        piece = draw(st.sampled_from(SPIKES) | st.text(max_size=3))
        if i < len(tokens) and draw(st.booleans()):
            tokens[i] = piece
        else:
            tokens.insert(i, piece)
    return "".join(tokens)


def values(kind: str) -> st.SearchStrategy[str]:
    samples, edges = SAMPLES[kind], EDGES[kind]
    return st.one_of(
        st.text(max_size=30),
        st.sampled_from(SPIKES),
        mutated(samples + edges),
        mutated(samples),
        st.sampled_from(edges),
    )


# What each parser vouches for when it returns.
def _time(v: int) -> None:
    assert FIRST_MS <= v <= LAST_MS


def _duration(v: int) -> None:
    assert 0 <= v <= MAX_DURATION_MS


def _point(v: Any) -> None:
    assert -90 <= v.lat <= 90 and -180 <= v.lon <= 180


def _radius(v: Any) -> None:
    assert 0 < v.meters <= HALF_EARTH_M and "\n" not in v.text


def _probability(v: float) -> None:
    assert 0 <= v <= 1


def _hours(v: tuple[int, int]) -> None:
    assert 0 <= v[0] < v[1] <= 24 * 60


def _days(v: frozenset[int]) -> None:
    assert v and v <= frozenset(range(7))


def _listen(v: tuple[str, int]) -> None:
    assert v[0] and 0 <= v[1] <= 65535


def _anything(v: Any) -> None:
    pass


PARSERS: list[tuple[str, Callable[[str], Any], Callable[[Any], None]]] = [
    ("time", lambda s: parse_time(s, now_ms=NOW), _time),
    ("duration", parse_duration, _duration),
    ("point", parse_point, _point),
    ("place", place, _point),
    ("radius", parse_radius, _radius),
    ("probability", parse_probability, _probability),
    ("zone", zone, _anything),
    ("hours", parse_hours, _hours),
    ("days", parse_days, _days),
    ("closed", lambda s: parse_closed([s]), _anything),
    ("listen", parse_listen, _listen),
]


@pytest.mark.parametrize(("kind", "parse", "vouch"), PARSERS, ids=[p[0] for p in PARSERS])
@fuzz()
@given(data=st.data())
def test_a_value_is_read_or_refused_in_one_line(
    kind: str, parse: Callable[[str], Any], vouch: Callable[[Any], None], data: st.DataObject
) -> None:
    text = data.draw(values(kind), label=kind)
    try:
        value = parse(text)
    except SitroomError as e:
        assert isinstance(e, UserInputError), type(e).__name__
        assert_one_line(e)
    else:
        vouch(value)


@fuzz()
@given(
    zone_=values("zone"),
    hours=values("hours"),
    days=values("days"),
    closed=st.lists(values("closed"), max_size=2),
    shorter=st.lists(st.tuples(values("closed"), values("hours")).map(" ".join), max_size=2),
)
def test_a_working_week_is_built_or_refused_in_one_line(
    zone_: str, hours: str, days: str, closed: list[str], shorter: list[str]
) -> None:
    """The week a channel's counterpart keeps, from the five values `channels add` reads."""
    try:
        week = WorkingWeek.parse(zone_, hours, days, closed=closed, shorter=shorter)
    except SitroomError as e:
        assert isinstance(e, UserInputError), type(e).__name__
        assert_one_line(e)
    else:
        # Its windows can be counted: the zone loads and every day off is a real date.
        assert week.working_ms_between(NOW, NOW + 7 * 86_400_000) >= 0


# End to end -------------------------------------------------------------------------------
# Each is refused by every option below: none is a value any of them accepts.
WORST = [THIRTY, "1e400", "nan", "9999-12-31T23:59:59-23:59", "Mars/Olympus", "\x00"]
ICS = Path(__file__).resolve().parents[2] / "examples" / "envoy.ics"
TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
OPTIONS: list[tuple[str, ...]] = [
    ("events", "--since"),
    ("events", "--until"),
    ("events", "--as-of"),
    ("events", "--radius", "500mi", "--near"),
    ("events", "--near", "Beirut", "--radius"),
    ("events", "--limit"),
    ("state", "--as-of"),
    ("diff", "--since"),
    ("intensity", "--near"),
    ("intensity", "--near", "Beirut", "--window"),
    ("intensity", "--near", "Beirut", "--until"),
    ("intensity", "--near", "Beirut", "--previous"),
    ("judge", "q1"),
    ("questions", "add", "Will they meet?", "--until"),
    ("questions", "add", "Will they meet?", "--until", "+7d", "--prior"),
    ("questions", "add", "Will they meet?", "--until", "+7d", "--disagreement"),
    ("questions", "add", "Will they meet?", "--until", "+7d", "--reference", "r", "--of"),
    ("questions", "add", "Will it flare?", "--near", "Beirut", "--threshold"),
    ("questions", "add", "Will it flare?", "--threshold", "3", "--near"),
    ("questions", "add", "Will it flare?", "--threshold", "3", "--near", "Beirut", "--radius"),
    ("tracks", "calendar", "envoy", str(ICS), "--since"),
    ("tracks", "calendar", "envoy", str(ICS), "--until"),
    ("tracks", "schedule", "--days"),
    ("tracks", "schedule", "--time-limit"),
    ("tracks", "schedule", "--gap"),
    ("tracks", "schedule", "--since"),
    ("channels", "add", "c1", "--to", "them", "--timezone"),
    ("channels", "add", "c1", "--to", "them", "--hours"),
    ("channels", "add", "c1", "--to", "them", "--days"),
    ("channels", "add", "c1", "--to", "them", "--closed"),
    ("channels", "add", "c1", "--to", "them", "--shorter"),
    ("channels", "add", "c1", "--to", "them", "--ack-timeout"),
    ("channels", "add", "c1", "--to", "them", "--heartbeat"),
    ("channels", "send", "c1", "hello", "--reply-by"),
    ("channels", "send", "c1", "hello", "--expires"),
    ("channels", "send", "c1", "hello", "--wait"),
    ("channels", "ack", "m1", "--at"),
    ("channels", "status", "--as-of"),
    ("tracks", "check", "--at"),
    ("tracks", "whatif", "delay", "ceasefire"),
    ("channels", "add", "c1", "--to", "them", "--capacity"),
    ("channels", "add", "c1", "--to", "them", "--weight"),
    ("replay", "no-such-export.jsonl", "--speed"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ws = str(tmp_path_factory.mktemp("values") / "ws")
    assert run(["init", "-w", ws]) == 0
    assert run(["tracks", "add", "-w", ws, str(TRACKS)]) == 0
    yield ws


@pytest.mark.slow
@fuzz(examples=30)
@given(option=st.sampled_from(OPTIONS), value=st.sampled_from(WORST))
def test_the_worst_values_are_refused_cleanly_by_every_command(
    workspace: str, capfd: pytest.CaptureFixture[str], option: tuple[str, ...], value: str
) -> None:
    r = sitroom(capfd, *option, value, "-w", workspace)
    assert_refused_cleanly(r.code, r.out, r.err)
