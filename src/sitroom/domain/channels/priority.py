"""Priority classes, bounded per-channel queues, fair sharing and backpressure.

Every channel holds one queue per priority class, all bounded together by the channel's
capacity. Serving is strict between classes and fair within one: the highest class that has
anything waiting, on any channel, is served first; channels waiting in that class take turns
(deficit round robin counting one unit per message), each sending up to ``weight`` messages per
turn. A FLASH message therefore waits
at most for the message already being sent, however much ROUTINE traffic is queued anywhere,
and one loud channel cannot starve the others of its class.

When a channel is full, the message to drop is the lowest priority waiting there, newest first.
That is either the newest message of the channel's lowest non-empty class, when the offered
message outranks it, or the offered message itself. So a higher priority message is never
dropped while a lower one waits in the same channel. Dropped messages are handed back to the
caller, who records them: nothing is lost silently.

Backpressure is a signal on every offer: OK, SLOW_DOWN once the channel's fill passes its
watermark (80% by default) or something had to be dropped, and REJECT when the offered message
itself was not queued.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from sitroom.errors import UserInputError


class Priority(IntEnum):
    """Message precedence, as in military and diplomatic signalling: higher is more urgent."""

    ROUTINE = 0
    PRIORITY = 1
    IMMEDIATE = 2
    FLASH = 3


# Serving order: most urgent first.
_URGENT_FIRST = tuple(sorted(Priority, reverse=True))


class Backpressure(StrEnum):
    OK = "ok"
    SLOW_DOWN = "slow_down"
    REJECT = "reject"


@dataclass(frozen=True)
class Message:
    """A message waiting to be sent. ``at_ms`` is when it was offered; ``payload`` is opaque."""

    id: str
    channel: str
    priority: Priority
    at_ms: int
    payload: object = None


@dataclass(frozen=True)
class ChannelConfig:
    """How many messages a channel may hold (all classes together) and its share of turns."""

    capacity: int = 64
    weight: int = 1

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise UserInputError(f"a channel's capacity must be at least 1, not {self.capacity}")
        if self.weight < 1:
            raise UserInputError(f"a channel's weight must be at least 1, not {self.weight}")


@dataclass(frozen=True)
class Offer:
    """What became of an offered message.

    ``fill`` is the channel's fill level after the offer (0 to 1); ``dropped`` holds every
    message that left the queue unsent because of this offer, the offered one included when it
    was refused.
    """

    accepted: bool
    signal: Backpressure
    fill: float
    dropped: tuple[Message, ...] = ()


class _Channel:
    __slots__ = ("config", "queues", "size")

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.queues: dict[Priority, deque[Message]] = {p: deque() for p in Priority}
        self.size = 0

    def lowest_waiting(self) -> Priority | None:
        for p in Priority:  # ascending: ROUTINE first
            if self.queues[p]:
                return p
        return None


class ChannelQueues:
    """The outgoing queues of every channel, served by one sender.

    A plain in-memory structure: no clock, no randomness. Its behaviour is a function of the
    sequence of calls, so a simulator on a virtual clock drives it exactly as a live sender does.
    Channels not configured explicitly get ``default``.
    """

    def __init__(
        self,
        *,
        default: ChannelConfig | None = None,
        channels: dict[str, ChannelConfig] | None = None,
        watermark: float = 0.8,
    ) -> None:
        if not 0.0 < watermark <= 1.0:
            raise UserInputError(f"the backpressure watermark must be in (0, 1], not {watermark}")
        self.watermark = watermark
        self._default = default or ChannelConfig()
        self._channels: dict[str, _Channel] = {}
        # Per class: channels with something waiting in that class, in turn order, and the
        # credit each has left in its current turn.
        self._active: dict[Priority, deque[str]] = {p: deque() for p in Priority}
        self._deficit: dict[Priority, dict[str, int]] = {p: {} for p in Priority}
        for name, config in (channels or {}).items():
            self.configure(name, config)

    def configure(self, channel: str, config: ChannelConfig) -> None:
        """Set a channel's capacity and weight. Shrinking below what waits drops nothing now;
        the channel simply takes no more until it has drained below its new capacity."""
        ch = self._channels.get(channel)
        if ch is None:
            self._channels[channel] = _Channel(config)
        else:
            ch.config = config

    def offer(self, message: Message) -> Offer:
        """Queue a message, dropping the lowest priority newest message if the channel is full."""
        ch = self._channel(message.channel)
        dropped: tuple[Message, ...] = ()
        if ch.size >= ch.config.capacity:
            lowest = ch.lowest_waiting()
            if lowest is None or lowest >= message.priority:
                # The offered message is itself the lowest priority and newest: refuse it.
                return Offer(False, Backpressure.REJECT, self.fill(message.channel), (message,))
            dropped = (self._drop_newest(message.channel, lowest),)
        self._push(message.channel, message)
        fill = self.fill(message.channel)
        slow = dropped or fill >= self.watermark
        return Offer(True, Backpressure.SLOW_DOWN if slow else Backpressure.OK, fill, dropped)

    def poll(self) -> Message | None:
        """The next message to send: the most urgent class first, channels taking turns."""
        for p in _URGENT_FIRST:
            if self._active[p]:
                return self._next_in(p)
        return None

    def fill(self, channel: str) -> float:
        ch = self._channels.get(channel)
        return 0.0 if ch is None else ch.size / ch.config.capacity

    def signal(self, channel: str) -> Backpressure:
        """The backpressure a sender on ``channel`` should heed right now."""
        ch = self._channels.get(channel)
        if ch is not None and ch.size >= ch.config.capacity:
            return Backpressure.REJECT
        return Backpressure.SLOW_DOWN if self.fill(channel) >= self.watermark else Backpressure.OK

    def depth(self, channel: str | None = None, priority: Priority | None = None) -> int:
        """How many messages wait, on one channel or all, in one class or all."""
        if channel is None:
            chans = list(self._channels.values())
        else:
            chans = [self._channels[channel]] if channel in self._channels else []
        if priority is None:
            return sum(c.size for c in chans)
        return sum(len(c.queues[priority]) for c in chans)

    def waiting(self, channel: str) -> tuple[Message, ...]:
        """A channel's waiting messages, most urgent class first, oldest first within a class."""
        ch = self._channels.get(channel)
        if ch is None:
            return ()
        return tuple(m for p in _URGENT_FIRST for m in ch.queues[p])

    def __len__(self) -> int:
        return self.depth()

    def channels(self) -> tuple[str, ...]:
        return tuple(self._channels)

    # -- internals -------------------------------------------------------------------------

    def _channel(self, name: str) -> _Channel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel(self._default)
        return ch

    def _push(self, channel: str, message: Message) -> None:
        ch = self._channels[channel]
        q = ch.queues[message.priority]
        if not q:
            # Joining the back of the turn order with no credit: a channel cannot save up turns
            # while it has nothing to send.
            self._active[message.priority].append(channel)
            self._deficit[message.priority][channel] = 0
        q.append(message)
        ch.size += 1

    def _drop_newest(self, channel: str, priority: Priority) -> Message:
        ch = self._channels[channel]
        q = ch.queues[priority]
        victim = q.pop()
        ch.size -= 1
        if not q:
            self._leave(priority, channel)
        return victim

    def _leave(self, priority: Priority, channel: str) -> None:
        self._active[priority].remove(channel)
        del self._deficit[priority][channel]

    def _next_in(self, priority: Priority) -> Message:
        active = self._active[priority]
        deficit = self._deficit[priority]
        name = active[0]
        if deficit[name] <= 0:
            # A new turn for the channel at the head: it may send ``weight`` messages in a row.
            deficit[name] = self._channels[name].config.weight
        ch = self._channels[name]
        q = ch.queues[priority]
        message = q.popleft()
        ch.size -= 1
        deficit[name] -= 1
        if not q:
            self._leave(priority, name)
        elif deficit[name] <= 0:
            active.rotate(-1)
        return message
