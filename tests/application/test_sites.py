"""Sites replicating through a link held in memory (the NATS link's own tests are in
tests/contracts/test_sites_nats.py): what is sent, to whom, what is refused, and that every
site folds the same states from the same records whatever order they arrived in."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitroom.adapters.keystore import new_secret
from sitroom.application.keys import identity
from sitroom.application.sites import Delivery, Sent
from sitroom.domain import sites as d
from sitroom.domain.kinds import CLAIM, SITE_REFUSED, TRACK_STATUS
from sitroom.domain.secure.identity import SITE
from sitroom.errors import LinkDown, Rejected
from sitroom.room import Room
from sitroom.testing.history import History
from sitroom.testing.sites import claim, track_status
from sitroom.testing.sites import rooms as sites_in

SITES = ("geneva", "tehran", "washington")


class Bus:
    """Subjects as lists: what each origin sent each destination, and where each reader is.
    A site in ``down`` can neither send nor take (its link is cut)."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], list[bytes]] = {}
        self.read: dict[tuple[str, str], int] = {}
        self.latest: dict[tuple[str, str], Sent] = {}
        self.down: set[str] = set()

    def link(self, site: str) -> BusLink:
        return BusLink(self, site)


@dataclasses.dataclass
class BusLink:
    bus: Bus
    site: str

    def _up(self) -> None:
        if self.site in self.bus.down:
            raise LinkDown(f"{self.site} is cut off")

    def send(self, dest: str, data: bytes, msg_id: str, sent: Sent) -> None:
        self._up()
        self.bus.sent.setdefault((self.site, dest), []).append(data)
        self.bus.latest[(self.site, dest)] = sent

    def latest(self, origin: str) -> Sent | None:
        self._up()
        return self.bus.latest.get((origin, self.site))

    def receive(self, origin: str, limit: int, wait_s: float) -> list[Delivery]:
        self._up()
        key = (origin, self.site)
        queue = self.bus.sent.get(key, [])
        start = self.bus.read.get(key, 0)
        out = []
        for i, data in enumerate(queue[start : start + limit], start):

            def ack(i: int = i) -> None:
                self.bus.read[key] = max(self.bus.read.get(key, 0), i + 1)

            out.append(Delivery(data, origin, ack))
        return out

    def pending(self, origin: str) -> int | None:
        self._up()
        key = (origin, self.site)
        return len(self.bus.sent.get(key, [])) - self.bus.read.get(key, 0)


@pytest.fixture
def rooms(tmp_path: Path) -> Iterator[dict[str, Room]]:
    """Three sites, each holding the others' cards; geneva and washington cleared for us-iran
    by each other; tehran for nothing but the general compartment."""
    made = sites_in(tmp_path, SITES, {("geneva", "washington"): {"us-iran"}})
    yield made
    for r in made.values():
        r.close()


def sync_all(rooms: dict[str, Room], bus: Bus, rounds: int = 3) -> None:
    for _ in range(rounds):
        for s, r in rooms.items():
            r.sites.sync(bus.link(s))


def test_every_site_converges_to_the_same_shared_states(rooms: dict[str, Room]) -> None:
    bus = Bus()
    for s, r in rooms.items():
        r.session.append([claim(s, n) for n in range(20)])
    sync_all(rooms, bus)
    digests = {s: r.sites.digest() for s, r in rooms.items()}
    assert {dg.records for dg in digests.values()} == {60}
    assert len({dg.digest for dg in digests.values()}) == 1, digests
    # ...and the digest says something: a site holding one more record differs.
    rooms["geneva"].session.append([claim("geneva", 99)])
    assert rooms["geneva"].sites.digest().digest != digests["tehran"].digest


def test_a_site_not_cleared_for_a_track_never_receives_its_records(
    rooms: dict[str, Room],
) -> None:
    bus = Bus()
    rooms["geneva"].session.append([track_status("geneva", n) for n in range(5)])
    rooms["geneva"].session.append([claim("geneva", 1)])
    sync_all(rooms, bus)
    held = {
        s: [b.column("compartment").to_pylist() for b in r.session.read(kinds=[TRACK_STATUS])]
        for s, r in rooms.items()
    }
    assert sum(len(c) for c in held["washington"]) == 5
    assert sum(len(c) for c in held["tehran"]) == 0
    # ... not even sealed: nothing on tehran's subject opens to anything but the claim.
    tehran_key = rooms["tehran"]._site_secret()
    opened = [
        d.open_bundle(m, tehran_key, identity(rooms["tehran"].session, "geneva"), "geneva")
        for m in bus.sent[("geneva", "tehran")]
    ]
    assert [r.kind for b in opened for r in b.records] == [CLAIM]


