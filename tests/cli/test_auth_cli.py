"""Proving who you are at the command line: `-u alice` is a claim until her passphrase or one of
her tokens backs it; `sitroom login` asks once per working session, `logout` ends it; API
tokens are made, listed and revoked; and whatever is typed instead — a wrong passphrase,
another's token, a lifetime of NaN days, a token file of garbage — is one line and a non-zero
exit, the log as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

import sitroom

from helpers import Result
from helpers import sitroom as run

PASS = "correct horse battery"


@pytest.fixture
def room(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    w = tmp_path / "room"
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    for args in (["init", "-w", str(w)], ["users", "add", "alice", "-w", str(w), "--role",
                 "admin"], ["users", "add", "dana", "-w", str(w), "-u", "alice"]):  # fmt: skip
        assert run(capfd, *args).code == 0
    monkeypatch.delenv("SITROOM_PASSPHRASE")
    return w


def last_seq(w: Path) -> int:
    with sitroom.open(w, as_site=True) as r:
        return r.session.last_seq()


def one_line(r: Result, code: int, text: str) -> None:
    assert r.code == code and r.out == "", r
    (line,) = r.err.splitlines()
    assert line.startswith("sitroom: error: ") and text in line, line


def test_a_user_named_without_proof_is_refused(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = last_seq(room)
    one_line(run(capfd, "users", "grant", "dana", "x", "-w", str(room), "-u", "alice"), 2,
             "alice's passphrase is needed")  # fmt: skip
    monkeypatch.setenv("SITROOM_PASSPHRASE", "dana's guess at it")
    one_line(run(capfd, "users", "grant", "dana", "x", "-w", str(room), "-u", "alice"), 6,
             "alice's passphrase does not open their key")  # fmt: skip
    assert last_seq(room) == before


def test_login_once_then_no_passphrase_until_logout(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    assert run(capfd, "login", "-w", str(room), "-u", "dana").code == 0
    monkeypatch.delenv("SITROOM_PASSPHRASE")
    assert run(capfd, "tracks", "-w", str(room), "-u", "dana").code == 0
    # Her session is hers: alice is not logged in by it.
    one_line(run(capfd, "tracks", "-w", str(room), "-u", "alice"), 2, "passphrase is needed")
    out = run(capfd, "logout", "-w", str(room), "-u", "dana")
    assert out.code == 0 and "ended" in out.out
    one_line(run(capfd, "tracks", "-w", str(room), "-u", "dana"), 2, "passphrase is needed")


def test_a_token_of_anothers_opens_nothing_of_mine(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sitroom.open(room, as_site=True) as r:
        token = r.auth.login("dana", PASS).token
    monkeypatch.setenv("SITROOM_TOKEN", token)
    one_line(run(capfd, "users", "-w", str(room), "-u", "alice"), 6,
             "that token is dana's, not alice's")  # fmt: skip
    assert run(capfd, "users", "-w", str(room), "-u", "dana").code == 0


@pytest.mark.parametrize("days", ["nan", "inf", "-inf", "1e30", "0", "0.0001"])
def test_a_token_lifetime_that_is_no_lifetime_is_one_line(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    before = last_seq(room)
    r = run(capfd, "tokens", "create", "ci", f"--days={days}", "-w", str(room), "-u", "dana")
    one_line(r, 2, "a token lives from a minute to 366 days")
    assert last_seq(room) == before


def test_api_tokens_are_made_listed_and_revoked_by_name_or_id(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    w = ["-w", str(room), "-u", "dana"]
    made = [run(capfd, "tokens", "create", "ci", *w, "--json") for _ in range(2)]
    assert all(m.code == 0 for m in made)
    one_line(run(capfd, "tokens", "revoke", "ci", *w), 2, "2 tokens are called 'ci'")
    import json

    ids = [json.loads(m.out)["row"]["id"] for m in made]
    assert run(capfd, "tokens", "revoke", ids[0], *w).code == 0
    assert run(capfd, "tokens", "revoke", "ci", *w).code == 0  # now one is called ci
    listed = run(capfd, "tokens", *w, "--json")
    assert json.loads(listed.out)["tokens"] == []
    one_line(run(capfd, "tokens", "revoke", "ci", *w), 2, "no token 'ci'")
    assert sitroom.verify(room).ok  # made and revoked on the record, signed by dana


def test_a_token_file_of_garbage_is_one_line(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    (room / "keys" / "tokens.json").write_bytes(b"\x00garbage{")
    one_line(run(capfd, "tokens", "-w", str(room), "-u", "dana"), 5, "tokens.json")
