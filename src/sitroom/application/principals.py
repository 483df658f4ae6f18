"""Principals: identities, users and their clearances, and the track keys that follow them.

Every change of who is cleared for a track re-keys it: a grant or a revocation makes a new
epoch, sealed to the track's members after the change and nobody else. A newcomer therefore
cannot read the epochs before they joined, and someone removed cannot read anything sealed
after they left. The site that issues an epoch is always one of its members (it seals and
opens the track's messages on its desk).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, cast

from sitroom.application.access import (
    ADMIN,
    CompartmentView,
    check_role,
)
from sitroom.application.engine import SITROOM_SOURCE, Engine
from sitroom.domain.kinds import (
    IDENTITY,
    KEY_EPOCH,
    USER,
    USER_GRANT,
    USER_REVOKE,
    IdentityPayload,
)
from sitroom.domain.secure.epochs import SECRET_BYTES, check_epoch_signature, epoch_record
from sitroom.domain.secure.identity import Identity, Secret, check_name, identity_from_record
from sitroom.domain.secure.ledger import SECURE, cleared, current_identity
from sitroom.domain.secure.wear import Policy
from sitroom.errors import SecureError, UserInputError

RandomBytes = Callable[[int], bytes]


def writer_of(engine: Engine) -> Engine:
    """The full engine behind a user's view: where admin actions are written."""
    return engine.writer if isinstance(engine, CompartmentView) else engine


def require_admin(engine: Engine, action: str) -> None:
    if isinstance(engine, CompartmentView):
        engine.require(ADMIN, action)


def identity(engine: Engine, name: str) -> Identity | None:
    """A published identity, trusted as the log holds it (its self-signature checked)."""
    found = current_identity(writer_of(engine).states[SECURE], name)
    return None if found is None else identity_from_record(found)


def import_card(engine: Engine, payload: Mapping[str, Any], fingerprint: str | None) -> Identity:
    """Publish another party's identity (from its ``identity`` record or card file) once its
    self-signature verifies and its fingerprint is the one its owner read out to you."""
    require_admin(engine, "import an identity")
    ident = identity_from_record(dict(payload))
    if fingerprint is None:
        raise UserInputError(
            f"compare {ident.name}'s fingerprint with its owner out of band, then pass it with "
            f"--fingerprint: {ident.fingerprint}"
        )
    if fingerprint.replace(" ", "").lower() != ident.fingerprint.replace(" ", ""):
        raise SecureError(
            f"{ident.name}'s fingerprint is {ident.fingerprint}, not {fingerprint}: not imported"
        )
    known = identity(engine, ident.name)
    if known is not None and known != ident:
        raise SecureError(
            f"{ident.name} is already known here with another key ({known.fingerprint}); "
            "refusing to replace it silently"
        )
    engine.append(
        [
            IDENTITY.record(
                id=f"identity:{ident.name}:{ident.fingerprint.replace(' ', '')[:16]}",
                source=f"import:{ident.name}",
                valid_from=engine.clock.now_ms(),
                payload=cast(IdentityPayload, dict(payload)),  # checked above
            )
        ]
    )
    return ident


def export_epochs(engine: Engine, track: str) -> dict[str, Any]:
    """A track's epoch records (each copy of its secret sealed to one member), for the other
    sites among its members to import: nothing in it opens without a member's private key."""
    epochs = writer_of(engine).states[SECURE]["epochs"].get(track)
    if not epochs:
        raise UserInputError(f"track {track!r} has no keys to export")
    drop = ("record", "since")
    return {
        "format": "sitroom-epochs/1",
        "epochs": [{k: v for k, v in e.items() if k not in drop} for e in epochs],
    }


