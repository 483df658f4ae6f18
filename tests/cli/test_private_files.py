"""A workspace's files are its owner's only, whatever the umask: the log and its SQLite side
files, the settings, the head kept outside the log, and everything in keys/ are 0600, the
folders sitroom makes 0700 — after init, after appends, and when a second process opens the
log (SQLite makes the -wal and -shm files with the log's own mode)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.log_sqlite import SqliteLog

from helpers import REDLINE, sitroom_process
from helpers import sitroom as run


@pytest.fixture(params=[0o022, 0o002, 0o000], ids=lambda m: f"umask-{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _loose(ws: Path) -> dict[str, str]:
    """Every file and folder under ``ws`` (and ``ws``) that others may read: path -> mode."""
    found = {}
    for p in [ws, *ws.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode != (0o700 if p.is_dir() else 0o600):
            found[str(p.relative_to(ws))] = oct(mode)
    return found


def test_a_workspace_is_its_owners_only_whatever_the_umask(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery")
    monkeypatch.delenv("SITROOM_USER", raising=False)
    ws = tmp_path / "room"
    w = str(ws)
    for args in (
        ["init", "-w", w, "--site", "washington"],
        ["redlines", "add", "beirut", REDLINE, "-w", w],
        ["users", "add", "-w", w, "alice", "--role", "admin"],
        ["-u", "alice", "keys", "init", "muscat", "--role", "intermediary", "-w", w],
        ["login", "-w", w, "-u", "alice"],
    ):
        r = run(capfd, *args)
        assert r.code == 0, (args, r.err)
    names = {p.name for p in ws.rglob("*")}
    assert {"sitroom.db", "sitroom.toml", "head.json", "alice.key", "tokens.json"} <= names
    assert _loose(ws) == {}
    # Open: the -wal and -shm files exist, made by this process; then a second process appends.
    with sitroom.open(ws, user="alice", proof="correct horse battery") as room:
        room.session.append([])
        assert (ws / "sitroom.db-wal").exists() and (ws / "sitroom.db-shm").exists()
        assert _loose(ws) == {}
        r = sitroom_process("redlines", "add", "tyre", REDLINE.replace("Beirut", "Amman"), "-w", w,
                            "-u", "alice")  # fmt: skip
        assert r.code == 0, r.err
        assert _loose(ws) == {}
    assert _loose(ws) == {}


def test_a_log_left_readable_by_others_is_narrowed_when_opened(tmp_path: Path) -> None:
    """A log an older sitroom made 0644 is made 0600 by the next open (its owner's)."""
    path = tmp_path / "sitroom.db"
    SqliteLog(path, create=True).close()
    path.chmod(0o644)
    log = SqliteLog(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        log.close()
