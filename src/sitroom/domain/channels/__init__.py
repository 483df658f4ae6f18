"""Channels' pure logic: what to send first, when to stop sending, and when silence means trouble.

- ``priority``: priority classes, bounded per-channel queues, fair turns, backpressure, drops;
- ``breaker``: a circuit breaker that judges a channel carrying a few messages a day;
- ``phi``: transport liveness from heartbeats (phi accrual), with the intermediary's view;
- ``habits``: a counterpart's reply times in their working hours, and overdue replies.

Nothing here reads a clock: every call takes the time as epoch milliseconds.
"""

from __future__ import annotations

from sitroom.domain.channels.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Step,
    Transition,
)
from sitroom.domain.channels.habits import HabitPolicy, Overdue, OverdueReason, ReplyHabits
from sitroom.domain.channels.phi import (
    PhiConfig,
    PhiDetector,
    Silence,
    SilenceVerdict,
    classify_silence,
    heard_recently,
    phi_of,
)
from sitroom.domain.channels.priority import (
    Backpressure,
    ChannelConfig,
    ChannelQueues,
    Message,
    Offer,
    Priority,
)
from sitroom.domain.week import WorkingWeek

__all__ = [
    "Backpressure",
    "BreakerPolicy",
    "BreakerState",
    "ChannelConfig",
    "ChannelQueues",
    "CircuitBreaker",
    "HabitPolicy",
    "Message",
    "Offer",
    "Outcome",
    "Overdue",
    "OverdueReason",
    "PhiConfig",
    "PhiDetector",
    "Priority",
    "ReplyHabits",
    "Silence",
    "SilenceVerdict",
    "Step",
    "Transition",
    "WorkingWeek",
    "classify_silence",
    "heard_recently",
    "phi_of",
]
