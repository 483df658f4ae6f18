"""Detached signing as the parties run it, each on a machine of its own: three identities made
with `sitroom keys init` in three folders, a mediator's workspace that holds only their public
cards, a proposal file carried to each party, signed there with the party's own key file (no
workspace, no key handed over), collected by the mediator, exported, and verified offline with
nothing but the three cards. Every command is a real `python -m sitroom` process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sitroom.cli import run, streams

from helpers import Result, bare_env, sitroom_in

pytestmark = pytest.mark.slow

PARTIES = ("washington", "tehran", "muscat")
TEXT = "Article 1. The parties meet in Geneva on 15 December.\nArticle 2. Muscat mediates.\n"


def cli(cwd: Path, *args: str, passphrase: str | None = None) -> Result:
    """`sitroom ARGS` run in ``cwd`` with a bare environment (the passphrase, if any, from
    $SITROOM_PASSPHRASE as a script gives it; no terminal to ask at)."""
    env = bare_env() if passphrase is None else bare_env(SITROOM_PASSPHRASE=passphrase)
    return sitroom_in(cwd, *args, env=env, timeout=120)


def ok(r: Result) -> Result:
    assert r.code == 0, r.out + r.err
    return r


def here(*args: str) -> Result:
    """The mediator's commands, in this process (they need no passphrase)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SITROOM_PASSPHRASE", raising=False)
        with streams.capture() as (out, err):
            code = run(list(args))
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def passphrase_of(name: str) -> str:
    return f"{name}'s own passphrase"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made once: three parties' machines, each with its own identity (`sitroom keys init`
    there); the mediator's workspace with their cards imported (fingerprints compared, as
    their owners would read them out) and a three-party proposal; the proposal file carried
    to each party, and each party's detached signature, and muscat's withdrawal, made there."""
    tmp = tmp_path_factory.mktemp("agree")
    mediator = tmp / "mediator"
    ok(here("init", "-w", str(mediator)))
    for name in PARTIES:
        home = tmp / name
        ok(cli(tmp, "init", "-w", str(home)))
        ok(cli(home, "keys", "init", name, passphrase=passphrase_of(name)))
        card = tmp / f"{name}.card"
        ok(cli(home, "keys", "export", name, "-o", str(card)))
        fingerprint = json.loads(card.read_text())["fingerprint"]
        ok(here("keys", "import", "-w", str(mediator), str(card), "--fingerprint", fingerprint))
    text = tmp / "framework.txt"
    text.write_text(TEXT)
    parties = [x for name in PARTIES for x in ("--party", name)]
    ok(here("agreements", "propose", "-w", str(mediator), "Geneva framework", "--id", "geneva",
            "--text-file", str(text), *parties, "-u", "mediator"))  # fmt: skip
    proposal = tmp / "geneva.proposal.json"
    ok(here("agreements", "proposal", "geneva", "-w", str(mediator), "-o", str(proposal)))
    for name in PARTIES:
        desk = tmp / f"{name}-desk"
        desk.mkdir()
        signed = ok(cli(desk, "agreements", "sign", "--offline", str(proposal), "--key",
                        str(key_of(tmp, name)), "-o", str(tmp / f"{name}.sig"), "--json",
                        passphrase=passphrase_of(name)))  # fmt: skip
        (tmp / f"{name}.signed.json").write_text(signed.out)
        (tmp / f"{name}.shown.txt").write_text(signed.err)
    ok(cli(tmp / "muscat-desk", "agreements", "withdraw", "--offline", str(proposal), "--key",
           str(key_of(tmp, "muscat")), "--reason", "new instructions",
           "-o", str(tmp / "muscat.withdrawal"), passphrase=passphrase_of("muscat")))  # fmt: skip
    return tmp


def key_of(tmp: Path, name: str) -> Path:
    return tmp / name / "keys" / f"{name}.key"


@pytest.fixture
def world(made: Path, tmp_path: Path) -> dict[str, Path]:
    """A copy of what was made once, the mediator's workspace as it was before collecting."""
    tmp = tmp_path / "agree"
    shutil.copytree(made, tmp)
    return {"tmp": tmp, "mediator": tmp / "mediator", "proposal": tmp / "geneva.proposal.json"}


def sign_on_own_machine(world: dict[str, Path], name: str, *more: str) -> Result:
    """``name`` signs in an empty folder of its machine: its key file, no workspace."""
    return cli(world["tmp"] / f"{name}-desk", "agreements", "sign", "--offline",
               str(world["proposal"]), "--key", str(key_of(world["tmp"], name)), *more,
               passphrase=passphrase_of(name))  # fmt: skip


