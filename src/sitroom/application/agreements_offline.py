"""Agreements with no room: what a party runs on its own machine to sign or withdraw from a
proposal file with its own key file (the key never leaves it), and what anyone runs to verify
an exported agreed record with the parties' public cards and any signed withdrawals.

The statements made here are collected into the mediator's room by ``Agreements.collect``
(application/agreements.py), which checks them again, as it checks an online signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sitroom.application.keys import open_key
from sitroom.application.results import INTERNAL, Result
from sitroom.domain.kinds import AGREEMENT_AGREED
from sitroom.domain.secure.agreements import (
    PARTIES,
    STALE,
    Proposal,
    Standing,
    check_signer,
    check_withdrawer,
    party_problems,
    pinned_key,
    unsigned_fields,
)
from sitroom.domain.secure.agreements_offline import (
    PartyCheck,
    Statement,
    Verification,
    sign_detached,
    verify_agreed,
)
from sitroom.domain.secure.codec import json_object
from sitroom.domain.secure.identity import Identity, identity_from_record
from sitroom.domain.timeutil import iso
from sitroom.errors import Rejected, UserInputError

if TYPE_CHECKING:
    from sitroom.application.ports import KeyStore, Passphrase

Json = bytes | str | Mapping[str, Any]


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Pinned(Result):
    name: str
    fingerprint: str


@dataclass(frozen=True, kw_only=True)
class ToSign(Result):
    """A proposal as a party reads it before signing: every field that is signed."""

    agreement: str
    title: str
    text: str
    digest: str
    parties: tuple[Pinned, ...]
    proposer: str
    proposed_at: str
    track: str | None

    @classmethod
    def of(cls, p: Proposal) -> ToSign:
        return cls(
            agreement=p.id,
            title=p.title,
            text=p.text,
            digest=p.digest,
            parties=tuple(Pinned(name=x.name, fingerprint=x.fingerprint) for x in p.parties),
            proposer=p.proposer,
            proposed_at=iso(p.created_ms) or "",
            track=p.track,
        )


@dataclass(frozen=True, kw_only=True)
class Detached(Result):
    """A detached signature or withdrawal, made: ``data`` is the statement file's bytes."""

    agreement: str
    party: str
    fingerprint: str
    digest: str
    withdraws: bool
    reason: str | None
    data: bytes = field(metadata=INTERNAL, repr=False)

    @classmethod
    def of(cls, s: Statement) -> Detached:
        return cls(
            agreement=s.agreement,
            party=s.party,
            fingerprint=s.fingerprint,
            digest=s.digest,
            withdraws=s.withdraws,
            reason=s.reason,
            data=orjson.dumps(s.as_payload(), option=orjson.OPT_INDENT_2) + b"\n",
        )


@dataclass(frozen=True, kw_only=True)
class Verified(Result):
    """Every party's signature over the agreed text, checked; ``problems`` names what fails,
    ``notes`` what was set aside (a card that matches no party, a withdrawal that does not
    verify)."""

    ok: bool
    agreement: str
    title: str
    digest: str
    parties: tuple[PartyCheck, ...]
    problems: tuple[str, ...]
    withdrawn_by: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, v: Verification, notes: Sequence[str] = ()) -> Verified:
        return cls(
            ok=v.ok,
            agreement=v.agreement,
            title=v.title,
            digest=v.digest,
            parties=v.parties,
            problems=v.problems,
            withdrawn_by=v.withdrawn_by,
            notes=(*v.notes, *notes),
        )


# reading files ----------------------------------------------------------------------------
def read_agreed(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An agreed record as ``agreements export`` writes it, or as a line of a log export."""
    if data.get("kind") == AGREEMENT_AGREED and isinstance(data.get("payload"), Mapping):
        inner: Mapping[str, Any] = data["payload"]
        return inner
    return data


def read_card(card: Mapping[str, Any]) -> Identity:
    """A public card as ``keys export`` writes it (its self-signature checked), or bare."""
    return identity_from_record(dict(card)) if "proof" in card else Identity.from_card(dict(card))


def read_statement(data: Json) -> Statement:
    """A detached signature or withdrawal, as ``agreements sign --offline`` writes it."""
    return Statement.from_payload(json_object(data, "a signature or withdrawal statement"))


def read_proposal(data: Json) -> Proposal:
    """A proposal file (``agreements proposal``), refused unless it is exactly what would be
    signed and its party list is one an agreement may have: a party signs nothing else."""
    payload = json_object(data, "an agreement proposal")
    p = Proposal.from_payload(payload)
    extra = unsigned_fields(payload)
    if extra:
        raise Rejected(STALE, f"the proposal file holds what would not be signed: {extra}")
    problems = party_problems(p.parties)
    if problems:
        raise Rejected(PARTIES, f"the proposal {p.id} cannot be signed: {problems[0]}")
    return p


# a party, on its own machine --------------------------------------------------------------
def sign_offline(
    p: Proposal,
    keys: KeyStore,
    name: str,
    *,
    passphrase: Passphrase | None = None,
    reason: str | None = None,
) -> Detached:
    """``name``'s detached signature of ``p`` (with ``reason``: its signed withdrawal), made
    with the key in ``keys``. The key must be the one ``p`` pins for the party: that is checked
    on its public half, before the passphrase is asked for."""
    if reason is not None and not reason.strip():
        raise UserInputError("say why, for the record")
    card = keys.public(name)  # a key file holding another's keys is refused as it is read
    may = check_signer if reason is None else check_withdrawer
    pinned_key(p, may(Standing(p), name), card.card())
    return Detached.of(sign_detached(p, open_key(keys, name, passphrase), reason=reason))


# anyone, with the cards -------------------------------------------------------------------
def verify_offline(data: Json, cards: Sequence[Json], withdrawals: Sequence[Json] = ()) -> Verified:
    """Verify an exported agreed record with the public cards the verifier trusts (supplied
    out of band: the cards inside the record are only hints) and the signed withdrawals it was
    given: no room, no log. Not-ok names each thing that fails; a card that matches no party is
    a note."""
    if not cards:
        raise UserInputError("give each party's public card to verify against")
    record = read_agreed(json_object(data, "an agreed record"))
    keys = [read_card(json_object(c, "a public card")) for c in cards]
    statements = [read_statement(w) for w in withdrawals]
    report = verify_agreed(record, keys, withdrawals=statements)
    pinned = {c.fingerprint for c in report.parties}
    unused = [
        f"the card of {k.name!r} ({k.fingerprint}) matches no party of this agreement"
        for k in keys
        if k.fingerprint not in pinned
    ]
    return Verified.of(report, unused)
