"""Signed agreements as a room holds them: propose a text, sign it, withdraw from it, collect
what parties signed detached on their own machines, read where each agreement stands, export
and verify an agreed one. (A party signing detached, and a verifier with an exported record,
need no room: application/agreements_offline.py.)

Every step is a record through the session's append path, checked first with the pure checks
of ``domain/secure/agreements.py`` (which the ``agreements`` fold runs again). Signing and
withdrawing need a party's private key: it is unlocked only once the party may act, so nobody
types a passphrase for a signature that would be refused anyway. The signature that completes
an agreement is appended together with the ``agreement.agreed`` record, in one atomic append:
no log holds every signature without the agreed record. Nothing is reported done that the fold
does not count (``Agreements._record``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sitroom.application.agreements_offline import Json, Verified, read_statement
from sitroom.application.results import INTERNAL, Answer, Result
from sitroom.domain.kinds import (
    AGREEMENT_AGREED,
    AGREEMENT_PROPOSED,
    AGREEMENT_SIGNED,
    AGREEMENT_WITHDRAWN,
)
from sitroom.domain.records import Record
from sitroom.domain.secure.agreements import (
    AGREED,
    Proposal,
    Standing,
    agreed_payload,
    agreed_record,
    check_signature,
    check_signer,
    check_withdrawal,
    check_withdrawer,
    new_proposal,
    proposal_record,
    signature_record,
    withdrawal_record,
    withdrawal_statement,
)
from sitroom.domain.secure.agreements_ledger import AGREEMENTS, DAMAGED, standing
from sitroom.domain.secure.agreements_offline import Statement, check_statement, verify_agreed
from sitroom.domain.secure.codec import b64, canonical
from sitroom.domain.secure.identity import Identity, Secret, identity_from_record
from sitroom.domain.secure.ledger import SECURE, current_identity
from sitroom.domain.timeutil import iso
from sitroom.errors import AlreadyExists, NotFound, SecureError, UserInputError

if TYPE_CHECKING:
    from sitroom.application.keys import Unlocker
    from sitroom.application.ports import Passphrase
    from sitroom.application.session import Session

AGREEMENT_RECORDS = [AGREEMENT_PROPOSED, AGREEMENT_SIGNED, AGREEMENT_WITHDRAWN, AGREEMENT_AGREED]

# Opens a party's private keys: (name, passphrase given or asked for) -> their keys.
KeyOpener = Callable[[str, "Passphrase | None"], Secret]


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PartyRow(Result):
    name: str
    fingerprint: str  # the key the proposal pinned for them
    state: str  # signed, pending or withdrew
    signed_at: str | None
    withdrew_at: str | None


@dataclass(frozen=True, kw_only=True)
class Withdrawal(Result):
    party: str
    reason: str
    at: str


@dataclass(frozen=True, kw_only=True)
class Refusal(Result):
    """A record about the agreement that the fold did not accept, and why."""

    record: str
    kind: str
    party: str | None
    reason: str
    message: str
    at: str | None


@dataclass(frozen=True, kw_only=True)
class AgreementRow(Result):
    """Where an agreement stands: its status, and each party's signature or withdrawal."""

    id: str
    title: str
    status: str  # open, agreed or aborted
    track: str | None
    proposer: str
    proposed_at: str
    digest: str
    signed: int
    of: int
    parties: tuple[PartyRow, ...]
    withdrawal: Withdrawal | None
    agreed_at: str | None
    refused: tuple[Refusal, ...]
    text: str | None  # in a proposal and the status of one agreement


@dataclass(frozen=True, kw_only=True)
class Signed(AgreementRow):
    party: str
    already: bool  # they had signed: nothing new but, perhaps, a missing agreed record
    agreed_record: str | None  # written by this signature


@dataclass(frozen=True, kw_only=True)
class Withdrew(AgreementRow):
    party: str


