"""An output path never destroys a workspace's own files (issue 18, item 1).

`sitroom keys export -o sitroom.db` in a workspace once replaced the log with a 332-byte card
(exit 0), and `sitroom export -w ws -o ws/sitroom.db` left a file that is no database; `verify`
then passed. Each reproduction runs as a real process here and must now be refused in one line
(exit 2) naming the file, with the log byte for byte as it was and nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitroom.room import LOG_FILE

from helpers import Result, sitroom, sitroom_in, small_workspace


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    return small_workspace(capfd, tmp_path / "ws")


def files(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` and below, by relative name, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def refused(r: Result, what: str, where: Path) -> None:
    assert r.code == 2, (r.code, r.out, r.err)
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert "will not write" in r.err and what in r.err and str(where.resolve()) in r.err, r.err


# the reproductions, as real processes ------------------------------------------------------
CASES = {  # name: (the folder it runs in, the command line)
    # the issue's own: in a workspace, the card over the log
    "keys export -o sitroom.db": ("ws", "keys export -o sitroom.db"),
    "keys export -w ws -o ws/sitroom.db": (".", "keys export -w ws -o ws/sitroom.db"),
    "export -w ws -o ws/sitroom.db": (".", "export -w ws -o ws/sitroom.db"),
    "export through a symbolic link": (".", "export -w ws -o link.db"),
    "export through ../ws/./sitroom.db": ("elsewhere", "export -w ../ws -o ../ws/./sitroom.db"),
    "export stix over the log": (".", "export stix -w ws -o ws/sitroom.db"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_output_over_the_log_is_refused_and_the_log_kept(ws: Path, case: str) -> None:
    root = ws.parent
    (root / "elsewhere").mkdir()
    (root / "link.db").symlink_to(ws / LOG_FILE)
    before = files(ws)
    cwd, line = CASES[case]
    r = sitroom_in(root / cwd, *line.split())
    refused(r, "log", ws / LOG_FILE)
    assert files(ws) == before  # the log byte for byte, and no temporary file left
    again = sitroom_in(root, "verify", "-w", "ws", "--no-checkpoint")
    assert again.code == 0 and "OK: every record is as written" in again.out


# every other writer of a path, and every other way to name the log --------------------------
def test_a_hard_link_to_the_log_is_refused(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Renaming over a hard link would leave the log whole, but no output should be the
    log by another name: the same file is found by its inode."""
    twin = ws.parent / "twin.db"
    os.link(ws / LOG_FILE, twin)
    before = files(ws)
    r = sitroom(capfd, "export", "-w", str(ws), "-o", str(twin))
    refused(r, "a hard link to this workspace's log", ws / LOG_FILE)
    assert files(ws) == before and twin.read_bytes() == before[LOG_FILE]


@pytest.mark.parametrize(
    ("name", "what"),
    [
        (f"{LOG_FILE}-wal", "write-ahead file"),
        (f"{LOG_FILE}-shm", "shared-memory index"),
        ("sitroom.toml", "settings"),
        ("head.json", "head kept outside its log"),
        ("keys", "keys folder"),
        ("keys/geneva.key", "inside this workspace's keys folder"),
        ("keys/new.card", "inside this workspace's keys folder"),
        (".", "is this workspace's folder"),
    ],
)
def test_every_file_the_workspace_owns_is_refused(
    ws: Path, capfd: pytest.CaptureFixture[str], name: str, what: str
) -> None:
    before = files(ws)
    r = sitroom(capfd, "keys", "export", "-w", str(ws), "-o", str(ws / name))
    refused(r, what, ws / name)
    assert files(ws) == before


def test_agreements_export_is_refused_before_the_room_is_opened(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    before = files(ws)
    r = sitroom(capfd, "agreements", "export", "no-such", "-w", str(ws), "-o", str(ws / LOG_FILE))
    refused(r, "log", ws / LOG_FILE)  # the path, not the unknown agreement: checked first
    assert files(ws) == before


def test_another_workspaces_log_is_refused_too(
    ws: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The check looks above the target for a workspace of its own, not only at the one the
    command was given."""
    other = small_workspace(capfd, tmp_path / "other", site="oslo")
    before = files(other)
    r = sitroom(capfd, "export", "-w", str(ws), "-o", str(other / LOG_FILE))
    refused(r, "another workspace's log", other / LOG_FILE)
    assert files(other) == before


def test_a_key_file_is_never_one_of_the_workspaces_files(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`keys init --key-file PATH` makes the file when it is missing: not the log's side file
    (SQLite would read 32 random bytes as its write-ahead log), nor the kept head."""
    before = files(ws)
    for name in (f"{LOG_FILE}-wal", "head.json", LOG_FILE):
        r = sitroom(
            capfd, "keys", "init", "relay", "--role", "intermediary", "-w", str(ws),
            "--key-file", str(ws / name),
        )  # fmt: skip
        refused(r, "this workspace's", ws / name)
        assert files(ws) == before
    made = sitroom(
        capfd, "keys", "init", "relay", "--role", "intermediary", "-w", str(ws),
        "--key-file", str(ws / "keys" / "relay.keyfile"),
    )  # fmt: skip
    assert made.code == 0, made.err  # in the keys folder, its place, a key file is made


def test_the_users_files_in_the_workspace_folder_are_written_its_own_are_not(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The workspace folder holds the user's files as well as sitroom's: an export of one's
    own there is written (whole, by a rename: nothing temporary left beside it), and one over
    what sitroom keeps there is not, though both are plain files in the same folder."""
    mine = ws / "export.jsonl"
    mine.write_text("an older export")
    assert sitroom(capfd, "export", "-w", str(ws), "-o", str(mine)).code == 0
    assert len(mine.read_text().splitlines()) == 2 and "redline" in mine.read_text()
    theirs = files(ws)["head.json"]
    r = sitroom(capfd, "export", "-w", str(ws), "-o", str(ws / "head.json"))
    refused(r, "this workspace's head kept outside its log", ws / "head.json")
    assert files(ws)["head.json"] == theirs
    assert [p.name for p in ws.iterdir() if p.name.startswith(".")] == []
