"""Signed agreements as a room holds them: propose a text, sign it, withdraw from it, read where
each agreement stands, export and verify an agreed one — and verify an exported one offline,
with no room at all (:func:`verify_offline`).

Every step is a record through the session's append path, checked first with the pure checks
of ``domain/secure/agreements.py`` (which the ``agreements`` fold runs again). Signing and
withdrawing need a party's private key: it is unlocked only once the party may act, so nobody
types a passphrase for a signature that would be refused anyway. The signature that completes
an agreement is appended together with the ``agreement.agreed`` record, in one atomic append:
no log holds every signature without the agreed record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

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
    PartyCheck,
    Standing,
    Verification,
    agreed_payload,
    agreed_record,
    check_signature,
    check_signer,
    check_withdrawal,
    check_withdrawer,
    new_proposal,
    proposal_record,
    signature_record,
    verify_agreed,
    withdrawal_record,
    withdrawal_statement,
)
from sitroom.domain.secure.agreements_ledger import AGREEMENTS, standing
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
class Verified(Result):
    """Every party's signature over the agreed text, checked; ``problems`` names what fails."""

    ok: bool
    agreement: str
    title: str
    digest: str
    parties: tuple[PartyCheck, ...]
    problems: tuple[str, ...]

    @classmethod
    def of(cls, v: Verification) -> Verified:
        return cls(
            ok=v.ok,
            agreement=v.agreement,
            title=v.title,
            digest=v.digest,
            parties=v.parties,
            problems=v.problems,
        )


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


def _load(data: bytes | str | Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UserInputError(f"this is not {what} (not JSON)") from None
    if not isinstance(loaded, dict):
        raise UserInputError(f"this is not {what} (not a JSON object)")
    return loaded


def read_agreed(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An agreed record as ``agreements export`` writes it, or as a line of a log export."""
    if data.get("kind") == AGREEMENT_AGREED and isinstance(data.get("payload"), Mapping):
        inner: Mapping[str, Any] = data["payload"]
        return inner
    return data


def read_card(card: Mapping[str, Any]) -> Identity:
    """A public card as ``keys export`` writes it (its self-signature checked), or bare."""
    return identity_from_record(dict(card)) if "proof" in card else Identity.from_card(dict(card))


def verify_offline(
    data: bytes | str | Mapping[str, Any], cards: Sequence[bytes | str | Mapping[str, Any]]
) -> Verified:
    """Verify an exported agreed record with the public cards the verifier trusts: no room,
    no log. Not-ok names each thing that fails."""
    if not cards:
        raise UserInputError("give each party's public card to verify against")
    record = read_agreed(_load(data, "an agreed record"))
    keys = [read_card(_load(c, "a public card")) for c in cards]
    return Verified.of(verify_agreed(record, keys))


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
        s.append([proposal_record(p, compartment=track or "")], action=f"propose {aid}")
        return AgreementRow(**row(_entry(self._state(), p.id), text=True))

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
            at = self._s.now_ms()
            records.append(
                signature_record(
                    p, key, b64(signature), now_ms=at, compartment=entry["compartment"]
                )
            )
            signatures[who] = {"card": key.card(), "signature": b64(signature), "at": at}
        after = Standing(p, frozenset(signatures), now.withdrawn_by)
        if after.status == AGREED and entry["agreed"] is None:
            # Normally the completing signature brings it. Two last signatures made at once by
            # two processes each miss the other's; then any party signing again writes it, the
            # same record whoever does: its time is the last signature's.
            agreed_ms = max(int(s["at"]) for s in signatures.values())
            payload = agreed_payload(p, signatures, agreed_ms=agreed_ms)
            records.append(agreed_record(payload, compartment=entry["compartment"]))
        if records:
            self._s.append(records, action=f"sign {aid}")
        done = _entry(self._state(), aid)
        written = done["agreed"]["record"] if done["agreed"] and records else None
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
        self._s.append([record], action=f"withdraw from {aid}")
        return Withdrew(**row(_entry(self._state(), aid)), party=who)

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