@dataclass(frozen=True, kw_only=True)
class AgreementList(Answer):
    agreements: tuple[AgreementRow, ...]


@dataclass(frozen=True, kw_only=True)
class AgreedRecord(Result):
    """An agreed record, as ``data`` (JSON): everything an offline verifier needs but keys."""

    agreement: str
    title: str
    digest: str
    data: bytes = field(metadata=INTERNAL, repr=False)


@dataclass(frozen=True, kw_only=True)
class ProposalFile(AgreedRecord):
    """A proposal as a file for a party to check and sign on its own machine (``data``: the
    proposal object exactly as it is signed)."""

    status: str


@dataclass(frozen=True, kw_only=True)
class Collected(Result):
    """What became of one statement handed to ``collect``: accepted (recorded), already (the
    party had signed: nothing new) or refused (nothing recorded; ``reason`` says why)."""

    source: str  # where it came from (its file)
    party: str | None
    withdraws: bool
    outcome: str
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class Collection(AgreementRow):
    statements: tuple[Collected, ...]
    agreed_record: str | None  # written by this collection

    @property
    def refusals(self) -> int:
        return sum(1 for s in self.statements if s.outcome == REFUSED)


# pure helpers -----------------------------------------------------------------------------
def slug(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)[:40].strip("-") or "agreement"


def _entry(state: Mapping[str, Any], aid: str) -> dict[str, Any]:
    entry: dict[str, Any] | None = state["agreements"].get(aid)
    if entry is None:
        raise NotFound("agreement", aid, known=sorted(state["agreements"]))
    return entry


def row(entry: Mapping[str, Any], *, text: bool = False) -> dict[str, Any]:
    """The fields of an :class:`AgreementRow` for a state entry."""
    st = standing(entry)
    p = st.proposal
    w = entry["withdrawal"]
    parties = []
    for party in p.parties:
        state = st.of(party.name)
        sig = entry["signatures"].get(party.name)
        parties.append(
            PartyRow(
                name=party.name,
                fingerprint=party.fingerprint,
                state=state,
                signed_at=iso(sig["at"]) if sig else None,
                withdrew_at=iso(w["at"]) if state == "withdrew" else None,
            )
        )
    return {
        "id": p.id,
        "title": p.title,
        "status": st.status,
        "track": p.track,
        "proposer": p.proposer,
        "proposed_at": iso(p.created_ms),
        "digest": entry["digest"],
        "signed": len(st.signed),
        "of": len(p.parties),
        "parties": tuple(parties),
        "withdrawal": None
        if w is None
        else Withdrawal(party=w["party"], reason=w["reason"], at=iso(w["at"]) or ""),
        "agreed_at": iso(entry["agreed"]["at"]) if entry["agreed"] else None,
        "refused": tuple(
            Refusal(
                record=r["record"],
                kind=r["kind"],
                party=r.get("party"),
                reason=r["reason"],
                message=r["message"],
                at=iso(r["at"]) if r.get("at") is not None else None,
            )
            for r in entry["refused"]
        ),
        "text": p.text if text else None,
    }


ACCEPTED, ALREADY, REFUSED = "accepted", "already", "refused"


def _outcome(source: str, s: Statement, outcome: str) -> Collected:
    return Collected(source=source, party=s.party, withdraws=s.withdraws, outcome=outcome)


def _refused(source: str, s: Statement | None, reason: str, message: str) -> Collected:
    return Collected(
        source=source,
        party=None if s is None else s.party,
        withdraws=False if s is None else s.withdraws,
        outcome=REFUSED,
        reason=reason,
        message=message,
    )


