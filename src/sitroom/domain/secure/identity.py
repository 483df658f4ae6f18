"""Identities: who signs and who can be sealed to.

Every person, site and intermediary has two key pairs from ``cryptography``: an Ed25519 pair
that signs (messages, epochs, checkpoints, agreements) and an X25519 pair that epoch keys are
sealed to (HPKE). The public halves are an :class:`Identity`, published in the log as an
``identity`` record that the identity signs itself (proof that whoever published it holds the
private half). The private halves are a :class:`Secret`, which exists only in memory after
its key file is unlocked (adapters.keystore); it never enters the log.

A fingerprint — SHA-256 over both public keys, its first 20 bytes in groups of four hex
digits — is what people compare out of band before they trust an imported identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from sitroom.domain.kinds import IDENTITY
from sitroom.domain.records import Record
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.errors import SecureError, UserInputError

PERSON = "person"
SITE = "site"
INTERMEDIARY = "intermediary"
ROLES = (PERSON, SITE, INTERMEDIARY)

_RAW = (Encoding.Raw, PublicFormat.Raw)


def check_name(name: str) -> str:
    """Names become file names and record ids: letters, digits, '-', '_' and '.'."""
    ok = name and len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)
    if not ok or name.startswith("."):
        raise UserInputError(
            f"{name!r} is not a usable name: use up to 64 letters, digits, '-', '_' or '.'"
        )
    return name


@dataclass(frozen=True)
class Identity:
    """The public half: a name, what it is, and its two public keys (raw, 32 bytes each)."""

    name: str
    role: str
    sign_pub: bytes
    kex_pub: bytes

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(b"sitroom-identity-v1" + self.sign_pub + self.kex_pub).hexdigest()
        return " ".join(digest[i : i + 4] for i in range(0, 40, 4))

    @property
    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.sign_pub)

    @property
    def kex(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.kex_pub)

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            self.verifier.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def signed(self, name: str, fingerprint: str, message: bytes, signature: bytes) -> str | None:
        """Why a statement saying it is signed by ``name`` with key ``fingerprint`` is not this
        identity's signature over ``message`` (None: it is) — the one check of a checkpoint, a
        snapshot and a witness's co-signature against the card that anchors them."""
        if name != self.name or fingerprint != self.fingerprint:
            return f"it names signer {name} ({fingerprint}), not {self.role} {self.name}'s key"
        if not self.verifies(message, signature):
            return f"its signature does not verify under {self.role} {self.name}'s key"
        return None

    def card(self) -> dict[str, Any]:
        """What is published and exchanged: canonical fields only."""
        return {
            "name": self.name,
            "role": self.role,
            "sign": b64(self.sign_pub),
            "kex": b64(self.kex_pub),
        }

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> Identity:
        try:
            name, role = str(card["name"]), str(card["role"])
            sign, kex = str(card["sign"]), str(card["kex"])
        except (KeyError, TypeError):
            raise SecureError("an identity card needs name, role, sign and kex") from None
        if role not in ROLES:
            raise SecureError(f"identity {name!r}: role must be one of {', '.join(ROLES)}")
        return cls(
            check_name(name),
            role,
            unb64(sign, what=f"{name}'s signing key", size=32),
            unb64(kex, what=f"{name}'s key-agreement key", size=32),
        )


@dataclass(frozen=True)
class Secret:
    """The private half, unlocked. Held in memory only."""

    name: str
    role: str
    signing: Ed25519PrivateKey
    agreeing: X25519PrivateKey

    @property
    def identity(self) -> Identity:
        return Identity(
            self.name,
            self.role,
            self.signing.public_key().public_bytes(*_RAW),
            self.agreeing.public_key().public_bytes(*_RAW),
        )

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message)

    def private_bytes(self) -> bytes:
        """Both private keys, 64 bytes: what a key file encrypts."""
        raw = (Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return self.signing.private_bytes(*raw) + self.agreeing.private_bytes(*raw)

    def derive(self, use: str, salt: bytes | None = None) -> bytes:
        """A 32-byte key for one ``use`` (HKDF-SHA256 of the private keys): what this
        identity encrypts its own state at rest with (chain files, snapshots)."""
        return HKDF(hashes.SHA256(), 32, salt, use.encode()).derive(self.private_bytes())

    @classmethod
    def from_private_bytes(cls, name: str, role: str, data: bytes) -> Secret:
        if len(data) != 64:
            raise SecureError(f"{name}'s private keys are damaged ({len(data)} bytes, not 64)")
        return cls(
            name,
            role,
            Ed25519PrivateKey.from_private_bytes(data[:32]),
            X25519PrivateKey.from_private_bytes(data[32:]),
        )


def identity_record(secret: Secret, now_ms: int) -> Record:
    """The ``identity`` record of a new identity, signed by itself over its canonical card."""
    ident = secret.identity
    card = ident.card()
    return IDENTITY.record(
        id=f"{IDENTITY}:{ident.name}:{ident.fingerprint.replace(' ', '')[:16]}",
        source="sitroom",
        valid_from=now_ms,
        payload={
            "name": card["name"],
            "role": card["role"],
            "sign": card["sign"],
            "kex": card["kex"],
            "fingerprint": ident.fingerprint,
            "proof": b64(secret.sign(canonical(card))),
        },
    )


def identity_from_record(payload: dict[str, Any]) -> Identity:
    """The identity an ``identity`` record publishes, once its self-signature verifies."""
    ident = Identity.from_card(payload)
    proof = unb64(str(payload.get("proof", "")), what=f"{ident.name}'s proof", size=64)
    if not ident.verifies(canonical(ident.card()), proof):
        raise SecureError(f"identity {ident.name!r} is not signed by its own key")
    return ident