def test_concurrent_edits_both_stay_as_a_conflict(rooms: dict[str, Room]) -> None:
    bus = Bus()
    bus.down.add("tehran")
    rooms["geneva"].session.append([claim("geneva", 1, prop="venue", value="Geneva")])
    rooms["tehran"].session.append([claim("tehran", 1, prop="venue", value="Muscat")])
    sync_all(rooms, bus)
    assert rooms["geneva"].sites.status().conflicts == ()
    bus.down.clear()
    sync_all(rooms, bus)
    for r in rooms.values():
        (conflict,) = r.sites.status().conflicts
        assert conflict.property == "venue"
        assert set(conflict.values) == {'"Geneva"', '"Muscat"'}
        assert set(conflict.sites) == {"geneva", "tehran"}


def test_a_cut_site_keeps_working_and_catches_up(rooms: dict[str, Room]) -> None:
    bus = Bus()
    bus.down.add("washington")
    for n in range(3):
        for s, r in rooms.items():
            r.session.append([claim(s, n)])
        out = rooms["washington"].sites.sync(bus.link("washington"))
        assert set(out.down) == {"geneva", "tehran"}
        sync_all(rooms, bus, rounds=1)
    assert rooms["washington"].sites.digest().records == 3
    bus.down.clear()
    # what geneva sent washington before the cut waits at the link: washington is behind
    (geneva,) = [
        p
        for p in rooms["washington"].sites.status(bus.link("washington")).peers
        if p.name == "geneva"
    ]
    assert (geneva.behind, geneva.received) == (3, 0) and geneva.behind_ms is not None
    sync_all(rooms, bus)
    assert {r.sites.digest().digest for r in rooms.values()} == {
        rooms["geneva"].sites.digest().digest
    }
    st = {p.name: p for p in rooms["geneva"].sites.status(bus.link("geneva")).peers}
    assert st["washington"].received == 3 and st["washington"].pending == 0
    assert (st["washington"].behind, st["washington"].behind_ms) == (0, 0)
    assert st["washington"].to_send == 0 and st["washington"].connected is True


