"""A lost log is found out (issue 18, item 1): the last signed head is kept outside the log
(head.json), `verify` fails when the log no longer holds it — emptied, cut short, swapped for
another workspace's log or for a file that is no log — and a workspace whose log is missing or
empty refuses to open instead of starting a new, empty log over the loss."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.room import HEAD_FILE, LOG_FILE

from helpers import Result, sitroom, sitroom_in, small_workspace

REDLINE_GAZA = "fatalities >= 10 within 50km of Gaza in 24h"


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    return small_workspace(capfd, tmp_path / "ws")


def kept(ws: Path) -> dict[str, object]:
    body: dict[str, object] = json.loads((ws / HEAD_FILE).read_text())
    return body


def tampered(r: Result, reason: str, *words: str) -> dict[str, object]:
    """verify's JSON, having checked it failed for ``reason`` with ``words`` in its message."""
    assert r.code == 7, (r.code, r.out, r.err)
    body = r.json()
    bad = body["first_bad"]
    assert body["ok"] is False and bad["reason"] == reason, bad
    for w in words:
        assert w in bad["message"], (w, bad["message"])
    return dict(body)


def cut(db: Path, after: int) -> None:
    """Remove every record after seq ``after``, as SQLite lets anyone do."""
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM segments WHERE first_seq > ?", (after,))
        con.execute("DELETE FROM ids WHERE seq > ?", (after,))
    con.close()


