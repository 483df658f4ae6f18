"""Transport liveness: the phi-accrual failure detector, and the intermediary as a second view.

A fixed timeout answers "alive or dead?" with one number chosen for every peer. The phi-accrual
detector (Hayashibara, Défago, Yared and Katayama, 2004; used by Akka and Cassandra) answers
"how surprised should we be by this silence?" from the peer's own heartbeat history. It keeps
a window of recent inter-arrival times, models them as a normal distribution, and reports

    phi(now) = -log10(P(a heartbeat arrives later than now - last))

so phi = 1 means a 10% chance that a live peer would be this late, phi = 8 one in a hundred
million. The peer is suspected once phi reaches the threshold (8 by default). A regular peer
is suspected soon after it stops; a jittery one is given the slack its history shows.

As in Akka, the standard deviation has a floor (``min_std_ms``), so a very regular peer is not
suspected at the first millisecond of delay, and an ``acceptable_pause_ms`` can be added to the
mean for known pauses. The tail probability uses ``math.erfc``, with its asymptotic expansion
where erfc underflows, so phi stays finite and keeps rising however long the silence.

When the direct path is silent, the intermediary of an indirect channel is asked whether it
still hears the peer: if it does, the path is suspect (SUSPECT_PATH), if not, the peer
(SUSPECT_PEER).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import StrEnum

from sitroom.errors import UserInputError

_LOG10_E = math.log10(math.e)
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class PhiConfig:
    threshold: float = 8.0
    window: int = 100
    min_std_ms: int = 100
    acceptable_pause_ms: int = 0
    # What the window starts with before any interval is seen (Akka's first-heartbeat estimate).
    first_interval_ms: int = 1000

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.window < 2 or self.min_std_ms <= 0:
            raise UserInputError("phi needs threshold > 0, window >= 2 and min_std_ms > 0")
        if self.first_interval_ms <= 0 or self.acceptable_pause_ms < 0:
            raise UserInputError("phi needs first_interval_ms > 0 and acceptable_pause_ms >= 0")


@dataclass(frozen=True)
class PhiDetector:
    """One peer's heartbeat history. A frozen value: ``heartbeat`` returns the next one.

    Sums of the intervals and of their squares are kept as integers, so the mean and standard
    deviation are exact and cost nothing per query.
    """

    config: PhiConfig = PhiConfig()
    last_ms: int | None = None
    intervals: tuple[int, ...] = ()
    total: int = 0
    total_sq: int = 0

    def heartbeat(self, now_ms: int) -> PhiDetector:
        if self.last_ms is None:
            est = self.config.first_interval_ms
            seed = (est - est // 4, est + est // 4)
            return PhiDetector(self.config, now_ms, seed, sum(seed), sum(x * x for x in seed))
        if now_ms <= self.last_ms:
            return self  # a duplicate or a heartbeat overtaken by a newer one says nothing new
        gap = now_ms - self.last_ms
        intervals, total, total_sq = self.intervals, self.total, self.total_sq
        if len(intervals) >= self.config.window:
            old = intervals[0]
            intervals, total, total_sq = intervals[1:], total - old, total_sq - old * old
        return PhiDetector(
            self.config, now_ms, (*intervals, gap), total + gap, total_sq + gap * gap
        )

    @property
    def mean_ms(self) -> float:
        return self.total / len(self.intervals) if self.intervals else 0.0

    @property
    def std_ms(self) -> float:
        n = len(self.intervals)
        if n == 0:
            return float(self.config.min_std_ms)
        var = max(0.0, (self.total_sq * n - self.total * self.total) / (n * n))
        return max(math.sqrt(var), float(self.config.min_std_ms))

    def phi(self, now_ms: int) -> float:
        """How surprising the silence since the last heartbeat is; 0 before the first one."""
        if self.last_ms is None:
            return 0.0
        mean = self.mean_ms + self.config.acceptable_pause_ms
        return phi_of(now_ms - self.last_ms, mean, self.std_ms)

    def available(self, now_ms: int) -> bool:
        return self.phi(now_ms) < self.config.threshold

    def suspect_at_ms(self) -> int | None:
        """When phi will reach the threshold if no heartbeat comes: the time to check next."""
        if self.last_ms is None:
            return None
        y = _y_at(self.config.threshold)
        mean = self.mean_ms + self.config.acceptable_pause_ms
        return self.last_ms + max(0, math.ceil(mean + y * self.std_ms))


def phi_of(elapsed_ms: float, mean_ms: float, std_ms: float) -> float:
    """phi for a silence of ``elapsed_ms`` when intervals are normal(mean, std)."""
    return -_log10_tail((elapsed_ms - mean_ms) / std_ms)


def _log10_tail(y: float) -> float:
    """log10 of P(Z > y) for a standard normal Z, accurate far into the tail."""
    x = y / _SQRT2
    if x < 25.0:
        return math.log10(0.5 * math.erfc(x))
    # erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4)); exact to ~1e-7 here, and
    # it never underflows to log10(0).
    series = 1.0 - 1.0 / (2 * x * x) + 3.0 / (4 * x**4)
    return math.log10(0.5 / (x * math.sqrt(math.pi)) * series) - x * x * _LOG10_E


@functools.lru_cache(maxsize=32)
def _y_at(threshold: float) -> float:
    """The standard score at which phi equals ``threshold`` (phi rises with y)."""
    lo, hi = -40.0, 60.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if -_log10_tail(mid) < threshold:
            lo = mid
        else:
            hi = mid
    return hi


class Silence(StrEnum):
    ALIVE = "alive"
    SUSPECT_PATH = "suspect_path"
    SUSPECT_PEER = "suspect_peer"


@dataclass(frozen=True)
class SilenceVerdict:
    silence: Silence
    phi: float
    explanation: str


def classify_silence(
    direct_phi: float,
    intermediary_hears_peer: bool | None,
    *,
    threshold: float = 8.0,
    peer: str = "the peer",
    intermediary: str = "the intermediary",
    path: str = "the direct path",
) -> SilenceVerdict:
    """Tell a broken path from a silent peer, using the intermediary as an indirect probe.

    ``intermediary_hears_peer`` is the intermediary's answer: True when it heard the peer
    recently, False when it has not, None when there is no intermediary or it did not answer
    (then the peer itself is suspected, as with no second view there is nothing to exonerate it).
    """
    shown = f"phi {direct_phi:.1f}"
    if direct_phi < threshold:
        return SilenceVerdict(
            Silence.ALIVE,
            direct_phi,
            f"heartbeats from {peer} arrive as expected ({shown}, below {threshold:g})",
        )
    silent = f"{path} to {peer} is silent ({shown}, at or above {threshold:g})"
    if intermediary_hears_peer:
        return SilenceVerdict(
            Silence.SUSPECT_PATH,
            direct_phi,
            f"{silent}, but {intermediary} heard {peer} recently: the path is suspect, not {peer}",
        )
    if intermediary_hears_peer is None:
        why = f"and no intermediary could vouch for {peer}"
    else:
        why = f"and {intermediary} has not heard {peer} either"
    return SilenceVerdict(
        Silence.SUSPECT_PEER, direct_phi, f"{silent}, {why}: {peer} itself is suspect"
    )


def heard_recently(last_heard_ms: int | None, now_ms: int, within_ms: int) -> bool:
    """Turn an intermediary's "last heard the peer at" (None: never) into the flag that
    ``classify_silence`` takes."""
    return last_heard_ms is not None and now_ms - last_heard_ms <= within_ms
