"""`sitroom agreements` as the parties run it: three people with real keys in a real workspace
propose a text, sign it one by one, and an outsider verifies the exported record offline with
nothing but their public cards. Passphrases come from $SITROOM_PASSPHRASE (configuration, the
way a script would give them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import Result, sitroom

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "us-iran-ceasefire.yaml"
PARTIES = ("washington", "tehran", "muscat")
TEXT = "Article 1. The parties meet in Geneva on 15 December.\nArticle 2. Muscat mediates.\n"


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery staple")
    w = str(tmp_path / "ws")
    assert sitroom(capfd, "init", "-w", w).code == 0
    assert sitroom(capfd, "tracks", "add", "-w", w, str(TRACKS)).code == 0
    for name in PARTIES:
        made = sitroom(capfd, "keys", "init", name, "-w", w)
        assert made.code == 0, made.err
    return w


def agree(capfd: pytest.CaptureFixture[str], ws: str, *args: str) -> Result:
    return sitroom(capfd, "agreements", *args, "-w", ws)


def propose(capfd: pytest.CaptureFixture[str], ws: str, tmp_path: Path, aid: str) -> Result:
    text = tmp_path / f"{aid}.txt"
    text.write_text(TEXT)
    parties = [x for name in PARTIES for x in ("--party", name)]
    return agree(
        capfd, ws, "propose", "Geneva framework", "--id", aid, "--text-file", str(text),
        *parties, "--track", "us-iran", "-u", "mediator", "--json",
    )  # fmt: skip


def test_three_parties_agree_and_the_record_verifies_offline(
    ws: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The done-when of issue 7 part 6: agreed only with all three signatures; the exported
    record verifies offline with the three public cards; a tampered text fails, exit 7."""
    made = propose(capfd, ws, tmp_path, "geneva")
    assert made.code == 0, made.err
    body = made.json()
    assert (body["status"], body["signed"], body["of"], body["text"]) == ("open", 0, 3, TEXT)
    assert (body["track"], body["proposer"]) == ("us-iran", "mediator")

    progress = []
    for name in PARTIES:
        signed = agree(capfd, ws, "sign", "geneva", "--party", name, "--json")
        assert signed.code == 0, signed.err
        s = signed.json()
        written = s["agreed_record"] and s["agreed_record"].rsplit(":", 1)[0]
        progress.append((s["party"], s["status"], s["signed"], written))
    assert progress == [
        ("washington", "open", 1, None),
        ("tehran", "open", 2, None),
        ("muscat", "agreed", 3, "agreement.agreed:geneva"),  # then a hash of its content
    ]
    again = agree(capfd, ws, "sign", "geneva", "-u", "tehran", "--json")  # as themselves
    assert (again.code, again.json()["already"]) == (0, True)

    status = agree(capfd, ws, "show", "geneva", "--json")
    assert status.code == 0, status.err
    (row,) = status.json()["agreements"]
    assert row["status"] == "agreed" and row["agreed_at"] and row["text"] == TEXT
    assert {p["name"]: p["state"] for p in row["parties"]} == dict.fromkeys(PARTIES, "signed")
    people = agree(capfd, ws)
    assert "geneva: Geneva framework (track us-iran) — agreed, 3 of 3 signed" in people.out
    assert (listed := agree(capfd, ws, "--json")).code == 0
    assert [a["text"] for a in listed.json()["agreements"]] == [None]  # the list has no texts

    here = agree(capfd, ws, "verify", "geneva")
    assert here.code == 0, here.out + here.err
    assert "VERIFIED" in here.out

    record = tmp_path / "geneva.agreed.json"
    exported = agree(capfd, ws, "export", "geneva", "-o", str(record), "--json")
    assert exported.code == 0, exported.err
    assert exported.json()["agreement"] == "geneva" and "data" not in exported.json()
    assert json.loads(record.read_text())["digest"] == exported.json()["digest"]
    cards = []
    for name in PARTIES:
        card = tmp_path / f"{name}.card.json"
        assert sitroom(capfd, "keys", "export", name, "-w", ws, "-o", str(card)).code == 0
        cards += ["--key", str(card)]

    # Offline: no workspace at all, only the record and the cards.
    offline = sitroom(capfd, "agreements", "verify", "--file", str(record), *cards, "--json")
    assert offline.code == 0, offline.out + offline.err
    report = offline.json()
    assert (report["ok"], report["problems"]) == (True, [])
    assert sorted(c["party"] for c in report["parties"] if c["verifies"]) == sorted(PARTIES)

    tampered = tmp_path / "tampered.json"
    data = json.loads(record.read_text())
    data["proposal"]["text"] = TEXT.replace("15 December", "16 December")
    tampered.write_text(json.dumps(data))
    bad = sitroom(capfd, "agreements", "verify", "--file", str(tampered), *cards, "--json")
    assert bad.code == 7
    problems = bad.json()["problems"]
    assert problems[0] == "the agreement was changed after it was signed: the text"
    assert "signature of 'tehran' does not verify" in " ".join(problems)
    words = sitroom(capfd, "agreements", "verify", "--file", str(tampered), *cards)
    assert words.code == 7
    assert "NOT VERIFIED" in words.out

    late = agree(capfd, ws, "withdraw", "geneva", "--party", "tehran", "--reason", "too late")
    assert late.code == 5
    assert late.err.strip().splitlines() == [
        "sitroom: error: agreement geneva is agreed (every party signed): it can no longer be "
        "withdrawn from"
    ]


