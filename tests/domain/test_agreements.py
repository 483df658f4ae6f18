"""Signed agreements, pure: what is signed, when an agreement is agreed or aborted, what is
refused and why, and what an offline verifier can tell from an agreed record. Real Ed25519
keys throughout."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from sitroom.adapters.keystore import new_secret
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.agreements import (
    ABORTED,
    AGREED,
    OPEN,
    PENDING,
    SIGNED,
    WITHDREW,
    Proposal,
    Standing,
    agreed_payload,
    agreed_record,
    check_signature,
    check_withdrawal,
    new_proposal,
    proposal_record,
    signature_record,
    withdrawal_record,
    withdrawal_statement,
)
from sitroom.domain.secure.agreements_ledger import AgreementsProjection, standing
from sitroom.domain.secure.agreements_offline import verify_agreed
from sitroom.domain.secure.codec import b64, canonical
from sitroom.domain.secure.identity import PERSON, Identity, Secret
from sitroom.errors import Rejected, UserInputError

NOW = 1_795_000_000_000
TEXT = "Article 1. The parties meet in Geneva on 15 December.\nArticle 2. Muscat mediates.\n"
NAMES = ("washington", "tehran", "muscat")

Keys = dict[str, Secret]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return {n: new_secret(n, PERSON) for n in NAMES}


def proposal(keys: Keys, names: tuple[str, ...] = NAMES) -> Proposal:
    return new_proposal(
        "geneva",
        "Geneva framework",
        TEXT,
        [keys[n].identity for n in names],
        proposer="mediator",
        created_ms=NOW,
        track="us-iran",
    )


def signature_of(p: Proposal, secret: Secret) -> dict[str, Any]:
    return {"card": secret.identity.card(), "signature": b64(secret.sign(p.canonical))}


def signed(p: Proposal, secret: Secret, at: int = NOW + 1) -> Record:
    sig = signature_of(p, secret)["signature"]
    return signature_record(p, secret.identity, sig, now_ms=at, compartment="us-iran")


def withdrawn(p: Proposal, secret: Secret, reason: str = "instructions changed") -> Record:
    sig = b64(secret.sign(canonical(withdrawal_statement(p, secret.name, reason))))
    return withdrawal_record(p, secret.identity, reason, sig, now_ms=NOW + 9, compartment="us-iran")


def agreed(p: Proposal, keys: Keys) -> dict[str, Any]:
    return agreed_payload(p, {n: signature_of(p, keys[n]) for n in p.names}, agreed_ms=NOW + 5)


def fold(*records: Record) -> dict[str, Any]:
    """The projection, one append at a time, as the engine folds them."""
    projection = AgreementsProjection()
    state = projection.initial()
    for r in records:
        state = projection.apply(state, RecordBatch.from_records([r]))
    return state


def entry(state: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = state["agreements"]["geneva"]
    return found


def trusted(keys: Keys) -> list[Identity]:
    return [s.identity for s in keys.values()]


# -- what is signed ---------------------------------------------------------------------------


def test_canonical_bytes_do_not_depend_on_key_order_or_party_order(keys: Keys) -> None:
    """The same proposal read from a payload with its keys in another order, or made with the
    parties in another order, has the same canonical bytes and digest."""
    p = proposal(keys)
    reordered = dict(reversed(list(p.as_payload().items())))
    assert list(reordered) != list(p.as_payload())
    assert Proposal.from_payload(reordered).canonical == p.canonical
    assert proposal(keys, ("muscat", "washington", "tehran")).digest == p.digest
    assert p.canonical.startswith(b'{"agreement":"geneva","created_ms":')  # RFC 8785: sorted


def test_every_party_is_pinned_to_its_key_fingerprint(keys: Keys) -> None:
    """The party list names each party with the fingerprint of the key it has now."""
    p = proposal(keys)
    assert [(x.name, x.fingerprint) for x in p.parties] == [
        (n, keys[n].identity.fingerprint) for n in sorted(NAMES)
    ]


@pytest.mark.parametrize(
    ("names", "message"),
    [(("tehran",), "at least 2 parties"), (("tehran", "muscat", "tehran"), "given twice")],
)
def test_a_proposal_needs_two_distinct_parties(
    keys: Keys, names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        proposal(keys, names)


# -- agreed, aborted, refused -----------------------------------------------------------------


def test_three_parties_are_agreed_only_with_all_three_signatures(keys: Keys) -> None:
    """Open at 0, 1 and 2 of 3 signatures; agreed at the third, each party shown signed."""
    p = proposal(keys)
    records = [proposal_record(p, compartment="us-iran")] + [signed(p, keys[n]) for n in NAMES]
    seen = []
    for k in range(1, len(records) + 1):
        st = standing(entry(fold(*records[:k])))
        seen.append((st.status, len(st.signed)))
    assert seen == [(OPEN, 0), (OPEN, 1), (OPEN, 2), (AGREED, 3)]
    st = standing(entry(fold(*records)))
    assert [st.of(n) for n in NAMES] == [SIGNED] * 3


def test_the_agreed_record_verifies_offline_with_the_parties_keys(keys: Keys) -> None:
    """From the record alone plus the three trusted public keys; the fold accepts it too."""
    p = proposal(keys)
    payload = agreed(p, keys)
    report = verify_agreed(payload, trusted(keys))
    assert (report.ok, report.problems) == (True, ())
    assert [(c.party, c.verifies) for c in report.parties] == [(n, True) for n in sorted(NAMES)]
    state = fold(
        proposal_record(p, compartment="us-iran"),
        *(signed(p, keys[n]) for n in NAMES),
        agreed_record(payload, compartment="us-iran"),
    )
    assert entry(state)["agreed"]["payload"] == payload
    assert entry(state)["refused"] == []


@pytest.mark.parametrize(
    ("field", "change", "part"),
    [
        ("text", lambda v: v.replace("15 December", "16 December"), "the text"),
        ("title", lambda v: v + " (draft)", "the title"),
        ("parties", lambda v: v[1:], "the party list"),
    ],
)
def test_a_tampered_agreed_record_fails_naming_what_changed(
    keys: Keys, field: str, change: Any, part: str
) -> None:
    """Change the text, the title or the party list of an agreed record: it does not verify,
    the report names the changed part, and every remaining signature fails over it."""
    payload = copy.deepcopy(agreed(proposal(keys), keys))
    payload["proposal"][field] = change(payload["proposal"][field])
    report = verify_agreed(payload, trusted(keys))
    assert not report.ok
    assert report.problems[0] == f"the agreement was changed after it was signed: {part}"
    assert all(not c.verifies for c in report.parties)
    assert any(
        c.problem == f"signature of {c.party!r} does not verify: the text was changed or it was "
        "not signed by this key"
        for c in report.parties
    )


def test_a_forger_who_fixes_the_digests_still_fails_on_every_signature(keys: Keys) -> None:
    """The digests only say what changed; the signatures are what protect the text."""
    p = proposal(keys)
    payload = agreed(p, keys)
    forged = Proposal.from_payload({**payload["proposal"], "text": TEXT.replace("1.", "1. Not")})
    payload = {**payload, "proposal": forged.as_payload(), "digest": forged.digest}
    payload["parts"] = agreed(forged, keys)["parts"]
    report = verify_agreed(payload, trusted(keys))
    assert [c.verifies for c in report.parties] == [False, False, False]
    assert len(report.problems) == 3


def test_what_no_party_signed_cannot_ride_along_with_valid_signatures(keys: Keys) -> None:
    """An annex added to the proposal of an agreed record: every signature still verifies
    over what was signed, but the record fails and names the addition."""
    payload = copy.deepcopy(agreed(proposal(keys), keys))
    payload["proposal"]["annex"] = "Article 3. Sanctions are lifted."
    report = verify_agreed(payload, trusted(keys))
    assert [c.verifies for c in report.parties] == [True, True, True]
    assert report.problems == ("the record holds what no party signed: 'annex'",)


def test_a_verifier_without_the_pinned_key_is_told_so(keys: Keys) -> None:
    """No key for a party, or a key of the same name that is not the pinned one: not ok."""
    payload = agreed(proposal(keys), keys)
    impostor = new_secret("tehran", PERSON).identity
    report = verify_agreed(payload, [keys["washington"].identity, impostor])
    problems = {c.party: c.problem for c in report.parties}
    assert problems["washington"] is None
    assert problems["muscat"] == "no trusted key for 'muscat': give their public card"
    assert problems["tehran"] is not None
    assert problems["tehran"].startswith("the key you trust for 'tehran'")
    assert not report.ok


def test_a_signature_by_a_non_party_is_refused(keys: Keys) -> None:
    p = proposal(keys, ("washington", "tehran"))
    muscat = keys["muscat"]
    with pytest.raises(Rejected, match="'muscat' is not a party") as e:
        check_signature(Standing(p), "muscat", muscat.identity.card(), muscat.sign(p.canonical))
    assert e.value.reason == "not-a-party"


def test_a_key_other_than_the_pinned_one_is_refused(keys: Keys) -> None:
    """tehran's key changed after the proposal: the new key cannot sign in tehran's name."""
    p = proposal(keys)
    new_key = new_secret("tehran", PERSON)
    with pytest.raises(Rejected, match="is not the one agreement geneva pins") as e:
        check_signature(Standing(p), "tehran", new_key.identity.card(), new_key.sign(p.canonical))
    assert e.value.reason == "wrong-key"


def test_a_signature_by_another_key_under_the_partys_card_is_refused(keys: Keys) -> None:
    p = proposal(keys)
    card = keys["tehran"].identity.card()
    with pytest.raises(Rejected, match="signature of 'tehran' does not verify") as e:
        check_signature(Standing(p), "tehran", card, keys["muscat"].sign(p.canonical))
    assert e.value.reason == "forged"


def test_the_fold_does_not_count_a_forged_signature_record(keys: Keys) -> None:
    """A signed record edited into the log is listed as refused, not counted."""
    p = proposal(keys)
    forged = _with_payload(
        signed(p, keys["tehran"]), signature=b64(keys["muscat"].sign(p.canonical))
    )
    e = entry(fold(proposal_record(p, compartment="us-iran"), forged))
    assert e["signatures"] == {}
    assert [(r["party"], r["reason"]) for r in e["refused"]] == [("tehran", "forged")]


def _with_payload(r: Record, **changes: Any) -> Record:
    return Record(
        id=r.id,
        kind=r.kind,
        kind_version=r.kind_version,
        source=r.source,
        payload={**r.payload, **changes},
        valid_from=r.valid_from,
        compartment=r.compartment,
    )


def test_withdrawal_before_completion_aborts_and_refuses_later_signatures(keys: Keys) -> None:
    """tehran signs, then withdraws: aborted; muscat's signature after that is refused."""
    p = proposal(keys)
    state = fold(
        proposal_record(p, compartment="us-iran"),
        signed(p, keys["washington"]),
        signed(p, keys["tehran"]),
        withdrawn(p, keys["tehran"]),
        signed(p, keys["muscat"]),
    )
    e = entry(state)
    st = standing(e)
    assert st.status == ABORTED
    assert [st.of(n) for n in NAMES] == [SIGNED, WITHDREW, PENDING]
    assert e["withdrawal"]["reason"] == "instructions changed"
    assert [(r["party"], r["reason"]) for r in e["refused"]] == [("muscat", "aborted")]
    with pytest.raises(Rejected, match="aborted when tehran withdrew") as err:
        muscat = keys["muscat"]
        check_signature(st, "muscat", muscat.identity.card(), muscat.sign(p.canonical))
    assert err.value.reason == "aborted"


