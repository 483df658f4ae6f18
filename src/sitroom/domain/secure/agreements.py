"""Signed agreements, pure: a proposal, its party rules, its canonical bytes, each party's
signature over them, a withdrawal, and their records.

A *proposal* names its text and its parties, each pinned to the fingerprint of the identity it
had when the proposal was made, so a key changed later cannot sign in that party's name. What a
party signs is the proposal's RFC 8785 canonical JSON (``Proposal.canonical``): every field,
the text to the byte, the party list with the pinned fingerprints, the track, the proposer and
the time it was proposed. Change any of it and every signature over it fails.

An agreement is *agreed* when every party's signature verifies against its pinned key; a
party's signed withdrawal before that *aborts* it, and nothing is accepted after either. The
``agreement.agreed`` record then holds the proposal, all signatures and each signer's public
card: ``agreements_offline.verify_agreed`` checks it with nothing but the public keys the
verifier trusts (and a party may sign there, detached, with no workspace).

The checks here are the only ones: the use cases run them before they append, and the fold
(agreements_ledger.py) runs them again on what it reads, so a record that was never accepted —
edited into an export, replayed from elsewhere — does not count either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sitroom.domain.kinds import (
    AGREEMENT_AGREED,
    AGREEMENT_PROPOSED,
    AGREEMENT_SIGNED,
    AGREEMENT_WITHDRAWN,
)
from sitroom.domain.records import Record
from sitroom.domain.secure.codec import canonical, unb64
from sitroom.domain.secure.identity import Identity, check_name
from sitroom.errors import Rejected, SecureError, UserInputError

# Inside every signed statement: a signature over one of these can never be taken for a
# signature over an identity card, an epoch, a checkpoint or an envelope (other shapes).
PROPOSAL_FORMAT = "sitroom-agreement/1"
WITHDRAWAL_FORMAT = "sitroom-agreement-withdrawal/1"
AGREED_FORMAT = "sitroom-agreed/1"

OPEN, AGREED, ABORTED = "open", "agreed", "aborted"
SIGNED, PENDING, WITHDREW = "signed", "pending", "withdrew"
MIN_PARTIES = 2

# Stable reason codes of refusals (scripts read them; the message says it in words).
NOT_A_PARTY = "not-a-party"
WRONG_KEY = "wrong-key"  # the key offered is not the one the proposal pinned for the party
FORGED = "forged"  # the signature does not verify over this proposal with that key
CLOSED_ABORTED = "aborted"  # a party withdrew: nothing more is accepted
CLOSED_AGREED = "agreed"  # every party signed: nobody can withdraw any more
STALE = "stale"  # a statement about another version of the proposal (its digest differs)
PARTIES = "parties"  # a proposal whose party list no agreement may have

# The proposal's fields in words, to say which one changed.
PART_NAMES = {
    "format": "the format",
    "agreement": "the agreement id",
    "title": "the title",
    "text": "the text",
    "parties": "the party list",
    "proposer": "the proposer",
    "created_ms": "the proposal time",
    "track": "the track",
}


@dataclass(frozen=True)
class Party:
    name: str
    fingerprint: str


@dataclass(frozen=True)
class Proposal:
    id: str
    title: str
    text: str
    parties: tuple[Party, ...]
    proposer: str
    created_ms: int
    track: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """Exactly what is signed (through :attr:`canonical`)."""
        return {
            "format": PROPOSAL_FORMAT,
            "agreement": self.id,
            "title": self.title,
            "text": self.text,
            "parties": [{"name": p.name, "fingerprint": p.fingerprint} for p in self.parties],
            "proposer": self.proposer,
            "created_ms": self.created_ms,
            "track": self.track,
        }

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Proposal:
        try:
            if p["format"] != PROPOSAL_FORMAT:
                raise SecureError(f"not a sitroom agreement proposal (format {p['format']!r})")
            parties = tuple(Party(str(x["name"]), str(x["fingerprint"])) for x in p["parties"])
            return cls(
                str(p["agreement"]),
                str(p["title"]),
                str(p["text"]),
                parties,
                str(p["proposer"]),
                int(p["created_ms"]),
                None if p.get("track") is None else str(p["track"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise SecureError(f"a proposal is damaged or incomplete ({e})") from None

    @property
    def canonical(self) -> bytes:
        return canonical(self.as_payload())

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parties]

    def party(self, name: str) -> Party | None:
        return next((p for p in self.parties if p.name == name), None)


def new_proposal(
    agreement_id: str,
    title: str,
    text: str,
    parties: Sequence[Identity],
    *,
    proposer: str,
    created_ms: int,
    track: str | None = None,
) -> Proposal:
    """A proposal, each party pinned to the identity it has now. Parties are sorted by name:
    the same parties given in another order make the same agreement."""
    check_name(agreement_id)
    if not title.strip():
        raise UserInputError("an agreement needs a title")
    if not text.strip():
        raise UserInputError("an agreement needs a text to sign (--text or --text-file)")
    pinned = tuple(Party(p.name, p.fingerprint) for p in sorted(parties, key=lambda p: p.name))
    problems = party_problems(pinned)
    if problems:
        raise UserInputError(f"{problems[0]} (--party)")
    return Proposal(agreement_id, title, text, pinned, proposer, created_ms, track)


def party_problems(parties: Sequence[Party]) -> list[str]:
    """What makes a party list one no agreement may have: fewer than MIN_PARTIES, a party
    named twice, or one key pinned for two names (a fingerprint covers the keys, not the
    name: one signer would count twice). Proposing, signing detached, folding and verifying
    all hold a proposal to this, so a record with a party list of an insider's making fails."""
    found = []
    if len(parties) < MIN_PARTIES:
        named = "no party" if not parties else f"only {parties[0].name}"
        found.append(f"the agreement names {named}: it needs at least {MIN_PARTIES} parties")
    names = [p.name for p in parties]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        found.append(f"each party signs once: {', '.join(doubled)} given twice")
    prints = [p.fingerprint for p in parties]
    shared = sorted({p.name for p in parties if prints.count(p.fingerprint) > 1} - set(doubled))
    if shared:
        found.append(f"one key is pinned for more than one party: {', '.join(shared)}")
    return found