def test_a_withdrawal_aborts_and_later_signatures_are_refused(
    ws: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert propose(capfd, ws, tmp_path, "draft").code == 0
    assert agree(capfd, ws, "sign", "draft", "--party", "washington").code == 0
    out = agree(
        capfd, ws, "withdraw", "draft", "--party", "tehran", "--reason", "new instructions",
        "--json",
    )  # fmt: skip
    assert out.code == 0, out.err
    assert (out.json()["status"], out.json()["withdrawal"]["reason"]) == (
        "aborted",
        "new instructions",
    )
    late = agree(capfd, ws, "sign", "draft", "--party", "muscat")
    assert late.code == 5
    assert late.err.count("\n") == 1
    assert "aborted when tehran withdrew" in late.err
    (row,) = agree(capfd, ws, "show", "draft", "--json").json()["agreements"]
    assert {p["name"]: p["state"] for p in row["parties"]} == {
        "washington": "signed",
        "tehran": "withdrew",
        "muscat": "pending",
    }
    assert agree(capfd, ws, "export", "draft").code == 2  # nothing agreed to export


def test_mistakes_are_one_line_and_change_nothing(
    ws: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert propose(capfd, ws, tmp_path, "geneva").code == 0
    cases = [
        (("sign", "geneva", "--party", "paris"), 5, "'paris' is not a party to agreement geneva"),
        (("sign", "nowhere", "--party", "tehran"), 2, "no agreement 'nowhere' (agreements: ge"),
        (("sign", "geneva"), 2, "name the party who signs"),
        (("sign", "geneva", "--as", "tehran"), 2, "No such option: --as"),
        (
            ("propose", "Other", "--text", "t", "--party", "tehran", "--party", "paris"),
            2,
            "no identity 'paris' to pin as a party",
        ),
        (
            ("propose", "Geneva", "--id", "geneva", "--text", "t", "--party", "muscat"),
            2,
            "agreement 'geneva' already exists",
        ),
        (("propose", "Other", "--party", "tehran", "--party", "muscat"), 2, "--text or"),
        (("verify", "geneva"), 2, "is open (0 of 3 signed)"),
        (("sign", "--offline", "p.json"), 2, "give --key keys/NAME.key"),
        (("sign", "geneva", "--key", "t.key"), 2, "--key and -o go with --offline"),
        (("sign", "geneva", "--offline", "p.json"), 2, "or give --offline PROPOSAL (one of them)"),
        (("sign", "--offline", "p.json", "--key", "t.key", "--party", "t"), 2, "leave out --party"),
        (("collect", "geneva", "nowhere.sig"), 2, "no such file: nowhere.sig"),
        (("verify", "geneva", "--withdrawal", "w"), 2, "--withdrawal go with --file"),
    ]
    for args, code, message in cases:
        r = agree(capfd, ws, *args)
        assert (r.code, r.err.count("\n")) == (code, 1), (args, r.err)
        assert message in r.err, (args, r.err)
    monkeypatch.setenv("SITROOM_PASSPHRASE", "not the passphrase")
    wrong = agree(capfd, ws, "sign", "geneva", "--party", "tehran")
    assert wrong.code == 5
    assert "wrong passphrase for tehran's keys" in wrong.err
    (row,) = agree(capfd, ws, "--json").json()["agreements"]
    assert row["signed"] == 0
