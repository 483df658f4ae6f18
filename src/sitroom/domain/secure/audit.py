"""The audit chain, pure: segment digests, the hash chain over them, signed checkpoints, and
the walk that checks a stored log against all three.

The SQLite log stores records in segments (adapters/segments.py). Each segment is sealed when it
is written::

    digest = SHA-256("sitroom-segment-v1" || canonical header || SHA-256(data) || leaves)
    head   = SHA-256(previous head || digest)          first previous head: GENESIS

``leaves`` is, for a JSON-lines segment, the SHA-256 of each stored line, concatenated (so a
changed record can be named exactly); for a compressed Arrow segment it is empty, because a
per-record digest of a bulk row costs about three times its whole ingest (docs/audit.md).
Changing, removing or re-ordering any stored byte changes a digest and so every head after it.

A *checkpoint* signs a head at a log position with the site's Ed25519 key, whose public half is
kept outside the log (the keystore): an attacker who rewrites the stored heads after changing a
record is caught at the next checkpoint, which names the stretch of the log it covers.

:class:`ChainWalk` checks stored segments one by one, in seq order, and reports
:class:`Finding`\\ s. Each stored head is checked against its predecessor's stored head, so one
bad segment is reported once, not as the cascade of every head after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sitroom.domain.kinds import AUDIT_CHECKPOINT, CheckpointPayload
from sitroom.domain.records import Record
from sitroom.domain.secure import merkle
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.errors import SecureError

DIGEST = 32
GENESIS = hashlib.sha256(b"sitroom-audit-chain-v1").digest()
_SEGMENT_DOMAIN = b"sitroom-segment-v1"

# Stable reason codes of findings (scripts read them; the message says it in words).
CHANGED = "changed"  # stored bytes differ from what was sealed
MOVED = "moved"  # a record sealed at one position now sits at another
MISSING = "missing"  # a run of seqs is absent: a removed segment
OVERLAP = "overlap"  # a segment starts inside the one before it: re-ordered or duplicated
UNSEALED = "unsealed"  # a segment without a head: written behind sitroom's back
REWRITTEN = "rewritten"  # the stored chain disagrees with a signed checkpoint
FORGED = "forged-checkpoint"  # a checkpoint whose signature or signer does not verify
MISPLACED = "misplaced-checkpoint"  # a checkpoint at no segment boundary, or past the log's end
DECODED = "decoded"  # --deep: a segment's records disagree with its header
IDS = "ids"  # the id index disagrees with the records
LOST = "lost"  # the log is missing, empty, unreadable or shorter than the head kept outside it
REPLACED = "replaced"  # the log's chain does not hold the head kept outside it
FORKED = "forked"  # the log does not extend a tree head a witness co-signed
ANCHOR = "anchor-replaced"  # the site's key is not the one a witness co-signed heads of


@dataclass(frozen=True)
class SegmentHeader:
    """What a segment row says about its records, beside their bytes."""

    first_seq: int
    last_seq: int
    kind: str
    first_rt: int
    last_rt: int
    valid_min: int | None
    valid_max: int | None
    codec: str

    def canonical(self) -> bytes:
        # Numbers as decimal text: RFC 8785 numbers are IEEE doubles, and recorded times
        # ((wall_ms << 20) | counter) are far above 2^53.
        return canonical(
            {
                k: None if v is None else str(v)
                for k, v in (
                    ("first_seq", self.first_seq),
                    ("last_seq", self.last_seq),
                    ("kind", self.kind),
                    ("first_rt", self.first_rt),
                    ("last_rt", self.last_rt),
                    ("valid_min", self.valid_min),
                    ("valid_max", self.valid_max),
                    ("codec", self.codec),
                )
            }
        )

    @property
    def records(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True)
class StoredSegment:
    """A segment as the log stores it: header, bytes, and its seal (None where missing)."""

    header: SegmentHeader
    data: bytes
    leaves: bytes | None
    head: bytes | None


def line_leaves(data: bytes) -> bytes:
    """The SHA-256 of each line of a JSON-lines segment, concatenated."""
    return b"".join(hashlib.sha256(line).digest() for line in data.split(b"\n"))


def segment_digest(
    header: SegmentHeader, data: bytes, leaves: bytes | None, *, hashed: bool = False
) -> bytes:
    """``hashed``: ``data`` is the SHA-256 of the segment's bytes (what a proof carries)."""
    h = hashlib.sha256(_SEGMENT_DOMAIN)
    h.update(header.canonical())
    h.update(data if hashed else hashlib.sha256(data).digest())
    h.update(leaves or b"")
    return h.digest()