# a workspace as it should be ------------------------------------------------------------
def test_the_head_is_kept_from_the_start_and_follows_each_checkpoint(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert kept(ws)["seq"] == 1 and kept(ws)["site"] == "geneva"  # the identity record
    first = sitroom(capfd, "verify", "-w", str(ws), "--json")
    assert first.code == 0, first.out
    body = first.json()
    assert (body["ok"], body["kept_seq"], body["kept_in"]) == (True, 1, HEAD_FILE)
    assert kept(ws)["seq"] == body["seq"] == 2  # the head verify signed is kept
    assert kept(ws)["head"] == body["head"]
    people = sitroom(capfd, "verify", "-w", str(ws), "--no-checkpoint")
    assert people.code == 0
    assert f"the head kept outside the log ({HEAD_FILE}), at 2, is in it" in people.out


def test_the_checkpointer_keeps_each_head_it_signs(
    ws: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_CHECKPOINT_EVERY", "1")
    assert sitroom(capfd, "redlines", "add", "gaza", REDLINE_GAZA, "-w", str(ws)).code == 0
    assert kept(ws)["seq"] == 3  # identity, redline, redline: the checkpoint signs seq 3
    assert sitroom(capfd, "verify", "-w", str(ws), "--no-checkpoint").code == 0


def test_a_workspace_from_before_kept_heads_behaves_as_before(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (ws / HEAD_FILE).unlink()
    r = sitroom(capfd, "verify", "-w", str(ws), "--json", "--no-checkpoint")
    assert r.code == 0 and r.json()["kept_seq"] is None
    (ws / LOG_FILE).write_bytes(b"")  # with nothing kept, an empty log is just empty
    assert sitroom(capfd, "state", "-w", str(ws)).code == 0


# the log lost ----------------------------------------------------------------------------
def test_an_emptied_log_fails_verify_and_is_not_opened(ws: Path) -> None:
    (ws / LOG_FILE).write_bytes(b"")
    r = sitroom_in(ws.parent, "verify", "-w", "ws", "--json")
    tampered(r, "lost", "is empty", HEAD_FILE, "seq 1")
    opened = sitroom_in(ws.parent, "state", "-w", "ws")
    assert opened.code == 2 and len(opened.err.strip().splitlines()) == 1, opened.err
    assert f"the log ws/{LOG_FILE} is empty, but this workspace had at least 1 record" in opened.err
    assert (ws / LOG_FILE).stat().st_size == 0  # no new, empty log made over the loss


def test_a_log_replaced_by_an_empty_sitroom_log_fails_verify(ws: Path, tmp_path: Path) -> None:
    SqliteLog(tmp_path / "empty.db", create=True).close()
    shutil.copyfile(tmp_path / "empty.db", ws / LOG_FILE)
    r = sitroom_in(ws.parent, "verify", "-w", "ws", "--json")
    body = tampered(r, "lost", "the log is empty", "seq 1", str(kept(ws)["head"]))
    assert body["records"] == 0


def test_a_log_cut_short_fails_verify_naming_what_is_gone(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert sitroom(capfd, "redlines", "add", "gaza", REDLINE_GAZA, "-w", str(ws)).code == 0
    assert sitroom(capfd, "verify", "-w", str(ws)).code == 0  # signs and keeps seq 3
    signed = kept(ws)
    assert signed["seq"] == 3
    cut(ws / LOG_FILE, after=1)  # both red lines, and the checkpoint that signed them
    r = sitroom_in(ws.parent, "verify", "-w", "ws", "--json")
    body = tampered(r, "lost", "ends at seq 1", "seq 3", str(signed["head"]), "records 2–3 are")
    assert body["records"] == 1 and body["kept_seq"] == 3
    assert kept(ws) == signed


def test_another_workspaces_log_fails_verify_naming_the_head_expected(
    ws: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    other = small_workspace(capfd, tmp_path / "other", site="oslo")
    signed = kept(ws)
    shutil.copyfile(other / LOG_FILE, ws / LOG_FILE)
    r = sitroom_in(ws.parent, "verify", "-w", "ws", "--json")
    tampered(r, "replaced", f"should be {signed['head']}", "not the log that was signed")
    people = sitroom_in(ws.parent, "verify", "-w", "ws")
    assert people.code == 7 and "[replaced]" in people.out


def test_a_replaced_log_does_not_overwrite_the_evidence(
    ws: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints go on in the log that is there now, but the head kept outside it is not
    replaced by one of a log that does not hold it: verify keeps failing."""
    other = small_workspace(capfd, tmp_path / "other", site="geneva")
    signed = kept(ws)
    shutil.copyfile(other / LOG_FILE, ws / LOG_FILE)
    monkeypatch.setenv("SITROOM_CHECKPOINT_EVERY", "1")
    for name in ("a", "b", "c"):
        assert sitroom(capfd, "redlines", "add", name, REDLINE_GAZA, "-w", str(ws)).code == 0
    assert kept(ws) == signed
    tampered(sitroom(capfd, "verify", "-w", str(ws), "--json"), "replaced")


def test_a_log_replaced_by_a_card_fails_verify(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """What `keys export -o sitroom.db` left before it was refused: no database at all."""
    card = sitroom(capfd, "keys", "export", "-w", str(ws)).out
    (ws / LOG_FILE).write_text(card)
    tampered(sitroom(capfd, "verify", "-w", str(ws), "--json"), "lost", "no log sitroom can read")


def test_a_missing_log_fails_verify_and_is_neither_opened_nor_made_anew(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (ws / LOG_FILE).unlink()
    tampered(sitroom(capfd, "verify", "-w", str(ws), "--json"), "lost", "is missing")
    for args in (["state"], ["init"], ["demo"]):
        r = sitroom(capfd, *args, "-w", str(ws))
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1, (args, r.err)
        assert "is missing, but this workspace had at least 1 record" in r.err
        assert f"move {HEAD_FILE} away" in r.err
    assert not (ws / LOG_FILE).exists()


# the kept head itself --------------------------------------------------------------------
def test_a_kept_head_of_another_site_is_forged(
    ws: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    other = small_workspace(capfd, tmp_path / "other", site="geneva")  # same name, another key
    shutil.copyfile(other / HEAD_FILE, ws / HEAD_FILE)
    r = sitroom(capfd, "verify", "-w", str(ws), "--json")
    tampered(r, "forged-checkpoint", f"the head kept in {HEAD_FILE} is forged", "signer")


def test_an_unreadable_kept_head_fails_verify_but_the_room_still_opens(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (ws / HEAD_FILE).write_text("{not json")
    r = sitroom(capfd, "verify", "-w", str(ws), "--json")
    tampered(r, "forged-checkpoint", HEAD_FILE, f"remove {HEAD_FILE}")
    assert sitroom(capfd, "state", "-w", str(ws)).code == 0
    assert (ws / HEAD_FILE).read_text() == "{not json"  # not overwritten: it is evidence
