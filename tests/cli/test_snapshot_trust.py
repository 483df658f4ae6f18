"""A hostile insider with the workspace's files edits the `secure` projection's snapshot row in
sitroom.db to clear an analyst for a track she is not cleared for (issue 20). Snapshots are
signed by the site and bound to the log's chain head, so every way of doing it — editing the
state, recomputing its digest, re-signing with one's own key, a signed snapshot from another
workspace, from another place of this log (a rollback to before a revocation), or from a copy
of this workspace that went on differently — is rebuilt from the log instead: she still cannot
read the sealed track, the grant appears nowhere, and the CLI says the snapshot was rebuilt."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import sitroom
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.domain.kinds import USER_GRANT
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure.codec import b64, canonical
from sitroom.domain.secure.ledger import SECURE, SecureProjection
from sitroom.testing import T0

from helpers import Result, fresh_copy, sealed_track_room
from helpers import sitroom as run

MAGIC = b"sitroom-snapshot/1\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sealed_track_room(tmp_path_factory.mktemp("built") / "room", snapshot_every=10)


@pytest.fixture
def room(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fresh_copy(built, tmp_path, monkeypatch)


# what the insider does, with sqlite3 and the bytes alone ----------------------------------
def _rows(w: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(w / "sitroom.db") as db:
        rows = db.execute(
            "SELECT seq, data FROM snapshots WHERE projection = ? ORDER BY seq", (SECURE,)
        ).fetchall()
    return [(int(seq), bytes(data)) for seq, data in rows]


def _write(w: Path, seq: int, blob: bytes, *, drop_after: bool = False) -> None:
    with sqlite3.connect(w / "sitroom.db") as db:
        if drop_after:
            db.execute("DELETE FROM snapshots WHERE projection = ? AND seq > ?", (SECURE, seq))
        db.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
            (SECURE, SecureProjection.version, seq, blob),
        )


def _split(blob: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    assert blob.startswith(MAGIC)
    header, state = blob[len(MAGIC) :].split(b"\n", 1)
    return orjson.loads(header), orjson.loads(state)


def _join(header: dict[str, Any], state: dict[str, Any]) -> bytes:
    return MAGIC + orjson.dumps(header) + b"\n" + orjson.dumps(state)


def _go_on_to(capfd: pytest.CaptureFixture[str], w: Path, seq: int) -> None:
    """The room goes on (alice asks questions) until its log holds record ``seq``: where the
    insider's snapshot is to be put."""
    n = 0
    while _last_seq(w) < seq:
        n += 1
        ask = ["questions", "add", "-w", str(w), f"Question {n}?", "--until", "2027-01-01"]
        assert run(capfd, "-u", "alice", *ask, "--id", f"q{n}").code == 0


def _last_seq(w: Path) -> int:
    with sqlite3.connect(w / "sitroom.db") as db:
        return int(db.execute("SELECT MAX(last_seq) FROM segments").fetchone()[0])


def _with_grant(state: dict[str, Any]) -> dict[str, Any]:
    state["grants"].setdefault("us-iran", {})["dana"] = {
        "by": "alice",
        "since": T0,
        "record": "user.grant:us-iran:dana:1",
    }
    return state


def _edited(blob: bytes) -> bytes:
    header, state = _split(blob)
    return _join(header, _with_grant(state))


def _digest_recomputed(blob: bytes) -> bytes:
    header, state = _split(blob)
    header["digest"] = b64(hashlib.sha256(orjson.dumps(_with_grant(state))).digest())
    return _join(header, state)


def _resigned_by_insider(blob: bytes) -> bytes:
    """Digest recomputed and the header signed by a key of the insider's own, naming it."""
    header, state = _split(blob)
    header["digest"] = b64(hashlib.sha256(orjson.dumps(_with_grant(state))).digest())
    key = Ed25519PrivateKey.generate()
    header["fingerprint"] = "1234 5678 9abc def0 1234 5678 9abc def0 1234 5678"
    unsigned = {k: v for k, v in header.items() if k != "signature"}
    header["signature"] = b64(key.sign(canonical(unsigned)))
    return _join(header, state)


