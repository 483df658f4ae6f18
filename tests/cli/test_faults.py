"""A read-only workspace and a full disk (issue 18, item 6): reads go on working, a write is
one line and a non-zero exit, and the log is exactly what it was."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sitroom
from sitroom.application.ports import ManualClock

from conftest import V2_FILES

EXAMPLES = Path(__file__).parents[2] / "examples"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sitroom", *args], capture_output=True, text=True, timeout=300
    )


def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> None:
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sitroom: error:"), p.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A workspace with records, which the commands may read but not write: on a read-only
    mount of it when the tests run as root (whom file modes do not stop), else by its modes."""
    ws = tmp_path / "ws"
    assert cli("init", "-w", str(ws)).returncode == 0
    assert cli("ingest", "ucdp", "-w", str(ws), str(EXAMPLES / "ged231.csv")).returncode == 0
    if os.geteuid() != 0:
        for p in [ws, *ws.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        yield ws
        for p in [ws, *ws.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        return
    view = tmp_path / "ro"
    view.mkdir()
    mount(["--bind", str(ws), str(view)])
    try:
        mount(["-o", "remount,bind,ro", str(view)])
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def mount(args: list[str]) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


def test_a_read_only_workspace_is_read_and_refuses_writes_in_one_line(read_only: Path) -> None:
    ws = read_only
    before = digest(ws / "sitroom.db")
    state = cli("state", "-w", str(ws), "--json")
    assert state.returncode == 0, state.stderr
    assert '"ucdp.event": 50' in state.stdout.replace("\n", " ").replace("  ", " ")
    events = cli("events", "-w", str(ws), "--near", "Beirut", "--radius", "5000km")
    assert events.returncode == 0, events.stderr
    check = cli("verify", "-w", str(ws))
    assert check.returncode == 0, check.stderr
    assert "read-only" in check.stdout + check.stderr
    add = cli("reports", "add", "-w", str(ws), str(EXAMPLES / "hezbollah-posture.md"))
    one_line_error(add, "read-only")
    assert digest(ws / "sitroom.db") == before
    assert not (ws / "sitroom.db-wal").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system of 8 MiB (tmpfs), so that it can be filled."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount(["-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)])
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


LEAVE = 700_000  # room to open the log and take a part of the samples, not all of them


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up to ``leave`` bytes free; the filler, to delete to make room again."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        while (free := shutil.disk_usage(disk).free) > leave:
            try:
                f.write(b"\0" * max(4096, min(1 << 20, free - leave)))
                f.flush()
            except OSError:
                break
    return filler


@pytest.mark.slow
def test_a_full_disk_is_one_line_reads_go_on_and_nothing_is_lost(small_disk: Path) -> None:
    ws = small_disk / "ws"
    assert cli("init", "-w", str(ws)).returncode == 0
    assert cli("ingest", "ucdp", "-w", str(ws), str(EXAMPLES / "ged231.csv")).returncode == 0
    filler = fill(small_disk)
    before = digest(ws / "sitroom.db")

    state = cli("state", "-w", str(ws), "--json")
    assert state.returncode == 0, state.stderr
    check = cli("verify", "-w", str(ws))
    assert check.returncode == 0, check.stderr
    add = cli("reports", "add", "-w", str(ws), str(EXAMPLES / "hezbollah-posture.md"))
    one_line_error(add, "full")
    ingest = cli("ingest", "gdelt", "-w", str(ws), str(V2_FILES[0]))
    one_line_error(ingest, "full")
    assert digest(ws / "sitroom.db") == before

    filler.unlink()  # room again: everything goes on where it stood
    add = cli("reports", "add", "-w", str(ws), str(EXAMPLES / "hezbollah-posture.md"))
    assert add.returncode == 0, add.stderr
    assert cli("verify", "-w", str(ws)).returncode == 0


@pytest.mark.slow
def test_a_disk_that_fills_during_an_ingest_keeps_what_was_committed(small_disk: Path) -> None:
    """Room to open the log but not for the whole file: the ingest stops with one line, the
    log holds whole batches only and verifies, and the ingest completes once there is room."""
    ws = small_disk / "ws"
    assert cli("init", "-w", str(ws)).returncode == 0
    filler = fill(small_disk, leave=LEAVE)
    files = [str(f) for f in V2_FILES]
    ingest = cli("ingest", "gdelt", "-w", str(ws), *files)
    one_line_error(ingest, "full")
    state = cli("state", "-w", str(ws), "--json")  # what was committed, folded
    assert state.returncode == 0 and '"gdelt.event"' in state.stdout, state.stderr
    filler.unlink()
    assert cli("verify", "-w", str(ws), "--deep").returncode == 0
    again = cli("ingest", "gdelt", "-w", str(ws), *files, "--json")
    assert again.returncode == 0, again.stderr
    state = cli("state", "-w", str(ws), "--json")
    rows = sum(f.read_bytes().count(b"\n") for f in V2_FILES)
    assert f'"gdelt.event": {rows}' in " ".join(state.stdout.split())


def test_snapshots_that_do_not_fit_are_skipped_and_said(small_disk: Path) -> None:
    """Snapshots are a cache: one the disk has no room for is not saved, the log goes on
    being read, and the room says why (the CLI prints it as a warning)."""
    ws = small_disk / "ws"
    assert cli("init", "-w", str(ws)).returncode == 0
    assert cli("ingest", "ucdp", "-w", str(ws), str(EXAMPLES / "ged231.csv")).returncode == 0
    filler = fill(small_disk, leave=2_000_000)
    room = sitroom.open(ws, as_site=True)
    try:
        room.engine.log.save_snapshots([("big", 1, 1, bytes(4_000_000))])
        assert room.unsaved == "the disk holding it is full"
        assert room.engine.log.load_snapshot("big", 1, 1) is None
        assert room.world.state().by_kind["ucdp.event"] == 50
    finally:
        room.close()
    filler.unlink()
    assert cli("verify", "-w", str(ws)).returncode == 0


def test_reading_a_read_only_workspace_later_raises_nothing_it_cannot_record(
    read_only: Path,
) -> None:
    """Years on, the sources of an archived (read-only) workspace are overdue: reading it
    still answers; the alerts that cannot be recorded are not raised."""
    years_on = int(time.time() * 1000) + 3 * 365 * 86_400_000
    with sitroom.open(read_only, as_site=True, clock=ManualClock(years_on)) as room:
        assert room.world.state().by_kind["ucdp.event"] == 50
        assert room.session.tick().alerts == []
