"""Sites: this site's peers, what it sends them and what it takes from them.

One :meth:`Sites.sync` publishes, to each peer, the shared records this site originated since
it last did (cut to what that peer is cleared for, sealed to it and signed), then takes what
each peer sent: every bundle is opened and checked (:mod:`sitroom.domain.sites`), its records
appended with a ``site.receipt`` in one append, and only then acknowledged to the link — so a
crash between the two gives a redelivery, which the receipt makes a no-op. A bundle refused is
recorded (``site.refused``) and acknowledged: it would be refused again.

A link that is down stops nothing: this site goes on appending, and the next sync sends what
piled up, from the position kept in ``sites.json`` (written after each bundle the link took).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.application.results import Result
from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain import sites as d
from sitroom.domain.claims import view
from sitroom.domain.kinds import CLAIM, SITE_PEER, SITE_RECEIPT, SITE_REFUSED
from sitroom.domain.projection import Projection
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.identity import SITE, Identity, Secret
from sitroom.errors import LinkDown, Rejected, UserInputError


@dataclass(frozen=True)
class Delivery:
    """A message the link delivered: from the subject of ``origin``. ``ack`` tells the link it
    is done with; ``redelivered``: the link delivered it before (unacknowledged)."""

    data: bytes
    origin: str
    ack: Callable[[], None]
    redelivered: bool = False


@dataclass(frozen=True)
class Sent:
    """How far a site's sending to one peer has gone: the last of its log positions sent, and
    how many records it has sent that peer in all (the count a receiver's lag is taken from)."""

    upto: int = 0
    records: int = 0
    newest_ms: int | None = None  # the wall time its newest record sent was stamped at


class Link(Protocol):
    """What carries bundles between sites (adapters/nats_link.py: NATS JetStream)."""

    def send(self, dest: str, data: bytes, msg_id: str, sent: Sent) -> None:
        """Publish ``data`` for ``dest``, once durably stored (LinkDown otherwise); ``sent``:
        where the sending stands with it, this bundle included (in the message's headers)."""

    def receive(self, origin: str, limit: int, wait_s: float) -> list[Delivery]:
        """Up to ``limit`` messages ``origin`` sent this site ([] after ``wait_s``)."""

    def pending(self, origin: str) -> int | None:
        """Messages from ``origin`` not yet taken (None: the link cannot tell now)."""

    def latest(self, origin: str) -> Sent | None:
        """Where ``origin``'s sending to this site stood at its last message (None: none)."""


@dataclass(frozen=True)
class CutLink:
    """The link when it cannot even be made (its server unreachable): every use of it is
    the same :class:`LinkDown`, so a status still shows what the log holds, each peer cut off."""

    why: LinkDown

    def send(self, dest: str, data: bytes, msg_id: str, sent: Sent) -> None:
        raise self.why

    def receive(self, origin: str, limit: int, wait_s: float) -> list[Delivery]:
        raise self.why

    def pending(self, origin: str) -> int | None:
        raise self.why

    def latest(self, origin: str) -> Sent | None:
        raise self.why


class Positions(Protocol):
    """Where this site's sending stands with each peer: a file beside the log."""

    def load(self) -> dict[str, Sent]: ...

    def save(self, sent: Mapping[str, Sent]) -> None: ...


@dataclass(frozen=True)
class PeerAdded(Result):
    name: str
    fingerprint: str
    cleared: tuple[str, ...]


@dataclass(frozen=True)
class Refusal(Result):
    site: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Synced(Result):
    """What one sync did: records sent to and taken from each peer, refusals, links down."""

    sent: dict[str, int]
    received: dict[str, int]
    refused: tuple[Refusal, ...]
    down: tuple[str, ...]


@dataclass(frozen=True)
class Conflict(Result):
    subject: str
    property: str
    values: tuple[str, ...]  # each value, as JSON text
    sites: tuple[str, ...]  # the sites whose records claim them


@dataclass(frozen=True)
class PeerStatus(Result):
    name: str
    cleared: tuple[str, ...]
    connected: bool | None  # None: not asked (no link given)
    sent_upto: int  # this site's log position sent to it
    to_send: int  # shared records of this site's, for it, not sent yet
    received_upto: int  # its log position taken from it
    received: int  # records taken from it
    pending: int | None  # bundles of its waiting at the link
    behind: int | None  # records it has sent this site that are not taken yet (None: unknown)
    behind_ms: int | None  # ... how much newer its newest sent is than the newest taken
    delay_ms: int | None  # its last bundle taken: from its newest record's stamp to the take
    last_heard_ms: int | None
    refused: int
    conflicts: int


@dataclass(frozen=True)
class _Taken:
    """What this site took from one peer, from its receipts."""

    upto: int = 0
    records: int = 0
    newest_ms: int | None = None
    heard_ms: int | None = None
    delay_ms: int | None = None


@dataclass(frozen=True)
class SitesStatus(Result):
    site: str
    peers: tuple[PeerStatus, ...]
    conflicts: tuple[Conflict, ...]


@dataclass(frozen=True)
class Digest(Result):
    """The shared projections folded in hybrid-logical-clock order: equal at every site that
    holds the same shared records."""

    site: str
    records: int
    digest: str
    hashes: dict[str, str]  # each shared projection: the SHA-256 of its state


@dataclass(frozen=True)
class _Peer:
    name: str
    fingerprint: str
    cleared: tuple[str, ...]


class Sites:
    def __init__(
        self,
        session: Session,
        *,
        site_secret: Callable[[], Secret],
        identity_of: Callable[[str], Identity | None],
        positions: Positions,
        projections: Sequence[Projection[Any]],
        observe: Callable[[int], None],
    ) -> None:
        self._session = session
        self._secret = site_secret
        self._identity_of = identity_of
        self._positions = positions
        self._projections = d.shared_projections(projections)
        self._observe = observe
        # What the receipts say, folded up to log position ``_receipts_read``: each bundle
        # taken asks whether it was taken before, and re-reading every receipt for that made
        # taking a bundle cost as much as all taken before it.
        self._taken: dict[str, _Taken] = {}
        self._bundles: set[tuple[str, int, int]] = set()  # (origin, first, last) taken
        self._receipts_read = 0

    @property
    def site(self) -> str:
        return self._session.site_id

    # peers --------------------------------------------------------------------------------
    def add(self, name: str, cleared: Iterable[str]) -> PeerAdded:
        """Make ``name`` (a site whose card was imported) a peer, cleared for ``cleared``."""
        self._session.require_admin(f"add the peer site {name}")
        d.check_site(name)
        if name == self.site:
            raise UserInputError(f"{name} is this site")
        ident = self._identity_of(name)
        if ident is None or ident.role != SITE:
            raise UserInputError(
                f"{name} has no site card here: import it first "
                f"(sitroom keys import {name}.card.json --fingerprint ...)"
            )
        tracks = tuple(sorted({t.strip() for t in cleared if t.strip()}))
        for t in tracks:
            if "+" in t:
                raise UserInputError(f"clear {name} for each track of {t!r}, not their join")
        now = self._session.now_ms()
        self._session.append(
            [
                SITE_PEER.record(
                    {"name": name, "fingerprint": ident.fingerprint, "cleared": list(tracks)},
                    id=f"site.peer:{name}:{now}",
                    source="sitroom",
                    valid_from=now,
                    valid_to=now,
                )
            ],
            action=f"add the peer site {name}",
        )
        return PeerAdded(name, ident.fingerprint, tracks)

    def _peers(self) -> dict[str, _Peer]:
        peers: dict[str, _Peer] = {}
        for r in self._session.records(kinds=[SITE_PEER]):
            p = r.payload
            peers[str(p["name"])] = _Peer(
                str(p["name"]), str(p["fingerprint"]), tuple(p.get("cleared", ()))
            )
        return dict(sorted(peers.items()))

    def peer(self, name: str) -> PeerAdded:
        """A peer as it was added (NotFound if it is none)."""
        from sitroom.errors import NotFound

        p = self._peers().get(name)
        if p is None:
            raise NotFound("peer site", name, known=sorted(self._peers()))
        return PeerAdded(p.name, p.fingerprint, p.cleared)

    def _pinned(self, name: str) -> Identity | None:
        """The site card held for ``name``: the one its fingerprint was checked for, or the
        one a key transition it signed replaced it with (`keys import TRANSITION`)."""
        ident = self._identity_of(name)
        return ident if ident is not None and ident.role == SITE else None

    # syncing ------------------------------------------------------------------------------
    def sync(self, link: Link, *, limit: int = 64, wait_s: float = 0.05) -> Synced:
        """Send each peer what it has not had, then take what each sent (``limit`` bundles
        from each at most). A peer whose link is down is skipped and named in ``down``."""
        peers = self._peers()
        sent: dict[str, int] = {}
        received: dict[str, int] = {}
        refused: list[Refusal] = []
        down: list[str] = []
        for name, peer in peers.items():
            try:
                sent[name] = self._send(link, peer)
                received[name] = self._take(link, name, limit, wait_s, refused)
            except LinkDown:
                down.append(name)
        return Synced(sent, received, tuple(refused), tuple(down))

    def _send(self, link: Link, peer: _Peer) -> int:
        to = self._pinned(peer.name)
        if to is None:
            raise UserInputError(f"{peer.name}'s site card is no longer held here")
        positions = self._positions.load()
        was = positions.get(peer.name, Sent())
        upto = self._session.last_seq()
        if upto <= was.upto:
            return 0
        mine = self._outgoing(was.upto, upto, peer.cleared)
        secret = self._secret()
        count = 0
        for first, last, records in d.bundles(mine, was.upto + 1, upto):
            # Positions with nothing for this peer are passed over unsent: an empty bundle
            # would make the peer append a receipt, which is news for no one.
            if records:
                newest = hlc.wall_ms(max(int(r.recorded_time or 0) for r in records))
                was = Sent(last, was.records + len(records), newest)
                data = d.seal(secret, to, first, last, records)
                msg_id = d.message_id(self.site, peer.name, first, last, records)
                link.send(peer.name, data, msg_id, was)
                count += len(records)
            else:
                was = dataclasses.replace(was, upto=last)
            positions[peer.name] = was
            self._positions.save(positions)
        return count

    def _outgoing(self, after: int, upto: int, cleared: Sequence[str]) -> list[Record]:
        """This site's own shared records in ``after < seq <= upto`` that ``cleared`` allows."""
        out: list[Record] = []
        for batch in self._session.read(after_seq=after, upto_seq=upto, kinds=sorted(d.REPLICATED)):
            mine = batch.filter(pc.equal(batch.column("origin"), self.site))
            out.extend(r for r in mine.rows() if d.cleared(r.compartment, cleared))
        return out

    def _take(
        self,
        link: Link,
        origin: str,
        limit: int,
        wait_s: float,
        refused: list[Refusal],
    ) -> int:
        taken = 0
        for delivery in link.receive(origin, limit, wait_s):
            try:
                taken += self._accept(delivery)
            except Rejected as e:
                refused.append(self._refuse(delivery, e))
            delivery.ack()
        return taken

    def _accept(self, delivery: Delivery) -> int:
        origin = delivery.origin
        bundle = d.open_bundle(delivery.data, self._secret(), self._pinned(origin), delivery.origin)
        # A bundle taken already is known by its receipt, not by its place: after a take that
        # was not acknowledged, the link delivers again what it had delivered, after newer
        # bundles may have been taken; each must still be taken once.
        self._received()
        if (origin, bundle.first, bundle.last) in self._bundles:
            if delivery.redelivered:
                return 0  # taken before the crash that kept it from being acknowledged
            raise Rejected(
                "replayed",
                f"a bundle from {origin} of positions {bundle.first}-{bundle.last}, taken already",
            )
        if bundle.records:
            self._observe(max(bundle.times))
        out = self._session.append(
            [*bundle.records, d.receipt(bundle, self._session.now_ms())], action="take"
        )
        return sum(1 for r in out.records.column("kind").to_pylist() if r != SITE_RECEIPT)

    def _refuse(self, delivery: Delivery, e: Rejected) -> Refusal:
        import hashlib

        digest = hashlib.sha256(delivery.data).hexdigest()
        now = self._session.now_ms()
        self._session.append(
            [
                SITE_REFUSED.record(
                    {"site": delivery.origin, "reason": e.reason, "detail": str(e)},
                    id=f"site.refused:{delivery.origin}:{digest}",
                    source="sitroom",
                    valid_from=now,
                    valid_to=now,
                )
            ],
            action="refuse",
        )
        return Refusal(delivery.origin, e.reason, str(e))

    # reading ------------------------------------------------------------------------------
    def _received(self) -> dict[str, _Taken]:
        """Per origin: what this site took from it, from the receipts (read once each: this
        is asked for every bundle taken)."""
        last = self._session.last_seq()
        if last > self._receipts_read:
            for r in self._session.records(
                kinds=[SITE_RECEIPT], after_seq=self._receipts_read, upto_seq=last
            ):
                p = r.payload
                was = self._taken.get(p["from"], _Taken())
                heard = hlc.wall_ms(int(r.recorded_time or 0))
                newest = hlc.wall_ms(max(p["times"])) if p.get("times") else None
                self._taken[p["from"]] = _Taken(
                    max(was.upto, int(p["last"])),
                    was.records + len(p["ids"]),
                    max(filter(None, (was.newest_ms, newest)), default=None),
                    heard,
                    None if newest is None else heard - newest,
                )
                self._bundles.add((p["from"], int(p["first"]), int(p["last"])))
            self._receipts_read = last
        return dict(self._taken)

    def origin_times(self) -> dict[str, int]:
        """The time each received record's origin stamped it."""
        out: dict[str, int] = {}
        for r in self._session.records(kinds=[SITE_RECEIPT]):
            out.update(zip(r.payload["ids"], r.payload["times"], strict=True))
        return out

    def status(self, link: Link | None = None) -> SitesStatus:
        peers = self._peers()
        positions = self._positions.load()
        received = self._received()
        refused: dict[str, int] = {}
        for r in self._session.records(kinds=[SITE_REFUSED]):
            refused[r.payload["site"]] = refused.get(r.payload["site"], 0) + 1
        conflicts = self.conflicts()
        rows = []
        for name, peer in peers.items():
            pending: int | None = None
            latest: Sent | None = None
            connected: bool | None = None
            taken = received.get(name, _Taken())
            if link is not None:
                try:
                    pending = link.pending(name)
                    latest = link.latest(name) or Sent()
                    connected = True
                except LinkDown:
                    connected = False
            behind = behind_ms = None
            if latest is not None:
                behind = max(0, latest.records - taken.records)
                newest = latest.newest_ms or 0
                behind_ms = max(0, newest - (taken.newest_ms or 0)) if behind else 0
            sent = positions.get(name, Sent())
            to_send = len(self._outgoing(sent.upto, self._session.last_seq(), peer.cleared))
            rows.append(
                PeerStatus(
                    name,
                    peer.cleared,
                    connected,
                    sent.upto,
                    to_send,
                    taken.upto,
                    taken.records,
                    pending,
                    behind,
                    behind_ms,
                    taken.delay_ms,
                    taken.heard_ms,
                    refused.get(name, 0),
                    sum(1 for c in conflicts if name in c.sites),
                )
            )
        return SitesStatus(self.site, tuple(rows), conflicts)

    def conflicts(self) -> tuple[Conflict, ...]:
        """Claims on which credible records of different sites disagree: both kept, shown."""
        from sitroom.domain.claims import ClaimsProjection

        site_of: dict[str, str] = {}
        for batch in self._session.read(kinds=[CLAIM]):
            ids = batch.column("id").to_pylist()
            site_of.update(zip(ids, batch.column("origin").to_pylist(), strict=True))
        state = self._session.state(ClaimsProjection.name)
        now = self._session.now_ms()
        out = []
        for props in state.values():
            # Only a property claimed from two sites can be a conflict between sites: viewing
            # every property of every subject made each status() cost a fold of all claims.
            contested = [
                prop
                for prop, entries in props.items()
                if len({site_of.get(e["id"], "") for e in entries} - {""}) > 1
            ]
            if not contested:
                continue
            subject = next(iter(props.values()))[0]["subject"]
            for pv in view(state, subject, now, properties=contested):
                if not pv.conflict:
                    continue
                sites = sorted({site_of.get(c.id, "") for v in pv.values for c in v.claims} - {""})
                if len(sites) > 1:
                    values = tuple(orjson.dumps(v.value).decode() for v in pv.values)
                    out.append(Conflict(pv.subject, pv.property, values, tuple(sites)))
        return tuple(out)

    def digest(self, cleared: Sequence[str] | None = None) -> Digest:
        """This site's shared projections, folded in hybrid-logical-clock order; ``cleared``:
        of the records a site cleared for those tracks holds (to compare with its digest)."""
        import hashlib

        batches = list(self._session.read(kinds=sorted(d.REPLICATED)))
        batch = RecordBatch.concat(batches) if batches else RecordBatch.empty()
        if cleared is not None:
            comps = set(batch.column("compartment").to_pylist())
            keep = [c for c in comps if d.cleared(c, cleared)]
            batch = batch.filter(pc.is_in(batch.column("compartment"), pa.array(keep, pa.string())))
        ordered = d.in_fold_order(batch, self.origin_times())
        parts = d.converged(self._projections, ordered)
        whole = hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(parts.items())).encode())
        return Digest(self.site, len(ordered), whole.hexdigest(), parts)
