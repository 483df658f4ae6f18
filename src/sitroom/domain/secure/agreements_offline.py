"""Agreements without a workspace, pure: the statement a party signs on its own machine (a
signature or a withdrawal, as a file), and the check anyone can run on an agreed record with
the parties' public cards.

A party signs a proposal detached: it reads the proposal file, checks the text and the digest,
and signs with its own key file, which never leaves its machine. What it hands back is a
:class:`Statement` (format ``sitroom-agreement-signature/1``, or
``sitroom-agreement-withdrawal-signature/1`` for a withdrawal): the agreement, the proposal's
digest, the party, its fingerprint and card, and the Ed25519 signature (base64url) over exactly
what an online signature covers. The mediator's room checks it with the same checks
(agreements.py) and records it as the same record.

Offline, the cards the verifier supplies are the trust anchor (compared out of band); the cards
inside a record are only hints. An agreed record verifies when it names at least MIN_PARTIES
parties, each pinned to a key the verifier supplied, and each party's signature verifies with
that key over exactly the proposal in the record — and no signed withdrawal the verifier was
given says a party withdrew.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sitroom.domain.secure.agreements import (
    AGREED_FORMAT,
    PART_NAMES,
    PARTIES,
    STALE,
    Party,
    Proposal,
    Standing,
    check_signature,
    check_withdrawal,
    parts,
    party_problems,
    signature_bytes,
    unsigned_fields,
    withdrawal_statement,
)
from sitroom.domain.secure.codec import b64, canonical
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.errors import Rejected, SecureError

SIGNATURE_FORMAT = "sitroom-agreement-signature/1"
WITHDRAWAL_FORMAT = "sitroom-agreement-withdrawal-signature/1"
VERIFIED, UNVERIFIED, FAILED = "verified", "unverified", "failed"


# -- detached statements --------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """A party's detached signature, or signed withdrawal (``reason`` set), as read from its
    file: well formed, not yet checked against a proposal."""

    agreement: str
    digest: str
    party: str
    fingerprint: str
    card: Mapping[str, Any]
    signature: str
    reason: str | None = None

    @property
    def what(self) -> str:
        return f"the withdrawal by {self.party}" if self.withdraws else f"{self.party}'s signature"

    @property
    def withdraws(self) -> bool:
        return self.reason is not None

    def as_payload(self) -> dict[str, Any]:
        body = {
            "format": WITHDRAWAL_FORMAT if self.withdraws else SIGNATURE_FORMAT,
            "agreement": self.agreement,
            "digest": self.digest,
            "party": self.party,
            "fingerprint": self.fingerprint,
            "card": dict(self.card),
            "signature": self.signature,
        }
        return body if self.reason is None else {**body, "reason": self.reason}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Statement:
        form = data.get("format")
        if form not in (SIGNATURE_FORMAT, WITHDRAWAL_FORMAT):
            raise SecureError(f"not a sitroom agreement signature or withdrawal (format {form!r})")
        try:
            card = data["card"]
            s = cls(
                str(data["agreement"]),
                str(data["digest"]),
                str(data["party"]),
                str(data["fingerprint"]),
                dict(card),
                str(data["signature"]),
                str(data["reason"]) if form == WITHDRAWAL_FORMAT else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise SecureError(f"a signature statement is damaged or incomplete ({e})") from None
        key = Identity.from_card(dict(card))
        if (key.name, key.fingerprint) != (s.party, s.fingerprint):
            raise SecureError(
                f"{s.what} names {s.party} ({s.fingerprint}) but holds the card of {key.name} "
                f"({key.fingerprint})"
            )
        return s

    def signed_bytes(self, p: Proposal) -> bytes:
        """What its signature is over, for proposal ``p``."""
        if self.reason is None:
            return p.canonical
        return canonical(withdrawal_statement(p, self.party, self.reason))


def sign_detached(p: Proposal, secret: Secret, *, reason: str | None = None) -> Statement:
    """``secret``'s signature of ``p`` (or, with ``reason``, its withdrawal from it), checked
    as the mediator's room will check it before it leaves the party's machine."""
    problems = party_problems(p.parties)
    if problems:
        raise Rejected(PARTIES, f"not signed: {problems[0]}")
    me = secret.identity
    draft = Statement(p.id, p.digest, me.name, me.fingerprint, me.card(), "", reason)
    made = replace(draft, signature=b64(secret.sign(draft.signed_bytes(p))))
    check_statement(Standing(p), made)
    return made


def check_statement(standing: Standing, s: Statement) -> Identity:
    """That ``s`` is about this proposal, by the party's pinned key, and may be accepted now
    (a signature while the agreement is not aborted, a withdrawal while it is open): the
    checks of an online signature or withdrawal. Returns the signer's key."""
    p = standing.proposal
    if s.agreement != p.id:
        raise Rejected(STALE, f"{s.what} is about agreement {s.agreement!r}, not {p.id!r}")
    if s.digest != p.digest:
        raise Rejected(
            STALE,
            f"{s.what} is about another text of agreement {p.id} (digest {s.digest[:16]}…, "
            f"not {p.digest[:16]}…)",
        )
    sig = signature_bytes(s.signature, s.party)
    if s.reason is None:
        return check_signature(standing, s.party, s.card, sig)
    statement = withdrawal_statement(p, s.party, s.reason)
    return check_withdrawal(standing, s.party, s.card, statement, sig)


