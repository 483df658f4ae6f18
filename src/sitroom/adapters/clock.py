"""Clocks at the edge. The domain never reads time; these are what the CLI and API pass in."""

from __future__ import annotations

import time

# The manual clock reads no time, so it lives with the Clock port; it is offered here too, beside
# the system clock, for the edges that pick one.
from sitroom.application.ports import ManualClock

__all__ = ["ManualClock", "SystemClock"]


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
