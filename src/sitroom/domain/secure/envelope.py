"""Sealed envelopes: a track's messages, encrypted, signed, and refused with a reason.

An envelope is ``{"header", "nonce", "ct", "sig"}``:

- ``header`` — version, track, epoch, sender, message id, timestamp, the sender's counter in
  this epoch and the AEAD — travels in the clear and is *authenticated*: it is the AEAD's
  associated data, and the signature covers it;
- ``ct`` — the plaintext under the message key its header names, with a 96-bit nonce passed in
  by the caller: in version 2, key ``n`` of the sender's chain in the epoch (ratchet.py: each
  message its own key, which the sender forgets once sealed); in version 1, written before the
  chains, the one key per sender and epoch of epochs.message_key (still opened: logs keep them);
- ``sig`` — the sender's Ed25519 signature over the canonical header, nonce and ciphertext.

:func:`open_envelope` checks, in this order, and refuses with a stable reason code and a
sentence: ``malformed``, ``wrong-track`` (addressed to another track than the one it arrived
for), ``unknown-sender``, ``forged`` (the signature does not verify: altered in transit or not
from the sender), ``unknown-epoch``, ``not-a-member`` (the sender was not cleared for that
epoch), ``replayed`` (this sender's counter was seen already), ``too-old`` (re-ordered beyond
the replay window), ``expired`` (sealed after its epoch's cryptoperiod ended) and ``damaged``
(the ciphertext does not open under the key its header names). The replay window is the
IPsec/DTLS sliding window (RFC 4303 §3.4.3): the highest counter seen and a bitmap of the
:data:`WINDOW` before it, so messages may arrive out of order but never twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.epochs import AEADS, Epoch, message_key
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.ratchet import Chains
from sitroom.errors import Rejected, SecureError

VERSION = 2  # what is sealed now: a message key per message (ratchet.py)
HKDF_KEY_VERSION = 1  # sealed before: one key per sender and epoch (epochs.message_key)
WINDOW = 64
NONCE_BYTES = 12


@dataclass(frozen=True)
class Header:
    track: str
    epoch: int
    sender: str
    id: str
    ts_ms: int
    n: int  # the sender's counter in this epoch, from 1
    aead: str
    v: int = VERSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "track": self.track,
            "epoch": self.epoch,
            "sender": self.sender,
            "id": self.id,
            "ts": self.ts_ms,
            "n": self.n,
            "aead": self.aead,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Header:
        v = d.get("v")
        if type(v) is not int or v not in (HKDF_KEY_VERSION, VERSION):
            raise Rejected(
                "malformed", f"envelope version {v!r} is not {HKDF_KEY_VERSION} or {VERSION}"
            )
        try:
            return cls(
                str(d["track"]),
                int(d["epoch"]),
                str(d["sender"]),
                str(d["id"]),
                int(d["ts"]),
                int(d["n"]),
                str(d["aead"]),
                v,
            )
        except (KeyError, TypeError, ValueError):
            raise Rejected("malformed", "the envelope's header is incomplete") from None

    @property
    def key(self) -> str:
        """The message key it names: one per track, epoch and sender."""
        return f"{self.track}|{self.epoch}|{self.sender}"


def _signed(header: bytes, nonce: bytes, ct: bytes) -> bytes:
    """What the sender signs: the canonical header, the nonce and the ciphertext, each
    length-prefixed behind a domain tag (raw bytes: canonicalising the base64 text of a
    ciphertext cost more than the signature)."""
    parts = [b"sitroom-envelope-v1", header, nonce, ct]
    return b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def seal(
    plaintext: bytes, header: Header, key: bytes, sender: Secret, nonce: bytes
) -> dict[str, Any]:
    """The envelope of ``plaintext`` under ``key``, the message key ``header`` names (the
    sender's chain's key ``n``; in version 1, epochs.message_key)."""
    if sender.name != header.sender:
        raise SecureError(f"{sender.name} cannot seal a message as {header.sender}")
    if len(nonce) != NONCE_BYTES:
        raise SecureError(f"a nonce is {NONCE_BYTES} bytes")
    h = header.as_dict()
    aad = canonical(h)
    ct = AEADS[header.aead](key).encrypt(nonce, plaintext, aad)
    sig = sender.sign(_signed(aad, nonce, ct))
    return {"header": h, "nonce": b64(nonce), "ct": b64(ct), "sig": b64(sig)}


def parse(text: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """An envelope from its JSON text (a channel message's body) or dict."""
    if isinstance(text, Mapping):
        env = dict(text)
    else:
        try:
            env = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise Rejected("malformed", "the message is not a sealed envelope") from None
    if not isinstance(env, dict) or not {"header", "nonce", "ct", "sig"} <= set(env):
        raise Rejected("malformed", "the message is not a sealed envelope")
    return env


def is_envelope(text: str) -> bool:
    try:
        parse(text)
    except Rejected:
        return False
    return True


# -- the replay window ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The highest counter accepted from one key, and which of the WINDOW before it were."""

    top: int = 0
    seen: int = 0  # bit i set: counter top - i was accepted (bit 0 is top itself)

    def check(self, n: int) -> str | None:
        """None if ``n`` may be accepted, else the reason code."""
        if n < 1:
            return "malformed"
        if n > self.top:
            return None
        if self.top - n >= WINDOW:
            return "too-old"
        return "replayed" if self.seen >> (self.top - n) & 1 else None

    def accept(self, n: int) -> Window:
        if n > self.top:
            shift = n - self.top
            seen = ((self.seen << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            return Window(n, seen)
        return replace(self, seen=self.seen | 1 << (self.top - n))

    def as_list(self) -> list[int]:
        return [self.top, self.seen]

    @classmethod
    def from_list(cls, v: list[int] | None) -> Window:
        return cls(*v) if v else cls()


# A reader's own key for a message (reader.py), with what deletes it once the message opened
# under it; None: the reader holds the epoch secret instead.
ReaderKey = Callable[[Header], tuple[bytes, Callable[[], None]] | None]


@dataclass(frozen=True)
class Opened:
    header: Header
    plaintext: bytes


def open_envelope(
    env: Mapping[str, Any],
    *,
    track: str,
    identities: Callable[[str], Identity | None],
    epoch: Callable[[str, int], tuple[Epoch, bytes | None] | None],
    window: Callable[[str], Window],
    chains: Chains | None = None,
    reader: ReaderKey | None = None,
) -> Opened:
    """Verify and decrypt an envelope that arrived for ``track``; raise :class:`Rejected`.

    ``identities(name)`` gives a sender's trusted public identity; ``epoch(track, n)`` the
    epoch and its secret (opened with the receiver's own key), or None if the receiver holds
    no copy; ``window(key)`` the replay window of the key the header names; ``chains`` the
    reader's walks along senders' chains, remembered between messages; ``reader`` the
    reader's own kept key for the message, for an epoch whose secret it does not keep (its
    secret is then None), deleted only once the message opened under it."""
    env = parse(env)
    raw = env["header"]
    if not isinstance(raw, Mapping):
        raise Rejected("malformed", "the envelope's header is not an object")
    h = Header.from_dict(raw)
    if h.track != track:
        raise Rejected(
            "wrong-track",
            f"message {h.id} is sealed for track {h.track}, not {track}: refused, whatever "
            "its keys",
        )
    sender = identities(h.sender)
    if sender is None:
        raise Rejected(
            "unknown-sender", f"message {h.id} names a sender we do not know, {h.sender}"
        )
    try:
        sig = unb64(str(env["sig"]), what="signature")
        nonce = unb64(str(env["nonce"]), what="nonce")
        ct = unb64(str(env["ct"]), what="ciphertext")
        aad = canonical(raw)
    except SecureError as e:
        raise Rejected("malformed", f"message {h.id}: {e}") from None
    if not sender.verifies(_signed(aad, nonce, ct), sig):
        raise Rejected(
            "forged",
            f"message {h.id}'s signature does not verify against {h.sender}'s key: it was altered "
            f"or not sent by {h.sender}",
        )
    found = epoch(h.track, h.epoch)
    if found is None:
        raise Rejected(
            "unknown-epoch",
            f"message {h.id} is sealed under epoch {h.epoch} of track {h.track}, whose key we do "
            "not hold",
        )
    ep, secret = found
    if h.sender not in ep.members:
        raise Rejected(
            "not-a-member",
            f"{h.sender} is not a member of epoch {h.epoch} of track {h.track}: it may not seal "
            "its messages",
        )
    if h.aead != ep.aead or h.aead not in AEADS:
        raise Rejected("malformed", f"message {h.id} names {h.aead}, epoch uses {ep.aead}")
    reason = window(h.key).check(h.n)
    if reason == "replayed":
        raise Rejected(
            "replayed",
            f"message {h.id} (number {h.n} from {h.sender} in epoch {h.epoch}) was received "
            "already: a replay or a retry, not accepted twice",
        )
    if reason == "too-old":
        raise Rejected(
            "too-old",
            f"message {h.id} is number {h.n} from {h.sender}, more than {WINDOW} behind the "
            f"newest ({window(h.key).top}): re-ordered beyond the replay window",
        )
    if reason is not None:
        raise Rejected(reason, f"message {h.id} has an invalid counter {h.n}")
    if not ep.created_ms <= h.ts_ms < ep.expires_ms:
        raise Rejected(
            "expired",
            f"message {h.id} was sealed at {h.ts_ms}, outside epoch {h.epoch}'s cryptoperiod",
        )
    kept = None if reader is None else reader(h)
    if kept is not None:
        key = kept[0]
    elif secret is None:
        raise Rejected(
            "unknown-epoch",
            f"message {h.id} is sealed under epoch {h.epoch} of track {h.track}, whose key we do "
            "not hold",
        )
    elif h.v == HKDF_KEY_VERSION:
        key = message_key(secret, h.track, h.epoch, h.sender, h.aead)
    else:
        key = (chains or Chains()).key(secret, h.track, h.epoch, h.sender, h.aead, h.n)
    try:
        if len(nonce) != NONCE_BYTES:
            raise SecureError("bad nonce")
        plain = AEADS[h.aead](key).decrypt(nonce, ct, aad)
    except (InvalidTag, SecureError):
        raise Rejected(
            "damaged",
            f"message {h.id} does not open under track {h.track}'s epoch {h.epoch} key for "
            f"{h.sender}",
        ) from None
    if kept is not None:
        kept[1]()  # only now: a message that did not open leaves its key to the real one
    return Opened(h, plain)
