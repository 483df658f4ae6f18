"""Track epoch keys: one secret per track and epoch, sealed to each cleared member.

A track's messages are protected by its current *epoch*: 32 random bytes (drawn at the edge
and passed in) that nobody but the epoch's members can recover. The secret is sealed to each
member's X25519 key with HPKE (RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
ChaCha20-Poly1305, from ``cryptography``), with the track, the epoch and the member bound in as
HPKE's ``info``; the ``key.epoch`` record carries every sealed copy and is signed by the site
that issued it. A sealed copy for one track therefore never opens as another track's key, and a
member removed at a rotation gets no copy of the next epoch: what is sealed after it cannot be
read with anything that member ever held (forward secrecy across epochs).

Message keys are never the epoch secret itself: each sender's key is derived from it with
HKDF-SHA256 whose ``info`` binds the track, the epoch, the sender and the AEAD, so each key is
used by one sender only and its use can be counted against the AEAD's limits (see wear.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitroom.domain.kinds import KEY_EPOCH
from sitroom.domain.records import Record
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.errors import Rejected, SecureError, UserInputError

AES_256_GCM = "aes-256-gcm"
CHACHA20_POLY1305 = "chacha20-poly1305"
AEADS: dict[str, type[AESGCM] | type[ChaCha20Poly1305]] = {
    AES_256_GCM: AESGCM,
    CHACHA20_POLY1305: ChaCha20Poly1305,
}
SECRET_BYTES = 32

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def check_aead(name: str) -> str:
    if name not in AEADS:
        raise UserInputError(f"unknown AEAD {name!r}: use {' or '.join(AEADS)}")
    return name


def _seal_info(track: str, epoch: int, member: Identity, inbox: int | None = None) -> bytes:
    info: dict[str, Any] = {
        "use": "sitroom epoch key",
        "track": track,
        "epoch": epoch,
        "member": member.name,
        "fingerprint": member.fingerprint,
    }
    if inbox is not None:  # a copy sealed to an inbox key names it: it opens as no other's
        info["inbox"] = inbox
    return canonical(info)


def _sealed_copy(
    track: str, epoch: int, secret: bytes, m: Identity, inbox: tuple[int, bytes] | None
) -> dict[str, Any]:
    if inbox is None:
        sealed = _SUITE.encrypt(secret, m.kex, info=_seal_info(track, epoch, m))
        return {"fingerprint": m.fingerprint, "sealed": b64(sealed)}
    key_id, public = inbox
    to = X25519PublicKey.from_public_bytes(public)
    sealed = _SUITE.encrypt(secret, to, info=_seal_info(track, epoch, m, key_id))
    return {"fingerprint": m.fingerprint, "sealed": b64(sealed), "inbox": key_id}


def inbox_of(payload: Mapping[str, Any], name: str) -> int | None:
    """The id of the inbox key ``name``'s copy of the epoch is sealed to (None: its identity
    key, or no copy)."""
    found = payload["members"].get(name, {}).get("inbox")
    return None if found is None else int(found)


@functools.lru_cache(maxsize=256)
def message_key(secret: bytes, track: str, epoch: int, sender: str, aead: str) -> bytes:
    """The key ``sender`` seals the track's messages with in this epoch (kept for the life of
    the process, as the epoch secret it is derived from is)."""
    info = canonical(
        {
            "use": "sitroom message key",
            "track": track,
            "epoch": epoch,
            "sender": sender,
            "aead": aead,
        }
    )
    return HKDF(hashes.SHA256(), 32, None, info).derive(secret)


def record_key(secret: bytes, track: str, epoch: int) -> bytes:
    """The key the track's records are sealed under at rest in this epoch (at_rest.py): one
    per track and epoch, not a sender chain — records are the room's state, folded again by
    every process that holds the epoch, so their key is kept as long as the log is read."""
    info = canonical({"use": "sitroom records at rest", "track": track, "epoch": epoch})
    return HKDF(hashes.SHA256(), 32, None, info).derive(secret)


@dataclass(frozen=True)
class Epoch:
    """A ``key.epoch`` record's payload, read."""

    track: str
    epoch: int
    aead: str
    created_ms: int
    expires_ms: int
    members: Mapping[str, Mapping[str, str]]  # name -> {fingerprint, sealed}
    issuer: str
    reason: str

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Epoch:
        return cls(
            str(p["track"]),
            int(p["epoch"]),
            str(p["aead"]),
            int(p["created_ms"]),
            int(p["expires_ms"]),
            p["members"],
            str(p["issuer"]),
            str(p.get("reason", "")),
        )

    def member_names(self) -> list[str]:
        return sorted(self.members)


