"""Inbox keys: one-time X25519 keys a member publishes for epochs to be sealed to (in the
spirit of MLS KeyPackages, RFC 9420 §10).

An ``inbox.key`` record publishes one, signed with the member's identity key (so an issuer
seals to nothing a third party slipped into the log); its private half stays with the member,
sealed under the identity key, outside the workspace. An issuer seals each new epoch to the
member's lowest-numbered inbox key that no epoch took yet and that has not expired, published
under the member's current identity key; the member deletes the private half once it has
opened the epoch (reader.py), after which the log and the identity key no longer open it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sitroom.domain.kinds import INBOX_KEY
from sitroom.domain.records import Record
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.timeutil import MS_PER_DAY
from sitroom.errors import SecureError

KEY_BYTES = 32
DEFAULT_COUNT = 20  # published at a time
LIFETIME_MS = 90 * MS_PER_DAY  # an inbox key unused by then is not sealed to
LOW = 3  # an issuer warns when a member has fewer left than this


def new_inbox_key(random32: bytes) -> tuple[bytes, bytes]:
    """A key pair from 32 random bytes: (private, public), raw."""
    private = X25519PrivateKey.from_private_bytes(random32)
    return random32, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def inbox_record(me: Secret, key_id: int, public: bytes, *, now_ms: int) -> Record:
    """The ``inbox.key`` record publishing ``public`` as ``me``'s inbox key ``key_id``."""
    payload: dict[str, Any] = {
        "name": me.name,
        "fingerprint": me.identity.fingerprint,
        "id": key_id,
        "public": b64(public),
        "created_ms": now_ms,
        "expires_ms": now_ms + LIFETIME_MS,
    }
    payload["signature"] = b64(me.sign(canonical(payload)))
    return INBOX_KEY.record(
        payload,  # type: ignore[arg-type]  # the TypedDict's fields, built above
        id=f"{INBOX_KEY}:{me.name}:{key_id}",
        source="sitroom",
        valid_from=now_ms,
        valid_to=payload["expires_ms"],
    )


def _signed_by(entry: Mapping[str, Any], member: Identity) -> bool:
    body = {
        k: entry[k] for k in ("name", "fingerprint", "id", "public", "created_ms", "expires_ms")
    }
    try:
        sig = unb64(str(entry["signature"]), what="inbox key signature", size=64)
    except SecureError:
        return False
    return (
        member.signed(str(entry["name"]), str(entry["fingerprint"]), canonical(body), sig) is None
    )


def usable(
    published: Mapping[str, Mapping[str, Any]],
    member: Identity,
    now_ms: int,
    taken: frozenset[int] | set[int] = frozenset(),
) -> list[tuple[int, bytes]]:
    """``member``'s inbox keys an epoch may be sealed to now, lowest id first: published under
    its current key, signed by it, not consumed (nor ``taken`` in the same append), not
    expired. ``published`` is the ``secure`` projection's ``inbox[member]``."""
    out = []
    for entry in published.values():
        key_id = int(entry["id"])
        if entry.get("consumed") or key_id in taken or entry["expires_ms"] <= now_ms:
            continue
        if entry["fingerprint"] != member.fingerprint or not _signed_by(entry, member):
            continue
        out.append((key_id, unb64(str(entry["public"]), what="inbox key", size=KEY_BYTES)))
    return sorted(out)


def next_id(published: Mapping[str, Mapping[str, Any]]) -> int:
    return max((int(e["id"]) for e in published.values()), default=0) + 1
