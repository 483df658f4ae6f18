"""Priority classes, fair turns, backpressure and the drop policy of the channel queues."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.channels import (
    Backpressure,
    ChannelConfig,
    ChannelQueues,
    Message,
    Priority,
)
from sitroom.errors import UserInputError

FL, IM, PR, RO = Priority.FLASH, Priority.IMMEDIATE, Priority.PRIORITY, Priority.ROUTINE


def msg(i: int, channel: str = "a", priority: Priority = RO) -> Message:
    return Message(f"{channel}-{i}", channel, priority, at_ms=i)


def drain(q: ChannelQueues) -> list[Message]:
    out = []
    while (m := q.poll()) is not None:
        out.append(m)
    return out


def test_flash_from_any_channel_goes_before_routine_from_every_channel() -> None:
    """Strict priority between classes, across channels."""
    q = ChannelQueues()
    for i in range(10):
        q.offer(msg(i, "a", RO))
        q.offer(msg(i, "b", PR))
    q.offer(msg(99, "c", FL))
    q.offer(msg(98, "d", IM))
    order = [m.priority for m in drain(q)]
    assert order == [FL, IM] + [PR] * 10 + [RO] * 10


def test_channels_of_equal_class_take_turns() -> None:
    """A loud channel does not starve a quiet one of the same class."""
    q = ChannelQueues()
    for i in range(50):
        q.offer(msg(i, "loud"))
    for i in range(3):
        q.offer(msg(100 + i, "quiet"))
    first = [m.channel for m in drain(q)][:6]
    assert first == ["loud", "quiet"] * 3


def test_weights_share_turns_in_proportion() -> None:
    """A channel of weight 2 sends two messages per turn to another's one."""
    q = ChannelQueues(channels={"heavy": ChannelConfig(weight=2), "light": ChannelConfig()})
    for i in range(30):
        q.offer(msg(i, "heavy"))
        q.offer(msg(i, "light"))
    first = [m.channel for m in drain(q)][:30]
    assert first.count("heavy") == 20
    assert first.count("light") == 10


def test_each_class_is_first_in_first_out_within_a_channel() -> None:
    q = ChannelQueues()
    for i in range(5):
        q.offer(msg(i, "a", FL))
    assert [m.id for m in drain(q)] == [f"a-{i}" for i in range(5)]


def test_backpressure_engages_at_the_watermark_and_rejects_when_full() -> None:
    q = ChannelQueues(default=ChannelConfig(capacity=10), watermark=0.5)
    signals = [q.offer(msg(i)).signal for i in range(11)]
    assert signals[:4] == [Backpressure.OK] * 4
    assert signals[4:10] == [Backpressure.SLOW_DOWN] * 6  # 5/10 filled reaches the 50% mark
    assert signals[10] is Backpressure.REJECT
    assert q.signal("a") is Backpressure.REJECT
    assert q.fill("a") == 1.0


def test_full_channel_drops_the_newest_of_its_lowest_class() -> None:
    """Lowest priority first, newest first within it; the newcomer goes in."""
    q = ChannelQueues(default=ChannelConfig(capacity=4))
    q.offer(msg(1, priority=RO))
    q.offer(msg(2, priority=PR))
    q.offer(msg(3, priority=RO))
    q.offer(msg(4, priority=PR))
    first = q.offer(msg(5, priority=FL))
    second = q.offer(msg(6, priority=IM))
    third = q.offer(msg(7, priority=IM))
    assert [d.id for d in first.dropped] == ["a-3"]
    assert [d.id for d in second.dropped] == ["a-1"]
    assert [d.id for d in third.dropped] == ["a-4"]
    assert all(o.accepted and o.signal is Backpressure.SLOW_DOWN for o in (first, second, third))
    assert [m.id for m in q.waiting("a")] == ["a-5", "a-6", "a-7", "a-2"]


def test_a_full_channel_refuses_a_newcomer_no_higher_than_what_waits() -> None:
    """The offered message is then itself the lowest and newest: it is handed back."""
    q = ChannelQueues(default=ChannelConfig(capacity=2))
    q.offer(msg(1, priority=IM))
    q.offer(msg(2, priority=IM))
    offer = q.offer(msg(3, priority=IM))
    assert not offer.accepted
    assert offer.signal is Backpressure.REJECT
    assert offer.dropped == (msg(3, priority=IM),)
    assert [m.id for m in q.waiting("a")] == ["a-1", "a-2"]