def test_forged_altered_and_replayed_bundles_are_refused_and_counted(
    rooms: dict[str, Room],
) -> None:
    bus = Bus()
    rooms["geneva"].session.append([claim("geneva", 1)])
    sync_all(rooms, bus, rounds=1)
    good = bus.sent[("geneva", "tehran")][0]
    held = rooms["tehran"].session.last_seq()
    # a replay of a bundle taken already; one altered in transit; one signed by a stranger
    # naming geneva; one naming geneva on another site's subject; a record of another origin
    altered = bytearray(good)
    altered[len(altered) // 2] ^= 1
    stranger = new_secret("geneva", SITE)
    tehran = identity(rooms["tehran"].session, "tehran")
    assert tehran is not None
    forged = d.seal(stranger, tehran, 5, 9, [])
    not_mine = dataclasses.replace(claim("washington", 7), recorded_time=1, origin="washington")
    relayed = d.seal(rooms["geneva"]._site_secret(), tehran, 10, 12, [not_mine])
    bus.sent[("geneva", "tehran")] += [good, bytes(altered), forged, relayed]
    bus.sent[("washington", "tehran")] = [d.seal(rooms["geneva"]._site_secret(), tehran, 1, 2, [])]
    out = rooms["tehran"].sites.sync(bus.link("tehran"))
    reasons = sorted(r.reason for r in out.refused)
    assert reasons == ["bad-signature", "bad-signature", "replayed", "wrong-origin", "wrong-origin"]
    kinds = [r.kind for b in rooms["tehran"].session.read(after_seq=held) for r in b.rows()]
    assert kinds == [SITE_REFUSED] * 5  # nothing but the refusals was appended
    st = {p.name: p for p in rooms["tehran"].sites.status().peers}
    assert st["geneva"].refused == 4 and st["washington"].refused == 1


def test_a_redelivery_after_a_crash_is_taken_once(rooms: dict[str, Room]) -> None:
    bus = Bus()
    rooms["geneva"].session.append([claim("geneva", n) for n in range(4)])
    rooms["geneva"].sites.sync(bus.link("geneva"))
    message = bus.sent[("geneva", "tehran")][0]
    link = bus.link("tehran")
    rooms["tehran"].sites.sync(link)
    # the link never heard the ack (the process died after the append): it delivers again
    redelivered = Delivery(message, "geneva", lambda: None, redelivered=True)
    n_before = rooms["tehran"].session.last_seq()
    assert rooms["tehran"].sites._accept(redelivered) == 0
    assert rooms["tehran"].session.last_seq() == n_before


def test_random_orders_of_delivery_fold_alike(tmp_path: Path, rooms: dict[str, Room]) -> None:
    """Seeded schedules of cuts and syncs: the history checker finds nothing lost, nothing
    phantom, nothing twice, and no compartment where it does not belong."""
    rng = random.Random(2026)
    bus = Bus()
    history = History(SITES, clearances={("geneva", "washington"): {"us-iran"}})
    for step in range(40):
        s = rng.choice(SITES)
        if rng.random() < 0.15:
            bus.down ^= {rng.choice(SITES)}
        records = [claim(s, step)]
        if s in ("geneva", "washington") and rng.random() < 0.3:
            records.append(track_status(s, step))
        rooms[s].session.append(records)
        history.appended(s, records)
        who = rng.choice(SITES)
        rooms[who].sites.sync(bus.link(who))
    bus.down.clear()
    sync_all(rooms, bus, rounds=4)
    for s, r in rooms.items():
        shared = r.session.read(kinds=sorted(d.REPLICATED))
        history.read(s, [rec for b in shared for rec in b.rows()])
    assert history.problems() == []
    geneva, tehran, washington = (rooms[s].sites for s in SITES)
    assert geneva.digest().digest == washington.digest().digest
    # tehran holds the general records only: what the others hold of those folds the same
    assert tehran.digest().digest == geneva.digest([]).digest == washington.digest([]).digest
    assert tehran.digest().digest != geneva.digest().digest


def test_fold_order_is_the_origins_clock_not_arrival() -> None:
    a = dataclasses.replace(claim("a", 1), recorded_time=30, origin="a", seq=1)
    b = dataclasses.replace(claim("b", 1), recorded_time=99, origin="b", seq=2)
    from sitroom.domain.records import RecordBatch

    batch = RecordBatch.from_records([a, b])
    # b arrived first at its origin's time 10 (the receiver stamped it 99 when it learned it)
    ordered = d.in_fold_order(batch, {b.id: 10})
    assert ordered.column("id").to_pylist() == [b.id, a.id]
    assert ordered.column("recorded_time").to_pylist() == [10, 30]
    assert ordered.column("seq").to_pylist() == [1, 2]


def test_a_tracks_status_set_at_two_sites_during_a_cut_is_the_same_everywhere(
    rooms: dict[str, Room],
) -> None:
    """The live views fold in the order each site learned things; a track's status stands by
    its valid time, so the two sites agree on it whichever arrived first."""
    bus = Bus()
    bus.down.add("washington")
    later = track_status("geneva", 9, status="suspended")
    rooms["geneva"].session.append([later])  # valid from T0 + 9
    rooms["washington"].session.append([track_status("washington", 5)])  # T0 + 5, active
    sync_all(rooms, bus)
    bus.down.clear()
    sync_all(rooms, bus)
    seen = {
        s: rooms[s].session.state("tracks")["status"]["us-iran"] for s in ("geneva", "washington")
    }
    assert (
        seen["geneva"] == seen["washington"] == {"status": "suspended", "since": 1_700_000_000_009}
    )


def test_a_bundle_delivered_again_after_newer_ones_is_still_taken(rooms: dict[str, Room]) -> None:
    """A take that was not acknowledged (a fetch given up on, an ack lost) is delivered again
    by the link after the bundles behind it: it is taken then, not mistaken for a replay."""
    bus = Bus()
    geneva, tehran = rooms["geneva"], rooms["tehran"]
    geneva.session.append([claim("geneva", 1)])
    geneva.sites.sync(bus.link("geneva"))
    geneva.session.append([claim("geneva", 2)])
    geneva.sites.sync(bus.link("geneva"))
    first, second = bus.sent[("geneva", "tehran")]
    assert tehran.sites._accept(Delivery(second, "geneva", lambda: None)) == 1
    again = Delivery(first, "geneva", lambda: None, redelivered=True)
    assert tehran.sites._accept(again) == 1
    held = {r.id for b in tehran.session.read(kinds=["claim"]) for r in b.rows()}
    assert held == {claim("geneva", 1).id, claim("geneva", 2).id}
    # ... and once taken, the same bundle again is a no-op, or a replay if not redelivered
    assert tehran.sites._accept(again) == 0
    with pytest.raises(Rejected, match="taken already"):
        tehran.sites._accept(Delivery(first, "geneva", lambda: None))
