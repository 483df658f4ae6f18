"""Proofs for people outside the room (domain/secure/proofs.py): made from the log as stored,
under a head the site signs as it makes them; checked offline with the site's card alone."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sitroom.application.ports import AuditedLog
from sitroom.application.results import Result
from sitroom.application.session import Session
from sitroom.domain.secure import proofs
from sitroom.domain.secure.audit import DIGEST, SignedHead
from sitroom.domain.secure.codec import b64, json_object
from sitroom.domain.secure.identity import Secret
from sitroom.errors import NotFound, SecureError, UserInputError


@dataclass(frozen=True, kw_only=True)
class ProofMade(Result):
    what: str  # "inclusion" or "consistency"
    site: str
    seq: int  # the signed head's
    size: int
    root: str
    record: str | None  # an inclusion proof's record
    since: int | None  # a consistency proof's earlier head (its seq)
    statement: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ProofChecked(Result):
    ok: bool
    what: str
    site: str
    seq: int
    problem: str | None


class Proofs:
    def __init__(self, session: Session, log: AuditedLog, site_secret: Callable[[], Secret]):
        self._s = session
        self._log = log
        self._secret = site_secret

    def record(self, rid: str) -> ProofMade:
        """That record ``rid`` is in this log, under a head signed now."""
        hidden = self._s.outside([rid])
        if hidden is not None:
            self._s.deny(f"prove record {rid}", f"it is in {hidden}", hidden)
        with self._log.audit_scan() as scan:
            seq = scan.seq_of(rid)
            found = None if seq is None else scan.holding(seq)
            if seq is None or found is None:
                raise NotFound("record", rid)
            index, seg = found
            head, tree = scan.tree()
        h = seg.header
        if seg.leaves is None:  # a compressed segment: no record has a digest of its own
            raise UserInputError(
                f"record {rid} is one of {h.records:,} bulk records stored compressed together "
                f"(segment {h.first_seq}–{h.last_seq}): proofs name single records in the "
                "JSON-lines segments people's records are kept in"
            )
        line = seg.data.split(b"\n")[seq - h.first_seq]
        proof = proofs.Inclusion(
            head.sign(self._secret()),
            line,
            seq,
            h,
            hashlib.sha256(seg.data).digest(),
            tuple(seg.leaves[i : i + DIGEST] for i in range(0, len(seg.leaves), DIGEST)),
            index,
            tuple(tree.inclusion(index)),
        )
        return self._made("inclusion", proof.head, proof.to_json(), record=rid)

    def grew(self, earlier: bytes | str | Mapping[str, Any]) -> ProofMade:
        """That this log extends ``earlier`` — a head it signed (head.json, a checkpoint's
        payload, a witness request or a co-signed head) — under a head signed now."""
        old = _head_in(json_object(earlier, "a signed head"))
        with self._log.audit_scan() as scan:
            head, tree = scan.tree()
        if old.size is None or old.root is None:
            raise UserInputError(
                f"the head at seq {old.seq:,} was signed before tree heads existed: prove "
                "from a later one"
            )
        if old.size > tree.size or tree.root(old.size) != old.root:
            raise SecureError(
                f"this log does not extend the head at seq {old.seq:,}: run `sitroom verify`"
            )
        proof = proofs.Consistency(
            old, head.sign(self._secret()), tuple(tree.consistency(old.size))
        )
        return self._made("consistency", proof.new, proof.to_json(), since=old.seq)

    def _made(
        self,
        what: str,
        head: SignedHead,
        statement: Mapping[str, Any],
        *,
        record: str | None = None,
        since: int | None = None,
    ) -> ProofMade:
        assert head.size is not None and head.root is not None
        return ProofMade(
            what=what,
            site=head.site,
            seq=head.seq,
            size=head.size,
            root=b64(head.root),
            record=record,
            since=since,
            statement=statement,
        )


def check(
    statement: bytes | str | Mapping[str, Any], card: bytes | str | Mapping[str, Any]
) -> ProofChecked:
    """Check a proof with nothing but the site's public card (exchanged out of band)."""
    from sitroom.application.agreements_offline import read_card

    body = json_object(statement, "a proof")
    site = read_card(json_object(card, "a public card"))
    what = body.get("format")
    proof: proofs.Inclusion | proofs.Consistency
    if what == proofs.INCLUSION_FORMAT:
        proof = proofs.Inclusion.from_json(body)
        kind, seq = "inclusion", proof.seq
    elif what == proofs.CONSISTENCY_FORMAT:
        proof = proofs.Consistency.from_json(body)
        kind, seq = "consistency", proof.new.seq
    else:
        raise UserInputError("this is not a proof from `sitroom proof record` or `proof grew`")
    problem = proof.fault(site)
    return ProofChecked(ok=problem is None, what=kind, site=site.name, seq=seq, problem=problem)


def _head_in(body: Mapping[str, Any]) -> SignedHead:
    """The signed head a statement carries: a head itself (head.json, a checkpoint's
    payload), or the one inside a witness request or a co-signed head."""
    inner = body.get("head")
    return SignedHead.from_json(
        inner if isinstance(inner, Mapping) else body, what="the earlier head"
    )