def next_head(prev: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev + digest).digest()


# checkpoints ------------------------------------------------------------------------------
TREE_HEAD_FORMAT = "sitroom-tree-head/1"


@dataclass(frozen=True)
class SignedHead:
    """The log's heads after record ``seq``, signed by ``site``: the chain's, and the Merkle
    tree's over the ``size`` segments up to it (domain/secure/merkle.py; None in heads signed
    before the tree existed). What a checkpoint record carries, what is kept outside the log
    (application.ports.HeadKeeper) so that a log which is lost, cut short or replaced cannot
    take the evidence of its length with it, and what witnesses co-sign."""

    site: str
    seq: int
    head: bytes
    fingerprint: str
    signature: bytes
    size: int | None = None
    root: bytes | None = None

    def message(self) -> bytes:
        return checkpoint_message(self.site, self.seq, self.head, self.size, self.root)

    def to_json(self) -> CheckpointPayload:
        body: CheckpointPayload = {
            "site": self.site,
            "seq": self.seq,
            "head": b64(self.head),
            "fingerprint": self.fingerprint,
            "signature": b64(self.signature),
        }
        if self.size is not None and self.root is not None:
            body["size"] = self.size
            body["root"] = b64(self.root)
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, what: str) -> SignedHead:
        """SecureError, saying ``what`` it was, if ``body`` is not one."""
        try:
            seq = _position(body["seq"], "seq")
            size = None if body.get("size") is None else _position(body["size"], "size")
            root = body.get("root")
            if (size is None) != (root is None):
                raise ValueError("a tree head needs both its size and its root")
            return cls(
                site=str(body["site"]),
                seq=seq,
                head=unb64(str(body["head"]), what=f"{what}'s head", size=DIGEST),
                fingerprint=str(body["fingerprint"]),
                signature=unb64(str(body["signature"]), what=f"{what}'s signature", size=64),
                size=size,
                root=None if root is None else unb64(str(root), what=f"{what}'s root", size=DIGEST),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SecureError(f"{what} is malformed ({e})") from None


@dataclass(frozen=True)
class LogHead:
    """A log's heads after record ``seq``: the chain's, and the Merkle tree's over its
    ``size`` segments."""

    seq: int
    head: bytes
    size: int
    root: bytes

    def sign(self, secret: Secret) -> SignedHead:
        return sign_head(secret, self.seq, self.head, (self.size, self.root))


def _position(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} {value!r} is no log position")
    return value


def sign_head(
    secret: Secret, seq: int, head: bytes, tree: tuple[int, bytes] | None = None
) -> SignedHead:
    """``head`` at ``seq`` (and the tree's ``(size, root)``), signed as site ``secret.name``."""
    size, root = tree if tree is not None else (None, None)
    signature = secret.sign(checkpoint_message(secret.name, seq, head, size, root))
    return SignedHead(secret.name, seq, head, secret.identity.fingerprint, signature, size, root)


@dataclass(frozen=True)
class Checkpoint:
    """A signed head, and the record that carries it."""

    site: str
    seq: int  # the log position whose head is signed
    head: bytes
    fingerprint: str
    signature: bytes
    record_seq: int
    record_id: str
    size: int | None = None
    root: bytes | None = None

    def message(self) -> bytes:
        return checkpoint_message(self.site, self.seq, self.head, self.size, self.root)


def checkpoint_message(
    site: str, seq: int, head: bytes, size: int | None = None, root: bytes | None = None
) -> bytes:
    """The bytes a signed head's signature covers: with the tree's head, a format name too,
    so a signature over one shape is never taken for the other."""
    body: dict[str, Any] = {"site": site, "seq": seq, "head": b64(head)}
    if size is not None and root is not None:
        body.update(format=TREE_HEAD_FORMAT, size=size, root=b64(root))
    return canonical(body)


def checkpoint_record(
    secret: Secret, seq: int, head: bytes, now_ms: int, tree: tuple[int, bytes] | None = None
) -> Record:
    """The ``audit.checkpoint`` record that signs ``head`` at ``seq`` as site ``secret.name``."""
    return head_record(sign_head(secret, seq, head, tree), now_ms)


def head_record(signed: SignedHead, now_ms: int) -> Record:
    """The ``audit.checkpoint`` record that carries ``signed`` into the log."""
    return AUDIT_CHECKPOINT.record(
        id=f"{AUDIT_CHECKPOINT}:{signed.site}:{signed.seq}",
        source="sitroom",
        valid_from=now_ms,
        valid_to=now_ms,
        payload=signed.to_json(),
    )


def parse_checkpoint(payload: Mapping[str, Any], record_seq: int, record_id: str) -> Checkpoint:
    h = SignedHead.from_json(payload, what=f"checkpoint {record_id}")
    return Checkpoint(
        h.site, h.seq, h.head, h.fingerprint, h.signature, record_seq, record_id, h.size, h.root
    )


def checkpoint_fault(cp: Checkpoint | SignedHead, anchor: Identity) -> str | None:
    """Why ``cp`` does not verify against the site's public card (None: it does)."""
    return anchor.signed(cp.site, cp.fingerprint, cp.message(), cp.signature)


# the walk ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """Something that is not as it was sealed. ``seq``/``id`` name the first bad record (None
    where no single record can be named); ``first_seq``–``last_seq`` the stretch concerned."""

    reason: str
    message: str
    seq: int | None
    id: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "reason": self.reason,
            "message": self.message,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


def first_bad(findings: Sequence[Finding]) -> Finding | None:
    """The finding with the lowest seq (log-wide findings, with no seq, last)."""
    return min(findings, key=lambda f: (f.seq is None, f.seq or 0), default=None)


class ChainWalk:
    """Checks stored segments given in seq order; ``checkpoints`` (already signature-checked)
    are matched against the stored head at their position."""

    def __init__(self, checkpoints: Sequence[Checkpoint] = ()) -> None:
        self.head = GENESIS  # recomputed from the bytes, whatever is stored
        self.seq = 0  # the last seq seen
        self.records = 0
        self.segments = 0
        self.tree = merkle.Frontier()  # ... and the Merkle tree's
        self.digests: list[bytes] = []  # every segment's digest, recomputed: the tree's leaves
        self.verified: list[Checkpoint] = []
        self.trusted_to = 0  # the newest position a verified checkpoint vouches for
        self._stored = GENESIS  # the predecessor's stored head
        self._pending: dict[int, list[Checkpoint]] = {}
        for cp in checkpoints:
            self._pending.setdefault(cp.seq, []).append(cp)

    def step(self, seg: StoredSegment) -> list[Finding]:
        h = seg.header
        found: list[Finding] = []
        linked = True  # whether the predecessor is the segment this one was sealed after
        if h.first_seq > self.seq + 1:
            linked = False
            found.append(
                Finding(
                    MISSING,
                    f"records {self.seq + 1}–{h.first_seq - 1} are missing (a removed segment)",
                    self.seq + 1,
                    first_seq=self.seq + 1,
                    last_seq=h.first_seq - 1,
                )
            )
        elif h.first_seq <= self.seq:
            linked = False
            found.append(
                Finding(
                    OVERLAP,
                    f"segment {h.first_seq}–{h.last_seq} starts inside the records before it "
                    f"(they end at {self.seq}): records were re-ordered or duplicated",
                    h.first_seq,
                    first_seq=h.first_seq,
                    last_seq=h.last_seq,
                )
            )
        digest = segment_digest(h, seg.data, seg.leaves)
        self.head = next_head(self.head, digest)
        self.tree.append(digest)
        self.digests.append(digest)
        if seg.head is None:
            found.append(
                Finding(
                    UNSEALED,
                    f"segment {h.first_seq}–{h.last_seq} carries no chain head: it was not "
                    "written by sitroom's append",
                    h.first_seq,
                    first_seq=h.first_seq,
                    last_seq=h.last_seq,
                )
            )
        elif linked and next_head(self._stored, digest) != seg.head:
            found.append(pinpoint(seg))
        for cp in self._pending.pop(h.last_seq, ()):
            if found:
                continue  # already explained by what this segment shows
            if cp.size is not None and cp.size != self.tree.size:
                found.append(
                    Finding(
                        MISPLACED,
                        f"checkpoint {cp.record_id} signs a tree of {cp.size:,} segments at "
                        f"seq {cp.seq}, where the log has {self.tree.size:,}: segments were "
                        "re-cut",
                        self.trusted_to + 1,
                        first_seq=self.trusted_to + 1,
                        last_seq=cp.seq,
                    )
                )
            elif seg.head != cp.head:
                found.append(
                    Finding(
                        REWRITTEN,
                        f"the chain at seq {cp.seq} differs from checkpoint {cp.record_id} "
                        f"signed by the site: a record in {self.trusted_to + 1}–{cp.seq} was "
                        "changed and the stored digests recomputed to hide it",
                        self.trusted_to + 1,
                        first_seq=self.trusted_to + 1,
                        last_seq=cp.seq,
                    )
                )
            else:
                self.verified.append(cp)
                self.trusted_to = max(self.trusted_to, cp.seq)
        self._stored = seg.head if seg.head is not None else self.head
        self.seq = max(self.seq, h.last_seq)
        self.records += h.records
        self.segments += 1
        return found

    def finish(self) -> list[Finding]:
        """Checkpoints that matched no segment's end: signed for a position the log no longer
        has as a boundary (its segments were cut differently) or no longer has at all."""
        found = []
        for seq, cps in sorted(self._pending.items()):
            for cp in cps:
                where = "past the log's end" if seq > self.seq else "at no segment boundary"
                found.append(
                    Finding(
                        MISPLACED,
                        f"checkpoint {cp.record_id} signs seq {seq}, {where}: "
                        f"records up to {seq} were removed or re-cut",
                        min(seq, self.seq + 1),
                        first_seq=self.trusted_to + 1,
                        last_seq=seq,
                    )
                )
        self._pending.clear()
        return found


def against_kept(
    kept: SignedHead, at_seq: bytes | None, last_seq: int, where: str
) -> list[Finding]:
    """Whether the log holds the head kept outside it (in ``where``): a log that ends before
    the kept head's seq lost its records (cut short, emptied or replaced by a shorter one); a
    log whose stored head at that seq (``at_seq``; None: no segment ends there) differs is
    not the log that was signed. A log that grew past the kept head is as it should be."""
    if last_seq < kept.seq:
        held = f"ends at seq {last_seq:,}" if last_seq else "is empty"
        gone = (
            f"record {kept.seq:,} is"
            if last_seq + 1 == kept.seq
            else f"records {last_seq + 1:,}–{kept.seq:,} are"
        )
        return [
            Finding(
                LOST,
                f"the log {held}, but the last head signed by site {kept.site}, kept in "
                f"{where}, is at seq {kept.seq:,} ({b64(kept.head)}): {gone} gone (the log "
                "was cut short or replaced)",
                last_seq + 1,
                first_seq=last_seq + 1,
                last_seq=kept.seq,
            )
        ]
    if at_seq == kept.head:
        return []
    found = "no segment ends there" if at_seq is None else f"the log's is {b64(at_seq)}"
    return [
        Finding(
            REPLACED,
            f"the chain's head at seq {kept.seq:,} should be {b64(kept.head)}, as signed by "
            f"site {kept.site} and kept in {where}, but {found}: this is not the log that was "
            "signed (it was replaced, or rewritten from the start)",
            None,
            first_seq=1,
            last_seq=kept.seq,
        )
    ]


def pinpoint(seg: StoredSegment) -> Finding:
    """The first record of ``seg`` that is not as sealed: exactly, by comparing each line
    with its sealed digest, in a JSON-lines segment; the segment's first record otherwise."""
    h = seg.header
    where = f"segment {h.first_seq}–{h.last_seq}"
    if seg.leaves is not None and len(seg.leaves) % DIGEST == 0:
        sealed = [seg.leaves[i : i + DIGEST] for i in range(0, len(seg.leaves), DIGEST)]
        lines = seg.data.split(b"\n")
        at = {d: i for i, d in enumerate(sealed)}
        for i in range(max(len(lines), len(sealed))):
            line = lines[i] if i < len(lines) else None
            digest = hashlib.sha256(line).digest() if line is not None else None
            if i < len(sealed) and digest == sealed[i]:
                continue
            seq = h.first_seq + i
            rid = _line_id(line)
            if digest is not None and digest in at:
                return Finding(
                    MOVED,
                    f"record {seq} is the one sealed as record {h.first_seq + at[digest]}: "
                    "records were re-ordered",
                    seq,
                    rid,
                    h.first_seq,
                    h.last_seq,
                )
            what = "is missing" if line is None else "was changed"
            return Finding(CHANGED, f"record {seq} {what}", seq, rid, h.first_seq, h.last_seq)
        message = (
            f"{where} no longer matches the chain, though each record matches its stored "
            "digest: its header or its record digests were changed"
        )
    else:
        message = f"{where} no longer matches the chain"
    return Finding(CHANGED, message, h.first_seq, None, h.first_seq, h.last_seq)


def _line_id(line: bytes | None) -> str | None:
    if line is None:
        return None
    try:
        rid = orjson.loads(line).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return rid if isinstance(rid, str) else None