# what the analyst and the admin see -------------------------------------------------------
def _dana_reads(capfd: pytest.CaptureFixture[str], w: Path) -> Result:
    return run(capfd, "-u", "dana", "channels", "read", "-w", str(w), "m-1")


def _dana_is_cleared_nowhere_but_ceasefire(capfd: pytest.CaptureFixture[str], w: Path) -> None:
    """The grant appears nowhere: not in the users' clearances, the live state, the log."""
    users = run(capfd, "-u", "alice", "users", "-w", str(w), "--json").json()["users"]
    assert {u["name"]: u["clearances"] for u in users}["dana"] == []  # of those alice sees
    with sitroom.open(w, as_site=True) as site:
        grants = site.session.state(SECURE)["grants"]
        assert {c for c, cleared in grants.items() if "dana" in cleared} == {"ceasefire"}
        granted = [r.payload for b in site.session.read(kinds=[USER_GRANT]) for r in b.rows()]
    assert {(g["principal"], g["compartment"]) for g in granted} == {
        ("alice", "us-iran"),
        ("dana", "ceasefire"),
    }


def _refused_and_said(
    capfd: pytest.CaptureFixture[str], w: Path, seq: int, reason: str, rebuilt_from: str
) -> None:
    r = _dana_reads(capfd, w)
    assert r.code == 6, (r.out, r.err)  # AccessDenied
    assert "meet on the 14th" not in r.out
    note = (
        f"note: the snapshot of `secure` at seq {seq} does not verify ({reason}): "
        f"rebuilt from {rebuilt_from}"
    )
    assert [line for line in r.err.splitlines() if line.startswith("note:")] == [note], r.err


def _planted(
    capfd: pytest.CaptureFixture[str], w: Path, seq: int, blob: bytes, reason: str
) -> None:
    """A signed snapshot in which dana is cleared for us-iran, put in as the newest at ``seq``
    (the room going on as far as that first): refused for ``reason``, the one before used."""
    assert "dana" in _split(blob)[1]["grants"]["us-iran"]
    _go_on_to(capfd, w, seq)
    _write(w, seq, blob, drop_after=True)
    assert _rows(w)[-1] == (seq, blob)
    older = max(s for s, _ in _rows(w) if s < seq)
    _refused_and_said(capfd, w, seq, reason, f"the snapshot at seq {older}")
    _dana_is_cleared_nowhere_but_ceasefire(capfd, w)