def test_three_parties_sign_detached_and_the_record_verifies_with_only_their_cards(
    world: dict[str, Path],
) -> None:
    """The done-when of issue 20's agreements: signed on three machines, collected, exported,
    verified offline with the three cards; one card missing fails naming the party; a
    tampered text fails."""
    tmp, ws = world["tmp"], str(world["mediator"])
    statements = []
    for name in PARTIES:
        shown = (tmp / f"{name}.shown.txt").read_text()  # stderr, before the passphrase
        signed = json.loads((tmp / f"{name}.signed.json").read_text())
        assert "Article 2. Muscat mediates." in shown and "parties" not in signed
        assert f"digest {signed['digest']}" in shown
        assert (signed["party"], signed["withdraws"]) == (name, False)
        assert not list((tmp / f"{name}-desk").iterdir())  # no workspace was made there
        statement = json.loads((tmp / f"{name}.sig").read_text())
        assert statement["format"] == "sitroom-agreement-signature/1"
        assert (statement["agreement"], statement["party"]) == ("geneva", name)
        statements.append(str(tmp / f"{name}.sig"))

    collected = ok(here("agreements", "collect", "geneva", *statements, "-w", ws, "--json"))
    body = collected.json()
    assert (body["status"], body["signed"], body["of"]) == ("agreed", 3, 3)
    assert [s["outcome"] for s in body["statements"]] == ["accepted"] * 3
    assert body["agreed_record"].startswith("agreement.agreed:geneva:")
    again = ok(here("agreements", "collect", "geneva", statements[0], "-w", ws))
    assert "washington had signed already: nothing new" in again.out

    record = tmp / "geneva.agreed.json"
    ok(here("agreements", "export", "geneva", "-w", ws, "-o", str(record)))
    cards = [x for name in PARTIES for x in ("--key", str(tmp / f"{name}.card"))]
    verified = ok(cli(tmp, "agreements", "verify", "--file", str(record), *cards))
    assert "VERIFIED: every party signed exactly this text" in verified.out

    missing = cli(tmp, "agreements", "verify", "--file", str(record), *cards[:4], "--json")
    assert missing.code == 7
    assert missing.json()["problems"] == ["no trusted key for 'muscat': give their public card"]
    assert {c["party"]: c["state"] for c in missing.json()["parties"]} == {
        "muscat": "unverified",
        "tehran": "verified",
        "washington": "verified",
    }
    words = here("agreements", "verify", "--file", str(record), *cards[:4])
    assert words.code == 7 and "UNVERIFIED muscat" in words.out

    data = json.loads(record.read_text())
    data["proposal"]["text"] = TEXT.replace("15 December", "16 December")
    tampered = tmp / "tampered.json"
    tampered.write_text(json.dumps(data))
    bad = cli(tmp, "agreements", "verify", "--file", str(tampered), *cards, "--json")
    assert bad.code == 7
    assert bad.json()["problems"][0] == "the agreement was changed after it was signed: the text"


