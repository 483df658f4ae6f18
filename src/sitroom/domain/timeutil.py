"""Times as integers: milliseconds since the Unix epoch, UTC.

Integers keep comparisons exact and columns vectorisable; conversion to datetimes happens only
for display and parsing. Parsing never reads the clock: relative forms take ``now`` explicitly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sitroom.domain.wording import shown
from sitroom.errors import UserInputError

MS_PER_S = 1000
MS_PER_MIN = 60 * MS_PER_S
MS_PER_H = 60 * MS_PER_MIN
MS_PER_DAY = 24 * MS_PER_H

# The dates a source's row may carry, every source alike. Outside them a date is a typo or a
# damaged field (an RSS pubDate of 99999999 reads as the year 9999), not an event, and the row
# is quarantined. Fixed rather than "now plus a margin": the same bytes must give the same
# records whenever they are read, or a re-ingest would add what an earlier one refused.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)
SANE_DATES = f"{EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"

_PART = re.compile(r"(\d{1,12}(?:\.\d{1,9})?)\s*(ms|min|s|m|h|d|w)", re.IGNORECASE)
MAX_DURATION_MS = 100 * 366 * 24 * 3_600_000  # a century: past that, a duration is a mistake
_UNIT_MS = {
    "ms": 1,
    "s": MS_PER_S,
    "m": MS_PER_MIN,
    "min": MS_PER_MIN,
    "h": MS_PER_H,
    "d": MS_PER_DAY,
    "w": 7 * MS_PER_DAY,
}
# The times sitroom reads: the log's clock packs milliseconds into 43 bits (1691 to 2248), and
# a time before the first or after the last of these is a typing mistake, not a plan.
FIRST_YEAR, LAST_YEAR = 1800, 2199


def to_ms(dt: datetime) -> int:
    """A datetime as epoch milliseconds; a naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def from_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


FIRST_MS = to_ms(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC))
LAST_MS = to_ms(datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)) - 1


def iso(ms: int | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the millisecond when it has one."""
    if ms is None:
        return None
    dt = from_ms(ms)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


def parse_duration(text: str) -> int:
    """'15m', '2h', '7d', '1.5h', and compounds such as '2h30m' or '1d 2h', as milliseconds.
    The one duration parser: command options, track files and channel traces all read
    durations through it."""
    s = text.strip()
    parts = _PART.findall(s)
    if not s or not parts or _PART.sub("", s).strip():
        raise UserInputError(
            f"cannot read duration {text!r}: expected a number and a unit (ms, s, m, h, d, w), "
            "such as 15m, 7d or 2h30m"
        )
    ms = round(sum(float(n) * _UNIT_MS[unit.lower()] for n, unit in parts))
    if ms > MAX_DURATION_MS:
        raise UserInputError(f"duration {text!r} is longer than a century")
    return ms


def parse_time(text: str, *, now_ms: int) -> int:
    """A time the user typed: ISO 8601 (date or date-time; UTC unless an offset is given),
    'now', a duration back from now ('-2h', '2h ago') or ahead of it ('+4h', 'in 4h')."""
    s = text.strip()
    low = s.lower()
    if low == "now":
        return now_ms
    if s.startswith("-") or low.endswith(" ago"):
        return _in_range(text, now_ms - parse_duration(s[1:] if s.startswith("-") else s[:-4]))
    if s.startswith("+") or low.startswith("in "):
        return _in_range(text, now_ms + parse_duration(s[1:] if s.startswith("+") else s[3:]))
    try:
        dt = datetime.fromisoformat(s.replace("z", "Z"))
    except (ValueError, OverflowError):
        raise UserInputError(
            f"cannot read time {text!r}: expected ISO 8601 such as 2026-11-25 or "
            "2026-11-25T14:30:00Z, 'now', or a duration back or ahead such as -2h or +4h"
        ) from None
    return _in_range(text, to_ms(dt))


def _in_range(text: str, ms: int) -> int:
    if not FIRST_MS <= ms <= LAST_MS:
        raise UserInputError(
            f"time {shown(text)} is out of range: sitroom reads times from {FIRST_YEAR} "
            f"to {LAST_YEAR}"
        )
    return ms


def human_age(ms: int) -> str:
    """A duration for people: '42s', '15m', '3h 20m', '7.1y'."""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < MS_PER_MIN:
        return f"{sign}{ms / MS_PER_S:.0f}s"
    if ms < MS_PER_H:
        return f"{sign}{ms // MS_PER_MIN}m"
    if ms < MS_PER_DAY:
        return f"{sign}{ms // MS_PER_H}h {ms % MS_PER_H // MS_PER_MIN}m"
    if ms < 365 * MS_PER_DAY:
        return f"{sign}{ms / MS_PER_DAY:.1f}d"
    return f"{sign}{ms / (365.25 * MS_PER_DAY):.1f}y"


def sane_date_ms(ms: int) -> bool:
    """Whether a time (epoch ms) falls on a day from EARLIEST_DATE to LATEST_DATE."""
    return _SANE_FROM_MS <= ms < _SANE_UNTIL_MS


_SANE_FROM_MS = to_ms(datetime.combine(EARLIEST_DATE, datetime.min.time()))
_SANE_UNTIL_MS = to_ms(datetime.combine(LATEST_DATE, datetime.min.time())) + MS_PER_DAY