def content_key(payload: Mapping[str, Any]) -> str:
    """The tail of a signature's, withdrawal's or agreed record's id: a hash of its payload.
    The log keeps one record per id, so an id of the party's alone let a refused forgery
    written first take the place of the real signature for good; an id of the content gives
    the real one a place of its own (and signing again, deterministic Ed25519, the same)."""
    return hashlib.sha256(canonical(dict(payload))).hexdigest()[:24]


def parts(payload: Mapping[str, Any]) -> dict[str, str]:
    """A digest of each field of a proposal: not what is signed (that is the whole), but what
    lets a verifier say *which* field of a tampered copy changed."""
    return {k: hashlib.sha256(canonical(v)).hexdigest() for k, v in sorted(payload.items())}


def unsigned_fields(payload: Mapping[str, Any]) -> list[str]:
    """Fields of a proposal as stored that are not exactly what is signed: added keys, or
    values read back differently (a number for a text...). Signatures are checked over what is
    signed, so these would otherwise pass unnoticed beside a valid signature."""
    signed = Proposal.from_payload(payload).as_payload()
    return [k for k in sorted(set(signed) | set(payload)) if signed.get(k) != payload.get(k)]


def withdrawal_statement(p: Proposal, party: str, reason: str) -> dict[str, Any]:
    """What a withdrawing party signs: this proposal (by digest), who, and why."""
    return {
        "format": WITHDRAWAL_FORMAT,
        "agreement": p.id,
        "digest": p.digest,
        "party": party,
        "action": "withdraw",
        "reason": reason,
    }


# -- the checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where an agreement stands: who signed, who withdrew, and so its status."""

    proposal: Proposal
    signed: frozenset[str] = frozenset()
    withdrawn_by: str | None = None

    @property
    def status(self) -> str:
        if self.withdrawn_by is not None:
            return ABORTED
        return AGREED if self.signed >= set(self.proposal.names) else OPEN

    def of(self, party: str) -> str:
        if party == self.withdrawn_by:
            return WITHDREW
        return SIGNED if party in self.signed else PENDING


def check_signer(standing: Standing, party: str) -> Party:
    """That ``party`` may sign now: a party, and the agreement not aborted. (Run before a
    passphrase is asked for, and again by :func:`check_signature`.)"""
    p = standing.proposal
    found = p.party(party)
    if found is None:
        raise Rejected(
            NOT_A_PARTY,
            f"{party!r} is not a party to agreement {p.id} (parties: {', '.join(p.names)})",
        )
    if standing.status == ABORTED:
        raise Rejected(
            CLOSED_ABORTED,
            f"agreement {p.id} was aborted when {standing.withdrawn_by} withdrew: it takes no "
            "more signatures or withdrawals",
        )
    return found


def check_withdrawer(standing: Standing, party: str) -> Party:
    """That ``party`` may withdraw now: a party, and the agreement still open."""
    if standing.status == AGREED and standing.proposal.party(party) is not None:
        raise Rejected(
            CLOSED_AGREED,
            f"agreement {standing.proposal.id} is agreed (every party signed): it can no "
            "longer be withdrawn from",
        )
    return check_signer(standing, party)