def test_withdrawal_after_agreement_is_refused(keys: Keys) -> None:
    p = proposal(keys)
    st = Standing(p, frozenset(NAMES))
    tehran = keys["tehran"]
    statement = withdrawal_statement(p, "tehran", "too late")
    with pytest.raises(Rejected, match="can no longer be withdrawn from") as e:
        check_withdrawal(
            st, "tehran", tehran.identity.card(), statement, tehran.sign(canonical(statement))
        )
    assert e.value.reason == "agreed"
    e2 = entry(
        fold(
            proposal_record(p, compartment="us-iran"),
            *(signed(p, keys[n]) for n in NAMES),
            withdrawn(p, tehran, "too late"),
        )
    )
    assert (standing(e2).status, e2["withdrawal"]) == (AGREED, None)


def test_a_withdrawal_must_be_signed_by_the_party(keys: Keys) -> None:
    """Nobody aborts an agreement in another party's name."""
    p = proposal(keys)
    statement = withdrawal_statement(p, "tehran", "sabotage")
    with pytest.raises(Rejected, match="not signed by their key") as e:
        check_withdrawal(
            Standing(p),
            "tehran",
            keys["tehran"].identity.card(),
            statement,
            keys["washington"].sign(canonical(statement)),
        )
    assert e.value.reason == "forged"


def test_signing_again_is_idempotent(keys: Keys) -> None:
    """Ed25519 signs deterministically: a second signature is the same record, and the fold
    keeps the first whatever it is given."""
    p = proposal(keys)
    once = signed(p, keys["tehran"])
    again = signed(p, keys["tehran"], at=NOW + 7)
    assert (again.id, again.payload) == (once.id, once.payload)
    e = entry(fold(proposal_record(p, compartment="us-iran"), once, again))
    assert list(e["signatures"]) == ["tehran"]
    assert e["signatures"]["tehran"]["at"] == NOW + 1
    assert e["refused"] == []
