"""Agreement use cases: propose a text, sign it, withdraw from it, read where each agreement
stands, verify and export an agreed one.

Every step is a record through the engine's one append path, checked first with the pure
checks of domain/secure/agreements.py (which the ``agreements`` fold runs again). Signing and
withdrawing need a party's private key: the caller passes ``unlock``, called only once the
party may act, so nobody types a passphrase for a signature that would be refused anyway. The
signature that completes an agreement is appended together with the ``agreement.agreed``
record, in one atomic append: no log holds every signature without the agreed record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sitroom.application.engine import Engine
from sitroom.application.principals import identity, writer_of
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain.kinds import (
    AGREEMENT_AGREED,
    AGREEMENT_PROPOSED,
    AGREEMENT_SIGNED,
    AGREEMENT_WITHDRAWN,
)
from sitroom.domain.provenance import Answer
from sitroom.domain.records import Record
from sitroom.domain.secure.agreements import (
    AGREED,
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
from sitroom.domain.secure.ledger import SECURE
from sitroom.domain.timeutil import iso
from sitroom.errors import SecureError, UserInputError

AGREEMENT_RECORDS = [AGREEMENT_PROPOSED, AGREEMENT_SIGNED, AGREEMENT_WITHDRAWN, AGREEMENT_AGREED]

Unlock = Callable[[str], Secret]  # a party's name -> their private keys, unlocked


def _agreements(engine: Engine, seq: int | None = None) -> dict[str, Any]:
    state: dict[str, Any] = engine.view_many([AGREEMENTS], seq)[AGREEMENTS]
    return state


def _entry(state: Mapping[str, Any], aid: str) -> dict[str, Any]:
    entry: dict[str, Any] | None = state["agreements"].get(aid)
    if entry is None:
        known = ", ".join(sorted(state["agreements"])) or "none yet"
        raise UserInputError(f"no agreement {aid!r} (agreements: {known})")
    return entry


def slug(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)[:40].strip("-") or "agreement"


def propose(
    engine: Engine,
    title: str,
    text: str,
    parties: Sequence[str],
    *,
    proposer: str,
    agreement_id: str | None = None,
    track: str | None = None,
) -> dict[str, Any]:
    """Record a proposal, each party pinned to the identity the log holds for them now."""
    aid = agreement_id or slug(title)
    if aid in writer_of(engine).states[AGREEMENTS]["agreements"]:
        raise UserInputError(f"agreement {aid!r} exists already: give another --id")
    if track is not None and track not in engine.states["tracks"]["tracks"]:
        raise UserInputError(f"no track {track!r} (add it with `sitroom tracks add`)")
    keys = []
    for name in parties:
        key = identity(engine, name)
        if key is None:
            raise UserInputError(
                f"{name!r} has no identity here: create their keys (`sitroom keys init --name "
                f"{name}`) or import their card (`sitroom keys import`)"
            )
        keys.append(key)
    p = new_proposal(
        aid,
        title,
        text,
        keys,
        proposer=proposer,
        created_ms=engine.clock.now_ms(),
        track=track,
    )
    engine.append([proposal_record(p, compartment=track or "")])
    return row(_entry(_agreements(engine), p.id), full=True)


def sign(engine: Engine, aid: str, party: str, unlock: Unlock) -> dict[str, Any]:
    """``party`` signs the agreement's canonical text; the last signature makes it agreed.
    Signing again adds nothing, but for an agreed record that is missing (see below)."""
    entry = _entry(_agreements(engine), aid)
    now = standing(entry)
    p = now.proposal
    signatures = dict(entry["signatures"])
    records: list[Record] = []
    already = party in signatures
    if not already:
        check_signer(now, party)
        secret = _unlocked(unlock, party)
        signature = secret.sign(p.canonical)
        key = check_signature(now, party, secret.identity.card(), signature)
        at = engine.clock.now_ms()
        records.append(
            signature_record(p, key, b64(signature), now_ms=at, compartment=entry["compartment"])
        )
        signatures[party] = {"card": key.card(), "signature": b64(signature), "at": at}
    after = Standing(p, frozenset(signatures), now.withdrawn_by)
    if after.status == AGREED and entry["agreed"] is None:
        # Normally the completing signature brings it. Two last signatures made at once by two
        # processes each miss the other's; then any party signing again writes it, the same
        # record whoever does: its time is the last signature's.
        agreed_ms = max(int(s["at"]) for s in signatures.values())
        payload = agreed_payload(p, signatures, agreed_ms=agreed_ms)
        records.append(agreed_record(payload, compartment=entry["compartment"]))
    if records:
        engine.append(records)
    done = _entry(_agreements(engine), aid)
    return {
        **row(done),
        "party": party,
        "already": already,
        "agreed_record": done["agreed"]["record"] if done["agreed"] and records else None,
    }


def withdraw(engine: Engine, aid: str, party: str, reason: str, unlock: Unlock) -> dict[str, Any]:
    """``party`` withdraws, signed, before every signature is in: the agreement is aborted."""
    if not reason.strip():
        raise UserInputError("say why, for the record: --reason")
    entry = _entry(_agreements(engine), aid)
    now = standing(entry)
    check_withdrawer(now, party)
    p = now.proposal
    secret = _unlocked(unlock, party)
    statement = withdrawal_statement(p, party, reason)
    signature = secret.sign(canonical(statement))
    key = check_withdrawal(now, party, secret.identity.card(), statement, signature)
    engine.append(
        [
            withdrawal_record(
                p,
                key,
                reason,
                b64(signature),
                now_ms=engine.clock.now_ms(),
                compartment=entry["compartment"],
            )
        ]
    )
    return {**row(_entry(_agreements(engine), aid)), "party": party}


def _unlocked(unlock: Unlock, party: str) -> Secret:
    secret = unlock(party)
    if secret.name != party:
        raise SecureError(f"the keys unlocked are {secret.name}'s, not {party}'s")
    return secret


# -- reads ----------------------------------------------------------------------------------


def row(entry: Mapping[str, Any], *, full: bool = False) -> dict[str, Any]:
    """Where an agreement stands: its status, and each party's signature or withdrawal."""
    st = standing(entry)
    p = st.proposal
    w = entry["withdrawal"]
    parties = []
    for party in p.parties:
        state = st.of(party.name)
        sig = entry["signatures"].get(party.name)
        parties.append(
            {
                "name": party.name,
                "fingerprint": party.fingerprint,
                "state": state,
                "signed_at": iso(sig["at"]) if sig else None,
                "withdrew_at": iso(w["at"]) if state == "withdrew" else None,
            }
        )
    out: dict[str, Any] = {
        "id": p.id,
        "title": p.title,
        "status": st.status,
        "track": p.track,
        "proposer": p.proposer,
        "proposed_at": iso(p.created_ms),
        "digest": entry["digest"],
        "signed": len(st.signed),
        "of": len(p.parties),
        "parties": parties,
        "withdrawal": None
        if w is None
        else {"party": w["party"], "reason": w["reason"], "at": iso(w["at"])},
        "agreed_at": iso(entry["agreed"]["at"]) if entry["agreed"] else None,
        "refused": list(entry["refused"]),
    }
    if full:
        out["text"] = p.text
    return out


