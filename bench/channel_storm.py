"""Broadcast storm: FLASH latency when ROUTINE traffic on every channel jumps to 100x normal.

Simulated on a virtual clock (no sleeping, no wall-clock reads in the simulation): several
channels share one sender that sends a fixed number of messages per second, each taking the
same time. Messages arrive as Poisson streams per channel and class. Normal traffic per channel
is 2 ROUTINE, 0.5 PRIORITY, 0.25 IMMEDIATE and 0.25 FLASH messages a second (about half the
sender's capacity on 8 channels); in the storm, ROUTINE alone runs at 100x, far beyond what the
sender can send, while the other classes keep their normal streams (the same arrivals in both
runs, so only the storm differs).

Measured: the p99 latency of FLASH messages (offered to sent) under the storm against the same
traffic without it. Goal: storm p99 at most 2x idle p99. Baselines, in the same run on the
same arrivals, each holding as many messages as all the channels together and dropping
arrivals when full (tail drop): a single FIFO queue, as a plain message queue does, and a plain
priority queue (``heapq``: most urgent first, first come first served within a class), which
any priority scheme beats a FIFO with. Also reported: what each drops (sitroom must drop no
FLASH or IMMEDIATE), how often backpressure told senders to slow down, and fairness between
channels: with only one channel storming, what the quiet channels' ROUTINE traffic suffers
(p99 latency and drops), and Jain's index of the ROUTINE messages sent per channel (1: equal).
Fairness is measured twice: on the queues alone, as above, and through the courier itself
(``Courier.submit``, one message in flight, acked when the sender is done with it), for a
shorter run (``--courier-seconds``): what a desk does, not only its queues.

    python bench/channel_storm.py [--channels 8] [--seconds 600] [--service-rate 50]
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sitroom.domain.channels import Backpressure, ChannelConfig, ChannelQueues, Message, Priority
from sitroom.domain.channels.courier import Courier, Link, Transmit

NORMAL_RATE = {  # messages per second per channel
    Priority.ROUTINE: 2.0,
    Priority.PRIORITY: 0.5,
    Priority.IMMEDIATE: 0.25,
    Priority.FLASH: 0.25,
}


@dataclass
class Run:
    latency: dict[Priority, list[int]]
    dropped: dict[Priority, int]
    offered: dict[Priority, int]
    signals: dict[Backpressure, int]
    routine_sent: dict[str, list[int]]  # per channel: the latencies of its ROUTINE sent
    routine_dropped: dict[str, int]


def arrivals(
    channels: int, seconds: int, storm: float, seed: int, storming: int | None = None
) -> list[tuple[int, int, Priority]]:
    """(arrival ms, channel, class), in time order. Streams other than ROUTINE are drawn from
    seeds that do not depend on the storm, so both runs see the same urgent traffic. The storm
    hits every channel, or only channel ``storming``."""
    out: list[tuple[int, int, Priority]] = []
    for c in range(channels):
        for p, rate in NORMAL_RATE.items():
            rng = np.random.default_rng([seed, c, int(p)])
            hit = storming is None or c == storming
            r = rate * (storm if p is Priority.ROUTINE and hit else 1.0)
            n = rng.poisson(r * seconds)
            times = np.sort(rng.uniform(0, seconds * 1000, n)).astype(np.int64)
            out.extend((int(t), c, p) for t in times)
    out.sort(key=lambda a: a[0])
    return out


class Fifo:
    """The baseline: one bounded first-in first-out queue, dropping newcomers when full."""

    def __init__(self, capacity: int) -> None:
        self.q: deque[Message] = deque()
        self.capacity = capacity

    def offer(self, m: Message) -> tuple[Backpressure, Sequence[Message]]:
        if len(self.q) >= self.capacity:
            return Backpressure.REJECT, (m,)
        self.q.append(m)
        return Backpressure.OK, ()

    def poll(self) -> Message | None:
        return self.q.popleft() if self.q else None


class Heap:
    """The second baseline: one bounded priority queue (heapq), most urgent first and first
    come first served within a class, dropping newcomers when full."""

    def __init__(self, capacity: int) -> None:
        self.q: list[tuple[int, int, Message]] = []
        self.capacity = capacity
        self.n = 0

    def offer(self, m: Message) -> tuple[Backpressure, Sequence[Message]]:
        if len(self.q) >= self.capacity:
            return Backpressure.REJECT, (m,)
        self.n += 1
        heapq.heappush(self.q, (-int(m.priority), self.n, m))
        return Backpressure.OK, ()

    def poll(self) -> Message | None:
        return heapq.heappop(self.q)[2] if self.q else None


def simulate(
    events: list[tuple[int, int, Priority]],
    service_ms: int,
    offer: Callable[[Message], tuple[Backpressure, Sequence[Message]]],
    poll: Callable[[], Message | None],
) -> Run:
    """One sender, busy ``service_ms`` per message, picking the next message whenever it is
    free. Before each arrival, everything the sender would have started by then is sent."""
    run = Run(
        {p: [] for p in Priority},
        dict.fromkeys(Priority, 0),
        dict.fromkeys(Priority, 0),
        {},
        {},
        {},
    )
    free = 0  # when the sender is next free
    waiting = 0
    for k, (t, c, p) in enumerate(events):
        while waiting and free <= t:
            m = poll()
            assert m is not None
            waiting -= 1
            free = max(free, m.at_ms) + service_ms
            run.latency[m.priority].append(free - m.at_ms)
            if m.priority is Priority.ROUTINE:
                run.routine_sent.setdefault(m.channel, []).append(free - m.at_ms)
        if not waiting and free < t:
            free = t  # the sender was idle
        signal, dropped = offer(Message(str(k), f"ch{c}", p, t))
        run.offered[p] += 1
        run.signals[signal] = run.signals.get(signal, 0) + 1
        waiting += 1 - len(dropped)
        for d in dropped:
            run.dropped[d.priority] += 1
            if d.priority is Priority.ROUTINE:
                run.routine_dropped[d.channel] = run.routine_dropped.get(d.channel, 0) + 1
    return run


def through_courier(
    events: list[tuple[int, int, Priority]], channels: int, service_ms: int, capacity: int
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The same arrivals through a Courier: one message in flight, acked ``service_ms`` after
    it went (the sender busy with it). Per channel: the latencies of the ROUTINE messages sent,
    and how many ROUTINE ones were dropped."""
    links = [
        Link(f"ch{c}", "far end", ack_timeout_ms=10**9, capacity=capacity) for c in range(channels)
    ]
    courier = Courier(links, max_in_flight=1)
    sent: dict[str, list[int]] = {}
    dropped: dict[str, int] = {}
    offered: dict[str, tuple[str, Priority, int]] = {}
    busy: list[tuple[int, str, str]] = []  # (ack time, message, channel) of the one in flight

    def act(actions: Sequence[object], t: int) -> None:
        for a in actions:
            if isinstance(a, Transmit):
                env = a.envelope
                busy.append((t + service_ms, env.id, env.channel))
            elif getattr(a, "kind", "") == "channel.drop":
                ch, prio, _ = offered[a.payload["message"]]  # type: ignore[attr-defined]
                if prio is Priority.ROUTINE:
                    dropped[ch] = dropped.get(ch, 0) + 1

    for k, (t, c, p) in enumerate(events):
        while busy and busy[0][0] <= t:
            done, mid, ch = busy.pop(0)
            _, prio, at = offered[mid]
            if prio is Priority.ROUTINE:
                sent.setdefault(ch, []).append(done - at)
            act(courier.on_ack(mid, ch, done), done)
        mid = str(k)
        offered[mid] = (f"ch{c}", p, t)
        act(courier.submit(mid, f"ch{c}", p, "", t).actions, t)
    return sent, dropped


