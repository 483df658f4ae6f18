"""Authorship: every record a person writes is signed by that person's own key.

A user's append is followed, in the same transaction, by one ``author.signature`` record: the
author's Ed25519 signature over the positions the append took (``first``..``last``) and a
digest of those records' content (:func:`content_digest`). The log's writer — a desk, the
server, whoever holds the site key — cannot make one without the author's key, so
``sitroom verify`` can tell a grant the admin made from one written in the admin's name.

What a signature covers is positions and content, not a list of ids: an append of a million
records costs one signature and one digest pass (vectorised), and its record stays small.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.audit import Finding
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret, identity_from_record
from sitroom.errors import SecureError

SIGNED = "author.signature"
REVOKED = "key.revoked"
FORGED_AUTHOR = "forged-author"  # an author's signature that does not hold
UNSIGNED = "unsigned"  # a record names a person who did not sign it
NOT_ADMIN = "not-admin"  # a user or clearance change not signed by an admin
_DOMAIN = b"sitroom-author-v1"
# The envelope columns a signature covers, with the payload: everything but nothing the log
# could not keep as it was (positions and recorded times are assigned before signing).
_COVERED = (
    "seq",
    "id",
    "kind",
    "kind_version",
    "valid_from",
    "valid_to",
    "recorded_time",
    "source",
    "confidence",
    "compartment",
    "origin",
)


def content_digest(batch: RecordBatch) -> bytes:
    """SHA-256 over one line per record, its covered columns and payload JSON separated by
    unit separators; nulls are written apart from every value (\\x15), so no two different
    batches share their lines. Built with Arrow's string kernels, hashed once."""
    if not len(batch):
        return hashlib.sha256(_DOMAIN).digest()
    parts = [pc.fill_null(pc.cast(batch.column(c), pa.string()), "\x15") for c in _COVERED]
    parts.append(pc.cast(batch.payload_json(), pa.string()))
    lines = pc.binary_join_element_wise(*parts, "\x1f")
    h = hashlib.sha256(_DOMAIN)
    lengths = []
    for chunk in lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]:
        # A string array's data buffer holds its values back to back, in order; their
        # lengths are hashed after them, so no line can run into the next. Neither depends
        # on how the column is cut into chunks.
        _, offsets, data = chunk.buffers()
        ends = np.frombuffer(offsets, np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        if data is not None:
            h.update(memoryview(data)[int(ends[0]) : int(ends[-1])])
        lengths.append(np.diff(ends).astype("<i4"))
    h.update(np.concatenate(lengths).tobytes())
    return h.digest()


def message(author: str, fingerprint: str, first: int, last: int, digest: bytes) -> bytes:
    """The bytes an author signs."""
    return canonical(
        {
            "author": author,
            "fingerprint": fingerprint,
            "first": first,
            "last": last,
            "digest": b64(digest),
            "domain": _DOMAIN.decode(),
        }
    )


def signature_record(secret: Secret, batch: RecordBatch) -> Record:
    """The record that signs ``batch`` (numbered and stamped, as the log is about to store it)
    as ``secret``'s: in the batch's compartment when it has one, else general."""
    from sitroom.domain.kinds import AUTHOR_SIGNATURE

    seqs = batch.column("seq")
    first, last = int(pc.min(seqs).as_py()), int(pc.max(seqs).as_py())
    digest = content_digest(batch)
    fingerprint = secret.identity.fingerprint
    compartments = pc.unique(batch.column("compartment")).to_pylist()
    signature = secret.sign(message(secret.name, fingerprint, first, last, digest))
    return AUTHOR_SIGNATURE.record(
        {
            "author": secret.name,
            "fingerprint": fingerprint,
            "first": first,
            "last": last,
            "count": len(batch),
            "digest": b64(digest),
            "signature": b64(signature),
        },
        id=f"{SIGNED}:{secret.name}:{first}-{last}:{b64(digest)[:12]}",
        source="user:" + secret.name,
        compartment=compartments[0] if len(compartments) == 1 else "",
    )


def fault(payload: Mapping[str, Any], signed: RecordBatch, keys: list[Identity]) -> str | None:
    """Why an ``author.signature`` does not hold for ``signed`` (the records at its positions,
    as stored), given the author's published identities up to it; None if it holds."""
    try:
        author = str(payload["author"])
        first, last = int(payload["first"]), int(payload["last"])
        digest = unb64(str(payload["digest"]), what="digest", size=32)
        signature = unb64(str(payload["signature"]), what="signature", size=64)
    except (KeyError, TypeError, ValueError, SecureError) as e:
        return f"it is malformed ({e})"
    if len(signed) != last - first + 1:
        return f"positions {first}..{last} are not all in the log"
    if content_digest(signed) != digest:
        return f"records {first}..{last} are not what {author} signed"
    for identity in keys:
        if identity.verifies(message(author, identity.fingerprint, first, last, digest), signature):
            return None
    if not keys:
        return f"{author} has no published key"
    return f"the signature is not {author}'s"


# checking a whole log ---------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """Positions ``first``..``last``, signed by ``author`` in the record at ``seq``."""

    first: int
    last: int
    author: str
    seq: int


ADMIN_KINDS = ("user", "user.grant", "user.revoke")


class AuthorCheck:
    """Walks a log's records in order and finds what its authors' signatures do not hold up:
    a signature that fails (``forged-author``), a record that names a person as who did it
    (``by``) outside every span that person signed (``unsigned``), and a user or clearance
    change signed by someone who was not an admin (``not-admin``). The rule applies from the
    log's first signature on: a log written before records were signed has none to check. A
    key a ``key.revoked`` record names verifies no signature after it."""

    def __init__(self, read_span: Callable[[int, int], RecordBatch]) -> None:
        self._read_span = read_span
        self._keys: dict[str, list[Identity]] = {}
        self._roles: dict[str, str] = {}
        self._spans: list[Span] = []  # in log order, which is the order of their starts
        self._pending: list[tuple[int, str, str, str | None, dict[str, str]]] = []
        self.signed_from: int | None = None
        self.signatures = 0
        self.findings: list[Finding] = []

    def feed(self, batch: RecordBatch) -> None:
        """The next records of the log, in order (pages of any size)."""
        interesting = pc.is_in(
            batch.column("kind"), pa.array(["identity", REVOKED, SIGNED, *ADMIN_KINDS])
        )
        named = batch.payload_field("by").is_not_null().to_arrow()
        mask = pc.or_(interesting, named)
        if not pc.any(mask).as_py():
            return
        for r in batch.filter(mask).parsed().rows():
            assert r.seq is not None
            self._one(r, r.seq, r.payload.get("by"))

    def _one(self, r: Record, seq: int, by: Any) -> None:
        p = r.payload
        if r.kind == "identity":
            with contextlib.suppress(SecureError):  # a bad card: the keys ledger says so
                identity = identity_from_record(dict(p))
                self._keys.setdefault(identity.name, []).append(identity)
            return
        if r.kind == REVOKED:  # a replaced key signs nothing after its revocation
            keys = self._keys.get(str(p.get("name")), [])
            keys[:] = [k for k in keys if k.fingerprint != p.get("fingerprint")]
            return
        if r.kind == SIGNED:
            self._signature(r, seq)
            return
        # A record is signed by the signature after it: judged once every span is known.
        self._pending.append((seq, r.id, r.kind, None if by is None else str(by), self._roles))
        if r.kind == "user":
            # Copied, not changed: the pending records keep the roles as they were then.
            self._roles = {**self._roles, str(p.get("name")): str(p.get("role"))}

    def finish(self) -> list[Finding]:
        """What the signatures do not hold up, once the last page was fed."""
        starts = [span.first for span in self._spans]
        for seq, rid, kind, by, roles in self._pending:
            if self.signed_from is None or seq < self.signed_from:
                continue
            i = bisect.bisect_right(starts, seq) - 1
            span = self._spans[i] if i >= 0 and self._spans[i].last >= seq else None
            author = None if span is None else span.author
            if by is not None and by in roles and author != by:
                self._find(
                    UNSIGNED, f"record {rid} says {by} did it, but {by} did not sign it", seq, rid
                )
            if kind in ADMIN_KINDS and (author is None or (roles and roles.get(author) != "admin")):
                who = "nobody" if author is None else f"{author}, not an admin,"
                self._find(NOT_ADMIN, f"{kind} {rid} was signed by {who}", seq, rid)
        self._pending.clear()
        self.findings.sort(key=lambda f: f.seq or 0)
        return self.findings

    def _signature(self, r: Record, seq: int) -> None:
        self.signatures += 1
        p = r.payload
        author = str(p.get("author"))
        try:
            first, last = int(p["first"]), int(p["last"])
        except (KeyError, TypeError, ValueError):
            first = last = seq - 1
        if not first <= last < seq:
            why: str | None = f"it signs positions {first}..{last}, not before it"
        else:
            why = fault(p, self._read_span(first, last), self._keys.get(author, []))
        if why is not None:
            self._find(FORGED_AUTHOR, f"{author}'s signature {r.id} fails: {why}", seq, r.id)
            return
        if self.signed_from is None:
            self.signed_from = first
        self._spans.append(Span(first, last, author, seq))

    def _find(self, reason: str, message: str, seq: int, rid: str) -> None:
        self.findings.append(Finding(reason, message, seq, rid, seq, seq))
