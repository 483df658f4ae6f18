"""Clocks at the edge. The domain never reads time; these are what the CLI and API pass in."""

from __future__ import annotations

import time


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told: for tests, simulations and replays."""

    def __init__(self, now_ms: int) -> None:
        self.t = now_ms

    def now_ms(self) -> int:
        return self.t

    def set(self, now_ms: int) -> None:
        self.t = now_ms

    def advance(self, ms: int) -> None:
        self.t += ms