def test_a_full_channel_does_not_drop_from_another_channel() -> None:
    q = ChannelQueues(default=ChannelConfig(capacity=1))
    q.offer(msg(1, "a", RO))
    offer = q.offer(msg(2, "b", RO))
    assert offer.accepted and offer.dropped == ()
    assert q.depth() == 2


def test_under_a_routine_storm_flash_and_immediate_are_never_dropped_or_kept_behind() -> None:
    """100x ROUTINE on eight channels: nothing urgent is dropped, nothing ROUTINE is sent while
    anything FLASH or IMMEDIATE waits, and senders are told to slow down."""
    rng = random.Random(7)
    channels = [f"ch{i}" for i in range(8)]
    q = ChannelQueues(default=ChannelConfig(capacity=32))
    offered: list[Message] = []
    dropped: list[Message] = []
    served: list[Message] = []
    signals: set[Backpressure] = set()
    for tick in range(4000):
        # The normal ROUTINE rate is one message per 30 ticks; the storm sends 3.5 per tick
        # (about 100x), while FLASH, IMMEDIATE and PRIORITY keep their normal rate.
        new = [msg(tick, rng.choice(channels), RO) for _ in range(rng.randrange(0, 8))]
        if tick % 10 == 0:
            new.append(msg(tick, rng.choice(channels), rng.choice([FL, IM, PR])))
        for m in new:
            offered.append(m)
            offer = q.offer(m)
            signals.add(offer.signal)
            dropped.extend(offer.dropped)
        if tick % 2 == 0:  # the sender manages one message per two ticks
            urgent_waiting = q.depth(priority=FL) + q.depth(priority=IM)
            m = q.poll()
            assert m is not None
            if m.priority < IM:
                assert urgent_waiting == 0, "a ROUTINE or PRIORITY message overtook urgent traffic"
            served.append(m)
    assert len(dropped) > 1000
    assert not [d for d in dropped if d.priority >= IM]
    assert {Backpressure.SLOW_DOWN, Backpressure.REJECT} <= signals
    urgent_offered = [m.id for m in offered if m.priority >= IM]
    urgent_done = {m.id for m in served if m.priority >= IM} | {
        m.id for c in channels for m in q.waiting(c) if m.priority >= IM
    }
    assert set(urgent_offered) == urgent_done
    assert len(offered) == len(served) + len(dropped) + q.depth()


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, str, Priority]]:
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["offer", "offer", "offer", "poll"]),
                st.sampled_from(["a", "b", "c"]),
                st.sampled_from(list(Priority)),
            ),
            max_size=120,
        )
    )
    return ops


@settings(max_examples=300, deadline=None)
@given(operations(), st.integers(1, 6))
def test_drop_policy_invariant(ops: list[tuple[str, str, Priority]], capacity: int) -> None:
    """Whatever is offered and polled: a drop is always the lowest priority waiting in its
    channel and the newest of that priority, nothing is lost, no channel exceeds its capacity,
    and each class of each channel is served oldest first."""
    q = ChannelQueues(default=ChannelConfig(capacity=capacity))
    total_offered = served_n = dropped_n = 0
    last_served: dict[tuple[str, Priority], int] = {}
    for n, (op, channel, priority) in enumerate(ops):
        if op == "poll":
            before = {p: q.depth(priority=p) for p in Priority}
            m = q.poll()
            if m is None:
                assert q.depth() == 0
                continue
            served_n += 1
            assert all(before[p] == 0 for p in Priority if p > m.priority)
            key = (m.channel, m.priority)
            assert m.at_ms > last_served.get(key, -1)
            last_served[key] = m.at_ms
            continue
        total_offered += 1
        offer = q.offer(Message(f"m{n}", channel, priority, at_ms=n))
        assert offer.accepted != (offer.signal is Backpressure.REJECT)
        dropped_n += len(offer.dropped)
        assert len(offer.dropped) <= 1
        waiting = q.waiting(channel)
        for d in offer.dropped:
            assert all(w.priority >= d.priority for w in waiting)
            assert all(w.at_ms < d.at_ms for w in waiting if w.priority == d.priority)
        assert len(waiting) <= capacity
    assert total_offered == served_n + dropped_n + q.depth()


def test_configuration_is_checked() -> None:
    with pytest.raises(UserInputError):
        ChannelConfig(capacity=0)
    with pytest.raises(UserInputError):
        ChannelConfig(weight=0)
    with pytest.raises(UserInputError):
        ChannelQueues(watermark=0.0)
