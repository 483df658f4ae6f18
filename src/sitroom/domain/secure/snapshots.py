"""Sealed snapshots, pure: a projection's encoded state bound to the log it was folded from and
signed by the site, so that a snapshot edited, copied or carried over from another log is not
used (access decisions rest on the ``secure`` projection's snapshot).

    blob      = "sitroom-snapshot/1\\n" || canonical(header + signature) || "\\n" || state
    header    = {format, projection, version, seq, head, digest, site, fingerprint}
    signature = Ed25519(site key, canonical(header))

``head`` is the stored audit-chain head of the segment holding record ``seq`` (segments never
change once sealed), so a snapshot names the exact log it was folded from; ``digest`` is the
SHA-256 of the state. The format string is inside the signed bytes, so no snapshot signature
can pass for a checkpoint's (``audit.checkpoint_message``) or a card's, nor one of theirs for a
snapshot's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from sitroom.domain.secure.audit import DIGEST
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.errors import SecureError

FORMAT = "sitroom-snapshot/1"
_MAGIC = FORMAT.encode("ascii") + b"\n"
_SIGNATURE = 64


@dataclass(frozen=True)
class Unverified:
    """Why a stored snapshot is not used. ``unsigned``: it was written before snapshots were
    sealed (no header at all) — rebuilt without a word, like a missing one."""

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

    def fields(self) -> dict[str, Any]:
        return {
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
    secret: Secret, projection: str, version: int, seq: int, head: bytes, data: bytes
) -> bytes:
    """``data``, the state of ``projection`` after record ``seq`` of the log whose chain head
    there is ``head``, sealed by site ``secret.name``."""
    header = SnapshotHeader(
        projection,
        version,
        seq,
        head,
        hashlib.sha256(data).digest(),
        secret.name,
        secret.identity.fingerprint,
    )
    signed = {**header.fields(), "signature": b64(secret.sign(header.message()))}
    return _MAGIC + canonical(signed) + b"\n" + data


def open_snapshot(
    blob: bytes,
    *,
    projection: str,
    version: int,
    seq: int,
    head: bytes | None,
    anchor: Identity,
) -> bytes | Unverified:
    """The state in ``blob``, stored as the snapshot of ``projection`` (``version``) at ``seq``
    of a log whose chain head there is ``head`` (None: the log holds no record ``seq``), if it
    is exactly what site ``anchor`` sealed for that place of that log; else why not."""
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
    return data


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
        )
        signature = unb64(str(body["signature"]), what="its signature", size=_SIGNATURE)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, SecureError) as e:
        raise SecureError(f"its header is malformed ({e})") from None
    return header, signature
