"""Witnessing: a site asks others to co-sign its tree head; a witness checks the head extends
the one it co-signed last, co-signs and keeps it; the site keeps what comes back.

    site:    request(for bern) ─> its tree head, signed, + a consistency proof from the head
                                  bern co-signed last (as the site's log recorded it)
    witness: cosign(request)   ─> site's card (pinned) ─> signature ─> proof from the last
                                  head it co-signed for the site ─> co-signs, records it
    site:    receive(cosigned) ─> bern's card (pinned) ─> it is this log's head ─> records it

Both sides keep each co-signed head as a ``witness.cosigned`` record, so the witness's own
(chained, checkpointed) log is the evidence of what it saw. `sitroom verify --witnessed`
(application/audit.py) compares a log with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sitroom.application.agreements_offline import read_card
from sitroom.application.keys import identity
from sitroom.application.results import Result
from sitroom.application.session import Session
from sitroom.domain.kinds import WITNESS_COSIGNED
from sitroom.domain.secure import merkle, witness
from sitroom.domain.secure.audit import LogHead
from sitroom.domain.secure.codec import b64, json_object
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.ledger import SECURE
from sitroom.domain.secure.witness import Cosigned, Request
from sitroom.errors import NotFound, SecureError, UserInputError

Statement = bytes | str | Mapping[str, Any]  # a file's text, or the JSON read
# Ask the witness (its card) at a desk's URL to co-sign a request: its answer.
Ask = Callable[[str, Identity, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class HeadRow(Result):
    """A co-signed tree head."""

    site: str
    witness: str
    seq: int
    size: int
    root: str
    at_ms: int

    @classmethod
    def of(cls, c: Cosigned) -> HeadRow:
        return cls(
            site=c.head.site,
            witness=c.witness,
            seq=c.head.seq,
            size=c.size,
            root=b64(c.root),
            at_ms=c.at_ms,
        )


@dataclass(frozen=True, kw_only=True)
class Requested(Result):
    """A request for witnesses: this site's head, and the proof it extends ``since``."""

    site: str
    seq: int
    size: int
    root: str
    since: int
    witness: str | None
    statement: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class CosignedHead(Result):
    """A head co-signed (by this site as witness) or received (from a witness)."""

    head: HeadRow
    recorded: bool  # False: the same head was co-signed or received before
    statement: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Witnessed(Result):
    """The newest co-signed head per witness and site, as this log records them."""

    heads: tuple[HeadRow, ...]


