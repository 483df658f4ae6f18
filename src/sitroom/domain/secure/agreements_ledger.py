"""The ``agreements`` projection: every agreement the log holds, who signed it and when, who
withdrew, and the agreed record once every party signed.

The fold checks each record with the same checks the use cases ran before appending it
(agreements.py): a signature that does not verify against the party's pinned key, arrives
after a withdrawal, or is by someone who is not a party is not counted; it is listed under
``refused`` with its reason, so a record that was never accepted here (edited into an export,
replayed from elsewhere) shows up instead of counting. A refusal blocks nothing: records are
keyed by their content (agreements.content_key), so the real signature of a party whose id a
forgery took first has an id of its own, and the first *valid* one per party counts. Record ids
are not read here, so logs written with the older ids (``agreement.signed:<id>:<party>``) fold
the same. States are plain JSON-able dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from sitroom.domain.kinds import (
    AGREEMENT_AGREED,
    AGREEMENT_PROPOSED,
    AGREEMENT_SIGNED,
    AGREEMENT_WITHDRAWN,
)
from sitroom.domain.projection import Sees, keep
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.agreements import (
    AGREED,
    PARTIES,
    STALE,
    Proposal,
    Standing,
    check_signature,
    check_withdrawal,
    party_problems,
    signature_bytes,
    unsigned_fields,
)
from sitroom.domain.secure.agreements_offline import verify_agreed
from sitroom.domain.secure.identity import Identity
from sitroom.errors import Rejected, SecureError

AGREEMENTS = "agreements"
DAMAGED = "damaged"


def standing(entry: Mapping[str, Any]) -> Standing:
    withdrawal = entry.get("withdrawal")
    return Standing(
        Proposal.from_payload(entry["proposal"]),
        frozenset(entry["signatures"]),
        None if withdrawal is None else str(withdrawal["party"]),
    )


def signer_keys(entry: Mapping[str, Any]) -> list[Identity]:
    """The keys the entry's accepted signatures verified under (pinned at the proposal)."""
    return [Identity.from_card(dict(s["card"])) for s in entry["signatures"].values()]


class AgreementsProjection:
    name = AGREEMENTS
    version = 3  # 3: a proposal's party list is held to agreements.party_problems
    kinds: tuple[str, ...] | None = (
        AGREEMENT_PROPOSED,
        AGREEMENT_SIGNED,
        AGREEMENT_WITHDRAWN,
        AGREEMENT_AGREED,
    )

    def initial(self) -> dict[str, Any]:
        return {"agreements": {}, "refused": []}

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        for r in batch.rows():
            try:
                _fold(state, r)
            except Rejected as e:
                _refuse(state, r, e.reason, str(e))
            except (SecureError, KeyError, TypeError, ValueError) as e:
                _refuse(state, r, DAMAGED, f"a damaged {r.kind} record: {e}")
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """An agreement is in its track's compartment (general when it has none)."""
        return {
            "agreements": keep(state["agreements"], lambda _, a: sees(a["compartment"])),
            "refused": [r for r in state["refused"] if sees(r.get("compartment", ""))],
        }

    def encode(self, state: dict[str, Any]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(data)
        return result


def _refuse(state: dict[str, Any], r: Record, reason: str, message: str) -> None:
    """Listed with its agreement when it names one the log knows, else with the workspace."""
    p = r.payload
    aid = p.get("agreement") or (p.get("statement") or {}).get("agreement")
    entry = state["agreements"].get(aid) if isinstance(aid, str) else None
    note = {
        "record": r.id,
        "kind": r.kind,
        "party": p.get("party") or (p.get("statement") or {}).get("party"),
        "reason": reason,
        "message": message,
        "at": r.valid_from,
        "compartment": r.compartment,
    }
    (entry["refused"] if entry is not None else state["refused"]).append(note)


def _entry(state: dict[str, Any], aid: object) -> dict[str, Any]:
    entry: dict[str, Any] | None = state["agreements"].get(aid)
    if entry is None:
        raise SecureError(f"it is about agreement {aid!r}, which was never proposed here")
    return entry


def _same_text(entry: Mapping[str, Any], digest: object, what: str) -> None:
    if digest != entry["digest"]:
        raise Rejected(STALE, f"{what} is about another text of agreement {entry['id']}")


def _fold(state: dict[str, Any], r: Record) -> None:
    p = r.payload
    if r.kind == AGREEMENT_PROPOSED:
        proposal = Proposal.from_payload(p["proposal"])
        if unsigned_fields(p["proposal"]):
            raise Rejected(STALE, f"proposal {proposal.id} holds fields that are not signed")
        problems = party_problems(proposal.parties)
        if problems:
            raise Rejected(PARTIES, f"proposal {proposal.id}: {problems[0]}")
        if proposal.id in state["agreements"]:
            raise Rejected(STALE, f"agreement {proposal.id} was proposed already")
        state["agreements"][proposal.id] = {
            "id": proposal.id,
            "proposal": proposal.as_payload(),
            "digest": proposal.digest,  # computed, not taken from the record
            "compartment": r.compartment,
            "record": r.id,
            "at": r.valid_from,
            "signatures": {},
            "withdrawal": None,
            "agreed": None,
            "refused": [],
        }
    elif r.kind == AGREEMENT_SIGNED:
        entry = _entry(state, p["agreement"])
        party = str(p["party"])
        if party in entry["signatures"]:
            return  # signed already: the first signature stands
        _same_text(entry, p["digest"], f"the signature of {party!r}")
        sig = signature_bytes(p["signature"], party)
        key = check_signature(standing(entry), party, p["card"], sig)
        entry["signatures"][party] = {
            "signature": p["signature"],
            "card": key.card(),
            "fingerprint": key.fingerprint,
            "at": r.valid_from,
            "record": r.id,
        }
    elif r.kind == AGREEMENT_WITHDRAWN:
        statement = p["statement"]
        entry = _entry(state, statement["agreement"])
        party = str(statement["party"])
        _same_text(entry, statement["digest"], f"the withdrawal by {party!r}")
        sig = signature_bytes(p["signature"], party)
        check_withdrawal(standing(entry), party, p["card"], statement, sig)
        entry["withdrawal"] = {
            "party": party,
            "reason": statement["reason"],
            "statement": dict(statement),
            "card": dict(p["card"]),
            "signature": p["signature"],
            "at": r.valid_from,
            "record": r.id,
        }
    elif r.kind == AGREEMENT_AGREED:
        entry = _entry(state, p["agreement"])
        if entry["agreed"] is not None:
            return
        if standing(entry).status != AGREED:
            raise Rejected(STALE, f"agreement {entry['id']} is not signed by every party")
        report = verify_agreed(p, signer_keys(entry))
        if not report.ok:
            raise Rejected(STALE, "; ".join(report.problems))
        entry["agreed"] = {"at": r.valid_from, "record": r.id, "payload": dict(p)}
