"""Sealed snapshots, pure: a projection's encoded state bound to the log it was folded from and
signed by the site, so that a snapshot edited, copied or carried over from another log is not
used (access decisions rest on the ``secure`` projection's snapshot).

    blob      = "sitroom-snapshot/1\\n" || canonical(header + signature) || "\\n" || state
    header    = {format, projection, version, seq, head, digest, site, fingerprint}
    signature = Ed25519(site key, canonical(header))

A state that holds a compartment's records opened (records sealed at rest, at_rest.py) is
*private*: ``state`` is then ChaCha20-Poly1305 under a key derived from the site's private key
(``Secret.derive``), the header (with ``private`` and the ``nonce``) as associated data, and
``digest`` is of the ciphertext — anyone checks the signature; only the site's key opens it.

``head`` is the stored audit-chain head of the segment holding record ``seq`` (segments never
change once sealed), so a snapshot names the exact log it was folded from; ``digest`` is the
SHA-256 of the state. The format string is inside the signed bytes, so no snapshot signature
can pass for a checkpoint's (``audit.checkpoint_message``) or a card's, nor one of theirs for a
snapshot's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from sitroom.domain.secure.audit import DIGEST
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.errors import SecureError

FORMAT = "sitroom-snapshot/1"
_MAGIC = FORMAT.encode("ascii") + b"\n"
_SIGNATURE = 64


@dataclass(frozen=True)
class OpenedState:
    """A snapshot's state, opened; ``private``: it holds a compartment's opened records."""

    data: bytes
    private: bool = False


@dataclass(frozen=True)
class Unverified:
    """Why a stored snapshot is not used. ``unsigned``: it was written before snapshots were
    sealed (no header at all), or it is private and this process holds no key to open it —
    rebuilt without a word, like a missing one."""

    reason: str
    unsigned: bool = False


@dataclass(frozen=True)
class SnapshotHeader:
    """What a snapshot's signature covers."""

    projection: str
    version: int
    seq: int
    head: bytes
    digest: bytes
    site: str
    fingerprint: str
    nonce: bytes | None = None  # a private snapshot's (its state is encrypted)

    def fields(self) -> dict[str, Any]:
        private = {} if self.nonce is None else {"private": True, "nonce": b64(self.nonce)}
        return {
            **private,
            "format": FORMAT,
            "projection": self.projection,
            "version": self.version,
            "seq": self.seq,
            "head": b64(self.head),
            "digest": b64(self.digest),
            "site": self.site,
            "fingerprint": self.fingerprint,
        }

    def message(self) -> bytes:
        return canonical(self.fields())


def seal_snapshot(
    secret: Secret,
    projection: str,
    version: int,
    seq: int,
    head: bytes,
    data: bytes,
    *,
    private_nonce: bytes | None = None,
) -> bytes:
    """``data``, the state of ``projection`` after record ``seq`` of the log whose chain head
    there is ``head``, sealed by site ``secret.name``; encrypted too under its key when
    ``private_nonce`` is given (a fresh 12-byte nonce)."""
    header = SnapshotHeader(
        projection, version, seq, head, b"", secret.name, secret.identity.fingerprint
    )
    if private_nonce is not None:
        header = replace(header, nonce=private_nonce)
        data = _aead(secret).encrypt(private_nonce, data, replace(header, digest=b"").message())
    header = replace(header, digest=hashlib.sha256(data).digest())
    signed = {**header.fields(), "signature": b64(secret.sign(header.message()))}
    return _MAGIC + canonical(signed) + b"\n" + data


def _aead(secret: Secret) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(secret.derive(FORMAT + " private state"))


def open_snapshot(
    blob: bytes,
    *,
    projection: str,
    version: int,
    seq: int,
    head: bytes | None,
    anchor: Identity,
    secret: Callable[[], Secret | None] = lambda: None,
) -> OpenedState | Unverified:
    """The state in ``blob``, stored as the snapshot of ``projection`` (``version``) at ``seq``
    of a log whose chain head there is ``head`` (None: the log holds no record ``seq``), if it
    is exactly what site ``anchor`` sealed for that place of that log; else why not. A private
    one opens with the site's key, ``secret()`` (None: this process holds no such key, and the
    snapshot is passed over without a word, as an unsigned one)."""
    if not blob.startswith(_MAGIC):
        return Unverified("it is not sealed: written before snapshots were signed", unsigned=True)
    end = blob.find(b"\n", len(_MAGIC))
    if end < 0:
        return Unverified("its header is cut short")
    try:
        header, signature = _header(blob[len(_MAGIC) : end])
    except SecureError as e:
        return Unverified(str(e))
    data = blob[end + 1 :]
    placed = (header.projection, header.version, header.seq)
    if placed != (projection, version, seq):
        return Unverified(
            f"it is the snapshot of `{header.projection}` v{header.version} at seq "
            f"{header.seq}, copied here"
        )
    fault = anchor.signed(header.site, header.fingerprint, header.message(), signature)
    if fault is not None:
        return Unverified(fault)
    if hashlib.sha256(data).digest() != header.digest:
        return Unverified("its state is not the state that was signed")
    if head is None:
        return Unverified(f"the log holds no record {seq}")
    if header.head != head:
        return Unverified("it was folded from another log: its chain head is not this log's")
    if header.nonce is None:
        return OpenedState(data)
    key = secret()
    if key is None:
        return Unverified("it is private: only the site's key opens it", unsigned=True)
    try:
        plain = _aead(key).decrypt(header.nonce, data, replace(header, digest=b"").message())
    except InvalidTag:
        return Unverified("its private state does not open with the site's key")
    return OpenedState(plain, private=True)


def _header(text: bytes) -> tuple[SnapshotHeader, bytes]:
    try:
        body = orjson.loads(text)
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError("not a sitroom snapshot header")
        version, seq = body["version"], body["seq"]
        if not all(type(n) is int for n in (version, seq)):
            raise ValueError("version and seq must be integers")
        header = SnapshotHeader(
            projection=str(body["projection"]),
            version=version,
            seq=seq,
            head=unb64(str(body["head"]), what="its head", size=DIGEST),
            digest=unb64(str(body["digest"]), what="its digest", size=DIGEST),
            site=str(body["site"]),
            fingerprint=str(body["fingerprint"]),
            nonce=(
                unb64(str(body["nonce"]), what="its nonce", size=12)
                if body.get("private") is True
                else None
            ),
        )
        signature = unb64(str(body["signature"]), what="its signature", size=_SIGNATURE)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, SecureError) as e:
        raise SecureError(f"its header is malformed ({e})") from None
    return header, signature