class Witnessing:
    def __init__(
        self,
        session: Session,
        *,
        site: str,
        site_secret: Callable[[], Secret],
        stored_tree: Callable[[], tuple[LogHead, merkle.Tree]],
        ask: Ask | None = None,
    ) -> None:
        self._s = session
        self._site = site
        self._secret = site_secret
        self._tree = stored_tree
        self._ask = ask

    def held(self) -> list[Cosigned]:
        """Every co-signed head this log records (as witness, and received as site)."""
        out = []
        for batch in self._s.read(kinds=[WITNESS_COSIGNED]):
            for r in batch.rows():
                try:
                    out.append(Cosigned.from_json(r.payload, what=f"record {r.id}"))
                except SecureError:
                    continue  # a malformed record is verify's to report, not a reason to stop
        return out

    def _last(self, by: str, site: str) -> Cosigned | None:
        return witness.newest(self.held()).get((by, site))

    def request(self, for_witness: str | None = None) -> Requested:
        """This site's tree head now, signed, with the consistency proof from the head
        ``for_witness`` co-signed last (none: a first request)."""
        if for_witness is not None and self._card(for_witness) is None:
            raise NotFound("witness", for_witness, known=self._known())
        head, tree = self._tree()
        if head.size == 0:
            raise UserInputError("the log is empty: there is no head to witness yet")
        last = None if for_witness is None else self._last(for_witness, self._site)
        since = 0 if last is None else last.size
        if since > tree.size:
            raise SecureError(
                f"{for_witness} co-signed a tree of {since:,} segments for this site, but the "
                f"log has {tree.size:,}: it was cut short (run `sitroom verify`)"
            )
        req = Request(head.sign(self._secret()), since, tuple(tree.consistency(since)))
        return Requested(
            site=self._site,
            seq=head.seq,
            size=head.size,
            root=b64(head.root),
            since=since,
            witness=for_witness,
            statement=req.to_json(),
        )

    def ask(self, by: str, url: str) -> CosignedHead:
        """Have ``by``'s desk at ``url`` co-sign this site's head now, over the site link,
        and keep what comes back (``Rejected`` with the witness's reason if it refuses)."""
        card = self._card(by)
        if card is None:
            raise NotFound("witness", by, known=self._known())
        if self._ask is None:
            raise UserInputError("this room cannot reach a witness's desk")
        answer = self._ask(url, card, self.request(by).statement)
        return self.receive(answer)

    def cosign(self, statement: Statement) -> CosignedHead:
        """As witness: co-sign another site's head if it extends the one co-signed last for
        that site (``Rejected`` with the reason otherwise), and record it."""
        body = json_object(statement, "a witness request")
        req = Request.from_json(body, what="the witness request")
        site = req.head.site
        if site == self._site:
            raise UserInputError("a site does not witness its own head: ask another site")
        card = self._card(site)
        if card is None:
            raise SecureError(
                f"site {site}'s card is not trusted here: import it with its fingerprint, "
                "read out of band (`sitroom keys import`), before witnessing its heads"
            )
        witness.check_request(req, card, self._last(self._site, site))
        done = witness.cosign(self._secret(), req.head, self._s.now_ms())
        return self._record(done, "co-sign a site's tree head")

    def receive(self, statement: Statement) -> CosignedHead:
        """As site: keep a head a witness co-signed, once its signature checks against the
        witness's pinned card and the head is this log's."""
        c = Cosigned.from_json(
            json_object(statement, "a co-signed head"), what="the co-signed head"
        )
        if c.head.site != self._site:
            raise UserInputError(f"that head is site {c.head.site}'s, not this site's")
        card = self._card(c.witness)
        fault = (
            f"witness {c.witness}'s card is not trusted here (import it first)"
            if card is None
            else witness.cosigned_fault(c, card)
        )
        if fault is not None:
            raise SecureError(f"the co-signed head is refused: {fault}")
        _, tree = self._tree()
        if c.size > tree.size or tree.root(c.size) != c.root:
            raise SecureError(
                f"the head {c.witness} co-signed (seq {c.head.seq:,}, {c.size:,} segments) is "
                "not this log's: run `sitroom verify`"
            )
        return self._record(c, "keep a witnessed tree head")

    def show(self, site: str | None = None) -> Witnessed:
        """The newest co-signed head per witness and site."""
        rows = [
            HeadRow.of(c)
            for c in witness.newest(self.held()).values()
            if site is None or c.head.site == site
        ]
        return Witnessed(heads=tuple(sorted(rows, key=lambda r: (r.site, r.witness))))

    def statement(self, site: str, by: str | None = None) -> Mapping[str, Any]:
        """The newest co-signed head of ``site`` (by ``by``), as a statement to hand over."""
        found = [
            c
            for (w, s), c in witness.newest(self.held()).items()
            if s == site and (by is None or w == by)
        ]
        if not found:
            raise NotFound("co-signed head of site", site)
        return max(found, key=lambda c: c.size).to_json()

    def _record(self, c: Cosigned, action: str) -> CosignedHead:
        # A site's act, signed with its key: an admin's to do, where there are users.
        appended = self._s.administer(action).append([c.record()], action=action).appended
        return CosignedHead(head=HeadRow.of(c), recorded=bool(appended), statement=c.to_json())

    def _card(self, name: str) -> Identity | None:
        return identity(self._s, name)

    def _known(self) -> list[str]:
        return sorted(self._s.state(SECURE)["identities"])


def pinned(
    statements: Sequence[Statement], cards: Sequence[Statement], *, site: str
) -> tuple[list[Cosigned], list[Identity]]:
    """Co-signed heads of ``site`` and the witnesses' cards to check them with, as a user gave
    them: each head must be this site's, and each witness's card given."""
    keys = [read_card(json_object(c, "a public card")) for c in cards]
    names = {k.name for k in keys}
    heads = []
    for i, body in enumerate(statements, 1):
        c = Cosigned.from_json(json_object(body, "a co-signed head"), what=f"co-signed head {i}")
        if c.head.site != site:
            raise UserInputError(
                f"co-signed head {i} is of site {c.head.site}, not this workspace's ({site})"
            )
        if c.witness not in names:
            raise UserInputError(
                f"co-signed head {i} is by witness {c.witness}: give its public card (--card), "
                "exchanged out of band, to check it against"
            )
        heads.append(c)
    return heads, keys