def test_a_key_the_proposal_does_not_pin_is_refused_before_any_passphrase(
    world: dict[str, Path],
) -> None:
    """A second `muscat` key (made in another room): refused as wrong-key from its public
    half, with no passphrase given (it would be asked for, and fail, if it were needed)."""
    tmp = world["tmp"]
    other = tmp / "elsewhere"
    ok(here("init", "-w", str(other)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SITROOM_PASSPHRASE", "another muscat passphrase")
        assert run(["keys", "init", "muscat", "-w", str(other)]) == 0
    refused = cli(tmp, "agreements", "sign", "--offline", str(world["proposal"]), "--key",
                  str(other / "keys" / "muscat.key"), "-o", str(tmp / "x.sig"))  # fmt: skip
    assert refused.code == 5, refused.err
    assert refused.err.splitlines()[-1].startswith("sitroom: error: the key offered for 'muscat'")
    assert "is not the one agreement geneva pins" in refused.err
    assert not (tmp / "x.sig").exists()
    wrong = sign_on_own_machine(world, "tehran", "-o", str(tmp / "y.sig"), "--passphrase-file",
                                str(tmp / "framework.txt"))  # fmt: skip
    assert wrong.code == 5 and "wrong passphrase for tehran's keys" in wrong.err
    assert not (tmp / "y.sig").exists()
    over = sign_on_own_machine(world, "tehran", "-o", str(key_of(tmp, "tehran")))
    assert over.code == 2 and "tehran.key" in over.err  # never over the key file


def test_collect_refuses_bad_statements_one_line_each_and_records_the_good(
    world: dict[str, Path],
) -> None:
    tmp, ws = world["tmp"], str(world["mediator"])
    forged = json.loads((tmp / "tehran.sig").read_text())
    forged["signature"] = json.loads((tmp / "muscat.sig").read_text())["signature"]
    (tmp / "forged.sig").write_text(json.dumps(forged))
    (tmp / "junk.sig").write_text("not a statement")
    out = here("agreements", "collect", "geneva", str(tmp / "washington.sig"),
               str(tmp / "forged.sig"), str(tmp / "junk.sig"), "-w", ws)  # fmt: skip
    assert out.code == 5
    lines = out.err.strip().splitlines()
    assert len(lines) == 2 and all(x.startswith("sitroom: error: ") for x in lines)
    assert "forged.sig: signature of 'tehran' does not verify" in lines[0]
    assert lines[0].endswith("[forged]")
    assert "junk.sig: this is not a signature or withdrawal statement (not JSON)" in lines[1]
    assert "recorded washington's signature" in out.out
    (row,) = ok(here("agreements", "show", "geneva", "-w", ws, "--json")).json()["agreements"]
    assert {p["name"]: p["state"] for p in row["parties"]} == {
        "muscat": "pending",
        "tehran": "pending",
        "washington": "signed",
    }
    assert row["refused"] == []  # nothing of the refused ones reached the log
    done = ok(here("agreements", "collect", "geneva", str(tmp / "tehran.sig"),
                   str(tmp / "muscat.sig"), "-w", ws))  # fmt: skip
    assert "geneva: Geneva framework — agreed, 3 of 3 signed" in done.out


def test_a_withdrawal_signed_detached_aborts_in_the_room_and_fails_an_offline_verify(
    world: dict[str, Path],
) -> None:
    """muscat withdraws on its own machine. An offline verifier given that statement beside an
    agreed record (signed by all three before the withdrawal reached the mediator, say)
    reports it withdrawn and fails; a withdrawal with a bad signature is named and ignored.
    Collected once agreed, it is refused; collected while open, it aborts the agreement."""
    tmp, ws = world["tmp"], str(world["mediator"])
    withdrawal = tmp / "muscat.withdrawal"
    assert json.loads(withdrawal.read_text())["format"] == (
        "sitroom-agreement-withdrawal-signature/1"
    )
    open_copy = tmp / "open-mediator"
    shutil.copytree(ws, open_copy)
    statements = [str(tmp / f"{name}.sig") for name in PARTIES]
    ok(here("agreements", "collect", "geneva", *statements, "-w", ws))
    record = tmp / "geneva.agreed.json"
    ok(here("agreements", "export", "geneva", "-w", ws, "-o", str(record)))
    cards = [x for name in PARTIES for x in ("--key", str(tmp / f"{name}.card"))]
    seen = cli(tmp, "agreements", "verify", "--file", str(record), *cards,
               "--withdrawal", str(withdrawal), "--json")  # fmt: skip
    assert seen.code == 7
    assert seen.json()["withdrawn_by"] == ["muscat"]
    assert seen.json()["problems"] == [
        "withdrawn by muscat: new instructions (a withdrawal signed by them)"
    ]
    bad = json.loads(withdrawal.read_text())
    bad["reason"] = "sabotage"  # no longer what muscat signed
    (tmp / "bad.withdrawal").write_text(json.dumps(bad))
    ignored = here("agreements", "verify", "--file", str(record), *cards,
                   "--withdrawal", str(tmp / "bad.withdrawal"))  # fmt: skip
    assert ignored.code == 0, ignored.out
    assert "note: the withdrawal by muscat does not verify with their key: ignored" in ignored.out
    late = here("agreements", "collect", "geneva", str(withdrawal), "-w", ws)
    assert late.code == 5 and "can no longer be withdrawn from" in late.err

    aborted = here("agreements", "collect", "geneva", str(withdrawal), statements[0],
                   "-w", str(open_copy), "--json")  # fmt: skip
    assert aborted.code == 5  # the signature after the withdrawal is refused
    assert [s["outcome"] for s in aborted.json()["statements"]] == ["accepted", "refused"]
    assert aborted.json()["statements"][1]["reason"] == "aborted"
    assert aborted.json()["withdrawal"]["reason"] == "new instructions"
    assert aborted.json()["status"] == "aborted"
