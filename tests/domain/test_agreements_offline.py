"""Agreements without a workspace, pure: the party list an agreed record must have to verify,
detached statements (made, read, checked), a signed withdrawal shown to an offline verifier,
and the fold reading logs written with the older record ids. Real Ed25519 keys throughout."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from test_agreements import NAMES, NOW, TEXT, Keys, entry, fold, keys, proposal

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.agreements import (
    AGREED,
    Party,
    Proposal,
    Standing,
    agreed_payload,
    agreed_record,
    new_proposal,
    parts,
    proposal_record,
    signature_record,
)
from sitroom.domain.secure.agreements_ledger import standing
from sitroom.domain.secure.agreements_offline import (
    Statement,
    check_statement,
    sign_detached,
    verify_agreed,
)
from sitroom.domain.secure.codec import b64
from sitroom.domain.secure.identity import PERSON, Secret
from sitroom.errors import Rejected, SecureError

__all__ = ["keys"]  # the fixture, shared


def agreed_by(p: Proposal, signers: dict[str, Secret]) -> dict[str, Any]:
    """An agreed record of ``p`` as its signers would make it, whatever ``p``'s party list."""
    sigs = {
        n: {"card": s.identity.card(), "signature": b64(s.sign(p.canonical))}
        for n, s in signers.items()
    }
    return agreed_payload(p, sigs, agreed_ms=NOW + 5)


# -- the party list ---------------------------------------------------------------------------


def test_a_record_naming_one_party_does_not_verify_even_with_its_valid_signature(
    keys: Keys,
) -> None:
    """washington alone signed a one-party proposal: its signature verifies, the record does
    not (the proposal rule: at least two parties)."""
    w = keys["washington"]
    p = Proposal("g", "Alone", TEXT, (Party("washington", w.identity.fingerprint),), "m", NOW)
    report = verify_agreed(agreed_by(p, {"washington": w}), [s.identity for s in keys.values()])
    assert [c.verifies for c in report.parties] == [True]
    assert report.problems == ("the agreement names only washington: it needs at least 2 parties",)


def test_one_key_pinned_for_two_parties_does_not_count_twice(keys: Keys) -> None:
    """A fingerprint covers the keys, not the name: one signer under two names is one party."""
    w = keys["washington"]
    fp = w.identity.fingerprint
    p = Proposal("g", "Twice", TEXT, (Party("washington", fp), Party("wash2", fp)), "m", NOW)
    payload = agreed_by(p, {"washington": w, "wash2": w})
    report = verify_agreed(payload, [w.identity])
    assert [c.verifies for c in report.parties] == [True, True]
    assert report.problems == ("one key is pinned for more than one party: wash2, washington",)
    with pytest.raises(Rejected, match="one key is pinned") as e:
        sign_detached(p, w)
    assert e.value.reason == "parties"


def test_the_fold_refuses_a_proposal_with_a_party_list_no_agreement_may_have(keys: Keys) -> None:
    """Written into the log by an insider (propose refuses it): not an agreement here."""
    w = keys["washington"]
    p = Proposal("g", "Alone", TEXT, (Party("washington", w.identity.fingerprint),), "m", NOW)
    state = fold(proposal_record(p, compartment=""))
    assert state["agreements"] == {}
    assert [(r["reason"], r["message"]) for r in state["refused"]] == [
        ("parties", "proposal g: the agreement names only washington: it needs at least 2 parties")
    ]


# -- ids --------------------------------------------------------------------------------------


def test_records_are_keyed_by_their_content(keys: Keys) -> None:
    """Two signatures' records never share an id, whatever their party; one signature made
    twice (deterministic Ed25519) has the same."""
    p = proposal(keys)
    t = keys["tehran"]
    real = signature_record(p, t.identity, b64(t.sign(p.canonical)), now_ms=NOW, compartment="")
    forged = signature_record(p, t.identity, b64(bytes(64)), now_ms=NOW, compartment="")
    assert real.id.startswith("agreement.signed:geneva:tehran:")
    assert forged.id != real.id
    again = signature_record(
        p, t.identity, b64(t.sign(p.canonical)), now_ms=NOW + 9, compartment=""
    )
    assert again.id == real.id


def test_a_log_written_with_the_older_ids_folds_the_same(keys: Keys) -> None:
    """`agreement.signed:<id>:<party>` and `agreement.agreed:<id>`, as logs before content
    keys hold them: agreed, and the agreed record counted."""
    p = proposal(keys)
    signed = [
        replace(
            signature_record(
                p, keys[n].identity, b64(keys[n].sign(p.canonical)), now_ms=NOW, compartment=""
            ),
            id=f"agreement.signed:geneva:{n}",
        )
        for n in NAMES
    ]
    payload = agreed_by(p, {n: keys[n] for n in NAMES})
    agreed = replace(agreed_record(payload, compartment=""), id="agreement.agreed:geneva")
    e = entry(fold(proposal_record(p, compartment=""), *signed, agreed))
    assert standing(e).status == AGREED
    assert e["agreed"]["record"] == "agreement.agreed:geneva" and e["refused"] == []