def status(
    engine: Engine, aid: str | None = None, *, as_of_ms: int | None = None
) -> Answer[list[dict[str, Any]]]:
    """One agreement (with its text) or every one, as of a time."""
    at = resolve_as_of(engine, as_of_ms)
    state = _agreements(engine, at.seq)
    entries = (
        [_entry(state, aid)]
        if aid
        else [state["agreements"][k] for k in sorted(state["agreements"])]
    )
    rows = [row(e, full=aid is not None) for e in entries]
    newest = max(
        (
            t
            for e in entries
            for t in (e["at"], *(s["at"] for s in e["signatures"].values()))
            if t is not None
        ),
        default=None,
    )
    return Answer(rows, _provenance(engine, at, newest, AGREEMENT_RECORDS))


def export(engine: Engine, aid: str) -> dict[str, Any]:
    """The agreed record's payload: everything an offline verifier needs but the keys."""
    entry = _entry(_agreements(engine), aid)
    if entry["agreed"] is None:
        st = standing(entry)
        if st.status == AGREED:
            raise UserInputError(
                f"every party signed {aid} but its agreed record is not written yet: sign again "
                f"(`sitroom agree sign {aid} --as PARTY`) to write it"
            )
        raise UserInputError(
            f"agreement {aid} is {st.status} ({len(st.signed)} of {len(st.proposal.parties)} "
            "signed): only an agreed one has a record to export"
        )
    payload: dict[str, Any] = entry["agreed"]["payload"]
    return payload


def trusted_here(engine: Engine) -> list[Identity]:
    """Every identity this workspace published or imported, each version of it (a proposal
    pins the version its party had then), whose self-signature verifies."""
    keys = []
    for versions in writer_of(engine).states[SECURE]["identities"].values():
        for v in versions:
            try:
                keys.append(identity_from_record(v))
            except SecureError:
                continue
    return keys


def verify(engine: Engine, aid: str) -> Verification:
    """Verify an agreed record against the identities this workspace trusts."""
    return verify_agreed(export(engine, aid), trusted_here(engine))


def read_agreed(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An agreed record as `agree export` writes it, or as a line of `sitroom export`."""
    if data.get("kind") == AGREEMENT_AGREED and isinstance(data.get("payload"), Mapping):
        inner: Mapping[str, Any] = data["payload"]
        return inner
    return data


def read_card(card: Mapping[str, Any]) -> Identity:
    """A public card from `sitroom keys export` (its self-signature checked), or a bare one."""
    return identity_from_record(dict(card)) if "proof" in card else Identity.from_card(dict(card))


def verify_offline(data: Mapping[str, Any], cards: Sequence[Mapping[str, Any]]) -> Verification:
    """Verify an exported agreed record with the public cards the verifier trusts: no
    workspace, no log."""
    return verify_agreed(read_agreed(data), [read_card(c) for c in cards])
