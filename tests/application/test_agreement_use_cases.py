"""The agreement use cases on a real engine (in-memory log, every projection): a key changed
after the proposal cannot sign, an old agreement still verifies after a key change, and two
last signatures that raced still end in an agreed record."""

from __future__ import annotations

import pytest

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.keystore import new_secret
from sitroom.application import agreements
from sitroom.application.engine import Engine
from sitroom.domain.secure.agreements import Proposal, signature_record
from sitroom.domain.secure.agreements_ledger import AGREEMENTS
from sitroom.domain.secure.codec import b64
from sitroom.domain.secure.identity import PERSON, Secret, identity_record
from sitroom.errors import Rejected, UserInputError
from sitroom.workspace import scratch_engine

NOW = 1_795_000_000_000
NAMES = ("washington", "tehran", "muscat")


def engine_with(keys: dict[str, Secret]) -> Engine:
    engine = scratch_engine(NOW)
    engine.append([identity_record(s, NOW) for s in keys.values()])
    return engine


def keyring(keys: dict[str, Secret]) -> agreements.Unlock:
    return lambda name: keys[name]


def propose(engine: Engine) -> None:
    agreements.propose(
        engine, "Geneva framework", "Article 1.", NAMES, proposer="mediator", agreement_id="g"
    )


def test_a_key_changed_after_the_proposal_cannot_sign_but_old_agreements_verify() -> None:
    keys = {n: new_secret(n, PERSON) for n in NAMES}
    engine = engine_with(keys)
    propose(engine)
    for n in NAMES:
        agreements.sign(engine, "g", n, keyring(keys))
    agreements.propose(
        engine, "Second round", "Article 1.", NAMES, proposer="mediator", agreement_id="g2"
    )
    new_tehran = new_secret("tehran", PERSON)
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(1000)
    engine.append([identity_record(new_tehran, engine.clock.now_ms())])

    with pytest.raises(Rejected, match="was the key changed after the proposal") as e:
        agreements.sign(engine, "g2", "tehran", keyring({**keys, "tehran": new_tehran}))
    assert e.value.reason == "wrong-key"
    assert agreements.verify(engine, "g").ok  # pinned to the key tehran had then


def test_two_last_signatures_that_raced_still_end_agreed() -> None:
    """Both last signatures landed without the agreed record (each signer's process missed
    the other's); any party signing again writes it, and it verifies."""
    keys = {n: new_secret(n, PERSON) for n in NAMES}
    engine = engine_with(keys)
    propose(engine)
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
        agreements.export(engine, "g")
    again = agreements.sign(engine, "g", "tehran", keyring(keys))
    assert (again["already"], again["status"], again["agreed_record"]) == (
        True,
        "agreed",
        "agreement.agreed:g",
    )
    assert agreements.export(engine, "g")["agreed_ms"] == NOW + 2
    assert agreements.verify(engine, "g").ok
