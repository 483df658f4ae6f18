"""Values the fuzzers (tests/fuzz/test_fuzz_values.py) broke, each pinned on its own: a time
the log's clock cannot hold, a radius wider than the Earth, a time zone that is a folder or too
long a name, a day off on 9999-12-31, a port in superscript, a solve or a forecast given NaN or
infinity, a thirty-digit horizon or threshold. Each is one readable refusal, not an
OverflowError, OSError or ValueError from below."""

from __future__ import annotations

import math

import pytest

from sitroom.application.channels import parse_listen
from sitroom.domain.geo import parse_radius
from sitroom.domain.risk.questions import Place, Question, Reference
from sitroom.domain.schedule import Options, build_problem
from sitroom.domain.timeutil import parse_time
from sitroom.domain.week import parse_closed, parse_shorter, zone
from sitroom.errors import UserInputError

NOW = 1_795_000_000_000  # 2026-11-18
THIRTY = 123456789012345678901234567890


@pytest.mark.parametrize(
    "text",
    ["9999-12-31", "9999-12-31T23:59:59-23:59", "0001-01-01", "0001-01-01T00:00:00+23:59",
     "1799-12-31T23:59:59Z", "2200-01-01"],
)  # fmt: skip
def test_a_time_the_log_cannot_hold_is_out_of_range(text: str) -> None:
    """As --as-of it reached SQLite as a 64-bit overflow; as --until, datetime's."""
    with pytest.raises(UserInputError, match="out of range: sitroom reads times from 1800"):
        parse_time(text, now_ms=NOW)
    assert parse_time("1800-01-01", now_ms=NOW) < parse_time("2199-12-31", now_ms=NOW)


def test_a_relative_time_past_the_range_is_out_of_range_too() -> None:
    near_the_end = parse_time("2199-06-01", now_ms=NOW)
    with pytest.raises(UserInputError, match="out of range"):
        parse_time("+365d", now_ms=near_the_end)


@pytest.mark.parametrize("text", [f"{THIRTY}mi", "9" * 400, "20016km"])
def test_a_radius_wider_than_the_earth_is_refused(text: str) -> None:
    """Thirty digits gave 2e32 metres; four hundred gave infinity, which no JSON holds."""
    with pytest.raises(UserInputError, match="half the Earth's circumference"):
        parse_radius(text)
    assert parse_radius("20000km").meters == 20_000_000


@pytest.mark.parametrize("name", ["Europe", "a" * 300, "America/" + "x" * 300])
def test_a_time_zone_that_is_a_folder_or_too_long_a_name_is_unknown(name: str) -> None:
    """ZoneInfo reads the name as a path: IsADirectoryError, then 'File name too long'."""
    with pytest.raises(UserInputError, match="unknown time zone") as e:
        zone(name)
    assert len(str(e.value)) < 120


def test_days_off_at_the_end_of_the_calendar_are_read() -> None:
    """Checking a range against its first day plus 366 days overflowed past 9999-12-31."""
    assert len(parse_closed(["9999-12-30..9999-12-31"])) == 2
    assert len(parse_shorter(["9999-12-31 09:00-10:00"])) == 1
    with pytest.raises(UserInputError, match="for a year at most"):
        parse_closed(["2027-01-01..2029-01-01"])


@pytest.mark.parametrize("listen", ["host:\u00b2", "host:\u00b9\u00b2"])
def test_a_port_in_digits_int_cannot_read_is_refused(listen: str) -> None:
    """'²'.isdigit() is True and int('²') a ValueError."""
    with pytest.raises(UserInputError, match="HOST:PORT"):
        parse_listen(listen)


@pytest.mark.parametrize(
    ("time_limit", "gap"),
    [(math.nan, 0.01), (math.inf, 0.01), (1e30, 0.01), (30.0, math.nan), (30.0, math.inf)],
)
def test_a_solve_refuses_a_time_limit_or_gap_that_is_not_a_number(
    time_limit: float, gap: float
) -> None:
    """NaN slipped past `time_limit <= 0`, and the solver turned it into an int."""
    with pytest.raises(UserInputError, match="time limit"):
        Options(time_limit=time_limit, gap=gap)


def test_a_horizon_of_thirty_digits_of_days_is_refused_before_its_array() -> None:
    state = {
        "meetings": {"m": {"window": [NOW, NOW + 86_400_000]}},
        "tracks": {},
        "resources": {},
    }
    with pytest.raises(UserInputError, match="the horizon is 1 to 366 days"):
        build_problem(state, start_ms=NOW, days=THIRTY)


def _question(**kw: object) -> Question:
    base: dict[str, object] = {"id": "q", "text": "Will it?", "deadline_ms": NOW}
    return Question(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("prior", [(math.inf, 1.0), (1.0, 1e300)])
def test_a_prior_the_log_cannot_hold_is_refused(prior: tuple[float, float]) -> None:
    """An infinite prior went to the log as null, and every forecast after it failed on it."""
    with pytest.raises(UserInputError, match="Beta prior"):
        _question(prior=prior)


def test_thirty_digit_counts_are_refused_before_the_log_s_64_bit_json() -> None:
    beirut = (Place("Beirut", 33.89, 35.5),)
    with pytest.raises(UserInputError, match="threshold of 1 to 1,000,000,000"):
        _question(shape="count", rule="events", places=beirut, window_from_ms=0, threshold=THIRTY)
    with pytest.raises(UserInputError, match="at most 1,000,000,000 cases"):
        _question(reference=Reference("rounds", 1, THIRTY))
