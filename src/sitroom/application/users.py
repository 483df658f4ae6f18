"""Users as a room knows them: local users with a role, the clearances of users and imported
identities (endpoints), and the track keys that follow them.

The first user of a room is its admin: from then on, every person acts as a user, and only an
admin adds users, grants and revokes clearances. A grant or a revocation for a track re-keys
it: a new epoch sealed to its members after the change (:mod:`sitroom.application.keys`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.keys import EpochIssued, Keys, KeysMade, identity
from sitroom.application.ports import Passphrase
from sitroom.application.results import Answer, Result
from sitroom.application.session import ADMIN, ANALYST, Session, check_role
from sitroom.domain.kinds import SECURE_KINDS, USER, USER_GRANT, USER_REVOKE
from sitroom.domain.projection import JOINT
from sitroom.domain.secure.identity import PERSON, check_name
from sitroom.domain.secure.ledger import SECURE, clearances, cleared, current_identity
from sitroom.domain.timeutil import iso
from sitroom.errors import NotFound, UserInputError


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class UserAdded(Result):
    user: str
    role: str
    first: bool  # the room's first user: from now on, everyone acts as a user
    keys: KeysMade | None  # the keys made for them (None: they had keys)


@dataclass(frozen=True, kw_only=True)
class ClearanceChanged(Result):
    principal: str
    compartment: str
    change: str  # "grant" or "revoke"
    epoch: EpochIssued | None  # a track is re-keyed for its members after the change


@dataclass(frozen=True, kw_only=True)
class UserRow(Result):
    name: str
    role: str  # admin, analyst, viewer; or "endpoint (site)" for an imported identity
    endpoint: bool
    clearances: tuple[str, ...]
    fingerprint: str | None
    since: str


@dataclass(frozen=True, kw_only=True)
class UserList(Answer):
    users: tuple[UserRow, ...]


# the service ------------------------------------------------------------------------------
class Users:
    """Local users, their roles and clearances."""

    def __init__(self, session: Session, keys: Keys) -> None:
        self._s = session
        self._keys = keys

    def add(
        self, name: str, *, role: str = ANALYST, passphrase: Passphrase | None = None
    ) -> UserAdded:
        """Add a user with a role, making their keys (under ``passphrase``) if they have none.
        The first user is the admin: from then on, access control is on."""
        admin = self._s.administer(f"add user {name}")
        check_name(name)
        check_role(role)
        first = not admin.state(SECURE)["users"]
        if first and role != ADMIN:
            raise UserInputError(
                "the first user of a room is its admin: once a user exists, everyone acts as one"
            )
        made = None
        if identity(admin, name) is None:  # keys saved but never published are published now
            made = self._keys.create(admin, name, PERSON, passphrase=passphrase)
        now = admin.now_ms()
        admin.append(
            [
                USER.record(
                    id=f"{USER}:{name}:{role}:{now}",
                    source=SITROOM_SOURCE,
                    valid_from=now,
                    payload={"name": name, "role": role, "by": self._s.user},
                )
            ]
        )
        return UserAdded(user=name, role=role, first=first, keys=made)

    def grant(self, principal: str, compartment: str) -> ClearanceChanged:
        """Clear a user or an imported identity for a compartment (a track id or a marking
        such as TLP:RED); a track is re-keyed to include them."""
        return self._change(principal, compartment, grant=True)

    def revoke(self, principal: str, compartment: str) -> ClearanceChanged:
        """Withdraw a clearance; a track is re-keyed without them (they read nothing after)."""
        return self._change(principal, compartment, grant=False)

    def _change(self, principal: str, compartment: str, *, grant: bool) -> ClearanceChanged:
        verb = "grant" if grant else "revoke"
        admin = self._s.administer(f"{verb} {principal} {compartment}")
        if not compartment:
            raise UserInputError("name a compartment: a track id or a marking such as TLP:RED")
        if JOINT in compartment:
            raise UserInputError(
                f"{compartment!r} is a joint compartment (what concerns several tracks): "
                f"whoever is cleared for each of {', '.join(compartment.split(JOINT))} reads it; "
                "grant them one by one"
            )
        state = admin.state(SECURE)
        if identity(admin, principal) is None:
            raise NotFound("identity", principal, known=sorted(state["identities"]))
        holders = cleared(state, compartment)
        if grant == (principal in holders):
            already = "already" if grant else "not"
            raise UserInputError(f"{principal} is {already} cleared for {compartment}")
        now = admin.now_ms()
        kind = USER_GRANT if grant else USER_REVOKE
        record = kind.record(
            id=f"{kind}:{compartment}:{principal}:{now}",
            source=SITROOM_SOURCE,
            valid_from=now,
            compartment=compartment,
            payload={"principal": principal, "compartment": compartment, "by": self._s.user},
        )
        admin.append([record])
        epoch = None
        if compartment in admin.state("tracks")["tracks"]:
            change = f"{'+' if grant else '-'} {principal}"
            epoch = self._keys.issue(admin, compartment, reason=f"members changed: {change}")
        return ClearanceChanged(
            principal=principal, compartment=compartment, change=verb, epoch=epoch
        )

    def list(self, *, as_of_ms: int | None = None) -> UserList:
        """Users and endpoints (imported identities), their roles and the clearances the
        reader may see; as of a moment."""
        s = self._s
        at = s.at(as_of_ms)
        state = s.state(SECURE, at)
        rows = []
        for name, u in sorted(state["users"].items()):
            ident = current_identity(state, name)
            rows.append(
                UserRow(
                    name=name,
                    role=str(u["role"]),
                    endpoint=False,
                    clearances=tuple(clearances(state, name)),
                    fingerprint=ident["fingerprint"] if ident else None,
                    since=iso(u["since"]) or "",
                )
            )
        for name in sorted(n for n in state["identities"] if n not in state["users"]):
            ident = current_identity(state, name)
            assert ident is not None
            rows.append(
                UserRow(
                    name=name,
                    role=f"endpoint ({ident['role']})",
                    endpoint=True,
                    clearances=tuple(clearances(state, name)),
                    fingerprint=ident["fingerprint"],
                    since=iso(ident["since"]) or "",
                )
            )
        return UserList(users=tuple(rows), provenance=s.provenance(at, None, list(SECURE_KINDS)))