def jain(xs: Sequence[float]) -> float:
    """Jain's fairness index: 1 when every share is equal, 1/n when one takes everything."""
    a = np.asarray(xs, dtype=np.float64)
    return float(a.sum() ** 2 / (len(a) * (a * a).sum())) if a.any() else 1.0


def p99(xs: list[int]) -> float:
    return float(np.percentile(xs, 99)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=600, help="virtual seconds simulated")
    ap.add_argument("--service-rate", type=int, default=50, help="messages sent per second")
    ap.add_argument("--storm", type=float, default=100.0, help="ROUTINE multiplier")
    ap.add_argument("--capacity", type=int, default=64, help="messages each channel may hold")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--courier-seconds", type=int, default=60, help="virtual seconds through the courier"
    )
    args = ap.parse_args()
    service_ms = 1000 // args.service_rate
    fifo_cap = args.channels * args.capacity
    wall = time.perf_counter()
    runs: dict[tuple[str, str], Run] = {}
    scenarios = (("idle", 1.0, None), ("storm", args.storm, None), ("one storms", args.storm, 0))
    for label, storm, storming in scenarios:
        events = arrivals(args.channels, args.seconds, storm, args.seed, storming)
        q = ChannelQueues(default=ChannelConfig(capacity=args.capacity))

        def offer_sitroom(
            m: Message, q: ChannelQueues = q
        ) -> tuple[Backpressure, Sequence[Message]]:
            o = q.offer(m)
            return o.signal, o.dropped

        runs[("sitroom", label)] = simulate(events, service_ms, offer_sitroom, q.poll)
        f = Fifo(fifo_cap)
        runs[("fifo", label)] = simulate(events, service_ms, f.offer, f.poll)
        h = Heap(fifo_cap)
        runs[("heap", label)] = simulate(events, service_ms, h.offer, h.poll)
    wall = time.perf_counter() - wall

    normal = sum(NORMAL_RATE.values()) * args.channels
    storm_rate = normal + NORMAL_RATE[Priority.ROUTINE] * args.channels * (args.storm - 1)
    print(
        f"{args.channels} channels, one sender at {args.service_rate} msg/s "
        f"({service_ms} ms each), "
        f"{args.seconds} virtual s per run; normal load {normal:.0f} msg/s "
        f"({normal / args.service_rate:.0%} of capacity), storm {storm_rate:,.0f} msg/s "
        f"(ROUTINE x{args.storm:g}); queues: {args.capacity} per channel, FIFO {fifo_cap}"
    )
    print(
        f"{'':<26}{'FLASH p99':>10}{'(sent)':>9}{'IMMED. p99':>12}{'ROUTINE p99':>13}"
        "   dropped of offered: FLASH, IMMEDIATE, PRIORITY, ROUTINE"
    )
    queues = (("sitroom", "sitroom"), ("fifo", "baseline FIFO"), ("heap", "baseline heapq"))
    for who, name in queues:
        for label in ("idle", "storm"):
            r = runs[(who, label)]
            lat = {p: p99(r.latency[p]) for p in Priority}
            drops = ", ".join(
                f"{r.dropped[p]:,}/{r.offered[p]:,}" for p in sorted(Priority, reverse=True)
            )
            print(
                f"{name + ' ' + label:<26}{lat[Priority.FLASH]:>7.0f} ms"
                f"{len(r.latency[Priority.FLASH]):>9,}{lat[Priority.IMMEDIATE]:>9.0f} ms"
                f"{lat[Priority.ROUTINE]:>10.0f} ms   {drops}"
            )
    for label in ("idle", "storm"):
        r = runs[("sitroom", label)]
        slow = r.signals.get(Backpressure.SLOW_DOWN, 0) + r.signals.get(Backpressure.REJECT, 0)
        print(
            f"sitroom backpressure, {label}: slow-down or reject on {slow:,} of "
            f"{sum(r.signals.values()):,} offers ({slow / sum(r.signals.values()):.1%})"
        )
    ours = p99(runs[("sitroom", "storm")].latency[Priority.FLASH]) / p99(
        runs[("sitroom", "idle")].latency[Priority.FLASH]
    )
    theirs = {
        who: p99(runs[(who, "storm")].latency[Priority.FLASH])
        / p99(runs[(who, "idle")].latency[Priority.FLASH])
        for who in ("fifo", "heap")
    }
    quiet = [f"ch{c}" for c in range(1, args.channels)]
    print(f"fairness, only ch0 storming: the {len(quiet)} quiet channels' ROUTINE")
    for who, name in queues:
        r = runs[(who, "one storms")]
        sent = [x for ch in quiet for x in r.routine_sent.get(ch, [])]
        lost = sum(r.routine_dropped.get(ch, 0) for ch in quiet)
        share = jain(
            [len(runs[(who, "storm")].routine_sent.get(f"ch{c}", [])) for c in range(args.channels)]
        )
        print(
            f"  {name:<16} p99 {p99(sent):>8.0f} ms, dropped {lost:,} of {lost + len(sent):,}; "
            f"all storming: Jain index of ROUTINE sent per channel {share:.3f}"
        )
    started = time.perf_counter()
    quiet_sent: list[int] = []
    quiet_lost = 0
    one = arrivals(args.channels, args.courier_seconds, args.storm, args.seed, 0)
    sent, lost = through_courier(one, args.channels, service_ms, args.capacity)
    quiet_sent = [x for ch in quiet for x in sent.get(ch, [])]
    quiet_lost = sum(lost.get(ch, 0) for ch in quiet)
    every = arrivals(args.channels, args.courier_seconds, args.storm, args.seed)
    all_sent, _ = through_courier(every, args.channels, service_ms, args.capacity)
    share = jain([len(all_sent.get(f"ch{c}", [])) for c in range(args.channels)])
    print(
        f"  through the courier ({args.courier_seconds} virtual s, "
        f"{time.perf_counter() - started:.1f} s): quiet channels' ROUTINE p99 "
        f"{p99(quiet_sent):.0f} ms, dropped {quiet_lost:,} of {quiet_lost + len(quiet_sent):,}; "
        f"all storming: Jain index {share:.3f}"
    )
    print(f"simulated 9 runs in {wall:.1f} s of wall time")
    lost = {
        who: runs[(who, "storm")].dropped[Priority.FLASH]
        / runs[(who, "storm")].offered[Priority.FLASH]
        for who in ("sitroom", "fifo", "heap")
    }
    print(
        f"ratio FLASH p99 storm / idle: sitroom {ours:.2f}x [goal <= 2x], {lost['sitroom']:.0%} "
        f"of FLASH dropped; baseline single FIFO {theirs['fifo']:.1f}x, {lost['fifo']:.0%} "
        f"dropped; baseline heapq {theirs['heap']:.2f}x on the FLASH it kept, {lost['heap']:.0%} "
        "dropped (a full queue of ROUTINE turns them away at the door)"
    )


if __name__ == "__main__":
    main()