# the attacks ------------------------------------------------------------------------------
def test_the_bare_state_with_a_grant_as_stored_before_signing_is_not_used(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The attack itself, against the unsealed state bytes alone (a snapshot as stored before
    this change): not used at all, so the grant it carries does nothing, without a word."""
    seq, blob = _rows(room)[-1]
    _write(room, seq, orjson.dumps(_with_grant(_split(blob)[1])))
    r = _dana_reads(capfd, room)
    assert r.code == 6 and "note:" not in r.err
    _dana_is_cleared_nowhere_but_ceasefire(capfd, room)


EDITS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "state edited": (_edited, "its state is not the state that was signed"),
    "digest recomputed": (
        _digest_recomputed,
        "its signature does not verify under site washington's key",
    ),
    "re-signed by the insider": (
        _resigned_by_insider,
        "it names signer washington (1234 5678 9abc def0 1234 5678 9abc def0 1234 5678), "
        "not site washington's key",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_secure_snapshot_grants_nothing_and_is_rebuilt(
    room: Path, capfd: pytest.CaptureFixture[str], edit: str
) -> None:
    change, reason = EDITS[edit]
    rows = _rows(room)
    assert len(rows) >= 2  # so the insider edits every one, leaving none to fall back on
    for seq, blob in rows:
        _write(room, seq, change(blob))
    _refused_and_said(capfd, room, rows[-1][0], reason, "the log")
    _dana_is_cleared_nowhere_but_ceasefire(capfd, room)
    # The room that rebuilt it saved a signed one over it: said once, not at every command.
    again = _dana_reads(capfd, room)
    assert again.code == 6 and "note:" not in again.err


def test_a_signed_snapshot_from_another_workspace_grants_nothing(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The insider's own workspace, also called washington, where dana is cleared: its
    snapshot is signed, but by another key."""
    theirs = sealed_track_room(tmp_path / "insider", snapshot_every=10, grant_dana=True)
    seq, blob = _rows(theirs)[-1]
    signer = _split(blob)[0]["fingerprint"]
    _planted(
        capfd, room, seq, blob, f"it names signer washington ({signer}), not site washington's key"
    )


def test_a_snapshot_from_before_a_revocation_does_not_restore_the_clearance(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A rollback: this room's own signed snapshot from while dana was cleared, stored at
    the place of the one taken after her clearance was withdrawn."""
    w = str(room)
    assert run(capfd, "-u", "alice", "users", "grant", "-w", w, "dana", "us-iran").code == 0
    cleared_at, cleared = _rows(room)[-1]
    assert "dana" in _split(cleared)[1]["grants"]["us-iran"]
    assert run(capfd, "-u", "alice", "users", "revoke", "-w", w, "dana", "us-iran").code == 0
    revoked_at = _rows(room)[-1][0]
    assert revoked_at > cleared_at
    _write(room, revoked_at, cleared)
    version = SecureProjection.version
    reason = f"it is the snapshot of `secure` v{version} at seq {cleared_at}, copied here"
    older = max(s for s, _ in _rows(room) if s < revoked_at)
    _refused_and_said(capfd, room, revoked_at, reason, f"the snapshot at seq {older}")
    with sitroom.open(room, as_site=True) as site:
        assert "dana" not in site.session.state(SECURE)["grants"]["us-iran"]


def test_a_snapshot_from_a_copy_of_this_room_that_went_on_differently_grants_nothing(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A copy of the workspace (same site key) in which dana was cleared: its snapshot is
    signed by the right key at the right place, but folded from another log — its chain head
    is not this log's."""
    fork = Path(shutil.copytree(room, tmp_path / "fork"))
    assert run(capfd, "-u", "alice", "users", "grant", "-w", str(fork), "dana", "us-iran").code == 0
    seq, blob = _rows(fork)[-1]
    _planted(
        capfd, room, seq, blob, "it was folded from another log: its chain head is not this log's"
    )


def test_verified_snapshots_are_used_and_re_signed_ones_replace_old_unsigned_ones(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Normal operation: a room starts from its signed snapshots (it folds no record of the
    log to restore its states) and says nothing; an unsigned one from before is folded past,
    without a word, and replaced by a signed one at the next command's close."""
    rows = _rows(room)
    assert rows and all(blob.startswith(MAGIC) for _, blob in rows)
    assert rows[-1][0] == _last_seq(room)
    handed = _count_reads(monkeypatch)
    with sitroom.open(room, as_site=True) as site:
        site.session.states(list(site.engine.projections))
        assert handed == [] and site.notes == []
    last, blob = _rows(room)[-1]
    _write(room, last, orjson.dumps(_split(blob)[1]))  # as stored before snapshots were signed
    listed = run(capfd, "-u", "alice", "users", "-w", str(room))
    assert listed.code == 0 and "note:" not in listed.err
    log = SqliteLog(room / "sitroom.db")
    try:  # the secure state: its records, folded from the first
        assert sum(handed) >= log.count(kinds=SecureProjection.kinds, upto_seq=last) > 0
    finally:
        log.close()
    assert _rows(room)[-1][1].startswith(MAGIC)  # re-snapshotted, signed
    handed.clear()
    with sitroom.open(room, as_site=True) as site:
        assert site.session.state(SECURE)["grants"] and handed == []


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the pages the SQLite log hands out from now on."""
    handed: list[int] = []
    read = SqliteLog.read

    def counting(self: SqliteLog, **kw: Any) -> Iterator[RecordBatch]:
        for page in read(self, **kw):
            handed.append(len(page))
            yield page

    monkeypatch.setattr(SqliteLog, "read", counting)
    return handed
