"""`sitroom verify` as a user runs it: an intact room verifies and signs its head; one byte
changed in the SQLite file is found and the record named, with exit 7 — even a record that no
longer decodes, since verify reads the log alone, without opening the room."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import Report
from sitroom.room import LOG_FILE, verify

from helpers import sitroom

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "us-iran-ceasefire.yaml"
NAME = "Special Agent Q."  # in one record only (the envoy's name is in alerts too)


def workspace(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:
    ws = str(tmp_path / "ws")
    assert sitroom(capfd, "init", "-w", ws, "--site", "geneva").code == 0
    agent = tmp_path / "agent.yaml"
    agent.write_text(f"resources: [{{id: agent, name: {NAME}, type: person}}]\n")
    assert sitroom(capfd, "tracks", "add", "-w", ws, str(TRACKS), str(agent)).code == 0
    return ws


def record_holding(db: Path, text: str) -> tuple[int, str]:
    """The seq and id of the one record whose stored form holds ``text``."""
    log = SqliteLog(db)
    try:
        hits = [
            (r.seq, r.id) for b in log.read() for r in b.rows() if text in str(r.payload.values())
        ]
    finally:
        log.close()
    assert len(hits) == 1, hits
    seq, rid = hits[0]
    assert seq is not None
    return seq, rid


def flip(db: Path, needle: bytes, at: int, bit: int) -> None:
    assert not Path(f"{db}-wal").exists()  # every command closed the log: all in the file
    data = bytearray(db.read_bytes())
    where = data.find(needle)
    assert where > 0 and data.count(needle) == 1
    data[where + at] ^= bit
    db.write_bytes(bytes(data))


def test_intact_workspace_verifies_and_signs_its_head(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Exit 0; the verified head is signed; the next verify checks that checkpoint."""
    ws = workspace(tmp_path, capfd)
    first = sitroom(capfd, "verify", "-w", ws, "--json")
    assert first.code == 0, first.err
    body = first.json()
    assert (body["ok"], body["first_bad"], body["checkpoints_verified"]) == (True, None, 0)
    assert body["checkpoint_written"] == f"audit.checkpoint:geneva:{body['seq']}"
    assert body["chain_only"] == [1, body["seq"]] and body["site"] == "geneva"
    assert "verified" not in body  # the checkpoints themselves are for Python callers
    again = sitroom(capfd, "verify", "-w", ws, "--json", "--deep", "--no-checkpoint").json()
    assert (again["ok"], again["checkpoints_verified"], again["covered_to"]) == (
        True,
        1,
        body["seq"],
    )
    assert again["checkpoint_written"] is None and again["deep"] is True
    assert again["records"] == body["records"] + 1  # the checkpoint itself
    people = sitroom(capfd, "verify", "-w", ws, "--no-checkpoint")
    assert people.code == 0
    assert "OK: every record is as written" in people.out
    assert "1 of 1 checkpoint verified against site geneva's key" in people.out
    assert f"{Path(ws).resolve()}: {again['records']:,} records in" in people.out


def test_one_byte_changed_in_the_sqlite_file_names_the_record(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The done-when of issue 7: a byte of one record flipped in the file is detected and the
    record named by seq and id; exit 7, and no checkpoint is signed over it."""
    ws = workspace(tmp_path, capfd)
    db = Path(ws) / LOG_FILE
    seq, rid = record_holding(db, NAME)
    flip(db, NAME.encode(), 8, 0x20)  # "Agent" -> "agent"

    r = sitroom(capfd, "verify", "-w", ws, "--json")
    assert r.code == 7
    body = r.json()
    assert body["ok"] is False
    assert (body["first_bad"]["seq"], body["first_bad"]["id"]) == (seq, rid)
    assert body["first_bad"]["reason"] == "changed"
    assert body["checkpoint_written"] is None
    people = sitroom(capfd, "verify", "-w", ws)
    assert people.code == 7
    assert f"TAMPERED record {seq} ({rid}): record {seq} was changed [changed]" in people.out
    assert f"first bad record: {seq} ({rid})" in people.out


def test_a_record_that_no_longer_decodes_is_named_without_opening_the_room(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = workspace(tmp_path, capfd)
    db = Path(ws) / LOG_FILE
    seq, rid = record_holding(db, NAME)
    # The opening quote of its "payload" key: its line is no JSON now.
    flip(db, b'"payload":"{\\"id\\":\\"agent\\",\\"name\\":\\"' + NAME.encode(), 0, 0x01)
    calls: list[tuple[int, int | None]] = []
    report = verify(ws, deep=True, progress=lambda done, total: calls.append((done, total)))
    assert isinstance(report, Report) and not report.ok
    assert report.first_bad is not None and (report.first_bad.seq, report.first_bad.id) == (
        seq,
        rid,
    )
    assert report.checkpoint_written is None
    assert calls and calls[-1] == (report.records, report.records)  # progress, to the end
    assert report.to_json()["first_bad"]["id"] == rid


def test_no_workspace_is_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    r = sitroom(capfd, "verify", "-w", str(tmp_path / "none"))
    assert r.code == 2
    assert r.err.count("\n") == 1 and "no sitroom workspace" in r.err
    j = sitroom(capfd, "verify", "-w", str(tmp_path / "none"), "--json")
    assert (j.code, j.json()["error"]["type"], j.json()["error"]["exit_code"]) == (
        2,
        "no_workspace",
        2,
    )