def import_epochs(engine: Engine, bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Record another site's epochs of a track, each once its issuer's signature verifies
    against that site's identity, imported and verified here before."""
    require_admin(engine, "import track keys")
    records, out = [], []
    for p in bundle.get("epochs") or []:
        issuer = identity(engine, str(p.get("issuer")))
        if issuer is None:
            raise SecureError(
                f"epoch {p.get('epoch')} of {p.get('track')} was issued by {p.get('issuer')}, "
                "whose identity is not imported here (sitroom keys import CARD --fingerprint)"
            )
        check_epoch_signature(p, issuer)
        records.append(
            KEY_EPOCH.record(
                id=f"{KEY_EPOCH}:{p['track']}:{p['epoch']}",
                source=f"import:{issuer.name}",
                valid_from=int(p["created_ms"]),
                valid_to=int(p["expires_ms"]),
                compartment=str(p["track"]),
                payload=dict(p),
            )
        )
        out.append({"track": p["track"], "epoch": p["epoch"], "issuer": issuer.name})
    if not records:
        raise UserInputError("the bundle holds no epochs")
    writer_of(engine).append(records)
    return out


def add_user(engine: Engine, name: str, role: str, *, by: str | None) -> dict[str, Any]:
    """A local user with a role. The first user of a workspace must be an admin: from then
    on, access control is on."""
    require_admin(engine, f"add user {name}")
    check_name(name)
    check_role(role)
    state = writer_of(engine).states[SECURE]
    first = not state["users"]
    if first and role != ADMIN:
        raise UserInputError(
            "the first user of a workspace is its admin (--role admin): once a user exists, "
            "every command acts as one"
        )
    if identity(engine, name) is None:
        raise SecureError(f"{name} has no identity yet: create their keys first")
    now = engine.clock.now_ms()
    record = USER.record(
        id=f"{USER}:{name}:{role}:{now}",
        source=SITROOM_SOURCE,
        valid_from=now,
        payload={"name": name, "role": role, "by": by},
    )
    writer_of(engine).append([record])
    return {"user": name, "role": role, "first": first}


def _tracks(engine: Engine) -> Mapping[str, Any]:
    tracks: Mapping[str, Any] = writer_of(engine).states["tracks"]["tracks"]
    return tracks


def change_clearance(
    engine: Engine,
    principal: str,
    compartment: str,
    *,
    grant: bool,
    by: str | None,
    issuer: Secret,
    policy: Policy,
    aead: str,
    random_bytes: RandomBytes = os.urandom,
) -> dict[str, Any]:
    """Grant or revoke a clearance; for a track, re-key it for its members after the change."""
    verb = "grant" if grant else "revoke"
    require_admin(engine, f"{verb} {principal} {compartment}")
    if not compartment:
        raise UserInputError("name a compartment: a track id or a marking such as TLP:RED")
    w = writer_of(engine)
    state = w.states[SECURE]
    if identity(engine, principal) is None:
        raise UserInputError(
            f"{principal} is neither a user nor an imported identity here "
            "(sitroom user add, or sitroom keys import)"
        )
    holders = cleared(state, compartment)
    if grant == (principal in holders):
        raise UserInputError(
            f"{principal} is {'already' if grant else 'not'} cleared for {compartment}"
        )
    now = w.clock.now_ms()
    kind = USER_GRANT if grant else USER_REVOKE
    record = kind.record(
        id=f"{kind}:{compartment}:{principal}:{now}",
        source=SITROOM_SOURCE,
        valid_from=now,
        compartment=compartment,
        payload={"principal": principal, "compartment": compartment, "by": by},
    )
    w.append([record])
    out: dict[str, Any] = {"principal": principal, "compartment": compartment, "change": verb}
    if compartment in _tracks(engine):
        change = f"{'+' if grant else '-'} {principal}"
        out["epoch"] = rotate(
            engine,
            compartment,
            issuer=issuer,
            policy=policy,
            aead=aead,
            reason=f"members changed: {change}",
            random_bytes=random_bytes,
        )
    return out


def rotate(
    engine: Engine,
    track: str,
    *,
    issuer: Secret,
    policy: Policy,
    aead: str,
    reason: str,
    random_bytes: RandomBytes = os.urandom,
) -> dict[str, Any]:
    """A new epoch of ``track``, sealed to whoever is cleared for it now (and the issuer)."""
    require_admin(engine, f"rotate the keys of {track}")
    w = writer_of(engine)
    if track not in _tracks(engine):
        known = ", ".join(sorted(_tracks(engine))) or "none yet"
        raise UserInputError(f"no track {track!r} (tracks: {known})")
    state = w.states[SECURE]
    names = {*cleared(state, track), issuer.name}
    members = [m for m in (identity(engine, n) for n in sorted(names)) if m is not None]
    epochs = state["epochs"].get(track, [])
    number = (epochs[-1]["epoch"] + 1) if epochs else 1
    secret = random_bytes(SECRET_BYTES)
    record = epoch_record(
        track,
        number,
        secret,
        members,
        issuer,
        now_ms=w.clock.now_ms(),
        cryptoperiod_ms=policy.cryptoperiod_ms,
        aead=aead,
        reason=reason,
    )
    w.append([record])
    return {
        "track": track,
        "epoch": number,
        "members": sorted(m.name for m in members),
        "expires_ms": record.payload["expires_ms"],
        "reason": reason,
    }
