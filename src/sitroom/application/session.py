"""A session: who acts on a room, what they may see of it, and what they may do.

Every read and every write of a room goes through a session. There is one engine per room —
one fold of the log — and a session *scopes* it: records of the compartments its user is not
cleared for are left out of every log read, every projection state it hands out is restricted
to what the user may see (:func:`~sitroom.domain.projection.restricted`), and every answer
says how many records it could not show (``hidden``, in its provenance). Writes are checked —
the role may write, every record's compartment is one the user is cleared for — and a refusal
is recorded as an ``access.denied`` record, then raised.

A room with no users is single-user: everything is visible and nothing is checked. Once its
first user exists (always an admin), every person acts as a user. Roles: ``viewer`` reads;
``analyst`` reads and writes in the compartments they are cleared for; ``admin`` also manages
users, clearances and keys. An admin is *not* cleared for every compartment by being one: they
grant themselves a clearance like anyone, and the grant is on the record. Desks and followed
feeds act as the site itself, which sees everything (:meth:`Session.site`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Unpack

import pyarrow as pa
import pyarrow.compute as pc

from sitroom.application.engine import SITROOM_SOURCE, AppendOutcome, Engine, Ticked
from sitroom.application.ports import ReadFilters
from sitroom.domain import hlc
from sitroom.domain.kinds import ACCESS_DENIED
from sitroom.domain.projection import JOINT, restricted
from sitroom.domain.provenance import Provenance
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.authorship import signature_record
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.ledger import SECURE, clearances, current_identity
from sitroom.domain.summary import hidden
from sitroom.domain.wording import article
from sitroom.errors import AccessDenied, AuthError, UserInputError

ADMIN, ANALYST, VIEWER = "admin", "analyst", "viewer"
ROLES = (ADMIN, ANALYST, VIEWER)
WRITERS = (ADMIN, ANALYST)


@dataclass(frozen=True)
class Access:
    """Who is acting and what they may see. ``everything``: the single-user room, or the site
    itself (desks, followed feeds)."""

    user: str | None
    role: str
    compartments: frozenset[str]
    everything: bool = False

    def sees(self, compartment: str) -> bool:
        """A joint compartment (a finding about several tracks: ``joint``) is seen by whoever
        is cleared for every one of them."""
        if self.everything or compartment == "":
            return True
        return all(part in self.compartments for part in compartment.split(JOINT))


EVERYTHING = Access(None, ADMIN, frozenset(), everything=True)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserInputError(f"a user is an {', '.join(ROLES)}, not {role!r}")
    return role


@dataclass(frozen=True)
class AsOf:
    """The moment an answer describes: a wall time and the last log position recorded by it."""

    wall: int
    seq: int


def _check_current(state: dict[str, Any], signer: Secret) -> None:
    """AuthError if ``signer`` is a key its owner's published identity no longer is (replaced:
    a stolen copy, or a token that wrapped it, proves nothing)."""
    current = current_identity(state, signer.name)
    fingerprint = signer.identity.fingerprint
    if current is not None and current["fingerprint"] != fingerprint:
        raise AuthError(
            f"the key that opened is not {signer.name}'s any more ({fingerprint} was replaced "
            f"by {current['fingerprint']}): log in again with the new passphrase",
            user=signer.name,
        )


def denial(user: str | None, action: str, reason: str, compartment: str, now_ms: int) -> Record:
    """An ``access.denied`` record: in the compartment refused, so those cleared for it see
    who tried."""
    return ACCESS_DENIED.record(
        id=f"{ACCESS_DENIED}:{user}:{now_ms}:{hashlib.sha256(action.encode()).hexdigest()[:8]}",
        source=SITROOM_SOURCE,
        valid_from=now_ms,
        compartment=compartment,
        payload={"user": user, "action": action, "reason": reason},
    )


class Session:
    """One user's (or the site's) scoped reads and checked writes on a room's engine."""

    def __init__(self, engine: Engine, access: Access, signer: Secret | None = None) -> None:
        self._engine = engine
        self.access = access
        # The acting person's own key, unlocked: every append of theirs is signed with it.
        self._signer = signer

    @classmethod
    def of(cls, engine: Engine, user: str | None, signer: Secret | None = None) -> Session:
        """The session of ``user`` (in a room without users: everything, whoever asks), who
        signs what they write with ``signer``, their own key (proof they are who they say
        comes first: :mod:`sitroom.application.auth`)."""
        if signer is not None and signer.name != user:
            raise AccessDenied(f"{signer.name}'s key does not sign for {user}", user=user)
        state = engine.states[SECURE]
        if signer is not None:
            _check_current(state, signer)
        users = state["users"]
        if not users:
            access = EVERYTHING if user is None else Access(user, ADMIN, frozenset(), True)
            return cls(engine, access, signer)
        if user is None:
            raise AccessDenied("this room has users: say who you are", action="act")
        u = users.get(user)
        if u is None or u.get("removed"):
            raise AccessDenied(f"{user} is not a user of this room", user=user, action="act")
        access = Access(user, str(u["role"]), frozenset(clearances(state, user)))
        return cls(engine, access, signer)

    @classmethod
    def site(cls, engine: Engine) -> Session:
        """The site itself: a desk or a followed feed records what arrives for every track."""
        return cls(engine, EVERYTHING)

    # who and when -------------------------------------------------------------------------
    @property
    def user(self) -> str | None:
        return self.access.user

    @property
    def signer(self) -> Secret | None:
        """The acting person's key, which signs their appends (None: the site, or a user whose
        writes go unsigned, as in a room that predates signatures)."""
        return self._signer

    @property
    def site_id(self) -> str:
        return self._engine.site

    def sees(self, compartment: str) -> bool:
        return self.access.sees(compartment)

    def now_ms(self) -> int:
        return self._engine.clock.now_ms()

    # reading ------------------------------------------------------------------------------
    def at(self, as_of_ms: int | None = None) -> AsOf:
        """Now, or the moment ``as_of_ms``: what the log held then."""
        if as_of_ms is None:
            return AsOf(self.now_ms(), self._engine.log.last_seq())
        return AsOf(as_of_ms, self._engine.log.seq_as_of(hlc.upper_bound(as_of_ms)))

    def last_seq(self) -> int:
        return self._engine.log.last_seq()

    def states(self, names: Sequence[str], at: AsOf | None = None) -> dict[str, Any]:
        """Projection states as of ``at`` (default: now), restricted to what this user sees.
        The live states are the engine's: read them, never change them."""
        seq = None if at is None else at.seq
        raw = self._engine.view_many(names, seq)
        if self.access.everything:
            return raw
        projections = self._engine.projections
        return {n: restricted(projections[n], raw[n], self.sees) for n in names}

    def state(self, name: str, at: AsOf | None = None) -> Any:
        return self.states([name], at)[name]

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        """The records this user may see that match every filter, in log order, in pages."""
        for page in self._engine.read(page_size=page_size, **filters):
            page = self._visible(page)
            if len(page):
                yield page

    def records(self, **filters: Unpack[ReadFilters]) -> list[Record]:
        """The same records, as rows: for reads of a few."""
        return [r for page in self.read(**filters) for r in page.rows()]

    def count(self, **filters: Unpack[ReadFilters]) -> int:
        if self.access.everything:
            return self._engine.log.count(**filters)
        return sum(len(b) for b in self.read(**filters))

    def hidden(self, at: AsOf, kinds: Sequence[str] | None = None) -> int:
        """How many records of ``kinds`` (None: any) recorded by ``at`` this user may not see."""
        if self.access.everything:
            return 0
        summary = self._engine.view_many(["summary"], at.seq)["summary"]
        return hidden(summary, self.sees, kinds)

    def provenance(self, at: AsOf, newest: int | None, kinds: Sequence[str] | None) -> Provenance:
        """How fresh an answer as of ``at`` is: its newest evidence, how many relevant records
        came after it, and how many it could not show this user."""
        newer = self.count(after_seq=at.seq, kinds=kinds)
        return Provenance(at.wall, at.seq, newest, newer, self.hidden(at, kinds))

    # writing ------------------------------------------------------------------------------
    def append(
        self, records: RecordBatch | Iterable[Record], *, action: str | None = None
    ) -> AppendOutcome:
        """Append what this user may write (else record the refusal and raise): what they
        see of the outcome — the records, what reactors derived and the alerts raised."""
        batch = records if isinstance(records, RecordBatch) else RecordBatch.from_records(records)
        if not self.access.everything:
            kinds = sorted(set(batch.column("kind").to_pylist()))
            self.check_write(batch, action or "append " + ", ".join(kinds))
        signer = self._signer
        out = self._engine.append(
            batch, None if signer is None else lambda new: signature_record(signer, new)
        )
        if self.access.everything:
            return out
        return AppendOutcome(
            self._visible(out.records),
            out.duplicates,
            [r for r in out.alerts if self.sees(r.compartment)],
            [r for r in out.derived if self.sees(r.compartment)],
        )

    def check_write(self, batch: RecordBatch, action: str) -> None:
        """Refuse (and record the refusal) what this user may not write."""
        a = self.access
        if a.everything:
            return
        if a.role not in WRITERS:
            self.deny(action, f"{a.user} is a {a.role}: viewers do not write", "")
        outside = sorted(set(batch.column("compartment").to_pylist()) - {"", *a.compartments})
        if outside:
            self.deny(action, f"{a.user} is not cleared for {', '.join(outside)}", outside[0])

    def require(self, role: str, action: str) -> None:
        """Refuse (and record) ``action`` unless this user has ``role``."""
        if self.access.role != role and not self.access.everything:
            who = f"{self.user} is {article(self.access.role)}, not {article(role)}"
            self.deny(action, who, "")

    def require_admin(self, action: str) -> None:
        self.require(ADMIN, action)

    def deny(self, action: str, reason: str, compartment: str) -> NoReturn:
        self._engine.append([denial(self.user, action, reason, compartment, self.now_ms())])
        raise AccessDenied(
            f"{reason}; refused and recorded",
            user=self.user,
            action=action,
            compartment=compartment,
        )

    def tick(self, now_ms: int | None = None) -> Ticked:
        """Let clock-driven reactors and detectors look at the time: what they made that this
        user may see."""
        made = self._engine.tick(now_ms)
        return Ticked(
            [r for r in made.derived if self.sees(r.compartment)],
            [r for r in made.alerts if self.sees(r.compartment)],
        )

    def next_due(self, now_ms: int) -> int | None:
        return self._engine.next_due(now_ms)

    def _visible(self, batch: RecordBatch) -> RecordBatch:
        if self.access.everything or not len(batch):
            return batch
        # The compartments a page holds are few: each is judged once, then the rows at once.
        held = pc.unique(batch.column("compartment")).to_pylist()
        allowed = pa.array([c for c in held if self.access.sees(c)], pa.string())
        return batch.filter(pc.is_in(batch.column("compartment"), allowed))

    def replacing_own_key(self, new: Secret) -> Session:
        """The session in which this user, proven, replaces their own key with ``new``: any
        role may (a viewer's key can be stolen too); unscoped, as an admin act is, since the
        tracks they are cleared for are re-keyed for all their members; signed by the new key,
        which the act itself publishes."""
        if self._signer is None or new.name != self.user:
            raise AccessDenied(
                f"only {new.name}, proven, replaces their own key",
                user=self.user,
                action=f"replace the keys of {new.name}",
            )
        return Session(self._engine, EVERYTHING, new)

    def adopt_key(self, new: Secret) -> None:
        """Sign with ``new`` from now on: this user's key, just replaced (the old one's
        signatures no longer count)."""
        if self._signer is None or new.name != self.user:
            raise AccessDenied(f"{new.name}'s key does not sign for {self.user}", user=self.user)
        self._signer = new

    def publishing_own(self, secret: Secret) -> Session:
        """The session in which this user publishes keys of their own (inbox keys) signed by
        ``secret``, their key unlocked (which proves them): any role may, as for replacing
        one's own key; unscoped, since inbox keys are general."""
        if secret.name != self.user:
            raise AccessDenied(
                f"only {secret.name} publishes their own keys",
                user=self.user,
                action=f"publish keys for {secret.name}",
            )
        return Session(self._engine, EVERYTHING, secret)

    def administer(self, action: str) -> Session:
        """Refuse (and record) ``action`` unless this user is an admin; else the session an
        admin act runs in. Users, clearances and track keys are managed for compartments the
        admin need not be cleared for (granting someone a track re-keys it, sealed to its
        members), so that session reads unscoped and writes unchecked, as the site does. Use it
        for the admin act alone, and hand back only what the act itself made."""
        self.require_admin(action)
        if self.access.everything:
            return self
        # Unscoped as the site is, but the act is still the admin's, signed with their key.
        return Session(self._engine, EVERYTHING, self._signer)

    def outside(self, ids: Sequence[str]) -> str | None:
        """The compartment of a record among ``ids`` that the log holds but this user may not
        see (None: none is hidden). It says only where such a record is — the compartment a
        refusal is recorded in (:meth:`deny`) — never what it holds."""
        if self.access.everything or not ids:
            return None
        for page in self._engine.read(ids=list(ids)):
            for compartment in page.column("compartment").to_pylist():
                if not self.sees(compartment):
                    return str(compartment)
        return None
