"""A compartment's records sealed at rest under its track's key, pure.

A record whose compartment is a track is stored with its payload replaced by

    {"sealed": {"v": 1, "track", "epoch", "nonce", "ct"}}

``ct`` = ChaCha20-Poly1305(record key of that epoch, nonce, payload's JSON text, AD), the
record key being ``epochs.record_key`` (HKDF of the epoch secret, one per track and epoch) and
AD the canonical JSON of the record's envelope fields that a reader acts on: id, kind, its
version, source, compartment and valid times. So a sealed payload moved to another record, or
a record relabelled to another kind, compartment or time, no longer opens. The envelope itself
stays in the clear (the log filters and orders by it), as a message's header does.

Someone holding a copy of the log without a member's key reads which kinds of record a track
has and when, not what they say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from sitroom.domain.secure.codec import b64, unb64
from sitroom.errors import Rejected, SecureError

VERSION = 1
NONCE_BYTES = 12
# Every sealed payload's JSON text starts so (orjson keeps insertion order): the test a whole
# column takes at once, before any row is parsed.
PREFIX = '{"sealed":{"v":'


@dataclass(frozen=True)
class Envelope:
    """The fields of a record its sealed payload is bound to."""

    id: str
    kind: str
    kind_version: int
    source: str
    compartment: str
    valid_from: int | None
    valid_to: int | None

    def associated(self) -> bytes:
        # Sorted keys, strings, integers and nulls: orjson's output is as canonical as RFC
        # 8785's here, at a thirtieth of the cost (it runs for every record read).
        return orjson.dumps(
            {
                "use": "sitroom record at rest",
                "id": self.id,
                "kind": self.kind,
                "kind_version": self.kind_version,
                "source": self.source,
                "compartment": self.compartment,
                "valid_from": self.valid_from,
                "valid_to": self.valid_to,
            },
            option=orjson.OPT_SORT_KEYS,
        )


@dataclass(frozen=True)
class Sealed:
    """A sealed payload, read (not opened)."""

    track: str
    epoch: int
    nonce: bytes
    ct: bytes


def seal_payload(
    key: bytes, payload_json: str, envelope: Envelope, *, epoch: int, nonce: bytes
) -> str:
    """The stored payload (JSON text) of a record of ``envelope.compartment``'s track, sealed
    under the track's record key of ``epoch``."""
    if len(nonce) != NONCE_BYTES:
        raise SecureError(f"a record's nonce is {NONCE_BYTES} bytes")
    ct = ChaCha20Poly1305(key).encrypt(nonce, payload_json.encode(), envelope.associated())
    sealed = {
        "v": VERSION,
        "track": envelope.compartment,
        "epoch": epoch,
        "nonce": b64(nonce),
        "ct": b64(ct),
    }
    return orjson.dumps({"sealed": sealed}).decode()


def read_sealed(payload_json: str) -> Sealed:
    """What a sealed payload names; Rejected ("malformed") for one that is not one."""
    try:
        body = orjson.loads(payload_json)
        inner = body["sealed"] if isinstance(body, Mapping) and len(body) == 1 else None
        if not isinstance(inner, Mapping) or inner.get("v") != VERSION:
            raise ValueError("not a sealed payload of version 1")
        epoch = inner["epoch"]
        if type(epoch) is not int or not isinstance(inner["track"], str):
            raise ValueError("its track or epoch is not what it should be")
        return Sealed(
            inner["track"],
            epoch,
            unb64(str(inner["nonce"]), what="its nonce", size=NONCE_BYTES),
            unb64(str(inner["ct"]), what="its ciphertext"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, SecureError) as e:
        raise Rejected("malformed", f"a sealed record's payload is malformed ({e})") from None


def open_payload(key: bytes, sealed: Sealed, envelope: Envelope) -> str:
    """The payload's JSON text; Rejected ("damaged") when it does not open as this record's."""
    if sealed.track != envelope.compartment:
        raise Rejected(
            "damaged",
            f"record {envelope.id} of {envelope.compartment} carries a payload sealed for "
            f"track {sealed.track}",
        )
    try:
        plain = ChaCha20Poly1305(key).decrypt(sealed.nonce, sealed.ct, envelope.associated())
    except InvalidTag:
        raise Rejected(
            "damaged",
            f"record {envelope.id}'s sealed payload does not open with track "
            f"{sealed.track}'s epoch {sealed.epoch} key (altered, or moved from another record)",
        ) from None
    return plain.decode()


def envelope_of(row: Mapping[str, Any]) -> Envelope:
    return Envelope(
        str(row["id"]),
        str(row["kind"]),
        int(row["kind_version"]),
        str(row["source"]),
        str(row["compartment"]),
        row["valid_from"],
        row["valid_to"],
    )
