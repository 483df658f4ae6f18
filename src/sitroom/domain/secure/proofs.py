"""Proofs a site hands to someone who holds only its public card: that a record is in its
log (inclusion), and that its log only grew since a head they hold (consistency).

An *inclusion proof* carries the record as stored (its JSON line), the header of its segment,
the SHA-256 of the segment's bytes and the digest of each of its lines, the segment's place
among the segments, the audit path to the tree's head, and the head, signed. Whoever checks
it hashes the line, finds it at the record's place among the line digests, rebuilds the
segment's digest and climbs the path to the signed root (RFC 9162 §2.1.3.2). Records in a
compressed segment of bulk records have no line of their own: their segment would have to
travel whole, so proofs are made for the JSON-lines segments people's records are kept in.

A *consistency proof* carries two signed heads of one site and the RFC's proof between
them (§2.1.4.2): the later log holds the earlier one, unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sitroom.domain.secure import merkle
from sitroom.domain.secure.audit import (
    DIGEST,
    SegmentHeader,
    SignedHead,
    checkpoint_fault,
    segment_digest,
)
from sitroom.domain.secure.codec import b64, unb64
from sitroom.domain.secure.identity import Identity
from sitroom.errors import SecureError

INCLUSION_FORMAT = "sitroom-inclusion-proof/1"
CONSISTENCY_FORMAT = "sitroom-consistency-proof/1"
_MAX_PATH = 128  # hashes: a tree of 2^128 segments is not a log anyone holds


@dataclass(frozen=True)
class Inclusion:
    head: SignedHead
    record: bytes  # the record's stored JSON line
    seq: int
    segment: SegmentHeader
    data_sha256: bytes
    lines: tuple[bytes, ...]  # the digest of each of the segment's lines
    index: int  # the segment's place among the log's segments
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        h = self.segment
        return {
            "format": INCLUSION_FORMAT,
            "head": dict(self.head.to_json()),
            "record": self.record.decode("utf-8"),
            "seq": self.seq,
            "segment": {
                "first_seq": h.first_seq,
                "last_seq": h.last_seq,
                "kind": h.kind,
                "first_rt": h.first_rt,
                "last_rt": h.last_rt,
                "valid_min": h.valid_min,
                "valid_max": h.valid_max,
                "codec": h.codec,
                "data_sha256": b64(self.data_sha256),
                "lines": [b64(d) for d in self.lines],
                "index": self.index,
            },
            "path": [b64(p) for p in self.path],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Inclusion:
        try:
            seg = body["segment"]
            valid = [
                None if seg[k] is None else _int(seg[k], k) for k in ("valid_min", "valid_max")
            ]
            header = SegmentHeader(
                first_seq=_int(seg["first_seq"], "first_seq"),
                last_seq=_int(seg["last_seq"], "last_seq"),
                kind=str(seg["kind"]),
                first_rt=_int(seg["first_rt"], "first_rt"),
                last_rt=_int(seg["last_rt"], "last_rt"),
                valid_min=valid[0],
                valid_max=valid[1],
                codec=str(seg["codec"]),
            )
            return cls(
                SignedHead.from_json(body["head"], what="the proof's head"),
                str(body["record"]).encode("utf-8"),
                _int(body["seq"], "seq"),
                header,
                unb64(str(seg["data_sha256"]), what="the segment's hash", size=DIGEST),
                _hashes(seg["lines"], "line digest", limit=1 << 16),
                _int(seg["index"], "index"),
                _hashes(body["path"], "path hash", limit=_MAX_PATH),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SecureError(f"the inclusion proof is malformed ({e})") from None

    def fault(self, site: Identity) -> str | None:
        """Why this does not prove the record is in ``site``'s log (None: it does)."""
        head = self.head
        if (bad := _head_fault(head, site)) is not None:
            return bad
        assert head.size is not None and head.root is not None
        h = self.segment
        if not h.first_seq <= self.seq <= h.last_seq:
            return f"record {self.seq} is not in segment {h.first_seq}–{h.last_seq}"
        at = self.seq - h.first_seq
        if len(self.lines) != h.records or self.lines[at] != hashlib.sha256(self.record).digest():
            return f"the record is not line {at + 1} of its segment as sealed"
        leaves = b"".join(self.lines)
        digest = segment_digest(h, self.data_sha256, leaves, hashed=True)
        if not merkle.included(digest, self.index, head.size, self.path, head.root):
            return (
                f"segment {h.first_seq}–{h.last_seq} is not in the tree of {head.size:,} "
                f"segments site {site.name} signed at seq {head.seq:,}"
            )
        return None


@dataclass(frozen=True)
class Consistency:
    old: SignedHead
    new: SignedHead
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CONSISTENCY_FORMAT,
            "old": dict(self.old.to_json()),
            "new": dict(self.new.to_json()),
            "proof": [b64(p) for p in self.proof],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Consistency:
        try:
            return cls(
                SignedHead.from_json(body["old"], what="the earlier head"),
                SignedHead.from_json(body["new"], what="the later head"),
                _hashes(body["proof"], "proof hash", limit=_MAX_PATH),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SecureError(f"the consistency proof is malformed ({e})") from None

    def fault(self, site: Identity) -> str | None:
        for head in (self.old, self.new):
            if (bad := _head_fault(head, site)) is not None:
                return bad
        old, new = self.old, self.new
        assert old.size is not None and old.root is not None
        assert new.size is not None and new.root is not None
        if not merkle.consistent(old.size, old.root, new.size, new.root, self.proof):
            return (
                f"the log at seq {new.seq:,} ({new.size:,} segments) does not extend the head "
                f"at seq {old.seq:,} ({old.size:,} segments): it was rewritten or forked"
            )
        return None


def _head_fault(head: SignedHead, site: Identity) -> str | None:
    if head.site != site.name:
        return f"a head of site {head.site}, not {site.name}"
    if (bad := checkpoint_fault(head, site)) is not None:
        return f"the head at seq {head.seq:,} is not site {site.name}'s: {bad}"
    if head.size is None or head.root is None:
        return f"the head at seq {head.seq:,} carries no tree head"
    return None


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a whole number")
    return value


def _hashes(values: object, what: str, *, limit: int) -> tuple[bytes, ...]:
    if not isinstance(values, list) or len(values) > limit:
        raise ValueError(f"the {what}es are not a list of at most {limit}")
    return tuple(unb64(str(v), what=f"a {what}", size=merkle.HASH_SIZE) for v in values)
