"""Inclusion and consistency proofs as their users meet them: the site makes one, anyone with
its card checks it offline; a proof changed in any part, or checked against another site's
card, does not verify (exit 7); what cannot be proven is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.room import HEAD_FILE, LOG_FILE

from conftest import V2_FILES
from helpers import REDLINE, sitroom_process, small_workspace

run = sitroom_process


def ids_of(ws: Path, kind_prefix: str) -> list[str]:
    log = SqliteLog(ws / LOG_FILE)
    try:
        return [r.id for b in log.read() for r in b.rows() if r.kind.startswith(kind_prefix)]
    finally:
        log.close()


def card(tmp: Path, ws: Path) -> Path:
    out = tmp / f"{ws.name}.card"
    assert run("keys", "export", "-w", str(ws), "-o", str(out)).code == 0
    return out


def check(proof: Path, card_file: Path) -> Any:
    return run("proof", "check", str(proof), "--card", str(card_file), "--json")


@pytest.fixture
def geneva(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    return small_workspace(capfd, tmp_path / "geneva")


def test_a_record_proven_in_the_log_checks_offline(geneva: Path, tmp_path: Path) -> None:
    (rid,) = ids_of(geneva, "redline")
    proof = tmp_path / "redline.proof.json"
    made = run("proof", "record", rid, "-w", str(geneva), "-o", str(proof), "--json")
    assert made.code == 0, made.err
    assert made.json()["record"] == rid
    ok = check(proof, card(tmp_path, geneva))
    assert ok.code == 0 and ok.json()["ok"] is True, ok.out
    body = json.loads(proof.read_text())
    assert REDLINE.split()[0] in body["record"]  # the record itself travels, as stored
    people = run("proof", "check", str(proof), "--card", str(card(tmp_path, geneva)))
    assert people.out.startswith("VERIFIED: inclusion proof under site geneva's head")


@pytest.mark.parametrize(
    "tamper",
    ["record", "path", "lines", "index", "root", "seq"],
)
def test_a_changed_inclusion_proof_does_not_verify(
    geneva: Path, tmp_path: Path, tamper: str
) -> None:
    (rid,) = ids_of(geneva, "redline")
    proof = tmp_path / "p.json"
    assert run("proof", "record", rid, "-w", str(geneva), "-o", str(proof)).code == 0
    body = json.loads(proof.read_text())
    seg = body["segment"]
    if tamper == "record":
        body["record"] = body["record"].replace("beirut", "berlin")
    elif tamper == "path":
        body["path"] = [*body["path"], body["segment"]["data_sha256"]]
    elif tamper == "lines":
        seg["lines"][0] = "A" * 43  # 32 zero bytes
    elif tamper == "index":
        seg["index"] += 1
    elif tamper == "root":
        body["head"]["root"] = body["head"]["head"]
    else:
        body["seq"] = seg["first_seq"] - 1
    proof.write_text(json.dumps(body))
    done = check(proof, card(tmp_path, geneva))
    assert done.code == 7 and done.json()["ok"] is False
    assert done.json()["problem"]


def test_another_sites_card_does_not_verify_and_garbage_is_one_line(
    geneva: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (rid,) = ids_of(geneva, "redline")
    proof = tmp_path / "p.json"
    assert run("proof", "record", rid, "-w", str(geneva), "-o", str(proof)).code == 0
    other = small_workspace(capfd, tmp_path / "other", site="geneva")  # same name, other key
    done = check(proof, card(tmp_path / "other", other))
    assert done.code == 7 and "not site geneva's" in done.json()["problem"]
    for junk in ("not json", '{"format": "sitroom-inclusion-proof/1"}', "[1, 2]"):
        proof.write_text(junk)
        done = run("proof", "check", str(proof), "--card", str(card(tmp_path, geneva)))
        assert done.code in (2, 5) and done.err.startswith("sitroom: error:"), done.err
        assert len(done.err.strip().splitlines()) == 1
    missing = run("proof", "record", "no-such-record", "-w", str(geneva))
    assert missing.code == 2 and "no record 'no-such-record'" in missing.err


def test_a_bulk_record_cannot_be_proven_alone(geneva: Path) -> None:
    assert run("ingest", "gdelt", "-w", str(geneva), str(V2_FILES[2])).code == 0
    rid = ids_of(geneva, "gdelt")[0]
    done = run("proof", "record", rid, "-w", str(geneva))
    assert done.code == 2 and "bulk records stored compressed together" in done.err


def test_the_log_only_grew_since_an_old_head(geneva: Path, tmp_path: Path) -> None:
    """A head kept earlier (a copy of head.json, signed at init), then more records: the
    consistency proof from it checks; from a head of another history, none is made."""
    old = tmp_path / "old-head.json"
    shutil.copy(geneva / HEAD_FILE, old)
    for i in range(3):
        rule = REDLINE.replace("50", str(60 + i))
        assert run("redlines", "add", f"beirut-{i}", rule, "-w", str(geneva)).code == 0
    proof = tmp_path / "grew.json"
    made = run("proof", "grew", "--since", str(old), "-w", str(geneva), "-o", str(proof))
    assert made.code == 0, made.err
    body = json.loads(proof.read_text())
    assert body["new"]["size"] > body["old"]["size"] and body["proof"]
    assert check(proof, card(tmp_path, geneva)).code == 0
    body["old"]["root"], body["new"]["root"] = body["new"]["root"], body["old"]["root"]
    proof.write_text(json.dumps(body))
    assert check(proof, card(tmp_path, geneva)).code == 7
    stranger = tmp_path / "stranger"
    shutil.copytree(geneva, stranger)
    done = run("proof", "grew", "--since", str(old), "-w", str(stranger))
    assert done.code == 0  # a copy of the log is the same history: it extends the head