# -- detached statements ----------------------------------------------------------------------


def test_a_detached_signature_reads_back_and_checks_as_an_online_one(keys: Keys) -> None:
    p = proposal(keys)
    made = sign_detached(p, keys["muscat"])
    read = Statement.from_payload(copy.deepcopy(made.as_payload()))
    assert read == made and not read.withdraws
    assert made.as_payload()["format"] == "sitroom-agreement-signature/1"
    assert check_statement(Standing(p), read) == keys["muscat"].identity
    withdrawal = sign_detached(p, keys["muscat"], reason="instructions")
    assert withdrawal.as_payload()["format"] == "sitroom-agreement-withdrawal-signature/1"
    assert Statement.from_payload(withdrawal.as_payload()) == withdrawal


@pytest.mark.parametrize(
    ("change", "reason", "says"),
    [
        ({"agreement": "other"}, "stale", "is about agreement 'other', not 'geneva'"),
        ({"digest": "0" * 64}, "stale", "is about another text of agreement geneva"),
        ({"signature": b64(bytes(64))}, "forged", "signature of 'muscat' does not verify"),
        ({"party": "paris"}, None, "names paris"),
    ],
)
def test_a_statement_about_another_text_or_forged_is_refused(
    keys: Keys, change: dict[str, str], reason: str | None, says: str
) -> None:
    p = proposal(keys)
    payload = {**sign_detached(p, keys["muscat"]).as_payload(), **change}
    if reason is None:  # damaged: its card does not match what it claims
        with pytest.raises(SecureError, match=says):
            Statement.from_payload(payload)
        return
    with pytest.raises(Rejected, match=says) as e:
        check_statement(Standing(p), Statement.from_payload(payload))
    assert e.value.reason == reason


def test_a_key_not_pinned_cannot_sign_detached(keys: Keys) -> None:
    other = new_secret("muscat", PERSON)
    with pytest.raises(Rejected, match="is not the one agreement geneva pins") as e:
        sign_detached(proposal(keys), other)
    assert e.value.reason == "wrong-key"


# -- a withdrawal, shown to the offline verifier ----------------------------------------------


def test_a_signed_withdrawal_given_to_the_verifier_fails_the_record(keys: Keys) -> None:
    p = proposal(keys)
    payload = agreed_by(p, {n: keys[n] for n in NAMES})
    trusted = [s.identity for s in keys.values()]
    withdrawal = sign_detached(p, keys["tehran"], reason="instructions changed")
    report = verify_agreed(payload, trusted, withdrawals=[withdrawal])
    assert report.withdrawn_by == ("tehran",)
    assert report.problems == (
        "withdrawn by tehran: instructions changed (a withdrawal signed by them)",
    )


def test_a_withdrawal_that_does_not_hold_is_named_and_ignored(keys: Keys) -> None:
    p = proposal(keys)
    payload = agreed_by(p, {n: keys[n] for n in NAMES})
    trusted = [s.identity for s in keys.values()]
    good = sign_detached(p, keys["tehran"], reason="instructions changed")
    other = new_proposal("other", "Other", TEXT, trusted, proposer="m", created_ms=NOW)
    cases = [
        replace(good, reason="sabotage"),  # not what tehran signed
        sign_detached(other, keys["tehran"], reason="x"),  # another agreement
        sign_detached(p, keys["tehran"]),  # a signature, not a withdrawal
    ]
    report = verify_agreed(payload, trusted, withdrawals=cases)
    assert report.ok and report.withdrawn_by == ()
    assert report.notes == (
        "the withdrawal by tehran does not verify with their key: ignored",
        "the withdrawal by tehran is not about this text of agreement geneva: ignored",
        "tehran's signature is not a withdrawal: ignored",
    )
    unchecked = verify_agreed(payload, trusted[:1], withdrawals=[good])
    assert "the withdrawal by tehran cannot be checked: no trusted key for 'tehran': ignored" in (
        unchecked.notes
    )


def test_a_party_without_a_card_is_unverified(keys: Keys) -> None:
    p = proposal(keys)
    payload = agreed_by(p, {n: keys[n] for n in NAMES})
    report = verify_agreed(payload, [keys["tehran"].identity])
    assert {c.party: c.state for c in report.parties} == {
        "muscat": "unverified",
        "tehran": "verified",
        "washington": "unverified",
    }
    assert report.parties[0].as_dict()["state"] == "unverified"
    bad = copy.deepcopy(payload)
    bad["proposal"]["text"] = "changed"
    bad["digest"] = Proposal.from_payload(bad["proposal"]).digest
    bad["parts"] = parts(bad["proposal"])
    assert {c.state for c in verify_agreed(bad, [keys["tehran"].identity]).parties} == {
        "unverified",
        "failed",
    }
