"""Hybrid logical clock, packed into one int64.

A timestamp is ``(wall_ms << 20) | counter``: the high bits are milliseconds of physical time,
the low 20 bits a counter for events within the same millisecond. Packing keeps timestamps
sortable as plain integers in SQLite, PostgreSQL and numpy. When more than 2**20 events share a
millisecond the counter carries into the wall part, i.e. the clock runs a little ahead of
physical time, which is exactly what an HLC permits (Kulkarni et al., 2014).

The clock never reads time itself: physical time is passed in, so replay and tests are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER_BITS = 20
COUNTER_MASK = (1 << COUNTER_BITS) - 1


def pack(wall_ms: int, counter: int = 0) -> int:
    return (wall_ms << COUNTER_BITS) | counter


def wall_ms(ts: int) -> int:
    return ts >> COUNTER_BITS


def counter(ts: int) -> int:
    return ts & COUNTER_MASK


def upper_bound(wall: int) -> int:
    """The largest timestamp at wall time ``wall``: everything recorded at or before it."""
    return pack(wall, COUNTER_MASK)


@dataclass(frozen=True, slots=True)
class Hlc:
    """The clock's state: the last timestamp it issued or observed."""

    last: int = 0

    def tick(self, physical_ms: int, n: int = 1) -> tuple[Hlc, int]:
        """Issue ``n`` consecutive timestamps for local events: (new clock, first timestamp)."""
        first = max(self.last + 1, pack(physical_ms))
        return Hlc(first + n - 1), first

    def observe(self, remote: int, physical_ms: int) -> tuple[Hlc, int]:
        """Receive a remote timestamp: the issued one is after both it and everything local."""
        first = max(self.last + 1, remote + 1, pack(physical_ms))
        return Hlc(first), first