# -- offline verification -------------------------------------------------------------------
@dataclass(frozen=True)
class PartyCheck:
    party: str
    fingerprint: str  # pinned by the proposal
    signed: bool  # the record holds a signature in their name
    trusted: bool  # the verifier gave a key with the pinned fingerprint
    verifies: bool  # ... and the signature verifies under it
    problem: str | None
    # verified; unverified (no card supplied for the pinned key): failing; or failed
    state: str = field(init=False)

    def __post_init__(self) -> None:
        state = VERIFIED if self.verifies else FAILED if self.trusted else UNVERIFIED
        object.__setattr__(self, "state", state)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Verification:
    agreement: str
    title: str
    digest: str  # as computed from the proposal in the record
    parties: tuple[PartyCheck, ...]
    problems: tuple[str, ...]
    withdrawn_by: tuple[str, ...] = ()  # parties whose signed withdrawal the verifier gave
    notes: tuple[str, ...] = field(default=())  # what was looked at and set aside

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "agreement": self.agreement,
            "title": self.title,
            "digest": self.digest,
            "parties": [c.as_dict() for c in self.parties],
            "problems": list(self.problems),
            "withdrawn_by": list(self.withdrawn_by),
            "notes": list(self.notes),
        }


def _trusted_key(party: Party, trusted: Sequence[Identity]) -> Identity | None:
    return next((k for k in trusted if k.fingerprint == party.fingerprint), None)


def _check_party(
    p: Proposal, party: Party, sig: Mapping[str, Any] | None, trusted: Sequence[Identity]
) -> PartyCheck:
    def result(problem: str | None, *, ok_key: bool = False, good: bool = False) -> PartyCheck:
        return PartyCheck(party.name, party.fingerprint, sig is not None, ok_key, good, problem)

    key = _trusted_key(party, trusted)
    if key is None:
        other = [k.fingerprint for k in trusted if k.name == party.name]
        if other:
            return result(
                f"the key you trust for {party.name!r} ({other[0]}) is not the one the "
                f"agreement pins ({party.fingerprint})"
            )
        return result(f"no trusted key for {party.name!r}: give their public card")
    if sig is None:
        return result(f"no signature of {party.name!r}", ok_key=True)
    try:
        raw = signature_bytes(sig.get("signature"), party.name)
    except SecureError as e:
        return result(f"signature of {party.name!r} is damaged: {e}", ok_key=True)
    if not key.verifies(p.canonical, raw):
        return result(
            f"signature of {party.name!r} does not verify: the text was changed or it was not "
            "signed by this key",
            ok_key=True,
        )
    return result(None, ok_key=True, good=True)


def _withdrawal(p: Proposal, w: Statement, trusted: Sequence[Identity]) -> str | None:
    """Why a withdrawal statement given to the verifier does not count (None: it does)."""
    if not w.withdraws:
        return f"{w.what} is not a withdrawal"
    party = p.party(w.party)
    if w.agreement != p.id or w.digest != p.digest or party is None:
        return f"{w.what} is not about this text of agreement {p.id}"
    key = _trusted_key(party, trusted)
    if key is None:
        return f"{w.what} cannot be checked: no trusted key for {w.party!r}"
    try:
        good = key.verifies(w.signed_bytes(p), signature_bytes(w.signature, w.party))
    except SecureError:
        good = False
    return None if good else f"{w.what} does not verify with their key"


def verify_agreed(
    payload: Mapping[str, Any],
    trusted: Sequence[Identity],
    *,
    withdrawals: Sequence[Statement] = (),
) -> Verification:
    """Check an ``agreement.agreed`` record with the public keys the verifier trusts: the
    party list, the proposal's digest, then every party's signature under the trusted key with
    the pinned fingerprint; and any signed withdrawal given. Names each thing that fails; a
    record too damaged to read is a :class:`SecureError`."""
    if payload.get("format") != AGREED_FORMAT:
        raise SecureError("not a sitroom agreed record (it has no 'sitroom-agreed/1' format)")
    proposal_payload = payload.get("proposal")
    if not isinstance(proposal_payload, Mapping):
        raise SecureError("the agreed record holds no proposal")
    p = Proposal.from_payload(proposal_payload)
    problems = party_problems(p.parties)
    extra = unsigned_fields(proposal_payload)
    if extra:
        what = ", ".join(PART_NAMES.get(k, repr(k)) for k in extra)
        problems.append(f"the record holds what no party signed: {what}")
    if p.digest != payload.get("digest"):
        problems.append(f"the agreement was changed after it was signed: {_changed(payload)}")
    if payload.get("agreement") != p.id:
        problems.append(f"the record is labelled {payload.get('agreement')!r}, not {p.id!r}")
    signatures: dict[str, Mapping[str, Any]] = {}
    for s in payload.get("signatures") or []:
        if isinstance(s, Mapping):
            signatures.setdefault(str(s.get("party")), s)
    checks = tuple(
        _check_party(p, party, signatures.get(party.name), trusted) for party in p.parties
    )
    problems += [c.problem for c in checks if c.problem]
    problems += [
        f"a signature by {name!r}, who is not a party"
        for name in signatures
        if p.party(name) is None
    ]
    withdrawn, notes = [], []
    for w in withdrawals:
        why_not = _withdrawal(p, w, trusted)
        if why_not is None:
            withdrawn.append(w.party)
            problems.append(f"withdrawn by {w.party}: {w.reason} (a withdrawal signed by them)")
        else:
            notes.append(f"{why_not}: ignored")
    return Verification(
        p.id, p.title, p.digest, checks, tuple(problems), tuple(withdrawn), tuple(notes)
    )


def _changed(payload: Mapping[str, Any]) -> str:
    """Which parts of the proposal differ from the digests recorded beside it, in words."""
    recorded = payload.get("parts")
    now = parts(payload["proposal"])
    if not isinstance(recorded, Mapping):
        return "its content"
    changed = [
        PART_NAMES.get(k, k)
        for k in sorted(set(now) | set(recorded))
        if now.get(k) != recorded.get(k)
    ]
    return ", ".join(changed) if changed else "its content"