def pinned_key(p: Proposal, party: Party, card: Mapping[str, Any]) -> Identity:
    """The signer's public key, once it is the one the proposal pinned for the party."""
    key = Identity.from_card(dict(card))
    if key.name != party.name or key.fingerprint != party.fingerprint:
        raise Rejected(
            WRONG_KEY,
            f"the key offered for {party.name!r} ({key.fingerprint}) is not the one agreement "
            f"{p.id} pins ({party.fingerprint}): was the key changed after the proposal?",
        )
    return key


def check_signature(
    standing: Standing, party: str, card: Mapping[str, Any], signature: bytes
) -> Identity:
    """That ``signature`` is ``party``'s, over this proposal, by its pinned key, and that the
    agreement still takes signatures. Returns the signer's key; :class:`Rejected` says why
    not."""
    key = pinned_key(standing.proposal, check_signer(standing, party), card)
    if not key.verifies(standing.proposal.canonical, signature):
        raise Rejected(
            FORGED,
            f"signature of {party!r} does not verify: the text was changed or it was not "
            "signed by this key",
        )
    return key


def check_withdrawal(
    standing: Standing,
    party: str,
    card: Mapping[str, Any],
    statement: Mapping[str, Any],
    signature: bytes,
) -> Identity:
    """That ``party`` signed this withdrawal of this proposal, before it was agreed."""
    p = standing.proposal
    key = pinned_key(p, check_withdrawer(standing, party), card)
    expected = withdrawal_statement(p, party, str(statement.get("reason", "")))
    if dict(statement) != expected:
        raise Rejected(
            STALE, f"the withdrawal by {party!r} is not about this text of agreement {p.id}"
        )
    if not key.verifies(canonical(expected), signature):
        raise Rejected(
            FORGED, f"the withdrawal by {party!r} is not signed by their key: not accepted"
        )
    return key


def signature_bytes(text: object, party: str) -> bytes:
    return unb64(str(text), what=f"{party}'s signature", size=64)


# -- records --------------------------------------------------------------------------------


def proposal_record(p: Proposal, *, compartment: str) -> Record:
    payload = p.as_payload()
    return AGREEMENT_PROPOSED.record(
        id=f"{AGREEMENT_PROPOSED}:{p.id}",
        source=f"agreement:{p.proposer}",
        valid_from=p.created_ms,
        compartment=compartment,
        payload={"proposal": payload, "digest": p.digest},
    )


def signature_record(
    p: Proposal, signer: Identity, signature: str, *, now_ms: int, compartment: str
) -> Record:
    """One party's signature, its id keyed by its content (:func:`content_key`)."""
    payload = {
        "agreement": p.id,
        "digest": p.digest,
        "party": signer.name,
        "card": signer.card(),
        "signature": signature,
    }
    return AGREEMENT_SIGNED.record(
        id=f"{AGREEMENT_SIGNED}:{p.id}:{signer.name}:{content_key(payload)}",
        source=f"agreement:{signer.name}",
        valid_from=now_ms,
        compartment=compartment,
        payload=payload,
    )


def withdrawal_record(
    p: Proposal,
    signer: Identity,
    reason: str,
    signature: str,
    *,
    now_ms: int,
    compartment: str,
) -> Record:
    payload = {
        "statement": withdrawal_statement(p, signer.name, reason),
        "card": signer.card(),
        "signature": signature,
    }
    return AGREEMENT_WITHDRAWN.record(
        id=f"{AGREEMENT_WITHDRAWN}:{p.id}:{signer.name}:{content_key(payload)}",
        source=f"agreement:{signer.name}",
        valid_from=now_ms,
        compartment=compartment,
        payload=payload,
    )


def agreed_payload(
    p: Proposal, signatures: Mapping[str, Mapping[str, Any]], *, agreed_ms: int
) -> dict[str, Any]:
    """The self-contained agreed record: the proposal as signed, its digests, and every
    party's signature with the public card it verifies under."""
    missing = [n for n in p.names if n not in signatures]
    if missing:
        raise SecureError(f"agreement {p.id} is not agreed: {', '.join(missing)} have not signed")
    payload = p.as_payload()
    pinned = {x.name: x.fingerprint for x in p.parties}
    return {
        "format": AGREED_FORMAT,
        "agreement": p.id,
        "proposal": payload,
        "digest": p.digest,
        "parts": parts(payload),
        "signatures": [
            {
                "party": n,
                "fingerprint": pinned[n],
                "card": dict(signatures[n]["card"]),
                "signature": signatures[n]["signature"],
            }
            for n in p.names
        ],
        "agreed_ms": agreed_ms,
    }


def agreed_record(payload: Mapping[str, Any], *, compartment: str) -> Record:
    return AGREEMENT_AGREED.record(
        id=f"{AGREEMENT_AGREED}:{payload['agreement']}:{content_key(payload)}",
        source="sitroom",
        valid_from=int(payload["agreed_ms"]),
        compartment=compartment,
        payload=dict(payload),
    )
