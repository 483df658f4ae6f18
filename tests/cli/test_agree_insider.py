"""An insider against `sitroom agreements`: someone who holds the workspace's files writes
records through the engine, as the log's own code would, or hands a verifier a record of their
making. A party-less record does not verify offline; a refused signature squatting a party's
record id does not block that party's real one; nor does a refused agreed record or withdrawal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_agree_cli import PARTIES, agree, propose, ws  # noqa: F401  (the fixture)

import sitroom
from sitroom.domain.kinds import AGREEMENT_AGREED, AGREEMENT_SIGNED, AGREEMENT_WITHDRAWN
from sitroom.domain.records import Record
from sitroom.domain.secure.agreements import Proposal, parts

from helpers import sitroom as run_cli


@pytest.fixture
def room(ws: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:  # noqa: F811
    """The parties' workspace of test_agree_cli, with agreement geneva proposed."""
    proposed = propose(capfd, ws, tmp_path, "geneva")
    assert proposed.code == 0, proposed.err
    return ws


def insider_writes(room: str, *records: Record) -> None:
    """Through the engine, as the log's own code writes: the chain stays intact."""
    with sitroom.open(room, as_site=True) as site:
        site.engine.append(list(records))


def forged(kind: Any, id: str, payload: dict[str, Any]) -> Record:
    return kind.record(id=id, source="agreement:muscat", valid_from=0, payload=payload)


def show(capfd: pytest.CaptureFixture[str], room: str) -> dict[str, Any]:
    (row,) = agree(capfd, room, "show", "geneva", "--json").json()["agreements"]
    return dict(row)


def test_a_refused_forgery_under_a_partys_id_does_not_block_its_real_signature(
    room: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The forgery is refused as wrong-key; muscat's real signature then counts, and the
    agreement is agreed with all three."""
    for name in ("washington", "tehran"):
        assert agree(capfd, room, "sign", "geneva", "--party", name).code == 0
    entry = show(capfd, room)
    impostor = {"name": "muscat", "role": "person", "sign": "A" * 43, "kex": "A" * 43}
    insider_writes(
        room,
        forged(
            AGREEMENT_SIGNED,
            "agreement.signed:geneva:muscat",
            {
                "agreement": "geneva",
                "digest": entry["digest"],
                "party": "muscat",
                "card": impostor,
                "signature": "A" * 86,
            },
        ),
    )
    assert [r["party"] for r in show(capfd, room)["refused"]] == ["muscat"]
    signed = agree(capfd, room, "sign", "geneva", "--party", "muscat", "--json")
    assert signed.code == 0, signed.err
    assert (signed.json()["status"], signed.json()["signed"]) == ("agreed", 3)
    after = show(capfd, room)
    assert after["status"] == "agreed" and after["agreed_at"]
    assert agree(capfd, room, "verify", "geneva").code == 0


def test_a_refused_agreed_record_under_its_id_does_not_block_the_real_one(
    room: str, capfd: pytest.CaptureFixture[str]
) -> None:
    insider_writes(
        room, forged(AGREEMENT_AGREED, "agreement.agreed:geneva", {"agreement": "geneva"})
    )
    for name in PARTIES:
        assert agree(capfd, room, "sign", "geneva", "--party", name).code == 0
    assert show(capfd, room)["agreed_at"]
    assert agree(capfd, room, "export", "geneva").code == 0


def test_a_refused_withdrawal_under_its_id_does_not_block_the_real_one(
    room: str, capfd: pytest.CaptureFixture[str]
) -> None:
    insider_writes(
        room,
        forged(AGREEMENT_WITHDRAWN, "agreement.withdrawn:geneva", {"statement": {}}),
        forged(AGREEMENT_WITHDRAWN, "agreement.withdrawn:geneva:muscat", {"statement": {}}),
    )
    out = agree(capfd, room, "withdraw", "geneva", "--party", "muscat", "--reason", "no", "--json")
    assert out.code == 0, out.err
    assert show(capfd, room)["status"] == "aborted"


def test_a_record_naming_no_party_does_not_verify_offline(
    room: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The insider's record: no parties, no signatures, a new text, its digests made to
    match. Every card the verifier gives matches no party: it fails."""
    for name in PARTIES:
        assert agree(capfd, room, "sign", "geneva", "--party", name).code == 0
    record = tmp_path / "agreed.json"
    assert agree(capfd, room, "export", "geneva", "-o", str(record)).code == 0
    cards = []
    for name in PARTIES:
        card = tmp_path / f"{name}.card"
        assert run_cli(capfd, "keys", "export", name, "-w", room, "-o", str(card)).code == 0
        cards += ["--key", str(card)]
    data = json.loads(record.read_text())
    data["proposal"]["parties"] = []
    data["proposal"]["text"] = "Article 1. Muscat hands over the archive.\n"
    data["signatures"] = []
    data["digest"] = Proposal.from_payload(data["proposal"]).digest
    data["parts"] = parts(data["proposal"])
    partyless = tmp_path / "partyless.json"
    partyless.write_text(json.dumps(data))
    out = run_cli(capfd, "agreements", "verify", "--file", str(partyless), *cards, "--json")
    assert out.code == 7, out.out
    report = out.json()
    assert report["ok"] is False
    assert "the agreement names no party: it needs at least 2 parties" in report["problems"]
    assert report["parties"] == []
    assert [n.split(" (")[0] for n in report["notes"]] == [
        f"the card of {name!r}" for name in PARTIES
    ]  # each card matches no party: a note, not what fails
    words = run_cli(capfd, "agreements", "verify", "--file", str(partyless), *cards)
    assert words.code == 7 and "NOT VERIFIED" in words.out and "VERIFIED:" not in words.out
