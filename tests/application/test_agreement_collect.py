"""Detached signing through the use cases, on a real engine and real key files: a party signs
a proposal file with its own keystore (the key checked on its public half before any
passphrase), the mediator's room collects what the parties send, and nothing is reported done
that the fold does not count."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from sitroom.adapters.keystore import KeyStore, new_secret
from sitroom.application.agreements import Agreements
from sitroom.application.agreements_offline import read_proposal, sign_offline
from sitroom.application.engine import Engine
from sitroom.application.ports import Unlock
from sitroom.application.session import Session
from sitroom.domain.kinds import AGREEMENT_SIGNED
from sitroom.domain.secure.agreements import Party, Proposal, proposal_record, signature_record
from sitroom.domain.secure.agreements_ledger import AGREEMENTS
from sitroom.domain.secure.agreements_offline import Statement, sign_detached
from sitroom.domain.secure.identity import PERSON, Secret, identity_record
from sitroom.errors import Rejected, SecureError
from sitroom.room import scratch_engine

NOW = 1_795_000_000_000
NAMES = ("washington", "tehran", "muscat")
PASS = "a party's own passphrase"


@pytest.fixture(scope="module")
def keys() -> dict[str, Secret]:
    return {n: new_secret(n, PERSON) for n in NAMES}


def room(keys: dict[str, Secret], engine: Engine | None = None) -> tuple[Agreements, Proposal]:
    """The mediator's room: the parties' public keys only, and a proposal."""
    engine = engine or scratch_engine(NOW)
    engine.append([identity_record(s, NOW) for s in keys.values()])

    def no_keys(name: str, passphrase: object) -> Secret:
        raise SecureError("the mediator holds no party's keys")

    a = Agreements(Session.of(engine, "mediator"), open_keys=no_keys)
    a.propose("Geneva framework", "Article 1.", NAMES, id="g")
    return a, read_proposal(a.proposal("g").data)


def statement(p: Proposal, secret: Secret, reason: str | None = None) -> bytes:
    return orjson.dumps(sign_detached(p, secret, reason=reason).as_payload())


def test_a_party_signs_with_its_own_key_file_and_the_room_collects_it(
    keys: dict[str, Secret], tmp_path: Path
) -> None:
    a, p = room(keys)
    store = KeyStore(tmp_path / "keys")
    store.save(keys["muscat"], Unlock(passphrase=PASS))
    asked: list[str] = []

    def ask(name: str) -> str:
        asked.append(name)
        return PASS

    made = sign_offline(p, store, "muscat", passphrase=ask)
    assert (made.party, made.digest, made.withdraws, asked) == (
        "muscat",
        p.digest,
        False,
        ["muscat"],
    )
    given = [("muscat.sig", made.data)] + [
        (f"{n}.sig", statement(p, keys[n])) for n in ("washington", "tehran")
    ]
    done = a.collect("g", given)
    assert [(s.source, s.outcome) for s in done.statements] == [
        ("muscat.sig", "accepted"),
        ("washington.sig", "accepted"),
        ("tehran.sig", "accepted"),
    ]
    assert (done.status, done.signed, done.refusals) == ("agreed", 3, 0)
    assert done.agreed_record is not None and a.verify("g").ok


def test_a_key_not_pinned_is_refused_before_its_passphrase_is_asked_for(
    keys: dict[str, Secret], tmp_path: Path
) -> None:
    _, p = room(keys)
    store = KeyStore(tmp_path / "keys")
    store.save(new_secret("muscat", PERSON), Unlock(passphrase=PASS))

    def never(name: str) -> str:
        raise AssertionError("the passphrase was asked for")

    with pytest.raises(Rejected, match="is not the one agreement g pins") as e:
        sign_offline(p, store, "muscat", passphrase=never)
    assert e.value.reason == "wrong-key"
    store.save(keys["tehran"], Unlock(passphrase=PASS))
    shutil.copy(store.path("tehran"), store.dir / "mine.key")
    refused = r"mine\.key: holds tehran's keys, not mine's \(.*: tehran\.key\)"
    with pytest.raises(SecureError, match=refused):
        sign_offline(p, store, "mine", passphrase=never)
    paris = new_secret("paris", PERSON)
    store.save(paris, Unlock(passphrase=PASS))
    with pytest.raises(Rejected, match="'paris' is not a party to agreement g"):
        sign_offline(p, store, "paris", passphrase=never)


def test_a_proposal_file_is_signed_only_as_it_would_be_signed(keys: dict[str, Secret]) -> None:
    a, p = room(keys)
    payload = orjson.loads(a.proposal("g").data)
    with pytest.raises(Rejected, match="holds what would not be signed: \\['annex'\\]"):
        read_proposal({**payload, "annex": "Article 2."})
    with pytest.raises(Rejected, match="names only muscat") as e:
        read_proposal({**payload, "parties": payload["parties"][:1]})
    assert e.value.reason == "parties"
    assert read_proposal(payload) == p


def test_a_squatted_id_is_said_out_loud_not_reported_as_signed(keys: dict[str, Secret]) -> None:
    """An insider who saw muscat's statement before it was collected writes a record of their
    own under the id it will have. The log keeps theirs (refused); collect says muscat's
    signature was not recorded, instead of counting it."""
    engine = scratch_engine(NOW)
    a, p = room(keys, engine)
    sent = statement(p, keys["muscat"])
    s = Statement.from_payload(orjson.loads(sent))
    real = signature_record(p, keys["muscat"].identity, s.signature, now_ms=NOW, compartment="")
    squat = AGREEMENT_SIGNED.record(
        id=real.id,
        source="agreement:muscat",
        valid_from=NOW,
        payload={**real.payload, "digest": "0" * 64},
    )
    engine.append([squat])  # through the engine itself, as the log's own code writes
    assert engine.states[AGREEMENTS]["agreements"]["g"]["refused"][0]["reason"] == "stale"
    with pytest.raises(SecureError, match=r"agreement\.signed of g was not recorded: the sig"):
        a.collect("g", [("muscat.sig", sent)])
    assert a.status("g").agreements[0].signed == 0


def test_a_proposal_under_a_refused_records_id_is_said_out_loud(keys: dict[str, Secret]) -> None:
    """A one-party proposal written first under `agreement.proposed:g` is refused; proposing
    g then says so rather than answering with an agreement that does not exist."""
    engine = scratch_engine(NOW)
    engine.append([identity_record(s, NOW) for s in keys.values()])
    w = keys["washington"].identity
    alone = Proposal("g", "Alone", "Article 1.", (Party("washington", w.fingerprint),), "m", NOW)
    engine.append([proposal_record(alone, compartment="")])
    a = Agreements(Session.of(engine, "mediator"), open_keys=lambda n, p: keys[n])
    with pytest.raises(SecureError, match=r"agreement\.proposed of g was not recorded: .*only"):
        a.propose("Geneva framework", "Article 1.", NAMES, id="g")
    assert a.propose("Geneva framework", "Article 1.", NAMES, id="g2").status == "open"