def _completed(
    entry: Mapping[str, Any], signatures: Mapping[str, Mapping[str, Any]], withdrawn_by: str | None
) -> list[Record]:
    """The agreed record, when ``signatures`` (with those about to be appended) are every
    party's and the log has none yet. Normally the completing signature brings it. Two last
    signatures made at once by two processes each miss the other's; then any party signing
    again writes it, the same record whoever does: its time is the last signature's."""
    p = Proposal.from_payload(entry["proposal"])
    after = Standing(p, frozenset(signatures), withdrawn_by)
    if after.status != AGREED or entry["agreed"] is not None:
        return []
    agreed_ms = max(int(s["at"]) for s in signatures.values())
    payload = agreed_payload(p, signatures, agreed_ms=agreed_ms)
    return [agreed_record(payload, compartment=entry["compartment"])]


def _counted(entry: Mapping[str, Any], r: Record) -> bool:
    """Whether the fold counts what ``r`` says (not necessarily as ``r``: a party's earlier,
    identical signature counts for it)."""
    p = r.payload
    if r.kind == AGREEMENT_SIGNED:
        sig = entry["signatures"].get(p["party"])
        return sig is not None and sig["signature"] == p["signature"]
    if r.kind == AGREEMENT_WITHDRAWN:
        w = entry["withdrawal"]
        return w is not None and w["signature"] == p["signature"]
    if r.kind == AGREEMENT_AGREED:
        return entry["agreed"] is not None
    return bool(entry["digest"] == p.get("digest"))


def _agreed_written(done: Mapping[str, Any], records: Sequence[Record]) -> str | None:
    ids = {r.id for r in records if r.kind == AGREEMENT_AGREED}
    return done["agreed"]["record"] if done["agreed"] and ids else None