def epoch_record(
    track: str,
    epoch: int,
    secret: bytes,
    members: Sequence[Identity],
    issuer: Secret,
    *,
    now_ms: int,
    cryptoperiod_ms: int,
    aead: str,
    reason: str,
    inboxes: Mapping[str, tuple[int, bytes]] | None = None,
) -> Record:
    """Epoch ``epoch`` of ``track``: ``secret`` sealed to every member, signed by ``issuer`` —
    to the inbox key ``inboxes`` gives a member (id, public key), else to its identity key."""
    if len(secret) != SECRET_BYTES:
        raise SecureError(f"an epoch secret is {SECRET_BYTES} bytes")
    if not members:
        raise UserInputError(f"track {track} has nobody cleared to seal its key to")
    payload: dict[str, Any] = {
        "track": track,
        "epoch": epoch,
        "aead": check_aead(aead),
        "created_ms": now_ms,
        "expires_ms": now_ms + cryptoperiod_ms,
        "members": {
            m.name: _sealed_copy(track, epoch, secret, m, (inboxes or {}).get(m.name))
            for m in sorted(members, key=lambda m: m.name)
        },
        "issuer": issuer.name,
        "issuer_fingerprint": issuer.identity.fingerprint,
        "reason": reason,
    }
    payload["signature"] = b64(issuer.sign(canonical(payload)))
    return KEY_EPOCH.record(
        id=f"{KEY_EPOCH}:{track}:{epoch}",
        source="sitroom",
        valid_from=now_ms,
        valid_to=payload["expires_ms"],
        compartment=track,
        payload=payload,
    )


def check_epoch_signature(payload: Mapping[str, Any], issuer: Identity) -> None:
    """That the epoch record was issued, unaltered, by ``issuer``."""
    body = {k: v for k, v in payload.items() if k not in ("signature", "record", "since")}
    sig = unb64(str(payload.get("signature", "")), what="epoch signature", size=64)
    if issuer.fingerprint != body.get("issuer_fingerprint") or not issuer.verifies(
        canonical(body), sig
    ):
        raise Rejected(
            "forged",
            f"epoch {payload.get('epoch')} of track {payload.get('track')} is not signed by "
            f"{issuer.name}",
        )


def open_epoch(payload: Mapping[str, Any], me: Secret, inbox: bytes | None = None) -> bytes:
    """The epoch's secret, from the copy sealed to ``me``: with the private ``inbox`` key when
    the copy names one, else with ``me``'s identity key."""
    ep = Epoch.from_payload(payload)
    mine = ep.members.get(me.name)
    if mine is None:
        raise Rejected(
            "not-a-member",
            f"{me.name} is not a member of epoch {ep.epoch} of track {ep.track} "
            f"(members: {', '.join(ep.member_names())})",
        )
    if mine.get("fingerprint") != me.identity.fingerprint:
        raise Rejected(
            "not-a-member",
            f"epoch {ep.epoch} of track {ep.track} was sealed to {me.name}'s key "
            f"{mine.get('fingerprint')}, not to this one ({me.identity.fingerprint}): a key "
            "replaced since, or another",
        )
    inbox_id = inbox_of(payload, me.name)
    if inbox_id is not None and inbox is None:
        raise Rejected(
            "unknown-epoch",
            f"epoch {ep.epoch} of track {ep.track} was sealed to {me.name}'s inbox key "
            f"{inbox_id}, which is not held here (opened and deleted already, or kept "
            "elsewhere): the site, which holds the archive copy, can reopen its messages",
        )
    opener = me.agreeing if inbox is None else X25519PrivateKey.from_private_bytes(inbox)
    try:
        return _SUITE.decrypt(
            unb64(mine["sealed"], what="sealed epoch key"),
            opener,
            info=_seal_info(ep.track, ep.epoch, me.identity, inbox_id),
        )
    except InvalidTag:
        raise Rejected(
            "damaged",
            f"the copy of track {ep.track}'s epoch {ep.epoch} key sealed to {me.name} does not "
            "open with their key (sealed for another track, epoch or key)",
        ) from None
