"""A circuit breaker that can judge a channel carrying a few messages a day.

Breakers such as resilience4j count the failures in a window of about a hundred calls; a
backchannel that carries two messages a day would need fifty days to fill it. This one judges
from every outcome a message can have — an error, a timeout, a missing acknowledgement, an
overdue reply, or success — each with a weight, and opens on either of two rules that need
only a handful of observations:

- **a run of bad outcomes**: bad outcomes in a row whose weights add up to ``run_limit`` (3 by
  default: three timeouts or missing acks in a row, or six overdue replies, which say less about
  the channel itself). This catches a channel that has just died, however long it was healthy.
- **a high failure estimate**: the probability that a message fails, estimated as the mean of a
  Beta posterior (a prior of half a failure and two successes, so a new channel is presumed
  mostly healthy) over outcomes that lose half their weight every ``half_life_ms`` (7 days).
  Once at least ``min_evidence`` outcomes' worth of weight is in hand, an estimate above
  ``rate_limit`` (50%) opens the breaker. This catches a channel that fails often but not always
  in a row.

States go CLOSED → OPEN → HALF_OPEN → CLOSED. After a cool-down (30 minutes, doubling after
each failed probe up to 8 hours) the next request is let through as the one probe, and nothing
else is until its outcome is known: success closes the breaker, failure opens it again. A
heartbeat answered by the peer ends the first cool-down at once (`heard`): a desk back after a
20-second restart should not hold a FLASH for half an hour. If that probe fails, the backoff
runs as usual, so a peer that answers pings but not messages is not probed at every ping.

The breaker is a frozen value: each call returns a ``Step`` with the new breaker and, when the
state changed, a ``Transition`` (old, new, reason, at) for the caller to record. Folding the
recorded outcomes again rebuilds it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_H, MS_PER_MIN, human_age
from sitroom.errors import UserInputError


class Outcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    MISSING_ACK = "missing_ack"
    OVERDUE_REPLY = "overdue_reply"

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")

    def counted(self, n: int) -> str:
        """'1 timeout', '2 timeouts', '3 overdue replies'."""
        if n == 1:
            return f"1 {self.words}"
        plural = {Outcome.SUCCESS: "successes", Outcome.OVERDUE_REPLY: "overdue replies"}
        return f"{n} {plural.get(self, self.words + 's')}"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    run_limit: float = 3.0
    rate_limit: float = 0.5
    min_evidence: float = 4.0
    prior_failures: float = 0.5
    prior_successes: float = 2.0
    half_life_ms: int = 7 * MS_PER_DAY
    cooldown_ms: int = 30 * MS_PER_MIN
    max_cooldown_ms: int = 8 * MS_PER_H
    backoff: float = 2.0
    error_weight: float = 1.0
    timeout_weight: float = 1.0
    missing_ack_weight: float = 1.0
    # A slow reply is as much the person as the channel: it counts, but for less.
    overdue_reply_weight: float = 0.5
    success_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.run_limit <= 0 or not 0.0 < self.rate_limit < 1.0:
            raise UserInputError("a breaker needs run_limit > 0 and 0 < rate_limit < 1")
        if self.half_life_ms <= 0 or self.cooldown_ms <= 0 or self.backoff < 1.0:
            raise UserInputError("a breaker needs positive half-life and cool-down, backoff >= 1")

    def weight(self, outcome: Outcome) -> float:
        return {
            Outcome.SUCCESS: self.success_weight,
            Outcome.ERROR: self.error_weight,
            Outcome.TIMEOUT: self.timeout_weight,
            Outcome.MISSING_ACK: self.missing_ack_weight,
            Outcome.OVERDUE_REPLY: self.overdue_reply_weight,
        }[outcome]


@dataclass(frozen=True)
class Transition:
    channel: str
    old: BreakerState
    new: BreakerState
    reason: str
    at_ms: int


@dataclass(frozen=True)
class Step:
    """The breaker after a call, whether a message may go now, and any state change."""

    breaker: CircuitBreaker
    allowed: bool
    probe: bool = False
    transition: Transition | None = None


@dataclass(frozen=True)
class CircuitBreaker:
    channel: str
    policy: BreakerPolicy = BreakerPolicy()
    state: BreakerState = BreakerState.CLOSED
    run: float = 0.0
    run_outcomes: tuple[Outcome, ...] = ()
    failures: float = 0.0
    successes: float = 0.0
    as_of_ms: int | None = None
    opened_at_ms: int | None = None
    cooldown_ms: int = 0
    probe_id: str | None = None
    heard_ms: int | None = None  # the peer answered a heartbeat while open: probe from then

    # -- reading -----------------------------------------------------------------------------

    def failure_estimate(self, now_ms: int | None = None) -> float:
        """The estimated probability that a message on this channel fails, as of ``now_ms``."""
        f, s = self._decayed(self.as_of_ms if now_ms is None else now_ms)
        pf, ps = self.policy.prior_failures, self.policy.prior_successes
        return (pf + f) / (pf + ps + f + s)

    def retry_at_ms(self) -> int | None:
        """When an open breaker will let its probe through."""
        if self.state is not BreakerState.OPEN or self.opened_at_ms is None:
            return None
        due = self.opened_at_ms + self.cooldown_ms
        return due if self.heard_ms is None else min(due, self.heard_ms)

    # -- calls -------------------------------------------------------------------------------

    def allow(self, now_ms: int, msg_id: str | None = None) -> Step:
        """May a message go on this channel now? An open breaker whose cool-down is over lets
        exactly one through as its probe (named by ``msg_id`` when given) and half-opens."""
        if self.state is BreakerState.CLOSED:
            return Step(self, True)
        if self.state is BreakerState.HALF_OPEN:
            return Step(self, False)  # the one probe is out; wait for its outcome
        due = self.retry_at_ms()
        if due is None or now_ms < due:
            return Step(self, False)
        after = replace(self, state=BreakerState.HALF_OPEN, probe_id=msg_id)
        early = now_ms < (self.opened_at_ms or 0) + self.cooldown_ms  # cut short by a heartbeat
        reason = (
            "the peer answered a heartbeat; one probe may go"
            if early
            else f"the {human_age(self.cooldown_ms)} cool-down is over; one probe may go"
        )
        return Step(after, True, True, self._transition(BreakerState.HALF_OPEN, reason, now_ms))

    def heard(self, now_ms: int) -> CircuitBreaker:
        """The peer answered a heartbeat: an open breaker still in its first cool-down may
        probe now."""
        due = self.retry_at_ms()
        if due is None or due <= now_ms or self.cooldown_ms > self.policy.cooldown_ms:
            return self
        return replace(self, heard_ms=now_ms)

    def reset(self) -> CircuitBreaker:
        """Closed by hand, with the evidence forgotten (an operator's override)."""
        return CircuitBreaker(self.channel, self.policy)

    def record(self, outcome: Outcome, now_ms: int, msg_id: str | None = None) -> Step:
        """Learn from one message's outcome. In HALF_OPEN, the probe's outcome (or any outcome,
        when no probe id was given) closes or reopens the breaker."""
        f, s = self._decayed(now_ms)
        w = self.policy.weight(outcome)
        bad = outcome is not Outcome.SUCCESS
        nxt = replace(
            self,
            failures=f + (w if bad else 0.0),
            successes=s + (0.0 if bad else w),
            as_of_ms=now_ms if self.as_of_ms is None else max(now_ms, self.as_of_ms),
            run=self.run + w if bad else 0.0,
            run_outcomes=(*self.run_outcomes, outcome) if bad else (),
        )
        if self.state is BreakerState.HALF_OPEN:
            if self.probe_id is not None and msg_id is not None and msg_id != self.probe_id:
                return Step(nxt, False)
            if bad:
                cooldown = min(
                    self.policy.max_cooldown_ms, round(self.cooldown_ms * self.policy.backoff)
                )
                reason = (
                    f"the probe failed ({outcome.words}); "
                    f"cooling down for {human_age(cooldown)} before the next"
                )
                return nxt._open(now_ms, cooldown, reason)
            closed = replace(
                nxt,
                state=BreakerState.CLOSED,
                failures=0.0,
                successes=0.0,
                run=0.0,
                run_outcomes=(),
                opened_at_ms=None,
                cooldown_ms=0,
                probe_id=None,
                heard_ms=None,
            )
            t = self._transition(BreakerState.CLOSED, "the probe succeeded", now_ms)
            return Step(closed, True, False, t)
        if self.state is BreakerState.OPEN or not bad:
            return Step(nxt, self.state is BreakerState.CLOSED)
        why = nxt._why_open()
        if why is None:
            return Step(nxt, True)
        return nxt._open(now_ms, self.policy.cooldown_ms, why)

    # -- internals ---------------------------------------------------------------------------

    def _why_open(self) -> str | None:
        p = self.policy
        if self.run >= p.run_limit:
            counts: dict[Outcome, int] = {}
            for o in self.run_outcomes:
                counts[o] = counts.get(o, 0) + 1
            kinds = ", ".join(o.counted(n) for o, n in counts.items())
            return (
                f"{len(self.run_outcomes)} bad outcomes in a row ({kinds}), weighing "
                f"{self.run:g} against the {p.run_limit:g} that opens the breaker"
            )
        estimate = self.failure_estimate()
        if self.failures + self.successes >= p.min_evidence and estimate > p.rate_limit:
            return (
                f"an estimated {estimate:.0%} of messages fail ({self.failures:.1f} bad against "
                f"{self.successes:.1f} good outcomes, recent ones weighing most), above the "
                f"{p.rate_limit:.0%} that opens the breaker"
            )
        return None

    def _open(self, now_ms: int, cooldown_ms: int, reason: str) -> Step:
        opened = replace(
            self,
            state=BreakerState.OPEN,
            opened_at_ms=now_ms,
            cooldown_ms=cooldown_ms,
            probe_id=None,
            heard_ms=None,
        )
        return Step(opened, False, False, self._transition(BreakerState.OPEN, reason, now_ms))

    def _transition(self, new: BreakerState, reason: str, at_ms: int) -> Transition:
        return Transition(self.channel, self.state, new, reason, at_ms)

    def _decayed(self, now_ms: int | None) -> tuple[float, float]:
        if self.as_of_ms is None or now_ms is None or now_ms <= self.as_of_ms:
            # An outcome reported late counts as of the newest one seen: evidence never grows
            # back by moving the clock backwards.
            return self.failures, self.successes
        factor = 0.5 ** ((now_ms - self.as_of_ms) / self.policy.half_life_ms)
        return self.failures * factor, self.successes * factor