# the service ------------------------------------------------------------------------------
class Agreements:
    """Propose, sign, withdraw, read, export and verify agreements."""

    def __init__(self, session: Session, *, open_keys: KeyOpener) -> None:
        self._s = session
        self._open = open_keys

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._s.state(AGREEMENTS)
        return state

    def _identity(self, name: str) -> Identity | None:
        found = current_identity(self._s.state(SECURE), name)
        return None if found is None else identity_from_record(found)

    # writing ------------------------------------------------------------------------------
    def propose(
        self,
        title: str,
        text: str,
        parties: Sequence[str],
        *,
        id: str | None = None,
        track: str | None = None,
    ) -> AgreementRow:
        """Record a proposal by the acting user (or the site), each party pinned to the key
        the log holds for them now."""
        s = self._s
        aid = id or slug(title)
        if aid in self._state()["agreements"]:
            raise AlreadyExists("agreement", aid)
        if track is not None:
            tracks = s.state("tracks")["tracks"]
            if track not in tracks:
                raise NotFound("track", track, known=sorted(tracks))
        keys = []
        for name in parties:
            key = self._identity(name)
            if key is None:
                known = sorted(s.state(SECURE)["identities"])
                raise NotFound("identity", name, known=known, detail=" to pin as a party")
            keys.append(key)
        p = new_proposal(
            aid,
            title,
            text,
            keys,
            proposer=s.user or s.site_id,
            created_ms=s.now_ms(),
            track=track,
        )
        record = proposal_record(p, compartment=track or "")
        done = self._record(aid, [record], action=f"propose {aid}")
        return AgreementRow(**row(done, text=True))

    def sign(
        self,
        aid: str,
        party: str | None = None,
        *,
        unlock: Unlocker | None = None,
        passphrase: Passphrase | None = None,
    ) -> Signed:
        """``party`` (default: the acting user) signs the agreement's canonical text; the last
        signature makes it agreed. Their keys are opened by ``unlock``, or from this room's
        keystore (with ``passphrase``), once they may sign. Signing again adds nothing, but
        for an agreed record that is missing (two last signatures made at once)."""
        who = self._party(party, "signs")
        entry = _entry(self._state(), aid)
        now = standing(entry)
        p = now.proposal
        signatures = dict(entry["signatures"])
        records: list[Record] = []
        already = who in signatures
        if not already:
            check_signer(now, who)
            secret = self._unlocked(who, unlock, passphrase)
            signature = secret.sign(p.canonical)
            key = check_signature(now, who, secret.identity.card(), signature)
            records.append(self._signature(entry, p, key, b64(signature), signatures))
        records += _completed(entry, signatures, now.withdrawn_by)
        done = self._record(aid, records, action=f"sign {aid}")
        written = _agreed_written(done, records)
        return Signed(**row(done), party=who, already=already, agreed_record=written)

    def withdraw(
        self,
        aid: str,
        party: str | None = None,
        *,
        reason: str,
        unlock: Unlocker | None = None,
        passphrase: Passphrase | None = None,
    ) -> Withdrew:
        """``party`` (default: the acting user) withdraws, signed, before every signature is
        in: the agreement is aborted."""
        if not reason.strip():
            raise UserInputError("say why, for the record")
        who = self._party(party, "withdraws")
        entry = _entry(self._state(), aid)
        now = standing(entry)
        check_withdrawer(now, who)
        p = now.proposal
        secret = self._unlocked(who, unlock, passphrase)
        statement = withdrawal_statement(p, who, reason)
        signature = secret.sign(canonical(statement))
        key = check_withdrawal(now, who, secret.identity.card(), statement, signature)
        record = withdrawal_record(
            p,
            key,
            reason,
            b64(signature),
            now_ms=self._s.now_ms(),
            compartment=entry["compartment"],
        )
        done = self._record(aid, [record], action=f"withdraw from {aid}")
        return Withdrew(**row(done), party=who)

    def collect(self, aid: str, statements: Sequence[tuple[str, Json]]) -> Collection:
        """Record the signatures and withdrawals parties made detached (``agreements sign
        --offline``), each given as (where it came from, its file's content). Each is checked
        as an online one is, in order; a refused one records nothing and is named with its
        reason, and does not stop the others. The signature that completes the agreement comes
        with its agreed record, in one append."""
        entry = _entry(self._state(), aid)
        now = standing(entry)
        p = now.proposal
        signatures = dict(entry["signatures"])
        withdrawn_by = now.withdrawn_by
        records: list[Record] = []
        seen: list[Collected] = []
        for source, data in statements:
            try:
                s = read_statement(data)
            except (SecureError, UserInputError) as e:
                seen.append(_refused(source, None, DAMAGED, str(e)))
                continue
            try:
                key = check_statement(Standing(p, frozenset(signatures), withdrawn_by), s)
            except SecureError as e:
                seen.append(_refused(source, s, getattr(e, "reason", DAMAGED), str(e)))
                continue
            if not s.withdraws and s.party in signatures:
                seen.append(_outcome(source, s, ALREADY))
                continue
            if s.reason is None:
                records.append(self._signature(entry, p, key, s.signature, signatures))
            else:
                at = self._s.now_ms()
                records.append(
                    withdrawal_record(
                        p, key, s.reason, s.signature, now_ms=at, compartment=entry["compartment"]
                    )
                )
                withdrawn_by = s.party
            seen.append(_outcome(source, s, ACCEPTED))
        records += _completed(entry, signatures, withdrawn_by)
        done = self._record(aid, records, action=f"collect signatures of {aid}")
        return Collection(
            **row(done), statements=tuple(seen), agreed_record=_agreed_written(done, records)
        )

    def _signature(
        self,
        entry: Mapping[str, Any],
        p: Proposal,
        key: Identity,
        signature: str,
        signatures: dict[str, Any],
    ) -> Record:
        """A checked signature's record; ``signatures`` (those counted so far) gains it."""
        at = self._s.now_ms()
        signatures[key.name] = {"card": key.card(), "signature": signature, "at": at}
        return signature_record(p, key, signature, now_ms=at, compartment=entry["compartment"])

    def _record(self, aid: str, records: Sequence[Record], *, action: str) -> dict[str, Any]:
        """Append ``records`` and return the agreement as the fold then holds it, once each
        record is seen to count: a record the log held already under the same id, but refused,
        would otherwise be reported as done while nothing changed."""
        if records:
            self._s.append(records, action=action)
        state = self._state()
        done: dict[str, Any] | None = state["agreements"].get(aid)
        for r in records:
            if done is None or not _counted(done, r):
                notes = [*(done or {}).get("refused", ()), *state["refused"]]
                note = next((x for x in notes if x["record"] == r.id), None)
                why = (
                    note["message"]
                    if note is not None
                    else f"the log already held another record under its id {r.id}"
                )
                raise SecureError(f"{r.kind} of {aid} was not recorded: {why}")
        return _entry(state, aid)

    def _party(self, party: str | None, verb: str) -> str:
        who = party or self._s.user
        if not who:
            raise UserInputError(f"name the party who {verb} (or act as them)")
        return who

    def _unlocked(
        self, party: str, unlock: Unlocker | None, passphrase: Passphrase | None
    ) -> Secret:
        secret = unlock(party) if unlock is not None else self._open(party, passphrase)
        if secret.name != party:
            raise SecureError(f"the keys unlocked are {secret.name}'s, not {party}'s")
        return secret

    # reading ------------------------------------------------------------------------------
    def status(self, aid: str | None = None, *, as_of_ms: int | None = None) -> AgreementList:
        """One agreement (with its text) or every one, as of a moment."""
        s = self._s
        at = s.at(as_of_ms)
        state = s.state(AGREEMENTS, at)
        entries = (
            [_entry(state, aid)]
            if aid
            else [state["agreements"][k] for k in sorted(state["agreements"])]
        )
        newest = max(
            (
                t
                for e in entries
                for t in (e["at"], *(x["at"] for x in e["signatures"].values()))
                if t is not None
            ),
            default=None,
        )
        return AgreementList(
            agreements=tuple(AgreementRow(**row(e, text=aid is not None)) for e in entries),
            provenance=s.provenance(at, newest, AGREEMENT_RECORDS),
        )

    def _agreed(self, aid: str) -> Mapping[str, Any]:
        entry = _entry(self._state(), aid)
        if entry["agreed"] is None:
            st = standing(entry)
            if st.status == AGREED:
                raise UserInputError(
                    f"every party signed {aid} but its agreed record is not written yet: any "
                    "party signing again writes it"
                )
            raise UserInputError(
                f"agreement {aid} is {st.status} ({len(st.signed)} of "
                f"{len(st.proposal.parties)} signed): only an agreed one has a record"
            )
        payload: Mapping[str, Any] = entry["agreed"]["payload"]
        return payload

    def export(self, aid: str) -> AgreedRecord:
        """The agreed record: the text, its digests, every signature and card."""
        payload = self._agreed(aid)
        return AgreedRecord(
            agreement=aid,
            title=str(payload["proposal"]["title"]),
            digest=str(payload["digest"]),
            data=orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n",
        )

    def proposal(self, aid: str) -> ProposalFile:
        """The proposal as a file (exactly the object each party signs), for a party to read,
        check and sign detached on its own machine (``agreements sign --offline``)."""
        entry = _entry(self._state(), aid)
        return ProposalFile(
            agreement=aid,
            title=str(entry["proposal"]["title"]),
            digest=str(entry["digest"]),
            status=standing(entry).status,
            data=orjson.dumps(entry["proposal"], option=orjson.OPT_INDENT_2) + b"\n",
        )

    def trusted(self) -> list[Identity]:
        """Every identity this room published or imported, each version of it (a proposal
        pins the version its party had then), whose self-signature verifies."""
        keys = []
        for versions in self._s.state(SECURE)["identities"].values():
            for v in versions:
                try:
                    keys.append(identity_from_record(v))
                except SecureError:
                    continue
        return keys

    def verify(self, aid: str) -> Verified:
        """Verify an agreed record against the identities this room trusts."""
        return Verified.of(verify_agreed(self._agreed(aid), self.trusted()))
