"""The agreement service on a real engine (in-memory log, every projection): a key changed
after the proposal cannot sign, an old agreement still verifies after a key change, two last
signatures that raced still end in an agreed record, and results are typed with their JSON."""

from __future__ import annotations

import orjson
import pytest

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.keystore import new_secret
from sitroom.application.agreements import AgreedRecord, Agreements, Signed
from sitroom.application.agreements_offline import verify_offline
from sitroom.application.engine import Engine
from sitroom.application.keys import Unlocker
from sitroom.application.session import Session
from sitroom.domain.secure.agreements import Proposal, signature_record
from sitroom.domain.secure.agreements_ledger import AGREEMENTS
from sitroom.domain.secure.codec import b64
from sitroom.domain.secure.identity import PERSON, Secret, identity_record
from sitroom.errors import NotFound, Rejected, SecureError, UserInputError
from sitroom.room import scratch_engine

NOW = 1_795_000_000_000
NAMES = ("washington", "tehran", "muscat")


def engine_with(keys: dict[str, Secret]) -> Engine:
    engine = scratch_engine(NOW)
    engine.append([identity_record(s, NOW) for s in keys.values()])
    return engine


def service(engine: Engine, user: str | None = "mediator") -> Agreements:
    def no_keystore(name: str, passphrase: object) -> Secret:
        raise SecureError(f"this room holds no private keys for {name!r}")

    return Agreements(Session.of(engine, user), open_keys=no_keystore)


def unlock(keys: dict[str, Secret]) -> Unlocker:
    return lambda name: keys[name]


def propose(agreements: Agreements) -> None:
    agreements.propose("Geneva framework", "Article 1.", NAMES, id="g")


def test_a_key_changed_after_the_proposal_cannot_sign_but_old_agreements_verify() -> None:
    keys = {n: new_secret(n, PERSON) for n in NAMES}
    engine = engine_with(keys)
    a = service(engine)
    propose(a)
    for n in NAMES:
        a.sign("g", n, unlock=unlock(keys))
    second = a.propose("Second round", "Article 1.", NAMES, id="g2")
    assert (second.proposer, second.status, second.text) == ("mediator", "open", "Article 1.")
    new_tehran = new_secret("tehran", PERSON)
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(1000)
    engine.append([identity_record(new_tehran, engine.clock.now_ms())])

    with pytest.raises(Rejected, match="was the key changed after the proposal") as e:
        a.sign("g2", "tehran", unlock=unlock({**keys, "tehran": new_tehran}))
    assert e.value.reason == "wrong-key"
    assert a.verify("g").ok  # pinned to the key tehran had then


def test_two_last_signatures_that_raced_still_end_agreed() -> None:
    """Both last signatures landed without the agreed record (each signer's process missed
    the other's); any party signing again writes it, and it verifies."""
    keys = {n: new_secret(n, PERSON) for n in NAMES}
    engine = engine_with(keys)
    a = service(engine)
    propose(a)
    p = Proposal.from_payload(engine.states[AGREEMENTS]["agreements"]["g"]["proposal"])
    engine.append(
        [
            signature_record(
                p, keys[n].identity, b64(keys[n].sign(p.canonical)), now_ms=NOW + i, compartment=""
            )
            for i, n in enumerate(NAMES)
        ]
    )
    with pytest.raises(UserInputError, match="its agreed record is not written yet"):
        a.export("g")
    again = a.sign("g", "tehran", unlock=unlock(keys))
    assert isinstance(again, Signed)
    assert (again.already, again.status) == (True, "agreed")
    assert again.agreed_record is not None
    assert again.agreed_record.startswith("agreement.agreed:g:")  # then a hash of its content
    exported = a.export("g")
    assert isinstance(exported, AgreedRecord)
    assert orjson.loads(exported.data)["agreed_ms"] == NOW + 2
    assert a.verify("g").ok


def test_the_acting_user_signs_by_default_and_results_are_typed() -> None:
    keys = {n: new_secret(n, PERSON) for n in NAMES}
    engine = engine_with(keys)
    propose(service(engine))
    as_tehran = service(engine, user="tehran")
    signed = as_tehran.sign("g", unlock=unlock(keys))  # no party: the user acting
    body = signed.to_json()
    assert (body["party"], body["signed"], body["of"], body["already"]) == ("tehran", 1, 3, False)
    assert {p["name"]: p["state"] for p in body["parties"]} == {
        "muscat": "pending",
        "tehran": "signed",
        "washington": "pending",
    }
    assert body["text"] is None and body["withdrawal"] is None
    with pytest.raises(UserInputError, match="name the party who signs"):
        Agreements(Session.of(engine, None), open_keys=lambda n, p: keys[n]).sign("g")
    # Without an unlock, the room's keystore opens the keys (here: it holds none).
    with pytest.raises(SecureError, match="no private keys for 'muscat'"):
        service(engine).sign("g", "muscat")
    withdrew = service(engine, user="muscat").withdraw("g", reason="no", unlock=unlock(keys))
    assert (withdrew.party, withdrew.status) == ("muscat", "aborted")
    assert withdrew.withdrawal is not None and withdrew.withdrawal.reason == "no"
    listed = service(engine).status()
    assert [x.id for x in listed.agreements] == ["g"]
    assert listed.to_json()["provenance"]["as_of_seq"] > 0
    with pytest.raises(NotFound) as nf:
        service(engine).status("nowhere")
    assert (nf.value.what, nf.value.id, nf.value.known) == ("agreement", "nowhere", ("g",))


def test_an_exported_record_verifies_offline_with_the_parties_cards() -> None:
    keys = {n: new_secret(n, PERSON) for n in NAMES}
    engine = engine_with(keys)
    a = service(engine)
    propose(a)
    for n in NAMES:
        a.sign("g", n, unlock=unlock(keys))
    data = a.export("g").data
    cards = [orjson.dumps(keys[n].identity.card()) for n in NAMES]
    ok = verify_offline(data, cards)
    assert ok.ok and ok.to_json()["problems"] == []
    assert sorted(c["party"] for c in ok.to_json()["parties"] if c["verifies"]) == sorted(NAMES)
    missing = verify_offline(data, cards[:1])
    assert not missing.ok and "no trusted key for 'tehran'" in " ".join(missing.problems)
    with pytest.raises(UserInputError, match="not JSON"):
        verify_offline(b"{nope", cards)
