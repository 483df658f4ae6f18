"""Witnessed tree heads, pure: what a site asks a witness to co-sign, what the witness checks
before it signs, and what it gives back.

A site's own checkpoints cannot protect its log from someone who holds the log *and* the
site's key: they can change a record, recompute every digest and re-sign. A *witness* —
another site, or anyone holding the site's public card, pinned out of band — keeps the last
tree head (domain/secure/merkle.py) it co-signed for each site, and co-signs a new one only
with a consistency proof from it: the log only grew. So a head it co-signed is fixed: a log
rewritten, cut short or forked after it is no longer consistent with it, and `sitroom verify
--witnessed` says so, whoever re-signed what. (The witnessing model of transparency logs:
C2SP's tlog-witness, Certificate Transparency's gossip.)

A witness refuses, with a stable reason code:

- ``not-pinned`` — the head is signed by a key that is not the site's card it holds;
- ``forged`` — the site's signature over the head does not verify;
- ``no-tree`` — a head signed before the tree existed (no size, no root);
- ``rolled-back`` — a smaller tree than the one it co-signed last;
- ``no-proof`` — no consistency proof from the head it co-signed last (it says which size);
- ``forked`` — the proof does not check: the site showed it a head that does not extend the
  one it co-signed. The two signed heads are the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sitroom.domain.kinds import WITNESS_COSIGNED
from sitroom.domain.records import Record
from sitroom.domain.secure import audit, merkle
from sitroom.domain.secure.audit import Finding, SignedHead, checkpoint_fault
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Identity, Secret

if TYPE_CHECKING:
    from sitroom.domain.secure.transition import SiteKeys
from sitroom.errors import Rejected, SecureError

COSIGNED_FORMAT = "sitroom-cosigned-head/1"
REQUEST_FORMAT = "sitroom-witness-request/1"

NOT_PINNED = "not-pinned"
FORGED = "forged"
NO_TREE = "no-tree"
ROLLED_BACK = "rolled-back"
NO_PROOF = "no-proof"
FORKED = "forked"


@dataclass(frozen=True)
class Cosigned:
    """A site's signed tree head, co-signed by ``witness`` at ``at_ms``."""

    head: SignedHead
    witness: str
    fingerprint: str  # the witness's key
    at_ms: int
    signature: bytes

    @property
    def size(self) -> int:
        assert self.head.size is not None
        return self.head.size

    @property
    def root(self) -> bytes:
        assert self.head.root is not None
        return self.head.root

    def message(self) -> bytes:
        return cosigned_message(self.head, self.witness, self.fingerprint, self.at_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": COSIGNED_FORMAT,
            "head": dict(self.head.to_json()),
            "witness": self.witness,
            "fingerprint": self.fingerprint,
            "at_ms": self.at_ms,
            "signature": b64(self.signature),
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, what: str) -> Cosigned:
        try:
            if body.get("format") != COSIGNED_FORMAT:
                raise ValueError(f"it is not a {COSIGNED_FORMAT} statement")
            head = SignedHead.from_json(body["head"], what=f"{what}'s head")
            if head.size is None:
                raise ValueError("its head carries no tree")
            at_ms = body["at_ms"]
            if not isinstance(at_ms, int) or isinstance(at_ms, bool):
                raise ValueError(f"at_ms {at_ms!r} is no time")
            return cls(
                head,
                str(body["witness"]),
                str(body["fingerprint"]),
                at_ms,
                unb64(str(body["signature"]), what=f"{what}'s signature", size=64),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SecureError(f"{what} is malformed ({e})") from None

    def record(self) -> Record:
        """The ``witness.cosigned`` record that keeps it (in the witness's log, and in the
        site's when it comes back)."""
        return WITNESS_COSIGNED.record(
            id=f"{WITNESS_COSIGNED}:{self.witness}:{self.head.site}:{self.size}",
            source="sitroom",
            valid_from=self.at_ms,
            valid_to=self.at_ms,
            payload=self.to_json(),
        )


def cosigned_message(head: SignedHead, witness: str, fingerprint: str, at_ms: int) -> bytes:
    return canonical(
        {
            "format": COSIGNED_FORMAT,
            "head": dict(head.to_json()),
            "witness": witness,
            "fingerprint": fingerprint,
            "at_ms": at_ms,
        }
    )


def cosign(witness: Secret, head: SignedHead, at_ms: int) -> Cosigned:
    fingerprint = witness.identity.fingerprint
    signature = witness.sign(cosigned_message(head, witness.name, fingerprint, at_ms))
    return Cosigned(head, witness.name, fingerprint, at_ms, signature)


def cosigned_fault(c: Cosigned, witness: Identity) -> str | None:
    """Why ``c`` is not ``witness``'s co-signature (None: it is)."""
    return witness.signed(c.witness, c.fingerprint, c.message(), c.signature)


@dataclass(frozen=True)
class Request:
    """A site's signed tree head, and the proof that it extends the head of ``since``
    segments the witness co-signed last (0: the site knows of none)."""

    head: SignedHead
    since: int
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "head": dict(self.head.to_json()),
            "since": self.since,
            "proof": [b64(h) for h in self.proof],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, what: str) -> Request:
        try:
            if body.get("format") != REQUEST_FORMAT:
                raise ValueError(f"it is not a {REQUEST_FORMAT} request")
            since = body["since"]
            if not isinstance(since, int) or isinstance(since, bool) or since < 0:
                raise ValueError(f"since {since!r} is no tree size")
            proof = body["proof"]
            if not isinstance(proof, list) or len(proof) > 128:
                raise ValueError("its proof is not a list of hashes")
            return cls(
                SignedHead.from_json(body["head"], what=f"{what}'s head"),
                since,
                tuple(unb64(str(h), what="a proof hash", size=merkle.HASH_SIZE) for h in proof),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SecureError(f"{what} is malformed ({e})") from None


def check_request(req: Request, site: Identity, last: Cosigned | None) -> None:
    """Whether a witness holding ``site``'s card, that co-signed ``last`` for it, may co-sign
    ``req``'s head: :class:`Rejected` with the reason if not."""
    head = req.head
    name = f"site {site.name}"
    if head.site != site.name:
        raise Rejected(NOT_PINNED, f"the head is site {head.site}'s, not {site.name}'s")
    fault = checkpoint_fault(head, site)
    if fault is not None:
        if head.fingerprint != site.fingerprint:
            raise Rejected(
                NOT_PINNED,
                f"the head is not {name}'s: {fault} (if the site replaced its key, import its "
                "key transition first: `sitroom keys import TRANSITION`)",
            )
        raise Rejected(FORGED, f"the head is not {name}'s: {fault}")
    if head.size is None or head.root is None:
        raise Rejected(NO_TREE, f"the head at seq {head.seq} carries no tree head to witness")
    if last is None:
        return
    if head.size < last.size:
        raise Rejected(
            ROLLED_BACK,
            f"{name}'s head is a tree of {head.size:,} segments, but {last.witness} co-signed "
            f"one of {last.size:,} (at seq {last.head.seq:,}): the log was cut short",
        )
    if req.since != last.size and head.size != last.size:
        raise Rejected(
            NO_PROOF,
            f"{last.witness} last co-signed {name}'s tree of {last.size:,} segments; send a "
            f"consistency proof from it (this one starts from {req.since:,})",
        )
    if not merkle.consistent(last.size, last.root, head.size, head.root, req.proof):
        raise Rejected(
            FORKED,
            f"{name}'s head at seq {head.seq:,} ({head.size:,} segments) does not extend the "
            f"one {last.witness} co-signed at seq {last.head.seq:,} ({last.size:,} segments): "
            "the log was rewritten or forked",
        )


def newest(cosigned: Sequence[Cosigned]) -> dict[tuple[str, str], Cosigned]:
    """The largest tree co-signed per (witness, site)."""
    out: dict[tuple[str, str], Cosigned] = {}
    for c in cosigned:
        key = (c.witness, c.head.site)
        if key not in out or c.size > out[key].size:
            out[key] = c
    return out


def against_log(
    c: Cosigned, tree: merkle.Tree, last_seq: int, keys: SiteKeys | None
) -> list[Finding]:
    """Whether the log whose segments' digests (recomputed from its bytes) make ``tree``
    still extends the head ``c`` that a witness co-signed: the consistency proof from it to
    the log's head, checked as anyone holding only the two heads would check it. A head
    signed by a key the site replaced is the site's when the old key signed the transition
    and the head is not after it (``keys``: domain/secure/transition.py)."""
    head, by = c.head, f"witness {c.witness}"
    found: list[Finding] = []
    anchor = None if keys is None else keys.anchor
    if (
        keys is not None
        and anchor is not None
        and head.fingerprint != anchor.fingerprint
        and keys.continued(head.fingerprint, head.seq) is None
    ):
        found.append(
            Finding(
                audit.ANCHOR,
                f"{by} co-signed heads of site {head.site} signed by key {head.fingerprint}, "
                f"but this workspace says the site's key is {anchor.fingerprint}: the site's "
                "key was replaced, and with it what checks the log",
                None,
            )
        )
    if tree.size < c.size:
        return [
            *found,
            Finding(
                audit.LOST,
                f"the log has {tree.size:,} segments (to seq {last_seq:,}), but {by} "
                f"co-signed a head of {c.size:,} segments at seq {head.seq:,}: records after "
                "it were cut off",
                last_seq + 1,
                first_seq=last_seq + 1,
                last_seq=head.seq,
            ),
        ]
    proof = tree.consistency(c.size)
    if not merkle.consistent(c.size, c.root, tree.size, tree.root(), proof):
        found.append(
            Finding(
                audit.FORKED,
                f"the log is not an extension of the head {by} co-signed at seq "
                f"{head.seq:,} ({c.size:,} segments): a record up to it was changed, removed "
                "or re-ordered and the log re-sealed (rewritten or forked)",
                None,
                first_seq=1,
                last_seq=head.seq,
            )
        )
    return found
